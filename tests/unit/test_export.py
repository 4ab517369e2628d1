"""Export to ONNX (fp32, fp16, dynamic batch, onnxslim) and OpenVINO IR, and the `edgepose export` CLI.

Every export is checked on values: ONNX Runtime / OpenVINO outputs against torch eager, the metadata
read back through `load_artifact`, the stable I/O names, and the CLI's parity gate and exit codes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgepose.artifact import Artifact, ModelSpec
from edgepose.errors import UserError
from edgepose.export.convert import export_model
from edgepose.export.metadata import read_onnx_metadata, read_openvino_metadata
from edgepose.loading import load_artifact
from edgepose.runtimes import make_feeds, open_session
from tests.coco_files import write_coco
from tests.conftest import TINY_FACTORY, TINY_INPUT_SIZE
from tests.tolerances import SAME_RUNTIME_REL, assert_close_fp32

FP32_DEFAULT_TOL = 1e-4  # edgepose.bench.parity's fp32 default: max abs error / max(1, max |reference|)
FP16_REL_TOL = 2e-2  # edgepose.bench.parity's default for fp16: max error / reference output range
CUSTOM_SPEC = dict(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))


def torch_out(artifact: Artifact, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return artifact.model.eval()(torch.from_numpy(x)).numpy()  # type: ignore[union-attr]


def ort_run(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: x}), strict=True))


@pytest.fixture
def net(tiny_pose_net: Artifact) -> Artifact:
    """The tiny heatmap net with a non-default mean/std, so a metadata round trip proves something."""
    tiny_pose_net.spec = tiny_pose_net.spec.with_changes(**CUSTOM_SPEC)
    return tiny_pose_net


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved edgepose checkpoint of the tiny factory net (reload with --model-factory)."""
    from edgepose.checkpoint import save_checkpoint
    from edgepose.loading import LoadOptions

    torch.manual_seed(0)
    h, w = TINY_INPUT_SIZE
    artifact = load_artifact(None, LoadOptions(model_factory=TINY_FACTORY, input_size=f"{h}x{w}"))
    return save_checkpoint(artifact, tmp_path_factory.mktemp("export") / "tiny.pt")


