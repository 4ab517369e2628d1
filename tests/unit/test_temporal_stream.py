"""ClipStreamer: per-frame CNN with cached features gives what a full-window forward gives, on numbers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgepose.models.temporal import ClipPoseRegressor, ClipStreamer


def tiny_clip_model(clip_length: int = 4) -> ClipPoseRegressor:
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    model = ClipPoseRegressor(backbone, 8, num_keypoints=5, hidden=6, proj=10, clip_length=clip_length)
    with torch.no_grad():  # non-trivial BN statistics, so eval mode matters
        model.backbone[1].running_mean.uniform_(-0.5, 0.5)
        model.backbone[1].running_var.uniform_(0.5, 2.0)
        model.head.weight.normal_(0, 0.3)
    return model.eval()


def test_forward_is_frame_features_then_from_features() -> None:
    model = tiny_clip_model()
    clip = torch.randn(2, 4, 3, 16, 16)
    with torch.no_grad():
        feats = model.frame_features(clip.flatten(0, 1)).view(2, 4, -1)
        torch.testing.assert_close(model(clip), model.from_features(feats))


@pytest.mark.parametrize("window", [1, 3, 4])
def test_streaming_matches_a_full_window_forward_for_every_frame(window: int) -> None:
    model = tiny_clip_model()
    frames = torch.randn(9, 2, 3, 16, 16)  # 9 time steps of 2 tracks
    streamer = ClipStreamer(model, window=window)
    with torch.no_grad():
        for t in range(9):
            out = streamer.step(frames[t], ["a", "b"])
            clip = frames[max(0, t - window + 1): t + 1].transpose(0, 1)  # (2, <=window, 3, H, W)
            expected = model(clip)[:, -1]
            scale = expected.abs().max().item()
            torch.testing.assert_close(out, expected, rtol=0, atol=1e-5 * scale)
    assert all(len(buf) == window for buf in streamer.cache.values())


def test_tracks_are_independent_and_forget_restarts_one() -> None:
    model = tiny_clip_model()
    frames = torch.randn(5, 3, 16, 16)
    streamer = ClipStreamer(model)
    for t in range(3):
        streamer.step(frames[t: t + 1], ["a"])
    fresh = streamer.step(frames[3:4], ["b"])  # b's window is its one frame, not a's three
    with torch.no_grad():
        torch.testing.assert_close(fresh, model(frames[3:4][None])[:, -1])
        streamer.forget("a")
        torch.testing.assert_close(streamer.step(frames[4:5], ["a"]), model(frames[4:5][None])[:, -1])
    with pytest.raises(ValueError, match="distinct"):
        streamer.step(frames[:2], ["a", "a"])
