"""TensorRT export and runtime against a fake `tensorrt` module that records every call.

TensorRT cannot be installed on the CPU dev/CI machines (its wheels come from NVIDIA's index), so
tests/fake_tensorrt.py implements the slice of the documented TensorRT 10/11 Python API that edgepose
uses, with the same names. TRT 11's BuilderFlag has no FP16 / INT8 (removed), so touching them fails
as it would for real. What the fake cannot show (that a real engine builds, runs and matches torch) is in
tests/gpu/test_tensorrt_gpu.py, skipped without CUDA + TensorRT.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch._dynamo  # noqa: F401  (imported before any fake: dynamo probes `find_spec("tensorrt")` on import)

from edgepose.artifact import Artifact
from edgepose.errors import MissingDependency, UserError
from edgepose.export import tensorrt as trt_export
from edgepose.export.convert import export_model
from edgepose.export.metadata import read_tensorrt_sidecar, sidecar_path
from edgepose.loading import load_artifact
from edgepose.runtimes import is_available, open_session
from edgepose.runtimes import tensorrt as trt_runtime
from tests.fake_tensorrt import ENGINE_BYTES, HEATMAP_IO, make_fake_trt


@pytest.fixture
def install_trt(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Put a fake tensorrt into sys.modules; returns a function taking make_fake_trt's arguments."""

    def install(**kwargs: Any) -> types.ModuleType:
        fake = make_fake_trt(**kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", fake)
        return fake

    return install


def build(tmp_path: Path, trt: types.ModuleType, precision: str = "fp32", **kwargs: Any) -> dict[str, Any]:
    """build_engine on a dummy ONNX path (the fake parser takes its I/O from `io`); returns the sidecar."""
    engine = trt_export.build_engine(
        tmp_path / "model.onnx", tmp_path / "model.engine", precision, trt=trt, **kwargs
    )
    assert engine.read_bytes() == ENGINE_BYTES
    return json.loads(sidecar_path(engine).read_text())


def names(trt: types.ModuleType, api: str) -> list[tuple]:
    return [c[1:] for c in trt.calls if c[0] == api]


# ---- versions, precision routing, profile shapes -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.13.3.9", (10, 13, 3)), ("11.0.0", (11, 0, 0)), ("10.8", (10, 8, 0)), ("11.1.0.post1", (11, 1, 0))],
)
def test_parse_trt_version(text: str, expected: tuple[int, int, int]) -> None:
    assert trt_export.parse_trt_version(text) == expected


def test_old_or_unreadable_versions_are_refused(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match="8.6.1 is too old"):
        trt_export.parse_trt_version("8.6.1")
    with pytest.raises(UserError, match="cannot read the TensorRT version"):
        trt_export.parse_trt_version("dev")
    trt = install_trt(version="8.6.1", io=HEATMAP_IO)
    with pytest.raises(UserError, match="too old"):
        trt_export.build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", trt=trt)
    assert trt.calls == []


@pytest.mark.parametrize(
    ("major", "precision", "graph"),
    [(10, "fp32", "fp32"), (10, "fp16", "fp32"), (10, "int8", "int8"),
     (11, "fp32", "fp32"), (11, "fp16", "fp16"), (11, "int8", "int8")],
)  # fmt: skip
def test_required_graph_precision(major: int, precision: str, graph: str) -> None:
    """TRT 11 takes precision from the graph; TRT 10 lowers an fp32 graph to fp16 with a builder flag."""
    assert trt_export.required_graph_precision(major, precision) == graph


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(UserError, match="fp32, fp16, int8"):
        trt_export.required_graph_precision(11, "bf16")


def test_profile_shapes() -> None:
    assert trt_export.profile_shapes((-1, 3, 64, 48), opt_batch=2, max_batch=8) == (
        (1, 3, 64, 48), (2, 3, 64, 48), (8, 3, 64, 48),
    )  # fmt: skip
    with pytest.raises(UserError, match="opt batch"):
        trt_export.profile_shapes((-1, 3, 64, 48), opt_batch=9, max_batch=8)
    with pytest.raises(UserError, match="only the batch axis"):
        trt_export.profile_shapes((-1, 3, -1, 48))


