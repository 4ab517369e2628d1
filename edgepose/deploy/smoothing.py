"""The One-Euro filter (Casiez, Roussel & Vogel, CHI 2012) for keypoint tracks, in numpy.

A first-order low-pass filter whose cutoff rises with speed: cutoff = min_cutoff + beta * |dx/dt|.
At rest it smooths hard (min_cutoff, Hz: less jitter, more lag); when the point moves fast the cutoff
rises and lag shrinks (beta: more of it means less lag and more jitter). The derivative is itself
low-passed at d_cutoff Hz. Every element of the array is its own filter (per keypoint, per axis).

Speed is in units of `scale` per second when a scale is given (e.g. the person box diagonal in
pixels), so one beta serves people of every size; without it, in input units (pixels) per second.
`eval --smooth one-euro` and `predict` use this same code.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

SMOOTH_METHODS = ("none", "one-euro")


@dataclass(frozen=True)
class OneEuroParams:
    """min_cutoff and d_cutoff in Hz, beta per (scale unit / s), fps used when no timestamps are given."""

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    fps: float = 30.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.fps > 0 and self.beta >= 0):
            raise ValueError(
                f"One-Euro needs min_cutoff, d_cutoff, fps > 0 and beta >= 0, got {self}"
            )


def smoothing_factor(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray:
    """alpha of an exponential low-pass with this cutoff at step dt: 1 / (1 + tau / dt), tau = 1 / (2 pi fc)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """One filter per element of an array of fixed shape (e.g. (K, 2) keypoints of one track).

    Call it once per frame in time order. NaN elements (a keypoint not seen this frame) come out NaN
    and leave their filter's state as it was.
    """

    def __init__(self, params: OneEuroParams | None = None):
        self.params = params or OneEuroParams()
        self.x_hat: np.ndarray | None = None
        self.dx_hat: np.ndarray | None = None
        self.t_s: float | None = None

    def reset(self) -> None:
        self.x_hat = self.dx_hat = self.t_s = None

    def __call__(self, x: np.ndarray, t_s: float | None = None, scale: float | np.ndarray = 1.0) -> np.ndarray:
        """Filtered `x` at time `t_s` (seconds; default: one 1/fps step after the last call)."""
        x = np.asarray(x, dtype=np.float64)
        p = self.params
        if self.x_hat is None or self.t_s is None:
            self.x_hat, self.dx_hat = x.copy(), np.zeros_like(x)
            self.t_s = 0.0 if t_s is None else float(t_s)
            return x.copy()
        if self.x_hat.shape != x.shape:
            raise ValueError(f"filter made for shape {self.x_hat.shape} got shape {x.shape}")
        t_now = self.t_s + 1.0 / p.fps if t_s is None else float(t_s)
        dt = t_now - self.t_s
        if dt <= 0:
            raise ValueError(f"timestamps must increase: {t_now} after {self.t_s}")
        seen = np.isfinite(x)
        fresh = seen & ~np.isfinite(self.x_hat)  # first sighting of an element: start it here
        prev = np.where(fresh, x, self.x_hat)
        dx = np.where(seen, (x - prev) / dt, 0.0)
        dx_hat = self.dx_hat + smoothing_factor(p.d_cutoff, dt) * (dx - self.dx_hat)
        speed = np.abs(dx_hat) / np.asarray(scale, dtype=np.float64)
        alpha = smoothing_factor(p.min_cutoff + p.beta * speed, dt)
        x_hat = prev + alpha * (np.where(seen, x, prev) - prev)
        self.x_hat = np.where(seen, x_hat, self.x_hat)
        self.dx_hat = np.where(seen, dx_hat, self.dx_hat)
        self.t_s = t_now
        return np.where(seen, x_hat, np.nan)


def smooth_track(
    points: np.ndarray, params: OneEuroParams | None = None, timestamps_s: np.ndarray | None = None,
    scale: float | np.ndarray = 1.0,
) -> np.ndarray:  # fmt: skip
    """One-Euro over a whole track: (T, K, 2) or (T, K, 3) in frame order -> the same shape.

    x and y are filtered; a third column (scores) is kept as it is. `scale` is one number or (T,) per
    frame (the box diagonal); `timestamps_s` (T,) default to frame / fps.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[-1] not in (2, 3):
        raise ValueError(f"a track must be (T, K, 2|3), got shape {points.shape}")
    scales = np.broadcast_to(np.asarray(scale, dtype=np.float64), (len(points),))
    out = points.copy()
    f = OneEuroFilter(params)
    for t in range(len(points)):
        out[t, :, :2] = f(points[t, :, :2], None if timestamps_s is None else timestamps_s[t], scales[t])
    return out


class TrackSmoother:
    """One OneEuroFilter per track id, for streams of several people (`predict`)."""

    def __init__(self, params: OneEuroParams | None = None):
        self.params = params or OneEuroParams()
        self.filters: dict[Hashable, OneEuroFilter] = {}

    def __call__(self, track_id: Hashable, keypoints: np.ndarray, t_s: float | None = None,
                 scale: float = 1.0) -> np.ndarray:  # fmt: skip
        """Smoothed (K, 2|3) keypoints of `track_id` at time `t_s` (scores kept)."""
        kp = np.asarray(keypoints, dtype=np.float64)
        f = self.filters.setdefault(track_id, OneEuroFilter(self.params))
        out = kp.copy()
        out[..., :2] = f(kp[..., :2], t_s, scale)
        return out

    def forget(self, track_id: Hashable) -> None:
        """Drop a track that ended (its id may come back as a new person)."""
        self.filters.pop(track_id, None)
