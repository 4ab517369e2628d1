"""The Ghost pass: replace convolutions (and deconvs) by Ghost modules initialised from their weights.

    @register_pass("ghost", config=GhostConfig, stage=Stage.STRUCTURE, accepts={"torch"}, produces="torch")

Each eligible layer (groups 1, output channels a multiple of the ratio, not the stem, not an output
layer) becomes a `GhostModule` / `GhostDeconv` (edgepose/models/ghost.py), fitted to the original layer
in forward order (ghost_init.py); with `bottleneck`, ResNet blocks become `GhostBottleneck`s. The swaps
are recorded as a history step `{"step": "ghost", "ratio", "dw_kernel", "layers": [...]}` and
replayed on load (ghost_plan.py lists the fields). ctx.records["ghost"] says what was replaced, the
FLOPs before/after per layer, what was skipped and why, and how close the start is to the original.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from edgepose.history import register_replay
from edgepose.passes.base import PassConfig, RunContext, Stage, register_pass
from edgepose.passes.finetune import FinetuneConfig

if TYPE_CHECKING:
    from torch import nn

    from edgepose.artifact import Artifact


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


@register_pass(
    "ghost", config=GhostConfig, stage=Stage.STRUCTURE, accepts={"torch"}, produces="torch",
    description="replace convs and deconvs by Ghost modules fitted to their weights (GhostNet)",
)  # fmt: skip
def ghost(artifact: Artifact, cfg: GhostConfig, ctx: RunContext) -> Artifact:
    """Ghost a copy of the model, record the swaps in its history, optionally fine-tune it."""
    from edgepose.passes.ghost_apply import apply_ghost

    return apply_ghost(artifact, cfg, ctx)


@register_replay("ghost")
def replay_ghost(model: nn.Module, step: dict[str, Any]) -> nn.Module:
    """Swap in the recorded Ghost modules (fresh weights: the checkpoint's state_dict fills them)."""
    from edgepose.passes.ghost_apply import replay_ghost as replay

    return replay(model, step)
