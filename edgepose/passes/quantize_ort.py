"""ONNX Runtime static quantization to a QDQ ONNX graph (what ONNX Runtime, OpenVINO and TensorRT consume).

Calibration runs once (its ranges are cached in the work folder), so re-quantizing with another set of
float layers -- the sensitivity scan and the accuracy-budget search -- costs only the graph rewrite.
Target flavours: "cpu" = U8S8 (uint8 activations, int8 per-channel weights; weights at 7 bits on CPUs
without VNNI, where the 8-bit U8S8 kernels can saturate); "tensorrt" = symmetric int8 activations and
weights, the only INT8 form TensorRT accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.errors import UserError
from edgepose.fileio import atomic_path
from edgepose.passes.quantize_layers import Layer, quantizable_layers

METHODS = ("minmax", "entropy", "percentile")


def cpu_has_vnni(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has VNNI (int8 dot products without the U8S8 saturation risk)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


class OrtQuantizer:
    """Quantizes one FP32 ONNX file, calibrated once on `inputs`, with any set of layers kept float."""

    def __init__(
        self, fp32_onnx: Path, inputs: np.ndarray, work_dir: Path, method: str = "minmax", target: str = "cpu",
        per_channel: bool = True, reduce_range: bool | None = None, percentile: float = 99.999,
    ):  # fmt: skip
        import onnx
        from onnxruntime.quantization.shape_inference import quant_pre_process

        if method not in METHODS:
            raise UserError(f"calibration method '{method}' is not one of {', '.join(METHODS)}")
        if target not in ("cpu", "tensorrt"):
            raise UserError(f"ONNX Runtime quantization target must be cpu or tensorrt, got {target}")
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.inputs, self.method, self.target, self.per_channel = inputs, method, target, per_channel
        self.reduce_range = (target == "cpu" and not cpu_has_vnni()) if reduce_range is None else reduce_range
        self.percentile = percentile
        self.prepared = self.work_dir / "fp32_prepared.onnx"
        try:
            quant_pre_process(str(fp32_onnx), str(self.prepared), skip_symbolic_shape=False)
        except Exception as exc:  # noqa: BLE001  (pre-processing is an optimisation; quantize the graph as is)
            self.prepared = Path(fp32_onnx)
            self.notes = [f"quant_pre_process skipped: {type(exc).__name__}"]
        else:
            self.notes = []
        self.model = onnx.load(str(self.prepared))
        self.input_name = self.model.graph.input[0].name
        self.cache = self.work_dir / f"calibration_{method}.json"
        if self.cache.exists():
            self.cache.unlink()  # ranges belong to this model and these inputs only

    def layers(self) -> list[Layer]:
        return quantizable_layers(self.model)

    def settings(self) -> dict[str, Any]:
        """What the quantized graph is: formats, calibration, flavour (for the report)."""
        sym = self.target == "tensorrt"
        return {
            "backend": "onnxruntime", "format": "QDQ", "target": self.target, "method": self.method,
            "activations": "int8 symmetric" if sym else "uint8 asymmetric",
            "weights": f"int8 {'per-channel' if self.per_channel else 'per-tensor'} symmetric"
            + (" (7-bit range: no VNNI on this CPU)" if self.reduce_range else ""),
            "calibration_images": int(len(self.inputs)), "notes": self.notes,
        }  # fmt: skip

    def quantize(self, float_layers: Iterable[Layer], out: Path, metadata: dict[str, str] | None = None) -> Path:
        """Write the QDQ model with every quantizable layer INT8 except `float_layers`."""
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                   "percentile": CalibrationMethod.Percentile}  # fmt: skip
        sym = self.target == "tensorrt"
        extra = {"ActivationSymmetric": sym, "WeightSymmetric": True, "CalibPercentile": self.percentile}
        excluded = sorted({layer.node for layer in float_layers})
        out = Path(out)
        with atomic_path(out) as tmp:
            try:
                quantize_static(
                    str(self.prepared), str(tmp), _Reader(self.input_name, self.inputs), quant_format=QuantFormat.QDQ,
                    per_channel=self.per_channel, reduce_range=self.reduce_range,
                    activation_type=QuantType.QInt8 if sym else QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=methods[self.method], nodes_to_exclude=excluded, extra_options=extra,
                    calibration_cache_path=str(self.cache),
                )  # fmt: skip
            except (ValueError, RuntimeError) as exc:
                raise UserError(f"ONNX Runtime quantization failed: {str(exc).strip().splitlines()[0][:240]}") from None
            if metadata:
                _set_metadata(tmp, metadata)
        return out


class _Reader:
    """CalibrationDataReader over (N, ...) inputs, one image per call (what the calibrators expect)."""

    def __init__(self, name: str, inputs: np.ndarray):
        self.name, self.inputs, self.index = name, inputs, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index >= len(self.inputs):
            return None
        item = {self.name: np.ascontiguousarray(self.inputs[self.index : self.index + 1], dtype=np.float32)}
        self.index += 1
        return item

    def __len__(self) -> int:
        return len(self.inputs)

    def rewind(self) -> None:
        self.index = 0


def _set_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    from edgepose.export.onnx import set_metadata

    proto = onnx.load(str(path))
    set_metadata(proto, metadata)
    onnx.save(proto, str(path))
