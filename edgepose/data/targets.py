"""Training targets: Gaussian heatmaps (heatmap coord = input coord / stride) and regression coords."""

from __future__ import annotations

import numpy as np

from edgepose.deploy.decode import default_sigma

__all__ = ["default_sigma", "gaussian_heatmaps", "regression_targets"]


def gaussian_heatmaps(
    keypoints_px: np.ndarray,
    target_weight: np.ndarray,
    heatmap_size: tuple[int, int],
    stride: int,
    sigma: float,
) -> np.ndarray:
    """(K, h, w) float32 unnormalised Gaussians (peak 1) at keypoints / stride; zero where weight is 0.

    The Gaussian is centred on the exact sub-pixel location (no rounding), so the argmax cell is the
    cell nearest to the keypoint.
    """
    h, w = heatmap_size
    mu = np.asarray(keypoints_px, dtype=np.float32)[:, :2] / np.float32(stride)
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)
    inv = np.float32(1.0 / (2.0 * sigma * sigma))
    gx = np.exp(-((xs[None, :] - mu[:, :1]) ** 2) * inv)  # (K, w)
    gy = np.exp(-((ys[None, :] - mu[:, 1:2]) ** 2) * inv)  # (K, h)
    heatmaps = gy[:, :, None] * gx[:, None, :]
    heatmaps *= np.asarray(target_weight, dtype=np.float32)[:, None, None]
    return heatmaps.astype(np.float32, copy=False)


def regression_targets(keypoints_px: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Keypoints in model-input pixels -> (..., K, 2) float32 in [0, 1] of the input (x / W, y / H)."""
    h, w = input_size
    pts = np.asarray(keypoints_px, dtype=np.float32)[..., :2]
    return pts / np.array([w, h], dtype=np.float32)
