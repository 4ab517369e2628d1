"""Making yolopose networks prunable by torch-pruning: C2f / C3k2 with the first conv split in two.

C2f chunks one conv's output in halves and concatenates both halves (one of them also feeds the
bottlenecks); torch-pruning maps channel indices through that pattern wrongly and crashes with an
IndexError (Torch-Pruning #302 / #505; its YOLOv8 example swaps in a "C2f_v2"). `split_c2f` replaces
every C2f-like block by `C2fSplit`, with the same weights and outputs, and is recorded as the history
step "yolo-split-c2f" (replayed by edgepose.models.rewrites.yolo_split) so a pruned checkpoint replays it
before its pruning plan.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgepose.models.yolo.blocks import C2f, Conv

SPLIT_STEP = {"step": "yolo-split-c2f"}


class C2fSplit(nn.Module):
    """C2f with cv1 as two convs, cv0 (first half) and cv1 (second half): the same function, prunable."""

    def __init__(self, block: C2f):
        super().__init__()
        self.c = block.c
        self.cv0, self.cv1 = _half(block.cv1, 0, block.c), _half(block.cv1, block.c, 2 * block.c)
        self.cv2, self.m = block.cv2, block.m
        for attr in ("i", "f"):
            if hasattr(block, attr):
                setattr(self, attr, getattr(block, attr))

    def forward(self, x: Tensor) -> Tensor:
        y = [self.cv0(x), self.cv1(x)]
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


def _half(conv: Conv, start: int, stop: int) -> Conv:
    """A Conv computing output channels [start, stop) of `conv` (weights and BN statistics copied)."""
    c1, k = conv.conv.in_channels, conv.conv.kernel_size[0]
    half = Conv(c1, stop - start, k, conv.conv.stride[0], g=conv.conv.groups)
    half.conv.weight.data = conv.conv.weight.data[start:stop].clone()
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(half.bn, name).data = getattr(conv.bn, name).data[start:stop].clone()
    half.bn.num_batches_tracked.data = conv.bn.num_batches_tracked.data.clone()
    half.bn.eps, half.bn.momentum, half.act = conv.bn.eps, conv.bn.momentum, conv.act
    return half.train(conv.training)


def split_c2f(model: nn.Module) -> nn.Module:
    """Replace every C2f / C3k2 in `model` (in place) by its C2fSplit twin; returns the model."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, C2f):
                setattr(parent, name, C2fSplit(child))
    return model
