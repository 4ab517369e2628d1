"""Structured channel pruning through torch-pruning's dependency graph (residual adds, concatenations,
transposed convs and LSTM inputs are coupled for us), with a per-layer cap, `round_to` channel
multiples, Taylor gradients from the project's loss, and a search for a GFLOPs target.

Recurrent layers keep their hidden size: torch-pruning 1.6's LSTM output pruner mis-slices the gate
weights and biases, so only the LSTM's *input* channels are pruned (with the layer feeding it).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from edgepose.errors import UserError
from edgepose.models.rewrites.prune_plan import History
from edgepose.models.rewrites.surgery import model_outputs
from edgepose.models.stats import count_gflops
from edgepose.passes.select import output_layers, select_modules

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec
    from edgepose.passes.prune_config import PruneConfig

ROOT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear)
RECURRENT_TYPES: tuple[type[nn.Module], ...] = (nn.LSTM, nn.GRU, nn.RNN)


@dataclass
class Scope:
    """Which layers may lose channels: names of the layers kept whole, and why."""

    outputs: list[str]
    ignored: list[str]  # outputs + excluded / not included + recurrent layers + unprunable
    prunable: list[str] = field(default_factory=list)
    unprunable: dict[str, str] = field(default_factory=dict)  # root layer -> why torch-pruning cannot


def prune_scope(model: nn.Module, spec: ModelSpec, include: Sequence[str], exclude: Sequence[str]) -> Scope:
    """The keypoint output layers, the user's exclusions and recurrent layers are never pruned."""
    outputs = output_layers(model, spec)
    prunable = [n for n in select_modules(model, ROOT_TYPES, include, exclude) if n not in outputs]
    roots = [name for name, m in model.named_modules() if isinstance(m, ROOT_TYPES)]
    recurrent = [name for name, m in model.named_modules() if isinstance(m, RECURRENT_TYPES)]
    kept = tuple(getattr(model, "keep_output_width", ()))  # e.g. what feeds a recurrent layer: its width stays
    feeding = [name for name in roots if any(name == k or name.startswith(k + ".") for k in kept)]
    ignored = list(dict.fromkeys([*outputs, *(n for n in roots if n not in prunable), *recurrent, *feeding]))
    return Scope(outputs=outputs, ignored=ignored, prunable=prunable)


def make_importance(name: str) -> Any:
    """torch-pruning's criterion for `name` (l1 | l2 | bn_scale | taylor), group-normalised by the mean."""
    import torch_pruning as tp

    if name == "l1":
        return tp.importance.MagnitudeImportance(p=1)
    if name == "l2":
        return tp.importance.MagnitudeImportance(p=2)
    if name == "bn_scale":
        return tp.importance.BNScaleImportance()
    if name == "taylor":
        return tp.importance.TaylorImportance()
    raise UserError(f"unknown importance '{name}': l1, l2, bn_scale or taylor")


def make_pruner(
    model: nn.Module, spec: ModelSpec, cfg: PruneConfig, scope: Scope, ratio: float,
    ratio_dict: dict[str, float] | None = None, steps: int = 1,
) -> Any:  # fmt: skip
    """A torch-pruning pruner over `model` (traced in eval mode, so BatchNorm statistics stay put).

    A layer whose channel group torch-pruning cannot even build (e.g. its index mapping runs away) is
    added to scope.ignored / scope.unprunable and the pruner built again without it.
    """
    import torch_pruning as tp

    from edgepose.passes.prune_verify import SafeImportance, bounded_index_mapping

    pruner_class = getattr(tp.pruner, "BasePruner", None) or tp.pruner.MetaPruner
    model.eval()
    modules = dict(model.named_modules())
    names = {module: name for name, module in modules.items()}
    while True:
        importance = SafeImportance(make_importance(cfg.importance))
        state: dict[str, Any] = {}
        try:
            with torch.enable_grad(), bounded_index_mapping() as state:
                pruner = pruner_class(
                    model, torch.zeros(spec.input_shape(1)), importance=importance,
                    global_pruning=cfg.global_pruning, pruning_ratio=ratio,
                    pruning_ratio_dict={modules[n]: r for n, r in (ratio_dict or {}).items()} or None,
                    max_pruning_ratio=cfg.max_layer_ratio, iterative_steps=steps,
                    ignored_layers=[modules[n] for n in scope.ignored],  # round_to: pruner_step rounds
                )  # fmt: skip
        except Exception as exc:  # torch-pruning raises anything from its tracer and grouping
            name = names.get(state.get("root"))
            if name is None or name in scope.ignored:
                raise UserError(f"torch-pruning cannot trace this model: {_first_line(exc)}") from None
            scope.unprunable[name] = f"torch-pruning cannot build its channel group ({_first_line(exc)})"
            scope.ignored.append(name)
            continue
        importance.graph = pruner.DG
        return pruner


