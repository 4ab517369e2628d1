"""Bipose (Shukla et al., shared/references/001): ResNet-50 per frame + BiLSTM over the clip.

The paper keeps ResNet-50's convolutional layers (FC removed), feeds their features to a BiLSTM and
reports COCO and MPII results; it gives no pooling, LSTM size or input size. We global-average-pool
the 2048-channel map, project to 512 (ReLU), run one BiLSTM layer of 256 per direction and regress
K x 2 per frame with one FC. COCO-17 schema, 256x192 frames (the SimpleBaseline crop).

`bipose-lite-bilstm` is the same architecture for 2 CPU cores: ResNet-50 (all 16 bottlenecks) at quarter
width, 128x96 frames, a 256 projection and 128 LSTM units per direction (0.14 GFLOPs per frame against
8.2 for the full model). `bipose-lite-nolstm` is its per-frame twin (temporal.FramePoseRegressor).
"""

from __future__ import annotations

from edgepose.models.registry import register_model
from edgepose.models.resnet import ResNet
from edgepose.models.temporal import ClipPoseRegressor, FramePoseRegressor

PAPER = "Shukla, Raghuvanshi & Sharan, Bipose: Human Pose Estimation using ResNet-50 with BiLSTMs, 2023"
LITE_SIZE = (128, 96)


@register_model(
    "bipose-resnet50-bilstm", kind="temporal", input_size=(256, 192), schema="coco17", head="regression",
    clip_length=4, description="ResNet-50 per frame + GAP + BiLSTM over the clip -> K x 2 per frame",
    paper=PAPER,
)  # fmt: skip
def bipose_resnet50_bilstm(
    num_keypoints: int = 17, clip_length: int = 4, hidden: int = 256, proj: int = 512, width: float = 1.0,
    depth: int = 50, num_layers: int = 1,
) -> ClipPoseRegressor:  # fmt: skip
    """`width` scales the ResNet channels, `hidden` is the LSTM size per direction, `proj` 0 = no projection."""
    trunk = ResNet(depth, width)
    return ClipPoseRegressor(
        trunk, trunk.out_channels, num_keypoints, hidden=hidden, proj=proj, num_layers=num_layers,
        clip_length=clip_length,
    )  # fmt: skip


@register_model(
    "bipose-lite-bilstm", kind="temporal", input_size=LITE_SIZE, schema="coco17", head="regression",
    clip_length=4, description="Bipose for CPUs: ResNet-50 at quarter width, 128x96, GAP + BiLSTM 128 -> K x 2 per frame",
    paper=PAPER,
)  # fmt: skip
def bipose_lite_bilstm(
    num_keypoints: int = 17, clip_length: int = 4, hidden: int = 128, proj: int = 256, width: float = 0.25,
    depth: int = 50, num_layers: int = 1,
) -> ClipPoseRegressor:  # fmt: skip
    """`bipose-resnet50-bilstm` with smaller defaults (same kwargs)."""
    return bipose_resnet50_bilstm(num_keypoints, clip_length, hidden, proj, width, depth, num_layers)


@register_model(
    "bipose-lite-nolstm", kind="regression", input_size=LITE_SIZE, schema="coco17", head="regression",
    description="bipose-lite-bilstm's per-frame twin: the same CNN + GAP + FC 256 in place of the BiLSTM",
    paper=PAPER,
)  # fmt: skip
def bipose_lite_nolstm(
    num_keypoints: int = 17, hidden: int = 128, proj: int = 256, width: float = 0.25, depth: int = 50
) -> FramePoseRegressor:  # fmt: skip
    """`hidden` sizes the FC that stands in for the BiLSTM (2 x hidden wide, as the BiLSTM's output)."""
    trunk = ResNet(depth, width)
    return FramePoseRegressor(trunk, trunk.out_channels, num_keypoints, hidden=hidden, proj=proj)
