"""Which layers the Ghost pass replaces: one surveyed forward pass, then each conv / deconv / block planned or
skipped with its reason. The record of a swap and the module it builds are the rewrite's
(edgepose.models.rewrites.ghost_swaps), shared with the replay on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from edgepose.models.ghost import GHOST_TYPES, ghost_flops_ratio
from edgepose.models.rewrites.ghost_swaps import (
    BLOCK_TYPES,
    LAYER_TYPES,
    block_entry,
    block_shape,
    layer_entry,
)
from edgepose.passes.select import matches, output_layers

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec
    from edgepose.passes.ghost_config import GhostConfig

@dataclass
class Survey:
    """What one forward pass at batch 1 shows: call order and counts, shapes, the stem, who reads whom."""

    order: list[str] = field(default_factory=list)  # layers and blocks, by when their forward starts
    calls: dict[str, int] = field(default_factory=dict)
    in_shape: dict[str, tuple[int, ...]] = field(default_factory=dict)
    out_shape: dict[str, tuple[int, ...]] = field(default_factory=dict)
    consumer_bn: dict[str, str] = field(default_factory=dict)  # layer -> the BatchNorm that reads its output
    stem: str | None = None
    outputs: list[str] = field(default_factory=list)


def survey_model(model: nn.Module, spec: ModelSpec) -> Survey:
    """Run the model once on zeros with hooks on convs, deconvs, BatchNorms and ResNet blocks."""
    survey = Survey(outputs=output_layers(model, spec))
    events: list[tuple[str, str, int, int]] = []  # (kind, name, input ptr, output ptr)
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, (*LAYER_TYPES, nn.BatchNorm2d, *BLOCK_TYPES)):
            hooks.append(module.register_forward_pre_hook(_on_start(name, survey)))
            hooks.append(module.register_forward_hook(_on_end(name, module, events, survey)))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(spec.input_shape(1)))
    finally:
        for hook in hooks:
            hook.remove()
    layers = [name for kind, name, _, _ in events if kind == "layer"]
    if layers and isinstance(model.get_submodule(layers[0]), nn.Conv2d):
        survey.stem = layers[0]
    for i, (kind, name, _, out_ptr) in enumerate(events):
        if kind == "layer":
            reader = next((n for k, n, ptr, _ in events[i + 1 :] if k == "bn" and ptr == out_ptr), None)
            if reader is not None:
                survey.consumer_bn[name] = reader
    return survey


def _on_start(name: str, survey: Survey):  # noqa: ANN202
    def hook(_module: nn.Module, inputs: tuple) -> None:
        if name not in survey.calls:
            survey.order.append(name)
            survey.in_shape[name] = tuple(inputs[0].shape)
        survey.calls[name] = survey.calls.get(name, 0) + 1

    return hook


def _on_end(name: str, module: nn.Module, events: list, survey: Survey):  # noqa: ANN202
    kind = "bn" if isinstance(module, nn.BatchNorm2d) else "layer" if isinstance(module, LAYER_TYPES) else "block"

    def hook(_module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        events.append((kind, name, inputs[0].data_ptr(), output.data_ptr()))
        survey.out_shape.setdefault(name, tuple(output.shape))

    return hook


def plan_swaps(model: nn.Module, survey: Survey, cfg: GhostConfig) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The swaps to make (in forward order) and every conv/deconv/block left alone, with the reason."""
    swaps: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    # Ghost blocks already there: ours, and others by name (e.g. the YOLO zoo's Ultralytics GhostConv)
    ghosts = [n for n, m in model.named_modules() if n and (isinstance(m, GHOST_TYPES) or type(m).__name__.startswith("Ghost"))]
    taken: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, (*LAYER_TYPES, *BLOCK_TYPES)):
            continue
        inside = next((g for g in ghosts if name.startswith(g + ".")), None)
        if inside is not None:
            skipped.append({"name": name, "reason": f"part of a Ghost block ({type(model.get_submodule(inside)).__name__})"})
            continue
        is_block = isinstance(module, BLOCK_TYPES)
        if is_block and not cfg.bottleneck:
            continue
        if any(name.startswith(t + ".") for t in taken):
            continue
        reason = _common_reason(name, survey, cfg)
        if reason is None:
            reason = _block_reason(module, cfg) if is_block else _layer_reason(module, name, survey, cfg)
        if reason is not None:
            skipped.append({"name": name, "reason": reason})
            continue
        swaps.append(block_entry(name, module) if is_block else layer_entry(name, module))
        if is_block:
            taken.append(name)
    swaps.sort(key=lambda entry: survey.order.index(entry["name"]))
    return swaps, skipped


def _common_reason(name: str, survey: Survey, cfg: GhostConfig) -> str | None:
    if not matches(name, cfg.include) or matches(name, cfg.exclude):
        return "not selected by include / exclude"
    calls = survey.calls.get(name, 0)
    if calls == 0:
        return "not used in the forward pass"
    if calls > 1:
        return f"called {calls} times per forward (shared weights)"
    return None


def _layer_reason(layer: nn.Module, name: str, survey: Survey, cfg: GhostConfig) -> str | None:
    assert isinstance(layer, LAYER_TYPES)
    if cfg.keep_stem and name == survey.stem:
        return "stem: the first conv on the image (keep_stem)"
    if cfg.keep_head and name in survey.outputs:
        return "output layer (keep_head)"
    deconv = isinstance(layer, nn.ConvTranspose2d)
    if deconv and not cfg.deconv:
        return "transposed conv (deconv: false)"
    if layer.groups != 1:
        return f"grouped or depthwise conv (groups={layer.groups})"
    if layer.padding_mode != "zeros":
        return f"padding mode {layer.padding_mode}"
    if layer.out_channels % cfg.ratio:
        return (f"{layer.out_channels} output channels are not a multiple of ratio {cfg.ratio} (a trimmed "
                "Ghost module ends in a Slice that torch-pruning cannot follow)")  # fmt: skip
    kernel_area = layer.kernel_size[0] * layer.kernel_size[1]
    upsample = layer.stride[0] * layer.stride[1] if deconv else 1
    if ghost_flops_ratio(layer.in_channels, kernel_area, cfg.ratio, cfg.dw_kernel, upsample) <= 1.0:
        return f"Ghost would not save FLOPs (in_channels*k*k = {layer.in_channels * kernel_area})"
    return None


def _block_reason(block: nn.Module, cfg: GhostConfig) -> str | None:
    hidden, cout, stride = block_shape(block)
    if hidden % cfg.ratio or cout % cfg.ratio:
        return f"block widths {hidden}/{cout} are not multiples of ratio {cfg.ratio}"
    if stride not in (1, 2):
        return f"stride {stride}"
    return None


def swap_gflops(entry: dict[str, Any], ratio: int, dw_kernel: int, survey: Survey) -> tuple[float, float]:
    """GFLOPs (2 x MACs, as count_gflops) of a conv / deconv before and after its swap, from the survey's shapes."""
    n, _, h_in, w_in = survey.in_shape[entry["name"]]
    _, _, h_out, w_out = survey.out_shape[entry["name"]]
    taps = entry["in_channels"] * entry["kernel_size"][0] * entry["kernel_size"][1]
    positions = h_in * w_in if entry["kind"] == "deconv" else h_out * w_out  # where the kernel is applied
    intrinsic = -(-entry["out_channels"] // ratio)
    before = 2 * n * positions * taps * entry["out_channels"]
    after = 2 * n * positions * taps * intrinsic + 2 * n * h_out * w_out * (ratio - 1) * intrinsic * dw_kernel**2
    return before / 1e9, after / 1e9


