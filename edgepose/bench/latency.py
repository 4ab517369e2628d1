"""The only timing code: one timed run, and `measure` (warm-up excluded, iterations or a time budget).

On a CUDA session each run is bracketed by CUDA events after a synchronize, so the time is the
device's; on CPU it is perf_counter_ns around run() + synchronize(). Every run includes turning the
numpy feeds into the runtime's input and the outputs back into numpy, as a user's call does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.errors import UserError

if TYPE_CHECKING:
    from edgepose.runtimes.base import Session

STAT_KEYS = ("mean", "p50", "p90", "p99", "min", "max", "std")
MIN_SAMPLES = 3


@dataclass(frozen=True)
class LatencyStats:
    """Latency statistics in milliseconds over `n` timed runs (samples kept for A/B analysis)."""

    mean: float
    p50: float
    p90: float
    p99: float
    min: float
    max: float
    std: float
    n: int
    samples_ms: tuple[float, ...] = ()

    def to_dict(self, digits: int = 4) -> dict[str, float]:
        """The DESIGN.md `latency_ms` object: mean, p50, p90, p99, min, max, std."""
        return {k: round(float(getattr(self, k)), digits) for k in STAT_KEYS}


def stats_from_samples(samples_ms: Any) -> LatencyStats:
    """LatencyStats of a sequence of per-run times in ms (percentiles: linear interpolation)."""
    arr = np.asarray(samples_ms, dtype=np.float64)
    if arr.size == 0:
        raise UserError("no latency samples: run at least one iteration")
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return LatencyStats(
        mean=float(arr.mean()), p50=float(p50), p90=float(p90), p99=float(p99), min=float(arr.min()),
        max=float(arr.max()), std=float(arr.std(ddof=1)) if arr.size > 1 else 0.0, n=int(arr.size),
        samples_ms=tuple(float(v) for v in arr),
    )  # fmt: skip


def timed_run(session: Session, feeds: dict[str, np.ndarray]) -> float:
    """Milliseconds of one session.run(feeds), device-synchronized (CUDA events on a GPU session)."""
    if getattr(session, "device", "cpu") == "cuda":
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        session.synchronize()
        start.record()
        session.run(feeds)
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))
    session.synchronize()
    t0 = time.perf_counter_ns()
    session.run(feeds)
    session.synchronize()
    return (time.perf_counter_ns() - t0) / 1e6


def measure(
    session: Session, feeds: dict[str, np.ndarray], warmup: int = 10, iters: int = 200, seconds: float | None = None
) -> LatencyStats:
    """Run `warmup` untimed iterations, then `iters` timed ones (or as many as fit in `seconds`)."""
    if warmup < 0 or iters < 1:
        raise UserError(f"need warmup >= 0 and iters >= 1 (got warmup={warmup}, iters={iters})")
    if seconds is not None and seconds <= 0:
        raise UserError(f"--seconds must be positive, got {seconds}")
    for _ in range(warmup):
        session.run(feeds)
    session.synchronize()
    samples: list[float] = []
    if seconds is None:
        samples = [timed_run(session, feeds) for _ in range(iters)]
    else:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(samples) < MIN_SAMPLES:
            samples.append(timed_run(session, feeds))
    return stats_from_samples(samples)
