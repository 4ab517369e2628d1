"""Canvas for `edgepose synth`: anti-aliased shapes on a uint8 image plus a part-id buffer.

Shapes are primitives in float pixel coordinates (drawn by cv2 in 1/16-pixel fixed point): the id
buffer records which part was drawn last at each pixel, which is what joint visibility reads.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgepose.data.synth_look import Color, Texture, shade

_SHIFT = 4  # cv2 sub-pixel bits: coordinates are drawn in 1/16 pixel
_ONE = 1 << _SHIFT

# ("circle", cx, cy, r) | ("ellipse", cx, cy, ax, ay, angle_deg) | ("poly", points (N, 2))
Prim = tuple


def capsule(p1: np.ndarray, p2: np.ndarray, r1: float, r2: float) -> list[Prim]:
    """A limb: two discs joined by a quad (tapered when r1 != r2)."""
    x1, y1, x2, y2 = float(p1[0]), float(p1[1]), float(p2[0]), float(p2[1])
    length = max(math.hypot(x2 - x1, y2 - y1), 1e-6)
    nx, ny = (y1 - y2) / length, (x2 - x1) / length  # plain floats: numpy is slow on 2-vectors
    quad = np.array([[x1 + nx * r1, y1 + ny * r1], [x2 + nx * r2, y2 + ny * r2],
                     [x2 - nx * r2, y2 - ny * r2], [x1 - nx * r1, y1 - ny * r1]])  # fmt: skip
    return [("circle", x1, y1, r1), ("circle", x2, y2, r2), ("poly", quad)]


def _extent(prim: Prim) -> tuple[float, float, float, float]:
    if prim[0] == "poly":
        pts = prim[1]
        return pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()
    r = prim[3] if prim[0] == "circle" else max(prim[3], prim[4])
    return prim[1] - r, prim[2] - r, prim[1] + r, prim[2] + r


class Canvas:
    """uint8 BGR image plus a uint8 id buffer (0 = background) of the part drawn last at each pixel."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self.height_px, self.width_px = image.shape[:2]
        self.ids = np.zeros((self.height_px, self.width_px), dtype=np.uint8)

    def paint(self, prims: list[Prim], fill: Texture | Color, part_id: int | None = None, factor: float = 1.0,
              origin: tuple[float, float] = (0.0, 0.0), unit_px: float = 100.0) -> None:  # fmt: skip
        """Draw the union of `prims` filled with `fill` (a texture anchored at `origin`); record `part_id`.

        Solid fills are drawn straight onto the image (anti-aliased by cv2); textures are blended
        through an anti-aliased mask over the shapes' bounding window.
        """
        if isinstance(fill, Texture) and fill.kind != "solid":
            self._paint_texture(prims, fill, factor, origin, unit_px, part_id)
            return
        color = shade(fill.a if isinstance(fill, Texture) else fill, factor)
        for prim in prims:
            draw_prim(self.image, prim, color, cv2.LINE_AA)
            if part_id is not None:
                draw_prim(self.ids, prim, part_id, cv2.LINE_8)

    def paint_weighted(self, window: tuple[int, int, int, int], color: Color, weight: np.ndarray) -> None:
        """Blend `color` into `window` (x0, y0, x1, y1) with a per-pixel 0..255 weight."""
        x0, y0, x1, y1 = window
        fill = np.full((y1 - y0, x1 - x0, 3), np.clip(np.asarray(color) + 0.5, 0, 255), dtype=np.uint8)
        self._blend(window, fill, weight)

    def window(self, prims: list[Prim]) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) pixel window around `prims`, clipped to the image; None when outside."""
        boxes = [_extent(p) for p in prims]
        x0 = max(int(math.floor(min(b[0] for b in boxes))) - 1, 0)
        y0 = max(int(math.floor(min(b[1] for b in boxes))) - 1, 0)
        x1 = min(int(math.ceil(max(b[2] for b in boxes))) + 2, self.width_px)
        y1 = min(int(math.ceil(max(b[3] for b in boxes))) + 2, self.height_px)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

    def _blend(self, window: tuple[int, int, int, int], color: np.ndarray, mask: np.ndarray) -> None:
        x0, y0, x1, y1 = window
        roi = self.image[y0:y1, x0:x1]
        weight = mask.astype(np.float32) * np.float32(1.0 / 255.0)
        roi[:] = cv2.blendLinear(color, roi, weight, np.float32(1.0) - weight)

    def _paint_texture(self, prims: list[Prim], fill: Texture, factor: float, origin: tuple[float, float],
                       unit_px: float, part_id: int | None) -> None:  # fmt: skip
        window = self.window(prims)
        if window is None:
            return
        x0, y0, x1, y1 = window
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        for prim in prims:
            draw_prim(mask, prim, 255, cv2.LINE_AA, (float(x0), float(y0)))
        self._blend(window, fill.render(x0 - origin[0], y0 - origin[1], x1 - x0, y1 - y0, unit_px, factor), mask)
        if part_id is not None:
            self.ids[y0:y1, x0:x1][mask >= 128] = part_id


def draw_prim(target: np.ndarray, prim: Prim, color: object, line_type: int, off: tuple[float, float] = (0.0, 0.0)) -> None:
    """Fill one primitive into `target` (image, mask or id buffer), shifted by -`off` pixels."""
    if prim[0] == "poly":
        pts = ((prim[1] - off) * _ONE + 0.5).astype(np.int32)  # + 0.5 then truncation: rounding
        cv2.fillConvexPoly(target, pts, color, line_type, _SHIFT)
        return
    center = (_fixed(prim[1] - off[0]), _fixed(prim[2] - off[1]))
    if prim[0] == "circle":
        cv2.circle(target, center, max(_fixed(prim[3]), 1), color, -1, line_type, _SHIFT)
    else:
        axes = (max(_fixed(prim[3]), 1), max(_fixed(prim[4]), 1))
        cv2.ellipse(target, center, axes, float(prim[5]), 0, 360, color, -1, line_type, _SHIFT)


def _fixed(value: float) -> int:
    """A coordinate in cv2's fixed point (1/16 pixel)."""
    return math.floor(value * _ONE + 0.5)
