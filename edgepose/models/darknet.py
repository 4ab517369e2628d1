"""Darknet-53 (Redmon & Farhadi 2018) and `darknet53-bilstm` (Shukla et al., shared/references/000).

Darknet-53: a 3x3 conv (32), then five stages, each a 3x3 stride-2 conv that doubles the channels and
1, 2, 8, 8, 4 residual blocks of 1x1 (halve) + 3x3 (restore); every conv has BatchNorm and LeakyReLU 0.1.
52 convs (+ the classifier FC we drop = 53); output stride 32, 1024 channels.

The paper resizes to 256x256, scales pixels to [0, 1] by min-max normalisation (so mean 0, std 1 here)
and trains on COCO and MPII; this entry uses the COCO-17 schema (the PoseTrack clip in shared/data
follows it too). It does not give the LSTM size; we use one BiLSTM layer of 256 per direction after a
1024 -> 512 projection, like `bipose-resnet50-bilstm`.

`darknet53-lite-bilstm` is the same architecture for 2 CPU cores: all 52 convs at quarter width,
128x128 frames (the paper's square input, halved), a 256 projection and 128 LSTM units per direction
(0.30 GFLOPs per frame against 18.7 for the full model). `darknet53-lite-nolstm` is its per-frame twin.
"""

from __future__ import annotations

from torch import Tensor, nn

from edgepose.models.heads import scaled
from edgepose.models.registry import register_model
from edgepose.models.temporal import ClipPoseRegressor, FramePoseRegressor

DARKNET53_BLOCKS = (1, 2, 8, 8, 4)
PAPER = (
    "Shukla, Raghuvanshi & Sharan, Enhancing Human Pose Estimation with Darknet-53 and Bidirectional "
    "LSTM Networks; Redmon & Farhadi, YOLOv3: An Incremental Improvement, 2018"
)


def conv_bn_leaky(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.1, inplace=True),
    )


class DarknetResidual(nn.Module):
    """x + conv3x3(conv1x1(x)), the 1x1 halving the channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv_bn_leaky(channels, channels // 2, 1)
        self.conv2 = conv_bn_leaky(channels // 2, channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.conv1(x))


class Darknet53(nn.Module):
    """Darknet-53 trunk without its classifier; `width` scales every channel count."""

    def __init__(self, width: float = 1.0, blocks: tuple[int, ...] = DARKNET53_BLOCKS):
        super().__init__()
        base = scaled(32, width)
        self.stem = conv_bn_leaky(3, base, 3)
        stages = []
        cin = base
        for i, n in enumerate(blocks):
            cout = base * 2 ** (i + 1)
            stages.append(
                nn.Sequential(
                    conv_bn_leaky(cin, cout, 3, stride=2), *(DarknetResidual(cout) for _ in range(n))
                )
            )
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, mode="fan_out", nonlinearity="leaky_relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))


@register_model(
    "darknet53-bilstm", kind="temporal", input_size=(256, 256), schema="coco17", head="regression",
    clip_length=4, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    description="Darknet-53 per frame + GAP + BiLSTM over the clip -> K x 2 per frame", paper=PAPER,
)  # fmt: skip
def darknet53_bilstm(
    num_keypoints: int = 17, clip_length: int = 4, hidden: int = 256, proj: int = 512, width: float = 1.0,
    num_layers: int = 1,
) -> ClipPoseRegressor:  # fmt: skip
    """`width` scales Darknet-53's channels, `hidden` is the LSTM size per direction, `proj` 0 = no projection."""
    trunk = Darknet53(width)
    return ClipPoseRegressor(
        trunk, trunk.out_channels, num_keypoints, hidden=hidden, proj=proj, num_layers=num_layers,
        clip_length=clip_length,
    )  # fmt: skip


@register_model(
    "darknet53-lite-bilstm", kind="temporal", input_size=(128, 128), schema="coco17", head="regression",
    clip_length=4, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    description="Darknet-53 + BiLSTM for CPUs: quarter width, 128x128, GAP + BiLSTM 128 -> K x 2 per frame",
    paper=PAPER,
)  # fmt: skip
def darknet53_lite_bilstm(
    num_keypoints: int = 17, clip_length: int = 4, hidden: int = 128, proj: int = 256, width: float = 0.25,
    num_layers: int = 1,
) -> ClipPoseRegressor:  # fmt: skip
    """`darknet53-bilstm` with smaller defaults (same kwargs)."""
    return darknet53_bilstm(num_keypoints, clip_length, hidden, proj, width, num_layers)


@register_model(
    "darknet53-lite-nolstm", kind="regression", input_size=(128, 128), schema="coco17", head="regression",
    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    description="darknet53-lite-bilstm's per-frame twin: the same CNN + GAP + FC 256 in place of the BiLSTM",
    paper=PAPER,
)  # fmt: skip
def darknet53_lite_nolstm(
    num_keypoints: int = 17, hidden: int = 128, proj: int = 256, width: float = 0.25
) -> FramePoseRegressor:  # fmt: skip
    """`hidden` sizes the FC that stands in for the BiLSTM (2 x hidden wide, as the BiLSTM's output)."""
    trunk = Darknet53(width)
    return FramePoseRegressor(trunk, trunk.out_channels, num_keypoints, hidden=hidden, proj=proj)
