"""The YOLO C2f split (`{"step": "yolo-split-c2f"}`): every C2f / C3k2 becomes its prunable C2fSplit twin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgepose.models.rewrites.replay import register_replay
from edgepose.models.yolo.prunable import SPLIT_STEP, split_c2f

if TYPE_CHECKING:
    from torch import nn


@register_replay(SPLIT_STEP["step"])
def replay_split(model: nn.Module, step: dict[str, Any]) -> nn.Module:
    return split_c2f(model)
