"""The recipe's gates, judged on the recorded measurements: accuracy drop, speedup, export parity."""

from __future__ import annotations

from typing import Any

from edgepose.recipe import Recipe


def judge_gates(recipe: Recipe, metric: str, baseline: dict[str, Any], final: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per configured gate: name, limit, value, verdict (pass | fail), and what it compares."""
    gates = []
    config = recipe.gates
    before = baseline["eval"]["metrics"].get(metric)
    after = final["eval"]["metrics"].get(metric)
    if config.max_metric_drop is not None:
        drop = None if before is None or after is None else round(100 * (before - after), 3)
        gates.append(_gate("max_metric_drop", config.max_metric_drop, drop, drop is not None and drop <= config.max_metric_drop,
                           f"{metric} points lost, baseline (torch) vs final ({recipe.runtime})"))  # fmt: skip
    if config.min_speedup is not None:
        key = "vs_torch_fp32" if recipe.benchmark.baseline == "torch" else "vs_target_fp32"
        speedup = final[key]["speedup"]
        label = "PyTorch eager FP32" if key == "vs_torch_fp32" else f"the baseline on {recipe.runtime} FP32"
        gates.append(_gate("min_speedup", config.min_speedup, speedup, speedup >= config.min_speedup,
                           f"p50 latency of {label} / p50 of the final artifact, interleaved in one run"))  # fmt: skip
    from edgepose.bench.parity import METRIC_WORDS

    parity = final["parity"]
    # the recipe's limit as it is now (a re-run with --set gates.max_parity_error=... re-judges the recorded value)
    limit = config.max_parity_error if config.max_parity_error is not None else parity["tolerance"]
    value = float(parity["checked_value"])
    gates.append(_gate("max_parity_error", limit, round(value, 6), value <= limit,
                       f"{METRIC_WORDS[parity['metric']]} of {final['artifact']} vs {parity['reference']}"))  # fmt: skip
    return gates


def _gate(name: str, limit: float, value: float | None, passed: bool, what: str) -> dict[str, Any]:
    return {"name": name, "limit": limit, "value": value, "verdict": "pass" if passed else "fail", "what": what}


def failed(gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [g for g in gates if g["verdict"] == "fail"]
