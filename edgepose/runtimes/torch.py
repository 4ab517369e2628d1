"""PyTorch runtimes: `torch` (eager) and `torch-compile` (torch.compile, inductor), CPU or CUDA, fp32/fp16, and
bf16 autocast on CPUs that run bf16 natively (AMX-BF16 / AVX512-BF16)."""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
from typing import TYPE_CHECKING

import numpy as np

from edgepose.errors import UserError
from edgepose.runtimes.base import INPUT_NAME, check_feeds

if TYPE_CHECKING:
    from edgepose.artifact import Artifact


def is_available(name: str) -> tuple[bool, str]:
    try:
        import torch  # noqa: F401  (only: is it installed?)
    except ImportError:
        return False, "torch is not installed: pip install torch"
    if name == "torch-compile":
        if not _dynamo_supported():
            return False, "torch.compile (dynamo) does not support this Python version"
        compiler = os.environ.get("CXX") or next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)
        if compiler is None or shutil.which(compiler) is None:
            return False, "torch.compile on CPU needs a C++ compiler (g++ or clang++) on PATH"
    return True, ""


def _dynamo_supported() -> bool:
    """Whether dynamo runs on this Python (torch has no public API for it; torch.compiler lacks one)."""
    try:
        from torch._dynamo import is_dynamo_supported
    except ImportError:
        return False
    try:
        return bool(is_dynamo_supported())
    except Exception:  # noqa: BLE001  (any failure here means torch.compile will not work either)
        return False


class TorchSession:
    """Runs an nn.Module; outputs are named like the ONNX export (`heatmaps` / `keypoints`)."""

    input_names = (INPUT_NAME,)

    def __init__(
        self, artifact: Artifact, runtime: str = "torch", threads: int | None = None,
        device: str | None = None, precision: str | None = None,
    ):  # fmt: skip
        import torch

        from edgepose.export.onnx import output_names

        model = artifact.require_torch(f"runtime {runtime}")
        self.runtime, self.spec = runtime, artifact.spec
        self.device = device or "cpu"
        self.precision = precision or "fp32"
        if self.device == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda needs a CUDA GPU and a CUDA build of torch; none is available here")
        if self.precision not in ("fp32", "fp16", "bf16"):
            raise UserError(f"the torch runtimes run fp32, fp16 or bf16, not {self.precision} (INT8: use `edgepose quantize`)")
        if self.precision == "bf16":
            if self.device != "cpu":
                raise UserError("bf16 on the torch runtime is CPU autocast here; on CUDA use fp16")
            from edgepose.hardware import require_native_bf16

            require_native_bf16(runtime)
        self.threads = threads
        if threads is not None:
            torch.set_num_threads(threads)
        self.fixed_batch = None
        self.output_names = output_names(artifact.spec)
        self._dtype = torch.float16 if self.precision == "fp16" else torch.float32
        module = copy.deepcopy(model) if (self.precision == "fp16" or self.device != "cpu") else model
        module = module.eval().to(device=self.device, dtype=self._dtype)
        self._module = torch.compile(module) if runtime == "torch-compile" else module
        self._torch = torch

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        array = check_feeds(self, feeds)
        x = torch.from_numpy(np.ascontiguousarray(array)).to(device=self.device, dtype=self._dtype)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            out = self._module(x)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if len(outs) != len(self.output_names):
            raise UserError(f"model returned {len(outs)} outputs, expected {len(self.output_names)}")
        return {n: o.detach().float().cpu().numpy() for n, o in zip(self.output_names, outs, strict=True)}

    def synchronize(self) -> None:
        if self.device == "cuda":
            self._torch.cuda.synchronize()


def open(  # noqa: A001  (the runtime-module interface)
    artifact: Artifact, name: str, threads: int | None = None, device: str | None = None, precision: str | None = None
) -> TorchSession:
    if name == "torch-compile" and (device or "cpu") == "cuda" and importlib.util.find_spec("triton") is None:
        raise UserError("torch.compile on CUDA needs triton: pip install triton")
    return TorchSession(artifact, name, threads=threads, device=device, precision=precision)
