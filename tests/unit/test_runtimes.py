"""Every runtime behind one Session: availability with a reason, same outputs as torch, and `eval --runtime`.

Parametrized over the registry, so a new runtime is tested for free: where it is available it must
reproduce torch eager on the tiny net; where it is not (onnxruntime-cuda, tensorrt on this CPU
machine) opening it must raise a UserError that says what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgepose.artifact import Artifact
from edgepose.errors import UserError
from edgepose.runtimes import RUNTIMES, Session, available_runtimes, is_available, make_feeds, open_session
from tests.coco_files import write_coco
from tests.conftest import TINY_FACTORY, TINY_INPUT_SIZE
from tests.tolerances import assert_close_fp32

# torch.compile (inductor) compiles C++ kernels first: about a minute on a loaded 2-core machine
SLOW_RUNTIMES = {"torch-compile"}
RUNTIME_PARAMS = [
    pytest.param(name, marks=[pytest.mark.slow] if name in SLOW_RUNTIMES else []) for name in RUNTIMES.names()
]


def torch_reference(artifact: Artifact, feeds: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return artifact.model.eval()(torch.from_numpy(feeds["input"])).numpy()  # type: ignore[union-attr]


@pytest.mark.parametrize("name", RUNTIMES.names())
def test_is_available_is_a_bool_and_a_reason(name: str) -> None:
    ok, reason = is_available(name)
    assert isinstance(ok, bool) and isinstance(reason, str)
    if ok:
        assert reason == ""
    else:
        assert len(reason) > 10 and ("install" in reason or "needs" in reason or "no " in reason), reason
    assert available_runtimes()[name] == (ok, reason)


@pytest.mark.parametrize("name", RUNTIME_PARAMS)
def test_runtime_reproduces_torch_or_says_what_is_missing(name: str, tiny_pose_net: Artifact) -> None:
    ok, reason = is_available(name)
    if not ok:
        with pytest.raises(UserError) as info:
            open_session(tiny_pose_net, name, threads=1)
        assert f"runtime {name} is not available here" in str(info.value) and reason in str(info.value)
        return
    session = open_session(tiny_pose_net, name, threads=1)
    assert isinstance(session, Session)
    assert session.runtime == name and session.threads == 1 and session.precision == "fp32"
    assert session.input_names == ("input",) and session.output_names == ("heatmaps",)
    assert session.fixed_batch is None  # torch models, and their on-the-fly exports, take any batch
    feeds = make_feeds(tiny_pose_net.spec, batch=2, seed=1)
    out = session.run(feeds)
    session.synchronize()
    ref = torch_reference(tiny_pose_net, feeds)
    assert list(out) == ["heatmaps"] and out["heatmaps"].dtype == np.float32
    assert out["heatmaps"].shape == ref.shape == (2, 17, 16, 12)
    assert_close_fp32(out["heatmaps"], ref)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA; tests/gpu covers it")
def test_torch_on_cuda_without_a_gpu_says_so(tiny_pose_net: Artifact) -> None:
    with pytest.raises(UserError, match="--device cuda needs a CUDA GPU"):
        open_session(tiny_pose_net, "torch", device="cuda")


@pytest.mark.parametrize(
    ("runtime", "kwargs", "message"),
    [
        ("torch", {"threads": 0}, "--threads must be at least 1"),
        ("torch", {"device": "tpu"}, "device must be cpu or cuda"),
        ("onnxruntime", {"device": "cuda"}, "use onnxruntime-cuda"),
        ("openvino", {"precision": "int8"}, "edgepose quantize"),
        ("torch", {"precision": "int8"}, "edgepose quantize"),
        ("onnxrt", {}, "did you mean 'onnxruntime'"),
    ],
    ids=["zero-threads", "bad-device", "ort-on-cuda", "openvino-int8-from-fp32", "torch-int8", "typo"],
)
def test_bad_session_requests_raise_user_error(
    runtime: str, kwargs: dict, message: str, tiny_pose_net: Artifact
) -> None:
    with pytest.raises(UserError, match=message):
        open_session(tiny_pose_net, runtime, **kwargs)


def test_runtime_is_picked_from_the_file_type(tiny_pose_net: Artifact, tmp_path: Path) -> None:
    from edgepose.checkpoint import save_checkpoint
    from edgepose.export.convert import export_model

    onnx_path = export_model(tiny_pose_net, "onnx", tmp_path / "m.onnx").path
    xml_path = export_model(tiny_pose_net, "openvino", tmp_path / "m.xml").path
    feeds = make_feeds(tiny_pose_net.spec, seed=2)
    ref = torch_reference(tiny_pose_net, feeds)
    save_checkpoint(tiny_pose_net, tmp_path / "m.pt")
    from edgepose.loading import LoadOptions, load_artifact

    pt = load_artifact(tmp_path / "m.pt", LoadOptions(model_factory=TINY_FACTORY))
    for model, expected in ((pt, "torch"), (onnx_path, "onnxruntime"), (xml_path, "openvino")):
        session = open_session(model, threads=1)
        assert session.runtime == expected
        assert_close_fp32(session.run(feeds)["heatmaps"], ref)
    with pytest.raises(UserError, match="needs a PyTorch model"):
        open_session(onnx_path, "torch")


def test_onnxruntime_refuses_a_precision_the_graph_does_not_have(tiny_pose_net: Artifact, tmp_path: Path) -> None:
    from edgepose.export.convert import export_model

    path = export_model(tiny_pose_net, "onnx", tmp_path / "m.onnx").path
    with pytest.raises(UserError, match="fp32 graph"):
        open_session(path, "onnxruntime", precision="fp16")


# ---- `edgepose eval --runtime R`: one decode + metric path for every runtime ---------------------


@pytest.fixture(scope="module")
def eval_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint of the seeded tiny net, a write_coco annotation file)."""
    from edgepose.checkpoint import save_checkpoint
    from edgepose.loading import LoadOptions, load_artifact

    root = tmp_path_factory.mktemp("runtime-eval")
    torch.manual_seed(0)
    h, w = TINY_INPUT_SIZE
    artifact = load_artifact(None, LoadOptions(model_factory=TINY_FACTORY, input_size=f"{h}x{w}"))
    return save_checkpoint(artifact, root / "tiny.pt"), write_coco(root / "coco", n_images=3, seed=2)


