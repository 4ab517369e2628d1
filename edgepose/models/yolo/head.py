"""The anchor-free YOLO Pose head, returning raw outputs only (decoding lives in edgepose.deploy.yolo_decode).

Per stride level i: cv2[i] -> 4 * reg_max box-distance logits (DFL bins), cv3[i] -> nc class logits,
cv4[i] -> K * 3 keypoint values (x, y offsets and a visibility logit). Output (B, 4*reg_max + nc + 3K, A):
channels in that order, anchors level by level, row-major within a level (Ultralytics' order).
Ultralytics' DFL module is a fixed softmax-expectation; it is part of the numpy decode, not the graph.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgepose.models.yolo.blocks import Conv, DWConv

REG_MAX = 16


class Pose(nn.Module):
    """Detect (cv2 boxes, cv3 classes) + cv4 keypoints; `legacy` (YOLOv8) uses plain 3x3 convs in cv3,
    YOLO11 (not legacy) a depthwise + pointwise pair."""

    def __init__(self, nc: int = 1, kpt_shape: tuple[int, int] = (17, 3), ch: tuple[int, ...] = (),
                 legacy: bool = True, reg_max: int = REG_MAX):  # fmt: skip
        super().__init__()
        self.nc, self.nl, self.reg_max = nc, len(ch), reg_max
        self.kpt_shape = (int(kpt_shape[0]), int(kpt_shape[1]))
        self.nk = self.kpt_shape[0] * self.kpt_shape[1]
        self.legacy = legacy
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        c4 = max(ch[0] // 4, self.nk)
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1)) for x in ch)
        if legacy:
            self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        else:
            self.cv3 = nn.ModuleList(
                nn.Sequential(
                    nn.Sequential(DWConv(x, x, 3), Conv(x, c3, 1)),
                    nn.Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
                    nn.Conv2d(c3, nc, 1),
                )
                for x in ch
            )
        self.cv4 = nn.ModuleList(nn.Sequential(Conv(x, c4, 3), Conv(c4, c4, 3), nn.Conv2d(c4, self.nk, 1)) for x in ch)

    @property
    def num_outputs(self) -> int:
        return 4 * self.reg_max + self.nc + self.nk

    def output_layer_names(self, prefix: str) -> list[str]:
        """The final 1x1 convs of every branch: the decode-sensitive layers passes keep intact / in float."""
        return [f"{prefix}.{branch}.{i}.2" for branch in ("cv2", "cv3", "cv4") for i in range(self.nl)]

    def bias_init(self, strides: tuple[float, ...], input_size: int = 640) -> None:
        """Ultralytics' prior: box logits 1, class logit for ~5 objects per 640 image per level."""
        import math

        for box, cls, s in zip(self.cv2, self.cv3, strides, strict=True):
            nn.init.constant_(box[-1].bias, 1.0)
            nn.init.constant_(cls[-1].bias, math.log(5 / self.nc / (input_size / s) ** 2))

    def forward(self, xs: list[Tensor]) -> Tensor:
        levels = []
        for i in range(self.nl):
            x = xs[i]
            levels.append(torch.cat((self.cv2[i](x), self.cv3[i](x), self.cv4[i](x)), 1).flatten(2))
        return torch.cat(levels, 2)
