"""Bipose (Shukla et al., shared/references/001): ResNet-50 per frame + BiLSTM over the clip.

The paper keeps ResNet-50's convolutional layers (FC removed), feeds their features to a BiLSTM and
reports COCO and MPII results; it gives no pooling, LSTM size or input size. We global-average-pool
the 2048-channel map, project to 512 (ReLU), run one BiLSTM layer of 256 per direction and regress
K x 2 per frame with one FC. COCO-17 schema, 256x192 frames (the SimpleBaseline crop).
"""

from __future__ import annotations

from edgepose.models.registry import register_model
from edgepose.models.resnet import ResNet
from edgepose.models.temporal import ClipPoseRegressor

PAPER = "Shukla, Raghuvanshi & Sharan, Bipose: Human Pose Estimation using ResNet-50 with BiLSTMs, 2023"


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
