"""Scenes for `edgepose synth`: cluttered backgrounds with body-part-like distractors, occluders, and
camera effects (blur, lighting, contrast, noise, JPEG quality). Each knob's strength is a `Difficulty`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgepose.data.synth_canvas import Canvas, Prim, capsule
from edgepose.data.synth_look import Color, jitter, random_color, random_texture, skin_color

Rng = np.random.Generator


@dataclass(frozen=True)
class Difficulty:
    """How hard the images are: clutter, look-alike distractors, occluders, camera degradations."""

    clutter_shapes: tuple[int, int]  # background rectangles / ellipses / polygons / lines per image
    distractors: tuple[int, int]  # stray limb- and head-like shapes per image (up to 3x in wide scenes)
    occluder_p: float  # chance a person gets an occluder (1-2) drawn over them
    low_contrast_p: float  # chance the background takes the clothes' colour; again, of a washed-out camera
    blur_p: float  # Gaussian blur; motion blur gets half this chance
    noise_p: float
    noise_sigma: tuple[float, float]
    jpeg_quality: tuple[int, int]
    small_person_p: float  # single-person mode: person only 30-55% of the image height
    cut_p: float  # single-person mode: person partly outside the image


DIFFICULTIES = {
    "easy": Difficulty((2, 6), (0, 1), 0.15, 0.0, 0.1, 0.2, (1, 4), (88, 95), 0.0, 0.03),
    "normal": Difficulty((6, 14), (1, 4), 0.5, 0.12, 0.3, 0.6, (2, 10), (70, 95), 0.12, 0.1),
    "hard": Difficulty((10, 22), (3, 8), 0.7, 0.25, 0.45, 0.8, (4, 16), (60, 90), 0.25, 0.18),
}


def background(rng: Rng, height_px: int, width_px: int, unit_px: float, diff: Difficulty,
               near_color: Color | None = None) -> np.ndarray:  # fmt: skip
    """(H, W, 3) uint8 BGR clutter: a gradient or split floor/wall, shapes, lines, distractors."""
    base = jitter(rng, near_color, 30) if near_color is not None else random_color(rng)
    other = jitter(rng, base, 70) if rng.random() < 0.5 else random_color(rng)
    image = np.empty((height_px, width_px, 3), dtype=np.uint8)
    if rng.random() < 0.4:  # wall and floor
        horizon = int(rng.uniform(0.3, 0.8) * height_px)
        image[:horizon], image[horizon:] = base, other
    else:  # a gradient: its 2x2 corner colours upsampled (cheaper than evaluating every pixel)
        angle = rng.uniform(0, 2 * math.pi)
        c, s = math.cos(angle), math.sin(angle)
        a, b = np.asarray(base, np.float32), np.asarray(other, np.float32)
        corners = np.array([[a + (b - a) * (0.5 + x * c + y * s) for x in (-0.5, 0.5)] for y in (-0.5, 0.5)])
        image[:] = np.clip(cv2.resize(corners.astype(np.float32), (width_px, height_px)), 0, 255)
    canvas = Canvas(image)
    person_areas = height_px * width_px / max(unit_px * unit_px * 0.35, 1.0)  # how many people would fit
    for _ in range(int(rng.integers(*diff.clutter_shapes, endpoint=True))):
        _clutter_shape(rng, canvas, near_color)
    n_distract = int(rng.integers(*diff.distractors, endpoint=True) * min(max(person_areas / 5, 1.0), 3.0))
    for _ in range(n_distract):
        _distractor(rng, canvas, unit_px)
    return canvas.image


def _random_point(rng: Rng, canvas: Canvas) -> np.ndarray:
    return np.array([rng.uniform(0, canvas.width_px), rng.uniform(0, canvas.height_px)])


def blob(rng: Rng, center: np.ndarray, size_px: float) -> list[Prim]:
    """A random shape about `size_px` across: rectangle, rotated rectangle, polygon, ellipse, circles."""
    kind = rng.integers(5)
    if kind == 0:
        w, h = rng.uniform(0.3, 1.0, 2) * size_px
        return [("poly", center + np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2)]
    if kind in (1, 2):
        n = 4 if kind == 1 else int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * math.pi, n)) if kind == 2 else rng.uniform(0, 6.3) + np.arange(4) * math.pi / 2
        radii = rng.uniform(0.3, 0.6, n) * size_px
        return [("poly", center + np.stack([np.cos(angles) * radii, np.sin(angles) * radii], 1))]
    if kind == 3:
        return [("ellipse", *center, *(rng.uniform(0.15, 0.5, 2) * size_px), rng.uniform(0, 180))]
    return [("circle", *(center + rng.normal(0, 0.2 * size_px, 2)), rng.uniform(0.1, 0.3) * size_px) for _ in range(4)]


def _clutter_shape(rng: Rng, canvas: Canvas, near_color: Color | None) -> None:
    size = rng.uniform(0.1, 0.6) * min(canvas.width_px, canvas.height_px)
    base = jitter(rng, near_color, 40) if near_color is not None and rng.random() < 0.5 else None
    fill = random_texture(rng, base)
    if rng.random() < 0.3:  # a line / edge
        p1, p2 = _random_point(rng, canvas), _random_point(rng, canvas)
        r = rng.uniform(0.5, 3.0)
        canvas.paint(capsule(p1, p2, r, r), fill.a)
        return
    canvas.paint(blob(rng, _random_point(rng, canvas), size), fill, unit_px=size * 3)


def _distractor(rng: Rng, canvas: Canvas, unit_px: float) -> None:
    """A stray limb (1-2 capsules) or head-like ellipse in skin or clothing colours, at person scale."""
    color = skin_color(rng) if rng.random() < 0.5 else random_color(rng)
    p = _random_point(rng, canvas)
    if rng.random() < 0.2:
        r = rng.uniform(0.05, 0.075) * unit_px
        canvas.paint([("ellipse", *p, r, 1.12 * r, rng.uniform(-30, 30))], color)
        if rng.random() < 0.6:
            canvas.paint([("ellipse", *(p - [0, 0.3 * r]), r * 1.02, 0.8 * r, 0)], random_color(rng, val=(0.05, 0.5)))
        return
    for _ in range(int(rng.integers(1, 3))):
        length = rng.uniform(0.12, 0.25) * unit_px
        angle = rng.uniform(0, 2 * math.pi)
        q = p + length * np.array([math.cos(angle), math.sin(angle)])
        r = rng.uniform(0.025, 0.055) * unit_px
        canvas.paint(capsule(p, q, r, r * rng.uniform(0.7, 1.0)), color, factor=float(rng.uniform(0.8, 1.1)))
        p = q


def occluder(rng: Rng, box_xyxy: np.ndarray) -> tuple[list[Prim], object]:
    """A shape over part of a person's box (at most ~a third of it): a pole, a panel or a blob."""
    x0, y0, x1, y1 = box_xyxy
    w, h = max(x1 - x0, 2.0), max(y1 - y0, 2.0)
    center = np.array([rng.uniform(x0, x1), rng.uniform(y0 + 0.2 * h, y1)])
    fill = random_texture(rng)
    kind = rng.random()
    if kind < 0.25:  # pole
        half = np.array([rng.uniform(0.04, 0.1) * w, rng.uniform(0.4, 0.8) * h])
        prims: list[Prim] = [("poly", center + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half)]
    elif kind < 0.5:  # table / wall / sign panel
        half = np.array([rng.uniform(0.25, 0.6) * w, rng.uniform(0.1, 0.22) * h])
        prims = [("poly", center + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half)]
    else:
        prims = blob(rng, center, rng.uniform(0.25, 0.5) * math.sqrt(w * h))
    return prims, fill


