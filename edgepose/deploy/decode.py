"""The one top-down decode (numpy only): heatmaps or regressed coordinates -> keypoints, flip helpers and
the inverse crop affine; eval, predict and the device runner all call it.

Conventions: a heatmap pixel (i, j) sits at input pixel (i * stride, j * stride) (SimpleBaselines);
regression outputs are (x, y) in [0, 1] of the input width / height, so x_px = x * W.
Outputs are (N, K, 3) arrays of x, y in input pixels and a score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

REFINE_METHODS = ("dark", "quarter", "argmax")
DARK_MAX_OFFSET_PX = 1.0  # a Taylor step larger than this (heatmap px) is noise; it is clipped
REFERENCE_HEATMAP = (64, 48)  # the SimpleBaselines 256x192 heatmap, where sigma = 2
REFERENCE_SIGMA = 2.0


def default_sigma(heatmap_size: tuple[int, int]) -> float:
    """Sigma 2 for a 64x48 heatmap, scaled with the heatmap's linear size (geometric mean of H and W): the
    training targets' sigma (edgepose.data.targets) and DARK's default blur."""
    h, w = heatmap_size
    ref_h, ref_w = REFERENCE_HEATMAP
    return REFERENCE_SIGMA * math.sqrt((h * w) / (ref_h * ref_w))


def decode_heatmaps(
    heatmaps: np.ndarray,
    stride: float | tuple[float, float] = 4.0,
    refine: str = "dark",
    blur_sigma: float | None = None,
) -> np.ndarray:
    """(N, K, h, w) heatmaps -> (N, K, 3) [x, y in input pixels, score = the heatmap maximum].

    refine: "dark" (Zhang et al. 2020, default), "quarter" (move 0.25 px toward the higher
    neighbour, SimpleBaselines) or "argmax" (no sub-pixel refinement). `stride` may be (sx, sy).
    DARK's blur sigma defaults to the training targets' sigma for this heatmap size (2 at 64x48).
    """
    if refine not in REFINE_METHODS:
        raise ValueError(f"refine must be one of {REFINE_METHODS}, got {refine!r}")
    hm = np.asarray(heatmaps, dtype=np.float32)
    if hm.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, h, w), got shape {hm.shape}")
    n, k, h, w = hm.shape
    flat = hm.reshape(n * k, h, w)
    index = flat.reshape(n * k, -1).argmax(axis=1)
    py, px = np.divmod(index, w)
    scores = flat.reshape(n * k, -1).max(axis=1)
    xy = np.stack([px, py], axis=1).astype(np.float64)
    if refine == "quarter":
        xy += _quarter_offset(flat, px, py)
    elif refine == "dark":
        sigma = default_sigma((h, w)) if blur_sigma is None else blur_sigma
        xy += _dark_offset(flat, px, py, sigma)
    sx, sy = (stride, stride) if np.isscalar(stride) else stride
    out = np.empty((n * k, 3), dtype=np.float32)
    out[:, 0] = xy[:, 0] * sx
    out[:, 1] = xy[:, 1] * sy
    out[:, 2] = scores
    return out.reshape(n, k, 3)


def _quarter_offset(flat: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """0.25 heatmap px toward the higher neighbour, per axis, where both neighbours exist."""
    m, h, w = flat.shape
    rows = np.arange(m)
    offset = np.zeros((m, 2))
    ok_x = (px >= 1) & (px <= w - 2)
    ok_y = (py >= 1) & (py <= h - 2)
    xl, xr = np.clip(px - 1, 0, w - 1), np.clip(px + 1, 0, w - 1)
    yu, yd = np.clip(py - 1, 0, h - 1), np.clip(py + 1, 0, h - 1)
    offset[:, 0] = np.where(ok_x, 0.25 * np.sign(flat[rows, py, xr] - flat[rows, py, xl]), 0.0)
    offset[:, 1] = np.where(ok_y, 0.25 * np.sign(flat[rows, yd, px] - flat[rows, yu, px]), 0.0)
    return offset


def _dark_offset(flat: np.ndarray, px: np.ndarray, py: np.ndarray, blur_sigma: float) -> np.ndarray:
    """DARK: second-order Taylor step on the Gaussian-smoothed log-heatmap at the argmax.

    The smoothed map is used where the blur kernel centred on the peak lies inside the map (zero
    padding would bias it nearer the edge), the raw map elsewhere. Where the 5x5 neighbourhood
    leaves the map or the log-surface is not a local maximum (Hessian not negative definite) it
    falls back to `_border_offset`.
    """
    m, h, w = flat.shape
    offset, usable = _taylor_step(np.log(np.maximum(flat.astype(np.float64), 1e-10)), px, py)
    if blur_sigma > 0:
        blurred = gaussian_blur(flat, blur_sigma)
        peak_raw = flat.reshape(m, -1).max(axis=1)
        peak_blur = blurred.reshape(m, -1).max(axis=1)
        scale = np.where(peak_blur > 0, peak_raw / np.where(peak_blur > 0, peak_blur, 1.0), 1.0)
        smooth_offset, smooth_ok = _taylor_step(np.log(np.maximum(blurred * scale[:, None, None], 1e-10)), px, py)
        r = _blur_radius(blur_sigma)
        smooth_ok &= (px >= r) & (px <= w - 1 - r) & (py >= r) & (py <= h - 1 - r)
        offset = np.where(smooth_ok[:, None], smooth_offset, offset)
        usable |= smooth_ok
    return np.where(usable[:, None], offset, _border_offset(flat, px, py))


def _taylor_step(logmap: np.ndarray, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-H^-1 g at (px, py) from central differences (DARK's stencil); (offset (M, 2), usable (M,))."""
    m, h, w = logmap.shape
    padded = np.pad(logmap, ((0, 0), (2, 2), (2, 2)), mode="edge")
    rows = np.arange(m)
    cx, cy = px + 2, py + 2

    def at(dy: int, dx: int) -> np.ndarray:
        return padded[rows, cy + dy, cx + dx]

    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy**2
    inside = (px >= 2) & (px <= w - 3) & (py >= 2) & (py <= h - 3)
    usable = inside & (dxx < 0) & (det > 1e-12)
    safe_det = np.where(usable, det, 1.0)
    offset = np.empty((m, 2))
    offset[:, 0] = -(dyy * dx - dxy * dy) / safe_det
    offset[:, 1] = -(dxx * dy - dxy * dx) / safe_det
    return np.clip(offset, -DARK_MAX_OFFSET_PX, DARK_MAX_OFFSET_PX), usable