class TinyRegression(nn.Module):
    """Conv + pool + FC -> (B, 14, 2) in [0, 1]: a regression head for the `keypoints` output name."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Linear(8 * 16, 14 * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(self.features(x).flatten(1))).view(-1, 14, 2)


# ---- ONNX ----------------------------------------------------------------------------------------


def test_onnx_fp32_matches_torch_and_names_its_io(net: Artifact, tmp_path: Path) -> None:
    result = export_model(net, "onnx", tmp_path / "m.onnx")
    x = make_feeds(net.spec, batch=1, seed=3)["input"]
    outs = ort_run(result.path, x)
    assert list(outs) == ["heatmaps"]
    ref = torch_out(net, x)
    assert outs["heatmaps"].shape == ref.shape == (1, 17, 16, 12)
    assert_close_fp32(outs["heatmaps"], ref)
    assert float(np.abs(ref).max()) > 0.05  # the outputs are not ~0, so the bound above means something
    assert result.format == "onnx" and result.precision == "fp32"
    assert result.size_mb == pytest.approx(result.path.stat().st_size / 2**20, rel=1e-3)


def test_regression_head_exports_a_keypoints_output(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = ModelSpec(input_size=(32, 32), schema="lsp14", head="regression")
    artifact = Artifact(spec=spec, model=TinyRegression().eval(), arch="test-regression")
    path = export_model(artifact, "onnx", tmp_path / "reg.onnx").path
    x = make_feeds(spec, seed=1)["input"]
    outs = ort_run(path, x)
    assert list(outs) == ["keypoints"] and outs["keypoints"].shape == (1, 14, 2)
    assert_close_fp32(outs["keypoints"], torch_out(artifact, x))
    assert load_artifact(path).spec == spec


def test_onnx_metadata_round_trips_through_load_artifact(net: Artifact, tmp_path: Path) -> None:
    path = export_model(net, "onnx", tmp_path / "m.onnx").path
    meta = read_onnx_metadata(path)
    assert meta["edgepose.input_size"] == "64x48" and meta["edgepose.schema"] == "coco17"
    assert json.loads(meta["edgepose.mean"]) == list(CUSTOM_SPEC["mean"])
    assert json.loads(meta["edgepose.std"]) == list(CUSTOM_SPEC["std"])
    assert meta["edgepose.precision"] == "fp32" and meta["edgepose.opset"] == "17"
    loaded = load_artifact(path)
    assert loaded.format == "onnx" and loaded.model is None
    assert loaded.spec == net.spec  # input size, schema, head, mean/std: the whole ModelSpec
    assert loaded.spec.mean == CUSTOM_SPEC["mean"] and loaded.spec.std == CUSTOM_SPEC["std"]
    assert loaded.provenance["params"] == sum(p.numel() for p in net.model.parameters())  # type: ignore[union-attr]
    assert loaded.provenance["gflops"] > 0


def test_dynamic_batch_runs_batch_1_and_3_static_refuses_3(net: Artifact, tmp_path: Path) -> None:
    dynamic = export_model(net, "onnx", tmp_path / "dyn.onnx", dynamic_batch=True).path
    static = export_model(net, "onnx", tmp_path / "static.onnx").path
    for batch in (1, 3):
        x = make_feeds(net.spec, batch=batch, seed=batch)["input"]
        out = open_session(dynamic, "onnxruntime", threads=1).run({"input": x})["heatmaps"]
        assert out.shape == (batch, 17, 16, 12)
        assert_close_fp32(out, torch_out(net, x))
    session = open_session(static, "onnxruntime", threads=1)
    assert session.fixed_batch == 1
    with pytest.raises(UserError, match="--dynamic-batch"):
        session.run(make_feeds(net.spec, batch=3))


def test_onnxslim_on_and_off_give_the_same_outputs(net: Artifact, tmp_path: Path) -> None:
    import onnx

    slim = export_model(net, "onnx", tmp_path / "slim.onnx", simplify=True).path
    raw = export_model(net, "onnx", tmp_path / "raw.onnx", simplify=False).path
    assert read_onnx_metadata(slim)["edgepose.simplified"] == "onnxslim"
    assert read_onnx_metadata(raw)["edgepose.simplified"] == "no"
    assert len(onnx.load(str(slim)).graph.node) <= len(onnx.load(str(raw)).graph.node)
    x = make_feeds(net.spec, seed=5)["input"]
    raw_out = ort_run(raw, x)["heatmaps"]
    assert_close_fp32(ort_run(slim, x)["heatmaps"], raw_out, rel=SAME_RUNTIME_REL)


def test_fp16_onnx_keeps_float32_io_and_stays_within_fp16_tolerance(net: Artifact, tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto

    from edgepose.export.fp16 import graph_precision

    path = export_model(net, "onnx", tmp_path / "h.onnx", precision="fp16").path
    proto = onnx.load(str(path))
    assert graph_precision(proto) == "fp16"
    assert [v.type.tensor_type.elem_type for v in proto.graph.input] == [TensorProto.FLOAT]
    assert [v.type.tensor_type.elem_type for v in proto.graph.output] == [TensorProto.FLOAT]
    weights = [i for i in proto.graph.initializer if len(i.dims) == 4]
    assert weights and all(i.data_type == TensorProto.FLOAT16 for i in weights)
    assert read_onnx_metadata(path)["edgepose.precision"] == "fp16"
    x = make_feeds(net.spec, seed=7)["input"]
    out = ort_run(path, x)["heatmaps"]
    assert out.dtype == np.float32
    ref = torch_out(net, x)
    rel = float(np.abs(out - ref).max()) / float(ref.max() - ref.min())
    assert 0 < rel <= FP16_REL_TOL  # > 0: it really computes in half precision


def test_int8_from_a_torch_model_points_to_quantize(net: Artifact, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="edgepose quantize"):
        export_model(net, "onnx", tmp_path / "q.onnx", precision="int8")


# ---- OpenVINO ------------------------------------------------------------------------------------


def test_openvino_ir_has_xml_bin_metadata_and_parity(net: Artifact, tmp_path: Path) -> None:
    result = export_model(net, "openvino", tmp_path / "ir" / "m.xml")
    xml, bin_ = result.path, result.path.with_suffix(".bin")
    assert xml.exists() and bin_.exists() and bin_.stat().st_size > 0
    assert result.size_mb == pytest.approx((xml.stat().st_size + bin_.stat().st_size) / 2**20, rel=1e-3)
    meta = read_openvino_metadata(xml)  # rt_info under "edgepose"
    assert meta["edgepose.input_size"] == "64x48" and meta["edgepose.precision"] == "fp32"
    assert load_artifact(xml).spec == net.spec
    session = open_session(xml, threads=1)
    assert session.runtime == "openvino" and session.output_names == ("heatmaps",)
    x = make_feeds(net.spec, seed=9)["input"]
    assert_close_fp32(session.run({"input": x})["heatmaps"], torch_out(net, x))


def test_openvino_rejects_a_non_xml_output_name(net: Artifact, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"NAME\.xml"):
        export_model(net, "openvino", tmp_path / "m.onnx")


# ---- the CLI -------------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `edgepose ARGS` in-process; returns (exit code, stdout, stderr)."""
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_cli_export_json_reports_parity(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_path = tmp_path / "m.onnx"
    code, out, err = cli(capsys, "export", str(ckpt), "--model-factory", TINY_FACTORY, "--format", "onnx",
                         "-o", str(out_path), "--verify-samples", "3", "--json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)  # stdout is the one JSON document
    assert {"output", "format", "precision", "size_mb", "source", "notes", "parity", "verdict"} <= set(data)
    assert data["output"] == str(out_path) and out_path.exists() and data["verdict"] == "pass"
    parity = data["parity"]
    assert parity["n_random"] == 3 and parity["n_images"] == 0 and parity["metric"] == "scaled"
    assert parity["tolerance"] == FP32_DEFAULT_TOL and 0 <= parity["max_scaled_err"] <= FP32_DEFAULT_TOL
    assert parity["max_scaled_err"] == pytest.approx(parity["max_abs_err"] / parity["per_output"]["heatmaps"]["scale"])
    assert parity["checked_value"] == parity["max_scaled_err"]
    assert parity["mean_kpt_px"] == 0.0 and list(parity["per_output"]) == ["heatmaps"]


def test_cli_fp16_with_zero_tolerance_fails_the_gate(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "export", str(ckpt), "--model-factory", TINY_FACTORY, "-o", str(tmp_path / "h.onnx"),
                         "--precision", "fp16", "--tolerance", "0", "--verify-samples", "2", "--json")  # fmt: skip
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "fail" and data["parity"]["metric"] == "rel" and data["parity"]["max_rel_err"] > 0
    assert "export parity failed" in err and len(err.strip().splitlines()) >= 1


def test_cli_verify_data_reports_keypoint_displacement(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ann = write_coco(tmp_path / "coco", n_images=2, seed=4)
    code, out, err = cli(capsys, "export", str(ckpt), "--model-factory", TINY_FACTORY, "-o", str(tmp_path / "h.onnx"),
                         "--precision", "fp16", "--verify-data", str(ann), "--verify-samples", "2", "--json")  # fmt: skip
    assert code == 0, err
    parity = json.loads(out)["parity"]
    assert parity["n_images"] == 2 and parity["n_random"] == 2
    assert isinstance(parity["mean_kpt_px"], float) and 0 <= parity["mean_kpt_px"] <= parity["max_kpt_px"]
    assert parity["max_kpt_px"] < 64  # displacement in input pixels, bounded by the 64x48 input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["MISSING", "--format", "onnx"], "file not found"),
        (["CKPT", "--format", "tflite"], "unknown export format 'tflite'"),
        (["CKPT", "--format", "onnx", "--precision", "int8"], "edgepose quantize"),
        (["CKPT", "--format", "onnx", "--precision", "int4"], "unknown precision 'int4'"),
        (["CKPT", "--format", "onnx", "--precision", "bf16"], "unknown onnx precision 'bf16'"),
    ],
    ids=["missing-model", "unknown-format", "int8-from-torch", "unknown-precision", "bf16-is-openvino-only"],
)
def test_cli_bad_input_exits_2_with_one_line(
    args: list[str], message: str, ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = {"MISSING": str(tmp_path / "nope.pt"), "CKPT": str(ckpt)}[args[0]]
    code, out, err = cli(capsys, "export", model, *args[1:], "--model-factory", TINY_FACTORY,
                         "-o", str(tmp_path / "x.onnx"), "--json")  # fmt: skip
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()
