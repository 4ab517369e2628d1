"""The only timing code: one timed run, `measure` (latency: one request at a time) and
`measure_throughput` (many requests in flight), warm-up excluded, iterations or a time budget.

On a CUDA session each run is bracketed by CUDA events after a synchronize, so the time is the
device's; on CPU it is perf_counter_ns around run() + synchronize(). Every run includes turning the
numpy feeds into the runtime's input and the outputs back into numpy, as a user's call does.

Throughput (as OpenVINO's `benchmark_app -hint throughput` measures it): requests are started as
soon as the runtime has a free one, images/s = completed images / wall time from the first start to
the last completion, and each request's latency (start to completion) is its latency under load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.errors import UserError

if TYPE_CHECKING:
    from edgepose.runtimes.base import AsyncSession, Session

Progress = Callable[[int, int], None]  # (runs done, runs expected); with a time budget the total is an estimate

STAT_KEYS = ("mean", "p50", "p90", "p99", "min", "max", "std")
MIN_SAMPLES = 3
REPORT_EVERY_S = 0.1  # progress callbacks at most this often, so reporting costs nothing measurable


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


def _check_budget(warmup: int, iters: int, seconds: float | None) -> None:
    if warmup < 0 or iters < 1:
        raise UserError(f"need warmup >= 0 and iters >= 1 (got warmup={warmup}, iters={iters})")
    if seconds is not None and seconds <= 0:
        raise UserError(f"--seconds must be positive, got {seconds}")


def _expected(done: int, iters: int, seconds: float | None, started: float) -> int:
    """Runs expected in all: `iters`, or with a time budget what the pace so far fits in it."""
    if seconds is None:
        return iters
    elapsed = time.perf_counter() - started
    return max(done, int(done * seconds / elapsed)) if elapsed > 0 else done


def measure(
    session: Session, feeds: dict[str, np.ndarray], warmup: int = 10, iters: int = 200, seconds: float | None = None,
    on_progress: Progress | None = None,
) -> LatencyStats:  # fmt: skip
    """Run `warmup` untimed iterations, then `iters` timed ones (or as many as fit in `seconds`)."""
    _check_budget(warmup, iters, seconds)
    for _ in range(warmup):
        session.run(feeds)
    session.synchronize()
    samples: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else None
    reported = started
    while len(samples) < iters if deadline is None else (time.perf_counter() < deadline or len(samples) < MIN_SAMPLES):
        samples.append(timed_run(session, feeds))
        if on_progress is not None and time.perf_counter() - reported >= REPORT_EVERY_S:
            on_progress(len(samples), _expected(len(samples), iters, seconds, started))
            reported = time.perf_counter()
    if on_progress is not None:
        on_progress(len(samples), len(samples))
    return stats_from_samples(samples)


@dataclass(frozen=True)
class ThroughputStats:
    """Many requests in flight: per-request latency under load, completed requests and the wall time."""

    latency: LatencyStats
    requests: int  # completed (timed) requests
    batch: int
    wall_s: float

    @property
    def images_per_s(self) -> float:
        return self.requests * self.batch / self.wall_s if self.wall_s > 0 else float("inf")


def measure_throughput(
    session: AsyncSession, feeds: dict[str, np.ndarray], warmup: int = 10, iters: int = 200,
    seconds: float | None = None, on_progress: Progress | None = None,
) -> ThroughputStats:  # fmt: skip
    """Keep the runtime's requests busy: `warmup` untimed requests, then `iters` (or `seconds` of) timed ones."""
    _check_budget(warmup, iters, seconds)
    for _ in range(max(warmup, session.requests)):
        session.start(feeds, _ignore)
    session.wait_all()
    latencies: list[float] = []

    def submit() -> None:
        session.wait_idle()
        t0 = time.perf_counter_ns()
        session.start(feeds, lambda: latencies.append((time.perf_counter_ns() - t0) / 1e6))

    started_ns = time.perf_counter_ns()
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else None
    submitted, reported = 0, started
    while submitted < iters if deadline is None else (time.perf_counter() < deadline or submitted < MIN_SAMPLES):
        submit()
        submitted += 1
        if on_progress is not None and time.perf_counter() - reported >= REPORT_EVERY_S:
            on_progress(submitted, _expected(submitted, iters, seconds, started))
            reported = time.perf_counter()
    session.wait_all()
    if on_progress is not None:
        on_progress(submitted, submitted)
    wall_s = (time.perf_counter_ns() - started_ns) / 1e9
    if len(latencies) != submitted:
        raise RuntimeError(f"{submitted} requests started but {len(latencies)} completed")
    batch = int(next(iter(feeds.values())).shape[0])
    return ThroughputStats(stats_from_samples(latencies), submitted, batch, wall_s)


def _ignore() -> None:
    """The completion callback of untimed requests."""
