"""Measure-then-keep: a recipe step marked `keep: auto` (a performance rewrite such as subpixel) stays only if
the chain's result is faster with it than without it, on the target runtime, interleaved, with confidence.

The chain without the auto steps runs in RUN_DIR/variants/without-<passes>/ (its own sealed steps, resumable);
the two last artifacts (what the final stage would export) are timed against each other in one ABBA run; the
rewrite is kept when the upper end of the 95% interval of with / without is below 1. The decision and its
numbers go into the report; a dropped step is recorded as "skipped: not faster on this CPU (ratio, CI)".
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from edgepose.fileio import write_json
from edgepose.measure import compare_latency
from edgepose.pipeline.measure import timing
from edgepose.pipeline.run_dir import RunDir, fingerprint

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.pipeline.steps import Inputs
    from edgepose.recipe import PassEntry

DECISIONS = "decisions.json"


@dataclasses.dataclass
class Chosen:
    """The chain the final stage exports: its last artifact, its key, its step records, the decisions made."""

    last: Artifact
    key: str
    inputs: Inputs
    decisions: list[dict[str, Any]]


def choose_auto_rewrites(run: RunDir, inputs: Inputs, start: Artifact, start_key: str, entries: list[PassEntry],
                         last: Artifact, last_key: str, first_index: int = 1,
                         start_reference: tuple[Artifact | None, str] = (None, "torch")) -> Chosen:  # fmt: skip
    """The chain `entries` (run from `start`, steps numbered from `first_index`) as written, or the same chain
    without its `keep: auto` steps when those do not measure faster."""
    from edgepose.pipeline.steps import run_pass_step

    recipe = inputs.recipe
    auto = [(i, e) for i, e in enumerate(entries, start=first_index) if e.keep == "auto"]
    if not auto:
        return Chosen(last, last_key, inputs, [])
    names = "-".join(e.pass_ for _, e in auto)
    variant = RunDir(run.root / "variants" / f"without-{names}")
    variant_inputs = dataclasses.replace(inputs, stages=list(inputs.stages[: first_index - 1]),
                                         reference=start_reference[0], reference_runtime=start_reference[1])
    current, key = start, start_key
    inputs.log(f"keep: auto ({names}): running the chain without it in {variant.root} to compare ...")
    kept = [(i, e) for i, e in enumerate(entries, start=first_index) if e.keep != "auto"]
    for number, (_, entry) in enumerate(kept, start=first_index):
        key = fingerprint(key, entry.pass_, entry.options(), recipe.seed)
        current = run_pass_step(variant, number, entry, current, variant_inputs, key)
    timing_key = fingerprint(last_key, key, recipe.benchmark.model_dump(), recipe.runtime, "keep-auto")
    verdict = _cached(run, timing_key) or _measure(run, timing_key, inputs, current, last, names)
    decisions = [{**verdict, "step": index, "pass": entry.pass_} for index, entry in auto]
    for decision in decisions:
        inputs.log(f"keep: auto step {decision['step']} {decision['pass']}: {decision['reason']}")
    if verdict["kept"]:
        return Chosen(last, last_key, inputs, decisions)
    return Chosen(current, key, variant_inputs, decisions)


def _measure(run: RunDir, key: str, inputs: Inputs, without: Artifact, with_rewrite: Artifact, names: str) -> dict[str, Any]:
    runtime = inputs.recipe.runtime if inputs.recipe.runtime != "tensorrt" else "onnxruntime"
    inputs.log(f"keep: auto ({names}): timing the chain with and without it on {runtime}, interleaved ...")
    compared = compare_latency(without, with_rewrite, runtime, runtime, threshold=0.0, **timing(inputs.recipe))
    ratio, (lo, hi) = compared["ratio_p50"], compared["ci95"]
    kept = hi < 1.0
    numbers = f"with / without p50 ratio {ratio:.3f}, 95% CI [{lo:.3f}, {hi:.3f}] on {runtime}"
    reason = f"kept: faster on this CPU ({numbers})" if kept else f"skipped: not faster on this CPU ({numbers})"
    verdict = {"kept": kept, "reason": reason, "runtime": runtime, "ratio_p50": ratio, "ci95": [lo, hi],
               "speedup": compared["speedup"], "speedup_ci95": compared["speedup_ci95"],
               "without_p50_ms": compared["a"]["latency_ms"]["p50"],
               "with_p50_ms": compared["b"]["latency_ms"]["p50"], "blocks": compared.get("blocks")}  # fmt: skip
    path = run.root / DECISIONS
    cache = json.loads(path.read_text()) if path.exists() else {}
    cache[key] = verdict
    write_json(path, cache)
    return verdict


def _cached(run: RunDir, key: str) -> dict[str, Any] | None:
    """A decision made earlier from the same two chains and benchmark settings (so a re-run redoes nothing)."""
    path = run.root / DECISIONS
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text()).get(key)
    except json.JSONDecodeError:
        return None