def test_network_flags_follow_the_documented_bit() -> None:
    trt11, trt10 = make_fake_trt("11.0.0"), make_fake_trt("10.13.0")
    assert trt_export.network_flags(trt11, 11) == 1 << int(trt11.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert trt_export.network_flags(trt10, 10) == 0
    trt11.NetworkDefinitionCreationFlag = types.SimpleNamespace()  # a later release may drop the ignored flag
    assert trt_export.network_flags(trt11, 11) == 0


# ---- build_engine ---------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_trt11_builds_a_strongly_typed_network_and_sets_no_precision_flag(
    tmp_path: Path, install_trt, precision: str  # noqa: ANN001
) -> None:  # fmt: skip
    trt = install_trt(version="11.0.0", io=HEATMAP_IO)
    side = build(tmp_path, trt, precision)
    strongly = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert names(trt, "create_network") == [(strongly,)]
    assert names(trt, "config.set_flag") == []
    assert side["strongly_typed"] is True and side["builder_flags"] == []
    assert side["precision"] == precision and side["tensorrt_version"] == "11.0.0"


@pytest.mark.parametrize(
    ("precision", "flags"), [("fp32", []), ("fp16", ["FP16"]), ("int8", ["INT8", "FP16"])]
)
def test_trt10_sets_the_precision_builder_flags(
    tmp_path: Path, install_trt, precision: str, flags: list[str]
) -> None:  # noqa: ANN001
    trt = install_trt(version="10.13.3.9", io=HEATMAP_IO)
    side = build(tmp_path, trt, precision)
    assert names(trt, "create_network") == [(0,)]
    assert [c[0] for c in names(trt, "config.set_flag")] == flags
    assert (
        side["strongly_typed"] is False and side["builder_flags"] == flags and side["precision"] == precision
    )


