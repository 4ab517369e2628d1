"""The Ghost pass at work (torch): survey, plan, swap with fitted init, record, optional fine-tune.

Kept apart from ghost.py so that registering the pass (and validating recipes) does not import torch.
"""


from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from edgepose.models.rewrites.ghost_swaps import build_module
from edgepose.models.rewrites.surgery import get_module, set_module
from edgepose.passes.base import RunContext, copy_torch_artifact
from edgepose.passes.finetune import check_finetune_data, finetune_model
from edgepose.passes.ghost_plan import Survey, plan_swaps, survey_model, swap_gflops
from edgepose.passes.select import check_patterns

if TYPE_CHECKING:
    from edgepose.artifact import Artifact, ModelSpec
    from edgepose.passes.ghost_config import GhostConfig

CHECK_INPUTS = 8  # held-out inputs on which the start is compared with the original


def apply_ghost(artifact: Artifact, cfg: GhostConfig, ctx: RunContext) -> Artifact:
    """Ghost a copy of the model, record the swaps in its history, optionally fine-tune it."""
    from edgepose.models.stats import count_gflops

    result = copy_torch_artifact(artifact)
    model = result.model.eval()
    check_patterns(model, cfg.include, "include")
    check_patterns(model, cfg.exclude, "exclude")
    check_finetune_data(cfg.finetune, ctx, result.spec)
    reference = copy.deepcopy(model)
    survey = survey_model(model, result.spec)
    swaps, skipped = plan_swaps(model, survey, cfg)
    record: dict[str, Any] = {"ratio": cfg.ratio, "dw_kernel": cfg.dw_kernel, "replaced": [], "skipped": skipped}
    ctx.records["ghost"] = record
    if not swaps:
        record["unchanged"] = "no layer is eligible: " + ("; ".join(sorted({s["reason"] for s in skipped})) or "none found")
        ctx.log(f"ghost: model unchanged ({record['unchanged']})")
        return result
    calib, check, source = _inputs(result.spec, ctx, cfg)
    ctx.log(f"ghost: replacing {len(swaps)} layers (ratio {cfg.ratio}, dw {cfg.dw_kernel}), init from {source}")
    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(ctx.seed)
            torch.set_num_threads(ctx.threads or threads)
            record["replaced"] = _swap_all(model, reference, swaps, survey, cfg, calib)
            record["init"] = {"calibration": source, **_closeness(model, reference, swaps, cfg, check)}
    finally:
        torch.set_num_threads(threads)
    result.history.append({"step": "ghost", "ratio": cfg.ratio, "dw_kernel": cfg.dw_kernel, "layers": swaps})
    before = count_gflops(reference, result.spec)
    after = before - sum(r["gflops_before"] - r["gflops_after"] for r in record["replaced"])
    record.update(gflops_before=round(before, 5), gflops_after=round(after, 5), gflops_ratio=round(after / before, 4))
    ctx.log(f"ghost: GFLOPs {before:.4f} -> {after:.4f} (x{after / before:.3f}); start error "
            f"{record['init']['rel_err']['fitted']:.3f} vs naive {record['init']['rel_err']['naive']:.3f}")  # fmt: skip
    if cfg.finetune is not None:
        if ctx.teacher is None:
            ctx.teacher = artifact
        finetune_model(result, cfg.finetune, ctx, name="ghost_finetune", feature_layers=[s["name"] for s in swaps])
    return result


