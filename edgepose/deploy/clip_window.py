"""Sliding windows of crops per track, so `predict` can run a clip (CNN + BiLSTM) model on a video.

A clip model takes (B, T, 3, H, W): T crops of one person. Online, each tracked person keeps its last T crops;
every frame the window ending at the new crop goes through the model and the newest frame's output is that
person's pose. Until a track has T frames its window is padded at the start by repeating its first crop (an
exported model has a fixed T). A person without a track id gets a window of its one crop repeated.

This runs the whole window each frame (T CNN passes per person per frame) with any runtime: ONNX Runtime,
OpenVINO or torch. Reusing earlier frames' CNN features needs the model split at the pooled features
(edgepose.models.temporal.ClipStreamer, torch); benchmarks/temporal_compare.py measures both.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence

import numpy as np


class ClipWindows:
    """The last `length` crops of each track; `windows` appends the new crops and returns (N, T, 3, H, W)."""

    def __init__(self, length: int, forget_after_frames: int = 30):
        if length < 1:
            raise ValueError(f"a clip window holds at least 1 frame, got {length}")
        self.length = int(length)
        self.forget_after_frames = forget_after_frames
        self._crops: dict[Hashable, deque[np.ndarray]] = {}
        self._last_seen: dict[Hashable, int] = {}
        self._frame = 0

    def windows(self, crops: np.ndarray, tracks: Sequence[Hashable | None]) -> np.ndarray:
        """(N, 3, H, W) crops of one frame, one track key (or None) each -> (N, T, 3, H, W) windows."""
        crops = np.asarray(crops, dtype=np.float32)
        if len(tracks) != len(crops):
            raise ValueError(f"{len(tracks)} track keys for {len(crops)} crops")
        self._frame += 1
        out = np.empty((len(crops), self.length, *crops.shape[1:]), dtype=np.float32)
        for i, (crop, track) in enumerate(zip(crops, tracks, strict=True)):
            if track is None:
                out[i] = crop
                continue
            last = self._last_seen.get(track)
            if last is not None and self._frame - last > self.forget_after_frames:
                self._crops.pop(track, None)  # a track back after a long gap starts afresh
            self._last_seen[track] = self._frame
            buffer = self._crops.setdefault(track, deque(maxlen=self.length))
            buffer.append(crop.copy())
            pad = self.length - len(buffer)
            out[i, :pad] = buffer[0]
            out[i, pad:] = np.stack(tuple(buffer))
        return out

    def reset(self) -> None:
        """Forget every track (a new video)."""
        self._crops.clear()
        self._last_seen.clear()
