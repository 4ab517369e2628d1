"""ONNX Runtime: `onnxruntime` (CPUExecutionProvider) and `onnxruntime-cuda` (CUDAExecutionProvider)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.errors import UserError
from edgepose.runtimes.base import ThreadedAsyncSession, available_cores, check_feeds, onnx_for

if TYPE_CHECKING:
    from edgepose.artifact import Artifact

PROVIDERS = {"onnxruntime": ["CPUExecutionProvider"], "onnxruntime-cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def is_available(name: str) -> tuple[bool, str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return False, "onnxruntime is not installed: pip install onnxruntime"
    if name == "onnxruntime-cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        return False, "this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu, on a CUDA machine)"
    return True, ""


class OrtSession:
    def __init__(self, path: Path, runtime: str, threads: int | None, workdir: tempfile.TemporaryDirectory | None,
                 literal_qdq: bool = False, spinning: bool = True):  # fmt: skip
        import onnxruntime as ort

        from edgepose.export.metadata import read_onnx_metadata

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if literal_qdq:
            # no QDQ -> integer-kernel fusion: QuantizeLinear/DequantizeLinear run as written and the convs in
            # float, i.e. the fake-quant arithmetic QAT trained (no runtime's INT8 rounding or saturation)
            options.add_session_config_entry("session.disable_quant_qdq", "1")
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not spinning:
            # idle pool threads sleep at once instead of spinning: with two sessions in one process (an A/B
            # comparison) a spinning pool steals the cores from the other session for tens of ms after a switch
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(path), options, providers=PROVIDERS[runtime])
        except Exception as exc:  # ORT raises Fail / InvalidGraph / NotImplemented
            raise UserError(f"onnxruntime cannot load {path}: {str(exc).strip().splitlines()[0][:240]}") from None
        self._workdir = workdir  # keeps an on-the-fly export alive as long as the session
        self.runtime, self.threads, self.spinning = runtime, threads, spinning
        self.device = "cuda" if runtime == "onnxruntime-cuda" else "cpu"
        self.precision = read_onnx_metadata(path).get("edgepose.precision", "fp32")
        inputs = self._session.get_inputs()
        self.input_names = tuple(i.name for i in inputs)
        self.output_names = tuple(o.name for o in self._session.get_outputs())
        batch_dim = inputs[0].shape[0] if inputs and inputs[0].shape else None
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        array = check_feeds(self, feeds)
        outs = self._session.run(None, {self.input_names[0]: np.ascontiguousarray(array, dtype=np.float32)})
        return {n: np.asarray(o, dtype=np.float32) for n, o in zip(self.output_names, outs, strict=True)}

    def synchronize(self) -> None:
        """ORT's run() returns host arrays, so it has already waited for the device."""


def open(  # noqa: A001  (the runtime-module interface)
    artifact: Artifact, name: str, threads: int | None = None, device: str | None = None, precision: str | None = None,
    spinning: bool = True,
) -> OrtSession:
    expected = "cuda" if name == "onnxruntime-cuda" else "cpu"
    if device not in (None, expected):
        raise UserError(f"runtime {name} runs on {expected}; use {'onnxruntime-cuda' if device == 'cuda' else 'onnxruntime'}")
    workdir = None
    if artifact.format != "onnx":
        workdir = tempfile.TemporaryDirectory(prefix="edgepose-ort-")
    path = onnx_for(artifact, Path(workdir.name) if workdir else Path("."), precision or "fp32")
    session = OrtSession(path, name, threads, workdir, spinning=spinning)
    if precision and precision != session.precision:
        raise UserError(
            f"{path} is an {session.precision} graph; onnxruntime runs the graph's precision "
            f"(export with --precision {precision})"
        )
    return session


def open_literal_qdq(artifact: Artifact, threads: int | None = None) -> OrtSession:
    """A Q/DQ ONNX evaluated as written, in float: the reference an INT8 file of that graph should match.

    Every INT8 runtime (ONNX Runtime's fused kernels, OpenVINO, TensorRT) rounds and accumulates its own
    way; none of them is the definition. This session is.
    """
    if artifact.format != "onnx" or artifact.path is None:
        raise UserError(f"the literal Q/DQ reference needs an ONNX file, got a {artifact.format} model")
    return OrtSession(Path(artifact.path), "onnxruntime", threads, None, literal_qdq=True)


def open_async(
    artifact: Artifact, name: str, streams: int | None = None, threads: int | None = None, device: str | None = None,
    precision: str | None = None,
) -> ThreadedAsyncSession:  # fmt: skip
    """Throughput mode: `streams` concurrent run() calls (default: one per available core), each with
    threads // streams intra-op threads (at least 1), on one session; InferenceSession.run is thread-safe."""
    streams = streams or available_cores()
    per_stream = max(1, (threads or available_cores()) // streams)
    session = open(artifact, name, threads=per_stream, device=device, precision=precision)
    return ThreadedAsyncSession(session, requests=streams, threads=per_stream * streams)


def profile(artifact: Artifact, threads: int | None = None, precision: str | None = None, iters: int = 50,
            warmup: int = 5) -> list[dict[str, Any]]:  # fmt: skip
    """Per-node timing from ONNX Runtime's profiler over `iters` runs after a warm-up: [{"node", "op", "kernel",
    "ms"}] with ms per inference (kernel = the op type and execution provider: ORT names no instruction set)."""
    import json

    import onnxruntime as ort

    from edgepose.runtimes.base import make_feeds

    workdir = tempfile.TemporaryDirectory(prefix="edgepose-ort-profile-")
    path = onnx_for(artifact, Path(workdir.name), precision or "fp32")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(workdir.name) / "ort")
    session = ort.InferenceSession(str(path), options, providers=PROVIDERS["onnxruntime"])
    feeds = {session.get_inputs()[0].name: make_feeds(artifact.spec)["input"]}
    for _ in range(warmup + iters):
        session.run(None, feeds)
    trace = json.loads(Path(session.end_profiling()).read_text())
    durations: dict[str, list[float]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for event in trace:
        args = event.get("args") or {}
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        node = str(event["name"]).removesuffix("_kernel_time")
        durations.setdefault(node, []).append(float(event.get("dur", 0)) / 1000)
        meta[node] = {"node": node, "op": args.get("op_name", "?"),
                      "kernel": f"{args.get('op_name', '?')} ({args.get('provider', '?')})"}  # fmt: skip
    totals = {node: {**meta[node], "ms": sum(times[-iters:]) / len(times[-iters:])} for node, times in durations.items()}
    workdir.cleanup()
    return list(totals.values())