@dataclass
class StepResult:
    """Root layers of the channel groups a step pruned, and those it left whole with the reason."""

    pruned: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def pruner_step(pruner: Any, cfg: PruneConfig, example: torch.Tensor | None = None) -> StepResult:
    """One pruning step over every channel group the pruner ranks.

    Each layer keeps a multiple of round_to channels (the nearest to what the ratio asks; torch-pruning
    would round down) and at least (1 - max_layer_ratio) of its channels. A group torch-pruning fails
    on, or (with `example`) maps wrongly, is undone and reported instead of breaking the model.
    """
    from edgepose.passes.prune_verify import bounded_index_mapping

    dg = pruner.DG
    floors, round_to = _channel_floors(pruner, cfg), cfg.round_to or 1
    result = StepResult()
    try:
        for group in _bounded(pruner.step(interactive=True), bounded_index_mapping):
            module, handler = group[0].dep.target.module, group[0].dep.handler
            name = dg._module2name.get(module, type(module).__name__)
            current, idxs = dg.get_out_channels(module), list(group[0].idxs)
            if pruner._get_channel_groups(group) == 1:  # grouped convs keep torch-pruning's own choice
                keep = max(floors.get(module, 1), math.floor((current - len(idxs)) / round_to + 0.5) * round_to)
                if keep >= current:
                    continue
                if keep != current - len(idxs):
                    scores = pruner.estimate_importance(dg.get_pruning_group(module, handler, list(range(current))))
                    if scores is None:
                        continue
                    group = dg.get_pruning_group(module, handler, torch.argsort(scores)[: current - keep].tolist())
            reason = _prune_checked(pruner.model, group, example)
            if reason is None:
                result.pruned.append(name)
            else:
                result.skipped[name] = reason
    except Exception as exc:  # noqa: BLE001  (torch-pruning's own ranking / mapping failed)
        raise UserError(f"torch-pruning cannot prune this model: {_first_line(exc)}") from None
    result.skipped.update(pruner.importance.failed)
    return result


def _bounded(groups: Any, guard: Any) -> Any:
    """Yield from torch-pruning's group generator with its index mapping bounded while it runs."""
    while True:
        with guard():
            group = next(groups, None)
        if group is None:
            return
        yield group


def _prune_checked(model: nn.Module, group: Any, example: torch.Tensor | None) -> str | None:
    """Prune `group`; None when done, else why it was left whole (any partial change undone)."""
    from edgepose.passes import prune_verify as pv

    check = example is not None and pv.needs_check(group)
    expected = pv.masked_output(model, group, example) if check else None
    if check and expected is None:
        return "its channels pass through layers this check cannot follow"
    undo = pv.snapshot(group)
    if undo is None:
        return "it reaches a bare nn.Parameter, which torch-pruning slices along a guessed axis"
    try:
        group.prune()
        if check and not pv.same_outputs(expected, model_outputs(model, example)):
            undo()
            return "torch-pruning maps its channels wrongly (e.g. a channel shuffle, split or attention reshape)"
    except Exception as exc:  # noqa: BLE001
        undo()
        return f"torch-pruning failed on it ({_first_line(exc)})"
    return None


def example_input(spec: ModelSpec) -> torch.Tensor:
    """A fixed random input of the spec's shape, for the per-group pruning check."""
    return torch.randn(spec.input_shape(1), generator=torch.Generator().manual_seed(0))


def _channel_floors(pruner: Any, cfg: PruneConfig) -> dict[nn.Module, int]:
    """The fewest output channels each layer may keep: the cap, rounded up to round_to, at least 1."""
    round_to = cfg.round_to or 1
    floors = {}
    for module, initial in pruner.layer_init_out_ch.items():
        if not initial:
            continue
        floor = math.ceil(initial * (1 - cfg.max_layer_ratio) - 1e-9)
        floor = math.ceil(max(floor, 1) / round_to) * round_to
        floors[module] = min(floor, initial)
    return floors


def pruning_history(pruner: Any) -> History:
    """The pruner's history as plain JSON-able lists (what a checkpoint may hold)."""
    return [[str(name), bool(out), [int(i) for i in idxs]] for name, out, idxs in pruner.pruning_history()]


def copy_with_grads(model: nn.Module) -> nn.Module:
    """A deep copy that also carries the parameters' gradients (Taylor importance reads them)."""
    clone = copy.deepcopy(model)
    for source, target in zip(model.parameters(), clone.parameters(), strict=True):
        target.grad = None if source.grad is None else source.grad.detach().clone()
    return clone


