"""A/B latency gate: A and B timed in ABBA blocks in one process, the p50 ratio B/A with a 95% CI over blocks.

Why blocks (see bench/blocks.py for the design): runs of one model come in warm stretches and share
the machine's load of the moment, so per-iteration ratios are not independent and an interval that
treats them as such is far too narrow (issue 17: a model against itself read 0.974, CI 0.942-0.991).
Here the unit is an ABBA cycle; its value is the mean over its two pairs of
log(median of B's block / median of A's block). Load that lasts a whole cycle cancels in it; load
that changes faster shows up as spread between units and widens the interval, as it should.

`ratio_p50` = exp(mean unit log-ratio): the geometric mean over cycles of the ratio of block p50s.
`ci95`: a t-interval over units (default), or scipy's BCa bootstrap of the same mean (`ci="bootstrap"`).
Verdict against `threshold` T: `pass` when the upper bound < 1 + T, `fail` when the lower bound
> 1 + T, else `inconclusive`. An inconclusive first look is extended, when `max_seconds` allows,
by doubling the number of pairs (looks at n, 2n, 4n, ... pairs: few looks, so peeking barely moves
the error rates, which benchmarks/calibrate_gate.py measures with the extension included).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.bench.blocks import (
    BlockDesign,
    BlockTimes,
    Timer,
    fit_design,
    pair_orders,
    run_pairs,
    unit_log_ratios,
    warm_up,
)
from edgepose.bench.defaults import BLOCK_ITERS, DEFAULT_ITERS, DEFAULT_MAX_SECONDS, MIN_UNITS
from edgepose.bench.latency import LatencyStats, stats_from_samples, timed_run
from edgepose.errors import UserError

if TYPE_CHECKING:
    from edgepose.runtimes.base import Session

VERDICTS = ("pass", "fail", "inconclusive")
CI_METHODS = ("t", "bootstrap")


@dataclass(frozen=True)
class CompareResult:
    ratio_p50: float
    ci95: tuple[float, float]
    a: LatencyStats
    b: LatencyStats
    threshold: float
    verdict: str  # "pass" | "fail" | "inconclusive"
    pairs: int = 0  # blocks per model (one A and one B block per pair)
    units: int = 0  # ABBA cycles (or pairs, with a random order) the interval is computed over
    seconds: float = 0.0  # wall time of the whole timing, warm-up included
    looks: int = 1
    design: BlockDesign = field(default_factory=BlockDesign)
    ci_method: str = "t"
    pair_ratios: tuple[float, ...] = ()

    @property
    def ratio_of_p50s(self) -> float:
        """median(all B runs) / median(all A runs): reported beside `ratio_p50`, not used by the gate."""
        return self.b.p50 / self.a.p50

    @property
    def blocks(self) -> int:
        return self.pairs

    def summary(self) -> dict[str, Any]:
        """The gate's own JSON keys (the CLI adds `a` and `b` as bench JSON)."""
        return {
            "ratio_p50": round(self.ratio_p50, 4), "ci95": [round(self.ci95[0], 4), round(self.ci95[1], 4)],
            "verdict": self.verdict, "threshold": self.threshold, "limit": round(1 + self.threshold, 6),
            "ratio_of_p50s": round(self.ratio_of_p50s, 4), "blocks": self.pairs, "units": self.units,
            "iters": self.a.n, "seconds": round(self.seconds, 3), "looks": self.looks, "ci_method": self.ci_method,
            "design": self.design.to_dict(), "block_ratios": [round(r, 4) for r in self.pair_ratios],
            "statistic": "geometric mean over ABBA cycles of median(B block) / median(A block); "
                         f"ci95: {'t-interval' if self.ci_method == 't' else 'BCa bootstrap'} over cycles",
        }  # fmt: skip


@dataclass(frozen=True)
class CompareProgress:
    """What a progress callback sees after each pair of blocks (ratio and CI are the last look's)."""

    pairs_done: int
    pairs_planned: int
    elapsed_s: float
    looks: int
    ratio: float | None = None
    ci95: tuple[float, float] | None = None


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


def ratio_interval(
    unit_logs: np.ndarray, method: str = "t", level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """(ratio, (lo, hi)) on the ratio scale from unit log-ratios: exp(mean) and a t or BCa-bootstrap interval."""
    logs = np.asarray(unit_logs, dtype=np.float64)
    if method not in CI_METHODS:
        raise UserError(f"the interval method must be one of {', '.join(CI_METHODS)}; got '{method}'")
    if logs.ndim != 1 or logs.size < 2 or not np.all(np.isfinite(logs)):
        raise UserError(f"an interval needs at least 2 finite unit log-ratios, got {logs.size}")
    if resamples < 1 or not 0 < level < 1:
        raise UserError(f"need resamples >= 1 and 0 < level < 1 (got {resamples}, {level})")
    mean = float(logs.mean())
    if float(np.ptp(logs)) == 0.0:  # identical units: no spread to build an interval from
        return math.exp(mean), (math.exp(mean), math.exp(mean))
    import scipy.stats

    if method == "t":
        half = float(scipy.stats.t.ppf(0.5 + level / 2, logs.size - 1)) * float(logs.std(ddof=1)) / math.sqrt(logs.size)
        lo, hi = mean - half, mean + half
    else:
        res = scipy.stats.bootstrap((logs,), np.mean, n_resamples=resamples, confidence_level=level, method="BCa",
                                    vectorized=True, rng=np.random.default_rng(seed))  # fmt: skip
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isfinite(lo) and math.isfinite(hi)):  # BCa degenerates on near-constant data
            lo, hi = (float(v) for v in np.percentile(logs, [(1 - level) * 50, 100 - (1 - level) * 50]))
    return math.exp(mean), (math.exp(lo), math.exp(hi))


