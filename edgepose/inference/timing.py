"""Per-frame timing as a user experiences it: read, preprocess, inference, postprocess, write (ms), p50 / p90
over frames, and the end-to-end frame rate. Ultralytics reports preprocess / inference / postprocess speeds the
same way; we give percentiles, since one slow frame hides in a mean.

postprocess = decode + NMS (+ the top-down decode after a detector) + tracking + smoothing; write = results,
CSV rows and overlays. Timings are wall-clock (time.perf_counter) on whatever else the machine is doing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

STAGES = ("read", "preprocess", "inference", "postprocess", "write")


class StageTimer:
    def __init__(self) -> None:
        self.frames: list[dict[str, float]] = []
        self._current: dict[str, float] = {}
        self._start: float | None = None
        self._end: float | None = None

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        if self._start is None:
            self._start = start
        try:
            yield
        finally:
            self._current[name] = self._current.get(name, 0.0) + (time.perf_counter() - start) * 1e3

    def current_ms(self) -> float:
        """Milliseconds spent on the frame in progress so far (read + preprocess + inference + postprocess)."""
        return sum(v for k, v in self._current.items() if k != "write")

    def end_frame(self) -> None:
        self.frames.append({name: self._current.get(name, 0.0) for name in STAGES})
        self._current = {}
        self._end = time.perf_counter()

    def summary(self) -> dict[str, Any]:
        """{"per_stage_ms": {stage: {"p50", "p90", "mean"}}, "frame_ms": {...}, "fps", "frames",
        "pre_post_over_inference": median (pre + post) / median inference}."""
        if not self.frames:
            return {"per_stage_ms": {}, "frame_ms": None, "fps": None, "frames": 0, "pre_post_over_inference": None}
        table = {name: np.array([f[name] for f in self.frames]) for name in STAGES}
        per = {name: _stats(values) for name, values in table.items()}
        total = sum(table.values())
        wall = (self._end or 0.0) - (self._start or 0.0)
        inference = per["inference"]["p50"]
        ratio = (per["preprocess"]["p50"] + per["postprocess"]["p50"]) / inference if inference > 0 else None
        return {
            "per_stage_ms": per, "frame_ms": _stats(total), "frames": len(self.frames),
            "fps": round(len(self.frames) / wall, 2) if wall > 0 else None,
            "pre_post_over_inference": None if ratio is None else round(ratio, 4),
        }  # fmt: skip


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"p50": round(float(np.percentile(values, 50)), 3), "p90": round(float(np.percentile(values, 90)), 3),
            "mean": round(float(values.mean()), 3)}  # fmt: skip
