"""Top-down crop geometry: the one crop of a person box, shared by the dataset reader, eval, predict and the
device runner.

Conventions (SimpleBaselines):
- Points are cv2 pixel coordinates: pixel centres at integer coordinates, x right, y down; the same
  convention cv2.warpAffine uses, so a point moved by an affine lands on the pixel the warp moves.
- A person box (x, y, w, h) becomes a centre (cx, cy) = box centre and a scale (sw, sh) in image
  pixels: the box grown to the model input's aspect ratio, then by `padding` (1.25).
- `get_affine` maps that region onto the model input (H, W): the centre goes to ((W-1)/2, (H-1)/2),
  the region's edges to the outer pixel edges (-0.5 and W-0.5), rotated by `rot_deg`
  (positive = the person turns counter-clockwise on screen).
- Heatmaps: heatmap coordinate = input coordinate / stride; decoding multiplies back by stride.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

BOX_PADDING = 1.25


def box_to_center_scale(
    box_xywh: Sequence[float], aspect_ratio: float, padding: float = BOX_PADDING
) -> tuple[np.ndarray, np.ndarray]:
    """(centre (2,), scale (2,)) of a box grown to `aspect_ratio` = W/H of the model input, then x padding."""
    x, y, w, h = (float(v) for v in box_xywh)
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float64)
    w, h = max(w, 1.0), max(h, 1.0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return center, np.array([w * padding, h * padding], dtype=np.float64)


def get_affine(
    center: Sequence[float],
    scale: Sequence[float],
    rot_deg: float,
    out_size: tuple[int, int],
    inverse: bool = False,
) -> np.ndarray:
    """(2, 3) affine from image pixels to the (H, W) = `out_size` model input; `inverse` gives input -> image."""
    out_h, out_w = out_size
    cx, cy = float(center[0]), float(center[1])
    sx, sy = out_w / float(scale[0]), out_h / float(scale[1])
    a = math.radians(rot_deg)
    cos, sin = math.cos(a), math.sin(a)
    # out = S @ R @ (p - c) + o, with R turning points counter-clockwise on screen (y down)
    rot = np.array([[cos, sin], [-sin, cos]])
    lin = np.diag([sx, sy]) @ rot
    offset = np.array([(out_w - 1) * 0.5, (out_h - 1) * 0.5]) - lin @ np.array([cx, cy])
    forward = np.concatenate([lin, offset[:, None]], axis=1)
    return invert_affine(forward) if inverse else forward


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """The inverse of a (2, 3) affine, as (2, 3)."""
    full = np.vstack([np.asarray(affine, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def flip_affine(affine: np.ndarray, out_width: int) -> np.ndarray:
    """Follow `affine` by a horizontal mirror of the output: x -> (W - 1) - x."""
    mirror = np.array([[-1.0, 0.0, out_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return (mirror @ np.vstack([affine, [0.0, 0.0, 1.0]]))[:2]


def transform_points(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to points (..., >=2); returns (..., 2) float64 (extra columns dropped)."""
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    affine = np.asarray(affine, dtype=np.float64)
    return pts @ affine[:, :2].T + affine[:, 2]


def crop_affine(
    box_xywh: Sequence[float], input_size: tuple[int, int], *, rot_deg: float = 0.0, scale_factor: float = 1.0,
    shift: Sequence[float] = (0.0, 0.0), flip: bool = False, padding: float = BOX_PADDING,
) -> np.ndarray:  # fmt: skip
    """(2, 3) affine from image pixels to the (H, W) model input for a person box (x, y, w, h).

    The identity augmentation (rot 0, scale 1, no shift or flip) is the evaluation / deployment crop; training
    draws the others (edgepose.data.transforms).
    """
    h, w = input_size
    center, scale = box_to_center_scale(box_xywh, aspect_ratio=w / h, padding=padding)
    center = center + np.asarray(shift) * scale
    scale = scale * scale_factor
    affine = get_affine(center, scale, rot_deg, (h, w))
    return flip_affine(affine, w) if flip else affine


def warp_crop(image: np.ndarray, affine: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """The (H, W, C) crop of `image` under `affine`: bilinear, zero outside the image."""
    h, w = input_size
    return cv2.warpAffine(image, affine, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def crop_inverse(affine: np.ndarray) -> np.ndarray:
    """Model-input -> image pixels as the float32 (2, 3) every path decodes with (the dataset has always stored
    it in float32; keeping that rounding is what makes eval, predict and the runner agree to the bit)."""
    return invert_affine(affine).astype(np.float32)


def clip_boxes(boxes_xywh: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(boxes clipped to the (H, W) image, as float32 like the dataset reader stores them; which were kept):
    boxes with nothing left inside the image are dropped."""
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    h, w = image_size
    x1, y1 = np.maximum(0.0, b[:, 0]), np.maximum(0.0, b[:, 1])
    x2 = np.minimum(float(w), b[:, 0] + np.maximum(0.0, b[:, 2]))
    y2 = np.minimum(float(h), b[:, 1] + np.maximum(0.0, b[:, 3]))
    keep = (x2 - x1 > 0) & (y2 - y1 > 0)
    out = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1).astype(np.float32)
    return out[keep], keep
