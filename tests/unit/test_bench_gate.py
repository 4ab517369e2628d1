"""The A/B latency gate's statistics: ABBA block design, intervals over blocks, verdicts, the time budget.

No timing here: fake sessions run on a fake clock and report the latency a seeded noise model gives
them (a machine load shared by A and B that drifts in time, plus per-run jitter), so every assertion
is about the design and the statistics, deterministically.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from edgepose.bench.blocks import BlockDesign, BlockTimes, fit_design, pair_orders, unit_log_ratios
from edgepose.bench.compare import (
    VERDICTS,
    CompareProgress,
    compare_blocks,
    compare_sessions,
    extension_pairs,
    gate_verdict,
    ratio_interval,
)
from edgepose.errors import UserError

FEEDS = {"input": np.zeros((1, 3, 4, 4), np.float32)}


class Machine:
    """A fake clock plus a load that drifts in time: log-slowdown an AR(1) process in steps of `step_s`.

    Both models feel the same load at the same moment; `jitter` is independent per run.
    """

    def __init__(self, seed: int, load_sd: float = 0.3, persistence: float = 0.97, step_s: float = 0.01,
                 jitter: float = 0.05):  # fmt: skip
        self.now, self.rng = 0.0, np.random.default_rng(seed)
        self.load_sd, self.persistence, self.step_s, self.jitter = load_sd, persistence, step_s, jitter
        self._log_load, self._step = 0.0, 0

    def __call__(self) -> float:
        return self.now

    def load(self) -> float:
        while self._step * self.step_s < self.now:  # advance the load process to the current time
            innovation = self.rng.normal(0, self.load_sd * math.sqrt(1 - self.persistence**2))
            self._log_load = self.persistence * self._log_load + innovation
            self._step += 1
        return math.exp(self._log_load)


class FakeSession:
    """A Session whose run() takes `base_ms` x the machine's load x jitter on the fake clock."""

    input_names, output_names, runtime, precision, threads, fixed_batch, device = (
        ("input",), ("y",), "fake", "fp32", 1, None, "cpu")  # fmt: skip

    def __init__(self, name: str, base_ms: float, machine: Machine, log: list[str]):
        self.name, self.base_ms, self.machine, self.log, self.last_ms = name, base_ms, machine, log, 0.0

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        m = self.machine
        self.last_ms = self.base_ms * m.load() * float(m.rng.lognormal(0, m.jitter))
        m.now += self.last_ms / 1000
        self.log.append(self.name)
        return {"y": feeds["input"]}

    def synchronize(self) -> None:
        pass


def fake_timer(session: FakeSession, feeds: dict[str, np.ndarray]) -> float:
    session.run(feeds)
    session.log[-1] = session.log[-1].upper()  # timed runs in capitals
    return session.last_ms


def pair(ms_a: float, ms_b: float, seed: int = 0, **machine: float) -> tuple[FakeSession, FakeSession, Machine, list[str]]:
    m, log = Machine(seed, **machine), []
    return FakeSession("a", ms_a, m, log), FakeSession("b", ms_b, m, log), m, log


def gate(ms_a: float, ms_b: float, seed: int = 0, machine: dict | None = None, block_iters: int = 5, **kwargs):  # noqa: ANN201
    """compare_sessions on fake sessions (blocks of 5 here, so the tests do not move with the CLI's default)."""
    a, b, m, _ = pair(ms_a, ms_b, seed, **(machine or {}))
    return compare_sessions(a, FEEDS, b, FEEDS, timer=fake_timer, clock=m, seed=seed, block_iters=block_iters, **kwargs)


# ---- the design -----------------------------------------------------------------------------------


