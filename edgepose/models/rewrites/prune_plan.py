"""The pruning plan: torch-pruning's pruning history (plain lists), re-applied to a fresh architecture.

    {"step": "prune", "method": "structured", "input_shape": [1, 3, H, W],
     "pruning_history": [[module name, is out-channel pruning, [indices]], ...], ...}

Magnitude pruning changes no shapes (its zeros are in the weights), so its step replays as nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
from edgepose.models.rewrites.replay import register_replay

if TYPE_CHECKING:
    from torch import nn

History = list[list[Any]]  # torch-pruning's pruning history: [module name, is out-channel pruning, indices]


def apply_pruning_history(model: nn.Module, input_shape: Sequence[int], history: History) -> nn.Module:
    """Re-apply a recorded pruning history to a freshly built model (before its weights load)."""
    import torch
    import torch_pruning as tp

    if not history:
        return model
    model.eval()
    with torch.enable_grad():
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(tuple(input_shape)))
    graph.load_pruning_history([[str(n), bool(o), [int(i) for i in idxs]] for n, o, idxs in history])
    return model


@register_replay("prune")
def replay_prune(model: nn.Module, step: dict[str, Any]) -> nn.Module:
    """Re-apply a recorded channel-pruning plan (magnitude pruning changed no shapes: nothing to do)."""
    if step.get("method") == "magnitude" or not step.get("pruning_history"):
        return model
    try:
        return apply_pruning_history(model, step["input_shape"], step["pruning_history"])
    except Exception as exc:  # noqa: BLE001  (a plan that does not fit this architecture)
        raise UserError(f"cannot replay the recorded pruning plan on this architecture: {exc}") from None
