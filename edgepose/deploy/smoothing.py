"""One-Euro filter (Casiez, Roussel & Vogel, CHI 2012) for keypoint tracks: per track and per keypoint.

A first-order low-pass filter whose cutoff rises with the signal's speed: slow movement is smoothed hard
(jitter goes), fast movement passes with little lag. For a sample x at time t (dt since the last one):

    alpha(fc) = 1 / (1 + tau / dt), tau = 1 / (2 pi fc)
    dx_hat    = alpha(d_cutoff) * (x - x_hat_prev) / dt + (1 - alpha(d_cutoff)) * dx_hat_prev
    fc        = min_cutoff + beta * |dx_hat| / scale
    x_hat     = alpha(fc) * x + (1 - alpha(fc)) * x_hat_prev

Frequencies are in Hz with dt in seconds (a video's frame time). Speed is in units of `scale` per second:
`predict` passes none (pixels / s, the DEFAULT_* values below), `eval --smooth` the person box diagonal
(so one beta serves people of every size). This is the one implementation: `OneEuroFilter` filters an
array, `smooth_track` a whole (T, K, 2|3) track (eval), `PoseSmoother` a stream of tracked people (predict).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

DEFAULT_MIN_CUTOFF_HZ = 5.0  # tuned on `synth --sequences --seed 3` (README, "Smoothing video"), pixels
DEFAULT_BETA = 0.03  # per (pixel / s): predict's default, no scale
DEFAULT_D_CUTOFF_HZ = 1.0
SMOOTH_METHODS = ("none", "one-euro")


@dataclass(frozen=True)
class OneEuroParams:
    """min_cutoff and d_cutoff in Hz, beta per (scale unit / s), fps used when no timestamps are given."""

    min_cutoff: float = DEFAULT_MIN_CUTOFF_HZ
    beta: float = DEFAULT_BETA
    d_cutoff: float = DEFAULT_D_CUTOFF_HZ
    fps: float = 30.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.fps > 0 and self.beta >= 0):
            raise ValueError(f"One-Euro needs min_cutoff, d_cutoff, fps > 0 and beta >= 0, got {self}")


def smoothing_factor(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray:
    """alpha of an exponential low-pass with this cutoff at step dt: 1 / (1 + tau / dt), tau = 1 / (2 pi fc)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """One-Euro filter over an array of any fixed shape (every element filtered independently).

    Call it once per frame in time order. The first sample (or one of a new shape) passes unchanged; a
    repeated timestamp returns the last estimate. NaN elements (a keypoint not seen this frame) come out NaN
    and leave their filter's state as it was.
    """

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF_HZ, beta: float = DEFAULT_BETA,
                 d_cutoff: float = DEFAULT_D_CUTOFF_HZ, fps: float = 30.0):  # fmt: skip
        self.params = OneEuroParams(min_cutoff, beta, d_cutoff, fps)  # ValueError on bad values
        self.x_hat: np.ndarray | None = None
        self.dx_hat: np.ndarray | None = None
        self.t_s: float | None = None

    @classmethod
    def from_params(cls, params: OneEuroParams | None = None) -> OneEuroFilter:
        p = params or OneEuroParams()
        return cls(p.min_cutoff, p.beta, p.d_cutoff, p.fps)

    def reset(self) -> None:
        self.x_hat = self.dx_hat = self.t_s = None

    def __call__(self, x: np.ndarray, t_s: float | None = None, scale: float | np.ndarray = 1.0) -> np.ndarray:
        """Filtered `x` at time `t_s` (seconds; default: one 1/fps step after the last call)."""
        x = np.asarray(x, dtype=np.float64)
        p = self.params
        if self.x_hat is None or self.dx_hat is None or self.t_s is None or self.x_hat.shape != x.shape:
            self.x_hat, self.dx_hat = x.copy(), np.zeros_like(x)
            self.t_s = 0.0 if t_s is None else float(t_s)
            return x.copy()
        t_now = self.t_s + 1.0 / p.fps if t_s is None else float(t_s)
        dt = t_now - self.t_s
        if dt <= 0:  # a repeated (or earlier) timestamp: nothing new to integrate
            return self.x_hat.copy()
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
    f = OneEuroFilter.from_params(params)
    for t in range(len(points)):
        out[t, :, :2] = f(points[t, :, :2], None if timestamps_s is None else timestamps_s[t], scales[t])
    return out


class PoseSmoother:
    """One OneEuroFilter per track over its keypoints' (x, y); scores pass through unchanged.

    Poses without a track id are returned as they are (there is nothing to smooth them against). A track
    unseen for more than `forget_after_s` seconds starts afresh when it comes back.
    """

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF_HZ, beta: float = DEFAULT_BETA,
                 d_cutoff: float = DEFAULT_D_CUTOFF_HZ, forget_after_s: float = 1.0):  # fmt: skip
        self.params = OneEuroParams(min_cutoff, beta, d_cutoff)  # validates the parameters now
        self.forget_after_s = forget_after_s
        self._filters: dict[Hashable, OneEuroFilter] = {}
        self._last_seen: dict[Hashable, float] = {}

    def __call__(self, keypoints: np.ndarray, track_id: Hashable | None, t_s: float,
                 scale: float = 1.0) -> np.ndarray:  # fmt: skip
        """(K, 3) keypoints [x, y, score] -> the same with x, y smoothed along the track (any hashable key)."""
        if track_id is None:
            return keypoints
        last = self._last_seen.get(track_id)
        if last is not None and t_s - last > self.forget_after_s:
            self._filters.pop(track_id, None)
        self._last_seen[track_id] = t_s
        filt = self._filters.setdefault(track_id, OneEuroFilter.from_params(self.params))
        out = np.array(keypoints, dtype=np.float32, copy=True)
        out[:, :2] = filt(np.asarray(keypoints, dtype=np.float64)[:, :2], t_s, scale)
        return out

    def forget(self, track_id: Hashable) -> None:
        """Drop a track that ended (its id may come back as a new person)."""
        self._filters.pop(track_id, None)
        self._last_seen.pop(track_id, None)
