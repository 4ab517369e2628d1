"""Per-layer INT8 sensitivity and the accuracy-budget search.

`analyze`: quantize each layer alone (all others float) and score it: the metric change is what that
layer's INT8 costs. `search_budget`: starting from the full INT8 model, keep the most sensitive layers in
float, a growing number at a time (1, 2, 3, 4, 6, 8, 12, ...), until the drop is within budget.
Scores come from `score(path) -> metric` (the project's one eval path on a fixed slice of the data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edgepose.passes.quantize_layers import Layer


class Quantizer(Protocol):
    def layers(self) -> list[Layer]: ...

    def quantize(self, float_layers: Sequence[Layer], out: Path, metadata: dict[str, str] | None = None) -> Path: ...


Score = Callable[[Path], float]


def analyze(
    quantizer: Quantizer, layers: Sequence[Layer], all_layers: Sequence[Layer], score: Score, fp32_metric: float,
    work_dir: Path, on_step: Callable[[int, int, str], None] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows {layer, node, op, metric, change_points}, most harmful first, for each layer quantized alone."""
    rows = []
    for index, layer in enumerate(layers):
        others = [other for other in all_layers if other.node != layer.node]
        path = quantizer.quantize(others, work_dir / "scan.onnx")
        metric = score(path)
        rows.append({"layer": layer.name, "node": layer.node, "op": layer.op, "metric": round(metric, 5),
                     "change_points": round(100 * (metric - fp32_metric), 3)})  # fmt: skip
        if on_step:
            on_step(index + 1, len(layers), layer.name)
    return sorted(rows, key=lambda row: row["change_points"])


@dataclass
class SearchResult:
    float_layers: list[Layer]  # kept float by the search (on top of those float by config)
    metric: float
    drop_points: float
    within_budget: bool
    path: Path
    steps: list[dict[str, Any]] = field(default_factory=list)


def float_counts(total: int) -> list[int]:
    """How many of the most sensitive layers each search step keeps float: 1, 2, 3, 4, 6, 8, 12, 16, ..."""
    counts, n = [], 1
    while n < total:
        counts.append(n)
        n = n + 1 if n < 4 else int(n * 1.5)
    return [*counts, total] if total else []


def search_budget(
    quantizer: Quantizer, base_float: Sequence[Layer], ranked: Sequence[Layer], score: Score, fp32_metric: float,
    max_drop_points: float, work_dir: Path, max_float_layers: int | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> SearchResult:  # fmt: skip
    """Keep the first k of `ranked` (most sensitive first) in float for growing k until within budget."""
    steps: list[dict[str, Any]] = []
    limit = len(ranked) if max_float_layers is None else min(len(ranked), max_float_layers)
    best: SearchResult | None = None
    for k in [0, *float_counts(limit)]:
        kept = list(ranked[:k])
        path = quantizer.quantize([*base_float, *kept], work_dir / f"search_{k}.onnx")
        metric = score(path)
        drop = round(100 * (fp32_metric - metric), 3)
        step = {"float_layers": k, "metric": round(metric, 5), "drop_points": drop, "added": [x.name for x in kept]}
        steps.append(step)
        if on_step:
            on_step(step)
        result = SearchResult(kept, metric, drop, drop <= max_drop_points, path, steps)
        if best is None or drop < best.drop_points:
            best = result
        if result.within_budget:
            return result
    assert best is not None
    best.steps = steps
    return best