def taylor_gradients(model: nn.Module, spec: ModelSpec, data: Path, batches: int, batch_size: int = 8) -> int:
    """Accumulate gradients of the pose loss over a few batches (eval mode: BN statistics untouched)."""
    from edgepose.data.coco import CocoPoseDataset, make_loader
    from edgepose.train import pose_loss

    dataset = CocoPoseDataset(data, spec, train=False, clip_length=spec.clip_length)
    loader = make_loader(dataset, batch_size, shuffle=False)
    model.eval()
    model.zero_grad(set_to_none=True)
    used = 0
    with torch.enable_grad():
        for batch in loader:
            if used >= batches:
                break
            pose_loss(model(batch["image"]), batch, spec).backward()
            used += 1
    for param in model.parameters():
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    return used


def prune_copy(
    model: nn.Module, spec: ModelSpec, cfg: PruneConfig, scope: Scope, ratio: float,
    ratio_dict: dict[str, float] | None = None, example: torch.Tensor | None = None,
) -> tuple[nn.Module, StepResult]:  # fmt: skip
    """A one-shot pruned copy of `model` (gradients carried over for Taylor importance)."""
    clone = copy_with_grads(model)
    step = pruner_step(make_pruner(clone, spec, cfg, scope, ratio, ratio_dict), cfg, example)
    clone.zero_grad(set_to_none=True)
    return clone, step


def survey(model: nn.Module, spec: ModelSpec, cfg: PruneConfig, scope: Scope) -> dict[str, str]:
    """Channel groups torch-pruning cannot prune correctly (checked once on a copy), so searches skip them."""
    _, step = prune_copy(model, spec, cfg, scope, min(0.5, cfg.max_layer_ratio), example=example_input(spec))
    return step.skipped


def search_ratio(
    gflops_of: Callable[[float], float], target_gflops: float, high: float, tolerance: float = 0.005
) -> tuple[float, list[dict[str, float]]]:
    """Smallest uniform ratio in (0, high] whose GFLOPs are <= target (bisection); UserError if none."""
    probes: list[dict[str, float]] = []

    def probe(ratio: float) -> bool:
        gflops = gflops_of(ratio)
        probes.append({"ratio": round(ratio, 4), "gflops": round(gflops, 6)})
        return gflops <= target_gflops * (1 + 1e-9)

    if not probe(high):
        raise UserError(
            f"pruning cannot reach {target_gflops:.4g} GFLOPs: at the largest per-layer ratio ({high:g}) the "
            f"model keeps {probes[-1]['gflops']:.4g}; raise max_layer_ratio, prune more layers, or relax the target"
        )
    low = 0.0
    while high - low > tolerance:
        mid = (low + high) / 2
        if probe(mid):
            high = mid
        else:
            low = mid
    return high, probes


def ratio_for_gflops(
    model: nn.Module, spec: ModelSpec, cfg: PruneConfig, scope: Scope, target_gflops: float
) -> tuple[float, list[dict[str, float]]]:
    """The uniform (or global) ratio that brings a one-shot prune of `model` to <= target GFLOPs."""
    return search_ratio(
        lambda ratio: count_gflops(prune_copy(model, spec, cfg, scope, ratio)[0], spec), target_gflops,
        cfg.max_layer_ratio,
    )  # fmt: skip


def layer_widths(model: nn.Module) -> dict[str, int]:
    """Output channels (features, hidden size) of every conv, linear and recurrent layer."""
    widths = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            widths[name] = module.out_channels
        elif isinstance(module, nn.Linear):
            widths[name] = module.out_features
        elif isinstance(module, RECURRENT_TYPES):
            widths[name] = module.hidden_size
    return widths


def channel_table(before: dict[str, int], after: dict[str, int]) -> list[dict[str, Any]]:
    """Per layer: channels before and after and the fraction removed (layers that changed)."""
    return [
        {"layer": name, "channels_before": c, "channels_after": after[name], "ratio": round(1 - after[name] / c, 4)}
        for name, c in before.items()
        if name in after and after[name] != c
    ]


def check_outputs(model: nn.Module, spec: ModelSpec, shapes: list[list[int]]) -> None:
    """UserError when the pruned model no longer runs or its output shapes changed."""
    from edgepose.models.stats import output_shapes

    try:
        got = output_shapes(model, spec)
    except Exception as exc:  # noqa: BLE001
        raise UserError(
            f"the pruned model no longer runs ({_first_line(exc)}): torch-pruning mis-pruned a layer it could not "
            "be checked on; exclude the layers named there with --exclude"
        ) from None
    if got != shapes:
        raise UserError(f"pruning changed the output shape {shapes} -> {got}; exclude the layers that produce it")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
