"""ResNet-34 regressor: ResNet-34 trunk (BasicBlock, He et al. 2016) + global average pool + FC -> K x 2.

The project report (shared/references/004, Fig. 6) compares this against DeepPose on LSP; its Keras
version flattens a 3x3 average pool into FC 512, this one pools globally so any input size works.
Output: (B, K, 2), x and y in [0, 1] of the input (linear, see heads.py).
"""

from __future__ import annotations

from torch import Tensor, nn

from edgepose.models.heads import CoordinateHead
from edgepose.models.registry import register_model
from edgepose.models.resnet import ResNet

PAPER = "He, Zhang, Ren & Sun, Deep Residual Learning for Image Recognition, CVPR 2016"


class ResNetRegressor(nn.Module):
    def __init__(self, num_keypoints: int = 14, depth: int = 34, width: float = 1.0):
        super().__init__()
        self.backbone = ResNet(depth, width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = CoordinateHead(self.backbone.out_channels, num_keypoints)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.backbone(x)))


@register_model(
    "resnet34-regression", kind="regression", input_size=(224, 224), schema="lsp14", head="regression",
    description="ResNet-34 + global average pool + FC -> K x 2 coordinates", paper=PAPER,
)  # fmt: skip
def resnet34_regression(num_keypoints: int = 14, width: float = 1.0, depth: int = 34) -> ResNetRegressor:
    """`width` scales the ResNet channels (0.5 for a light CPU variant)."""
    return ResNetRegressor(num_keypoints, depth=depth, width=width)