def _blur_radius(sigma: float) -> int:
    return max(1, int(np.ceil(3 * sigma)))


def _border_offset(flat: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Per axis, the vertex of a parabola through 3 log-values of the raw map (one-sided at the edge,
    so a peak in the last cell can still move up to 1 px outward); quarter offset where that fails."""
    m, h, w = flat.shape
    rows = np.arange(m)
    offset = _quarter_offset(flat, px, py)
    for axis, (pos, size) in enumerate(((px, w), (py, h))):
        if size < 3:
            continue
        centre = np.clip(pos, 1, size - 2)
        samples = []
        for step in (-1, 0, 1):
            at = centre + step
            value = flat[rows, py, at] if axis == 0 else flat[rows, at, px]
            samples.append(value.astype(np.float64))
        lo, mid, hi = samples
        ok = (lo > 0) & (mid > 0) & (hi > 0)
        llo, lmid, lhi = (np.log(np.where(ok, v, 1.0)) for v in samples)
        curve = llo - 2 * lmid + lhi
        ok &= curve < -1e-9
        vertex = centre + 0.5 * (llo - lhi) / np.where(ok, curve, -1.0) - pos
        ok &= np.abs(vertex) <= DARK_MAX_OFFSET_PX
        offset[:, axis] = np.where(ok, vertex, offset[:, axis])
    return offset


def gaussian_blur(maps: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of (M, h, w) maps; zero outside the map (as DARK's reference code pads),
    which biases peaks near the border less than mirroring does."""
    radius = _blur_radius(sigma)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    out = np.asarray(maps, dtype=np.float64)
    for axis in (1, 2):
        size = out.shape[axis]
        pad = [(0, 0)] * 3
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad)
        acc = np.zeros_like(out)
        for i, weight in enumerate(kernel):
            acc += weight * np.take(padded, np.arange(i, i + size), axis=axis)
        out = acc
    return out


