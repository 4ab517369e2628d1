"""Model size and compute: parameters and FLOPs (2 x MACs, counted by torch.utils.flop_counter)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from edgepose.artifact import ModelSpec


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: nn.Module, spec: ModelSpec) -> float:
    """GFLOPs of one forward pass at batch 1 and the spec's input size (clip models: whole clip).

    Counted on meta tensors (shapes only, no arithmetic: fast, and there the LSTM decomposes into
    matmuls that are counted; on CPU its fused kernel counts as 0). Models that cannot run on meta
    (data-dependent Python control flow) are counted with a real forward pass instead.
    """
    model.eval()
    try:
        return _count_flops_meta(model, spec) / 1e9
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(spec.input_shape(1)))
        return counter.get_total_flops() / 1e9


def _count_flops_meta(model: nn.Module, spec: ModelSpec) -> int:
    from torch.func import functional_call

    tensors = [*model.named_parameters(), *model.named_buffers()]
    state = {name: torch.empty_like(t, device="meta") for name, t in tensors}
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        functional_call(model, state, (torch.zeros(spec.input_shape(1), device="meta"),))
    return counter.get_total_flops()


def output_shapes(model: nn.Module, spec: ModelSpec) -> list[list[int]]:
    """Shapes of the model's outputs at batch 1."""
    with torch.no_grad():
        out = model.eval()(torch.zeros(spec.input_shape(1)))
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [list(o.shape) for o in outs]
