"""One synthetic frame: people posed and placed, drawn over a background, occluded, annotated as COCO.

Pixel convention as in edgepose.deploy.crop: pixel centres at integer coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgepose.data.synth_body import (
    EXTRA_POINTS,
    A,
    P,
    Proportions,
    sample_proportions,
    skeleton_3d,
    view_points,
)
from edgepose.data.synth_canvas import Canvas, Prim
from edgepose.data.synth_look import Look, Texture
from edgepose.data.synth_render import Figure, draw_person, joint_visibility
from edgepose.data.synth_scene import Camera, Difficulty, apply_camera

Rng = np.random.Generator
OCCLUDER_ID = 250
IDS_PER_PERSON = 20
_EXTENT_POINTS = [*range(17), *(P[n] for n in EXTRA_POINTS if n not in ("logo", "face", "head_up"))]


@dataclass(frozen=True)
class Actor:
    """A person's identity: proportions, clothes, and a slight horizontal/vertical stretch."""

    prop: Proportions
    look: Look
    stretch: tuple[float, float]
    family: str


def sample_actor(rng: Rng, look: Look, family: str) -> Actor:
    aspect = float(rng.uniform(0.9, 1.1))
    return Actor(sample_proportions(rng), look, (math.sqrt(aspect), 1 / math.sqrt(aspect)), family)


