"""The one evaluation path: run any Session over a COCO-keypoints file, decode in numpy, score.

Every runtime (torch, ONNX Runtime, OpenVINO, TensorRT) is scored by this same code: the session
only maps an input batch to raw outputs; decoding, flip test, the inverse crop affine and the
metrics live here and in edgepose.metrics.
"""

from __future__ import annotations

import time
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
    allow_outside_images: bool = False,
) -> dict[str, Any]:
    """Evaluate `session` on `ann_file` (top-down on the GT person boxes, no augmentation).

    `limit` keeps the first N dataset items (instances; clips for clip models, whose frames are
    scored as instances; clips are non-overlapping windows of T frames of a track, so frames in a
    track's tail shorter than T are not scored). Returns the eval dict of DESIGN.md: metrics,
    n_images, n_instances, model, runtime (+ data, schema, flip, decode, seconds, and `dropped`: what
    could not be scored, edgepose.data.coco_checks.DROP_KINDS). A model whose output holds NaN or Inf is
    a UserError: it is broken, and a broken model must not score 0 (or anything).
    """
    from edgepose.data.coco import CocoPoseDataset
    from edgepose.data.coco_checks import merge_drops
    from edgepose.metrics.schema_map import schema_map_for
    from edgepose.schemas import get_schema

    if spec.head == "yolo":  # whole-image multi-person models have their own decode + matching
        from edgepose.yolo.evaluate import evaluate_multi_person

        return evaluate_multi_person(
            session, spec, ann_file, batch_size=batch_size, limit=limit, image_root=image_root, progress=progress,
            model_name=model_name, runtime_name=runtime_name, flip=flip, allow_outside_images=allow_outside_images,
        )  # fmt: skip
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    start = time.perf_counter()
    clip = spec.clip_length
    mapping = schema_map_for(spec.schema, ann_file)  # e.g. a COCO-17 model scored on LSP-14 data
    data_spec = spec.with_changes(schema=mapping.target) if mapping else spec
    dataset = CocoPoseDataset(
        ann_file, data_spec, image_root=image_root, train=False, clip_length=clip, clip_stride=clip or 1,
        allow_outside_images=allow_outside_images,
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
    gt = dataset
    if mapping:
        image_kpts, gt = mapping.apply(image_kpts), mapping.mask_coco(dataset.coco)
    result = score_predictions(image_kpts[first], gt, ann_ids_all[first], dataset.schema)
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
        "seconds": round(time.perf_counter() - start, 3),
        "dropped": merge_drops(dataset.dropped, result.get("dropped")),
        **({"schema_map": mapping.describe()} if mapping else {}),
    }


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
    out = require_finite(_run(session, images))
    if flip_index is not None:
        flipped = require_finite(_run(session, np.ascontiguousarray(images[..., ::-1])))
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


def require_finite(output: np.ndarray) -> np.ndarray:
    """`output`, or a UserError when the model computed NaN or Inf (broken weights or a broken export)."""
    finite = np.isfinite(output)
    if not finite.all():
        share = 1.0 - float(finite.mean())
        raise UserError(
            f"the model's output holds NaN or Inf ({share:.0%} of the values of a batch): its weights or its "
            "export are broken, so there is nothing to score"
        )
    return output


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
            if exc[0] is not None:  # an error ends the run: its one line is all stderr should show
                self._bar.remove_task(self._task)
                self._bar.live.transient = True
            self._bar.__exit__(*exc)