def test_abba_order_alternates_and_random_order_is_a_seeded_coin() -> None:
    orders = pair_orders(BlockDesign("abba", seed=0), 0, 8)
    assert orders[0::2] == [orders[0]] * 4 and orders[1::2] == [orders[1]] * 4 and {orders[0], orders[1]} == {"ab", "ba"}
    assert pair_orders(BlockDesign("abba", seed=0), 3, 2) == orders[3:5]  # extending continues the pattern
    firsts = {pair_orders(BlockDesign("abba", seed=s), 0, 1)[0] for s in range(20)}
    assert firsts == {"ab", "ba"}  # which side opens is drawn from the seed
    random_orders = pair_orders(BlockDesign("random", seed=1), 0, 200)
    assert random_orders == pair_orders(BlockDesign("random", seed=1), 0, 200)
    assert 60 < random_orders.count("ab") < 140 and set(random_orders) == {"ab", "ba"}
    assert pair_orders(BlockDesign("random", seed=1), 50, 10) == random_orders[50:60]


def test_runs_follow_warmup_then_blocks_with_one_untimed_switch_run() -> None:
    a, b, m, log = pair(1.0, 1.0)
    result = compare_sessions(a, FEEDS, b, FEEDS, iters=16, warmup=2, block_iters=2, timer=fake_timer, clock=m, seed=0)
    assert log[:4] == ["a", "b", "a", "b"]  # warm-up, interleaved, untimed
    blocks = log[4:]
    orders = pair_orders(BlockDesign("abba", 2, 2, 0), 0, 8)
    expected = [run for order in orders for side in order for run in (side, side.upper(), side.upper())]
    assert blocks == expected
    assert (result.pairs, result.units, result.a.n, result.b.n, result.looks) == (8, 4, 16, 16, 1)
    assert len(result.pair_ratios) == 8


@pytest.mark.parametrize(("iters", "order", "block", "pairs"),
                         [(200, "abba", 5, 40), (60, "abba", 5, 12), (12, "abba", 1, 12), (2, "abba", 1, 8),
                          (41, "abba", 5, 10), (12, "random", 3, 4)])  # fmt: skip
def test_fit_design_gives_whole_units_and_enough_of_them(iters: int, order: str, block: int, pairs: int) -> None:
    design, n = fit_design(iters, BlockDesign(order, block_iters=5))
    assert (design.block_iters, n) == (block, pairs)
    assert n % design.pairs_per_unit == 0 and n // design.pairs_per_unit >= 4


def test_bad_designs_are_user_errors() -> None:
    with pytest.raises(UserError, match="at least 2 iterations"):
        fit_design(1, BlockDesign())
    with pytest.raises(UserError, match="block order"):
        BlockDesign("abab")
    with pytest.raises(UserError, match="at least 1 timed run"):
        BlockDesign(block_iters=0)
    with pytest.raises(UserError, match="max-seconds"):
        gate(1, 1, max_seconds=-1)


def test_unit_log_ratios_average_the_two_pairs_of_a_cycle() -> None:
    """A position effect (second block 20% faster) cancels within an ABBA cycle."""
    logs = np.log([1.2, 1 / 1.2, 1.2, 1 / 1.2, 1.2])  # AB then BA ..., the last pair incomplete
    assert unit_log_ratios(logs, 2) == pytest.approx([0.0, 0.0])
    assert unit_log_ratios(logs, 1) == pytest.approx(logs)


# ---- intervals under autocorrelated noise ----------------------------------------------------------


def naive_iteration_interval(result) -> tuple[float, float]:  # noqa: ANN001
    """What the old gate did in spirit: every paired iteration treated as independent."""
    logs = np.log(np.asarray(result.b.samples_ms)) - np.log(np.asarray(result.a.samples_ms))
    half = scipy.stats.t.ppf(0.975, logs.size - 1) * logs.std(ddof=1) / math.sqrt(logs.size)
    return math.exp(logs.mean() - half), math.exp(logs.mean() + half)


