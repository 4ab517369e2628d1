"""The one evaluation path: run any Session over a COCO-keypoints file, decode in numpy, score.

Every runtime (torch, ONNX Runtime, OpenVINO, TensorRT) is scored by this same code: the session
only maps an input batch to raw outputs; decoding, flip test, the inverse crop affine and the
metrics live here and in edgepose.metrics.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgepose.errors import UserError
from edgepose.metrics.decode import (
    decode_heatmaps,
    decode_regression,
    flip_back,
    flip_back_regression,
    to_image_coords,
)
from edgepose.metrics.scoring import score_predictions

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec
    from edgepose.deploy.smoothing import OneEuroParams

__all__ = ["evaluate", "predict_batch", "score_predictions"]


class RunsFeeds(Protocol):
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def evaluate(
    session: RunsFeeds,
    spec: ModelSpec,
    ann_file: str | Path,
    *,
    batch_size: int = 32,
    flip: bool = False,
    workers: int = 0,
    progress: bool = True,
    limit: int | None = None,
    image_root: str | Path | None = None,
    refine: str = "dark",
    blur_sigma: float | None = None,
    model_name: str | None = None,
    runtime_name: str | None = None,
    smooth: OneEuroParams | None = None,
) -> dict[str, Any]:
    """Evaluate `session` on `ann_file` (top-down on the GT person boxes, no augmentation).

    `limit` keeps the first N dataset items (instances; clips for clip models, whose frames are
    scored as instances; clips are non-overlapping windows of T frames of a track, so frames in a
    track's tail shorter than T are not scored). `smooth` runs the One-Euro filter over each track's
    keypoints (in frame order, image pixels, speed relative to the GT box diagonal) before scoring;
    it needs data with tracks. Returns the eval dict of DESIGN.md: metrics (with `temporal` jitter and
    acceleration error on clip data), n_images, n_instances, model, runtime (+ data, schema, flip,
    decode, smooth, seconds).
    """
    from edgepose.data.coco import CocoPoseDataset
    from edgepose.metrics.schema_map import schema_map_for
    from edgepose.schemas import get_schema

    if spec.head == "yolo":  # whole-image multi-person models have their own decode + matching
        from edgepose.yolo.evaluate import evaluate_multi_person

        return evaluate_multi_person(
            session, spec, ann_file, batch_size=batch_size, limit=limit, image_root=image_root, progress=progress,
            model_name=model_name, runtime_name=runtime_name, flip=flip,
        )  # fmt: skip
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    start = time.perf_counter()
    clip = spec.clip_length
    mapping = schema_map_for(spec.schema, ann_file)  # e.g. a COCO-17 model scored on LSP-14 data
    data_spec = spec.with_changes(schema=mapping.target) if mapping else spec
    dataset = CocoPoseDataset(
        ann_file, data_spec, image_root=image_root, train=False, clip_length=clip, clip_stride=clip or 1
    )
    flip_index = get_schema(spec.schema).flip_index()
    batches = _loader(dataset, batch_size, workers, limit)
    preds, affines, ann_ids = [], [], []
    with _Progress(progress, total=len(batches), what=f"eval {Path(ann_file).name}") as bar:
        for batch in batches:
            kpts = predict_batch(session, batch["image"], spec, flip_index if flip else None, refine, blur_sigma)
            preds.append(kpts)
            affines.append(batch["inv_affine"].reshape(-1, 2, 3))
            ann_ids.append(batch["ann_id"].reshape(-1))
            bar.advance()
    if not preds:
        raise UserError(f"{ann_file} has no person annotations with keypoints to evaluate")
    image_kpts = to_image_coords(np.concatenate(preds), np.concatenate(affines))
    ann_ids_all = np.concatenate(ann_ids)
    _, first = np.unique(ann_ids_all, return_index=True)  # a frame shared by two clips counts once
    first = np.sort(first)
    image_kpts, ann_ids_all = image_kpts[first], ann_ids_all[first]
    if smooth is not None:
        image_kpts = smooth_tracks(image_kpts, ann_ids_all, dataset.coco, smooth, ann_file)
    gt = dataset
    if mapping:
        image_kpts, gt = mapping.apply(image_kpts), mapping.mask_coco(dataset.coco)
    result = score_predictions(image_kpts, gt, ann_ids_all, dataset.schema)
    return {
        "metrics": result["metrics"],
        "n_images": result["n_images"],
        "n_instances": result["n_instances"],
        "model": model_name,
        "runtime": runtime_name or _runtime_name(session),
        "data": str(ann_file),
        "schema": result["schema"],
        "flip": flip,
        "decode": refine if spec.head == "heatmap" else "regression",
        "smooth": {"method": "one-euro", **asdict(smooth)} if smooth is not None else {"method": "none"},
        "seconds": round(time.perf_counter() - start, 3),
        **({"schema_map": mapping.describe()} if mapping else {}),
    }


def smooth_tracks(
    kpts: np.ndarray, ann_ids: np.ndarray, coco: Any, params: OneEuroParams, ann_file: str | Path = "the data"
) -> np.ndarray:  # fmt: skip
    """(N, K, 3) image-pixel keypoints row-aligned with `ann_ids`, One-Euro smoothed along each track.

    Each run of consecutive frames of a track is filtered from its first frame on; the speed is
    measured in GT box diagonals per second (the box the crop was taken from).
    """
    from edgepose.deploy.smoothing import smooth_track
    from edgepose.metrics.temporal import track_runs

    anns = [coco.anns[int(a)] for a in ann_ids]
    runs = track_runs(anns, coco.imgs)
    if runs is None:
        raise UserError(
            f"{ann_file}: smoothing needs clip data (video_id and frame_id on images, track_id on annotations)"
        )
    out = np.asarray(kpts, dtype=np.float64).copy()
    box = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(len(anns), 4)
    diag = np.maximum(np.hypot(box[:, 2], box[:, 3]), 1.0)
    for rows in runs:
        out[rows] = smooth_track(out[rows], params, scale=diag[rows])
    return out.astype(np.float32)


def predict_batch(
    session: RunsFeeds,
    images: np.ndarray,
    spec: ModelSpec,
    flip_index: list[int] | None = None,
    refine: str = "dark",
    blur_sigma: float | None = None,
) -> np.ndarray:
    """Run one batch (B, 3, H, W) or clips (B, T, 3, H, W) -> (B[*T], K, 3) keypoints in input pixels.

    With `flip_index` the mirrored batch is run too and the outputs are averaged (flip test).
    """
    images = np.ascontiguousarray(images, dtype=np.float32)
    h_in, w_in = images.shape[-2:]
    out = _run(session, images)
    if flip_index is not None:
        flipped = _run(session, np.ascontiguousarray(images[..., ::-1]))
    if out.ndim == 4 and out.shape[-1] > 3:  # (N, K, h, w) heatmaps
        stride_x, stride_y = w_in / out.shape[-1], h_in / out.shape[-2]
        if flip_index is not None:
            out = 0.5 * (out + flip_back(flipped, flip_index, shift_px=1.0 - 1.0 / stride_x))
        return decode_heatmaps(out, (stride_x, stride_y), refine=refine, blur_sigma=blur_sigma)
    if out.ndim == 3 and out.shape[-1] in (2, 3):  # (N, K, 2|3) normalised coordinates
        if flip_index is not None:
            out = 0.5 * (out + flip_back_regression(flipped, flip_index, input_width=w_in))
        return decode_regression(out, (h_in, w_in))
    raise UserError(f"cannot decode a model output of shape {out.shape} (head '{spec.head}')")


def _run(session: RunsFeeds, images: np.ndarray) -> np.ndarray:
    """Session calls for one batch; clip outputs (B, T, K, ...) are flattened to (B*T, K, ...).

    A session that accepts only one batch size (`fixed_batch`, e.g. a static-shape engine) gets
    chunks of that size, the last one padded by repeating its final item.
    """
    fixed = getattr(session, "fixed_batch", None)
    if fixed and len(images) != fixed:
        chunks = []
        for start in range(0, len(images), fixed):
            part = images[start : start + fixed]
            pad = fixed - len(part)
            if pad:
                part = np.concatenate([part, np.repeat(part[-1:], pad, axis=0)])
            chunks.append(_run_once(session, np.ascontiguousarray(part))[: fixed - pad])
        out = np.concatenate(chunks)
    else:
        out = _run_once(session, images)
    if images.ndim == 5:
        out = out.reshape(-1, *out.shape[2:])
    return out


def _run_once(session: RunsFeeds, images: np.ndarray) -> np.ndarray:
    names = tuple(getattr(session, "input_names", ()) or ("input",))
    outputs = session.run({names[0]: images})
    for key in ("heatmaps", "keypoints"):
        if key in outputs:
            return np.asarray(outputs[key], dtype=np.float32)
    return np.asarray(next(iter(outputs.values())), dtype=np.float32)


def _loader(dataset: Any, batch_size: int, workers: int, limit: int | None) -> Any:
    from torch.utils.data import DataLoader, Subset

    from edgepose.data.coco import worker_context

    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be at least 1, got {limit}")
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=max(0, workers),
        collate_fn=collate_eval, persistent_workers=False, multiprocessing_context=worker_context(workers),
    )  # fmt: skip


def collate_eval(items: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Stack only what evaluation needs (image, inv_affine, ann_id) as numpy arrays."""
    return {
        "image": np.stack([_numpy(it["image"]) for it in items]).astype(np.float32, copy=False),
        "inv_affine": np.stack([_numpy(it["inv_affine"]) for it in items]).astype(np.float64),
        "ann_id": np.stack([np.asarray(_numpy(it["ann_id"])).astype(np.int64) for it in items]),
    }


def _numpy(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _runtime_name(session: Any) -> str:
    for attr in ("runtime", "name"):
        value = getattr(session, attr, None)
        if isinstance(value, str):
            return value
    return type(session).__name__


class _Progress:
    """A rich progress bar on stderr when enabled; a no-op otherwise."""

    def __init__(self, enabled: bool, total: int, what: str):
        self.enabled, self.total, self.what = enabled, total, what

    def __enter__(self) -> _Progress:
        if self.enabled:
            from edgepose.cli.output import progress

            self._bar = progress()
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=self.total, status="")
        return self

    def advance(self) -> None:
        if self.enabled:
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)
