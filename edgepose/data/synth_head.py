"""The head for `edgepose synth`: hair, a face that shows only where it turns to the camera, ears,
eyes, nose and mouth. These are the cues that tell a person seen from the front (their left on the
image's right) from one seen from behind.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edgepose.data.synth_body import FACE_CAP_DEG, P
from edgepose.data.synth_canvas import Canvas, draw_prim
from edgepose.data.synth_look import shade

if TYPE_CHECKING:
    from edgepose.data.synth_render import Figure


def draw_head(canvas: Canvas, fig: Figure, part_id: int) -> None:
    """Hair-coloured head with a skin face cap (seen when it turns to the camera), ears, eyes, nose, mouth."""
    xy, z, u, look = fig.xy, fig.z, fig.unit_px, fig.look
    hr = fig.prop.head_r
    r = hr * u
    c, hz = xy[P["head"]], float(z[P["head"]])
    up = xy[P["head_up"]] - c
    angle = math.degrees(math.atan2(up[1], up[0])) + 90.0
    head = ("ellipse", *c, r, 1.12 * r, angle)
    skin = look.skin.a
    canvas.paint([head], skin if look.bald else look.hair, part_id)
    if not look.bald:
        face = _face_weight(canvas, c, r, angle, xy[P["face"]] - c, (float(z[P["face"]]) - hz) / hr)
        if face is not None:
            canvas.paint_weighted(face[0], skin, face[1])
    for ear in ("left_ear", "right_ear"):
        if z[P[ear]] < hz + 0.3 * hr:
            canvas.paint([("ellipse", *xy[P[ear]], 0.17 * r, 0.28 * r, angle)], shade(skin, 0.88), part_id)
    for eye in ("left_eye", "right_eye"):
        if z[P[eye]] < hz - 0.15 * hr:
            canvas.paint([("circle", *xy[P[eye]], 0.17 * r)], (235.0, 235.0, 235.0))
            canvas.paint([("circle", *xy[P[eye]], 0.1 * r)], (30.0, 25.0, 20.0))
    if z[P["nose"]] < hz + 0.2 * hr:
        canvas.paint([("circle", *xy[P["nose"]], 0.15 * r)], shade(skin, 0.78), part_id)
    if z[P["mouth"]] < hz - 0.3 * hr:
        canvas.paint([("ellipse", *xy[P["mouth"]], 0.24 * r, 0.07 * r, angle)], (60.0, 50.0, 150.0))


def _face_weight(canvas: Canvas, c: np.ndarray, r: float, angle_deg: float, toward_px: np.ndarray,
                 toward_z: float) -> tuple[tuple[int, int, int, int], np.ndarray] | None:  # fmt: skip
    """(window, 0..255 weight) of the head pixels whose surface normal lies within the face cap.

    Per pixel of the (ellipsoidal) head: the visible surface normal, dotted with the face direction
    (image-plane part `toward_px` in pixels per head radius, depth part `toward_z`); profile and
    three-quarter views then show the right sliver of face and hair.
    """
    window = canvas.window([("ellipse", *c, r, 1.12 * r, angle_deg)])
    if window is None:
        return None
    x0, y0, x1, y1 = window
    a = math.radians(angle_deg)
    ca, sa = np.float32(math.cos(a)), np.float32(math.sin(a))
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(c[0])
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(c[1])
    pu, pv = (dx * ca + dy * sa) / np.float32(r), (dy * ca - dx * sa) / np.float32(1.12 * r)
    fu = (toward_px[0] * math.cos(a) + toward_px[1] * math.sin(a)) / r
    fv = (toward_px[1] * math.cos(a) - toward_px[0] * math.sin(a)) / r
    nz = -np.sqrt(np.maximum(np.float32(1.0) - pu * pu - pv * pv, 0))
    dot = pu * np.float32(fu) + pv * np.float32(fv) + nz * np.float32(toward_z)
    weight = np.clip((dot - np.float32(math.cos(math.radians(FACE_CAP_DEG)))) * np.float32(6 * r) + 0.5, 0, 1)
    if not weight.any():
        return None
    head = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    draw_prim(head, ("ellipse", *c, r, 1.12 * r, angle_deg), 255, cv2.LINE_AA, (float(x0), float(y0)))
    return window, (head * weight).astype(np.uint8)
