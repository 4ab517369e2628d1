"""A/B latency gate: A and B run interleaved in one process, p50 ratio B/A with a bootstrap 95% CI.

Interleaving blocks of runs (A B, B A, A B, ... so neither always goes first; a few runs per block so
each model is timed warm, as deployed) makes machine noise hit both. The
ratio is the median over iterations of the *paired* ratio b_i / a_i (A and B timed in neighbouring blocks), and
the bootstrap resamples those pairs: a noisy stretch that slows both runs of a pair cancels in its
ratio, and a run that alone was preempted is an outlier the median ignores. (The ratio of the two
medians, median(b) / median(a), is also reported; on a contended machine whose runs are bimodal it
jumps between modes, which is why the gate does not use it.) The gate fails only when the interval's
lower bound is above 1 + threshold: B is slower with confidence.
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

    @property
    def ratio_of_p50s(self) -> float:
        """median(B) / median(A): reported beside `ratio_p50`, not used by the gate."""
        return self.b.p50 / self.a.p50


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


BLOCK = 5  # timed runs per block; blocks of A and B alternate


def interleaved_samples(
    session_a: Session, feeds_a: dict[str, np.ndarray], session_b: Session, feeds_b: dict[str, np.ndarray],
    iters: int = 100, warmup: int = 10, block: int = BLOCK,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-iteration ms of A and B, timed in alternating blocks (A B, B A, A B, ...) after warming up both.

    Each block is one untimed run then `block` timed runs of the same model. Strict A/B alternation
    measures a model right after the other one ran: with two runtimes in one process (torch's OpenMP
    pool, OpenVINO's TBB pool, caches filled by the other model's weights) that slowed a 4 ms OpenVINO
    model to 7 ms beside torch. A block keeps each model warm, as when deployed alone, while still
    letting machine noise hit A and B alike; a_ms[i] and b_ms[i] come from neighbouring blocks.
    """
    if iters < 2:
        raise UserError(f"an A/B comparison needs at least 2 iterations, got {iters}")
    if block < 1:
        raise UserError(f"an A/B block needs at least 1 timed run, got {block}")
    for _ in range(warmup):
        session_a.run(feeds_a)
        session_b.run(feeds_b)
    a_ms: list[float] = []
    b_ms: list[float] = []
    sides = [(session_a, feeds_a, a_ms), (session_b, feeds_b, b_ms)]
    while len(a_ms) < iters:
        n = min(block, iters - len(a_ms))
        for session, feeds, out in sides:
            session.run(feeds)  # untimed: switching from the other model is not part of this one's latency
            out.extend(timed_run(session, feeds) for _ in range(n))
        sides.reverse()
    return np.asarray(a_ms), np.asarray(b_ms)


def paired_log_ratios(a_ms: np.ndarray, b_ms: np.ndarray) -> np.ndarray:
    """log(b_i / a_i) of paired timings (two equally long series of positive milliseconds)."""
    a, b = np.asarray(a_ms, dtype=np.float64), np.asarray(b_ms, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise UserError("a ratio needs two equally long series of at least 2 paired timings")
    if not (np.all(a > 0) and np.all(b > 0)):
        raise UserError("paired timings must all be positive milliseconds")
    return np.log(b) - np.log(a)


def median_ratio(a_ms: np.ndarray, b_ms: np.ndarray) -> float:
    """The p50 of the paired ratios b_i / a_i (a geometric mid-point of the middle two when even)."""
    return float(np.exp(np.median(paired_log_ratios(a_ms, b_ms))))


def bootstrap_ratio_ci(
    a_ms: np.ndarray, b_ms: np.ndarray, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the p50 of b_i / a_i, resampling paired iterations."""
    logs = paired_log_ratios(a_ms, b_ms)
    if resamples < 1 or not 0 < level < 1:
        raise UserError(f"need resamples >= 1 and 0 < level < 1 (got {resamples}, {level})")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, logs.size, size=(resamples, logs.size))
    ratios = np.exp(np.median(logs[idx], axis=1))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return float(lo), float(hi)


def gate_verdict(ci95: tuple[float, float], threshold: float) -> str:
    """'fail' only when even the interval's lower bound says B is slower than 1 + threshold."""
    return "fail" if ci95[0] > 1 + threshold else "pass"


def compare_samples(a_ms: np.ndarray, b_ms: np.ndarray, threshold: float = 0.05, resamples: int = 2000, seed: int = 0) -> CompareResult:
    """The gate's numbers from paired timings: p50 of b_i / a_i, its bootstrap 95% CI, the verdict."""
    a, b = stats_from_samples(a_ms), stats_from_samples(b_ms)
    ci = bootstrap_ratio_ci(a_ms, b_ms, resamples=resamples, seed=seed)
    return CompareResult(median_ratio(a_ms, b_ms), ci, a, b, threshold, gate_verdict(ci, threshold))


def compare_sessions(
    session_a: Session, feeds_a: dict[str, np.ndarray], session_b: Session, feeds_b: dict[str, np.ndarray],
    iters: int = 100, warmup: int = 10, threshold: float = 0.05, resamples: int = 2000, seed: int = 0,
) -> CompareResult:  # fmt: skip
    """Interleave A and B, then bootstrap the p50 ratio and decide the gate."""
    a_ms, b_ms = interleaved_samples(session_a, feeds_a, session_b, feeds_b, iters=iters, warmup=warmup)
    return compare_samples(a_ms, b_ms, threshold=threshold, resamples=resamples, seed=seed)