def test_a_against_a_with_autocorrelated_load_covers_one() -> None:
    """Over 40 seeded runs the block interval covers 1.0 about 95% of the time; the per-iteration one far less."""
    covered, naive_covered = 0, 0
    for seed in range(40):
        result = gate(5.0, 5.0, seed=seed, iters=200)
        covered += result.ci95[0] <= 1.0 <= result.ci95[1]
        lo, hi = naive_iteration_interval(result)
        naive_covered += lo <= 1.0 <= hi
        assert result.ci95[0] <= result.ratio_p50 <= result.ci95[1]
        assert result.verdict != "fail"
    assert covered >= 35  # 95% nominal: 38 expected, 35 is well inside the binomial spread
    assert naive_covered <= 28  # the load shared within a block makes per-iteration intervals too narrow


@pytest.mark.parametrize("method", ["t", "bootstrap"])
def test_b_fifty_percent_slower_fails_and_the_interval_holds_the_truth(method: str) -> None:
    result = gate(5.0, 7.5, seed=3, iters=200, ci=method)
    assert result.ci95[0] <= 1.5 <= result.ci95[1] and result.ratio_p50 == pytest.approx(1.5, rel=0.05)
    assert result.verdict == "fail" and result.ci_method == method


def test_t_interval_matches_the_formula_and_bootstrap_agrees_on_normal_data() -> None:
    logs = np.random.default_rng(0).normal(0.1, 0.05, 30)
    ratio, (lo, hi) = ratio_interval(logs, "t")
    half = scipy.stats.t.ppf(0.975, 29) * logs.std(ddof=1) / math.sqrt(30)
    assert ratio == pytest.approx(math.exp(logs.mean()))
    assert (lo, hi) == pytest.approx((math.exp(logs.mean() - half), math.exp(logs.mean() + half)))
    _, (blo, bhi) = ratio_interval(logs, "bootstrap", resamples=4000)
    assert math.log(bhi / blo) == pytest.approx(math.log(hi / lo), rel=0.25)
    assert ratio_interval(np.full(5, 0.2), "t") == (pytest.approx(math.exp(0.2)), (pytest.approx(math.exp(0.2)),) * 2)
    with pytest.raises(UserError, match="at least 2"):
        ratio_interval(np.array([0.1]))
    with pytest.raises(UserError, match="interval method"):
        ratio_interval(logs, "jackknife")


# ---- verdicts --------------------------------------------------------------------------------------


def test_gate_verdict_has_three_outcomes() -> None:
    assert gate_verdict((1.06, 1.30), 0.05) == "fail"
    assert gate_verdict((0.90, 1.04), 0.05) == "pass"
    assert gate_verdict((1.04, 1.30), 0.05) == "inconclusive"  # maybe slower: not with confidence either way
    assert gate_verdict((0.90, 1.10), 0.05) == "inconclusive"  # "not slower" and "too noisy" are not the same
    assert gate_verdict((0.50, 0.70), 0.0) == "pass"
    assert gate_verdict((1.0, 1.05), 0.05) == "inconclusive"  # touching the limit is not below it
    assert set(VERDICTS) == {"pass", "fail", "inconclusive"}


def blocks_with_ratios(ratios: list[float], block_iters: int = 3) -> BlockTimes:
    """Constructed blocks: A at 10 ms, B at 10 ms x the given ratio of each pair."""
    times = BlockTimes()
    for i, r in enumerate(ratios):
        times.orders.append("ab" if i % 2 == 0 else "ba")
        times.a_ms.append(np.full(block_iters, 10.0))
        times.b_ms.append(np.full(block_iters, 10.0 * r))
    return times


@pytest.mark.parametrize(("ratios", "verdict"), [
    ([0.98, 1.01, 0.99, 1.00, 1.02, 0.99, 1.00, 1.01], "pass"),
    ([1.30, 1.28, 1.31, 1.33, 1.29, 1.30, 1.32, 1.27], "fail"),
    ([0.95, 1.15, 1.00, 1.10, 0.98, 1.12, 1.03, 1.08], "inconclusive"),
    ([0.80, 1.30, 0.90, 1.25, 0.85, 1.20, 0.95, 1.35], "inconclusive"),
])  # fmt: skip
def test_verdicts_on_constructed_block_ratios(ratios: list[float], verdict: str) -> None:
    result = compare_blocks(blocks_with_ratios(ratios), threshold=0.05)
    units = np.log(ratios).reshape(-1, 2).mean(axis=1)
    assert result.ratio_p50 == pytest.approx(math.exp(units.mean()))
    assert result.verdict == verdict and result.units == 4 and result.pairs == 8
    assert result.pair_ratios == pytest.approx(ratios)


