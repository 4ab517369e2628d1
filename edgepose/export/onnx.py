"""ONNX export: torch.onnx.export with stable input/output names."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgepose.artifact import ModelSpec
from edgepose.fileio import atomic_path

INPUT_NAME = "input"
OUTPUT_NAMES = {"heatmap": ("heatmaps",), "regression": ("keypoints",), "yolo": ("raw",)}
DEFAULT_OPSET = 17


def output_names(spec: ModelSpec) -> tuple[str, ...]:
    return OUTPUT_NAMES[spec.head]


def export_onnx(
    model: nn.Module, spec: ModelSpec, path: str | Path, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False
) -> Path:
    """Export `model` to ONNX at `path` (atomically) with input 'input' and the head's output names.

    Uses the TorchScript exporter (dynamo=False): mature, fast, and it handles the zoo's LSTMs.
    """
    path = Path(path)
    model = model.eval()
    dummy = torch.zeros(spec.input_shape(1))
    names = output_names(spec)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in names}}
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(
            model, (dummy,), str(tmp), input_names=[INPUT_NAME], output_names=list(names),
            opset_version=opset, dynamic_axes=dynamic_axes, dynamo=False, do_constant_folding=True,
        )  # fmt: skip
    return path
