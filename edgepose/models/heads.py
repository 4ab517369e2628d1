"""Coordinate-regression pieces shared by the regression and temporal models.

Output convention (ModelSpec, head "regression"): (B, K, 2) with x then y as fractions of the input
width and height. The last layer is linear (no sigmoid), as in DeepPose: its bias starts at 0.5 so an
untrained model points at the image centre, and a trained one may stray just outside [0, 1] for
joints near or past the border; decoders clip where they need to.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from edgepose.errors import UserError


class CoordinateHead(nn.Module):
    """Flat features -> optional hidden FC layers (ReLU, dropout) -> K x 2 coordinates."""

    def __init__(
        self, in_features: int, num_keypoints: int, hidden: Sequence[int] = (), dropout: float = 0.0
    ):  # fmt: skip
        super().__init__()
        self.num_keypoints = num_keypoints
        layers: list[nn.Module] = []
        cin = in_features
        for width in hidden:
            layers += [nn.Linear(cin, width), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            cin = width
        self.fc = nn.Sequential(*layers)
        self.out = nn.Linear(cin, num_keypoints * 2)
        init_coordinate_layer(self.out)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.fc(x.flatten(1))).view(-1, self.num_keypoints, 2)


def init_coordinate_layer(layer: nn.Linear) -> None:
    """Small weights and a 0.5 bias: predictions start near the image centre."""
    nn.init.normal_(layer.weight, std=0.01)
    nn.init.constant_(layer.bias, 0.5)


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Spatial size after a conv or pool layer (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


def check_feature_size(arch: str, input_size: tuple[int, int], feature_hw: tuple[int, int]) -> None:
    """A clear error when the input is too small for the conv stack in front of a flatten + FC head."""
    if min(feature_hw) < 1:
        h, w = input_size
        raise UserError(
            f"{arch}: input {h}x{w} is too small for its conv stack (no pixels left before the FC)"
        )


def scaled(channels: int, width: float) -> int:
    """`channels` times the width multiplier, at least 8."""
    return max(8, int(round(channels * width)))
