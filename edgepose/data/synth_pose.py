"""Pose families and smooth motion for `edgepose synth`: joint-angle vectors within anatomical limits.

A pose is an angle vector over synth_body.ANGLE_NAMES. Families (standing, walking, running, arms
raised, crouching, sitting, kneeling, kicking, throwing, anything within limits) give varied poses;
`Motion` animates one as a smooth curve (gait cycles for walkers, sums of sinusoids otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgepose.data.synth_body import ANGLE_NAMES, LIMITS_DEG, A, clip_angles, sample_yaw

Rng = np.random.Generator


def _set(a: np.ndarray, name: str, value: float) -> None:
    a[A[name]] = value


def _relaxed_arm(rng: Rng, a: np.ndarray, side: str) -> None:
    _set(a, f"{side}_sh_elev", rng.uniform(0, 35))
    _set(a, f"{side}_sh_plane", rng.uniform(-20, 70))
    _set(a, f"{side}_sh_twist", rng.uniform(-20, 50))
    _set(a, f"{side}_elbow", rng.uniform(0, 50))


def _straight_leg(rng: Rng, a: np.ndarray, side: str) -> None:
    _set(a, f"{side}_hip_flex", rng.uniform(-8, 15))
    _set(a, f"{side}_hip_abd", rng.uniform(0, 15))
    _set(a, f"{side}_hip_rot", rng.uniform(-10, 20))
    _set(a, f"{side}_knee", rng.uniform(0, 15))


def _standing(rng: Rng, a: np.ndarray) -> None:
    for side in "lr":
        _relaxed_arm(rng, a, side)
        _straight_leg(rng, a, side)


def gait(a: np.ndarray, phase_rad: float, stride_deg: float, knee_deg: float, arm_deg: float, elbow_deg: float) -> None:
    """Walking / running angles at one phase of the cycle; legs and arms swing in opposition."""
    for side, shift in (("l", 0.0), ("r", math.pi)):
        ph = phase_rad + shift
        _set(a, f"{side}_hip_flex", 8 + stride_deg * math.sin(ph))
        _set(a, f"{side}_knee", 8 + knee_deg * max(0.0, math.cos(ph)) ** 1.5)
        _set(a, f"{side}_sh_plane", 90)
        _set(a, f"{side}_sh_elev", -arm_deg * math.sin(ph))
        _set(a, f"{side}_elbow", elbow_deg + 0.3 * elbow_deg * math.sin(ph + 0.5))


@dataclass(frozen=True)
class GaitParams:
    stride_deg: float
    knee_deg: float
    arm_deg: float
    elbow_deg: float
    period_frames: float


def sample_gait(rng: Rng, running: bool) -> GaitParams:
    if running:
        return GaitParams(rng.uniform(35, 55), rng.uniform(60, 110), rng.uniform(25, 50), rng.uniform(70, 100),
                          rng.uniform(10, 18))  # fmt: skip
    return GaitParams(rng.uniform(18, 32), rng.uniform(25, 50), rng.uniform(10, 30), rng.uniform(5, 35),
                      rng.uniform(14, 28))  # fmt: skip


def _raised_arm(rng: Rng, a: np.ndarray, side: str) -> None:
    _set(a, f"{side}_sh_elev", rng.uniform(90, 175))
    _set(a, f"{side}_sh_plane", rng.uniform(-20, 100))
    _set(a, f"{side}_sh_twist", rng.uniform(-90, 30))
    _set(a, f"{side}_elbow", rng.uniform(0, 110))


def _arms_raised(rng: Rng, a: np.ndarray) -> None:
    _standing(rng, a)
    both = rng.random() < 0.5
    for side in "lr":
        if both or rng.random() < 0.5:
            _raised_arm(rng, a, side)


def _forward_arms(rng: Rng, a: np.ndarray) -> None:
    for side in "lr":
        _set(a, f"{side}_sh_elev", rng.uniform(15, 95))
        _set(a, f"{side}_sh_plane", rng.uniform(30, 120))
        _set(a, f"{side}_sh_twist", rng.uniform(-30, 60))
        _set(a, f"{side}_elbow", rng.uniform(20, 120))


def _crouching(rng: Rng, a: np.ndarray) -> None:
    _forward_arms(rng, a)
    _set(a, "torso_pitch", rng.uniform(15, 55))
    flex, knee = rng.uniform(70, 120), rng.uniform(80, 150)
    for side in "lr":
        _set(a, f"{side}_hip_flex", flex + rng.uniform(-15, 15))
        _set(a, f"{side}_hip_abd", rng.uniform(5, 35))
        _set(a, f"{side}_knee", knee + rng.uniform(-15, 15))


def _sitting(rng: Rng, a: np.ndarray) -> None:
    _forward_arms(rng, a)
    _set(a, "torso_pitch", rng.uniform(-10, 20))
    for side in "lr":
        _set(a, f"{side}_hip_flex", rng.uniform(70, 100))
        _set(a, f"{side}_hip_abd", rng.uniform(0, 25))
        _set(a, f"{side}_knee", rng.uniform(65, 110))


def _kneeling(rng: Rng, a: np.ndarray) -> None:
    _standing(rng, a)
    front, back = ("l", "r") if rng.random() < 0.5 else ("r", "l")
    _set(a, f"{front}_hip_flex", rng.uniform(75, 100))
    _set(a, f"{front}_knee", rng.uniform(75, 100))
    _set(a, f"{back}_hip_flex", rng.uniform(-10, 20))
    _set(a, f"{back}_knee", rng.uniform(90, 130))


def _kicking(rng: Rng, a: np.ndarray) -> None:
    kick, stand = ("l", "r") if rng.random() < 0.5 else ("r", "l")
    _straight_leg(rng, a, stand)
    _set(a, f"{kick}_hip_flex", rng.uniform(45, 110))
    _set(a, f"{kick}_hip_abd", rng.uniform(0, 40))
    _set(a, f"{kick}_knee", rng.uniform(0, 70))
    _set(a, "torso_pitch", rng.uniform(-20, 10))
    for side in "lr":
        _set(a, f"{side}_sh_elev", rng.uniform(30, 100))
        _set(a, f"{side}_sh_plane", rng.uniform(-20, 60))
        _set(a, f"{side}_elbow", rng.uniform(0, 90))


def _throwing(rng: Rng, a: np.ndarray) -> None:
    gait(a, rng.uniform(0, 2 * math.pi), rng.uniform(10, 30), rng.uniform(10, 40), 0, 0)  # legs in a stride
    throw, other = ("l", "r") if rng.random() < 0.5 else ("r", "l")
    _set(a, f"{throw}_sh_elev", rng.uniform(70, 175))
    _set(a, f"{throw}_sh_plane", rng.uniform(-40, 120))
    _set(a, f"{throw}_sh_twist", rng.uniform(-90, 10))
    _set(a, f"{throw}_elbow", rng.uniform(0, 130))
    _set(a, f"{other}_sh_elev", rng.uniform(20, 100))
    _set(a, f"{other}_sh_plane", rng.uniform(50, 130))
    _set(a, f"{other}_elbow", rng.uniform(0, 100))
    _set(a, "torso_twist", rng.uniform(-40, 40))
    _set(a, "torso_pitch", rng.uniform(-10, 30))


def _anything(rng: Rng, a: np.ndarray) -> None:
    for i, name in enumerate(ANGLE_NAMES[2:], start=2):
        lo, hi = LIMITS_DEG[i]
        if name.endswith("sh_elev"):
            lo = 0.0
        a[i] = rng.uniform(lo, hi) if not name.startswith(("torso", "head")) else rng.uniform(lo, hi) * 0.6


def _walking(rng: Rng, a: np.ndarray) -> None:
    g = sample_gait(rng, running=False)
    gait(a, rng.uniform(0, 2 * math.pi), g.stride_deg, g.knee_deg, g.arm_deg, g.elbow_deg)


def _running(rng: Rng, a: np.ndarray) -> None:
    g = sample_gait(rng, running=True)
    gait(a, rng.uniform(0, 2 * math.pi), g.stride_deg, g.knee_deg, g.arm_deg, g.elbow_deg)
    _set(a, "torso_pitch", rng.uniform(5, 20))


FAMILIES: dict[str, tuple[float, Callable[[Rng, np.ndarray], None]]] = {
    "standing": (0.17, _standing), "walking": (0.14, _walking), "running": (0.09, _running),
    "arms_raised": (0.14, _arms_raised), "crouching": (0.09, _crouching), "sitting": (0.06, _sitting),
    "kneeling": (0.06, _kneeling), "kicking": (0.07, _kicking), "throwing": (0.08, _throwing),
    "anything": (0.10, _anything),
}  # fmt: skip


def sample_family(rng: Rng) -> str:
    names = list(FAMILIES)
    weights = np.array([FAMILIES[n][0] for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def sample_pose(rng: Rng, family: str) -> np.ndarray:
    """One angle vector of `family`, with head and torso jitter, yaw and (sometimes strong) roll."""
    a = np.zeros(len(ANGLE_NAMES))
    _set(a, "torso_pitch", rng.normal(3, 6))
    _set(a, "torso_roll", rng.normal(0, 5))
    _set(a, "torso_twist", rng.normal(0, 10))
    FAMILIES[family][1](rng, a)
    _set(a, "head_pitch", rng.normal(5, 12))
    _set(a, "head_roll", rng.normal(0, 10))
    _set(a, "head_yaw", rng.normal(0, 22))
    _set(a, "yaw", sample_yaw(rng))
    _set(a, "roll", rng.uniform(-60, 60) if rng.random() < 0.15 else rng.normal(0, 6))
    return clip_angles(a)


@dataclass(frozen=True)
class Motion:
    """A smooth pose curve: base angles + two sinusoids per angle (+ a gait cycle for walkers)."""

    base: np.ndarray
    amp_deg: np.ndarray  # (n_angles, 2)
    freq_per_frame: np.ndarray  # (n_angles, 2), cycles per frame
    phase_rad: np.ndarray  # (n_angles, 2)
    yaw_rate_deg: float
    gait: GaitParams | None = None
    gait_phase_rad: float = 0.0

    def at(self, frame: float) -> np.ndarray:
        a = self.base.copy()
        if self.gait is not None:
            g = self.gait
            gait(a, self.gait_phase_rad + 2 * math.pi * frame / g.period_frames, g.stride_deg, g.knee_deg,
                 g.arm_deg, g.elbow_deg)  # fmt: skip
        a += (self.amp_deg * np.sin(2 * math.pi * self.freq_per_frame * frame + self.phase_rad)).sum(axis=1)
        a[A["yaw"]] += self.yaw_rate_deg * frame
        return clip_angles(a)


def sample_motion(rng: Rng, family: str) -> Motion:
    """A motion whose frame 0 is a pose of `family`; limbs wander up to ~20 deg on 12-48 frame periods."""
    base = sample_pose(rng, family)
    n = len(ANGLE_NAMES)
    amp = rng.uniform(4, 16, size=(n, 2))
    for name in ("yaw", "roll", "torso_pitch", "torso_roll", "torso_twist", "head_pitch", "head_roll"):
        amp[A[name]] *= 0.3
    gait_params = None
    if family in ("walking", "running"):
        gait_params = sample_gait(rng, running=family == "running")
        amp *= 0.3
    return Motion(
        base=base, amp_deg=amp, freq_per_frame=1.0 / rng.uniform(12, 48, size=(n, 2)),
        phase_rad=rng.uniform(0, 2 * math.pi, size=(n, 2)), yaw_rate_deg=float(rng.uniform(-2.5, 2.5)),
        gait=gait_params, gait_phase_rad=float(rng.uniform(0, 2 * math.pi)),
    )  # fmt: skip
