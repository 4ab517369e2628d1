"""Ghost building blocks (Han et al., GhostNet, CVPR 2020; shared/references/003, eqs. 1-3).

A Ghost module makes m = ceil(n/s) "intrinsic" channels with an ordinary convolution and the other
n - m "ghost" channels with cheap depthwise d x d convolutions of the intrinsic ones, which cuts the
layer's FLOPs by about s when d*d is small next to c*k*k (eq. 3).

`GhostModule` and `GhostDeconv` are linear drop-ins for a bare `nn.Conv2d` / `nn.ConvTranspose2d`:
same input and output shapes, no BatchNorm or activation inside, because the layer they replace is
normally followed by its own BN + ReLU, which stay in the model and keep their meaning. Output
channel layout: [intrinsic 0..m-1 | ghosts of intrinsic 0..m-1 from cheap[0] | from cheap[1] | ...],
so channel i + k*m is made from intrinsic i. That layout is fixed (no run-time permutation, a plain
Conv + Conv(group) + Concat graph that ONNX Runtime, OpenVINO, TensorRT and torch-pruning all follow);
the Ghost pass initialises the weights to fit it.

FLOPs (2 x MACs, batch 1, output H' x W', bias ignored), with m = n / s:
    conv:   2*m*c*k*k*H'W' + 2*(s-1)*m*d*d*H'W'        vs  2*n*c*k*k*H'W'
    deconv: 2*m*c*k*k*H*W  + 2*(s-1)*m*d*d*H'W'        vs  2*n*c*k*k*H*W   (H' = stride*H)
so the deconv's ratio is s*c*k*k / (c*k*k + (s-1)*d*d*stride^2) (1.97 for c=128, k=4, s=2, d=3).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

IntPair = int | tuple[int, int]


class _GhostBase(nn.Module):
    """primary -> cheap depthwise ops on its output -> concat (-> first `out_channels` channels)."""

    primary: nn.Module
    cheap: nn.ModuleList
    trim: int | None  # out_channels when it is not intrinsic * ratio, else None (no Slice node)

    def _make_cheap(self, intrinsic: int, ratio: int, dw_kernel: int, bias: bool) -> nn.ModuleList:
        # one true depthwise conv (groups == in == out) per ghost set: torch-pruning follows these,
        # while a single channel-multiplier conv (out = (s-1)*m, groups = m) it does not
        return nn.ModuleList(
            nn.Conv2d(intrinsic, intrinsic, dw_kernel, 1, dw_kernel // 2, groups=intrinsic, bias=bias)
            for _ in range(ratio - 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.primary(x)
        out = torch.cat([y, *(cheap(y) for cheap in self.cheap)], dim=1)
        if self.trim is not None:
            out = out[:, : self.trim]
        return out


def _check(ratio: int, dw_kernel: int, out_channels: int) -> int:
    if ratio < 2:
        raise ValueError(f"Ghost ratio must be at least 2, got {ratio}")
    if dw_kernel < 1 or dw_kernel % 2 == 0:
        raise ValueError(f"Ghost depthwise kernel must be odd (it keeps the size), got {dw_kernel}")
    return math.ceil(out_channels / ratio)


class GhostModule(_GhostBase):
    """A linear drop-in for `nn.Conv2d(in, out, kernel, stride, padding, dilation, bias=bias)` (groups 1).

    When `out_channels` is not a multiple of `ratio`, the last ghosts are cut off (a Slice in the graph).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: IntPair = 1, stride: IntPair = 1,
        padding: IntPair | str = 0, dilation: IntPair = 1, bias: bool = False, ratio: int = 2, dw_kernel: int = 3,
    ):  # fmt: skip
        super().__init__()
        intrinsic = _check(ratio, dw_kernel, out_channels)
        self.primary = nn.Conv2d(in_channels, intrinsic, kernel_size, stride, padding, dilation, bias=bias)
        self.cheap = self._make_cheap(intrinsic, ratio, dw_kernel, bias)
        self.trim = out_channels if intrinsic * ratio != out_channels else None


class GhostDeconv(_GhostBase):
    """A linear drop-in for `nn.ConvTranspose2d`: a primary transposed conv makes the m intrinsic
    channels at the output resolution, cheap depthwise d x d convs make the ghosts there."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: IntPair = 4, stride: IntPair = 2,
        padding: IntPair = 1, output_padding: IntPair = 0, dilation: IntPair = 1, bias: bool = False,
        ratio: int = 2, dw_kernel: int = 3,
    ):  # fmt: skip
        super().__init__()
        intrinsic = _check(ratio, dw_kernel, out_channels)
        self.primary = nn.ConvTranspose2d(
            in_channels, intrinsic, kernel_size, stride, padding, output_padding, bias=bias, dilation=dilation
        )
        self.cheap = self._make_cheap(intrinsic, ratio, dw_kernel, bias)
        self.trim = out_channels if intrinsic * ratio != out_channels else None


class GhostBottleneck(nn.Module):
    """GhostNet's bottleneck: Ghost module (expand) + BN + ReLU, [depthwise stride-2 conv + BN],
    Ghost module (project) + BN, plus a shortcut; ReLU after the sum, as in the ResNet block it replaces.

    Shortcut: identity when shapes agree, else depthwise (stride) + BN + 1x1 conv + BN (GhostNet).
    `kernel_size` is the primary convs' kernel (1 in GhostNet; spatial context comes from the cheap ops).
    """

    def __init__(
        self, in_channels: int, hidden_channels: int, out_channels: int, stride: int = 1, kernel_size: int = 1,
        ratio: int = 2, dw_kernel: int = 3,
    ):  # fmt: skip
        super().__init__()
        pad = kernel_size // 2
        self.ghost1 = GhostModule(in_channels, hidden_channels, kernel_size, 1, pad, ratio=ratio, dw_kernel=dw_kernel)
        self.bn1 = nn.BatchNorm2d(hidden_channels)
        self.relu = nn.ReLU(inplace=True)
        self.dw: nn.Sequential | None = None
        if stride > 1:
            self.dw = nn.Sequential(
                nn.Conv2d(hidden_channels, hidden_channels, dw_kernel, stride, dw_kernel // 2,
                          groups=hidden_channels, bias=False),
                nn.BatchNorm2d(hidden_channels),
            )  # fmt: skip
        self.ghost2 = GhostModule(hidden_channels, out_channels, kernel_size, 1, pad, ratio=ratio, dw_kernel=dw_kernel)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Sequential | None = None
        if stride > 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, in_channels, dw_kernel, stride, dw_kernel // 2, groups=in_channels, bias=False),
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.ghost1(x)))
        if self.dw is not None:
            out = self.dw(out)
        out = self.bn2(self.ghost2(out))
        return self.relu(out + (x if self.shortcut is None else self.shortcut(x)))


GHOST_TYPES = (GhostModule, GhostDeconv, GhostBottleneck)


def ghost_flops_ratio(in_channels: int, kernel_area: int, ratio: int, dw_kernel: int, upsample: int = 1) -> float:
    """Original / Ghost FLOPs of one layer (eq. 3; `upsample` = stride^2 for a deconv)."""
    dense = in_channels * kernel_area
    return ratio * dense / (dense + (ratio - 1) * dw_kernel * dw_kernel * upsample)
