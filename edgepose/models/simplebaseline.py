"""SimpleBaselines (Xiao et al. 2018): ResNet + three 4x4 stride-2 deconvs + 1x1 heatmap head.

Heatmaps come out at 1/4 of the input size.
"""

from __future__ import annotations

from torch import Tensor, nn

from edgepose.models.registry import register_model
from edgepose.models.resnet import ResNet


class SimpleBaseline(nn.Module):
    def __init__(
        self, num_keypoints: int = 17, depth: int = 50, width: float = 1.0,
        deconv_channels: int = 256, num_deconv: int = 3,
    ):  # fmt: skip
        super().__init__()
        self.backbone = ResNet(depth, width)
        layers: list[nn.Module] = []
        cin = self.backbone.out_channels
        for _ in range(num_deconv):
            layers += [
                nn.ConvTranspose2d(cin, deconv_channels, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(deconv_channels),
                nn.ReLU(inplace=True),
            ]
            cin = deconv_channels
        self.deconv = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, num_keypoints, 1)
        for m in self.deconv.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.deconv(self.backbone(x)))


_PAPER = "Xiao, Wu & Wei, Simple Baselines for Human Pose Estimation and Tracking, ECCV 2018"

for _depth in (18, 34, 50):

    def _builder(num_keypoints: int = 17, _depth: int = _depth, **kwargs) -> SimpleBaseline:  # noqa: ANN003
        return SimpleBaseline(num_keypoints, depth=kwargs.pop("depth", _depth), **kwargs)

    register_model(
        f"simplebaseline-resnet{_depth}", kind="heatmap", input_size=(256, 192), schema="coco17",
        head="heatmap", description=f"ResNet-{_depth} + 3 deconv + 1x1 heatmaps", paper=_PAPER,
    )(_builder)  # fmt: skip


@register_model(
    "simplebaseline-lite", kind="heatmap", input_size=(128, 96), schema="coco17", head="heatmap",
    description="ResNet-18 at half width + 3x128 deconv: the CPU demo model", paper=_PAPER,
)  # fmt: skip
def simplebaseline_lite(num_keypoints: int = 17, **kwargs) -> SimpleBaseline:  # noqa: ANN003
    kwargs = {"depth": 18, "width": 0.5, "deconv_channels": 128, **kwargs}
    return SimpleBaseline(num_keypoints, **kwargs)
