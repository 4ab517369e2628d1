"""Which layers the Ghost pass replaces, the JSON-able record of each swap, and the module it builds.

A swap is a plain dict (it goes into the checkpoint history, loaded with weights_only=True):
    {"name": "backbone.layer1.0.conv1", "kind": "conv", "in_channels": 32, "out_channels": 32,
     "kernel_size": [3, 3], "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "bias": false}
"deconv" adds "output_padding"; "bottleneck" is {"name", "kind", "block", "in_channels",
"hidden_channels", "out_channels", "stride", "kernel_size"}. `build_module` turns one into a freshly
initialised module, for the pass and for the replay alike, so both build the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from edgepose.errors import UserError
from edgepose.models.ghost import GHOST_TYPES, GhostBottleneck, GhostDeconv, GhostModule, ghost_flops_ratio
from edgepose.models.resnet import BasicBlock, Bottleneck
from edgepose.passes.select import matches, output_layers

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec
    from edgepose.passes.ghost import GhostConfig

LAYER_TYPES = (nn.Conv2d, nn.ConvTranspose2d)
BLOCK_TYPES = (BasicBlock, Bottleneck)


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
    hidden, cout, stride = _block_shape(block)
    if hidden % cfg.ratio or cout % cfg.ratio:
        return f"block widths {hidden}/{cout} are not multiples of ratio {cfg.ratio}"
    if stride not in (1, 2):
        return f"stride {stride}"
    return None


def _block_shape(block: nn.Module) -> tuple[int, int, int]:
    if isinstance(block, Bottleneck):
        return block.conv1.out_channels, block.conv3.out_channels, block.conv2.stride[0]
    assert isinstance(block, BasicBlock)
    return block.conv1.out_channels, block.conv2.out_channels, block.conv1.stride[0]


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


def layer_entry(name: str, layer: nn.Conv2d | nn.ConvTranspose2d) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name, "kind": "deconv" if isinstance(layer, nn.ConvTranspose2d) else "conv",
        "in_channels": layer.in_channels, "out_channels": layer.out_channels,
        "kernel_size": list(layer.kernel_size), "stride": list(layer.stride),
        "padding": layer.padding if isinstance(layer.padding, str) else list(layer.padding),
        "dilation": list(layer.dilation), "bias": layer.bias is not None,
    }  # fmt: skip
    if isinstance(layer, nn.ConvTranspose2d):
        entry["output_padding"] = list(layer.output_padding)
    return entry


def block_entry(name: str, block: nn.Module) -> dict[str, Any]:
    hidden, cout, stride = _block_shape(block)
    cin = block.conv1.in_channels  # type: ignore[union-attr]
    return {
        "name": name, "kind": "bottleneck", "block": type(block).__name__, "in_channels": cin,
        "hidden_channels": hidden, "out_channels": cout, "stride": stride, "kernel_size": 1,
    }  # fmt: skip


def build_module(entry: dict[str, Any], ratio: int, dw_kernel: int) -> nn.Module:
    """A freshly initialised Ghost module for one recorded swap."""
    kind = entry["kind"]
    if kind == "bottleneck":
        return GhostBottleneck(
            entry["in_channels"], entry["hidden_channels"], entry["out_channels"], entry["stride"],
            entry["kernel_size"], ratio=ratio, dw_kernel=dw_kernel,
        )  # fmt: skip
    padding = entry["padding"] if isinstance(entry["padding"], str) else tuple(entry["padding"])
    shape = dict(
        kernel_size=tuple(entry["kernel_size"]), stride=tuple(entry["stride"]), padding=padding,
        dilation=tuple(entry["dilation"]), bias=bool(entry["bias"]), ratio=ratio, dw_kernel=dw_kernel,
    )  # fmt: skip
    if kind == "conv":
        return GhostModule(entry["in_channels"], entry["out_channels"], **shape)
    if kind == "deconv":
        return GhostDeconv(entry["in_channels"], entry["out_channels"], output_padding=tuple(entry["output_padding"]), **shape)
    raise UserError(f"checkpoint history step 'ghost' has a layer of unknown kind '{kind}'; upgrade edgepose")


def check_fits(module: nn.Module, entry: dict[str, Any]) -> None:
    """UserError unless `module` is what the recorded swap replaced (same type and channel counts)."""
    kind, name = entry["kind"], entry["name"]
    if kind == "bottleneck":
        ok = type(module).__name__ == entry["block"] and _block_shape(module)[:2] == (
            entry["hidden_channels"], entry["out_channels"])  # fmt: skip
        expected = f"a {entry['block']} of widths {entry['hidden_channels']}/{entry['out_channels']}"
    else:
        kind_type = nn.ConvTranspose2d if kind == "deconv" else nn.Conv2d
        ok = type(module) is kind_type and (module.in_channels, module.out_channels) == (
            entry["in_channels"], entry["out_channels"])  # fmt: skip
        expected = f"{kind_type.__name__}({entry['in_channels']}, {entry['out_channels']})"
    if not ok:
        raise UserError(
            f"checkpoint history step 'ghost': layer {name} is {_describe(module)}, expected {expected}; "
            "the history does not fit this architecture"
        )


def _describe(module: nn.Module) -> str:
    if isinstance(module, LAYER_TYPES):
        return f"{type(module).__name__}({module.in_channels}, {module.out_channels})"
    return type(module).__name__


def get_module(model: nn.Module, name: str, step: str = "ghost") -> nn.Module:
    """Layer `name` of `model`, or a UserError saying the checkpoint history step `step` does not fit it."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise UserError(f"checkpoint history step '{step}' names layer {name}, which this model does not have") from None


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)
