"""Model file formats, export precisions, recipe targets and quantization backends: the one table of each.

Every layer that maps a suffix to a format, a format to its default runtime, a target to what it exports,
or a quantize backend to what it writes reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgepose.errors import UserError


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]  # the first is the one edgepose writes
    runtime: str  # the runtime that opens it by default
    exported: bool  # a file `export` writes (torch checkpoints are not)

    @property
    def suffix(self) -> str:
        return self.suffixes[0]


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("torch", (".pt", ".pth"), "torch", exported=False),
        Format("onnx", (".onnx",), "onnxruntime", exported=True),
        Format("openvino", (".xml",), "openvino", exported=True),
        Format("tensorrt", (".engine", ".plan"), "tensorrt", exported=True),
    )
}
EXPORT_FORMATS = tuple(name for name, f in FORMATS.items() if f.exported)
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# what `export --precision` may ask of each format: bf16 is an OpenVINO CPU inference hint (fp32 weights, the IR's
# metadata says to run it in bf16), not a graph precision of its own
EXPORT_PRECISIONS = {"onnx": ("fp32", "fp16", "int8"), "openvino": ("fp32", "fp16", "bf16", "int8"),
                     "tensorrt": ("fp32", "fp16", "int8")}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """A recipe target: the runtime that runs the final artifact and the format it is exported to."""

    name: str
    runtime: str
    format: str


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("cpu-onnxruntime", "onnxruntime", "onnx"),
        Target("cpu-openvino", "openvino", "openvino"),
        Target("gpu-tensorrt", "tensorrt", "tensorrt"),
    )
}


@dataclass(frozen=True)
class QuantizeBackend:
    """What `quantize --backend NAME` writes, the runtime that scores and times it, and whether the subpixel
    rewrite runs first by default (CPU runtimes whose INT8 deconvs are slow or stay float)."""

    name: str
    format: str
    runtime: str
    subpixel_default: bool


QUANTIZE_BACKENDS: dict[str, QuantizeBackend] = {
    b.name: b
    for b in (
        QuantizeBackend("onnxruntime", "onnx", "onnxruntime", subpixel_default=True),
        QuantizeBackend("openvino", "openvino", "openvino", subpixel_default=True),
        QuantizeBackend("tensorrt", "onnx", "onnxruntime", subpixel_default=False),  # Q/DQ for TensorRT; timed on ORT here
    )
}


def exported_format_of(path: str | Path) -> str | None:
    """'onnx' | 'openvino' | 'tensorrt' for an exported file's suffix, None for anything else (a checkpoint)."""
    suffix = Path(path).suffix.lower()
    return next((f.name for f in FORMATS.values() if f.exported and suffix in f.suffixes), None)


def file_name(fmt: str, stem: str = "model") -> str:
    """The file name edgepose writes for `fmt`: model.onnx, model.xml, model.engine, model.pt."""
    return stem + FORMATS[fmt].suffix


def default_runtime(fmt: str) -> str:
    return FORMATS[fmt].runtime if fmt in FORMATS else "torch"


def check_choice(kind: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    """UserError unless `value` is one of `choices` (an export format, a precision, ...)."""
    if value not in choices:
        raise UserError(f"unknown {kind} '{value}'; choose one of {', '.join(choices)}")


def check_output_suffix(fmt: str, output: str | Path, option: str = "-o", what: str | None = None) -> None:
    """UserError when OUT's extension does not match the format it will hold (model.onnx for onnx, ...)."""
    suffixes = FORMATS[fmt].suffixes
    suffix = Path(output).suffix.lower()
    if suffix not in suffixes:
        raise UserError(f"{what or '--format ' + fmt} writes a {' or '.join(suffixes)} file, but {option} {output} ends in "
                        f"'{suffix or '(nothing)'}'")  # fmt: skip