def posed(actor: Actor, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """(xy in body heights with the pelvis at 0 (N, 2), depth (N,), facing) after yaw and in-plane roll."""
    pts, front = skeleton_3d(actor.prop, angles)
    xy, z, facing = view_points(pts, front, float(angles[A["yaw"]]))
    roll = math.radians(float(angles[A["roll"]]))
    c, s = math.cos(roll), math.sin(roll)
    xy = xy @ np.array([[c, s], [-s, c]]) * np.asarray(actor.stretch)
    return xy, z, facing


def extent(actor: Actor, xy_unit: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of the body in body heights (joints, hands, feet, head)."""
    pts = xy_unit[_EXTENT_POINTS]
    r = actor.prop.head_r * 1.15
    head = xy_unit[P["head"]]
    return np.array([min(pts[:, 0].min(), head[0] - r), min(pts[:, 1].min(), head[1] - r),
                     max(pts[:, 0].max(), head[0] + r), max(pts[:, 1].max(), head[1] + r)])  # fmt: skip


def make_figure(actor: Actor, xy_unit: np.ndarray, z: np.ndarray, facing: str, unit_px: float,
                pelvis_xy: np.ndarray, angles: np.ndarray) -> Figure:  # fmt: skip
    yaw_deg = (float(angles[A["yaw"]]) + 180.0) % 360.0 - 180.0
    extra = {"facing": facing, "pose": actor.family, "yaw_deg": round(yaw_deg, 1)}
    return Figure(xy_unit * unit_px + pelvis_xy, z, unit_px, actor.prop, actor.look, facing, extra)


def place_single(rng: Rng, box_unit: np.ndarray, size: tuple[int, int], diff: Difficulty) -> tuple[float, np.ndarray]:
    """(pixels per body height, pelvis pixel): one person filling much of the image, sometimes cut."""
    h, w = size
    frac = rng.uniform(0.3, 0.55) if rng.random() < diff.small_person_p else rng.uniform(0.6, 1.0)
    ext_w, ext_h = box_unit[2] - box_unit[0], box_unit[3] - box_unit[1]
    unit = min(frac * h, 0.94 * w / max(ext_w, 1e-3), 0.94 * h / max(ext_h, 1e-3))
    bw, bh = ext_w * unit, ext_h * unit
    corner = np.array([rng.uniform(0.03 * w, max(w - bw - 0.03 * w, 0.03 * w)),
                       rng.uniform(0.03 * h, max(h - bh - 0.03 * h, 0.03 * h))])  # fmt: skip
    if rng.random() < diff.cut_p:
        corner += rng.choice([-1.0, 1.0], 2) * rng.uniform(0.15, 0.45, 2) * np.array([bw, bh]) * (rng.random(2) < 0.6)
    return unit, corner - box_unit[:2] * unit


def place_multi(rng: Rng, boxes_unit: list[np.ndarray], size: tuple[int, int]) -> list[tuple[float, np.ndarray]]:
    """Placements for several people (far to near = small to large), overlapping only partly."""
    h, w = size
    placed: list[np.ndarray] = []
    out = []
    heights = np.sort(h * np.exp(rng.uniform(math.log(0.22), math.log(0.7), len(boxes_unit))))
    for box, unit in zip(boxes_unit, heights.tolist(), strict=True):
        ext = (box[2:] - box[:2]) * unit
        unit *= min(1.0, 0.9 * w / max(ext[0], 1e-3), 0.9 * h / max(ext[1], 1e-3))
        ext = (box[2:] - box[:2]) * unit
        best, best_overlap = None, math.inf
        for _ in range(20):
            corner = np.array([rng.uniform(-0.1 * ext[0], w - 0.9 * ext[0]), rng.uniform(-0.05 * ext[1], h - 0.9 * ext[1])])
            cand = np.concatenate([corner, corner + ext])
            overlap = max((_covered(p, cand) for p in placed), default=0.0)
            if overlap < best_overlap:
                best, best_overlap = cand, overlap
            if overlap < 0.3:
                break
        placed.append(best)
        out.append((unit, best[:2] - box[:2] * unit))
    return out


def _covered(far: np.ndarray, near: np.ndarray) -> float:
    """Fraction of box `far` that box `near` covers."""
    iw = max(0.0, min(far[2], near[2]) - max(far[0], near[0]))
    ih = max(0.0, min(far[3], near[3]) - max(far[1], near[1]))
    return iw * ih / max((far[2] - far[0]) * (far[3] - far[1]), 1e-6)


def render_frame(rng: Rng, background: np.ndarray, figures: list[Figure], occluders: list[tuple[list[Prim], Texture]],
                 camera: Camera) -> tuple[bytes, list[dict]]:  # fmt: skip
    """JPEG bytes and one COCO-style record (keypoints, bbox, area, num_keypoints, synth) per figure.

    `rng` only draws the sensor noise, so the frames of a clip share everything else.
    """
    canvas = Canvas(background.copy())
    drawn = [draw_person(canvas, fig, 1 + IDS_PER_PERSON * j) for j, fig in enumerate(figures)]
    for prims, fill in occluders:
        canvas.paint(prims, fill, OCCLUDER_ID, unit_px=canvas.height_px)
    records = [_record(canvas, fig, d) for fig, d in zip(figures, drawn, strict=True)]
    image = apply_camera(rng, canvas.image, camera)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality])
    assert ok
    return buf.tobytes(), records


def _record(canvas: Canvas, fig: Figure, drawn) -> dict:  # noqa: ANN001 (DrawnPerson)
    v = joint_visibility(canvas, fig.xy, drawn)
    kps = np.where(v[:, None] > 0, np.round(fig.xy[:17], 2), 0.0)
    keypoints = [x for k in range(17) for x in (float(kps[k, 0]), float(kps[k, 1]), int(v[k]))]
    mask = (canvas.ids >= drawn.first_id) & (canvas.ids <= drawn.last_id)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size:
        x0, y0 = int(cols[0]), int(rows[0])
        bbox = [x0, y0, int(cols[-1]) - x0 + 1, int(rows[-1]) - y0 + 1]
        area = int(mask.sum())
    else:  # hidden entirely (rare): box of the labelled joints
        inside = kps[v > 0] if (v > 0).any() else np.zeros((1, 2))
        x0, y0 = np.floor(inside.min(axis=0)).astype(int)
        x1, y1 = np.ceil(inside.max(axis=0)).astype(int) + 1
        bbox = [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]
        area = max(bbox[2] * bbox[3] // 2, 1)
    return {"keypoints": keypoints, "num_keypoints": int((v > 0).sum()), "bbox": bbox, "area": area,
            "synth": fig.extra}  # fmt: skip