def test_dynamic_batch_gets_one_optimization_profile(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    trt = install_trt(version="11.0.0", io=HEATMAP_IO)
    side = build(tmp_path, trt, opt_batch=4, max_batch=16)
    assert names(trt, "create_optimization_profile") == [()]
    assert names(trt, "profile.set_shape") == [("input", (1, 3, 64, 48), (4, 3, 64, 48), (16, 3, 64, 48))]
    assert names(trt, "config.add_optimization_profile") == [()]
    assert side["profile"] == {
        "input": "input",
        "min": [1, 3, 64, 48],
        "opt": [4, 3, 64, 48],
        "max": [16, 3, 64, 48],
    }
    # the profile is part of the config before the build
    order = [c[0] for c in trt.calls]
    assert order.index("config.add_optimization_profile") < order.index("build_serialized_network")


def test_static_shapes_get_no_profile(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    io = {"inputs": [("input", (1, 3, 64, 48), "FLOAT")], "outputs": [("keypoints", (1, 14, 2), "FLOAT")]}
    trt = install_trt(version="10.13.0", io=io)
    side = build(tmp_path, trt)
    assert names(trt, "create_optimization_profile") == [] and side["profile"] is None


def test_sidecar_says_what_the_engine_was_built_with(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    trt = install_trt(version="11.0.0", io=HEATMAP_IO)
    meta = {"edgepose.precision": "fp16", "edgepose.input_size": "64x48"}
    side = build(tmp_path, trt, "fp16", metadata=meta)
    assert side["format"] == trt_export.SIDECAR_FORMAT
    assert side["inputs"] == [{"name": "input", "shape": [-1, 3, 64, 48], "dtype": "FLOAT"}]
    assert side["outputs"] == [{"name": "heatmaps", "shape": [-1, 17, 16, 12], "dtype": "FLOAT"}]
    assert side["edgepose"] == meta and side["source_onnx"] == str(tmp_path / "model.onnx")
    assert set(side["gpu"]) == {"name", "compute_capability"} and side["created"]
    assert read_tensorrt_sidecar(tmp_path / "model.engine") == side


def test_timing_cache_is_read_then_written_back(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    trt = install_trt(version="11.0.0", io=HEATMAP_IO)
    cache = tmp_path / "trt.cache"
    cache.write_bytes(b"old")
    build(tmp_path, trt, timing_cache=cache)
    assert names(trt, "config.create_timing_cache") == [(b"old",)]
    assert names(trt, "config.set_timing_cache") == [(False,)]
    assert cache.read_bytes() == b"old+tuned"


def test_timing_cache_is_created_when_missing_and_not_written_without_a_path(
    tmp_path: Path, install_trt
) -> None:  # noqa: ANN001
    trt = install_trt(version="10.13.0", io=HEATMAP_IO)
    cache = tmp_path / "new" / "trt.cache"
    build(tmp_path, trt, timing_cache=cache)
    assert names(trt, "config.create_timing_cache") == [(b"",)] and cache.read_bytes() == b"+tuned"
    trt = install_trt(version="10.13.0", io=HEATMAP_IO)
    build(tmp_path, trt)
    assert names(trt, "config.create_timing_cache") == [(b"",)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.engine", "model.engine.json", "new"]


def test_workspace_limit_is_a_memory_pool_limit_in_bytes(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    trt = install_trt(version="11.0.0", io=HEATMAP_IO)
    build(tmp_path, trt, workspace_mb=256)
    assert names(trt, "config.set_memory_pool_limit") == [("WORKSPACE", 256 << 20)]


def test_parse_errors_are_one_user_error_and_leave_no_files(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    trt = install_trt(version="11.0.0", io=HEATMAP_IO, parse_errors=("Unsupported ONNX op: GridSample3D",))
    with pytest.raises(UserError, match="cannot parse .*GridSample3D"):
        trt_export.build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", trt=trt)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_build_is_a_user_error_and_leaves_no_files(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    trt = install_trt(version="10.13.0", io=HEATMAP_IO, build_fails=True)
    with pytest.raises(UserError, match="could not build an engine"):
        trt_export.build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", trt=trt)
    assert list(tmp_path.iterdir()) == []


# ---- export_model: which graph reaches the parser -------------------------------------------------


@pytest.mark.parametrize(
    ("version", "graph", "flags"), [("11.0.0", "fp16", []), ("10.13.3.9", "fp32", ["FP16"])]
)
def test_export_model_hands_tensorrt_the_right_graph(
    tiny_pose_net: Artifact, tmp_path: Path, install_trt, version: str, graph: str, flags: list[str]  # noqa: ANN001
) -> None:  # fmt: skip
    """fp16 on TRT 11: an FP16-converted ONNX, no flags; on TRT 10: the fp32 ONNX plus the FP16 flag."""
    trt = install_trt(version=version)  # the parser reads the real ONNX file export_model wrote
    result = export_model(tiny_pose_net, "tensorrt", tmp_path / "net.engine", precision="fp16", dynamic_batch=True,
                          opt_batch=2, max_batch=4)  # fmt: skip
    assert [p["graph_precision"] for p in trt.parsed] == [graph]
    assert [c[0] for c in names(trt, "config.set_flag")] == flags
    assert names(trt, "profile.set_shape") == [("input", (1, 3, 64, 48), (2, 3, 64, 48), (4, 3, 64, 48))]
    assert (
        result.notes == {"tensorrt_version": version, "graph_precision": graph} and result.precision == "fp16"
    )
    loaded = load_artifact(tmp_path / "net.engine")  # the spec travels in the sidecar
    assert loaded.format == "tensorrt" and loaded.spec == tiny_pose_net.spec
    assert loaded.provenance["precision"] == "fp16"


def test_int8_from_a_torch_model_asks_for_quantization_first(
    tiny_pose_net: Artifact, tmp_path: Path, install_trt
) -> None:  # noqa: ANN001
    trt = install_trt(version="11.0.0")
    with pytest.raises(UserError, match="edgepose quantize"):
        export_model(tiny_pose_net, "tensorrt", tmp_path / "net.engine", precision="int8")
    assert trt.calls == []


# ---- without tensorrt -----------------------------------------------------------------------------


def test_missing_tensorrt_says_what_to_install(
    tiny_pose_net: Artifact, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` now raises ImportError
    ok, reason = is_available("tensorrt")
    assert (
        ok is False
        and reason == "tensorrt is not installed: pip install 'edgepose[tensorrt]' (needs an NVIDIA GPU)"
    )
    with pytest.raises(MissingDependency, match=r"pip install 'edgepose\[tensorrt\]'"):
        export_model(tiny_pose_net, "tensorrt", tmp_path / "net.engine")
    with pytest.raises(UserError, match="runtime tensorrt is not available here: tensorrt is not installed"):
        open_session(tiny_pose_net, "tensorrt")


def test_tensorrt_without_a_gpu_says_so(install_trt, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    install_trt(version="11.0.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert trt_runtime.is_available("tensorrt") == (False, "TensorRT needs a CUDA GPU; torch sees none")


# ---- the runtime session, up to the CUDA boundary ---------------------------------------------------


def write_engine(tmp_path: Path, data: bytes = ENGINE_BYTES, sidecar: dict[str, Any] | None = None) -> Path:
    engine = tmp_path / "model.engine"
    engine.write_bytes(data)
    if sidecar is not None:
        sidecar_path(engine).write_text(json.dumps(sidecar))
    return engine


def test_session_reads_io_names_and_dynamic_batch_from_the_engine(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    trt = install_trt(version="11.0.0", io=HEATMAP_IO)
    session = trt_runtime.TensorRtSession(write_engine(tmp_path), "fp16")
    assert names(trt, "deserialize_cuda_engine") == [(ENGINE_BYTES,)]
    assert (session.input_names, session.output_names) == (("input",), ("heatmaps",))
    assert session.fixed_batch is None and session.precision == "fp16" and session.device == "cuda"
    assert session._dtypes == {"input": torch.float32, "heatmaps": torch.float32}


def test_session_of_a_static_engine_has_a_fixed_batch(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    io = {"inputs": [("input", (2, 3, 64, 48), "HALF")], "outputs": [("keypoints", (2, 14, 2), "HALF")]}
    install_trt(version="10.13.0", io=io)
    session = trt_runtime.TensorRtSession(write_engine(tmp_path), "fp16")
    assert session.fixed_batch == 2 and session._dtypes["input"] == torch.float16


def test_an_engine_from_another_tensorrt_names_what_built_it(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    install_trt(version="11.0.0", io=HEATMAP_IO)
    engine = write_engine(
        tmp_path, b"built elsewhere", {"tensorrt_version": "10.9.0", "gpu": {"name": "NVIDIA A10"}}
    )
    with pytest.raises(
        UserError,
        match=r"TensorRT 11.0.0 cannot load .*\(built with TensorRT 10.9.0 on NVIDIA A10\); rebuild",
    ):
        trt_runtime.TensorRtSession(engine, "fp32")


def test_open_refuses_cpu_and_a_precision_the_engine_was_not_built_with(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    install_trt(version="11.0.0", io=HEATMAP_IO)
    engine = Artifact(
        spec=_spec(), format="tensorrt", path=write_engine(tmp_path), provenance={"precision": "fp16"}
    )
    with pytest.raises(UserError, match="CUDA GPU only"):
        trt_runtime.open(engine, "tensorrt", device="cpu")
    with pytest.raises(UserError, match="is a fp16 engine; build a fp32 one"):
        trt_runtime.open(engine, "tensorrt", precision="fp32")
    assert trt_runtime.open(engine, "tensorrt").precision == "fp16"


def _spec() -> Any:
    from edgepose.artifact import ModelSpec

    return ModelSpec(input_size=(64, 48))


class CpuTorch:
    """Stands in for torch inside TensorRtSession.run: 'cuda' tensors are CPU tensors, one fake stream."""

    def __init__(self) -> None:
        self.by_address: dict[int, torch.Tensor] = {}
        self.events: list[str] = []
        current = types.SimpleNamespace(cuda_stream=0)  # the legacy default stream
        own = types.SimpleNamespace(
            cuda_stream=1234, synchronize=lambda: self.events.append("stream.synchronize"),
            wait_stream=lambda other: self.events.append(f"wait_stream({other.cuda_stream})"),
        )  # fmt: skip
        self.cuda = types.SimpleNamespace(
            current_stream=lambda: current, Stream=lambda: own, synchronize=lambda: None
        )

    def from_numpy(self, array: np.ndarray) -> Any:
        tensor = torch.from_numpy(array)
        return types.SimpleNamespace(to=lambda device, dtype: self._keep(tensor.to(dtype)))

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
        return self._keep(torch.empty(shape, dtype=dtype))

    def _keep(self, tensor: torch.Tensor) -> torch.Tensor:
        self.by_address[tensor.data_ptr()] = tensor
        return tensor


def test_run_binds_every_tensor_by_name_then_enqueues_on_its_own_stream(tmp_path: Path, install_trt) -> None:  # noqa: ANN001
    trt = install_trt(version="11.0.0", io=HEATMAP_IO)
    session = trt_runtime.TensorRtSession(write_engine(tmp_path), "fp32")
    fake_torch = CpuTorch()
    session._torch = fake_torch
    context = trt.context
    real_execute = context.execute_async_v3

    def execute(handle: int) -> bool:  # the "GPU" writes 0.5 into the output buffer it was given
        fake_torch.by_address[context.addresses["heatmaps"]].fill_(0.5)
        return real_execute(handle)

    context.execute_async_v3 = execute
    out = session.run({"input": np.zeros((3, 3, 64, 48), np.float32)})
    assert list(out) == ["heatmaps"] and out["heatmaps"].shape == (3, 17, 16, 12)
    assert out["heatmaps"].dtype == np.float32 and np.all(out["heatmaps"] == 0.5)
    run_calls = [c for c in trt.calls if c[0].startswith("context.")]
    assert run_calls == [
        ("context.set_input_shape", "input", (3, 3, 64, 48)),
        ("context.set_tensor_address", "input"),
        ("context.set_tensor_address", "heatmaps"),
        ("context.execute_async_v3", 1234),  # its own stream, not the default one (handle 0)
    ]
    assert fake_torch.events == ["wait_stream(0)", "stream.synchronize"]
    context.fail = True
    with pytest.raises(UserError, match="TensorRT execution failed"):
        session.run({"input": np.zeros((1, 3, 64, 48), np.float32)})
