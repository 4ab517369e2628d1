"""PCK / PCKh, MPJPE and visible-joint F1 over arrays (all in original-image pixels).

Conventions (mmpose's): a joint counts where the GT labels it (v > 0); PCK of a set of instances is
the mean over joints of each joint's PCK (joints with nothing labelled left out); MPJPE is the mean
over all labelled joints. An instance whose normalising segment is not labelled (either end v = 0)
or has length 0 is left out of that normalised metric -- we do not guess a torso from the box.
"""

from __future__ import annotations

import numpy as np

VISIBLE_SCORE_THRESHOLD = 0.2  # a predicted keypoint with score >= this is "predicted visible"


def segment_length(gt: np.ndarray, pair: tuple[int, int] | None) -> np.ndarray:
    """(N,) distance between joints `pair` in the GT; NaN where either is unlabelled or it is 0."""
    g = np.asarray(gt, dtype=np.float64)
    if pair is None:
        return np.full(len(g), np.nan)
    a, b = pair
    length = np.linalg.norm(g[:, a, :2] - g[:, b, :2], axis=-1)
    ok = (g[:, a, 2] > 0) & (g[:, b, 2] > 0) & (length > 0)
    return np.where(ok, length, np.nan)


def joint_errors_px(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N, K) Euclidean error in pixels; NaN where the GT joint is unlabelled."""
    p, g = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    err = np.linalg.norm(p[..., :2] - g[..., :2], axis=-1)
    return np.where(g[..., 2] > 0, err, np.nan)


def pck_per_keypoint(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray, threshold: float) -> np.ndarray:
    """(K,) fraction of labelled joints within threshold x norm; NaN for joints never labelled
    on an instance with a valid normaliser."""
    err = joint_errors_px(pred, gt)
    norm = np.asarray(norm, dtype=np.float64)[:, None]
    valid = np.isfinite(err) & np.isfinite(norm)
    hit = valid & (err <= threshold * np.where(np.isfinite(norm), norm, 0.0))
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, hit.sum(axis=0) / count, np.nan)


def mean_over_joints(per_keypoint: np.ndarray) -> float | None:
    """Mean of the finite per-joint values, None if there are none."""
    vals = np.asarray(per_keypoint, dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if vals.size else None


def pck(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray, threshold: float) -> float | None:
    """PCK@threshold normalised by `norm` (N,), averaged over joints; None where nothing counts."""
    return mean_over_joints(pck_per_keypoint(pred, gt, norm, threshold))


def mpjpe_px(pred: np.ndarray, gt: np.ndarray) -> tuple[float | None, np.ndarray]:
    """Mean per-joint position error in pixels over all labelled joints, and per joint (K,)."""
    err = joint_errors_px(pred, gt)
    count = np.isfinite(err).sum(axis=0)
    per_joint = np.where(count > 0, np.nansum(err, axis=0) / np.maximum(count, 1), np.nan)
    overall = float(np.nanmean(err)) if np.isfinite(err).any() else None
    return overall, per_joint


def f1_visible(
    pred: np.ndarray,
    gt: np.ndarray,
    norm: np.ndarray,
    threshold: float = 0.2,
    score_threshold: float = VISIBLE_SCORE_THRESHOLD,
) -> dict[str, float | None]:
    """F1 of visible-joint detection on instances with a valid normaliser.

    A detection is a keypoint with score >= score_threshold. True positive: the GT joint is visible
    (v == 2) and the detection lies within threshold x norm of it. Every other detection is a false
    positive (GT occluded / unlabelled, or too far); every visible GT joint not hit is a false negative.
    """
    p, g = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    norm = np.asarray(norm, dtype=np.float64)
    keep = np.isfinite(norm)
    p, g, norm = p[keep], g[keep], norm[keep]
    detected = p[..., 2] >= score_threshold
    visible = g[..., 2] == 2
    err = np.linalg.norm(p[..., :2] - g[..., :2], axis=-1)
    tp = int((detected & visible & (err <= threshold * norm[:, None])).sum())
    fp = int(detected.sum()) - tp
    fn = int(visible.sum()) - tp
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else None
    return {"f1": f1, "precision": precision, "recall": recall}
