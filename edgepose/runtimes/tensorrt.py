"""TensorRT runtime: deserializes an engine and runs it with the name-based API (execute_async_v3).

Device buffers are torch CUDA tensors and the stream a torch CUDA stream, so no pycuda is needed.
An ONNX file or a torch model is built into a temporary engine first (slow; export once instead).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.errors import UserError
from edgepose.runtimes.base import check_feeds

if TYPE_CHECKING:
    from edgepose.artifact import Artifact


def is_available(name: str) -> tuple[bool, str]:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        from edgepose.export.tensorrt import INSTALL_HINT

        return False, f"tensorrt is not installed: {INSTALL_HINT}"
    try:
        import torch
    except ImportError:
        return False, "the tensorrt runtime uses torch CUDA tensors: install a CUDA build of torch"
    if not torch.cuda.is_available():
        return False, "TensorRT needs a CUDA GPU; torch sees none"
    return True, ""


class TensorRtSession:
    def __init__(self, engine_path: Path, precision: str, workdir: Any = None):
        import tensorrt as trt
        import torch

        from edgepose.export.metadata import read_tensorrt_sidecar

        self._trt, self._torch, self._workdir = trt, torch, workdir
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self._engine is None:
            side = read_tensorrt_sidecar(engine_path)
            built = f" (built with TensorRT {side.get('tensorrt_version')} on {side.get('gpu', {}).get('name')})" if side else ""
            raise UserError(f"TensorRT {trt.__version__} cannot load {engine_path}{built}; rebuild it on this machine")
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = tuple(n for n in names if is_input[n])
        self.output_names = tuple(n for n in names if not is_input[n])
        self._dtypes = {n: torch.from_numpy(np.zeros(1, dtype=trt.nptype(self._engine.get_tensor_dtype(n)))).dtype for n in names}
        batch = tuple(self._engine.get_tensor_shape(self.input_names[0]))[0]
        self.fixed_batch = batch if batch > 0 else None
        self._stream: Any = None  # made on the first run (needs CUDA)
        self.runtime, self.device, self.precision, self.threads = "tensorrt", "cuda", precision, None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        array = check_feeds(self, feeds)
        name = self.input_names[0]
        x = torch.from_numpy(np.ascontiguousarray(array)).to("cuda", dtype=self._dtypes[name])
        self._context.set_input_shape(name, tuple(x.shape))
        self._context.set_tensor_address(name, x.data_ptr())
        outputs = {}
        for out in self.output_names:
            shape = tuple(self._context.get_tensor_shape(out))
            outputs[out] = torch.empty(shape, dtype=self._dtypes[out], device="cuda")
            self._context.set_tensor_address(out, outputs[out].data_ptr())
        if self._stream is None:  # not the default stream: on it TensorRT adds cudaStreamSynchronize calls
            self._stream = torch.cuda.Stream()
        self._stream.wait_stream(torch.cuda.current_stream())  # the input copy was queued on the current stream
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise UserError("TensorRT execution failed (see its log above)")
        self._stream.synchronize()
        return {n: t.float().cpu().numpy() for n, t in outputs.items()}

    def synchronize(self) -> None:
        self._torch.cuda.synchronize()


def open(  # noqa: A001  (the runtime-module interface)
    artifact: Artifact, name: str, threads: int | None = None, device: str | None = None, precision: str | None = None
) -> TensorRtSession:
    if device not in (None, "cuda"):
        raise UserError("the tensorrt runtime runs on a CUDA GPU only")
    if artifact.format == "tensorrt" and artifact.path is not None:
        built = str(artifact.provenance.get("precision") or "fp32")
        if precision and precision != built:
            raise UserError(f"{artifact.path} is a {built} engine; build a {precision} one with edgepose export")
        return TensorRtSession(Path(artifact.path), built)
    from edgepose.export.convert import export_model

    workdir = tempfile.TemporaryDirectory(prefix="edgepose-trt-")
    engine = Path(workdir.name) / "model.engine"
    export_model(artifact, "tensorrt", engine, precision=precision or "fp32", dynamic_batch=True)
    return TensorRtSession(engine, precision or "fp32", workdir)
