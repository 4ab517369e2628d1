"""Train-time augmentation (flip, rotation, scale, shift, colour jitter) and input normalisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepose.deploy.normalize import TOP_DOWN_SCALING, scale_pixels, standardize
from edgepose.errors import UserError


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentation applied to training crops (SimpleBaselines-style)."""

    flip_prob: float = 0.5
    rotation_deg: float = 30.0  # uniform in [-r, r] ...
    rotation_prob: float = 0.4  # ... with this probability, else 0
    scale_range: tuple[float, float] = (0.75, 1.25)  # crop region size factor (>1: person smaller)
    brightness: float = 0.3  # factor uniform in [1 - b, 1 + b]
    contrast: float = 0.3
    saturation: float = 0.3
    translate_frac: float = 0.0  # centre shift, uniform in +-frac of the crop size

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise UserError(f"augment scale_range {self.scale_range} must satisfy 0 < low <= high")
        for name in ("flip_prob", "rotation_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise UserError(f"augment {name} must be in [0, 1]")


@dataclass(frozen=True)
class AugmentParams:
    """One draw of the augmentation; the identity by default (evaluation)."""

    flip: bool = False
    rotation_deg: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # fraction of the crop (w, h)
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0

    @property
    def changes_colour(self) -> bool:
        return (self.brightness, self.contrast, self.saturation) != (1.0, 1.0, 1.0)


IDENTITY = AugmentParams()


def sample_augment(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """Draw one set of augmentation parameters."""
    flip = bool(rng.random() < cfg.flip_prob)
    rot = float(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)) if rng.random() < cfg.rotation_prob else 0.0
    scale = float(rng.uniform(*cfg.scale_range))
    t = cfg.translate_frac
    shift = (float(rng.uniform(-t, t)), float(rng.uniform(-t, t))) if t > 0 else (0.0, 0.0)

    def factor(amount: float) -> float:
        return float(rng.uniform(1.0 - amount, 1.0 + amount)) if amount > 0 else 1.0

    return AugmentParams(flip, rot, scale, shift, factor(cfg.brightness), factor(cfg.contrast), factor(cfg.saturation))


_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def jitter_colour(image: np.ndarray, params: AugmentParams) -> np.ndarray:
    """Brightness, contrast, saturation (torchvision order) on an RGB float image in [0, 1]."""
    out = image * np.float32(params.brightness)
    if params.contrast != 1.0:
        mean = float((out @ _GRAY).mean())
        out = mean + (out - mean) * np.float32(params.contrast)
    if params.saturation != 1.0:
        gray = (out @ _GRAY)[..., None]
        out = gray + (out - gray) * np.float32(params.saturation)
    return np.clip(out, 0.0, 1.0, out=out)


def to_model_input(
    image_rgb: np.ndarray,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    params: AugmentParams = IDENTITY,
) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 (3, H, W): the deployed scaling and mean/std (edgepose.deploy.normalize),
    with the colour jitter in between when training draws one."""
    image = scale_pixels(image_rgb, TOP_DOWN_SCALING)
    if params.changes_colour:
        image = jitter_colour(image, params)
    return standardize(image, mean, std)