def gate_verdict(ci95: tuple[float, float], threshold: float) -> str:
    """'pass' when all of the interval is below 1 + threshold, 'fail' when all of it is above, else 'inconclusive'."""
    lo, hi = ci95
    limit = 1 + threshold
    if hi < limit:
        return "pass"
    if lo > limit:
        return "fail"
    return "inconclusive"


def compare_blocks(
    times: BlockTimes, threshold: float = 0.05, design: BlockDesign | None = None, ci: str = "t",
    resamples: int = 2000, seconds: float = 0.0, looks: int = 1,
) -> CompareResult:  # fmt: skip
    """The gate's numbers from timed blocks: ratio, interval over units, verdict."""
    design = design or BlockDesign()
    pair_logs = times.pair_log_ratios()
    units = unit_log_ratios(pair_logs, design.pairs_per_unit)
    if units.size < 2:
        raise UserError(f"an interval needs at least 2 units of {design.pairs_per_unit} block pair(s), got {units.size}")
    ratio, interval = ratio_interval(units, ci, resamples=resamples, seed=design.seed)
    return CompareResult(
        ratio, interval, stats_from_samples(times.all_a()), stats_from_samples(times.all_b()), threshold,
        gate_verdict(interval, threshold), pairs=times.pairs, units=int(units.size), seconds=seconds, looks=looks,
        design=design, ci_method=ci, pair_ratios=tuple(float(v) for v in np.exp(pair_logs)),
    )  # fmt: skip


def extension_pairs(pairs_done: int, pair_s: float, remaining_s: float, pairs_per_unit: int) -> int:
    """Pairs to add on an inconclusive look: double what was done, cut to whole units that fit the budget."""
    if remaining_s <= 0 or pair_s <= 0:  # no budget left, or a clock that does not move
        return 0
    fit = min(pairs_done, int(remaining_s / pair_s))
    return fit - fit % pairs_per_unit


def compare_sessions(
    session_a: Session, feeds_a: dict[str, np.ndarray], session_b: Session, feeds_b: dict[str, np.ndarray],
    iters: int = 100, warmup: int = 10, threshold: float = 0.05, resamples: int = 2000, seed: int = 0, *,
    block_iters: int = BLOCK_ITERS, order: str = "abba", settle_ms: float = 0.0, ci: str = "t",
    max_seconds: float | None = None,
    on_progress: Callable[[CompareProgress], None] | None = None, timer: Timer = timed_run,
    clock: Callable[[], float] = time.perf_counter,
) -> CompareResult:  # fmt: skip
    """Time A and B in ABBA blocks (about `iters` timed runs each), then decide the gate.

    An inconclusive verdict is re-examined after doubling the pairs while `max_seconds` (the whole
    timing's budget, warm-up included) allows; None or 0 means a single look.
    """
    if max_seconds is not None and max_seconds < 0:
        raise UserError(f"--max-seconds must be >= 0, got {max_seconds}")
    design, planned = fit_design(iters, BlockDesign(order, block_iters, warmup, seed, settle_ms))
    import scipy.stats  # noqa: F401  (imported before the clock starts: on a busy machine it takes seconds)

    start = clock()
    warm_up(session_a, feeds_a, session_b, feeds_b, design.warmup)
    times, looks = BlockTimes(), 0
    last: CompareResult | None = None

    def report(done: BlockTimes) -> None:
        if on_progress is not None:
            on_progress(CompareProgress(done.pairs, planned, clock() - start, looks,
                                        last.ratio_p50 if last else None, last.ci95 if last else None))  # fmt: skip

    timing_s = 0.0  # spent timing pairs: the pace an extension is planned with
    while True:
        orders = pair_orders(design, times.pairs, planned - times.pairs)
        started = clock()
        run_pairs(session_a, feeds_a, session_b, feeds_b, orders, design.block_iters, times, timer, report,
                  design.settle_ms, clock)
        timing_s += clock() - started
        looks += 1
        last = compare_blocks(times, threshold, design, ci, resamples, clock() - start, looks)
        report(times)
        if last.verdict != "inconclusive" or not max_seconds:
            return last
        now = clock()
        add = extension_pairs(times.pairs, timing_s / times.pairs, start + max_seconds - now, design.pairs_per_unit)
        if add < design.pairs_per_unit:
            return last
        planned = times.pairs + add


__all__ = ["DEFAULT_ITERS", "DEFAULT_MAX_SECONDS", "MIN_UNITS", "CompareProgress", "CompareResult", "compare_blocks", "compare_sessions", "gate_verdict",
           "parse_threshold", "ratio_interval"]  # fmt: skip
