"""OpenVINO IR export (xml + bin) from an ONNX file, with the edgepose metadata in rt_info."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgepose.errors import MissingDependency, UserError

OPENVINO_PRECISIONS = ("fp32", "fp16", "bf16", "int8")


def export_openvino(onnx_path: str | Path, path: str | Path, precision: str = "fp32", metadata: dict[str, str] | None = None) -> Path:
    """Convert `onnx_path` with openvino.convert_model and save `path` (.xml) + its .bin, atomically.

    fp16 stores FP16-compressed weights (the CPU plugin still computes in fp32); bf16 keeps fp32 weights and
    records `edgepose.precision = bf16`, so edgepose runs the IR with INFERENCE_PRECISION_HINT bf16 (on CPUs
    with AMX-BF16 / AVX512-BF16); int8 expects an ONNX with Q/DQ nodes (from `edgepose quantize`), which
    OpenVINO turns into INT8 kernels.
    """
    try:
        import openvino as ov
    except ImportError:
        raise MissingDependency("openvino", hint="pip install openvino") from None
    if precision not in OPENVINO_PRECISIONS:
        raise UserError(f"OpenVINO precision must be one of {', '.join(OPENVINO_PRECISIONS)}, got {precision}")
    path = Path(path)
    if path.suffix.lower() != ".xml":
        raise UserError(f"an OpenVINO IR is saved as NAME.xml (+ NAME.bin); got {path.name}")
    try:
        model = ov.convert_model(str(onnx_path))
    except Exception as exc:  # openvino raises its own OpConversionFailure / RuntimeError types
        raise UserError(f"OpenVINO cannot convert {onnx_path}: {str(exc).strip().splitlines()[0][:240]}") from None
    meta = dict(metadata or {})
    meta["edgepose.precision"] = precision
    for key, value in meta.items():
        model.set_rt_info(str(value), ["edgepose", key.removeprefix("edgepose.")])
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as tmp:
        tmp_xml = Path(tmp) / path.name
        ov.save_model(model, str(tmp_xml), compress_to_fp16=(precision == "fp16"))
        os.replace(tmp_xml.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(tmp_xml, path)
    return path


def ir_size_mb(path: str | Path) -> float:
    """Size of an IR: the .xml and its .bin together."""
    path = Path(path)
    total = sum(p.stat().st_size for p in (path, path.with_suffix(".bin")) if p.exists())
    return total / 2**20
