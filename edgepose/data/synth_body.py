"""Articulated 3D body on the COCO-17 tree for `edgepose synth`: proportions, joint angles, kinematics.

Body frame: x = the person's left, y = down, z = the person's back. The camera looks along +z, so a
person at yaw 0 faces it and their left side lands on the image's right (as in a photo). Angles are
degrees, lengths are fractions of the standing height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepose.schemas import COCO17

# Joint angles (one vector per pose, so sequences can animate them as a whole).
# sh_elev / sh_plane: arm elevation and its plane (0 = sideways, 90 = forward); negative elevation in
# a forward plane swings the arm backwards. sh_twist rotates the elbow's bending plane (+ = inwards).
ANGLE_NAMES = (
    "yaw", "roll", "torso_pitch", "torso_roll", "torso_twist", "head_pitch", "head_roll", "head_yaw",
    "l_sh_elev", "l_sh_plane", "l_sh_twist", "l_elbow", "r_sh_elev", "r_sh_plane", "r_sh_twist", "r_elbow",
    "l_hip_flex", "l_hip_abd", "l_hip_rot", "l_knee", "r_hip_flex", "r_hip_abd", "r_hip_rot", "r_knee",
)  # fmt: skip
A = {name: i for i, name in enumerate(ANGLE_NAMES)}
_LIMITS_DEG = {
    "yaw": (-1e6, 1e6), "roll": (-75, 75), "torso_pitch": (-25, 70), "torso_roll": (-30, 30),
    "torso_twist": (-40, 40), "head_pitch": (-35, 45), "head_roll": (-30, 30), "head_yaw": (-65, 65),
    "sh_elev": (-60, 175), "sh_plane": (-40, 140), "sh_twist": (-90, 90), "elbow": (0, 150),
    "hip_flex": (-30, 130), "hip_abd": (-15, 55), "hip_rot": (-30, 40), "knee": (0, 155),
}  # fmt: skip
LIMITS_DEG = np.array([_LIMITS_DEG[n[2:] if n[:2] in ("l_", "r_") else n] for n in ANGLE_NAMES], dtype=np.float64)

# Points the renderer needs: the 17 COCO joints first (same order), then helper points.
EXTRA_POINTS = ("head", "neck", "sh_mid", "hip_mid", "l_hand", "r_hand", "l_toe", "r_toe", "face", "mouth",
                "logo", "head_up")  # fmt: skip
POINT_NAMES = COCO17.keypoints + EXTRA_POINTS
P = {name: i for i, name in enumerate(POINT_NAMES)}
# Face points in head-radius units of the head frame. "face" is the direction the face points (tilted
# down): skin covers the head within FACE_CAP_DEG of it, hair the rest.
FACE_CAP_DEG = 82.0
_FACE_DIR = (0.0, 0.5, -math.sqrt(0.75))
_FACE_LOCAL = {
    "nose": (0.0, 0.15, -1.05), "left_eye": (0.38, -0.15, -0.85), "right_eye": (-0.38, -0.15, -0.85),
    "left_ear": (0.97, 0.05, 0.05), "right_ear": (-0.97, 0.05, 0.05), "mouth": (0.0, 0.5, -0.85),
    "face": _FACE_DIR, "head_up": (0.0, -1.0, 0.0),
}  # fmt: skip


@dataclass(frozen=True)
class Proportions:
    """Segment lengths, half-widths and radii as fractions of the standing height."""

    torso: float
    neck: float
    head_r: float
    shoulder_half: float
    hip_half: float
    upper_arm: float
    forearm: float
    hand: float
    thigh: float
    shin: float
    foot: float
    torso_half_depth: float
    r_upper_arm: float
    r_forearm: float
    r_hand: float
    r_thigh: float
    r_shin: float
    r_foot: float
    r_neck: float


def sample_proportions(rng: np.random.Generator) -> Proportions:
    """Varied adult-ish proportions: limb lengths, torso width, head size and girth (thin to heavy)."""
    u = rng.uniform
    arm, leg, girth = u(0.88, 1.12), u(0.88, 1.12), u(0.75, 1.35)
    loose = u(1.0, 1.25)  # loose clothing widens limbs a little
    return Proportions(
        torso=0.30 * u(0.88, 1.12), neck=0.045 * u(0.7, 1.3), head_r=0.062 * u(0.85, 1.2),
        shoulder_half=0.115 * u(0.8, 1.2), hip_half=0.085 * u(0.8, 1.2),
        upper_arm=0.175 * arm * u(0.95, 1.05), forearm=0.155 * arm * u(0.95, 1.05), hand=0.06 * arm,
        thigh=0.245 * leg * u(0.95, 1.05), shin=0.24 * leg * u(0.95, 1.05), foot=0.11 * u(0.9, 1.1),
        torso_half_depth=0.075 * girth,
        r_upper_arm=0.034 * girth * loose, r_forearm=0.027 * girth * loose, r_hand=0.024 * u(0.9, 1.15),
        r_thigh=0.052 * girth * loose, r_shin=0.038 * girth * loose, r_foot=0.024 * u(0.9, 1.15),
        r_neck=0.026 * u(0.85, 1.2),
    )  # fmt: skip


def _rot(axis: int, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    if axis == 0:
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == 1:
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def clip_angles(angles: np.ndarray) -> np.ndarray:
    """Angles within anatomical limits; an arm swings backwards (negative elevation) only in a forward
    plane: the limit goes smoothly from 0 deg in the sideways plane to -60 deg in the forward one."""
    out = np.clip(angles, LIMITS_DEG[:, 0], LIMITS_DEG[:, 1])
    for side in "lr":
        forward = min(max(out[A[f"{side}_sh_plane"]] / 90.0, 0.0), 1.0)
        out[A[f"{side}_sh_elev"]] = max(out[A[f"{side}_sh_elev"]], -60.0 * forward)
    return out


def skeleton_3d(prop: Proportions, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(points (len(POINT_NAMES), 3), torso front normal (3,)) in the body frame, pelvis at the origin."""
    g = {name: float(angles[i]) for i, name in enumerate(ANGLE_NAMES)}
    pts = np.zeros((len(POINT_NAMES), 3))
    down = np.array([0.0, 1.0, 0.0])
    r_torso = _rot(1, g["torso_twist"]) @ _rot(0, g["torso_pitch"]) @ _rot(2, g["torso_roll"])
    sh_mid = r_torso @ np.array([0.0, -prop.torso, 0.0])
    pts[P["sh_mid"]] = sh_mid
    neck = sh_mid + r_torso @ np.array([0.0, -prop.neck, 0.0])
    pts[P["neck"]] = neck
    r_head = r_torso @ _rot(1, g["head_yaw"]) @ _rot(0, g["head_pitch"]) @ _rot(2, g["head_roll"])
    head = neck + r_head @ np.array([0.0, -prop.head_r, 0.0])
    pts[P["head"]] = head
    for name, local in _FACE_LOCAL.items():
        pts[P[name]] = head + r_head @ (np.array(local) * prop.head_r)
    pts[P["logo"]] = sh_mid + r_torso @ np.array([0.45 * prop.shoulder_half, 0.28 * prop.torso, -prop.torso_half_depth])
    for side, sign, long in (("l", 1.0, "left"), ("r", -1.0, "right")):
        shoulder = sh_mid + r_torso @ np.array([sign * prop.shoulder_half, 0.0, 0.0])
        r_upper = (r_torso @ _rot(1, sign * g[f"{side}_sh_plane"]) @ _rot(2, -sign * g[f"{side}_sh_elev"])
                   @ _rot(1, sign * g[f"{side}_sh_twist"]))  # fmt: skip
        elbow = shoulder + r_upper @ down * prop.upper_arm
        r_fore = r_upper @ _rot(0, -g[f"{side}_elbow"])  # elbows bend towards the arm's front only
        wrist = elbow + r_fore @ down * prop.forearm
        hip = np.array([sign * prop.hip_half, 0.0, 0.0])
        r_thigh = _rot(0, -g[f"{side}_hip_flex"]) @ _rot(2, -sign * g[f"{side}_hip_abd"]) @ _rot(1, sign * g[f"{side}_hip_rot"])
        knee = hip + r_thigh @ down * prop.thigh
        r_shin = r_thigh @ _rot(0, g[f"{side}_knee"])  # knees bend backwards only
        ankle = knee + r_shin @ down * prop.shin
        toe_dir = r_shin @ np.array([0.0, 0.3, -1.0])
        pts[P[f"{long}_shoulder"]], pts[P[f"{long}_elbow"]], pts[P[f"{long}_wrist"]] = shoulder, elbow, wrist
        pts[P[f"{side}_hand"]] = wrist + r_fore @ down * prop.hand
        pts[P[f"{long}_hip"]], pts[P[f"{long}_knee"]], pts[P[f"{long}_ankle"]] = hip, knee, ankle
        pts[P[f"{side}_toe"]] = ankle + toe_dir / np.linalg.norm(toe_dir) * prop.foot
    return pts, r_torso @ np.array([0.0, 0.0, -1.0])


def view_points(pts: np.ndarray, front: np.ndarray, yaw_deg: float) -> tuple[np.ndarray, np.ndarray, str]:
    """Turn the body by `yaw_deg` about the vertical: (x, y (N, 2), depth z (N,), facing label)."""
    turned = pts @ _rot(1, yaw_deg).T
    front_z = float((_rot(1, yaw_deg) @ front)[2])
    facing = "front" if front_z < -0.5 else "back" if front_z > 0.5 else "profile"
    return turned[:, :2], turned[:, 2], facing


def sample_yaw(rng: np.random.Generator) -> float:
    """Facing the camera half the time, from behind a quarter, roughly in profile a quarter."""
    r = rng.random()
    if r < 0.5:
        return float(rng.uniform(-40, 40))
    if r < 0.75:
        return float(180 + rng.uniform(-40, 40))
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(50, 130))
