"""The ghost pass's options (recipe keys), apart from the pass so its helpers can name the type without a cycle."""

from __future__ import annotations

from pydantic import Field, field_validator

from edgepose.passes.base import PassConfig
from edgepose.passes.finetune import FinetuneConfig


class GhostConfig(PassConfig):
    """Ghost-conv replacement: ratio s, cheap depthwise kernel d, which layers, optional fine-tuning."""

    ratio: int = Field(2, ge=2, description="s: 1/s of the output channels come from the full conv")
    dw_kernel: int = Field(3, ge=1, description="d: kernel of the cheap depthwise convs (odd)")
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    keep_stem: bool = True
    keep_head: bool = Field(True, description="leave the model's output layers (the keypoint head) alone")
    deconv: bool = Field(True, description="also replace ConvTranspose2d layers by Ghost deconvs")
    bottleneck: bool = Field(False, description="rebuild ResNet blocks as Ghost bottlenecks (needs fine-tuning)")
    calib_images: int = Field(16, ge=0, description="inputs for the least-squares init (0: weights only)")
    finetune: FinetuneConfig | None = None

    @field_validator("dw_kernel")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("must be odd, so the cheap conv keeps the feature size")
        return value
