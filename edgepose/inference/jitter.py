"""Jitter of keypoint tracks: the mean frame-to-frame acceleration of each keypoint, over the box diagonal.

For three consecutive frames (t-1, t, t+1) of one track, a = |x(t+1) - 2 x(t) + x(t-1)| in pixels per frame^2,
divided by the person's box diagonal at t (so people near and far count alike). A still person scores 0,
one moving at constant speed too: only the shake between frames counts. Reported overall (mean over every
track, frame and keypoint) and per keypoint; `predict` measures it on the raw and on the smoothed keypoints.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np


class JitterMeter:
    def __init__(self, names: Sequence[str]):
        self.names = tuple(names)
        self._history: dict[Hashable, list[tuple[int, np.ndarray]]] = {}
        self._sum = np.zeros(len(self.names))
        self._count = 0

    def add(self, track: Hashable, frame_index: int, keypoints: np.ndarray, box_diagonal_px: float) -> None:
        """One track's (K, 2+) keypoints at `frame_index`; a gap in frames restarts the track's window."""
        xy = np.asarray(keypoints, dtype=np.float64)[:, :2]
        past = self._history.get(track, [])
        if past and past[-1][0] != frame_index - 1:
            past = []
        if len(past) == 2 and box_diagonal_px > 0:
            accel = np.linalg.norm(xy - 2.0 * past[1][1] + past[0][1], axis=1)
            self._sum += accel / box_diagonal_px
            self._count += 1
        self._history[track] = [*past[-1:], (frame_index, xy)]

    def result(self) -> dict[str, Any]:
        """{"overall", "per_keypoint": {name: value}, "n_samples"}; values None without three consecutive frames."""
        if not self._count:
            return {"overall": None, "per_keypoint": dict.fromkeys(self.names), "n_samples": 0}
        per = self._sum / self._count
        return {"overall": float(per.mean()), "per_keypoint": {n: float(v) for n, v in zip(self.names, per, strict=True)},
                "n_samples": self._count}  # fmt: skip
