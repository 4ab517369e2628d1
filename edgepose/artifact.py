"""ModelSpec (what a runtime needs to feed and decode a model) and Artifact (a model + its record)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
from edgepose.heads import HEAD_TYPES

if TYPE_CHECKING:
    from torch import nn

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
        h, w = self.input_size
        if h <= 0 or w <= 0:
            raise UserError(f"input size {h}x{w} must be positive")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"model spec has unknown keys: {', '.join(sorted(unknown))}")
        values = dict(data)
        values["input_size"] = tuple(int(v) for v in values["input_size"])
        for key in ("mean", "std"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
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
    """'256x192' -> (256, 192)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"input size '{text}' should look like HxW, e.g. 256x192") from None
    return h, w


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
