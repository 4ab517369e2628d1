"""`search`: a recipe that tries several paths for this machine and keeps the fastest one that passes the gates.

Every candidate (a target runtime, its passes, its export) runs after every pruning prefix (and on the
unpruned model): RUN_DIR/search/<prefix>/ holds the prefix's steps (shared by its candidates) and
RUN_DIR/search/<prefix>/<candidate>/ each candidate's steps and final stage, all sealed, so a re-run redoes
nothing. Each candidate's final stage is the usual one (export, parity, accuracy, latency against PyTorch
eager and against the baseline on its target, interleaved); its gates are judged; the fastest candidate
against PyTorch eager among those that pass every gate wins, and its final/ folder is copied to RUN_DIR/final.
With `search.reference`, the winner is also timed against that (unpruned) candidate in one run.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from typing import TYPE_CHECKING, Any

from edgepose.fileio import write_json
from edgepose.measure import compare_latency
from edgepose.pipeline.gates import failed, judge_gates
from edgepose.pipeline.measure import metric_name, timing
from edgepose.pipeline.run_dir import RunDir, fingerprint

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.pipeline.steps import Inputs
    from edgepose.recipe import PassEntry, Recipe

SEARCH_DIR = "search"


@dataclasses.dataclass
class Outcome:
    """One candidate chain after its final stage."""

    name: str
    prefix: str
    candidate: str
    recipe: Recipe
    run: RunDir
    final: dict[str, Any]
    gates: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    final_key: str

    @property
    def passed(self) -> bool:
        return not failed(self.gates)

    @property
    def speedup(self) -> float:
        return float(self.final["vs_torch_fp32"]["speedup"])

    def summary(self, metric: str) -> dict[str, Any]:
        torch_side = self.final["vs_torch_fp32"]
        return {
            "name": self.name, "prefix": self.prefix, "candidate": self.candidate, "target": self.recipe.target,
            "precision": self.final["precision"], "artifact": self.final["artifact"],
            "metric": self.final["eval"]["metrics"].get(metric), "speedup_vs_torch": torch_side["speedup"],
            "speedup_vs_torch_ci95": torch_side["speedup_ci95"], "p50_ms": torch_side["b"]["latency_ms"]["p50"],
            "gflops": torch_side["b"].get("gflops"), "gates": {g["name"]: g["verdict"] for g in self.gates},
            "passed": self.passed, "decisions": self.decisions,
        }  # fmt: skip


def prefixes(recipe: Recipe) -> list[tuple[str, list[PassEntry]]]:
    """(name, passes) of every pruning prefix the search tries, the unpruned model first."""
    from edgepose.recipe import PassEntry

    search = recipe.search
    assert search is not None
    found: list[tuple[str, list[PassEntry]]] = [("unpruned", [])] if search.unpruned else []
    for index, options in enumerate(search.prune, start=1):
        share = options.get("target_gflops_ratio")
        name = f"prune{index}" + (f"-gflops{round(100 * share)}" if share else "")
        found.append((name, [PassEntry.model_validate({"pass": "prune", **options})]))
    return found


def run_search(run: RunDir, inputs: Inputs, base_key: str, baseline_metrics: dict[str, Any]) -> tuple[Outcome, list[Outcome], dict[str, Any] | None]:
    """Every candidate after every prefix; returns the winner, all outcomes and the winner-vs-reference timing."""
    from edgepose.pipeline.final import run_final
    from edgepose.pipeline.steps import run_pass_step
    from edgepose.pipeline.variants import choose_auto_rewrites

    recipe = inputs.recipe
    assert recipe.search is not None and inputs.baseline is not None
    metric = metric_name(recipe, inputs.baseline.spec.schema)
    outcomes: list[Outcome] = []
    for prefix_name, prefix in prefixes(recipe):
        prefix_run = RunDir(run.root / SEARCH_DIR / prefix_name)
        prefix_inputs = dataclasses.replace(inputs, stages=[], reference=None, reference_runtime="torch")
        current, key = inputs.baseline, base_key
        for index, entry in enumerate(prefix, start=1):
            key = fingerprint(key, entry.pass_, entry.options(), recipe.seed)
            current = run_pass_step(prefix_run, index, entry, current, prefix_inputs, key)
        start_reference = (prefix_inputs.reference, prefix_inputs.reference_runtime)
        for candidate in recipe.search.candidates:
            chain = recipe.for_candidate(candidate, prefix)
            chain_run = RunDir(prefix_run.root / candidate.name)
            chain_inputs = dataclasses.replace(prefix_inputs, recipe=chain, stages=list(prefix_inputs.stages))
            inputs.log(f"search: {prefix_name} / {candidate.name} ({candidate.target}) ...")
            last, last_key = current, key
            for index, entry in enumerate(candidate.passes, start=len(prefix) + 1):
                last_key = fingerprint(last_key, entry.pass_, entry.options(), recipe.seed)
                last = run_pass_step(chain_run, index, entry, last, chain_inputs, last_key)
            chosen = choose_auto_rewrites(chain_run, chain_inputs, current, key, list(candidate.passes), last, last_key,
                                          first_index=len(prefix) + 1, start_reference=start_reference)  # fmt: skip
            final_key = fingerprint(chosen.key, chain.export.model_dump(), chain.target, "final")
            final = run_final(chain_run, chosen.last, chosen.inputs, final_key)
            gates = judge_gates(chain, metric, baseline_metrics, final)
            outcome = Outcome(f"{prefix_name}/{candidate.name}", prefix_name, candidate.name, chain, chain_run, final,
                              gates, chosen.inputs.stages, chosen.decisions, final_key)  # fmt: skip
            inputs.log(f"search: {outcome.name}: {metric} {final['eval']['metrics'].get(metric)}, "
                       f"{outcome.speedup:.2f}x vs torch eager, gates {'pass' if outcome.passed else 'fail'}")  # fmt: skip
            outcomes.append(outcome)
    passing = [o for o in outcomes if o.passed]
    winner = max(passing or outcomes, key=lambda o: o.speedup)
    _publish(run, winner)
    versus = _against_reference(run, inputs, outcomes, winner)
    return winner, outcomes, versus


def _publish(run: RunDir, winner: Outcome) -> None:
    """RUN_DIR/final = a copy of the winner's final folder (the deployable bundle), its artifact path updated."""
    target = run.final
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(winner.run.final, target)
    artifact = target / winner.run.final.joinpath(winner.final["artifact"]).name
    winner.final = {**winner.final, "artifact": str(artifact), "search_source": str(winner.run.final)}
    write_json(target / "metrics.json", winner.final)


