"""Top-down evaluation of heatmap and regression models on the annotated person boxes (crop, decode, score).

The crop affine, flip test and decode (heatmap argmax + refinement, or regression) run in numpy on the
session's raw outputs, so every runtime is scored by this same code.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.console import TaskBar
from edgepose.errors import UserError
from edgepose.evaluate.batches import RunsFeeds, run_batch
from edgepose.evaluate.batches import runtime_name as session_runtime
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
) -> dict[str, Any]:
    """Evaluate a heatmap / regression `session` on `ann_file` (on the GT person boxes, no augmentation).

    `limit` keeps the first N dataset items (instances; clips for clip models, whose frames are
    scored as instances; clips are non-overlapping windows of T frames of a track, so frames in a
    track's tail shorter than T are not scored). Returns the eval dict of DESIGN.md: metrics,
    n_images, n_instances, model, runtime (+ data, schema, flip, decode, seconds).
    """
    from edgepose.data.coco import CocoPoseDataset
    from edgepose.metrics.schema_map import schema_map_for
    from edgepose.schemas import get_schema

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
    with TaskBar(progress, f"eval {Path(ann_file).name}", len(batches)) as bar:
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
        "runtime": runtime_name or session_runtime(session),
        "data": str(ann_file),
        "schema": result["schema"],
        "flip": flip,
        "decode": refine if spec.head == "heatmap" else "regression",
        "seconds": round(time.perf_counter() - start, 3),
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
    out = run_batch(session, images, spec.head)
    if flip_index is not None:
        flipped = run_batch(session, np.ascontiguousarray(images[..., ::-1]), spec.head)
    if spec.head == "heatmap" and out.ndim == 4:  # (N, K, h, w) heatmaps
        stride_x, stride_y = w_in / out.shape[-1], h_in / out.shape[-2]
        if flip_index is not None:
            out = 0.5 * (out + flip_back(flipped, flip_index, shift_px=1.0 - 1.0 / stride_x))
        return decode_heatmaps(out, (stride_x, stride_y), refine=refine, blur_sigma=blur_sigma)
    if spec.head == "regression" and out.ndim == 3:  # (N, K, 2|3) normalised coordinates
        if flip_index is not None:
            out = 0.5 * (out + flip_back_regression(flipped, flip_index, input_width=w_in))
        return decode_regression(out, (h_in, w_in))
    raise UserError(f"cannot decode a model output of shape {out.shape} (head '{spec.head}')")


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
