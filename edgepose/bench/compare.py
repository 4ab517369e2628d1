"""A/B latency gate: A and B run interleaved in one process, p50 ratio B/A with a bootstrap 95% CI.

Interleaving (A B, B A, A B, ... so neither always goes first) makes machine noise hit both; the
bootstrap resamples *paired* iterations, so a noisy stretch moves A and B together. The gate fails
only when the interval's lower bound is above 1 + threshold: B is slower with confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgepose.bench.latency import LatencyStats, stats_from_samples, timed_run
from edgepose.errors import UserError

if TYPE_CHECKING:
    from edgepose.runtimes.base import Session


@dataclass(frozen=True)
class CompareResult:
    ratio_p50: float
    ci95: tuple[float, float]
    a: LatencyStats
    b: LatencyStats
    threshold: float
    verdict: str  # "pass" | "fail"


def parse_threshold(text: str | float) -> float:
    """'5%' -> 0.05; '0.05' -> 0.05."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UserError(f"--fail-if-slower takes a percentage like 5% (or a fraction like 0.05); got '{text}'") from None
    if not 0 <= value < 10:
        raise UserError(f"--fail-if-slower must be between 0% and 1000%; got '{text}'")
    return value


def interleaved_samples(
    session_a: Session, feeds_a: dict[str, np.ndarray], session_b: Session, feeds_b: dict[str, np.ndarray],
    iters: int = 100, warmup: int = 10,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-iteration ms of A and B, timed alternately (AB, BA, AB, ...) after warming up both."""
    if iters < 2:
        raise UserError(f"an A/B comparison needs at least 2 iterations, got {iters}")
    for _ in range(warmup):
        session_a.run(feeds_a)
        session_b.run(feeds_b)
    a_ms, b_ms = np.empty(iters), np.empty(iters)
    for i in range(iters):
        if i % 2 == 0:
            a_ms[i] = timed_run(session_a, feeds_a)
            b_ms[i] = timed_run(session_b, feeds_b)
        else:
            b_ms[i] = timed_run(session_b, feeds_b)
            a_ms[i] = timed_run(session_a, feeds_a)
    return a_ms, b_ms


def bootstrap_ratio_ci(
    a_ms: np.ndarray, b_ms: np.ndarray, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of median(B)/median(A), resampling paired iterations."""
    a, b = np.asarray(a_ms, dtype=np.float64), np.asarray(b_ms, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise UserError("bootstrap needs two equally long series of at least 2 paired timings")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(resamples, a.size))
    ratios = np.median(b[idx], axis=1) / np.median(a[idx], axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return float(lo), float(hi)


def gate_verdict(ci95: tuple[float, float], threshold: float) -> str:
    """'fail' only when even the interval's lower bound says B is slower than 1 + threshold."""
    return "fail" if ci95[0] > 1 + threshold else "pass"


def compare_samples(a_ms: np.ndarray, b_ms: np.ndarray, threshold: float = 0.05, resamples: int = 2000, seed: int = 0) -> CompareResult:
    a, b = stats_from_samples(a_ms), stats_from_samples(b_ms)
    ci = bootstrap_ratio_ci(a_ms, b_ms, resamples=resamples, seed=seed)
    return CompareResult(b.p50 / a.p50, ci, a, b, threshold, gate_verdict(ci, threshold))


def compare_sessions(
    session_a: Session, feeds_a: dict[str, np.ndarray], session_b: Session, feeds_b: dict[str, np.ndarray],
    iters: int = 100, warmup: int = 10, threshold: float = 0.05, resamples: int = 2000, seed: int = 0,
) -> CompareResult:  # fmt: skip
    """Interleave A and B, then bootstrap the p50 ratio and decide the gate."""
    a_ms, b_ms = interleaved_samples(session_a, feeds_a, session_b, feeds_b, iters=iters, warmup=warmup)
    return compare_samples(a_ms, b_ms, threshold=threshold, resamples=resamples, seed=seed)
