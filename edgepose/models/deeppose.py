"""DeepPose (Toshev & Szegedy 2014): an AlexNet-style CNN that regresses joint coordinates directly.

Layers follow the project report's table (shared/references/004, Fig. 3), which is DeepPose at half
AlexNet width with BatchNorm after the first two convs:
C(11x11/4, 48, valid) Bn A P - C(11x11, 128, same) Bn A P - C(3x3, 192) A - C(3x3, 192) A -
C(3x3, 128) A P - F(4096) - F(4096) - F(K x 2), with 2x2/2 max-pools. At 100x100 the flatten is
2x2x128 = 512 and every conv/FC parameter count equals the report's; the report trains one 2-output
net per joint, this is one net with K x 2 outputs. The FC input size depends on the input size, so the
builder takes `input_size`. Output: (B, K, 2), x and y in [0, 1] of the input (linear, see heads.py).
"""

from __future__ import annotations

from torch import Tensor, nn

from edgepose.models.heads import CoordinateHead, check_feature_size, conv_out, scaled
from edgepose.models.registry import register_model

ARCH = "deeppose-alexnet"
PAPER = "Toshev & Szegedy, DeepPose: Human Pose Estimation via Deep Neural Networks, CVPR 2014"
DEFAULT_INPUT_SIZE = (220, 220)


class DeepPose(nn.Module):
    def __init__(
        self, num_keypoints: int = 14, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
        width: float = 1.0, fc_dim: int | None = None,
    ):  # fmt: skip
        super().__init__()
        c1, c2, c3, c4, c5 = (scaled(c, width) for c in (48, 128, 192, 192, 128))
        self.backbone = nn.Sequential(
            nn.Conv2d(3, c1, 11, stride=4), nn.BatchNorm2d(c1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 11, padding=5), nn.BatchNorm2d(c2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )  # fmt: skip
        feature_hw = tuple(
            conv_out(conv_out(conv_out(conv_out(s, 11, 4), 2, 2), 2, 2), 2, 2) for s in input_size
        )
        check_feature_size(ARCH, input_size, feature_hw)
        fc = fc_dim if fc_dim is not None else scaled(4096, width)
        self.head = CoordinateHead(c5 * feature_hw[0] * feature_hw[1], num_keypoints, hidden=(fc, fc))
        for m in self.backbone.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


@register_model(
    ARCH, kind="regression", input_size=DEFAULT_INPUT_SIZE, schema="lsp14", head="regression",
    description="DeepPose: AlexNet-style convs + BN, FC 4096-4096 -> K x 2 coordinates", paper=PAPER,
)  # fmt: skip
def deeppose_alexnet(
    num_keypoints: int = 14, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE, width: float = 1.0,
    fc_dim: int | None = None,
) -> DeepPose:  # fmt: skip
    """`width` scales conv channels and the FC size (4096 x width unless `fc_dim` is given)."""
    return DeepPose(num_keypoints, tuple(input_size), width=width, fc_dim=fc_dim)
