"""Real TensorRT on a real GPU: what tests/unit/test_tensorrt.py's fake cannot prove.

Skipped (with the reason) unless `tensorrt` imports and torch sees a CUDA device. On a GPU box:
    pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128   # a CUDA torch
    pip install -e ".[dev,tensorrt]"
    python -m pytest -q -p no:cacheprovider -m gpu tests/gpu
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgepose.artifact import Artifact
from edgepose.bench.benchmark import benchmark
from edgepose.export.convert import export_model
from edgepose.export.metadata import sidecar_path
from edgepose.loading import load_artifact
from edgepose.runtimes import make_feeds, open_session


def _skip_reason() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "tensorrt is not installed (pip install 'edgepose[tensorrt]' on an NVIDIA GPU machine)"
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch (needs a CUDA build of torch and a GPU)"
    return None


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.tensorrt,
    pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason())),
]

FP32_ABS_TOL = 1e-3  # TensorRT may pick TF32 / different conv algorithms than torch on CPU
FP16_REL_TOL = 2e-2  # max error / reference output range, as edgepose.bench.parity


def torch_out(artifact: Artifact, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return artifact.model.eval()(torch.from_numpy(x)).numpy()  # type: ignore[union-attr]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_matches_torch_at_dynamic_batch(
    tiny_zoo_net: Artifact, tmp_path: Path, precision: str
) -> None:
    engine = tmp_path / f"net_{precision}.engine"
    export_model(
        tiny_zoo_net, "tensorrt", engine, precision=precision, dynamic_batch=True, opt_batch=2, max_batch=4
    )
    side = json.loads(sidecar_path(engine).read_text())
    import tensorrt as trt

    assert side["tensorrt_version"] == trt.__version__ and side["precision"] == precision
    assert side["strongly_typed"] is (int(trt.__version__.split(".")[0]) >= 11)
    assert side["profile"]["max"][0] == 4
    artifact = load_artifact(engine)
    assert artifact.spec == tiny_zoo_net.spec
    session = open_session(artifact, "tensorrt")
    assert session.fixed_batch is None and session.precision == precision
    for batch in (1, 3):
        x = make_feeds(artifact.spec, batch)["input"]
        got = next(iter(session.run({"input": x}).values()))
        ref = torch_out(tiny_zoo_net, x)
        assert got.shape == ref.shape and got.dtype == np.float32
        err = float(np.abs(got - ref).max())
        if precision == "fp32":
            assert err < FP32_ABS_TOL
        else:
            assert err / float(ref.max() - ref.min()) < FP16_REL_TOL


def test_timing_cache_is_reused(tiny_zoo_net: Artifact, tmp_path: Path) -> None:
    cache = tmp_path / "trt.cache"
    export_model(tiny_zoo_net, "tensorrt", tmp_path / "a.engine", timing_cache=cache)
    first = cache.read_bytes()
    assert first
    export_model(tiny_zoo_net, "tensorrt", tmp_path / "b.engine", timing_cache=cache)
    assert cache.stat().st_size >= len(first)


def test_bench_on_tensorrt_uses_cuda_timing(tiny_zoo_net: Artifact, tmp_path: Path) -> None:
    engine = tmp_path / "net.engine"
    export_model(tiny_zoo_net, "tensorrt", engine, dynamic_batch=True)
    result = benchmark(load_artifact(engine), "tensorrt", batches=(1, 4), warmup=5, iters=20)
    assert result["runtime"] == "tensorrt" and result["env"]["gpu"]
    assert [b["batch"] for b in result["batches"]] == [1, 4]
    assert all(b["latency_ms"]["p50"] > 0 for b in result["batches"])
