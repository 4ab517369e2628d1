"""The Ghost pass: replace convolutions (and deconvs) by Ghost modules initialised from their weights.

    @register_pass("ghost", config=GhostConfig, stage=Stage.STRUCTURE, accepts={"torch"}, produces="torch")

Each eligible layer (groups 1, output channels a multiple of the ratio, not the stem, not an output
layer) becomes a `GhostModule` / `GhostDeconv` (edgepose/models/ghost.py), fitted to the original layer
in forward order (ghost_init.py); with `bottleneck`, ResNet blocks become `GhostBottleneck`s. The swaps
are recorded as a history step `{"step": "ghost", "ratio", "dw_kernel", "layers": [...]}` and
replayed on load (edgepose.models.rewrites.ghost_swaps lists the fields). ctx.records["ghost"] says what was replaced, the
FLOPs before/after per layer, what was skipped and why, and how close the start is to the original.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgepose.passes.base import RunContext, Stage, register_pass
from edgepose.passes.ghost_config import GhostConfig

if TYPE_CHECKING:
    from edgepose.artifact import Artifact


@register_pass(
    "ghost", config=GhostConfig, stage=Stage.STRUCTURE, accepts={"torch"}, produces="torch",
    description="replace convs and deconvs by Ghost modules fitted to their weights (GhostNet)",
)  # fmt: skip
def ghost(artifact: Artifact, cfg: GhostConfig, ctx: RunContext) -> Artifact:
    """Ghost a copy of the model, record the swaps in its history, optionally fine-tune it."""
    from edgepose.passes.ghost_apply import apply_ghost

    return apply_ghost(artifact, cfg, ctx)
