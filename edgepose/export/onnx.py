"""ONNX export: torch.onnx.export, checker + shape inference, optional onnxslim, FP16, edgepose metadata.

Output names are stable per head (`heatmaps`, `keypoints`); the input is `input`. The ModelSpec and
provenance go into metadata_props (see metadata.py) so any runtime can feed and decode the model.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgepose.artifact import ModelSpec
from edgepose.errors import UserError
from edgepose.fileio import atomic_path
from edgepose.heads import output_name

INPUT_NAME = "input"
DEFAULT_OPSET = 17
ONNX_PRECISIONS = ("fp32", "fp16")


def output_names(spec: ModelSpec) -> tuple[str, ...]:
    return (output_name(spec.head),)


def export_onnx(
    model: nn.Module, spec: ModelSpec, path: str | Path, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False,
    precision: str = "fp32", simplify: bool = True, metadata: dict[str, str] | None = None,
) -> Path:  # fmt: skip
    """Export `model` to a checked ONNX file at `path` (atomically) in `precision` (fp32 | fp16).

    Uses the TorchScript exporter (dynamo=False): mature, fast, and it handles the zoo's LSTMs.
    A simplified graph (onnxslim) is kept only if ONNX Runtime says it computes the same outputs.
    """
    if precision not in ONNX_PRECISIONS:
        raise UserError(f"ONNX export precision must be fp32 or fp16 (INT8: use `edgepose quantize`), got {precision}")
    with tempfile.TemporaryDirectory(prefix="edgepose-onnx-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        _torch_export(model, spec, raw, opset, dynamic_batch)
        import onnx

        proto = onnx.load(str(raw))
    proto = check_and_infer(proto)
    notes = {"edgepose.simplified": "no"}
    if simplify:
        proto, notes["edgepose.simplified"] = simplify_onnx(proto, spec)
    if precision == "fp16":
        from edgepose.export.fp16 import convert_to_fp16

        proto = convert_to_fp16(proto)
    meta = dict(metadata or {})
    meta.setdefault("edgepose.precision", precision)
    set_metadata(proto, {**meta, **notes, "edgepose.opset": str(opset)})
    return save_onnx(proto, path)


def _torch_export(model: nn.Module, spec: ModelSpec, path: Path, opset: int, dynamic_batch: bool) -> None:
    model = model.eval()
    dummy = torch.zeros(spec.input_shape(1))
    names = output_names(spec)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in names}}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (dummy,), str(path), input_names=[INPUT_NAME], output_names=list(names),
                opset_version=opset, dynamic_axes=dynamic_axes, dynamo=False, do_constant_folding=True,
            )  # fmt: skip
    except Exception as exc:  # the exporter raises many types; all mean "this model does not export"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:240]
        raise UserError(f"cannot export this model to ONNX (opset {opset}): {reason}") from None


def check_and_infer(proto: Any) -> Any:
    """onnx.checker + strict shape inference; a failure is the exporter's or the model's, said in one line."""
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=False)
        return onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise UserError(f"exported ONNX graph is invalid: {str(exc).strip().splitlines()[0][:240]}") from None


def simplify_onnx(proto: Any, spec: ModelSpec, atol: float = 1e-5) -> tuple[Any, str]:
    """(graph, note): the onnxslim-simplified graph if ONNX Runtime gives the same outputs, else the input."""
    try:
        import onnxslim

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slim = onnxslim.slim(proto)
    except Exception as exc:  # a simplifier failure must never fail the export
        return proto, f"skipped: onnxslim failed ({type(exc).__name__})"
    if slim is None:
        return proto, "skipped: onnxslim returned nothing"
    feed = np.random.default_rng(0).standard_normal(spec.input_shape(1)).astype(np.float32)
    try:
        before, after = _ort_outputs(proto, feed), _ort_outputs(slim, feed)
    except Exception as exc:  # noqa: BLE001  (cannot check: keep the original)
        return proto, f"skipped: could not check ({type(exc).__name__})"
    for a, b in zip(before, after, strict=True):
        scale = max(1.0, float(np.abs(a).max()))
        if a.shape != b.shape or float(np.abs(a - b).max()) > atol * scale:
            return proto, "skipped: simplified graph changed the outputs"
    return slim, "onnxslim"


def _ort_outputs(proto: Any, feed: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: feed})


def set_metadata(proto: Any, meta: dict[str, str]) -> None:
    """Replace the model's metadata_props keys in `meta` (others are kept)."""
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    for key, value in [*keep, *sorted(meta.items())]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    proto.producer_name = "edgepose"


def save_onnx(proto: Any, path: str | Path) -> Path:
    import onnx

    path = Path(path)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path


def convert_onnx_file_to_fp16(src: str | Path, dst: str | Path) -> Path:
    """FP16 copy of an existing ONNX file (metadata kept, precision updated)."""
    import onnx

    from edgepose.export.fp16 import convert_to_fp16

    proto = convert_to_fp16(onnx.load(str(src)))
    set_metadata(proto, {"edgepose.precision": "fp16"})
    return save_onnx(proto, dst)