def _against_reference(run: RunDir, inputs: Inputs, outcomes: list[Outcome], winner: Outcome) -> dict[str, Any] | None:
    """The winner timed against the reference candidate (unpruned) in one interleaved run, cached."""
    from edgepose.loading import load_artifact

    search = inputs.recipe.search
    assert search is not None
    if search.reference is None:
        return None
    reference = next((o for o in outcomes if o.prefix == "unpruned" and o.candidate == search.reference), None)
    if reference is None or reference is winner:
        return {"reference": search.reference, "winner": winner.name, "same": reference is winner}
    key = fingerprint(winner.final_key, reference.final_key, inputs.recipe.benchmark.model_dump(), "vs-reference")
    cache_path = run.root / SEARCH_DIR / "vs_reference.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if key in cache:
        return cache[key]
    a: Artifact = load_artifact(reference.run.final / reference.run.final.joinpath(reference.final["artifact"]).name,
                                inputs.load_options)  # fmt: skip
    b: Artifact = load_artifact(winner.final["artifact"], inputs.load_options)
    inputs.log(f"search: timing {winner.name} against the reference {reference.name}, interleaved ...")
    compared = compare_latency(a, b, reference.recipe.runtime, winner.recipe.runtime, threshold=0.0,
                               **timing(inputs.recipe))  # fmt: skip
    result = {"reference": reference.name, "winner": winner.name, "speedup": compared["speedup"],
              "speedup_ci95": compared["speedup_ci95"], "reference_p50_ms": compared["a"]["latency_ms"]["p50"],
              "winner_p50_ms": compared["b"]["latency_ms"]["p50"], "runtime_reference": compared["runtime_a"],
              "runtime_winner": compared["runtime_b"]}  # fmt: skip
    cache[key] = result
    write_json(cache_path, cache)
    return result
