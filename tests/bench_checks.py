"""Checks shared by the benchmark tests."""

from __future__ import annotations

MEAN_STEP_MS = 1e-4  # LatencyStats.to_dict rounds to 4 digits (ms)


def fps_matches_mean(fps: float, mean_ms: float) -> bool:
    """fps = 1000 / mean, computed from the unrounded mean: the reported mean is rounded to 1e-4 ms, which on a tiny
    model (a mean near 0.04 ms) is a 0.1% step, so allow half a step either way."""
    half = MEAN_STEP_MS / 2
    return 1000 / (mean_ms + half) * (1 - 1e-6) <= fps <= 1000 / max(mean_ms - half, 1e-9) * (1 + 1e-6)
