"""Colours and textures for `edgepose synth`: skin tones, clothes, hair, and procedural fills.

Colours are BGR floats in 0..255 (what cv2 writes). A texture is a small parameter record evaluated
over any pixel window in pattern coordinates anchored to the person, so a pattern moves with its
wearer from frame to frame.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import cv2
import numpy as np

Rng = np.random.Generator
Color = tuple[float, float, float]

_SKIN_RGB = ((255, 224, 196), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36),
             (92, 51, 23), (255, 205, 148), (234, 192, 134), (170, 120, 90))  # fmt: skip
_HAIR_RGB = ((20, 15, 12), (45, 30, 20), (90, 60, 35), (150, 110, 60), (210, 180, 120), (160, 160, 160),
             (120, 50, 25))  # fmt: skip
TEXTURE_KINDS = ("solid", "stripes", "gradient", "plaid", "blotch")
_COARSE_PX = 4096
_RAMP = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]  # colour lookup table positions


def _bgr(rgb: tuple[float, float, float]) -> Color:
    return (float(rgb[2]), float(rgb[1]), float(rgb[0]))


def jitter(rng: Rng, color: Color, amount: float) -> Color:
    d = rng.uniform(-amount, amount, 3)
    return (min(max(color[0] + d[0], 0.0), 255.0), min(max(color[1] + d[1], 0.0), 255.0),
            min(max(color[2] + d[2], 0.0), 255.0))  # fmt: skip


def random_color(rng: Rng, sat: tuple[float, float] = (0.0, 0.9), val: tuple[float, float] = (0.1, 0.95)) -> Color:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return _bgr((255 * r, 255 * g, 255 * b))


def skin_color(rng: Rng) -> Color:
    return jitter(rng, _bgr(_SKIN_RGB[int(rng.integers(len(_SKIN_RGB)))]), 12)


def hair_color(rng: Rng) -> Color:
    return jitter(rng, _bgr(_HAIR_RGB[int(rng.integers(len(_HAIR_RGB)))]), 10)


def shade(color: Color, factor: float) -> Color:
    return (color[0] * factor, color[1] * factor, color[2] * factor)


@dataclass(frozen=True)
class Texture:
    """A procedural fill: solid, stripes, gradient, plaid or blotches between colours a and b."""

    kind: str
    a: Color
    b: Color
    period: float  # pattern units (person heights) per stripe cycle
    angle_rad: float
    waves: tuple[tuple[float, float, float], ...] = ()  # blotch: (fx, fy, phase) per wave

    def render(self, x0: float, y0: float, w: int, h: int, unit_px: float, factor: float = 1.0) -> np.ndarray:
        """(h, w, 3) uint8 fill of the pixel window whose top-left is (x0, y0) in pattern pixels."""
        a = np.asarray(self.a, dtype=np.float32) * np.float32(factor)
        if self.kind == "solid":
            return np.full((h, w, 3), np.clip(a + 0.5, 0, 255).astype(np.uint8))
        step = 2 if w * h > _COARSE_PX else 1  # large windows: evaluate every other pixel, then upsample
        xs = (np.arange(0, w, step, dtype=np.float32) + np.float32(x0)) / np.float32(unit_px)
        ys = (np.arange(0, h, step, dtype=np.float32) + np.float32(y0)) / np.float32(unit_px)
        c, s = np.float32(math.cos(self.angle_rad)), np.float32(math.sin(self.angle_rad))
        if self.kind == "gradient":
            t = np.clip(0.5 + (xs[None, :] * c + ys[:, None] * s) / np.float32(4 * self.period), 0, 1)
        elif self.kind == "stripes":
            t = _square(xs[None, :] * c + ys[:, None] * s, self.period)
        elif self.kind == "plaid":
            t = 0.5 * (_square(xs[None, :] * c + ys[:, None] * s, self.period)
                       + _square(ys[:, None] * c - xs[None, :] * s, self.period * 1.3))  # fmt: skip
        else:
            t = np.zeros((len(ys), len(xs)), dtype=np.float32)
            for fx, fy, ph in self.waves:
                t = t + np.sin(np.float32(2 * math.pi) * (np.float32(fx) * xs[None, :] + np.float32(fy) * ys[:, None]) + np.float32(ph))
            t = np.clip(0.5 + t / np.float32(1.5 * len(self.waves)), 0, 1)
        b = np.asarray(self.b, dtype=np.float32) * np.float32(factor)
        lut = np.clip(a + (b - a) * _RAMP + 0.5, 0, 255)
        t = np.broadcast_to(t, (len(ys), len(xs)))
        if step > 1:
            t = cv2.resize(np.ascontiguousarray(t), (w, h), interpolation=cv2.INTER_LINEAR)
        t8 = (t * 255 + 0.5).astype(np.uint8)
        return cv2.LUT(cv2.merge([t8, t8, t8]), lut.astype(np.uint8).reshape(1, 256, 3))


def _square(t: np.ndarray, period: float) -> np.ndarray:
    """Soft square wave in 0..1 (soft edges keep stripes from aliasing)."""
    return np.clip(0.5 + 2.0 * np.sin(np.float32(2 * math.pi / period) * t), 0, 1)


def random_texture(rng: Rng, base: Color | None = None, kinds: tuple[str, ...] = TEXTURE_KINDS) -> Texture:
    """A fill around `base` (random when None): solid 40%, else a two-colour pattern."""
    a = base if base is not None else random_color(rng)
    kind = "solid" if rng.random() < 0.4 else kinds[int(rng.integers(1, len(kinds)))] if len(kinds) > 1 else kinds[0]
    b = random_color(rng) if rng.random() < 0.5 else shade(a, float(rng.uniform(0.45, 0.8)))
    waves = ()
    if kind == "blotch":
        waves = tuple((float(rng.uniform(-6, 6)), float(rng.uniform(-6, 6)), float(rng.uniform(0, 6.3))) for _ in range(3))
    return Texture(kind, a, b, float(rng.uniform(0.02, 0.12)), float(rng.uniform(0, math.pi)), waves)


@dataclass(frozen=True)
class Look:
    """One person's appearance: skin, hair, garments (upper and lower body differ), sleeves, shoes."""

    skin: Texture
    hair: Color
    bald: bool
    top: Texture
    bottom: Texture
    shoes: Color
    sleeves: str  # long | short | none
    legs: str  # long | shorts
    logo: Color | None  # a small mark on the left chest (an asymmetric cue, as on real shirts)


def sample_look(rng: Rng, near_color: Color | None = None) -> Look:
    """A random outfit; `near_color` makes the top close to it (low person/background contrast)."""
    skin = skin_color(rng)
    top_base = jitter(rng, near_color, 25) if near_color is not None else random_color(rng)
    bottom_base = random_color(rng, val=(0.08, 0.8))
    if np.abs(np.subtract(top_base, bottom_base)).sum() < 90:  # upper and lower body must read as different
        bottom_base = tuple(255.0 - c for c in top_base)  # type: ignore[assignment]
    sleeves = str(rng.choice(["long", "short", "none"], p=[0.5, 0.35, 0.15]))
    return Look(
        skin=Texture("solid", skin, skin, 0.1, 0.0),
        hair=hair_color(rng), bald=bool(rng.random() < 0.08), top=random_texture(rng, top_base),
        bottom=random_texture(rng, bottom_base), shoes=random_color(rng, val=(0.05, 0.6)), sleeves=sleeves,
        legs=str(rng.choice(["long", "shorts"], p=[0.7, 0.3])),
        logo=random_color(rng, sat=(0.5, 1.0), val=(0.5, 1.0)) if rng.random() < 0.6 else None,
    )  # fmt: skip
