"""Initialising Ghost modules from the layers they replace, so that fine-tuning starts close.

Primary (filter space, no data needed): a Ghost module's layout makes output channels
{i, i+m, ..., i+(s-1)m} from intrinsic channel i. Each such group of original filters is replaced by
its best weighted rank-1 approximation F_g ~ a f_i^T, weighted by how much each channel matters
downstream (|gamma| / sigma of the BatchNorm that reads it, else 1 / std of its output): the intrinsic
filter f_i is the group's dominant direction (the most important filter when the group's filters are
unrelated, their shared part when they are alike) and the cheap depthwise kernels start as centre taps a.
With calibration inputs, ghost_fit.py then refits both by least squares on real activations.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgepose.models.ghost import GhostBottleneck, GhostDeconv, GhostModule
from edgepose.models.resnet import BasicBlock, Bottleneck

GhostLayer = GhostModule | GhostDeconv
MIN_INTRINSIC_SHARE = 0.2  # below this |u_0|, the rank-1 direction ignores the intrinsic channel: keep its filter


def filter_matrix(layer: nn.Conv2d | nn.ConvTranspose2d) -> Tensor:
    """One row per output channel: the flattened filter that produces it."""
    weight = layer.weight.detach()
    if isinstance(layer, nn.ConvTranspose2d):
        weight = weight.transpose(0, 1)
    return weight.reshape(weight.shape[0], -1).clone()


def set_filters(layer: nn.Conv2d | nn.ConvTranspose2d, rows: Tensor) -> None:
    with torch.no_grad():
        if isinstance(layer, nn.ConvTranspose2d):
            shape = layer.weight.transpose(0, 1).shape
            layer.weight.copy_(rows.reshape(shape).transpose(0, 1))
        else:
            layer.weight.copy_(rows.reshape(layer.weight.shape))


def bn_weights(bn: nn.BatchNorm2d | None, channels: int) -> Tensor:
    """|gamma| / sigma of a BatchNorm: how strongly each of its input channels reaches the next layer."""
    if bn is None or bn.running_var is None or bn.num_features != channels:
        return torch.ones(channels)
    gamma = bn.weight.detach().abs() if bn.weight is not None else torch.ones(channels)
    return gamma / torch.sqrt(bn.running_var.detach() + bn.eps)


def rank1_groups(filters: Tensor, weights: Tensor, intrinsic: int, ratio: int) -> tuple[Tensor, Tensor]:
    """Intrinsic filters (m, n) and centre-tap coefficients (s-1, m) for the Ghost channel layout."""
    n_out, size = filters.shape
    total = intrinsic * ratio
    rows = torch.zeros(total, size, dtype=filters.dtype)
    rows[:n_out] = filters
    w = torch.zeros(total, dtype=filters.dtype)
    w[:n_out] = weights.to(filters.dtype)
    groups = rows.view(ratio, intrinsic, size).transpose(0, 1)  # (m, s, n): group i = rows i, i+m, ...
    gw = w.view(ratio, intrinsic).T  # (m, s)
    u, s, vh = torch.linalg.svd(gw[..., None] * groups, full_matrices=False)
    coef = u[:, :, 0] * s[:, :1] / gw.clamp_min(1e-12)  # rows ~ coef_k * v
    coef = torch.where(gw > 0, coef, torch.zeros_like(coef))
    intrinsic_filters = coef[:, :1] * vh[:, 0, :]
    scale = coef[:, 1:] / coef[:, :1].where(coef[:, :1].abs() > 1e-12, torch.ones_like(coef[:, :1]))
    keep = (u[:, 0, 0].abs() < MIN_INTRINSIC_SHARE) | (gw[:, 0] <= 0) | (coef[:, 0].abs() <= 1e-12)
    if keep.any():  # keep the intrinsic channel's own filter; ghosts start as its least-squares scale
        own = groups[keep, 0]
        intrinsic_filters[keep] = own
        norm = (own * own).sum(-1, keepdim=True).clamp_min(1e-12)
        scale[keep] = (groups[keep, 1:] * own[:, None]).sum(-1) / norm
    return intrinsic_filters, scale.T.contiguous()


def init_ghost(ghost: GhostLayer, filters: Tensor, bias: Tensor | None, weights: Tensor) -> None:
    """Data-free init: rank-1 groups for the primary, centre taps (and matching biases) for the cheap ops."""
    m = ghost.primary.out_channels
    ratio = len(ghost.cheap) + 1
    f, a = rank1_groups(filters, weights, m, ratio)
    set_filters(ghost.primary, f)
    n_out = filters.shape[0]
    full_bias = torch.zeros(m * ratio)
    if bias is not None:
        full_bias[:n_out] = bias.detach()
    with torch.no_grad():
        if ghost.primary.bias is not None:
            ghost.primary.bias.copy_(full_bias[:m])
        for k, cheap in enumerate(ghost.cheap):
            d = cheap.kernel_size[0]
            cheap.weight.zero_()
            cheap.weight[:, 0, d // 2, d // 2] = a[k]
            if cheap.bias is not None:
                cheap.bias.copy_(full_bias[(k + 1) * m : (k + 2) * m] - a[k] * full_bias[:m])


def naive_init(ghost: GhostLayer, filters: Tensor, bias: Tensor | None) -> None:
    """The baseline to beat: the first m original filters as they are, cheap ops at PyTorch's default."""
    m = ghost.primary.out_channels
    set_filters(ghost.primary, filters[:m])
    if bias is not None and ghost.primary.bias is not None:
        with torch.no_grad():
            ghost.primary.bias.copy_(bias.detach()[:m])


