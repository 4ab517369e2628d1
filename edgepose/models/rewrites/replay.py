"""The replay registry: each structural step a checkpoint records is re-applied on load by its replay.

A step is a plain dict `{"step": NAME, ...}` (it lives in the checkpoint, read with weights_only=True); the
replay registered under NAME applies it to a freshly built architecture so that the saved state_dict
fits, without unpickling any module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
from edgepose.registry import Registry

if TYPE_CHECKING:
    from torch import nn

Replay = Callable[["nn.Module", dict[str, Any]], "nn.Module"]
REPLAYS: Registry[Replay] = Registry("history step")


def register_replay(step: str) -> Callable[[Replay], Replay]:
    return REPLAYS.register(step)


def replay_history(model: nn.Module, history: list[dict[str, Any]]) -> nn.Module:
    """Apply each recorded structural step in order (the built-in replays register on package import)."""
    for index, step in enumerate(history):
        name = step.get("step") if isinstance(step, dict) else None
        if name not in REPLAYS:
            raise UserError(
                f"checkpoint history step {index} is '{name}', which this edgepose cannot replay "
                f"(known: {', '.join(REPLAYS.names()) or 'none'}); upgrade edgepose"
            )
        model = REPLAYS.get(name)(model, step)
    return model