def run_eval(capsys: pytest.CaptureFixture[str], ckpt: Path, ann: Path, runtime: str) -> dict:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(ckpt), "--model-factory", TINY_FACTORY, "--data", str(ann), "--runtime", runtime,
              "--threads", "1", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    return json.loads(out)


def test_eval_gives_equal_metrics_on_every_cpu_runtime(
    eval_inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, ann = eval_inputs
    results = {r: run_eval(capsys, ckpt, ann, r) for r in ("torch", "onnxruntime", "openvino")}
    reference = results["torch"]
    assert reference["metrics"]["mpjpe_px"] > 0 and reference["n_instances"] > 0
    for runtime, result in results.items():
        assert result["runtime"] == runtime
        assert (result["n_images"], result["n_instances"]) == (reference["n_images"], reference["n_instances"])
        for key in ("oks_ap", "oks_ap50", "oks_ar", "pck@0.1", "pck@0.2", "mpjpe_px"):
            assert result["metrics"][key] == pytest.approx(reference["metrics"][key], abs=1e-5), (runtime, key)
        assert result["metrics"]["pckh@0.5"] is None  # COCO-17 has no head box: null, not a made-up number


def _qdq_conv_graph(path: Path) -> tuple[np.ndarray, float, float, np.ndarray]:
    """x -> Q/DQ -> Conv(DQ int8 weights) -> Q/DQ: the shape of every INT8 layer edgepose exports."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w_int8 = rng.integers(-127, 128, size=(4, 3, 3, 3), dtype=np.int8)
    x_scale, w_scale, y_scale = 0.02, 0.003, 0.05
    inits = [
        numpy_helper.from_array(w_int8, "w_q"), numpy_helper.from_array(np.array(w_scale, np.float32), "w_s"),
        numpy_helper.from_array(np.array(0, np.int8), "w_z"),
        numpy_helper.from_array(np.array(x_scale, np.float32), "x_s"), numpy_helper.from_array(np.array(0, np.uint8), "x_z"),
        numpy_helper.from_array(np.array(y_scale, np.float32), "y_s"), numpy_helper.from_array(np.array(128, np.uint8), "y_z"),
    ]  # fmt: skip
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "x_s", "x_z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_s", "x_z"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["wd"]),
        helper.make_node("Conv", ["xd", "wd"], ["y"], pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["y", "y_s", "y_z"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "y_s", "y_z"], ["heatmaps"]),
    ]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, 4, 8, 8])], inits,
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return w_int8, x_scale, w_scale, np.array([y_scale])


def test_literal_qdq_session_computes_the_fake_quant_arithmetic(tmp_path: Path) -> None:
    """The INT8 parity reference after QAT: Q/DQ as written, convs in float (numpy fake-quant, to float rounding)."""
    import torch

    from edgepose.artifact import Artifact, ModelSpec
    from edgepose.runtimes.onnxruntime import open_literal_qdq

    path = tmp_path / "qdq.onnx"
    w_int8, x_scale, w_scale, (y_scale,) = _qdq_conv_graph(path)
    spec = ModelSpec(input_size=(8, 8))
    x = np.random.default_rng(1).uniform(0, 4, size=(1, 3, 8, 8)).astype(np.float32)
    xd = np.clip(np.round(x / x_scale), 0, 255) * x_scale
    y = torch.nn.functional.conv2d(torch.from_numpy(xd.astype(np.float32)),
                                   torch.from_numpy(w_int8.astype(np.float32) * w_scale), padding=1).numpy()  # fmt: skip
    expected = (np.clip(np.round(y / y_scale) + 128, 0, 255) - 128) * y_scale
    got = open_literal_qdq(Artifact(spec=spec, format="onnx", path=path), threads=1).run({"input": x})["heatmaps"]
    # exact but for ties in round(y / y_scale) where float accumulation order differs: at most one step, rarely
    assert np.mean(np.isclose(got, expected, atol=1e-6)) > 0.99
    assert np.abs(got - expected).max() <= y_scale + 1e-6


def test_literal_qdq_reference_refuses_non_onnx(tiny_pose_net) -> None:  # noqa: ANN001
    from edgepose.runtimes.onnxruntime import open_literal_qdq

    with pytest.raises(UserError, match="needs an ONNX file"):
        open_literal_qdq(tiny_pose_net)
