"""Pixel scaling and mean/std normalisation: uint8 RGB (H, W, 3) -> float32 (3, H, W) model input.

Two scalings, both recorded in a bundle's metadata because they differ in the last bit of float32:
"x*(1/255)" multiplies by the float32 reciprocal (the top-down models' training transform), "x/255" divides
(Ultralytics' YOLO preprocessing, bit-identical to it). Then (x - mean) / std per channel, RGB order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SCALINGS = ("x*(1/255)", "x/255")
TOP_DOWN_SCALING, YOLO_SCALING = SCALINGS


def scale_pixels(image_rgb: np.ndarray, scaling: str = TOP_DOWN_SCALING) -> np.ndarray:
    """uint8 (..., 3) -> float32 in [0, 1] with the named scaling."""
    x = np.asarray(image_rgb).astype(np.float32)
    if scaling == "x*(1/255)":
        return x * np.float32(1.0 / 255.0)
    if scaling == "x/255":
        return x / np.float32(255.0)
    raise ValueError(f"unknown pixel scaling {scaling!r}; one of {', '.join(SCALINGS)}")


def standardize(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """float32 (H, W, 3) in [0, 1] -> (x - mean) / std as contiguous (3, H, W); mean 0 / std 1 leave x exact."""
    x = (image - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def to_model_input(image_rgb: np.ndarray, mean: Sequence[float] = (0.0,) * 3, std: Sequence[float] = (1.0,) * 3,
                   scaling: str = TOP_DOWN_SCALING, out: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """uint8 RGB (H, W, 3) -> float32 (3, H, W): scale to [0, 1], then (x - mean) / std; into `out` when given.

    The same float32 operations as standardize(scale_pixels(...)), element by element, so the same bits; but the
    uint8 image is transposed (a quarter of the bytes to move) straight into the float32 result, the arithmetic
    runs in place, and mean 0 / std 1 (YOLO) skip the two passes that would leave x unchanged.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"unknown pixel scaling {scaling!r}; one of {', '.join(SCALINGS)}")
    chw = np.asarray(image_rgb).transpose(2, 0, 1)
    x = np.empty(chw.shape, dtype=np.float32) if out is None else out
    np.copyto(x, chw, casting="unsafe")  # uint8 -> float32 is exact
    if scaling == "x*(1/255)":
        x *= np.float32(1.0 / 255.0)
    else:
        x /= np.float32(255.0)
    m = np.asarray(mean, dtype=np.float32)
    sd = np.asarray(std, dtype=np.float32)
    if m.any():
        x -= m[:, None, None]
    if (sd != 1.0).any():
        x /= sd[:, None, None]
    return x
