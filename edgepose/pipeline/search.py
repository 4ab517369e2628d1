"""`search`: a recipe that tries several paths for this machine and keeps the fastest one that passes the gates.

Every candidate (a target runtime, its passes, its export) runs after every pruning prefix (and on the
unpruned model): RUN_DIR/search/<prefix>/ holds the prefix's steps (shared by its candidates) and
RUN_DIR/search/<prefix>/<candidate>/ each candidate's steps and final stage, all sealed, so a re-run redoes
nothing. Each candidate's final stage is the usual one (export, parity, accuracy, latency against PyTorch
eager and against the baseline on its target, interleaved); its gates are judged; the fastest candidate
against PyTorch eager among those that pass every gate leads. Those speedups come from separate runs, under
whatever load each met, so the `search.tiebreak` fastest passing chains are then timed against the leader, each
pair interleaved in one run, and a chain faster than the leader there (p50 ratio > 1) takes its place. The winner's
final/ folder is copied to RUN_DIR/final. With `search.reference`, the winner is also timed against that
(unpruned) candidate in one run.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
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


def run_search(run: RunDir, inputs: Inputs, base_key: str,
               baseline_metrics: dict[str, Any]) -> SearchResult:  # fmt: skip
    """Every candidate after every prefix that can run here, the tie-break among the fastest, the reference timing."""
    from edgepose.pipeline.final import run_final
    from edgepose.pipeline.steps import run_pass_step
    from edgepose.pipeline.variants import choose_auto_rewrites

    recipe = inputs.recipe
    assert recipe.search is not None and inputs.baseline is not None
    metric = metric_name(recipe, inputs.baseline.spec.schema)
    outcomes: list[Outcome] = []
    skipped: list[dict[str, str]] = []
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
            reason = cannot_run_here(chain)
            if reason is not None:
                inputs.log(f"search: {prefix_name} / {candidate.name}: skipped ({reason})")
                skipped.append({"name": f"{prefix_name}/{candidate.name}", "reason": reason})
                continue
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
    if not outcomes:
        raise UserError(f"recipe '{recipe.name}': no search candidate can run here ("
                        + "; ".join(f"{s['name']}: {s['reason']}" for s in skipped) + ")")
    passing = sorted((o for o in outcomes if o.passed), key=lambda o: o.speedup, reverse=True)
    if passing:
        winner, rounds = _tiebreak(run, inputs, passing[: recipe.search.tiebreak])
    else:
        winner, rounds = max(outcomes, key=lambda o: o.speedup), []
    _publish(run, winner)
    versus = _against_reference(run, inputs, outcomes, winner)
    return SearchResult(winner, outcomes, skipped, rounds, versus)


@dataclasses.dataclass
class SearchResult:
    """What run_search found: the winner, every outcome, the chains skipped (with why), the tie-break's pairwise
    timings and the winner timed against the reference."""

    winner: Outcome
    outcomes: list[Outcome]
    skipped: list[dict[str, str]]
    tiebreak: list[dict[str, Any]]
    vs_reference: dict[str, Any] | None


def cannot_run_here(chain: Recipe) -> str | None:
    """Why this chain's target cannot run on this machine (runtime missing, bf16 without native support), or None."""
    from edgepose.hardware import require_native_bf16
    from edgepose.runtimes import is_available

    ok, reason = is_available(chain.runtime)
    if not ok:
        return f"{chain.target}: {reason}"
    if chain.export.precision == "bf16":
        try:
            require_native_bf16(chain.runtime)
        except UserError as error:
            return str(error)
    return None


def _publish(run: RunDir, winner: Outcome) -> None:
    """RUN_DIR/final = a copy of the winner's final folder (the deployable bundle), its artifact path updated."""
    target = run.final
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(winner.run.final, target)
    artifact = target / winner.run.final.joinpath(winner.final["artifact"]).name
    winner.final = {**winner.final, "artifact": str(artifact), "search_source": str(winner.run.final)}
    write_json(target / "metrics.json", winner.final)


def _tiebreak(run: RunDir, inputs: Inputs, contenders: list[Outcome]) -> tuple[Outcome, list[dict[str, Any]]]:
    """The leader (first) timed against each other contender, interleaved on their own runtimes; a contender faster
    than the current leader there (p50 ratio leader / contender > 1) leads from then on. Each pair is cached."""
    leader, rounds = contenders[0], []
    for contender in contenders[1:]:
        timed = _timed_pair(run, inputs, leader, contender, "tiebreak")
        kept = contender if timed["speedup"] > 1.0 else leader
        rounds.append({**timed, "leader": leader.name, "contender": contender.name, "kept": kept.name})
        leader = kept
    if rounds:
        inputs.log(f"search: tie-break among {len(contenders)} chains, interleaved: {leader.name} is the fastest")
    return leader, rounds


def _timed_pair(run: RunDir, inputs: Inputs, a: Outcome, b: Outcome, purpose: str) -> dict[str, Any]:
    """b's final artifact timed against a's, interleaved in one run on their targets' runtimes; cached in
    RUN_DIR/search/<purpose>.json under both chains' fingerprints and the benchmark settings."""
    from edgepose.loading import load_artifact

    key = fingerprint(b.final_key, a.final_key, inputs.recipe.benchmark.model_dump(), purpose)
    cache_path = run.root / SEARCH_DIR / f"{purpose}.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if key in cache:
        return cache[key]
    art_a: Artifact = load_artifact(_final_artifact(a), inputs.load_options)  # both in their chain folders
    art_b: Artifact = load_artifact(_final_artifact(b), inputs.load_options)
    inputs.log(f"search: timing {b.name} against {a.name}, interleaved ...")
    compared = compare_latency(art_a, art_b, a.recipe.runtime, b.recipe.runtime, threshold=0.0, **timing(inputs.recipe))
    result = {"a": a.name, "b": b.name, "speedup": compared["speedup"], "speedup_ci95": compared["speedup_ci95"],
              "a_p50_ms": compared["a"]["latency_ms"]["p50"], "b_p50_ms": compared["b"]["latency_ms"]["p50"],
              "runtime_a": compared["runtime_a"], "runtime_b": compared["runtime_b"]}  # fmt: skip
    cache[key] = result
    write_json(cache_path, cache)
    return result


def _final_artifact(outcome: Outcome) -> str:
    """The path of a chain's own final artifact (in its chain folder, not the published copy)."""
    return str(outcome.run.final / Path(outcome.final["artifact"]).name)


def _against_reference(run: RunDir, inputs: Inputs, outcomes: list[Outcome], winner: Outcome) -> dict[str, Any] | None:
    """The winner timed against the reference candidate (unpruned) in one interleaved run, cached."""
    search = inputs.recipe.search
    assert search is not None
    if search.reference is None:
        return None
    reference = next((o for o in outcomes if o.prefix == "unpruned" and o.candidate == search.reference), None)
    if reference is None or reference is winner:
        return {"reference": search.reference, "winner": winner.name, "same": reference is winner}
    timed = _timed_pair(run, inputs, reference, winner, "vs_reference")
    return {"reference": reference.name, "winner": winner.name, "speedup": timed["speedup"],
            "speedup_ci95": timed["speedup_ci95"], "reference_p50_ms": timed["a_p50_ms"],
            "winner_p50_ms": timed["b_p50_ms"], "runtime_reference": timed["runtime_a"],
            "runtime_winner": timed["runtime_b"]}  # fmt: skip
