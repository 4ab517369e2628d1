"""`export_model`: route an Artifact to the one pure exporter of each format (onnx, openvino, tensorrt)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepose.artifact import Artifact
from edgepose.errors import UserError
from edgepose.formats import EXPORT_FORMATS, EXPORT_PRECISIONS, PRECISIONS, check_choice

INT8_HINT = (
    "INT8 needs calibration: run `edgepose quantize MODEL --calib ANN.json -o model_int8.onnx`, "
    "then export that Q/DQ ONNX"
)


@dataclass
class ExportResult:
    path: Path
    format: str
    precision: str
    size_mb: float
    source: str
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.path), "format": self.format, "precision": self.precision,
            "size_mb": round(self.size_mb, 3), "source": self.source, "notes": self.notes,
        }  # fmt: skip


def export_model(
    artifact: Artifact, fmt: str, out: str | Path, *, precision: str = "fp32", dynamic_batch: bool = False,
    opset: int | None = None, simplify: bool = True, opt_batch: int = 1, max_batch: int = 8,
    timing_cache: str | Path | None = None, workspace_mb: int | None = None,
) -> ExportResult:  # fmt: skip
    """Export `artifact` (a torch model or an ONNX file) to `fmt` at `out`; see each exporter for details."""
    from edgepose.export.metadata import metadata_for_artifact
    from edgepose.export.onnx import DEFAULT_OPSET

    check_choice("export format", fmt, EXPORT_FORMATS)
    check_choice("precision", precision, PRECISIONS)
    check_choice(f"{fmt} precision", precision, EXPORT_PRECISIONS[fmt])
    if artifact.model is None and artifact.format != "onnx":
        raise UserError(f"export needs an edgepose .pt checkpoint or an ONNX file; got a {artifact.format} file")
    source = source_precision(artifact)
    if precision == "int8" and source != "int8":
        raise UserError(INT8_HINT)
    out = Path(out)
    meta = metadata_for_artifact(artifact, precision)
    opset = opset or DEFAULT_OPSET
    with tempfile.TemporaryDirectory(prefix="edgepose-export-") as tmp:
        work = Path(tmp)
        if fmt == "onnx":
            path, notes = _to_onnx(artifact, out, precision, source, dynamic_batch, opset, simplify, meta)
            size_mb = path.stat().st_size / 2**20
        elif fmt == "openvino":
            from edgepose.export.openvino import export_openvino, ir_size_mb

            onnx_path = _onnx_at(artifact, work, source, source, dynamic_batch, opset, simplify, meta)
            path, notes = export_openvino(onnx_path, out, precision, meta), {}
            size_mb = ir_size_mb(path)
        else:
            from edgepose.export.tensorrt import (
                build_engine,
                import_tensorrt,
                required_graph_precision,
                trt_version,
            )

            trt = import_tensorrt()
            major = trt_version(trt)[0]
            need = required_graph_precision(major, precision)
            if major < 11 and precision == "fp16" and source == "fp16":
                need = "fp16"
            onnx_path = _onnx_at(artifact, work, need, source, dynamic_batch, opset, simplify, meta)
            path = build_engine(
                onnx_path, out, precision, opt_batch=opt_batch, max_batch=max_batch, timing_cache=timing_cache,
                workspace_mb=workspace_mb, metadata=meta, trt=trt,
            )  # fmt: skip
            notes, size_mb = {"tensorrt_version": str(trt.__version__), "graph_precision": need}, path.stat().st_size / 2**20
    return ExportResult(path, fmt, precision, size_mb, str(artifact.path or artifact.arch or "model"), notes)


def source_precision(artifact: Artifact) -> str:
    """Precision of what is being exported: fp32 for a torch model, the graph's for an ONNX file."""
    if artifact.model is not None:
        return "fp32"
    import onnx

    from edgepose.export.fp16 import graph_precision

    return graph_precision(onnx.load(str(artifact.path), load_external_data=False))


def _to_onnx(
    artifact: Artifact, out: Path, precision: str, source: str, dynamic_batch: bool, opset: int,
    simplify: bool, meta: dict[str, str],
) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    from edgepose.export.onnx import export_onnx, save_onnx, set_metadata

    if artifact.model is not None:
        path = export_onnx(artifact.model, artifact.spec, out, opset, dynamic_batch, precision, simplify, meta)
        return path, {}
    import onnx

    if source == "int8":
        raise UserError(f"{artifact.path} is already a Q/DQ INT8 ONNX; export it to openvino or tensorrt")
    proto = onnx.load(str(artifact.path))
    if precision == "fp16" and source == "fp32":
        from edgepose.export.fp16 import convert_to_fp16

        proto = convert_to_fp16(proto)
    elif precision != source:
        raise UserError(f"{artifact.path} is an {source} graph; it cannot become {precision} here")
    set_metadata(proto, meta)
    notes = {"dynamic_batch": "kept from the source ONNX"} if dynamic_batch else {}
    return save_onnx(proto, out), notes


def _onnx_at(
    artifact: Artifact, work: Path, need: str, source: str, dynamic_batch: bool, opset: int, simplify: bool,
    meta: dict[str, str],
) -> Path:  # fmt: skip
    """An ONNX file of graph precision `need` for the OpenVINO / TensorRT converters."""
    from edgepose.export.onnx import convert_onnx_file_to_fp16, export_onnx

    if artifact.model is not None:
        if need == "int8":
            raise UserError(INT8_HINT)
        return export_onnx(artifact.model, artifact.spec, work / "model.onnx", opset, dynamic_batch, need, simplify, meta)
    path = Path(artifact.path)  # type: ignore[arg-type]
    if need == source:
        return path
    if need == "fp16" and source == "fp32":
        return convert_onnx_file_to_fp16(path, work / "model_fp16.onnx")
    raise UserError(f"{path} is an {source} graph, but this build needs an {need} graph")