def output_weights(bn: nn.BatchNorm2d | None, target: Tensor | None, channels: int) -> Tensor:
    """Per-channel importance: from the BatchNorm that reads the layer, else 1 / std of its output."""
    if bn is not None:
        return bn_weights(bn, channels)
    if target is not None:
        return 1.0 / target.transpose(0, 1).flatten(1).std(dim=1).clamp_min(1e-6)
    return torch.ones(channels)


# ---- Ghost bottlenecks: inherit what has a counterpart in the ResNet block, identity elsewhere ----


def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d) -> None:
    dst.load_state_dict(src.state_dict())


def _identity_bn(bn: nn.BatchNorm2d) -> None:
    with torch.no_grad():
        bn.weight.fill_(1.0)
        bn.bias.zero_()
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)


def _identity_depthwise(conv: nn.Conv2d) -> None:
    d = conv.kernel_size[0]
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, 0, d // 2, d // 2] = 1.0


def _centre_taps(conv: nn.Conv2d) -> Tensor:
    kh, kw = conv.kernel_size
    return conv.weight.detach()[:, :, kh // 2, kw // 2].clone()


@torch.no_grad()
def inherit_block(new: GhostBottleneck, old: BasicBlock | Bottleneck) -> None:
    """Start a Ghost bottleneck from a ResNet block: 1x1 primaries from the convs' centre taps (their
    whole filters for 1x1 convs), the stride-2 depthwise from the 3x3 conv's diagonal (Bottleneck),
    BatchNorms and the projection shortcut copied. Only a start: this mode needs real fine-tuning."""
    if isinstance(old, Bottleneck):
        first, first_bn, second, second_bn = old.conv1, old.bn1, old.conv3, old.bn3
        spatial: tuple[nn.Conv2d, nn.BatchNorm2d] | None = (old.conv2, old.bn2)
    else:
        first, first_bn, second, second_bn = old.conv1, old.bn1, old.conv2, old.bn2
        spatial = None
    init_ghost(new.ghost1, _centre_taps(first), None, bn_weights(first_bn, first.out_channels))
    _copy_bn(new.bn1, first_bn)
    if new.dw is not None:
        conv, bn = new.dw[0], new.dw[1]
        if spatial is not None and spatial[0].kernel_size == conv.kernel_size:
            index = torch.arange(conv.out_channels)
            conv.weight.copy_(spatial[0].weight[index, index][:, None])
            _copy_bn(bn, spatial[1])
        else:
            _identity_depthwise(conv)
            _identity_bn(bn)
    init_ghost(new.ghost2, _centre_taps(second), None, bn_weights(second_bn, second.out_channels))
    _copy_bn(new.bn2, second_bn)
    if new.shortcut is not None:
        _identity_depthwise(new.shortcut[0])
        _identity_bn(new.shortcut[1])
        if old.downsample is not None and old.downsample[0].kernel_size == (1, 1):
            new.shortcut[2].weight.copy_(old.downsample[0].weight)
            _copy_bn(new.shortcut[3], old.downsample[1])
