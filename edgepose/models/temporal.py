"""Clip regressors: a per-frame CNN, global average pool, a BiLSTM over the clip, per-frame coordinates.

Input (B, T, 3, H, W) -> output (B, T, K, 2), x then y in [0, 1] of the frame (linear, see heads.py).
The LSTM is `nn.LSTM(batch_first=True, bidirectional=True)`, which the TorchScript ONNX exporter maps to
one ONNX LSTM node; T is whatever the input carries (export fixes it to the spec's clip_length).

`FramePoseRegressor` is the same network with the BiLSTM replaced by a per-frame FC layer of the
BiLSTM's output width (2 x hidden): the "no LSTM" twin that tells what the temporal layer buys at
matched CNN compute. Its layer names match the clip model's (backbone, pool, proj, head), so one's
CNN weights load into the other (`edgepose train --init`).

`ClipStreamer` runs a clip model online: per new frame the CNN sees that frame only, and the cached
features of the track's last T - 1 frames join it in the BiLSTM (the CNN has no temporal mixing and runs
in eval mode, so the cached features are exactly those a full-window forward would compute again).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence

import torch
from torch import Tensor, nn

from edgepose.models.heads import init_coordinate_layer


def _projection(feature_channels: int, proj: int) -> tuple[nn.Module, int]:
    """Linear + ReLU to `proj` features (or nothing when proj is 0); returns the module and its width."""
    if proj > 0:
        return nn.Sequential(nn.Linear(feature_channels, proj), nn.ReLU(inplace=True)), proj
    return nn.Identity(), feature_channels


class ClipPoseRegressor(nn.Module):
    """`backbone` maps (N, 3, H, W) to (N, C, h, w) with C = `feature_channels`."""

    # submodules whose output width is the LSTM's input: pruning keeps it (it touches the CNN only)
    keep_output_width = ("proj",)

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
        return self.from_features(self.frame_features(x.flatten(0, 1)).view(b, t, -1))

    def frame_features(self, frames: Tensor) -> Tensor:
        """(N, 3, H, W) frames -> (N, F): CNN, pool and projection, each frame on its own (what streaming caches)."""
        return self.proj(self.pool(self.backbone(frames)).flatten(1))

    def from_features(self, sequence: Tensor) -> Tensor:
        """(B, T, F) per-frame features -> (B, T, K, 2): the BiLSTM over the clip and the coordinate head."""
        hidden, _ = self.lstm(sequence)  # (B, T, 2*hidden)
        return self.head(hidden).view(sequence.shape[0], sequence.shape[1], self.num_keypoints, 2)


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


class ClipStreamer:
    """Online clip model: `step` takes one new crop per track and returns each one's newest-frame (K, 2).

    The window is the track's last `window` frames (default the model's clip length; shorter while a track
    starts). Only the new frames go through the CNN; the BiLSTM re-reads the whole window, as its backward
    direction must (the newest frame changes every earlier output).
    """

    def __init__(self, model: ClipPoseRegressor, window: int | None = None):
        self.model = model.eval()
        self.window = int(window or model.clip_length)
        if self.window < 1:
            raise ValueError(f"window must be >= 1 frame, got {self.window}")
        self.cache: dict[Hashable, deque[Tensor]] = {}

    @torch.no_grad()
    def step(self, frames: Tensor, track_ids: Sequence[Hashable]) -> Tensor:
        """(N, 3, H, W) one new crop per track (N distinct ids) -> (N, K, 2) in [0, 1] of each crop."""
        if len(track_ids) != len(frames) or len(set(track_ids)) != len(track_ids):
            raise ValueError(f"need one distinct track id per frame, got {len(track_ids)} ids for {len(frames)} frames")
        features = self.model.frame_features(frames)
        windows = []
        for feature, track in zip(features, track_ids, strict=True):
            buffer = self.cache.setdefault(track, deque(maxlen=self.window))
            buffer.append(feature)
            windows.append(torch.stack(tuple(buffer)))
        if len({len(w) for w in windows}) == 1:  # one batched BiLSTM call when every window has the same length
            return self.model.from_features(torch.stack(windows))[:, -1]
        return torch.stack([self.model.from_features(w[None])[0, -1] for w in windows])

    def forget(self, track_id: Hashable) -> None:
        """Drop a track that ended."""
        self.cache.pop(track_id, None)
