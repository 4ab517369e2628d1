"""OpenVINO CPU runtime: reads an IR (.xml) or an ONNX file; threads via INFERENCE_NUM_THREADS.

Latency mode compiles with PERFORMANCE_HINT LATENCY and runs one synchronous request at a time;
throughput mode (`open_async`) compiles with PERFORMANCE_HINT THROUGHPUT (or an explicit NUM_STREAMS)
and keeps OPTIMAL_NUMBER_OF_INFER_REQUESTS requests in flight through an AsyncInferQueue.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.errors import UserError
from edgepose.runtimes.base import check_feeds, onnx_for

if TYPE_CHECKING:
    from edgepose.artifact import Artifact

# fp32 is pinned: on CPUs with bf16/AMX units OpenVINO would otherwise pick bf16 and change the outputs.
# bf16 is asked for explicitly (`--precision bf16`, or an IR whose metadata says bf16), only where it is native.
PRECISION_HINTS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "int8": "f32"}


def is_available(name: str) -> tuple[bool, str]:
    try:
        import openvino as ov
    except ImportError:
        return False, "openvino is not installed: pip install openvino"
    if "CPU" not in ov.Core().available_devices:
        return False, "OpenVINO sees no CPU device"
    return True, ""


def _compile(path: Path, config: dict[str, Any]) -> tuple[Any, Any]:
    """(model, compiled model) on the CPU plugin; a file OpenVINO cannot read or compile is a UserError."""
    import openvino as ov

    core = ov.Core()
    try:
        model = core.read_model(str(path))
        return model, core.compile_model(model, "CPU", config)
    except RuntimeError as exc:
        raise UserError(f"OpenVINO cannot load {path}: {str(exc).strip().splitlines()[0][:240]}") from None


def _base_config(precision: str, threads: int | None, hint: str) -> dict[str, Any]:
    config: dict[str, Any] = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision]}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    return config


class _Described:
    """Names, precision and batch shared by the latency and the throughput session."""

    def _describe(self, model: Any, compiled: Any, threads: int | None, precision: str, file_precision: str) -> None:
        self.runtime, self.device, self.threads = "openvino", "cpu", threads
        self.precision = file_precision if file_precision == "int8" else precision
        self.input_names = tuple(p.get_any_name() for p in model.inputs)
        self.output_names = tuple(p.get_any_name() for p in model.outputs)
        self._outputs = list(compiled.outputs)
        batch = model.inputs[0].get_partial_shape()[0]
        self.fixed_batch = batch.get_length() if batch.is_static else None


class OpenVinoSession(_Described):
    def __init__(self, path: Path, threads: int | None, precision: str, file_precision: str, workdir: Any):
        model, self._compiled = _compile(path, _base_config(precision, threads, "LATENCY"))
        self._request = self._compiled.create_infer_request()
        self._workdir = workdir
        self._describe(model, self._compiled, threads, precision, file_precision)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        array = check_feeds(self, feeds)
        results = self._request.infer({self.input_names[0]: np.ascontiguousarray(array, dtype=np.float32)})
        # copy: the request reuses its output buffers on the next call
        return {n: np.array(results[p], dtype=np.float32) for n, p in zip(self.output_names, self._outputs, strict=True)}

    def synchronize(self) -> None:
        """infer() is synchronous on CPU."""


class OpenVinoAsyncSession(_Described):
    """Throughput mode: an AsyncInferQueue of the plugin's optimal number of requests over N streams."""

    def __init__(self, path: Path, threads: int | None, precision: str, file_precision: str, workdir: Any,
                 streams: int | None):  # fmt: skip
        import openvino as ov

        config = _base_config(precision, threads, "THROUGHPUT")
        if streams is not None:
            config["NUM_STREAMS"] = int(streams)  # an explicit value overrides what the hint would choose
        model, self._compiled = _compile(path, config)
        self._workdir = workdir
        self._describe(model, self._compiled, threads, precision, file_precision)
        self.streams = int(self._compiled.get_property("NUM_STREAMS"))
        self.requests = max(1, int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._queue = ov.AsyncInferQueue(self._compiled, self.requests)
        self._queue.set_callback(self._finished)

    def _finished(self, request: Any, done: Any) -> None:
        for port in self._outputs:  # copy the outputs out, as a user's callback would
            np.array(request.get_tensor(port).data, dtype=np.float32)
        done()

    def wait_idle(self) -> None:
        self._queue.get_idle_request_id()

    def start(self, feeds: dict[str, np.ndarray], done: Any) -> None:
        array = check_feeds(self, feeds)
        self._queue.start_async({self.input_names[0]: np.ascontiguousarray(array, dtype=np.float32)}, done)

    def wait_all(self) -> None:
        self._queue.wait_all()


def _resolve(artifact: Artifact, device: str | None, precision: str | None) -> tuple[Path, str, str, Any]:
    """(file to compile, precision to run, the file's precision, temporary folder to keep alive)."""
    if device not in (None, "cpu"):
        raise UserError("the openvino runtime runs on the CPU here (no GPU plugin is set up)")
    workdir = None
    if artifact.format == "openvino" and artifact.path is not None:
        path = Path(artifact.path)
    else:
        if artifact.format not in ("onnx", "torch"):
            raise UserError(f"openvino cannot run a {artifact.format} file")
        if artifact.format == "torch":
            workdir = tempfile.TemporaryDirectory(prefix="edgepose-ov-")
        path = onnx_for(artifact, Path(workdir.name) if workdir else Path("."))
    file_precision = str(artifact.provenance.get("precision") or "fp32")
    wanted = precision or (file_precision if file_precision in ("fp16", "bf16") else "fp32")
    if wanted not in PRECISION_HINTS:
        raise UserError(f"openvino precision must be one of {', '.join(PRECISION_HINTS)}, got {wanted}")
    if wanted == "int8" and file_precision != "int8":
        raise UserError("INT8 needs a quantized (Q/DQ) model: use `edgepose quantize` first")
    if wanted == "bf16":
        from edgepose.hardware import require_native_bf16

        require_native_bf16("openvino")
    return path, wanted, file_precision, workdir


def open(  # noqa: A001  (the runtime-module interface)
    artifact: Artifact, name: str, threads: int | None = None, device: str | None = None, precision: str | None = None
) -> OpenVinoSession:
    path, wanted, file_precision, workdir = _resolve(artifact, device, precision)
    return OpenVinoSession(path, threads, wanted, file_precision, workdir)


def open_async(
    artifact: Artifact, name: str, streams: int | None = None, threads: int | None = None, device: str | None = None,
    precision: str | None = None,
) -> OpenVinoAsyncSession:  # fmt: skip
    """Throughput mode; `streams` None lets the THROUGHPUT hint choose the number of streams."""
    path, wanted, file_precision, workdir = _resolve(artifact, device, precision)
    return OpenVinoAsyncSession(path, threads, wanted, file_precision, workdir, streams)


def profile(artifact: Artifact, threads: int | None = None, precision: str | None = None, iters: int = 50,
            warmup: int = 5) -> list[dict[str, Any]]:  # fmt: skip
    """Per-node timing from OpenVINO's performance counters (PERF_COUNT), summed over `iters` runs after a
    warm-up: [{"node", "op", "kernel", "ms"}] with ms per inference; nodes fused away are left out."""
    from edgepose.runtimes.base import make_feeds

    path, wanted, file_precision, workdir = _resolve(artifact, None, precision)
    config = {**_base_config(wanted, threads, "LATENCY"), "PERF_COUNT": True}
    model, compiled = _compile(path, config)
    request = compiled.create_infer_request()
    feeds = {model.inputs[0].get_any_name(): make_feeds(artifact.spec)["input"]}
    for _ in range(warmup):
        request.infer(feeds)
    totals: dict[str, dict[str, Any]] = {}
    for _ in range(iters):
        request.infer(feeds)
        for info in request.profiling_info:
            if str(info.status).endswith("EXECUTED") and not str(info.status).endswith("NOT_EXECUTED"):
                row = totals.setdefault(info.node_name, {"node": info.node_name, "op": info.node_type,
                                                         "kernel": info.exec_type, "ms": 0.0})  # fmt: skip
                row["ms"] += info.real_time.total_seconds() * 1000
    del workdir  # the on-the-fly ONNX (if any) is no longer needed
    return [{**row, "ms": row["ms"] / iters} for row in totals.values()]