def test_block_medians_ignore_a_preempted_run() -> None:
    times = blocks_with_ratios([1.0] * 8)
    times.b_ms[2][0] = 500.0  # one run of one block preempted
    assert compare_blocks(times).ratio_p50 == pytest.approx(1.0)


# ---- the time budget ---------------------------------------------------------------------------------


def test_extension_pairs_doubles_within_the_budget() -> None:
    assert extension_pairs(40, 0.1, 100.0, 2) == 40  # doubles
    assert extension_pairs(40, 0.1, 3.05, 2) == 30  # what fits, in whole cycles
    assert extension_pairs(40, 0.1, 0.15, 2) == 0  # not one cycle fits
    assert extension_pairs(40, 0.1, -1.0, 2) == 0
    assert extension_pairs(40, 0.0, 10.0, 2) == 0  # a clock that does not move: stop


NOISY = {"load_sd": 0.05, "jitter": 0.25, "persistence": 0.5}  # little shared load, much per-run jitter


def test_an_inconclusive_first_look_is_extended_up_to_max_seconds() -> None:
    one_look = gate(5.0, 5.5, seed=1, machine=NOISY, iters=40, max_seconds=0)
    assert one_look.verdict == "inconclusive" and one_look.looks == 1 and one_look.pairs == 8
    extended = gate(5.0, 5.5, seed=1, machine=NOISY, iters=40, max_seconds=60)
    assert extended.looks > 1 and extended.pairs > 8
    assert extended.pairs in {8 * 2**k for k in range(1, 12)} or extended.seconds > 60 * 0.9  # doubling, else the budget
    assert extended.seconds <= 60 * 1.05
    assert extended.verdict == "fail" and extended.ci95[0] <= 1.1 <= extended.ci95[1]  # 10% slower, seen with time
    assert extended.ci95[1] - extended.ci95[0] < one_look.ci95[1] - one_look.ci95[0]


def test_a_short_budget_gives_the_inconclusive_verdict() -> None:
    """Too noisy to tell within 1.5 s: the gate says so instead of `pass`."""
    result = gate(5.0, 5.0, seed=2, machine=NOISY, iters=40, max_seconds=1.5)
    lo, hi = result.ci95
    assert result.verdict == "inconclusive" and lo < 1.05 <= hi and result.looks >= 2
    assert result.seconds <= 1.5 * 1.05


def test_a_decisive_first_look_is_not_extended() -> None:
    result = gate(5.0, 5.0, seed=0, machine={"load_sd": 0.01, "jitter": 0.01}, iters=40, max_seconds=60)
    assert result.verdict == "pass" and result.looks == 1 and result.pairs == 8


def test_progress_reports_each_pair_and_each_look() -> None:
    seen: list[CompareProgress] = []
    result = gate(5.0, 5.5, seed=1, machine=NOISY, iters=40, max_seconds=10, on_progress=seen.append)
    done = [p.pairs_done for p in seen]
    assert done == sorted(done) and done[-1] == result.pairs and seen[0].ratio is None
    assert seen[-1].looks == result.looks and seen[-1].ci95 == result.ci95
    assert all(p.pairs_planned >= p.pairs_done for p in seen)


def test_summary_has_the_design_keys() -> None:
    summary = gate(5.0, 5.0, iters=40).summary()
    assert {"ratio_p50", "ci95", "verdict", "threshold", "blocks", "units", "seconds", "design", "looks",
            "block_ratios", "ci_method", "limit"} <= set(summary)  # fmt: skip
    assert summary["design"]["order"] == "abba" and summary["blocks"] == len(summary["block_ratios"])
