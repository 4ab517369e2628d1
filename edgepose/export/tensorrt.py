"""TensorRT engine from an ONNX file, through the TensorRT Python API (`import tensorrt` inside functions).

TensorRT >= 11 is strongly typed: precision comes from the graph (an FP16-converted or a Q/DQ INT8
ONNX) and there are no precision builder flags. TensorRT 10 still has them; their only use is
`_apply_trt10_precision_flags`. Engines are not portable, so each gets a JSON sidecar
(`MODEL.engine.json`) with the TensorRT version, GPU, precision and I/O shapes.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from edgepose.errors import MissingDependency, UserError
from edgepose.fileio import atomic_path, write_json

TRT_PRECISIONS = ("fp32", "fp16", "int8")
INSTALL_HINT = "pip install 'edgepose[tensorrt]' (needs an NVIDIA GPU)"
SIDECAR_FORMAT = "edgepose-tensorrt-sidecar"


def import_tensorrt() -> Any:
    """The tensorrt module, or MissingDependency with the one line that says how to get it."""
    try:
        import tensorrt as trt
    except ImportError:
        raise MissingDependency("tensorrt", hint=INSTALL_HINT) from None
    return trt


def trt_version(trt: Any) -> tuple[int, int, int]:
    """'10.13.3.9' -> (10, 13, 3); TensorRT older than 10 is refused."""
    return parse_trt_version(str(getattr(trt, "__version__", "0")))


def parse_trt_version(text: str) -> tuple[int, int, int]:
    parts: list[int] = []
    for piece in text.strip().split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        raise UserError(f"cannot read the TensorRT version '{text}'")
    major, minor, patch = (parts + [0, 0])[:3]
    if major < 10:
        raise UserError(f"TensorRT {text} is too old: edgepose builds engines with TensorRT >= 10")
    return major, minor, patch


def strongly_typed(major: int) -> bool:
    """TensorRT 11 removed weak typing; 10 keeps the builder-flag path."""
    return major >= 11


def required_graph_precision(major: int, precision: str) -> str:
    """The precision the ONNX graph itself must have for a `precision` engine on TensorRT `major`."""
    if precision not in TRT_PRECISIONS:
        raise UserError(f"TensorRT precision must be one of {', '.join(TRT_PRECISIONS)}, got {precision}")
    if precision == "int8" or strongly_typed(major):
        return precision
    return "fp32"  # TRT 10 lowers an fp32 graph to fp16 with a builder flag


def network_flags(trt: Any, major: int) -> int:
    if strongly_typed(major):
        flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        return 0 if flag is None else 1 << int(flag)  # ignored (always on) from 11.0, kept for 10.x builds
    return 0


def _apply_trt10_precision_flags(config: Any, precision: str, trt: Any) -> list[str]:
    """TensorRT 10 only: the (deprecated) precision builder flags. Returns the names of the flags set."""
    names = {"fp32": [], "fp16": ["FP16"], "int8": ["INT8", "FP16"]}[precision]
    for name in names:  # INT8 with Q/DQ graphs; FP16 lets non-quantized layers run in half
        config.set_flag(getattr(trt.BuilderFlag, name))
    return names


def profile_shapes(
    input_shape: tuple[int, ...], opt_batch: int = 1, max_batch: int = 8
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) shapes of a dynamic-batch input: batch 1, `opt_batch`, `max_batch`."""
    if not 1 <= opt_batch <= max_batch:
        raise UserError(f"need 1 <= opt batch ({opt_batch}) <= max batch ({max_batch})")
    rest = tuple(int(d) for d in input_shape[1:])
    if any(d <= 0 for d in rest):
        raise UserError(f"only the batch axis may be dynamic for a TensorRT profile; input shape {input_shape}")
    return (1, *rest), (opt_batch, *rest), (max_batch, *rest)


def build_engine(
    onnx_path: str | Path, path: str | Path, precision: str = "fp32", *, opt_batch: int = 1, max_batch: int = 8,
    timing_cache: str | Path | None = None, workspace_mb: int | None = None,
    metadata: dict[str, str] | None = None, trt: Any = None,
) -> Path:  # fmt: skip
    """Build a serialized engine from `onnx_path`, write it to `path` and its sidecar beside it."""
    trt = trt or import_tensorrt()
    version = trt_version(trt)
    major = version[0]
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt, major))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise UserError(f"TensorRT cannot parse {onnx_path}: {errors[0] if errors else 'unknown error'}")
    config = builder.create_builder_config()
    if workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    flags = [] if strongly_typed(major) else _apply_trt10_precision_flags(config, precision, trt)
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    profile_record = None
    if any(-1 in tuple(t.shape) for t in inputs):
        profile = builder.create_optimization_profile()
        for tensor in inputs:
            shapes = profile_shapes(tuple(tensor.shape), opt_batch, max_batch)
            profile.set_shape(tensor.name, *shapes)
            profile_record = {"input": tensor.name, "min": shapes[0], "opt": shapes[1], "max": shapes[2]}
        config.add_optimization_profile(profile)
    cache_path = Path(timing_cache) if timing_cache else None
    cache_bytes = cache_path.read_bytes() if cache_path and cache_path.exists() else b""
    config.set_timing_cache(config.create_timing_cache(cache_bytes), False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UserError(f"TensorRT could not build an engine from {onnx_path} (see its log above)")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(bytes(serialized))
    if cache_path:
        with atomic_path(cache_path) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    outputs = [network.get_output(i) for i in range(network.num_outputs)]
    sidecar = engine_sidecar(
        trt_version_text=str(trt.__version__), precision=precision, strongly_typed_network=strongly_typed(major),
        builder_flags=flags, inputs=[_describe(t) for t in inputs], outputs=[_describe(t) for t in outputs],
        profile=profile_record, source_onnx=str(onnx_path), metadata=metadata or {}, gpu=gpu_description(),
    )  # fmt: skip
    from edgepose.export.metadata import sidecar_path

    write_json(sidecar_path(path), sidecar)
    return path


def engine_sidecar(
    *, trt_version_text: str, precision: str, strongly_typed_network: bool, builder_flags: list[str],
    inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], profile: dict[str, Any] | None,
    source_onnx: str, metadata: dict[str, str], gpu: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The JSON written beside an engine: what it was built with and for (engines are not portable)."""
    return {
        "format": SIDECAR_FORMAT,
        "tensorrt_version": trt_version_text,
        "gpu": gpu,
        "precision": precision,
        "strongly_typed": strongly_typed_network,
        "builder_flags": builder_flags,
        "inputs": inputs,
        "outputs": outputs,
        "profile": profile,
        "source_onnx": source_onnx,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "edgepose": metadata,
    }


def gpu_description() -> dict[str, Any]:
    """Name and compute capability of CUDA device 0 (what the engine is tied to)."""
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            return {"name": torch.cuda.get_device_name(0), "compute_capability": f"{major}.{minor}"}
    except Exception:  # noqa: BLE001  (a description must not fail the build)
        pass
    return {"name": "unknown", "compute_capability": None}


def _describe(tensor: Any) -> dict[str, Any]:
    return {"name": tensor.name, "shape": [int(d) for d in tuple(tensor.shape)], "dtype": str(tensor.dtype).split(".")[-1]}
