"""Letterbox preprocessing (Ultralytics' exactly) and its inverse, for whole-image YOLO-pose models.

Pixels are then scaled with edgepose.deploy.normalize's "x/255" (Ultralytics' division).

Resize keeping the aspect ratio (cv2 INTER_LINEAR), pad to the input size with grey 114, centred.
Coordinates are continuous (pixel edges at integers, as Ultralytics trains): input = image * ratio + pad,
so image = (input - pad) / ratio, with the exact per-axis ratio of the resized size to the original.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxMap:
    """How one image was placed in the model input: per-axis ratio and the top-left padding in pixels."""

    ratio_x: float
    ratio_y: float
    pad_left: int
    pad_top: int
    image_size: tuple[int, int]  # original (H, W)

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2+) -> model-input pixels (extra columns kept)."""
        out = np.array(xy, dtype=np.float64, copy=True)
        out[..., 0] = out[..., 0] * self.ratio_x + self.pad_left
        out[..., 1] = out[..., 1] * self.ratio_y + self.pad_top
        return out

    def to_image(self, xy: np.ndarray, clip: bool = True) -> np.ndarray:
        """Model-input pixels (..., 2+) -> image pixels, clipped to the image (as Ultralytics' scale_coords)."""
        out = np.array(xy, dtype=np.float64, copy=True)
        out[..., 0] = (out[..., 0] - self.pad_left) / self.ratio_x
        out[..., 1] = (out[..., 1] - self.pad_top) / self.ratio_y
        if clip:
            h, w = self.image_size
            out[..., 0] = np.clip(out[..., 0], 0.0, w)
            out[..., 1] = np.clip(out[..., 1], 0.0, h)
        return out

    def boxes_to_image(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(N, 4) input-pixel boxes -> image pixels, clipped."""
        b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 2, 2)
        return self.to_image(b).reshape(-1, 4)


def letterbox_params(image_size: tuple[int, int], input_size: tuple[int, int]) -> tuple[tuple[int, int], LetterboxMap]:
    """((resized W, H), map) for an (H, W) image into an (H, W) input; Ultralytics' rounding (Python round)."""
    h, w = image_size
    out_h, out_w = input_size
    r = min(out_h / h, out_w / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    left, top = round((out_w - new_w) / 2 - 0.1), round((out_h - new_h) / 2 - 0.1)
    return (new_w, new_h), LetterboxMap(new_w / w, new_h / h, left, top, (h, w))


def letterbox(image: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, LetterboxMap]:
    """uint8 (H, W, 3) image -> the letterboxed uint8 (h_in, w_in, 3) input and its map (channel order kept)."""
    (new_w, new_h), lb = letterbox_params(image.shape[:2], input_size)
    out_h, out_w = input_size
    if (image.shape[1], image.shape[0]) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    bottom, right = out_h - new_h - lb.pad_top, out_w - new_w - lb.pad_left
    padded = cv2.copyMakeBorder(image, lb.pad_top, bottom, lb.pad_left, right, cv2.BORDER_CONSTANT,
                                value=(PAD_VALUE,) * 3)  # fmt: skip
    return padded, lb
