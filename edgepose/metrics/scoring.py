"""All metrics for predictions already in original-image pixels: the one scoring path.

`score_predictions(pred, gt)` takes the GT as a dataset (with `.coco` and `.schema`), a pycocotools
COCO object with the ann_ids predicted on, or a plain (N, K, 3) array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgepose.errors import UserError
from edgepose.metrics.coco_eval import (
    INSTANCE_SCORE_THRESHOLD,
    beyond_max_dets,
    build_results,
    coco_from_arrays,
    coco_subset,
    instance_scores,
    oks_ap,
)
from edgepose.metrics.pck import (
    VISIBLE_SCORE_THRESHOLD,
    f1_visible,
    mean_over_joints,
    mpjpe_px,
    pck_per_keypoint,
    segment_length,
)
from edgepose.metrics.temporal import temporal_metrics, track_runs
from edgepose.schemas import KeypointSchema, get_schema, schema_for_count


def score_predictions(
    pred: np.ndarray,
    gt: Any,
    ann_ids: Sequence[int] | None = None,
    schema: KeypointSchema | str | None = None,
    *,
    image_ids: Sequence[int] | None = None,
    bboxes: np.ndarray | None = None,
    areas: np.ndarray | None = None,
    instance_score_threshold: float = INSTANCE_SCORE_THRESHOLD,
    visible_score_threshold: float = VISIBLE_SCORE_THRESHOLD,
) -> dict[str, Any]:
    """Score (N, K, 3) image-pixel predictions [x, y, score] against ground truth.

    gt: a dataset (`.coco`, `.schema`) or a COCO object -- then `ann_ids` (N,) names the GT instance
    of each row -- or an (N, K, 3) array (then image_ids / bboxes / areas optionally describe it).
    Returns {"metrics": {...}, "n_images", "n_instances", "schema", "dropped": {"beyond_max_dets": n}}
    (people in images with more than COCOeval's maxDets: their predictions are not matched).
    metrics["temporal"] holds jitter and acceleration error (edgepose.metrics.temporal) when the
    annotations carry tracks, else None.
    Non-finite predictions are a UserError: NaN cannot be scored (it must never score as a hit or a miss).
    """
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"predictions must be (N, K, 3), got shape {pred.shape}")
    if not np.isfinite(pred).all():
        bad = int((~np.isfinite(pred)).any(axis=(1, 2)).sum())
        raise UserError(f"{bad} of {len(pred)} predictions hold NaN or Inf values: nothing to score")
    if schema is None:
        schema = getattr(gt, "schema", None)
    coco = getattr(gt, "coco", gt)
    if isinstance(gt, np.ndarray) or not hasattr(coco, "anns"):
        coco, ann_ids = coco_from_arrays(np.asarray(gt), image_ids, bboxes, areas)
    elif ann_ids is None:
        raise ValueError("ann_ids are needed to pair predictions with COCO annotations")
    ann_ids = [int(a) for a in ann_ids]
    if len(ann_ids) != len(pred):
        raise ValueError(f"{len(pred)} predictions for {len(ann_ids)} annotation ids")
    anns = [coco.anns[a] for a in ann_ids]
    gt_kpts = np.asarray([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), -1, 3)
    if not np.isfinite(gt_kpts).all() or not np.isin(gt_kpts[..., 2], (0, 1, 2)).all():
        raise UserError("the ground truth holds NaN / Inf keypoints or a visibility outside {0, 1, 2}")
    schema = _resolve_schema(schema, gt_kpts.shape[1])
    if pred.shape[1] != schema.num_keypoints:
        raise UserError(
            f"the model predicts {pred.shape[1]} keypoints but the data's schema {schema.name} has "
            f"{schema.num_keypoints}"
        )
    scores = instance_scores(pred[..., 2], instance_score_threshold)
    results = build_results(pred, [a["image_id"] for a in anns], scores, anns[0]["category_id"] if anns else 1)
    metrics: dict[str, Any] = {}
    for key, value in oks_ap(coco_subset(coco, ann_ids), results, schema.sigmas).items():
        if key in ("oks_ap", "oks_ap50", "oks_ap75", "oks_ar"):
            metrics[key] = value
    metrics.update(_pck_metrics(pred, gt_kpts, schema, visible_score_threshold))
    metrics["temporal"] = _temporal(pred, gt_kpts, anns, coco, schema)
    return {
        "metrics": metrics,
        "n_images": len({a["image_id"] for a in anns}),
        "n_instances": len(anns),
        "schema": schema.name,
        "dropped": {"beyond_max_dets": beyond_max_dets([a["image_id"] for a in anns])},
    }


def _pck_metrics(pred: np.ndarray, gt: np.ndarray, schema: KeypointSchema, vis_thr: float) -> dict[str, Any]:
    torso = segment_length(gt, schema.torso)
    head = segment_length(gt, schema.head) if schema.head is not None else None
    per = {t: pck_per_keypoint(pred, gt, torso, t) for t in (0.1, 0.2)}
    per_head = pck_per_keypoint(pred, gt, head, 0.5) if head is not None else None
    mpjpe, mpjpe_joint = mpjpe_px(pred, gt)
    labelled = (gt[..., 2] > 0).sum(axis=0)
    per_keypoint = {}
    for j, name in enumerate(schema.keypoints):
        entry = {"pck@0.2": _num(per[0.2][j]), "pck@0.1": _num(per[0.1][j])}
        if per_head is not None:
            entry["pckh@0.5"] = _num(per_head[j])
        entry["mpjpe_px"] = _num(mpjpe_joint[j])
        entry["n_labelled"] = int(labelled[j])
        per_keypoint[name] = entry
    return {
        "pck@0.1": mean_over_joints(per[0.1]),
        "pck@0.2": mean_over_joints(per[0.2]),
        "pckh@0.5": mean_over_joints(per_head) if per_head is not None else None,
        "mpjpe_px": mpjpe,
        "f1_visible": f1_visible(pred, gt, torso, 0.2, vis_thr)["f1"],
        "n_pck_instances": int(np.isfinite(torso).sum()),
        "n_pckh_instances": int(np.isfinite(head).sum()) if head is not None else 0,
        "per_keypoint": per_keypoint,
    }


def _temporal(pred: np.ndarray, gt: np.ndarray, anns: list[dict[str, Any]], coco: Any, schema: KeypointSchema) -> dict[str, Any] | None:
    """Jitter and acceleration error per track (metrics.temporal) when the data has tracks, else None."""
    runs = track_runs(anns, getattr(coco, "imgs", {}))
    if not runs:
        return None
    box = np.asarray([a.get("bbox", [0, 0, 0, 0]) for a in anns], dtype=np.float64).reshape(len(anns), 4)
    return temporal_metrics(pred, gt, np.hypot(box[:, 2], box[:, 3]), runs, schema)


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _resolve_schema(schema: KeypointSchema | str | None, num_keypoints: int) -> KeypointSchema:
    if isinstance(schema, str):
        schema = get_schema(schema)
    if schema is None:
        schema = schema_for_count(num_keypoints)
        if schema is None:
            raise UserError(f"no keypoint schema with {num_keypoints} joints is known; name one")
    if schema.num_keypoints != num_keypoints:
        raise UserError(
            f"the ground truth has {num_keypoints} keypoints but schema {schema.name} has {schema.num_keypoints}"
        )
    return schema
