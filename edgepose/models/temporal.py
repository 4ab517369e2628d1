"""Clip regressors: a per-frame CNN, global average pool, a BiLSTM over the clip, per-frame coordinates.

Input (B, T, 3, H, W) -> output (B, T, K, 2), x then y in [0, 1] of the frame (linear, see heads.py).
The LSTM is `nn.LSTM(batch_first=True, bidirectional=True)`, which the TorchScript ONNX exporter maps to
one ONNX LSTM node; T is whatever the input carries (export fixes it to the spec's clip_length).
"""

from __future__ import annotations

from torch import Tensor, nn

from edgepose.models.heads import init_coordinate_layer


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
        if proj > 0:
            self.proj: nn.Module = nn.Sequential(nn.Linear(feature_channels, proj), nn.ReLU(inplace=True))
            lstm_in = proj
        else:
            self.proj = nn.Identity()
            lstm_in = feature_channels
        self.lstm = nn.LSTM(lstm_in, hidden, num_layers=num_layers, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, num_keypoints * 2)
        init_coordinate_layer(self.head)

    def forward(self, x: Tensor) -> Tensor:
        b, t = x.shape[0], x.shape[1]
        features = self.pool(self.backbone(x.flatten(0, 1))).flatten(1)  # (B*T, C)
        sequence = self.proj(features).view(b, t, -1)
        hidden, _ = self.lstm(sequence)  # (B, T, 2*hidden)
        return self.head(hidden).view(b, t, self.num_keypoints, 2)
