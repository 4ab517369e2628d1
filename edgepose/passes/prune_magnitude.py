"""Unstructured magnitude pruning: the smallest |w| of the selected conv / linear weights become zero.

Global L1 ranking with torch.nn.utils.prune, made permanent with `prune.remove` (no masks or
`weight_orig` left; the state_dict keys do not change). Shapes stay the same, so dense runtimes do
the same work on the zeros: the model is sparser, not faster, and its dense file is no smaller.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import nn

MAGNITUDE_NOTE = (
    "unstructured sparsity: dense runtimes (ONNX Runtime, OpenVINO, TensorRT) do the same work on zeros, "
    "so expect no speed-up; the dense file is no smaller (zeros only compress better)"
)
WEIGHT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear)


def zero_fraction(model: nn.Module, names: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Overall and per-layer fraction of exactly-zero weights among `names`' weights."""
    modules = dict(model.named_modules())
    per_layer, zeros, total = {}, 0, 0
    for name in names:
        weight = modules[name].weight.detach()
        layer_zeros = int((weight == 0).sum())
        per_layer[name] = round(layer_zeros / weight.numel(), 4)
        zeros, total = zeros + layer_zeros, total + weight.numel()
    return (zeros / total if total else 0.0), per_layer


def add_masks(model: nn.Module, names: Sequence[str], sparsity_before: float, sparsity_after: float) -> None:
    """Grow the global L1 masks of `names` from `sparsity_before` to `sparsity_after` of their weights."""
    from torch.nn.utils import prune

    modules = dict(model.named_modules())
    # torch's amount counts among the weights still unmasked
    amount = (sparsity_after - sparsity_before) / max(1e-12, 1 - sparsity_before)
    prune.global_unstructured(
        [(modules[n], "weight") for n in names], pruning_method=prune.L1Unstructured, amount=min(1.0, amount)
    )


def make_permanent(model: nn.Module, names: Sequence[str]) -> None:
    """Fold the masks into the weights (zeros stay) and drop `weight_orig` / `weight_mask`."""
    from torch.nn.utils import prune

    modules = dict(model.named_modules())
    for name in names:
        if prune.is_pruned(modules[name]) and hasattr(modules[name], "weight_mask"):
            prune.remove(modules[name], "weight")


@contextmanager
def masked(model: nn.Module, names: Sequence[str]) -> Iterator[None]:
    """Keep the masks on while fine-tuning (the zeros stay zero), permanent afterwards, also on error."""
    try:
        yield
    finally:
        make_permanent(model, names)


def magnitude_record(model: nn.Module, names: Sequence[str], asked: float) -> dict[str, Any]:
    """What the pass reports: sparsity asked and reached, per layer, and that it is not a speed-up."""
    overall, per_layer = zero_fraction(model, names)
    return {
        "sparsity_asked": asked, "sparsity": round(overall, 4), "layers_sparsity": per_layer,
        "n_weights": sum(dict(model.named_modules())[n].weight.numel() for n in names),
        "faster_on_dense_runtimes": False, "note": MAGNITUDE_NOTE,
    }  # fmt: skip
