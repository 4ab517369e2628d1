"""Sensitivity-based pruning: prune each channel group alone at a few ratios, score the copy, then pick
per-layer ratios that meet a GFLOPs (or measured latency) target for the least summed accuracy loss (greedy on
loss per GFLOP saved, checked by pruning).

A copy is scored on labelled validation data in the model's schema (its primary metric), or, from images alone,
by its agreement with the unpruned model (edgepose.inference.unlabelled.TeacherAgreement, as a share: 1.0 is
the unpruned model itself), so a pretrained model without its data can be scanned too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from edgepose.console import TaskBar
from edgepose.errors import UserError
from edgepose.models.stats import count_gflops
from edgepose.passes.prune_structured import Scope, layer_widths, make_pruner, prune_copy

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec
    from edgepose.passes.base import RunContext
    from edgepose.passes.prune_config import PruneConfig

MAX_ROUNDS = 8
TIE_BREAK_POINTS = 1e-3  # among equally harmless choices, prefer the one that saves more


@dataclass(frozen=True)
class Option:
    layer: str
    ratio: float
    saved_gflops: float
    drop_points: float


def prunable_groups(model: nn.Module, spec: ModelSpec, cfg: PruneConfig, scope: Scope) -> list[tuple[str, int]]:
    """(root layer name, channels) of every channel group the pruner may touch, in graph order."""
    pruner = make_pruner(model, spec, cfg, scope, ratio=0.0)
    groups = []
    for group in pruner.DG.get_all_groups(ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types):
        if pruner.estimate_importance(group) is None:  # e.g. bn_scale on a group without BatchNorm
            continue
        module = group[0].dep.target.module
        groups.append((pruner.DG._module2name[module], int(pruner.DG.get_out_channels(module))))
    return groups


def plan_from_patterns(
    model: nn.Module, spec: ModelSpec, cfg: PruneConfig, scope: Scope, patterns: dict[str, float]
) -> dict[str, float]:  # fmt: skip
    """{channel group root: ratio} for an explicit plan of {wildcard pattern: ratio}; the first pattern a group's
    root layer matches wins. UserError when a pattern matches no prunable group."""
    from fnmatch import fnmatchcase

    roots = [name for name, _ in prunable_groups(model, spec, cfg, scope)]
    plan: dict[str, float] = {}
    for pattern, ratio in patterns.items():
        matched = [r for r in roots if fnmatchcase(r, pattern) or fnmatchcase(r.removesuffix(".conv"), pattern)]
        if not matched:
            raise UserError(f"layer ratio '{pattern}' matches no prunable channel group (e.g. {', '.join(roots[:3])})")
        for root in matched:
            plan.setdefault(root, ratio)
    return plan


@dataclass(frozen=True)
class Scorer:
    """How the scan scores a pruned copy: `score(model)`, higher is better, on a 0..1 scale."""

    score: Callable[[nn.Module], float]
    data: str
    scored_by: str  # for the record: the metric, or agreement with the unpruned model


def make_scorer(model: nn.Module, spec: ModelSpec, source: Path, limit: int, labelled: bool, seed: int = 0) -> Scorer:
    """The primary metric on `limit` labelled instances of `source`, or (not `labelled`) agreement with the
    unpruned `model` on `limit` of its images (held fixed: every copy is scored on the same ones)."""
    from edgepose.measure import primary_metric

    if labelled:
        metric = primary_metric(spec.schema)
        return Scorer(lambda m: primary_score(m, spec, source, limit), str(source), f"{metric} (labels)")
    from edgepose.inference.image_inputs import list_views, pick
    from edgepose.inference.unlabelled import TeacherAgreement

    agreement = TeacherAgreement(pick(list_views(source, spec), limit, seed), spec, model)
    return Scorer(lambda m: agreement.score(m)[agreement.metric] / 100.0, str(source),
                  f"{agreement.metric} / 100: agreement with the unpruned model (no labels)")  # fmt: skip


def primary_score(model: nn.Module, spec: ModelSpec, data: Path, limit: int) -> float:
    """The schema's primary metric (OKS AP / PCK@0.2) of `model` on the first `limit` instances (torch)."""
    from edgepose.artifact import Artifact
    from edgepose.measure import evaluate_artifact, primary_metric

    metric = primary_metric(spec.schema)
    value = evaluate_artifact(Artifact(spec=spec, model=model), data, runtime="torch", limit=limit)["metrics"].get(metric)
    if value is None:
        raise UserError(f"the sensitivity scan needs {metric} on {data}, which it cannot compute for this data")
    return float(value)


