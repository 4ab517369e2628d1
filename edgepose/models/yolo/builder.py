"""Build a YOLO-pose network from an Ultralytics-style layer list (plain data, never code).

`YoloPoseNet.model` is an nn.Sequential of the layers, so parameter names are Ultralytics' own
(`model.0.conv.weight`, `model.23.cv4.0.0.conv.weight`) and a checkpoint's weights load by name.
The forward pass routes tensors by each layer's `f` (from) index; it depends only on the structure,
never on the data, so tracers (ONNX export, torch-pruning's DependencyGraph) see one static graph.
"""

from __future__ import annotations

import ast
import copy
import math
from typing import Any

from torch import Tensor, nn

from edgepose.errors import UserError
from edgepose.models.yolo.attention import C2PSA, Attention
from edgepose.models.yolo.blocks import (
    C3,
    SPPF,
    Bottleneck,
    C2f,
    C3Ghost,
    C3k2,
    Concat,
    Conv,
    DWConv,
    GhostBottleneck,
    GhostConv,
)
from edgepose.models.yolo.head import Pose

CHANNEL_BLOCKS: dict[str, type[nn.Module]] = {
    "Conv": Conv, "DWConv": DWConv, "Bottleneck": Bottleneck, "C2f": C2f, "C3": C3, "C3k2": C3k2,
    "SPPF": SPPF, "C2PSA": C2PSA, "GhostConv": GhostConv, "GhostBottleneck": GhostBottleneck, "C3Ghost": C3Ghost,
}  # fmt: skip
REPEATS_INSIDE = {"C2f", "C3", "C3k2", "C3Ghost", "C2PSA"}  # these take the repeat count as their 3rd argument
STRIDED = {"Conv", "DWConv", "GhostConv", "GhostBottleneck"}  # (c1, c2, k, s, ...)
SUPPORTED = sorted([*CHANNEL_BLOCKS, "Concat", "nn.Upsample", "Pose"])


def make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x / divisor) * divisor)


class YoloPoseNet(nn.Module):
    """A single-stage multi-person pose network: backbone + PAN neck + Pose head, raw output only.

    forward: (B, 3, H, W) -> (B, 4*reg_max + nc + 3K, A), A = sum over strides s of (H/s)(W/s).
    """

    def __init__(self, cfg: dict[str, Any], width: float = 1.0):
        super().__init__()
        self.cfg = copy.deepcopy(cfg)
        self.model, self.save, self.strides = parse_layers(self.cfg, width)
        head = self.head
        self.nc, self.kpt_shape, self.reg_max = head.nc, head.kpt_shape, head.reg_max
        self.edgepose_output_layers = head.output_layer_names(f"model.{len(self.model) - 1}")
        # attention reshapes channels into heads, which structured pruning must leave whole
        self.edgepose_prune_ignore = [
            f"{name}.{part}.conv" for name, m in self.named_modules() if isinstance(m, Attention)
            for part in ("qkv", "proj", "pe")
        ]  # fmt: skip
        head.bias_init(self.strides)

    def edgepose_prune_prepare(self) -> dict[str, Any]:
        """Make this network prunable by torch-pruning, in place (C2f blocks split, see prunable.py);
        returns the history step to record before a pruning plan."""
        from edgepose.models.yolo.prunable import SPLIT_STEP, split_c2f

        split_c2f(self)
        return dict(SPLIT_STEP)

    @property
    def head(self) -> Pose:
        return self.model[-1]  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        outputs: list[Tensor | None] = []
        for m in self.model:
            if m.f != -1:
                x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
            x = m(x)
            outputs.append(x if m.i in self.save else None)
        return x


def _resolve_arg(value: Any, names: dict[str, Any]) -> Any:
    """'nc' / 'kpt_shape' -> their values, 'None' / '2' -> literals (ast.literal_eval), other strings kept."""
    if not isinstance(value, str):
        return value
    if value in names:
        return names[value]
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _check_row(row: Any, index: int) -> tuple[Any, int, str, list[Any]]:
    if not (isinstance(row, (list, tuple)) and len(row) == 4):
        raise UserError(f"yolo layer {index} should be [from, repeats, module, args], got {row!r}")
    f, n, name, args = row
    if not (isinstance(f, int) or (isinstance(f, (list, tuple)) and all(isinstance(j, int) for j in f))):
        raise UserError(f"yolo layer {index}: 'from' must be an int or a list of ints, got {f!r}")
    if not isinstance(n, int) or n < 1 or not isinstance(name, str) or not isinstance(args, (list, tuple)):
        raise UserError(f"yolo layer {index} is malformed: {row!r}")
    if name not in SUPPORTED:
        raise UserError(f"yolo layer {index} uses module '{name}', which edgepose does not implement "
                        f"(supported: {', '.join(SUPPORTED)})")  # fmt: skip
    return (list(f) if isinstance(f, (list, tuple)) else f), n, name, list(args)


