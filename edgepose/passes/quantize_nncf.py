"""NNCF post-training quantization of an ONNX graph (fast bias correction on), for the OpenVINO target.

NNCF runs on the ONNX graph rather than on the converted OpenVINO model because OpenVINO renames the
ops it fuses (a deconv + BatchNorm becomes `Multiply_1234`), while ONNX node names keep the torch
module path that float-layer lists are written in. The Q/DQ ONNX it writes converts to an INT8
OpenVINO IR exactly as a natively quantized model does (measured: same latency on the CPU plugin).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.errors import MissingDependency, UserError
from edgepose.fileio import atomic_path
from edgepose.passes.quantize_layers import Layer, quantizable_layers

PRESETS = ("performance", "mixed")


class NncfQuantizer:
    """nncf.quantize on one FP32 ONNX file, with any set of layers in NNCF's ignored scope."""

    def __init__(
        self, fp32_onnx: Path, inputs: np.ndarray, preset: str = "mixed", fast_bias_correction: bool = True,
        subset_size: int | None = None,
    ):  # fmt: skip
        import onnx

        try:
            import nncf
        except ImportError:
            raise MissingDependency("nncf", hint="pip install nncf") from None
        if preset not in PRESETS:
            raise UserError(f"NNCF preset must be one of {', '.join(PRESETS)}, got {preset}")
        nncf.set_log_level(40)
        self.model = onnx.load(str(fp32_onnx))
        self.input_name = self.model.graph.input[0].name
        self.inputs, self.preset, self.fast_bias_correction = inputs, preset, fast_bias_correction
        self.subset_size = subset_size or len(inputs)

    def layers(self) -> list[Layer]:
        return quantizable_layers(self.model)

    def settings(self) -> dict[str, Any]:
        return {
            "backend": "nncf", "format": "QDQ", "preset": self.preset,
            "activations": "int8 (asymmetric where the preset allows)" if self.preset == "mixed" else "int8 symmetric",
            "weights": "int8 per-channel symmetric", "fast_bias_correction": self.fast_bias_correction,
            "calibration_images": int(min(self.subset_size, len(self.inputs))),
        }  # fmt: skip

    def quantize(self, float_layers: Iterable[Layer], out: Path, metadata: dict[str, str] | None = None) -> Path:
        """Write the Q/DQ ONNX with every quantizable layer INT8 except `float_layers`."""
        import nncf
        import onnx

        from edgepose.export.onnx import set_metadata

        names = sorted({layer.node for layer in float_layers})
        dataset = nncf.Dataset([{self.input_name: self.inputs[i : i + 1]} for i in range(len(self.inputs))])
        preset = nncf.QuantizationPreset.MIXED if self.preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE
        try:
            quantized = nncf.quantize(
                self.model, dataset, preset=preset, subset_size=self.subset_size,
                fast_bias_correction=self.fast_bias_correction,
                ignored_scope=nncf.IgnoredScope(names=names, validate=False) if names else None,
            )  # fmt: skip
        except (nncf.ValidationError, RuntimeError, ValueError) as exc:
            raise UserError(f"NNCF quantization failed: {str(exc).strip().splitlines()[0][:240]}") from None
        if metadata:
            set_metadata(quantized, metadata)
        out = Path(out)
        with atomic_path(out) as tmp:
            onnx.save(quantized, str(tmp))
        return out
