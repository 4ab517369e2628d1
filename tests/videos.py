"""Small test videos written with OpenCV."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_moving_block(path: Path, frames: int = 6) -> Path:
    """A 160x120 mp4 (cv2.VideoWriter, mp4v, 10 fps) of a bright block moving right 8 px per frame over noise;
    the block of frame i spans x 20+8i..60+8i, y 30..100."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    rng = np.random.default_rng(0)
    for i in range(frames):
        frame = rng.integers(0, 60, (120, 160, 3), dtype=np.uint8)
        frame[30:100, 20 + 8 * i : 60 + 8 * i] = 220
        writer.write(frame)
    writer.release()
    return path
