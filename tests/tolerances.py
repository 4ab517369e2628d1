"""Numeric tolerances for comparing model outputs across runtimes, relative to the outputs' scale.

Float32 round-off grows with the magnitude of the values and with the depth of the sums, and it differs
between instruction sets (AVX2 vs AVX-512 / AMX reorder and fuse the multiply-adds differently), so a fixed
absolute bound that one CPU meets can fail on another: a YOLO head's raw outputs are in the hundreds, where
1.5e-4 is a relative error of 1e-7. The bounds below are absolute for outputs within +-1 (heatmaps,
normalised coordinates, scores) and relative above, the same rule as `edgepose export`'s fp32 parity gate
(edgepose.bench.parity): max |got - expected| <= rel * max(1, max |expected|).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FP32_REL = 1e-4  # ~840 float32 ulps (eps 1.19e-7) of the largest value: one runtime vs another, fp32
SAME_RUNTIME_REL = 1e-5  # one runtime before / after a graph rewrite (fusions reorder the sums)


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def fp32_atol(expected: Any, rel: float = FP32_REL) -> float:
    """The absolute bound for outputs compared with `expected`: rel x max(1, max |expected|)."""
    return rel * max(1.0, float(np.abs(_array(expected)).max()))


def max_abs_error(got: Any, expected: Any) -> float:
    return float(np.abs(_array(got) - _array(expected)).max())


def assert_close_fp32(got: Any, expected: Any, rel: float = FP32_REL) -> None:
    """got == expected to float32 round-off at their scale (see the module docstring)."""
    err, bound = max_abs_error(got, expected), fp32_atol(expected, rel)
    assert err <= bound, f"max abs error {err:.3g} > {bound:.3g} ({rel:g} x max(1, max |expected|))"


def float32_roundoff(model: Any, x: Any) -> float:
    """max |float32 - float64| of a torch `model` on input `x`: the round-off float32 itself makes here.

    An ill-conditioned model (a random-init YOLO head after a least-squares Ghost fit reaches outputs of
    1e8) has float32 errors far above 1e-4 of its scale in PyTorch alone; another runtime cannot do better.
    """
    import copy

    import torch

    reference = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        return max_abs_error(model(x), reference(x.double()))


def runtime_atol(model: Any, x: Any, expected: Any, rel: float = FP32_REL, factor: float = 4.0) -> float:
    """The bound for another runtime's output vs PyTorch float32 on `model`, `x`: the larger of the scale
    rule (fp32_atol) and `factor` x PyTorch's own float32 round-off (two float32 implementations each err
    by about that much from the exact result, so their difference is within ~2x; 4x leaves a margin)."""
    return max(fp32_atol(expected, rel), factor * float32_roundoff(model, x))