@dataclass(frozen=True)
class Camera:
    """Per image (per clip with --sequences) camera: blur, lighting, contrast, noise level, JPEG quality."""

    blur: tuple
    gain: tuple[float, float, float] | None  # lighting: level, left-right and top-bottom slopes
    contrast: float
    noise_sigma: float
    jpeg_quality: int


def sample_camera(rng: Rng, diff: Difficulty) -> Camera:
    r = rng.random()
    if r < diff.blur_p:
        blur: tuple = ("gauss", float(rng.uniform(0.5, 1.6)))
    elif r < 1.5 * diff.blur_p:
        blur = ("motion", int(rng.integers(3, 10)), float(rng.uniform(0, 180)))
    else:
        blur = ("none",)
    gain = (float(rng.uniform(0.8, 1.15)), *map(float, rng.uniform(-0.35, 0.35, 2))) if rng.random() < 0.5 else None
    contrast = float(rng.uniform(0.45, 0.75)) if rng.random() < diff.low_contrast_p else 1.0
    noise_sigma = float(rng.uniform(*diff.noise_sigma)) if rng.random() < diff.noise_p else 0.0
    quality = int(rng.integers(diff.jpeg_quality[0], diff.jpeg_quality[1] + 1))
    return Camera(blur, gain, contrast, noise_sigma, quality)  # type: ignore[arg-type]


def apply_camera(rng: Rng, image: np.ndarray, cam: Camera) -> np.ndarray:
    """Blur, lighting gradient, contrast and fresh sensor noise (drawn from `rng`) on a uint8 image."""
    h, w = image.shape[:2]
    image = apply_blur(image, cam.blur)
    if cam.gain is None and cam.contrast == 1.0 and cam.noise_sigma == 0.0:
        return image
    out = image.astype(np.float32)
    if cam.gain is not None:  # per-pixel maps are merged over channels: numpy broadcasts a trailing 1 slowly
        level, gx, gy = cam.gain
        xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
        ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
        out *= _per_channel(np.float32(level) + np.float32(gx) * xs + np.float32(gy) * ys)
    if cam.contrast != 1.0:
        mean = np.asarray(cv2.mean(out)[:3], dtype=np.float32)
        out = mean + (out - mean) * np.float32(cam.contrast)
    if cam.noise_sigma > 0:
        # luminance noise, uniform with the same standard deviation (a third the cost of normal draws)
        noise = (rng.random((h, w), dtype=np.float32) - np.float32(0.5)) * np.float32(cam.noise_sigma * math.sqrt(12))
        out += _per_channel(noise)
    return np.clip(out, 0, 255).astype(np.uint8)


def _per_channel(plane: np.ndarray) -> np.ndarray:
    return cv2.merge([plane, plane, plane])


def apply_blur(image: np.ndarray, blur: tuple) -> np.ndarray:
    if blur[0] == "gauss":
        return cv2.GaussianBlur(image, (0, 0), blur[1])
    if blur[0] == "motion":
        size = blur[1]
        kernel = np.zeros((size, size), dtype=np.float32)
        c = (size - 1) / 2
        dx, dy = math.cos(math.radians(blur[2])) * c, math.sin(math.radians(blur[2])) * c
        cv2.line(kernel, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1)
        return cv2.filter2D(image, -1, kernel / kernel.sum())
    return image
