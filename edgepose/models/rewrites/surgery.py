"""Module surgery shared by the rewrites and the passes: find, replace and run parts of a model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgepose.errors import UserError

if TYPE_CHECKING:
    import torch
    from torch import nn


def get_module(model: nn.Module, name: str, step: str = "ghost") -> nn.Module:
    """Layer `name` of `model`, or a UserError saying the checkpoint history step `step` does not fit it."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise UserError(f"checkpoint history step '{step}' names layer {name}, which this model does not have") from None


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule called `name` (dotted path) by `module`."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def model_outputs(model: nn.Module, example: torch.Tensor) -> list[torch.Tensor]:
    """The model's output tensors on `example` (a tensor, or the tensors of a tuple, list or dict output)."""
    import torch

    with torch.no_grad():
        output = model(example)
    if isinstance(output, dict):
        output = list(output.values())
    return [o for o in (output if isinstance(output, tuple | list) else [output]) if isinstance(o, torch.Tensor)]
