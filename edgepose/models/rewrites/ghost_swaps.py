"""The Ghost step: recorded conv / deconv / block swaps rebuilt as fresh Ghost modules (weights from the state_dict).

A swap is a plain dict (it goes into the checkpoint history, loaded with weights_only=True):
    {"name": "backbone.layer1.0.conv1", "kind": "conv", "in_channels": 32, "out_channels": 32,
     "kernel_size": [3, 3], "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "bias": false}
"deconv" adds "output_padding"; "bottleneck" is {"name", "kind", "block", "in_channels",
"hidden_channels", "out_channels", "stride", "kernel_size"}. The step is
    {"step": "ghost", "ratio": s, "dw_kernel": d, "layers": [swap, ...]}
`build_module` turns one swap into a freshly initialised module, for the pass and for the replay alike, so
both build the same thing.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from edgepose.errors import UserError
from edgepose.models.ghost import GhostBottleneck, GhostDeconv, GhostModule
from edgepose.models.resnet import BasicBlock, Bottleneck
from edgepose.models.rewrites.replay import register_replay
from edgepose.models.rewrites.surgery import get_module, set_module

LAYER_TYPES = (nn.Conv2d, nn.ConvTranspose2d)
BLOCK_TYPES = (BasicBlock, Bottleneck)


def block_shape(block: nn.Module) -> tuple[int, int, int]:
    if isinstance(block, Bottleneck):
        return block.conv1.out_channels, block.conv3.out_channels, block.conv2.stride[0]
    assert isinstance(block, BasicBlock)
    return block.conv1.out_channels, block.conv2.out_channels, block.conv1.stride[0]


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
    hidden, cout, stride = block_shape(block)
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
        ok = type(module).__name__ == entry["block"] and block_shape(module)[:2] == (
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


@register_replay("ghost")
def replay_ghost(model: nn.Module, step: dict[str, Any]) -> nn.Module:
    """Swap in the recorded Ghost modules (fresh weights: the checkpoint's state_dict fills them)."""
    ratio, dw_kernel = int(step["ratio"]), int(step["dw_kernel"])
    for entry in step["layers"]:
        check_fits(get_module(model, entry["name"]), entry)
        set_module(model, entry["name"], build_module(entry, ratio, dw_kernel))
    return model
