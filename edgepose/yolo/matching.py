"""Pairing annotated people with detections by box IoU, for PCK / MPJPE on multi-person outputs.

Greedy one-to-one: the (person, detection) pair with the highest IoU first, among detections scoring at
least MATCH_MIN_SCORE and overlapping by at least MATCH_MIN_IOU. An annotated person left without a
detection is a miss: every joint of it counts as wrong in PCK and F1; MPJPE is over matched people only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepose.metrics.pck import mpjpe_px

MATCH_MIN_SCORE = 0.1
MATCH_MIN_IOU = 0.1
MISS_PX = 1e6  # where a missed person's joints are put: no PCK threshold reaches them


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """(N, M) IoU of boxes a (N, 4) and b (M, 4), xyxy."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(1, -1, 4)
    wh = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-12)


def match_people(gt_xyxy: np.ndarray, det_xyxy: np.ndarray, det_scores: np.ndarray,
                 min_score: float = MATCH_MIN_SCORE, min_iou: float = MATCH_MIN_IOU) -> np.ndarray:  # fmt: skip
    """(N_gt,) index of the detection matched to each annotated person, -1 where none is."""
    matched = np.full(len(gt_xyxy), -1, dtype=np.int64)
    usable = np.flatnonzero(np.asarray(det_scores) >= min_score)
    if len(gt_xyxy) == 0 or usable.size == 0:
        return matched
    iou = iou_matrix(gt_xyxy, np.asarray(det_xyxy)[usable])
    while True:
        g, d = np.unravel_index(np.argmax(iou), iou.shape)
        if iou[g, d] < min_iou:
            return matched
        matched[g] = usable[d]
        iou[g, :] = -1.0
        iou[:, d] = -1.0


def predictions_for_people(matched: np.ndarray, det_keypoints: np.ndarray, num_keypoints: int) -> np.ndarray:
    """(N_gt, K, 3): the matched detection's keypoints, or a far-away zero-score miss."""
    out = np.tile(np.array([MISS_PX, MISS_PX, 0.0]), (len(matched), num_keypoints, 1))
    hit = matched >= 0
    if hit.any():
        out[hit] = det_keypoints[matched[hit]]
    return out


def matched_error_metrics(pred: np.ndarray, gt: np.ndarray, matched: np.ndarray, names: tuple[str, ...],
                          metrics: dict[str, Any]) -> None:  # fmt: skip
    """Replace MPJPE (overall and per joint) with its value over matched people only, in place."""
    hit = matched >= 0
    overall, per_joint = mpjpe_px(pred[hit], gt[hit]) if hit.any() else (None, np.full(len(names), np.nan))
    metrics["mpjpe_px"] = overall
    for j, name in enumerate(names):
        entry = metrics.get("per_keypoint", {}).get(name)
        if entry is not None:
            entry["mpjpe_px"] = float(per_joint[j]) if np.isfinite(per_joint[j]) else None
    metrics["n_matched"] = int(hit.sum())
    metrics["n_unmatched"] = int((~hit).sum())
    metrics["match_rate"] = float(hit.mean()) if len(hit) else None
