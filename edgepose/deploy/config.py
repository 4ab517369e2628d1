"""What the one pipeline needs to feed and decode a model: built from a ModelSpec (eval, predict) or read from a
device bundle's metadata (the runner), so both run the same preprocessing and decode with the same settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from edgepose.deploy.decode import REFINE_METHODS
from edgepose.deploy.letterbox import PAD_VALUE
from edgepose.deploy.normalize import SCALINGS, TOP_DOWN_SCALING, YOLO_SCALING
from edgepose.deploy.yolo_decode import CONF_PREDICT, DEFAULT_STRIDES, IOU_NMS, MAX_DET, REG_MAX
from edgepose.errors import UserError
from edgepose.heads import HEAD_TYPES
from edgepose.schemas import KeypointSchema, get_schema


@dataclass(frozen=True)
class DecoderSettings:
    """Decode options: heatmap refinement (dark | quarter | argmax) and flip test for top-down heads; score
    threshold, NMS IoU and the detection cap for YOLO-pose."""

    refine: str = "dark"
    blur_sigma: float | None = None  # DARK's blur; None = the training targets' sigma for the heatmap size
    flip_test: bool = False
    conf: float = CONF_PREDICT
    iou: float = IOU_NMS
    max_det: int = MAX_DET
    strides: tuple[int, ...] = DEFAULT_STRIDES
    reg_max: int = REG_MAX

    def __post_init__(self) -> None:
        if self.refine not in REFINE_METHODS:
            raise UserError(f"heatmap refinement must be one of {', '.join(REFINE_METHODS)}, got '{self.refine}'")
        if not 0.0 <= self.conf <= 1.0 or not 0.0 <= self.iou <= 1.0 or self.max_det < 1:
            raise UserError(f"decoder thresholds out of range: conf {self.conf}, iou {self.iou}, max_det {self.max_det}")


@dataclass(frozen=True)
class ModelConfig:
    """Input size (H, W), head type, keypoint schema, RGB mean/std and pixel scaling, and the decoder settings.

    The resize rule follows the head: top-down heads (heatmap, regression) crop a person box (edgepose.deploy.crop),
    YOLO-pose letterboxes the whole image (edgepose.deploy.letterbox).
    """

    input_size: tuple[int, int]
    head: str
    schema: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scaling: str
    clip_length: int | None = None
    decoder: DecoderSettings = field(default_factory=DecoderSettings)

    def __post_init__(self) -> None:
        if self.head not in HEAD_TYPES:
            raise UserError(f"head type '{self.head}' is not one of {', '.join(HEAD_TYPES)}")
        if self.scaling not in SCALINGS:
            raise UserError(f"pixel scaling '{self.scaling}' is not one of {', '.join(SCALINGS)}")

    @classmethod
    def from_spec(cls, spec: Any, **decoder: Any) -> ModelConfig:
        """From an edgepose ModelSpec (input_size, head, schema, mean, std, clip_length) and decoder options."""
        scaling = YOLO_SCALING if spec.head == "yolo" else TOP_DOWN_SCALING
        return cls(tuple(spec.input_size), spec.head, spec.schema, tuple(spec.mean), tuple(spec.std), scaling,
                   getattr(spec, "clip_length", None), DecoderSettings(**decoder))  # fmt: skip

    @property
    def top_down(self) -> bool:
        return self.head != "yolo"

    @property
    def resize(self) -> str:
        return "letterbox" if self.head == "yolo" else "crop"

    @property
    def keypoint_schema(self) -> KeypointSchema:
        return get_schema(self.schema)

    def with_decoder(self, **changes: Any) -> ModelConfig:
        return replace(self, decoder=replace(self.decoder, **changes))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"], data["mean"], data["std"] = list(self.input_size), list(self.mean), list(self.std)
        data["decoder"]["strides"] = list(self.decoder.strides)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        values = dict(data)
        decoder = dict(values.pop("decoder", {}) or {})
        if "strides" in decoder:
            decoder["strides"] = tuple(int(s) for s in decoder["strides"])
        values["input_size"] = tuple(int(v) for v in values["input_size"])
        values["mean"], values["std"] = tuple(float(v) for v in values["mean"]), tuple(float(v) for v in values["std"])
        return cls(**values, decoder=DecoderSettings(**decoder))


LETTERBOX_RULE = {
    "resize": "keep aspect ratio, cv2.INTER_LINEAR, ratio = min(H_in / H, W_in / W), Python round() of each side",
    "pad": f"constant {PAD_VALUE} (grey), centred: left = round((W_in - w) / 2 - 0.1), top likewise",
    "inverse": "image = (input - pad) / ratio per axis, clipped to the image",
}
CROP_RULE = {
    "box": "person box (x, y, w, h) -> centre = box centre, size = box grown to the input's aspect ratio W_in/H_in, "
           "then x 1.25",
    "affine": "centre -> ((W_in - 1) / 2, (H_in - 1) / 2), region edges -> pixel edges -0.5 and W_in - 0.5 (cv2 pixel "
              "centres at integers); cv2.warpAffine INTER_LINEAR, border constant 0",
    "inverse": "float32 inverse of that affine maps decoded input pixels back to the image",
    "no_box": "without a person box the whole frame is the box",
}  # fmt: skip
