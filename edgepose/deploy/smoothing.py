"""One-Euro filter (Casiez, Roussel & Vogel, CHI 2012) for keypoint tracks: per track and per keypoint.

A first-order low-pass filter whose cutoff rises with the signal's speed: slow movement is smoothed hard
(jitter goes), fast movement passes with little lag. For a sample x at time t (dt since the last one):

    alpha(fc) = 1 / (1 + tau / dt), tau = 1 / (2 pi fc)
    dx_hat    = alpha(d_cutoff) * (x - x_hat_prev) / dt + (1 - alpha(d_cutoff)) * dx_hat_prev
    fc        = min_cutoff + beta * |dx_hat|
    x_hat     = alpha(fc) * x + (1 - alpha(fc)) * x_hat_prev

Frequencies are in Hz with dt in seconds (a video's frame time). `PoseSmoother` keeps one filter per track over
its (K, 2) keypoint coordinates, each coordinate filtered on its own, and forgets tracks not seen for a while.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np

DEFAULT_MIN_CUTOFF_HZ = 5.0  # tuned on `synth --sequences --seed 3` (README, "Smoothing video")
DEFAULT_BETA = 0.03
DEFAULT_D_CUTOFF_HZ = 1.0


def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """One-Euro filter over an array of any fixed shape (every element filtered independently)."""

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF_HZ, beta: float = DEFAULT_BETA,
                 d_cutoff: float = DEFAULT_D_CUTOFF_HZ):  # fmt: skip
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f"One-Euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0 (got {min_cutoff}, {d_cutoff}, {beta})")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        """The filtered value of sample `x` taken at time `t_s` (seconds); the first sample passes unchanged."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t_s)
            return x.copy()
        dt = float(t_s) - self._t
        if dt <= 0:  # a repeated timestamp: nothing new to integrate
            return self._x.copy()
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1.0 - a_d) * self._dx
        a = _alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = float(t_s)
        return self._x.copy()


class PoseSmoother:
    """One OneEuroFilter per track over its keypoints' (x, y); scores pass through unchanged.

    Poses without a track id are returned as they are (there is nothing to smooth them against). A track
    unseen for more than `forget_after_s` seconds starts afresh when it comes back.
    """

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF_HZ, beta: float = DEFAULT_BETA,
                 d_cutoff: float = DEFAULT_D_CUTOFF_HZ, forget_after_s: float = 1.0):  # fmt: skip
        OneEuroFilter(min_cutoff, beta, d_cutoff)  # validates the parameters now
        self.params = (min_cutoff, beta, d_cutoff)
        self.forget_after_s = forget_after_s
        self._filters: dict[Hashable, OneEuroFilter] = {}
        self._last_seen: dict[Hashable, float] = {}

    def __call__(self, keypoints: np.ndarray, track_id: Hashable | None, t_s: float) -> np.ndarray:
        """(K, 3) keypoints [x, y, score] -> the same with x, y smoothed along the track (any hashable key)."""
        if track_id is None:
            return keypoints
        last = self._last_seen.get(track_id)
        if last is not None and t_s - last > self.forget_after_s:
            self._filters.pop(track_id, None)
        self._last_seen[track_id] = t_s
        filt = self._filters.setdefault(track_id, OneEuroFilter(*self.params))
        out = np.array(keypoints, dtype=np.float32, copy=True)
        out[:, :2] = filt(np.asarray(keypoints, dtype=np.float64)[:, :2], t_s)
        return out
