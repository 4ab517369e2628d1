"""One Session interface over every runtime, a registry of runtimes, and `open_session`.

A runtime module (torch.py, onnxruntime.py, ...) provides `is_available(name) -> (bool, reason)` and
`open(artifact, name, threads, device, precision) -> Session`; it is imported only when used.
Feeds are {"input": float32 array}; outputs are keyed by the ONNX output names (`heatmaps`,
`keypoints`) for every runtime, torch included, and come back as float32 numpy arrays.
"""

from __future__ import annotations

import importlib
import inspect
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from edgepose.errors import UserError
from edgepose.formats import default_runtime as default_runtime_of_format
from edgepose.registry import Registry

if TYPE_CHECKING:
    from edgepose.artifact import Artifact, ModelSpec

INPUT_NAME = "input"


@runtime_checkable
class Session(Protocol):
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    runtime: str
    device: str  # "cpu" | "cuda"
    precision: str
    threads: int | None
    fixed_batch: int | None  # the only batch the model accepts, None when the batch axis is dynamic

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def synchronize(self) -> None: ...  # no-op on CPU, CUDA sync on GPU


@runtime_checkable
class AsyncSession(Protocol):
    """Many requests in flight (throughput mode): `start` returns at once and calls `done` on completion."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    runtime: str
    device: str
    precision: str
    threads: int | None
    fixed_batch: int | None
    streams: int  # the runtime's parallel execution streams
    requests: int  # requests kept in flight

    def wait_idle(self) -> None: ...  # block until start() can begin a request at once

    def start(self, feeds: dict[str, np.ndarray], done: Callable[[], None]) -> None: ...

    def wait_all(self) -> None: ...  # block until every started request has completed (re-raises a failure)


class ThreadedAsyncSession:
    """`requests` concurrent run() calls on one thread-safe Session, from as many worker threads.

    For runtimes whose run() releases the GIL and may be called from several threads at once (ONNX
    Runtime's InferenceSession.run is documented thread-safe); each call then runs on its own thread.
    """

    def __init__(self, session: Session, requests: int, threads: int | None):
        if requests < 1:
            raise UserError(f"--streams must be at least 1, got {requests}")
        self._session, self._slots, self._held = session, threading.Semaphore(requests), False
        self._pool = ThreadPoolExecutor(max_workers=requests, thread_name_prefix="edgepose-request")
        self._futures: list[Future[None]] = []
        self.input_names, self.output_names = session.input_names, session.output_names
        self.runtime, self.device, self.precision = session.runtime, session.device, session.precision
        self.fixed_batch, self.threads = session.fixed_batch, threads
        self.streams = self.requests = requests

    def wait_idle(self) -> None:
        if not self._held:
            self._slots.acquire()
            self._held = True

    def start(self, feeds: dict[str, np.ndarray], done: Callable[[], None]) -> None:
        self.wait_idle()
        self._held = False
        self._futures.append(self._pool.submit(self._request, feeds, done))

    def _request(self, feeds: dict[str, np.ndarray], done: Callable[[], None]) -> None:
        try:
            self._session.run(feeds)
            done()
        finally:
            self._slots.release()

    def wait_all(self) -> None:
        futures, self._futures = self._futures, []
        for future in futures:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@dataclass(frozen=True)
class RuntimeInfo:
    name: str
    module: str  # implementation module, imported on use
    formats: tuple[str, ...]  # artifact formats it opens (others are converted on the fly)
    device: str
    description: str


RUNTIMES: Registry[RuntimeInfo] = Registry("runtime")
for _info in (
    RuntimeInfo("torch", "edgepose.runtimes.torch", ("torch",), "cpu", "PyTorch eager (CPU, or CUDA with --device cuda)"),
    RuntimeInfo("torch-compile", "edgepose.runtimes.torch", ("torch",), "cpu", "torch.compile (inductor)"),
    RuntimeInfo("onnxruntime", "edgepose.runtimes.onnxruntime", ("onnx",), "cpu", "ONNX Runtime, CPUExecutionProvider"),
    RuntimeInfo("onnxruntime-cuda", "edgepose.runtimes.onnxruntime", ("onnx",), "cuda", "ONNX Runtime, CUDAExecutionProvider"),
    RuntimeInfo("openvino", "edgepose.runtimes.openvino", ("openvino", "onnx"), "cpu", "OpenVINO, CPU plugin"),
    RuntimeInfo("tensorrt", "edgepose.runtimes.tensorrt", ("tensorrt",), "cuda", "TensorRT engine (NVIDIA GPU)"),
):
    RUNTIMES.add(_info.name, _info)

ASYNC_RUNTIMES = ("onnxruntime", "onnxruntime-cuda", "openvino")  # those whose module has open_async


def is_available(name: str) -> tuple[bool, str]:
    """(True, "") when runtime `name` can run here, else (False, what is missing)."""
    info = RUNTIMES.get(name)
    try:
        module = importlib.import_module(info.module)
    except ImportError as exc:
        return False, f"cannot import {info.module}: {exc}"
    return module.is_available(name)


def available_runtimes() -> dict[str, tuple[bool, str]]:
    return {name: is_available(name) for name in RUNTIMES.names()}


def default_runtime(artifact: Artifact) -> str:
    return default_runtime_of_format(artifact.format)


def open_session(
    artifact_or_path: Artifact | str | Path, runtime: str | None = None, threads: int | None = None,
    device: str | None = None, precision: str | None = None, spinning: bool | None = None,
) -> Session:  # fmt: skip
    """Open a Session on an Artifact or a model file; runtime None picks one from the file type.

    `spinning=False` asks a runtime whose idle threads spin (ONNX Runtime) to let them sleep at once;
    runtimes without such a setting ignore it. None keeps each runtime's default.
    """
    from edgepose.artifact import Artifact

    if isinstance(artifact_or_path, Artifact):
        artifact = artifact_or_path
    else:
        from edgepose.loading import load_artifact

        artifact = load_artifact(artifact_or_path)
    name = runtime or default_runtime(artifact)
    info = RUNTIMES.get(name)
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    if device not in (None, "cpu", "cuda"):
        raise UserError(f"device must be cpu or cuda, got {device}")
    ok, reason = is_available(name)
    if not ok:
        raise UserError(f"runtime {name} is not available here: {reason}")
    module = importlib.import_module(info.module)
    extra = {}
    if spinning is not None and "spinning" in inspect.signature(module.open).parameters:
        extra["spinning"] = spinning
    return module.open(artifact, name, threads=threads, device=device, precision=precision, **extra)


def open_async_session(
    artifact: Artifact, runtime: str | None = None, streams: int | None = None, threads: int | None = None,
    device: str | None = None, precision: str | None = None,
) -> AsyncSession:  # fmt: skip
    """An AsyncSession for throughput mode; `streams` None lets the runtime choose (OpenVINO's THROUGHPUT hint)."""
    name = runtime or default_runtime(artifact)
    info = RUNTIMES.get(name)
    if streams is not None and streams < 1:
        raise UserError(f"--streams must be at least 1, got {streams}")
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    ok, reason = is_available(name)
    if not ok:
        raise UserError(f"runtime {name} is not available here: {reason}")
    module = importlib.import_module(info.module)
    if not hasattr(module, "open_async"):
        with_async = ", ".join(n for n in RUNTIMES.names() if n in ASYNC_RUNTIMES)
        raise UserError(f"--mode throughput runs on {with_async}; runtime {name} has no asynchronous mode here")
    return module.open_async(artifact, name, streams=streams, threads=threads, device=device, precision=precision)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def make_feeds(spec: ModelSpec, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Random normalised-image-like input (standard normal) of the spec's shape at `batch`."""
    if batch < 1:
        raise UserError(f"batch must be at least 1, got {batch}")
    rng = np.random.default_rng(seed)
    return {INPUT_NAME: rng.standard_normal(spec.input_shape(batch)).astype(np.float32)}


def check_feeds(session: Session, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The input array of `feeds`, after checking the key and the batch the session accepts."""
    if INPUT_NAME not in feeds:
        raise UserError(f"feeds need the key '{INPUT_NAME}', got {', '.join(feeds) or 'none'}")
    array = feeds[INPUT_NAME]
    if session.fixed_batch is not None and array.shape[0] != session.fixed_batch:
        raise UserError(
            f"this {session.runtime} model takes batch {session.fixed_batch} only (got {array.shape[0]}); "
            "re-export with --dynamic-batch"
        )
    return array


def onnx_for(artifact: Artifact, workdir: Path, precision: str = "fp32") -> Path:
    """An ONNX file for `artifact`: its own path when it is one, else a fresh export into `workdir`."""
    if artifact.format == "onnx" and artifact.path is not None:
        return Path(artifact.path)
    if artifact.model is None:
        raise UserError(f"cannot make an ONNX model from a {artifact.format} file")
    from edgepose.export.metadata import metadata_for_artifact
    from edgepose.export.onnx import export_onnx

    path = workdir / "model.onnx"
    return export_onnx(
        artifact.model, artifact.spec, path, dynamic_batch=True, precision=precision,
        metadata=metadata_for_artifact(artifact, precision),
    )  # fmt: skip
