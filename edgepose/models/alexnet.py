"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) trunk with a coordinate-regression head.

Krizhevsky's single-tower layout: 11x11/4 (96) - P - 5x5 (256) - P - 3x3 (384) - 3x3 (384) - 3x3 (256) - P,
with 3x3/2 overlapping max-pools, ReLU, no LRN (later work found it adds nothing; torchvision drops it
too), then FC 4096 - 4096 with dropout 0.5 and a K x 2 output. The conv widths are the project report's
AlexNet (shared/references/004, Fig. 7); the report adds BatchNorm, this plain version does not.
At 224x224 the flatten is 6x6x256 = 9216. The builder takes `input_size` for the FC input size.
"""

from __future__ import annotations

from torch import Tensor, nn

from edgepose.models.heads import CoordinateHead, check_feature_size, conv_out, scaled
from edgepose.models.registry import register_model

ARCH = "alexnet-regression"
PAPER = "Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep Convolutional Neural Networks, NeurIPS 2012"
DEFAULT_INPUT_SIZE = (224, 224)


class AlexNetTrunk(nn.Module):
    """The five AlexNet conv layers and three max-pools; output stride 32 (plus floor effects)."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        c1, c2, c3, c4, c5 = (scaled(c, width) for c in (96, 256, 384, 384, 256))
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )  # fmt: skip
        self.out_channels = c5
        for m in self.features.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    @staticmethod
    def feature_size(size: int) -> int:
        """Output height (or width) for an input of `size` pixels."""
        size = conv_out(conv_out(size, 11, 4, 2), 3, 2)
        return conv_out(conv_out(size, 3, 2), 3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


class AlexNetRegressor(nn.Module):
    def __init__(
        self, num_keypoints: int = 14, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
        width: float = 1.0, fc_dim: int | None = None, dropout: float = 0.5,
    ):  # fmt: skip
        super().__init__()
        self.backbone = AlexNetTrunk(width)
        feature_hw = (AlexNetTrunk.feature_size(input_size[0]), AlexNetTrunk.feature_size(input_size[1]))
        check_feature_size(ARCH, input_size, feature_hw)
        fc = fc_dim if fc_dim is not None else scaled(4096, width)
        flat = self.backbone.out_channels * feature_hw[0] * feature_hw[1]
        self.head = CoordinateHead(flat, num_keypoints, hidden=(fc, fc), dropout=dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


@register_model(
    ARCH, kind="regression", input_size=DEFAULT_INPUT_SIZE, schema="lsp14", head="regression",
    description="AlexNet convs + FC 4096-4096 (dropout) -> K x 2 coordinates", paper=PAPER,
)  # fmt: skip
def alexnet_regression(
    num_keypoints: int = 14, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE, width: float = 1.0,
    fc_dim: int | None = None, dropout: float = 0.5,
) -> AlexNetRegressor:  # fmt: skip
    """`width` scales conv channels and the FC size (4096 x width unless `fc_dim` is given)."""
    return AlexNetRegressor(num_keypoints, tuple(input_size), width=width, fc_dim=fc_dim, dropout=dropout)
