"""Quantization-aware training: NNCF fake-quantizes a torch model, the project's training loop fine-tunes it
(distilled from the FP32 model), and the stripped model exports to a Q/DQ ONNX graph.

BatchNorm is folded into the preceding conv / deconv first, so the exported INT8 convs carry their BN
(runtimes cannot fold a BN into already-quantized weights). NNCF's CPU kernels would otherwise be
compiled from C++ on first use (minutes, and a compiler in CI); edgepose uses NNCF's own pure-PyTorch
reference kernels instead, with TorchDynamo off for them (`EDGEPOSE_NNCF_COMPILE=1` restores NNCF's
default of compiling its extension).

Under torchrun every rank calibrates the same fake-quantized copy (same images, same model) and trains it
through the shared loop; the fake-quant ranges need no syncing of their own. NNCF (3.4, nncf/torch/quantization/
layers.py) sets them once, from the calibration statistics in nncf.quantize, before training; they then are
plain nn.Parameters (SymmetricQuantizer's scale, AsymmetricQuantizer's input_low / input_range, requires_grad)
learnt by gradient, and NNCF runs no moving-average observer while training. DistributedDataParallel
therefore keeps them equal on every rank like any weight: its constructor broadcasts rank 0's parameters and
buffers (so even a rank whose calibration differed in the last bit starts from rank 0's ranges) and backward
all-reduces their gradients; the integer state (num_bits, signedness as frozen parameters; levels and
`enabled` as buffers, which NNCF made buffers "so they are synchronized in DDP scenarios") does not change
while training. Rank 0 alone strips and exports the trained graph.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from edgepose import distributed as dist
from edgepose.errors import MissingDependency, UserError
from edgepose.models.rewrites.surgery import set_module

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.passes.base import RunContext
    from edgepose.passes.finetune import FinetuneConfig


def fold_batchnorm(model: nn.Module) -> list[str]:
    """Fold every BatchNorm that directly follows a conv / deconv into it (eval semantics), in place.

    Found with torch.fx; the BN module becomes nn.Identity so module names stay as they were.
    Returns the folded conv names; a model torch.fx cannot trace is left unchanged (empty list).
    """
    from torch.fx import symbolic_trace
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    try:
        graph = symbolic_trace(model).graph
    except Exception:  # noqa: BLE001  (data-dependent Python: leave the BNs, QAT still works)
        return []
    modules = dict(model.named_modules())
    folded = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.BatchNorm2d):
            continue
        source = node.args[0]
        if getattr(source, "op", None) != "call_module" or len(source.users) != 1:
            continue
        conv = modules.get(source.target)
        if not isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)):
            continue
        fused = fuse_conv_bn_eval(conv.eval(), modules[node.target].eval(), transpose=isinstance(conv, nn.ConvTranspose2d))
        set_module(model, source.target, fused)
        set_module(model, node.target, nn.Identity())
        folded.append(source.target)
    return folded


@contextlib.contextmanager
def nncf_torch_kernels() -> Iterator[Any]:
    """NNCF imported with its pure-PyTorch kernels (unless EDGEPOSE_NNCF_COMPILE=1) and dynamo off."""
    try:
        import nncf
        from nncf.torch.quantization import extensions
        from nncf.torch.quantization.reference import ReferenceQuantizedFunctions
    except ImportError as exc:
        raise MissingDependency("nncf (with its torch backend)", hint=f"pip install nncf torchao ({exc})") from None
    nncf.set_log_level(40)
    if os.environ.get("EDGEPOSE_NNCF_COMPILE") != "1":  # the reference kernels are plain torch ops: CPU and CUDA
        namespaces = [extensions.QuantizedFunctionsCPU]
        if torch.cuda.is_available():  # without a GPU NNCF's CUDA namespace is a stub that raises on any use
            namespaces.append(extensions.QuantizedFunctionsCUDA)
        for namespace in namespaces:
            if namespace._loaded_namespace is None:
                namespace._loaded_namespace = ReferenceQuantizedFunctions
    from torch import _dynamo

    with _dynamo.config.patch(disable=True):
        yield nncf


def nncf_ignored_patterns(float_modules: Sequence[str]) -> list[str]:
    """NNCF torch node-name regexes for torch modules: `head.out` -> `^head/out/`."""
    return [f"^{name.replace('.', '/')}/" for name in float_modules]


def quantize_aware_train(
    artifact: Artifact, calib: np.ndarray, float_modules: Sequence[str], finetune: FinetuneConfig,
    ctx: RunContext, out_onnx: Path, metadata: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    """Fake-quantize a copy of the model, fine-tune it, export the Q/DQ ONNX to `out_onnx`. Returns a record."""
    from edgepose.export.onnx import export_onnx
    from edgepose.passes.base import copy_torch_artifact
    from edgepose.passes.finetune import finetune_model

    student = copy_torch_artifact(artifact)
    model = student.require_torch("QAT").eval()
    folded = fold_batchnorm(model)
    example = torch.from_numpy(np.ascontiguousarray(calib[:1]))
    with nncf_torch_kernels() as nncf:
        ignored = nncf.IgnoredScope(patterns=nncf_ignored_patterns(float_modules), validate=False)
        dataset = nncf.Dataset([torch.from_numpy(np.ascontiguousarray(calib[i : i + 1])) for i in range(len(calib))])
        try:
            quantized = nncf.quantize(model, dataset, subset_size=len(calib), ignored_scope=ignored)
        except (nncf.ValidationError, RuntimeError, TypeError) as exc:
            raise UserError(f"NNCF cannot quantize this model for QAT: {str(exc).strip().splitlines()[0][:200]}") from None
        student.model = quantized
        if ctx.teacher is None:
            ctx.teacher = artifact
        result = finetune_model(student, finetune, ctx, name="qat", save=False)
        if dist.is_main():  # the other ranks only took part in the training
            stripped = nncf.strip(quantized.eval(), do_copy=True, strip_format=nncf.StripFormat.NATIVE,
                                  example_input=example)  # fmt: skip
            export_onnx(stripped, artifact.spec, out_onnx, simplify=False, metadata=metadata, dynamic_batch=True)
    return {
        "folded_batchnorm": len(folded), "float_modules": list(float_modules),
        "finetune": None if result is None else {"epochs": result.epochs_run, "best": result.best_metric,
                                                 "metric": result.metric_name},
    }  # fmt: skip
