"""ModelSpec (what a runtime needs to feed and decode a model) and Artifact (a model + its record)."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
from edgepose.heads import HEAD_TYPES
from edgepose.schemas import get_schema

if TYPE_CHECKING:
    from torch import nn

MAX_INPUT_SIDE = 8192  # pixels: past this a tampered or mistyped size would allocate gigabytes per image
MAX_CLIP_LENGTH = 1024  # frames per clip
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """Input size (H, W), RGB mean/std on [0, 1] pixels, keypoint schema and head type.

    heatmap: output (B, K, H/stride, W/stride); regression: (B, K, 2) in [0, 1] of the input;
    clip models (clip_length set) take (B, T, 3, H, W) and give (B, T, K, 2).
    """

    input_size: tuple[int, int]
    schema: str = "coco17"
    head: str = "heatmap"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    clip_length: int | None = None

    def __post_init__(self) -> None:
        if self.head not in HEAD_TYPES:
            raise UserError(f"head type '{self.head}' is not one of {', '.join(HEAD_TYPES)}")
        size = self.input_size
        if not isinstance(size, tuple | list) or len(size) != 2 or not all(_is_int(v) for v in size):
            raise UserError(f"input size {size!r} must be two whole numbers (height, width)")
        h, w = (int(v) for v in size)
        object.__setattr__(self, "input_size", (h, w))
        if not (0 < h <= MAX_INPUT_SIDE and 0 < w <= MAX_INPUT_SIDE):
            raise UserError(f"input size {h}x{w} must be positive and at most {MAX_INPUT_SIDE} per side")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not isinstance(values, tuple | list) or len(values) != 3 or not all(_is_finite(v) for v in values):
                raise UserError(f"spec {name} {values!r} must be 3 finite numbers (R, G, B)")
            object.__setattr__(self, name, tuple(float(v) for v in values))
        if min(self.std) <= 0:
            raise UserError(f"spec std {self.std!r} must be positive (the input is divided by it)")
        if not isinstance(self.schema, str):
            raise UserError(f"spec schema {self.schema!r} is not a schema name")
        get_schema(self.schema)  # a UserError naming the known schemas
        clip = self.clip_length
        if clip is not None and not (_is_int(clip) and 1 <= clip <= MAX_CLIP_LENGTH):
            raise UserError(f"clip length {clip!r} must be a whole number from 1 to {MAX_CLIP_LENGTH}")
        if clip is not None:
            object.__setattr__(self, "clip_length", int(clip))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """A spec from its dict (a checkpoint's or an export's metadata); UserError for anything malformed."""
        if not isinstance(data, dict):
            raise UserError(f"model spec is a {type(data).__name__}, not a mapping")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"model spec has unknown keys: {', '.join(sorted(map(str, unknown)))}")
        if "input_size" not in data:
            raise UserError("model spec has no input_size")
        values = dict(data)
        for key in ("input_size", "mean", "std"):
            if key in values:
                if not isinstance(values[key], list | tuple):
                    raise UserError(f"model spec {key} {values[key]!r} is not a list of numbers")
                values[key] = tuple(values[key])
        return cls(**values)

    def with_changes(self, **changes: Any) -> ModelSpec:
        return replace(self, **changes)

    def input_shape(self, batch: int = 1) -> tuple[int, ...]:
        h, w = self.input_size
        if self.clip_length:
            return (batch, self.clip_length, 3, h, w)
        return (batch, 3, h, w)


@dataclass
class LoadOptions:
    """How to interpret a model file that does not describe itself (edgepose.loading reads with these)."""

    arch: str | None = None
    model_factory: str | None = None
    trust_checkpoint: bool = False
    input_size: str | None = None  # "HxW"
    schema: str | None = None


def parse_input_size(text: str) -> tuple[int, int]:
    """'256x192' -> (256, 192); UserError unless both are whole numbers from 1 to MAX_INPUT_SIDE."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"input size '{text}' should look like HxW, e.g. 256x192") from None
    if not (0 < h <= MAX_INPUT_SIDE and 0 < w <= MAX_INPUT_SIDE):
        raise UserError(f"input size {h}x{w} must be positive and at most {MAX_INPUT_SIDE} per side")
    return h, w


def _is_int(value: Any) -> bool:
    """A whole number (64 or 64.0, numpy ints too), not a bool."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return isinstance(value, numbers.Integral) or (math.isfinite(value) and float(value).is_integer())


def _is_finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Artifact:
    """A model at one step of a pipeline: the module (for torch) or the file, plus its record.

    `arch` + `arch_kwargs` rebuild the architecture, `history` replays structural steps (pruning,
    Ghost swaps) before the weights load, `provenance` says where it came from.
    """

    spec: ModelSpec
    format: str = "torch"  # torch | onnx | openvino | tensorrt
    model: nn.Module | None = None
    path: Path | None = None
    arch: str | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def require_torch(self, command: str) -> nn.Module:
        """The torch module, or a clear error for commands that need one."""
        if self.model is None:
            raise UserError(
                f"{command} needs a PyTorch model (an edgepose .pt checkpoint); got a {self.format} file"
            )
        return self.model
