"""The subpixel step: recorded ConvTranspose2d layers swapped for SubpixelDeconv (conv + pixel shuffle).

    {"step": "subpixel", "layers": ["deconv.0", ...]}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
from edgepose.models.rewrites.replay import register_replay
from edgepose.models.rewrites.surgery import get_module, set_module

if TYPE_CHECKING:
    from torch import nn


@register_replay("subpixel")
def replay_subpixel(model: nn.Module, step: dict[str, Any]) -> nn.Module:
    """Swap in SubpixelDeconv modules of the recorded layers' shapes (the state_dict fills the weights)."""
    from torch import nn as torch_nn

    from edgepose.models.subpixel import SubpixelDeconv

    for name in step.get("layers", []):
        deconv = get_module(model, name, step="subpixel")
        if not isinstance(deconv, torch_nn.ConvTranspose2d):
            raise UserError(f"checkpoint history step 'subpixel' names {name}, a {type(deconv).__name__}, not a deconv")
        set_module(model, name, SubpixelDeconv.from_deconv(deconv))
    return model
