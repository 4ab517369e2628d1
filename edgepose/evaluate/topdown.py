"""Top-down evaluation of heatmap and regression models on the annotated person boxes: predict + score.

The crops come from the dataset reader, which cuts them with edgepose.deploy.crop (the crop `predict` and the
device runner use); the session call, flip test and decode are edgepose.deploy.model.PoseModel's, the same
functions `predict` runs per image. Only the batching differs (many people per session call).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.console import TaskBar
from edgepose.deploy.config import ModelConfig
from edgepose.deploy.decode import to_image_coords
from edgepose.deploy.model import PoseModel
from edgepose.errors import UserError
from edgepose.evaluate.batches import RunsFeeds
from edgepose.evaluate.batches import runtime_name as session_runtime
from edgepose.metrics.scoring import score_predictions

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec
    from edgepose.deploy.smoothing import OneEuroParams


def evaluate_top_down(
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
    save_predictions: str | Path | None = None,
    allow_outside_images: bool = False,
    smooth: OneEuroParams | None = None,
) -> dict[str, Any]:
    """Evaluate a heatmap / regression `session` on `ann_file` (on the GT person boxes, no augmentation).

    `limit` keeps the first N dataset items (instances; clips for clip models, whose frames are
    scored as instances; clips are non-overlapping windows of T frames of a track, so frames in a
    track's tail shorter than T are not scored). `smooth` runs the One-Euro filter over each track's
    keypoints (in frame order, image pixels, speed relative to the GT box diagonal) before scoring;
    it needs data with tracks. Returns the eval dict of DESIGN.md: metrics (with `temporal` jitter and
    acceleration error on clip data), n_images, n_instances, model, runtime (+ data, schema, flip,
    decode, smooth, seconds). `save_predictions` also writes
    the scored keypoints as a COCO results file (edgepose.deploy.results), which `eval --predictions` re-scores
    to the same metrics.
    """
    from edgepose.data.coco import CocoPoseDataset
    from edgepose.data.coco_checks import merge_drops
    from edgepose.metrics.schema_map import schema_map_for

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
    model = PoseModel(session, ModelConfig.from_spec(spec, refine=refine, blur_sigma=blur_sigma, flip_test=flip))
    batches = _loader(dataset, batch_size, workers, limit)
    preds, affines, ann_ids = [], [], []
    with TaskBar(progress, f"eval {Path(ann_file).name}", len(batches)) as bar:
        for batch in batches:
            preds.append(model.keypoints_in_input(batch["image"]))
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
    if save_predictions is not None:
        _save(save_predictions, image_kpts, ann_ids_all, dataset)
    return {
        "metrics": result["metrics"],
        "n_images": result["n_images"],
        "n_instances": result["n_instances"],
        "model": model_name,
        "runtime": runtime_name or session_runtime(session),
        "data": str(ann_file),
        "schema": result["schema"],
        "flip": flip,
        "decode": refine if spec.head == "heatmap" else "regression",
        "smooth": {"method": "one-euro", **asdict(smooth)} if smooth is not None else {"method": "none"},
        "seconds": round(time.perf_counter() - start, 3),
        "dropped": merge_drops(dataset.dropped, result.get("dropped")),
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


def _save(path: str | Path, keypoints: np.ndarray, ann_ids: np.ndarray, dataset: Any) -> None:
    """The scored people as a COCO results file: one entry per annotated person, named by its ann_id."""
    from edgepose.deploy.pose import instance_scores
    from edgepose.deploy.results import result_entry, write_results

    by_ann = {inst.ann_id: inst for inst in dataset.instances}
    images = dataset.coco.imgs
    scores = instance_scores(keypoints[..., 2])
    entries = []
    for kp, ann_id, score in zip(keypoints, ann_ids, scores, strict=True):
        inst = by_ann[int(ann_id)]
        image = images.get(inst.image_id, {})
        entries.append(result_entry(kp, float(score), inst.bbox, image_id=inst.image_id, file_name=image.get("file_name"),
                                    frame_id=inst.frame, track_id=inst.track, ann_id=inst.ann_id))  # fmt: skip
    write_results(path, entries)


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
