"""The `prune` pass: structured channel pruning, unstructured magnitude pruning or sensitivity-chosen
per-layer ratios, each optionally in K steps of prune -> fine-tune (distilled from the unpruned model).

The checkpoint records the plan as a history step (torch-pruning's pruning history, plain lists), which
edgepose.models.rewrites.prune_plan re-applies to a freshly built architecture before the weights load.
With K iterative steps the fine-tuning epochs are a total, split over the steps (later steps get the
remainder), so `epochs` costs the same whatever K is.

Under torchrun (edgepose.distributed) every rank prunes its own copy, deterministically from identical inputs:
rank 0's weights (and Taylor gradients) are broadcast before each step; the sensitivity scan and the latency
search, which evaluate and time, run on rank 0 alone and broadcast the chosen ratios; after each step the ranks
compare their structures and stop with an error if they differ. Only the fine-tuning is data-parallel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgepose import distributed as dist
from edgepose.errors import UserError
from edgepose.hardware import cpu_caps
from edgepose.passes.base import RunContext, Stage, copy_torch_artifact, register_pass
from edgepose.passes.finetune import check_finetune_data, finetune_model
from edgepose.passes.prune_config import PruneConfig

if TYPE_CHECKING:
    from torch import nn

    from edgepose.artifact import Artifact


@register_pass(
    "prune", config=PruneConfig, stage=Stage.STRUCTURE, accepts={"torch"}, produces="torch",
    description="structured / magnitude / sensitivity pruning, optionally fine-tuned (distilled)",
)  # fmt: skip
def prune(artifact: Artifact, cfg: PruneConfig, ctx: RunContext) -> Artifact:
    """Prune a copy of the model; records the plan in its history and the measurements in ctx.records."""
    from edgepose.models.stats import count_gflops, count_params
    from edgepose.passes.select import check_patterns

    result = copy_torch_artifact(artifact)
    model, spec = result.model, result.spec
    assert model is not None
    check_patterns(model, cfg.include, "include")
    check_patterns(model, cfg.exclude, "exclude")
    check_finetune_data(cfg.finetune, ctx, spec)
    if cfg.finetune is not None and cfg.finetune.epochs > 0 and ctx.teacher is None:
        ctx.teacher = artifact
    entry: dict[str, Any] = {
        "step": "prune", "method": cfg.method, "importance": cfg.importance if cfg.method != "magnitude" else None,
        "input_shape": list(spec.input_shape(1)), "pruning_history": [],
    }  # fmt: skip
    result.history.append(entry)
    params, gflops = count_params(model), count_gflops(model, spec)
    if cfg.method == "magnitude":
        record = _magnitude(result, cfg, ctx, entry)
    else:
        record = _structured(result, cfg, ctx, entry, gflops)
    after_params, after_gflops = count_params(model), count_gflops(model, spec)
    record.update(
        params_before=params, params_after=after_params, gflops_before=round(gflops, 6),
        gflops_after=round(after_gflops, 6), gflops_ratio=round(after_gflops / gflops, 4) if gflops else None,
    )  # fmt: skip
    if record.get("steps") == []:
        record["steps"] = [{"step": 1, "gflops": record["gflops_after"]}]
    entry["gflops_ratio"] = record["gflops_ratio"]
    result.provenance["pruned_from"] = str(artifact.path or artifact.arch or "model")
    ctx.records["prune"] = record
    return result


def _structured(
    result: Artifact, cfg: PruneConfig, ctx: RunContext, entry: dict[str, Any], base_gflops: float
) -> dict[str, Any]:  # fmt: skip
    """Channel pruning (uniform / global / sensitivity-chosen ratios) in K steps, each then fine-tuned."""
    from edgepose.models.stats import count_gflops, output_shapes
    from edgepose.passes import prune_structured as ps

    model, spec = result.model, result.spec
    assert model is not None
    requested_round_to = cfg.round_to
    cfg = cfg.model_copy(update={"round_to": cfg.resolved_round_to()})  # 'auto' -> this CPU's channel multiple
    if requested_round_to == "auto":
        ctx.log(f"round_to auto: multiples of {cfg.round_to} channels (INT8 kernels: {cpu_caps().int8_dot})")
    scope = ps.prune_scope(model, spec, cfg.include, cfg.exclude)
    shapes, widths = output_shapes(model, spec), ps.layer_widths(model)
    target = cfg.target_gflops_ratio * base_gflops if cfg.target_gflops_ratio else None
    record: dict[str, Any] = {
        "method": cfg.method, "importance": cfg.importance, "global_pruning": cfg.global_pruning,
        "round_to": cfg.round_to, "round_to_requested": requested_round_to, "max_layer_ratio": cfg.max_layer_ratio, "iterative_steps": cfg.iterative_steps,
        "target_gflops_ratio": cfg.target_gflops_ratio, "target_latency_ratio": cfg.target_latency_ratio,
        "output_layers": scope.outputs, "kept_layers": scope.ignored, "not_pruned": {}, "finetune": [], "steps": [],
    }  # fmt: skip
    dist.broadcast_module(model)  # every rank prunes rank 0's weights, bit for bit
    _taylor(model, spec, cfg, ctx)
    if cfg.method == "sensitivity" or target is not None or cfg.layer_ratios:  # prune copies unchecked: drop bad groups first
        record["not_pruned"] = ps.survey(model, spec, cfg, scope)
        names = dict(model.named_modules())
        scope.ignored += [n for n in record["not_pruned"] if n in names and n not in scope.ignored]
    ratio, ratio_dict = cfg.ratio, None
    if cfg.method == "sensitivity":
        record["sensitivity"] = dist.on_rank_zero(lambda: _sensitivity(model, spec, cfg, scope, ctx))
        ratio, ratio_dict = 0.0, record["sensitivity"]["chosen"]
    elif cfg.layer_ratios is not None:
        from edgepose.passes.prune_sensitivity import plan_from_patterns

        ratio, ratio_dict = 0.0, plan_from_patterns(model, spec, cfg, scope, cfg.layer_ratios)
    elif target is not None:
        ratio, record["search"] = ps.ratio_for_gflops(model, spec, cfg, scope, target)
        ctx.log(f"ratio {ratio:.3f} brings GFLOPs to <= {cfg.target_gflops_ratio:g} of {base_gflops:.4g}")
    record["ratio"], record["ratios"] = (None if ratio_dict else round(ratio, 4)), ratio_dict
    pruner = ps.make_pruner(model, spec, cfg, scope, ratio, ratio_dict, steps=cfg.iterative_steps)
    history: list[list[Any]] = []
    for step, epochs in enumerate(_epochs_per_step(cfg)):
        if step > 0:
            dist.broadcast_module(model)
            _taylor(model, spec, cfg, ctx)
        record["not_pruned"].update(ps.pruner_step(pruner, cfg, example=ps.example_input(spec)).skipped)
        history = ps.pruning_history(pruner)
        if step == cfg.iterative_steps - 1 and target is not None and count_gflops(model, spec) > target * (1 + 1e-9):
            history += _prune_more(model, spec, cfg, scope, target, record)  # global ranking may land above target
        model.zero_grad(set_to_none=True)
        dist.check_same_structure(model, f"pruning step {step + 1}")
        entry["pruning_history"] = history
        ps.check_outputs(model, spec, shapes)
        if cfg.iterative_steps > 1:
            record["steps"].append({"step": step + 1, "gflops": round(count_gflops(model, spec), 6)})
        _finetune(result, cfg, ctx, step, epochs, record)
    record["not_pruned"] = {**scope.unprunable, **record["not_pruned"]}
    if not history:
        why = "; ".join(f"'{name}': {reason}" for name, reason in record["not_pruned"].items())
        raise UserError(
            "nothing was pruned: every channel group holds an output or excluded layer, or the ratio is too small"
            + (f" to remove a multiple of round_to {cfg.round_to} channels" if cfg.round_to else "")
            + (f"; left whole: {why}" if why else "")
        )
    entry.update(ratio=record["ratio"], round_to=cfg.round_to, global_pruning=cfg.global_pruning)
    record["layers"] = ps.channel_table(widths, ps.layer_widths(model))
    return record


def _scan_scorer(model: nn.Module, spec: Any, cfg: PruneConfig, ctx: RunContext) -> Any:
    """What scores the sensitivity scan: the metric on labelled --val data in the model's schema, else agreement
    with the unpruned model on images of --val, the fine-tuning data or the calibration data (labels unused)."""
    from edgepose.inference.image_inputs import has_matching_labels
    from edgepose.passes.prune_sensitivity import make_scorer

    source = ctx.val_data or ctx.train_data or ctx.calib_data
    data = ctx.need("data for the sensitivity scan", source,
                    "--val ANN.json (held out: not the --eval data), or images to compare with the unpruned model")
    labelled = ctx.val_data is not None and has_matching_labels(data, spec)
    return make_scorer(model, spec, data, cfg.sensitivity_images, labelled, ctx.seed)


def _sensitivity(model: nn.Module, spec: Any, cfg: PruneConfig, scope: Any, ctx: RunContext) -> dict[str, Any]:
    """The sensitivity scan and the per-layer ratios it leads to, as the record's "sensitivity" entry (scores,
    evaluates and may time: rank 0 alone, so only it builds the scorer)."""
    from edgepose.passes import prune_sensitivity as sens

    scorer = _scan_scorer(model, spec, cfg, ctx)
    ctx.log(f"sensitivity scan on {cfg.sensitivity_images} of {scorer.data}, scored by {scorer.scored_by} ...")
    baseline, rows = sens.scan(model, spec, cfg, scope, scorer, ctx.progress)
    ratio_dict, rounds = sens.plan_ratios(model, spec, cfg, scope, ctx, rows)
    return {
        "data": scorer.data, "scored_by": scorer.scored_by, "instances": cfg.sensitivity_images,
        "baseline": baseline, "table": rows, "chosen": ratio_dict, "rounds": rounds,
    }  # fmt: skip


def _prune_more(
    model: nn.Module, spec: Any, cfg: PruneConfig, scope: Any, target: float, record: dict[str, Any]
) -> list[list[Any]]:  # fmt: skip
    """One more one-shot prune of the (already pruned) model down to `target` GFLOPs; its history."""
    from edgepose.passes import prune_structured as ps

    extra, _ = ps.ratio_for_gflops(model, spec, cfg, scope, target)
    pruner = ps.make_pruner(model, spec, cfg, scope, extra)
    record["not_pruned"].update(ps.pruner_step(pruner, cfg, example=ps.example_input(spec)).skipped)
    return ps.pruning_history(pruner)


def _magnitude(result: Artifact, cfg: PruneConfig, ctx: RunContext, entry: dict[str, Any]) -> dict[str, Any]:
    """Global L1-unstructured zeros (grown over K steps, masks held while fine-tuning), then permanent."""
    from edgepose.passes import prune_magnitude as pm
    from edgepose.passes.select import output_layers, select_modules

    model, spec = result.model, result.spec
    assert model is not None
    outputs = output_layers(model, spec)
    names = [n for n in select_modules(model, pm.WEIGHT_TYPES, cfg.include, cfg.exclude) if n not in outputs]
    if not names:
        raise UserError("no conv or linear layer is selected for magnitude pruning (outputs are always kept)")
    keys = list(model.state_dict())
    record: dict[str, Any] = {"method": "magnitude", "ratio": cfg.ratio, "iterative_steps": cfg.iterative_steps,
                              "output_layers": outputs, "finetune": []}  # fmt: skip
    reached = 0.0
    dist.broadcast_module(model)  # masks from rank 0's weights on every rank (fine-tuning keeps them equal)
    with pm.masked(model, names):
        for step, epochs in enumerate(_epochs_per_step(cfg)):
            sparsity = cfg.ratio * (step + 1) / cfg.iterative_steps
            pm.add_masks(model, names, reached, sparsity)
            reached = sparsity
            _finetune(result, cfg, ctx, step, epochs, record)
    if list(model.state_dict()) != keys:
        raise RuntimeError("magnitude pruning left masks in the state_dict")
    record.update(pm.magnitude_record(model, names, cfg.ratio))
    entry.update(sparsity=record["sparsity"], ratio=cfg.ratio, note=pm.MAGNITUDE_NOTE)
    ctx.log(f"sparsity {record['sparsity']:.1%} of {len(names)} layers' weights: {pm.MAGNITUDE_NOTE}")
    return record


def _taylor(model: nn.Module, spec: Any, cfg: PruneConfig, ctx: RunContext) -> None:
    """Gradients of the pose loss for Taylor importance, from the fine-tuning (else calibration / val) data."""
    if cfg.importance != "taylor":
        return
    from edgepose.passes.prune_structured import taylor_gradients

    data = ctx.train_data or ctx.calib_data or ctx.val_data
    data = ctx.need("data for Taylor importance", data, "--finetune-data ANN.json (or --eval)")
    used = taylor_gradients(model, spec, data, cfg.taylor_batches)
    dist.broadcast_grads(model)  # rank 0's gradients: every rank ranks the channels alike
    ctx.log(f"Taylor importance from {used} batches of {data}")


def _finetune(result: Artifact, cfg: PruneConfig, ctx: RunContext, step: int, epochs: int, record: dict) -> None:
    """Fine-tune after pruning step `step` for its share of the epochs; its record goes to record['finetune']."""
    if cfg.finetune is None or epochs == 0:
        return
    name = "finetune" if cfg.iterative_steps == 1 else f"finetune_step{step + 1}"
    finetune_model(result, cfg.finetune.model_copy(update={"epochs": epochs}), ctx, name=name)
    record["finetune"].append({"step": step + 1, **ctx.records[name]})


def _epochs_per_step(cfg: PruneConfig) -> list[int]:
    """The fine-tuning epochs split over the K steps: [base] * K, the remainder on the last steps."""
    total = cfg.finetune.epochs if cfg.finetune is not None else 0
    base, extra = divmod(total, cfg.iterative_steps)
    return [base + (1 if i >= cfg.iterative_steps - extra else 0) for i in range(cfg.iterative_steps)]
