"""A person for `edgepose synth`: torso, limbs and head painted onto a Canvas, and joint visibility.

Every person part is painted far to near (painter's order by depth) and writes its id into the id
buffer, so visibility comes from what was really drawn on top of each joint, not from chance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgepose.data.synth_body import POINT_NAMES, P, Proportions
from edgepose.data.synth_canvas import Canvas, capsule
from edgepose.data.synth_head import draw_head
from edgepose.data.synth_look import Color, Look, Texture


@dataclass
class Figure:
    """One placed person: image points (len(POINT_NAMES), 2), depths (height units), scale, looks."""

    xy: np.ndarray
    z: np.ndarray
    unit_px: float  # pixels per standing body height
    prop: Proportions
    look: Look
    facing: str
    extra: dict = field(default_factory=dict)


@dataclass
class DrawnPerson:
    """What visibility needs: the ids each joint may show through, and face self-occlusion."""

    first_id: int
    last_id: int
    own_ids: list[set[int]]
    self_visible: np.ndarray  # (17,) bool


_LIMBS = (  # (part, from, to, radius field, taper, fill)
    ("upper_arm", "{L}_shoulder", "{L}_elbow", "r_upper_arm", 0.85, "arm_upper"),
    ("forearm", "{L}_elbow", "{L}_wrist", "r_forearm", 0.85, "arm_lower"),
    ("hand", "{L}_wrist", "{s}_hand", "r_hand", 0.8, "skin"),
    ("thigh", "{L}_hip", "{L}_knee", "r_thigh", 0.8, "bottom"),
    ("shin", "{L}_knee", "{L}_ankle", "r_shin", 0.75, "leg_lower"),
    ("foot", "{L}_ankle", "{s}_toe", "r_foot", 0.9, "shoes"),
)
_OWNERS = {"shoulder": ("upper_arm",), "elbow": ("upper_arm", "forearm"), "wrist": ("forearm", "hand"),
           "hip": ("thigh",), "knee": ("thigh", "shin"), "ankle": ("shin", "foot")}  # fmt: skip


def _fill(look: Look, key: str) -> Texture | Color:
    if key == "arm_upper":
        return look.top if look.sleeves != "none" else look.skin
    if key == "arm_lower":
        return look.top if look.sleeves == "long" else look.skin
    if key == "leg_lower":
        return look.bottom if look.legs == "long" else look.skin
    return {"skin": look.skin, "bottom": look.bottom, "shoes": look.shoes, "top": look.top}[key]


def draw_person(canvas: Canvas, fig: Figure, first_id: int) -> DrawnPerson:
    """Paint `fig` far to near, far-side parts a little darker; ids first_id.. in the id buffer."""
    xy, z, u, prop, look = fig.xy, fig.z, fig.unit_px, fig.prop, fig.look
    torso_z = float(z[[P["left_shoulder"], P["right_shoulder"], P["left_hip"], P["right_hip"]]].mean())
    head_z = float(z[P["head"]])
    # the neck goes just before the head, whichever way the head leans, so it never covers the head
    parts: list[tuple[float, str]] = [(torso_z + 0.01, "torso"), (head_z + 0.001, "neck"), (head_z, "head")]
    limb_geom = {}
    for side, long in (("l", "left"), ("r", "right")):
        for name, a, b, radius, taper, fill in _LIMBS:
            ia, ib = P[a.format(L=long, s=side)], P[b.format(L=long, s=side)]
            r = getattr(prop, radius) * u
            depth = 0.5 * float(z[ia] + z[ib]) - (0.002 if name in ("hand", "foot") else 0.0)
            parts.append((depth, f"{side}_{name}"))
            limb_geom[f"{side}_{name}"] = (capsule(xy[ia], xy[ib], r, r * taper), fill)
    parts.sort(key=lambda p: -p[0])
    ids = {name: first_id + i for i, (_, name) in enumerate(parts)}
    span = 1.5 * prop.shoulder_half
    origin = (float(xy[P["hip_mid"]][0]), float(xy[P["hip_mid"]][1]))
    for depth, name in parts:
        factor = 1.0 - 0.28 * min(max((depth - torso_z) / span, 0.0), 1.0)
        if name == "torso":
            _draw_torso(canvas, fig, ids[name], factor, origin)
        elif name == "neck":
            neck = capsule(xy[P["sh_mid"]], 0.5 * (xy[P["neck"]] + xy[P["head"]]), prop.r_neck * u, prop.r_neck * u)
            canvas.paint(neck, look.skin, ids[name], factor * 0.92, origin, u)
        elif name == "head":
            draw_head(canvas, fig, ids[name])
        else:
            prims, fill = limb_geom[name]
            canvas.paint(prims, _fill(look, fill), ids[name], factor, origin, u)
    return DrawnPerson(first_id, first_id + len(parts) - 1, *_ownership(fig, ids))


def _ownership(fig: Figure, ids: dict[str, int]) -> tuple[list[set[int]], np.ndarray]:
    z, r = fig.z, fig.prop.head_r
    own: list[set[int]] = []
    visible = np.ones(17, dtype=bool)
    head_z = float(z[P["head"]])
    for k, name in enumerate(POINT_NAMES[:17]):
        if name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
            own.append({ids["head"]})
            limit = {"nose": 0.2, "left_eye": -0.15, "right_eye": -0.15}.get(name, 0.3)
            visible[k] = z[k] < head_z + limit * r
            continue
        long, joint = name.split("_")
        side = long[0]
        owners = {ids[f"{side}_{part}"] for part in _OWNERS[joint]}
        if joint in ("shoulder", "hip"):
            half, mid = (fig.prop.shoulder_half, "sh_mid") if joint == "shoulder" else (fig.prop.hip_half, "hip_mid")
            if z[k] < z[P[mid]] + 0.8 * half:  # not on the torso's far side
                owners.add(ids["torso"])
        own.append(owners)
    return own, visible


def _draw_torso(canvas: Canvas, fig: Figure, part_id: int, factor: float, origin: tuple[float, float]) -> None:
    xy, u, prop, look = fig.xy, fig.unit_px, fig.prop, fig.look
    top, bottom = xy[P["sh_mid"]], xy[P["hip_mid"]]
    axis = bottom - top
    length = max(float(np.hypot(*axis)), 1e-6)
    axis = axis / length
    n = np.array([-axis[1], axis[0]])
    thick = prop.torso_half_depth * u
    w_top = max(abs(float((xy[P["left_shoulder"]] - xy[P["right_shoulder"]]) @ n)) / 2 + 0.5 * prop.r_upper_arm * u, thick)
    w_bot = max(abs(float((xy[P["left_hip"]] - xy[P["right_hip"]]) @ n)) / 2 + 0.6 * prop.r_thigh * u, 0.9 * thick)
    t = top - axis * 0.3 * prop.r_upper_arm * u
    b = bottom + axis * 0.35 * prop.r_thigh * u
    poly = np.array([t - n * w_top, t + n * w_top, b + n * w_bot, b - n * w_bot])
    r_cap = 0.75 * prop.r_upper_arm * u
    caps = [("circle", *(t + n * (w_top - r_cap * 0.8)), r_cap), ("circle", *(t - n * (w_top - r_cap * 0.8)), r_cap)]
    canvas.paint([("poly", poly), *caps], look.top, part_id, factor, origin, u)
    # trousers / skirt band over the lower torso
    waist = b - axis * 0.3 * length
    w_waist = w_bot + (w_top - w_bot) * 0.3
    band = np.array([waist - n * w_waist, waist + n * w_waist, b + n * w_bot, b - n * w_bot])
    canvas.paint([("poly", band)], look.bottom, part_id, factor, origin, u)
    logo = P["logo"]
    if look.logo is not None and fig.z[logo] < fig.z[P["sh_mid"]]:  # printed on the front: seen from the front only
        canvas.paint([("circle", *xy[logo], 0.03 * u)], look.logo, None, factor)


def joint_visibility(canvas: Canvas, xy: np.ndarray, drawn: DrawnPerson) -> np.ndarray:
    """COCO v per joint: 0 outside the image, 2 if its own part is on top there, else 1 (occluded)."""
    v = np.zeros(17, dtype=np.int64)
    for k in range(17):
        x, y = float(xy[k, 0]), float(xy[k, 1])
        if not (0.0 <= x <= canvas.width_px - 1 and 0.0 <= y <= canvas.height_px - 1):
            continue
        top = int(canvas.ids[int(round(y)), int(round(x))])
        v[k] = 2 if top in drawn.own_ids[k] and drawn.self_visible[k] else 1
    return v