def _swap_all(
    model: nn.Module, reference: nn.Module, swaps: list[dict[str, Any]], survey: Survey, cfg: GhostConfig,
    calib: torch.Tensor | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Replace layer by layer in forward order, each fitted on the inputs it sees in the partly ghosted model."""
    from edgepose.passes.ghost_fit import refine_cheap, refine_primary
    from edgepose.passes.ghost_init import (  # fmt: skip
        filter_matrix,
        inherit_block,
        init_ghost,
        output_weights,
    )

    replaced = []
    for entry in swaps:
        name = entry["name"]
        old = get_module(model, name)
        new = build_module(entry, cfg.ratio, cfg.dw_kernel)
        if entry["kind"] == "bottleneck":
            inherit_block(new, old)  # type: ignore[arg-type]
            method = "inherited (needs fine-tuning)"
        else:
            x = _capture(model, name, calib, "input") if calib is not None else None
            target = _capture(reference, name, calib, "output") if calib is not None else None
            bn_name = survey.consumer_bn.get(name)
            bn = reference.get_submodule(bn_name) if bn_name else None
            weights = output_weights(bn, target, entry["out_channels"])  # type: ignore[arg-type]
            init_ghost(new, filter_matrix(old), old.bias, weights)  # type: ignore[arg-type]
            method = "weights"
            if x is not None and target is not None:
                ridge = refine_primary(new, old, x, target, weights)  # type: ignore[arg-type]
                refine_cheap(new, x, target)  # type: ignore[arg-type]
                method = "weights+lsq cheap" if ridge is None else f"lsq primary (ridge {ridge:g})+lsq cheap"
        new.eval()
        if entry["kind"] == "bottleneck":
            flops = (_module_gflops(old, survey.in_shape[name]), _module_gflops(new, survey.in_shape[name]))
        else:
            flops = swap_gflops(entry, cfg.ratio, cfg.dw_kernel, survey)
        set_module(model, name, new)
        replaced.append({"name": name, "kind": entry["kind"], "gflops_before": flops[0], "gflops_after": flops[1],
                         "init": method})  # fmt: skip
    return replaced


class _Stop(Exception):
    """Raised by a capture hook: the rest of the forward pass is not needed."""


@torch.no_grad()
def _capture(model: nn.Module, name: str, x: torch.Tensor, what: str) -> torch.Tensor:
    """The input or output tensor of layer `name` when `model` runs on `x` (stops the forward there)."""
    found: list[torch.Tensor] = []

    def hook(_module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        found.append((inputs[0] if what == "input" else output).detach().clone())
        raise _Stop

    handle = model.get_submodule(name).register_forward_hook(hook)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    return found[0]


def _module_gflops(module: nn.Module, in_shape: tuple[int, ...]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module.eval()(torch.zeros(in_shape))
    return counter.get_total_flops() / 1e9


def _inputs(spec: ModelSpec, ctx: RunContext, cfg: GhostConfig) -> tuple[torch.Tensor | None, torch.Tensor, str]:
    """Calibration inputs for the fit, held-out inputs for the closeness check, and where they came from."""
    source = ctx.calib_data or ctx.train_data
    if source is not None and spec.clip_length is None:
        from edgepose.passes.quantize_calib import calibration_inputs

        images = torch.from_numpy(calibration_inputs(source, spec, cfg.calib_images + CHECK_INPUTS, ctx.seed,
                                                     ctx.detector))  # fmt: skip
        calib = images[: max(0, len(images) - CHECK_INPUTS)][: cfg.calib_images]
        check = images[len(calib) :] if len(images) > len(calib) else images
        return (calib if len(calib) else None), check, f"{len(calib)} images from {Path(source).name}"
    generator = torch.Generator().manual_seed(ctx.seed)
    calib = torch.randn((cfg.calib_images, *spec.input_shape(1)[1:]), generator=generator)
    check = torch.randn((CHECK_INPUTS, *spec.input_shape(1)[1:]), generator=generator)
    return (calib if cfg.calib_images else None), check, f"{cfg.calib_images} random inputs"


@torch.no_grad()
def _closeness(
    model: nn.Module, reference: nn.Module, swaps: list[dict[str, Any]], cfg: GhostConfig, x: torch.Tensor
) -> dict[str, Any]:  # fmt: skip
    """Relative error of the final output, ||out - original|| / ||original||, for the fitted start and
    for two baselines on the same structure: first-m filters kept as they are (naive), all fresh (random)."""
    from edgepose.passes.ghost_init import filter_matrix, naive_init

    want = reference(x)
    errors = {"fitted": _rel_err(model(x), want)}
    for variant in ("naive", "random"):
        other = copy.deepcopy(reference)
        for entry in swaps:
            old = get_module(other, entry["name"])
            new = build_module(entry, cfg.ratio, cfg.dw_kernel)
            if variant == "naive" and entry["kind"] != "bottleneck":
                naive_init(new, filter_matrix(old), old.bias)  # type: ignore[arg-type]
            set_module(other, entry["name"], new.eval())
        errors[variant] = _rel_err(other(x), want)
    return {"rel_err": {k: round(v, 4) for k, v in errors.items()}, "check_inputs": len(x)}


def _rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).norm() / want.norm().clamp_min(1e-12))