def scale_of(cfg: dict[str, Any]) -> tuple[str, float, float, float]:
    """(scale letter, depth multiple, width multiple, max channels) of a layer list."""
    scales = cfg.get("scales")
    if scales:
        scale = cfg.get("scale") or next(iter(scales))
        if scale not in scales:
            raise UserError(f"yolo config has no scale '{scale}' (has {', '.join(scales)})")
        depth, width, max_channels = scales[scale]
        return str(scale), float(depth), float(width), float(max_channels)
    return "", float(cfg.get("depth_multiple", 1.0)), float(cfg.get("width_multiple", 1.0)), math.inf


def parse_layers(cfg: dict[str, Any], width_mult: float = 1.0) -> tuple[nn.Sequential, list[int], tuple[float, ...]]:
    """(layers, indices whose outputs are kept for later layers, head strides) from a layer list.

    Mirrors Ultralytics' parse_model for the modules above: channels scaled by the width multiple
    (rounded up to a multiple of 8, capped at max channels), repeats by the depth multiple.
    `width_mult` scales widths further (the zoo's `width` knob; 1.0 for checkpoints).
    """
    if cfg.get("activation"):
        raise UserError(f"yolo config sets activation {cfg['activation']!r}; edgepose builds SiLU layers only")
    nc = int(cfg.get("nc", 1))
    kpt_shape = tuple(int(v) for v in cfg.get("kpt_shape", (17, 3)))
    scale, depth, width, max_channels = scale_of(cfg)
    width *= width_mult
    rows = list(cfg.get("backbone") or []) + list(cfg.get("head") or [])
    if not rows:
        raise UserError("yolo config has no layers (backbone + head)")
    legacy = True
    channels: list[int] = [int(cfg.get("ch", 3))]
    strides: list[float] = []
    layers: list[nn.Module] = []
    save: list[int] = []
    head_strides: tuple[float, ...] = ()
    for i, row in enumerate(rows):
        f, n, name, args = _check_row(row, i)
        args = [_resolve_arg(a, {"nc": nc, "kpt_shape": list(kpt_shape)}) for a in args]
        n = max(round(n * depth), 1) if n > 1 else n
        sources = [f] if isinstance(f, int) else f
        in_stride = strides[sources[0]] if strides else 1.0  # index -1: the previous layer
        stride = in_stride
        if name in CHANNEL_BLOCKS:
            c1, c2 = channels[f], args[0]
            if c2 != nc:
                c2 = make_divisible(min(c2, max_channels) * width, 8)
            args = [c1, c2, *args[1:]]
            if name in REPEATS_INSIDE:
                args.insert(2, n)
                n = 1
            if name == "C3k2":
                legacy = False
                if scale in ("m", "l", "x"):
                    args[3] = True
            if name in STRIDED and len(args) > 3:
                stride = in_stride * int(args[3])
            module: nn.Module = _repeat(CHANNEL_BLOCKS[name], args, n)
        elif name == "Concat":
            c2 = sum(channels[x] for x in f)
            module = Concat(*args)
        elif name == "nn.Upsample":
            c2 = channels[f]
            size, factor, mode = (args + [None, None, "nearest"][len(args) :])[:3]
            module = nn.Upsample(size=size, scale_factor=factor, mode=mode)
            stride = in_stride / float(factor)
        else:  # Pose: the last layer
            if i != len(rows) - 1:
                raise UserError(f"yolo layer {i}: the Pose head must be the last layer")
            head_strides = tuple(strides[x] for x in sources)
            module = Pose(args[0], tuple(args[1]), tuple(channels[x] for x in sources), legacy=legacy)
            c2 = 0
        module.i, module.f = i, f
        save.extend(x % i for x in sources if x != -1)
        layers.append(module)
        if i == 0:
            channels = []
        channels.append(c2)
        strides.append(stride)
    if not isinstance(layers[-1], Pose):
        raise UserError("yolo config must end with a Pose head")
    return nn.Sequential(*layers), sorted(save), head_strides


def _repeat(cls: type[nn.Module], args: list[Any], n: int) -> nn.Module:
    try:
        return nn.Sequential(*(cls(*args) for _ in range(n))) if n > 1 else cls(*args)
    except (TypeError, ValueError) as exc:
        raise UserError(f"yolo layer {cls.__name__}{tuple(args)} cannot be built: {exc}") from None
