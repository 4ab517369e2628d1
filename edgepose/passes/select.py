"""Layer selection shared by every pass: `include` / `exclude` wildcard lists over module names,
and the model's output layers (the last layers before the outputs, kept intact by default)."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from edgepose.errors import UserError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from edgepose.artifact import ModelSpec


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether module `name` matches any wildcard pattern (fnmatch: `backbone.layer4.*`, `*deconv*`)."""
    return any(fnmatchcase(name, p) for p in patterns)


def select_modules(
    model: nn.Module, types: tuple[type, ...], include: Sequence[str] = ("*",), exclude: Sequence[str] = (),
) -> list[str]:  # fmt: skip
    """Names of the modules of `types` that match `include` and not `exclude`, in definition order."""
    return [
        name for name, module in model.named_modules()
        if name and isinstance(module, types) and matches(name, include) and not matches(name, exclude)
    ]  # fmt: skip


def check_patterns(model: nn.Module, patterns: Sequence[str], option: str) -> None:
    """UserError for a pattern that matches no module at all (a typo would silently do nothing)."""
    names = [n for n, _ in model.named_modules() if n]
    for pattern in patterns:
        if pattern != "*" and not any(fnmatchcase(n, pattern) for n in names):
            raise UserError(f"{option} pattern '{pattern}' matches no layer (e.g. {', '.join(names[:3])}, ...)")


def output_layers(model: nn.Module, spec: ModelSpec) -> list[str]:
    """Names of the parameterised layers that produce the model's outputs.

    A model may declare them (`edgepose_output_layers`, e.g. a multi-branch detection head);
    otherwise they are found by running the model: a layer whose output tensor is (a view of) a model
    output. Falls back to the last parameterised layer that ran.
    """
    import torch

    declared = getattr(model, "edgepose_output_layers", None)
    if declared:
        return list(declared)
    produced: list[tuple[str, torch.Tensor]] = []  # tensors kept alive so no later output reuses their memory
    hooks = []
    for name, module in model.named_modules():
        if name and not list(module.children()) and any(True for _ in module.parameters(recurse=False)):
            hooks.append(module.register_forward_hook(_recorder(name, produced)))
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(spec.input_shape(1)))
    finally:
        for hook in hooks:
            hook.remove()
    outs = out if isinstance(out, (tuple, list)) else [out]
    storages = {o.untyped_storage().data_ptr() for o in outs if isinstance(o, torch.Tensor)}
    found = [name for name, tensor in produced if tensor.untyped_storage().data_ptr() in storages]
    if found:
        return sorted(set(found), key=[n for n, _ in produced].index)
    return [produced[-1][0]] if produced else []


def _recorder(name: str, produced: list[tuple[str, torch.Tensor]]):  # noqa: ANN202
    def hook(_module, _inputs, output) -> None:  # noqa: ANN001
        tensor = output[0] if isinstance(output, tuple) else output
        if hasattr(tensor, "untyped_storage"):
            produced.append((name, tensor))

    return hook
