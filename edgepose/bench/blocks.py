"""The A/B timing design of `bench compare`: blocks of consecutive runs of one model, in ABBA order.

A *block* is one untimed run (switching from the other model is not part of this one's latency) then
`block_iters` timed runs of the same model. A *pair* is an A block and a B block back to back; its
ratio is median(B block) / median(A block). With `order="abba"` the pairs alternate AB, BA, AB, BA,
... (which side opens is drawn from the seed), and two consecutive pairs form one *cycle*, A B B A:
a position effect (the second block of a pair running warmer or colder) and a linear drift of the
machine's speed both cancel within a cycle. With `order="random"` each pair's order is a coin flip
and each pair is its own unit. Both sessions stay open for the whole run; the warm-up (untimed runs
of both, interleaved) comes first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edgepose.bench.defaults import BLOCK_ITERS, MIN_UNITS
from edgepose.bench.latency import timed_run
from edgepose.errors import UserError

if TYPE_CHECKING:
    from edgepose.runtimes.base import Session

ORDERS = ("abba", "random")

Timer = Callable[["Session", dict[str, np.ndarray]], float]


@dataclass(frozen=True)
class BlockDesign:
    """How A and B are timed: `block_iters` timed runs per block, pairs in `order`, `warmup` runs each."""

    order: str = "abba"
    block_iters: int = BLOCK_ITERS
    warmup: int = 10
    seed: int = 0
    settle_ms: float = 0.0  # after a switch, untimed runs until this long has passed (at least one run)

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise UserError(f"the block order must be one of {', '.join(ORDERS)}; got '{self.order}'")
        if self.block_iters < 1:
            raise UserError(f"an A/B block needs at least 1 timed run, got {self.block_iters}")
        if self.settle_ms < 0:
            raise UserError(f"the settle time must be >= 0 ms, got {self.settle_ms}")
        if self.warmup < 0:
            raise UserError(f"warm-up must be >= 0 runs, got {self.warmup}")

    @property
    def pairs_per_unit(self) -> int:
        """2 for ABBA (a unit is the cycle AB + BA), 1 for a random order."""
        return 2 if self.order == "abba" else 1

    def to_dict(self) -> dict[str, object]:
        return {"order": self.order, "block_iters": self.block_iters, "warmup": self.warmup, "seed": self.seed,
                "settle_ms": self.settle_ms, "pairs_per_unit": self.pairs_per_unit}  # fmt: skip


def fit_design(iters: int, design: BlockDesign) -> tuple[BlockDesign, int]:
    """The design and number of pairs for about `iters` timed runs per model.

    Whole units, and at least MIN_UNITS of them: a small `iters` gets shorter blocks (down to 1 run)
    rather than too few units for an interval.
    """
    if iters < 2:
        raise UserError(f"an A/B comparison needs at least 2 iterations, got {iters}")
    ppu = design.pairs_per_unit
    block = max(1, min(design.block_iters, iters // (MIN_UNITS * ppu)))
    pairs = max(MIN_UNITS * ppu, -(-iters // block))
    pairs += (-pairs) % ppu
    if block != design.block_iters:
        design = BlockDesign(design.order, block, design.warmup, design.seed, design.settle_ms)
    return design, pairs


def pair_orders(design: BlockDesign, start: int, count: int) -> list[str]:
    """'ab' or 'ba' for pairs start .. start + count - 1 (deterministic in the seed and the pair index)."""
    if design.order == "abba":
        first_b = bool(np.random.default_rng(design.seed).integers(2))
        return ["ba" if (i % 2 == 1) != first_b else "ab" for i in range(start, start + count)]
    return ["ba" if np.random.default_rng([design.seed, i]).integers(2) else "ab" for i in range(start, start + count)]


@dataclass
class BlockTimes:
    """Per-pair timings: a_ms[i] and b_ms[i] are the timed runs of pair i's A and B blocks."""

    orders: list[str] = field(default_factory=list)
    a_ms: list[np.ndarray] = field(default_factory=list)
    b_ms: list[np.ndarray] = field(default_factory=list)

    @property
    def pairs(self) -> int:
        return len(self.orders)

    def pair_log_ratios(self) -> np.ndarray:
        """log(median(B block) / median(A block)) of each pair."""
        a = np.array([np.median(x) for x in self.a_ms], dtype=np.float64)
        b = np.array([np.median(x) for x in self.b_ms], dtype=np.float64)
        if not (np.all(a > 0) and np.all(b > 0)):
            raise UserError("block timings must all be positive milliseconds")
        return np.log(b) - np.log(a)

    def all_a(self) -> np.ndarray:
        return np.concatenate(self.a_ms) if self.a_ms else np.empty(0)

    def all_b(self) -> np.ndarray:
        return np.concatenate(self.b_ms) if self.b_ms else np.empty(0)


def unit_log_ratios(log_ratios: Sequence[float], pairs_per_unit: int) -> np.ndarray:
    """Mean log-ratio of each unit of `pairs_per_unit` consecutive pairs (an incomplete last unit is dropped)."""
    values = np.asarray(log_ratios, dtype=np.float64)
    n = values.size // pairs_per_unit * pairs_per_unit
    return values[:n].reshape(-1, pairs_per_unit).mean(axis=1)


def warm_up(session_a: Session, feeds_a: dict[str, np.ndarray], session_b: Session, feeds_b: dict[str, np.ndarray],
            runs: int) -> None:  # fmt: skip
    """`runs` untimed runs of each model, interleaved, before anything is timed."""
    for _ in range(runs):
        session_a.run(feeds_a)
        session_b.run(feeds_b)
    session_a.synchronize()
    session_b.synchronize()


def run_pairs(
    session_a: Session, feeds_a: dict[str, np.ndarray], session_b: Session, feeds_b: dict[str, np.ndarray],
    orders: Sequence[str], block_iters: int, times: BlockTimes, timer: Timer = timed_run,
    after_pair: Callable[[BlockTimes], None] | None = None, settle_ms: float = 0.0,
    clock: Callable[[], float] = time.perf_counter,
) -> None:  # fmt: skip
    """Time one pair of blocks per entry of `orders` ('ab' / 'ba'), appending to `times`."""
    sides = {"a": (session_a, feeds_a), "b": (session_b, feeds_b)}
    for order in orders:
        block: dict[str, np.ndarray] = {}
        for side in order:
            session, feeds = sides[side]
            switched = clock()
            session.run(feeds)  # untimed: the first run(s) after the other model ran
            while (clock() - switched) * 1000 < settle_ms:
                session.run(feeds)
            session.synchronize()
            block[side] = np.array([timer(session, feeds) for _ in range(block_iters)], dtype=np.float64)
        times.orders.append(order)
        times.a_ms.append(block["a"])
        times.b_ms.append(block["b"])
        if after_pair is not None:
            after_pair(times)