def scan(
    model: nn.Module, spec: ModelSpec, cfg: PruneConfig, scope: Scope, scorer: Scorer, progress: bool
) -> tuple[float, list[dict[str, Any]]]:  # fmt: skip
    """Baseline score and one row per (layer group, ratio): channels kept, GFLOPs saved, score, drop."""
    ratios = sorted(r for r in cfg.sensitivity_ratios if r <= cfg.max_layer_ratio)
    groups = prunable_groups(model, spec, cfg, scope)
    if not groups:
        raise UserError("no layer can be pruned: every channel group holds an output or excluded layer")
    base_gflops = count_gflops(model, spec)
    baseline = scorer.score(model)
    rows: list[dict[str, Any]] = []
    with TaskBar(progress, "sensitivity scan", len(groups) * len(ratios)) as bar:
        for name, channels in groups:
            for ratio in ratios:
                clone, _ = prune_copy(model, spec, cfg, scope, 0.0, {name: ratio})
                kept = layer_widths(clone)[name]
                score = baseline if kept == channels else scorer.score(clone)
                rows.append({
                    "layer": name, "ratio": ratio, "channels": channels, "channels_kept": kept,
                    "saved_gflops": round(base_gflops - count_gflops(clone, spec), 6), "score": round(score, 6),
                    "drop_points": round(100 * (baseline - score), 4),
                })  # fmt: skip
                bar.advance(status=f"{name} x{ratio:g}: {100 * (baseline - score):+.2f} pts")
    return baseline, rows


def choose(rows: list[dict[str, Any]], needed_gflops: float) -> dict[str, float] | None:
    """Per-layer ratios saving >= `needed_gflops` (summed from the scan) for the least summed drop; None if none do."""
    options: dict[str, list[Option]] = {}
    for row in rows:
        if row["saved_gflops"] > 0:
            option = Option(row["layer"], row["ratio"], row["saved_gflops"], max(0.0, row["drop_points"]))
            options.setdefault(row["layer"], []).append(option)
    chosen: dict[str, Option] = {}
    saved = 0.0
    while saved < needed_gflops:
        best: tuple[float, Option] | None = None
        for layer, choices in options.items():
            current = chosen.get(layer)
            for option in choices:
                gain = option.saved_gflops - (current.saved_gflops if current else 0.0)
                if gain <= 0:
                    continue
                cost = (max(0.0, option.drop_points - (current.drop_points if current else 0.0)) + TIE_BREAK_POINTS) / gain
                if best is None or cost < best[0]:
                    best = (cost, option)
        if best is None:
            return None
        option = best[1]
        saved += option.saved_gflops - (chosen[option.layer].saved_gflops if option.layer in chosen else 0.0)
        chosen[option.layer] = option
    return {layer: option.ratio for layer, option in chosen.items()}


def plan_ratios(
    model: nn.Module, spec: ModelSpec, cfg: PruneConfig, scope: Scope, ctx: RunContext, rows: list[dict[str, Any]]
) -> tuple[dict[str, float], list[dict[str, Any]]]:  # fmt: skip
    """Per-layer ratios that meet the targets once really pruned (scan savings are not exactly additive)."""
    base_gflops = count_gflops(model, spec)
    target_gflops = base_gflops * (cfg.target_gflops_ratio or 1.0)
    needed = base_gflops - target_gflops
    rounds: list[dict[str, Any]] = []
    for _ in range(MAX_ROUNDS):
        ratios = choose(rows, needed)
        if ratios is None:
            raise UserError(
                f"the scanned ratios (up to {max(cfg.sensitivity_ratios):g} per layer) cannot reach the target "
                f"({_targets(cfg)}); add larger sensitivity_ratios or relax the target"
            )
        clone, _ = prune_copy(model, spec, cfg, scope, 0.0, ratios)
        gflops = count_gflops(clone, spec)
        latency = _latency_ratio(model, clone, spec, ctx, cfg.latency_runtime) if cfg.target_latency_ratio else None
        rounds.append({"ratios": ratios, "gflops_ratio": round(gflops / base_gflops, 4), "latency_ratio": latency})
        short = max(0.0, gflops - target_gflops)
        if latency is not None and latency > cfg.target_latency_ratio:
            short = max(short, base_gflops * (latency - cfg.target_latency_ratio))
        if short <= 0:
            return ratios, rounds
        needed += max(short, 0.01 * base_gflops)
    raise UserError(f"no per-layer plan met the target ({_targets(cfg)}) in {MAX_ROUNDS} rounds; relax it")


def _latency_ratio(before: nn.Module, after: nn.Module, spec: ModelSpec, ctx: RunContext, runtime: str) -> float:
    """p50 latency after / before on `runtime` (FP32), interleaved in one process."""
    from edgepose.artifact import Artifact
    from edgepose.measure import compare_latency

    result = compare_latency(Artifact(spec=spec, model=before), Artifact(spec=spec, model=after), runtime,
                             threads=ctx.threads, iters=40)  # fmt: skip
    return float(result["ratio_p50"])


def _targets(cfg: PruneConfig) -> str:
    parts = []
    if cfg.target_gflops_ratio:
        parts.append(f"GFLOPs <= {cfg.target_gflops_ratio:g} of the original")
    if cfg.target_latency_ratio:
        parts.append(f"{cfg.latency_runtime} latency <= {cfg.target_latency_ratio:g} of the original")
    return " and ".join(parts)
