"""Reading images for the model: uint8 RGB, the order every edgepose model is fed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgepose.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def read_image_rgb(path: str | Path) -> np.ndarray:
    """uint8 RGB (H, W, 3); UserError naming the file when it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"image {path} cannot be read (missing, corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def bgr_to_rgb(image_bgr: np.ndarray) -> np.ndarray:
    """An OpenCV (BGR) frame as the RGB array the models take."""
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