def decode_regression(coords: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """(N, K, 2) coordinates in [0, 1] of the input (x, y) -> (N, K, 3) input pixels, score 1."""
    c = np.asarray(coords, dtype=np.float32)
    if c.ndim != 3 or c.shape[-1] < 2:
        raise ValueError(f"regression output must be (N, K, 2), got shape {c.shape}")
    h, w = input_size
    out = np.ones((*c.shape[:2], 3), dtype=np.float32)
    out[..., 0] = c[..., 0] * w
    out[..., 1] = c[..., 1] * h
    if c.shape[-1] >= 3:  # a regressor that also predicts a confidence keeps it
        out[..., 2] = c[..., 2]
    return out


def to_image_coords(keypoints: np.ndarray, inv_affine: np.ndarray) -> np.ndarray:
    """Map (N, K, 3) input-pixel keypoints to original-image pixels with (N, 2, 3) affines."""
    kp = np.asarray(keypoints, dtype=np.float64)
    a = np.asarray(inv_affine, dtype=np.float64)
    xy = np.einsum("nij,nkj->nki", a[:, :, :2], kp[..., :2]) + a[:, None, :, 2]
    out = np.asarray(keypoints, dtype=np.float32).copy()
    out[..., :2] = xy
    return out


def flip_back(heatmaps: np.ndarray, flip_index: Sequence[int], shift_px: float = 1.0) -> np.ndarray:
    """Heatmaps of a horizontally flipped input (..., K, h, w) -> the unflipped image's heatmaps.

    Mirrors x, swaps left/right channels, then moves the maps `shift_px` heatmap pixels right:
    1.0 is SimpleBaselines' usual shift; the exact value for stride s (pixel x <-> W - 1 - x) is
    1 - 1/s, a fraction applied by linear interpolation; 0 disables it.
    """
    hm = np.asarray(heatmaps)
    out = hm[..., list(flip_index), :, ::-1].astype(np.float32)
    whole, frac = int(np.floor(shift_px)), float(shift_px - np.floor(shift_px))
    if whole:
        out = np.concatenate([np.repeat(out[..., :1], whole, axis=-1), out[..., :-whole]], axis=-1)
    if frac:
        left = np.concatenate([out[..., :1], out[..., :-1]], axis=-1)
        out = (1.0 - frac) * out + frac * left
    return np.ascontiguousarray(out)


def flip_average(out: np.ndarray, flipped: np.ndarray, head: str, flip_index: Sequence[int],
                 input_width: int) -> np.ndarray:  # fmt: skip
    """The flip test: a top-down model's raw output averaged with its output on the mirrored input mapped back
    (heatmaps shifted by the exact 1 - 1/stride, regression coordinates exact for pixel centres)."""
    if head == "heatmap":
        stride_x = input_width / out.shape[-1]
        return 0.5 * (out + flip_back(flipped, flip_index, shift_px=1.0 - 1.0 / stride_x))
    if head == "regression":
        return 0.5 * (out + flip_back_regression(flipped, flip_index, input_width=input_width))
    raise ValueError(f"the flip test applies to heatmap and regression outputs, not head '{head}'")


def flip_back_regression(
    coords: np.ndarray, flip_index: Sequence[int], input_width: int | None = None
) -> np.ndarray:
    """Regressed (..., K, 2+) coordinates of a flipped input -> unflipped: x -> 1 - x, swap joints.

    With `input_width` the flip is exact for pixel centres (pixel x <-> W - 1 - x): x -> 1 - 1/W - x.
    """
    c = np.asarray(coords, dtype=np.float32)[..., list(flip_index), :].copy()
    edge = 1.0 - (1.0 / input_width if input_width else 0.0)
    c[..., 0] = edge - c[..., 0]
    return c
