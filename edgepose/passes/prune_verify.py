"""Checks that keep torch-pruning honest, so pruning works on every model we accept or says what it kept.

torch-pruning treats unknown ops as channel-preserving and maps indices through reshapes, splits and
concatenations heuristically; it gets some wrong (channel shuffles, attention reshapes, C2f chunks)
and then either crashes or silently computes something else. Removing channels must equal zeroing
the weights that read them, so a channel group that passes through anything but convs, norms,
linears and known element-wise ops is checked that way on a fixed input, and undone if it fails.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from edgepose.models.rewrites.surgery import model_outputs

SAFE_NODE_TYPES = {"CONV", "DEPTHWISE_CONV", "BN", "LINEAR", "PRELU", "IN", "GN", "LN", "OUTPUT"}
CHANNEL_PRESERVING_OPS = {
    "AddBackward0", "SubBackward0", "MulBackward0", "DivBackward0", "ReluBackward0", "Relu6Backward0",
    "LeakyReluBackward0", "LeakyReluBackward1", "SiluBackward0", "SigmoidBackward0", "TanhBackward0",
    "GeluBackward0", "EluBackward0", "HardswishBackward0", "HardsigmoidBackward0", "HardtanhBackward0",
    "ClampBackward1", "MaxPool2DWithIndicesBackward0", "AvgPool2DBackward0", "UpsampleNearest2DBackward0",
    "UpsampleBilinear2DAaBackward0", "UpsampleBilinear2DBackward0", "CloneBackward0",
}  # fmt: skip


def needs_check(group: Any) -> bool:
    """Whether the group's channels pass through an op whose index mapping torch-pruning may get wrong."""
    for dep, _ in group:
        for node in (dep.source, dep.target):
            kind = node.type.name
            if kind in SAFE_NODE_TYPES:
                continue
            grad_fn = node.grad_fn.name() if node.grad_fn is not None and hasattr(node.grad_fn, "name") else ""
            if kind != "ELEMENTWISE" or grad_fn not in CHANNEL_PRESERVING_OPS:
                return True
    return False


def masked_output(model: nn.Module, group: Any, example: torch.Tensor) -> list[torch.Tensor] | None:
    """The model's output with the weights that read the group's channels zeroed; None if not checkable."""
    dg = group._DG
    saved = []
    try:
        for dep, idxs in group:
            if not dg.is_in_channel_pruning_fn(dep.handler):
                continue
            weights = input_weights(dep.target.module)
            if weights is None:
                return None
            for weight, dim in weights:
                saved.append((weight, weight.detach().clone()))
                with torch.no_grad():
                    weight.index_fill_(dim, torch.as_tensor(list(idxs), dtype=torch.long), 0.0)
        return model_outputs(model, example)
    finally:
        with torch.no_grad():
            for weight, value in saved:
                weight.copy_(value)


def input_weights(module: Any) -> list[tuple[torch.Tensor, int]] | None:
    """(weight, input-channel dim) of a layer that mixes channels; [] for per-channel ones; None if unknown."""
    if not isinstance(module, nn.Module):
        return None  # a bare nn.Parameter torch-pruning slices along a guessed dimension
    if not any(True for _ in module.parameters(recurse=False)):
        return []  # torch-pruning's placeholders for reshapes, concatenations, element-wise ops
    if isinstance(module, nn.modules.conv._ConvNd):
        if module.groups == module.in_channels:
            return []  # depthwise: per channel, its own outputs go with the group
        if module.groups != 1:
            return None
        return [(module.weight, 0 if module.transposed else 1)]
    if isinstance(module, nn.Linear):
        return [(module.weight, 1)]
    if isinstance(module, nn.LSTM | nn.GRU | nn.RNN):
        names = ["weight_ih_l0"] + (["weight_ih_l0_reverse"] if module.bidirectional else [])
        return [(getattr(module, n), 1) for n in names]
    if isinstance(module, nn.modules.batchnorm._NormBase | nn.PReLU):
        return []  # per channel (BatchNorm, InstanceNorm); Layer/GroupNorm mix channels in their statistics
    return None


def same_outputs(expected: list[torch.Tensor], got: list[torch.Tensor]) -> bool:
    """Equal shapes and values within 1e-4 of the output's scale (removing zero terms reorders sums only)."""
    if len(expected) != len(got):
        return False
    for a, b in zip(expected, got, strict=True):
        if a.shape != b.shape or float((a - b).abs().max()) > 1e-4 * (1.0 + float(a.abs().max())):
            return False
    return True


def snapshot(group: Any) -> Callable[[], None] | None:
    """A function that undoes pruning `group` (module state and the history entry); None if it cannot be undone."""
    modules = []
    for dep, _ in group:
        module = dep.target.module
        if not isinstance(module, nn.Module):
            return None  # torch-pruning replaces bare parameters inside its graph: no way back
        modules.append(module)
    states = [(m, {k: copy.copy(v) if isinstance(v, list | dict) else v for k, v in vars(m).items()}) for m in modules]
    dg = group._DG
    history_length = len(dg._pruning_history)

    def undo() -> None:
        for module, state in states:
            vars(module).clear()
            vars(module).update(state)
        del dg._pruning_history[history_length:]

    return undo


class SafeImportance:
    """Wraps a torch-pruning importance: a group it fails on (a bad index mapping) is skipped, not fatal."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.failed: dict[str, str] = {}  # root layer -> reason
        self.graph: Any = None

    def __call__(self, group: Any) -> torch.Tensor | None:
        try:
            return self.inner(group)
        except Exception as exc:  # noqa: BLE001  (IndexError etc. from a wrong index mapping)
            module = group[0].dep.target.module
            name = self.graph._module2name.get(module, type(module).__name__) if self.graph is not None else "?"
            self.failed[name] = f"importance failed: {type(exc).__name__}"
            return None


class RunawayMapping(RuntimeError):
    """torch-pruning's index mapping kept growing while it built the channel group of `root`."""

    def __init__(self, root: Any):
        super().__init__("its channel indices grow without end through a reshape")
        self.root = root


@contextmanager
def bounded_index_mapping(budget: int = 300_000) -> Iterator[dict[str, Any]]:
    """Make torch-pruning raise RunawayMapping instead of running for hours when its flatten mapping runs away.

    Through some reshape cycles (e.g. attention's view -> split -> matmul -> view) it multiplies the
    channel indices on every pass; a real flatten (conv -> linear) maps far fewer than `budget`
    indices while one channel group is built. Yields a dict whose "root" is the layer of the group
    being built last (the one to blame when torch-pruning fails).
    """
    from torch_pruning.dependency import graph, index_mapping

    mapping = getattr(index_mapping, "_FlattenIndexMapping", None)
    state: dict[str, Any] = {"mapped": 0, "root": None}
    if mapping is None or not hasattr(graph.DependencyGraph, "get_pruning_group"):
        yield state
        return
    map_original, group_original = mapping.__call__, graph.DependencyGraph.get_pruning_group

    def bounded_map(self: Any, idxs: Any) -> Any:
        state["mapped"] += len(idxs) * (1 if self.reverse else self._stride)
        if state["mapped"] > budget:
            raise RunawayMapping(state["root"])
        return map_original(self, idxs)

    def counted_group(self: Any, module: Any, *args: Any, **kwargs: Any) -> Any:
        state.update(mapped=0, root=module)
        return group_original(self, module, *args, **kwargs)

    mapping.__call__, graph.DependencyGraph.get_pruning_group = bounded_map, counted_group
    try:
        yield state
    finally:
        mapping.__call__, graph.DependencyGraph.get_pruning_group = map_original, group_original
