"""Clip regressors: a per-frame CNN, global average pool, a BiLSTM over the clip, per-frame coordinates.

Input (B, T, 3, H, W) -> output (B, T, K, 2), x then y in [0, 1] of the frame (linear, see heads.py).
The LSTM is `nn.LSTM(batch_first=True, bidirectional=True)`, which the TorchScript ONNX exporter maps to
one ONNX LSTM node; T is whatever the input carries (export fixes it to the spec's clip_length).

`FramePoseRegressor` is the same network with the BiLSTM replaced by a per-frame FC layer of the
BiLSTM's output width (2 x hidden): the "no LSTM" twin that tells what the temporal layer buys at
matched CNN compute. Its layer names match the clip model's (backbone, pool, proj, head), so one's
CNN weights load into the other (`edgepose train --init`).
"""

from __future__ import annotations

from torch import Tensor, nn

from edgepose.models.heads import init_coordinate_layer


def _projection(feature_channels: int, proj: int) -> tuple[nn.Module, int]:
    """Linear + ReLU to `proj` features (or nothing when proj is 0); returns the module and its width."""
    if proj > 0:
        return nn.Sequential(nn.Linear(feature_channels, proj), nn.ReLU(inplace=True)), proj
    return nn.Identity(), feature_channels


class ClipPoseRegressor(nn.Module):
    """`backbone` maps (N, 3, H, W) to (N, C, h, w) with C = `feature_channels`."""

    def __init__(
        self, backbone: nn.Module, feature_channels: int, num_keypoints: int, hidden: int = 256,
        proj: int = 512, num_layers: int = 1, clip_length: int = 4,
    ):  # fmt: skip
        super().__init__()
        self.num_keypoints = num_keypoints
        self.clip_length = clip_length  # the clip length it was built for; forward takes any T
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.proj, lstm_in = _projection(feature_channels, proj)
        self.lstm = nn.LSTM(lstm_in, hidden, num_layers=num_layers, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, num_keypoints * 2)
        init_coordinate_layer(self.head)

    def forward(self, x: Tensor) -> Tensor:
        b, t = x.shape[0], x.shape[1]
        features = self.pool(self.backbone(x.flatten(0, 1))).flatten(1)  # (B*T, C)
        sequence = self.proj(features).view(b, t, -1)
        hidden, _ = self.lstm(sequence)  # (B, T, 2*hidden)
        return self.head(hidden).view(b, t, self.num_keypoints, 2)


class FramePoseRegressor(nn.Module):
    """The clip model's per-frame twin: backbone -> pool -> proj -> FC(2 x hidden) + ReLU -> K x 2.

    Input (B, 3, H, W) -> (B, K, 2); what the BiLSTM adds is the only difference.
    """

    def __init__(
        self, backbone: nn.Module, feature_channels: int, num_keypoints: int, hidden: int = 256, proj: int = 512
    ):  # fmt: skip
        super().__init__()
        self.num_keypoints = num_keypoints
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.proj, width = _projection(feature_channels, proj)
        self.frame_fc = nn.Sequential(nn.Linear(width, 2 * hidden), nn.ReLU(inplace=True))
        self.head = nn.Linear(2 * hidden, num_keypoints * 2)
        init_coordinate_layer(self.head)

    def forward(self, x: Tensor) -> Tensor:
        features = self.proj(self.pool(self.backbone(x)).flatten(1))
        return self.head(self.frame_fc(features)).view(-1, self.num_keypoints, 2)
