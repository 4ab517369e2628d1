"""INT8 quantization: layer naming, pose-head-aware defaults, calibration checks, every backend, QAT,
the sensitivity/budget search (with fakes, so its logic is checked exactly) and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgepose.errors import UserError
from edgepose.passes import RunContext, apply_pass
from edgepose.passes.quantize_layers import Layer, module_name, output_layers, quantizable_layers
from edgepose.passes.quantize_search import float_counts, search_budget
from tests.coco_files import write_coco


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_coco(tmp_path_factory.mktemp("coco"), n_images=6)


@pytest.fixture
def lively_net(tiny_zoo_net):  # noqa: ANN001, ANN201
    """tiny_zoo_net with Kaiming-initialised deconvs and head: outputs of order 1, as a trained net gives.

    (SimpleBaselines initialises them with std 0.001: outputs near 1e-9, where INT8 error means nothing.)
    """
    import torch

    torch.manual_seed(1)
    for module in tiny_zoo_net.model.modules():
        if isinstance(module, (torch.nn.ConvTranspose2d, torch.nn.Conv2d)) and module.weight.std() < 0.01:
            torch.nn.init.kaiming_normal_(module.weight)
    return tiny_zoo_net


def ctx_for(tmp_path: Path, coco: Path, **kw) -> RunContext:  # noqa: ANN003
    return RunContext(work_dir=tmp_path / "work", calib_data=coco, val_data=coco, train_data=coco, threads=1,
                      progress=False, **kw)  # fmt: skip


@pytest.mark.parametrize(
    ("node", "module"),
    [
        ("/backbone/layer1/layer1.0/conv1/Conv", "backbone.layer1.0.conv1"),
        ("/backbone/layer2/layer2.0/downsample/downsample.0/Conv", "backbone.layer2.0.downsample.0"),
        ("/deconv/deconv.3/ConvTranspose", "deconv.3"),
        ("/head/Conv", "head"),
        ("/head/fc/fc.0/Gemm", "head.fc.0"),
        ("Conv_12", "Conv_12"),
    ],
)
def test_onnx_node_names_map_to_torch_module_names(node: str, module: str) -> None:
    assert module_name(node) == module


def test_output_layers_are_found_from_torch_names_or_from_the_graph(tiny_zoo_net, tmp_path: Path) -> None:  # noqa: ANN001
    from edgepose.passes.quantize import fp32_graph

    path, heads = fp32_graph(tiny_zoo_net, tmp_path)
    graph = onnx.load(str(path))
    assert heads == ["head"]
    assert [x.name for x in output_layers(graph, heads)] == ["head"]
    assert [x.name for x in output_layers(graph)] == ["head"]  # found by walking back from the output
    assert len(quantizable_layers(graph)) == 24  # 20 convs + 3 deconvs + head: every BN folded away
    assert not any(n.op_type == "BatchNormalization" for n in graph.graph.node)


def test_wrongly_normalised_calibration_is_refused(tiny_zoo_net, coco: Path) -> None:  # noqa: ANN001
    from edgepose.passes.quantize_calib import calibration_inputs

    images = calibration_inputs(coco, tiny_zoo_net.spec, count=4)
    assert images.shape == (4, 3, 64, 64)
    wrong = tiny_zoo_net.spec.with_changes(mean=(0.0, 0.0, 0.0), std=(1 / 255, 1 / 255, 1 / 255))  # 0-255 pixels
    with pytest.raises(UserError, match="do not look like the model's preprocessing"):
        calibration_inputs(coco, wrong, count=4)


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_onnxruntime_ptq_keeps_the_head_float_and_stays_close(lively_net, coco: Path, tmp_path: Path,
                                                              method: str) -> None:  # noqa: ANN001
    tiny_zoo_net = lively_net
    from edgepose.runtimes import open_session

    ctx = ctx_for(tmp_path, coco)
    out = apply_pass(tiny_zoo_net, "quantize", {"method": method, "calib_images": 6}, ctx)
    record = ctx.records["quantize"]
    assert out.format == "onnx" and out.provenance["precision"] == "int8"
    assert record["float_layers"] == ["head"] and len(record["int8_layers"]) == 23
    graph = onnx.load(str(out.path)).graph
    head = next(n for n in graph.node if n.op_type == "Conv" and n.name == "/head/Conv")
    assert head.input[1] in {i.name for i in graph.initializer}  # float weights, no DequantizeLinear
    assert not any(n.op_type == "QuantizeLinear" and n.input[0] == head.output[0] for n in graph.node)
    assert sum(n.op_type == "QuantizeLinear" for n in graph.node) > 10
    from edgepose.passes.quantize_calib import calibration_inputs

    x = calibration_inputs(coco, tiny_zoo_net.spec, count=6, seed=5)[:1]  # an image like those calibrated on
    ref = open_session(tiny_zoo_net, "torch").run({"input": x})["heatmaps"]
    got = open_session(out, "onnxruntime").run({"input": x})["heatmaps"]
    assert ref.max() - ref.min() > 1.0
    assert np.abs(got - ref).max() / (ref.max() - ref.min()) < 0.1


def test_tensorrt_flavour_is_symmetric_int8(tiny_zoo_net, coco: Path, tmp_path: Path) -> None:  # noqa: ANN001
    out = apply_pass(tiny_zoo_net, "quantize", {"backend": "tensorrt", "calib_images": 4}, ctx_for(tmp_path, coco))
    graph = onnx.load(str(out.path)).graph
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    zero_points = [inits[n.input[2]] for n in graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)


def test_openvino_backend_writes_an_int8_ir(tiny_zoo_net, coco: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from edgepose.loading import load_artifact
    from edgepose.runtimes import open_session

    out = apply_pass(tiny_zoo_net, "quantize", {"backend": "openvino", "calib_images": 4}, ctx_for(tmp_path, coco))
    assert out.format == "openvino" and out.path.suffix == ".xml" and out.path.with_suffix(".bin").exists()
    session = open_session(load_artifact(out.path))
    assert session.runtime == "openvino" and session.precision == "int8"
    assert session.run({"input": np.zeros((1, 3, 64, 64), np.float32)})["heatmaps"].shape == (1, 17, 16, 16)


def test_include_exclude_choose_the_int8_layers(tiny_zoo_net, coco: Path, tmp_path: Path) -> None:  # noqa: ANN001
    options = {"calib_images": 4, "include": ["backbone.*"], "exclude": ["backbone.layer4.*"]}
    ctx = ctx_for(tmp_path, coco)
    apply_pass(tiny_zoo_net, "quantize", options, ctx)
    int8 = ctx.records["quantize"]["int8_layers"]
    assert int8 and all(n.startswith("backbone.") and not n.startswith("backbone.layer4") for n in int8)
    with pytest.raises(UserError, match="matches no quantizable layer"):
        apply_pass(tiny_zoo_net, "quantize", {"exclude": ["backbone.lyer4.*"]}, ctx_for(tmp_path / "b", coco))


class FakeQuantizer:
    """Quantizes nothing: `score` reads which layers were kept float from the path it is given."""

    def __init__(self, layers: list[Layer]):
        self._layers, self.calls = layers, []

    def layers(self) -> list[Layer]:
        return self._layers

    def quantize(self, float_layers, out: Path, metadata=None) -> Path:  # noqa: ANN001
        self.calls.append(sorted(x.name for x in float_layers))
        return Path(json.dumps(sorted(x.name for x in float_layers)))


def test_budget_search_keeps_the_most_sensitive_layers_float_until_within_budget() -> None:
    layers = [Layer(f"n{i}", "Conv", f"l{i}") for i in range(10)]
    cost = {f"l{i}": 0.01 * (10 - i) for i in range(10)}  # l0 costs 10 points, l9 costs 1 point

    def score(path: Path) -> float:
        kept = set(json.loads(str(path)))
        return 0.9 - sum(c for name, c in cost.items() if name not in kept)

    full_drop = 100 * sum(cost.values())
    quantizer = FakeQuantizer(layers)
    result = search_budget(quantizer, [], layers, score, 0.9, max_drop_points=20.0, work_dir=Path("."))
    assert result.within_budget and [x.name for x in result.float_layers] == ["l0", "l1", "l2", "l3", "l4", "l5"]
    assert result.drop_points == pytest.approx(10.0) and result.steps[0]["drop_points"] == pytest.approx(full_drop)
    hopeless = search_budget(FakeQuantizer(layers), [], layers, score, 0.9, max_drop_points=0.5, work_dir=Path("."),
                             max_float_layers=3)  # fmt: skip
    assert not hopeless.within_budget and len(hopeless.float_layers) == 3  # the best it reached, said honestly
    assert float_counts(20) == [1, 2, 3, 4, 6, 9, 13, 19, 20]


def test_analyze_and_budget_run_end_to_end(tiny_zoo_net, coco: Path, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = ctx_for(tmp_path, coco)
    apply_pass(tiny_zoo_net, "quantize", {"calib_images": 4, "analyze": True, "max_drop": 100.0,
                                          "include": ["backbone.layer4.*", "deconv.*"]}, ctx)  # fmt: skip
    record = ctx.records["quantize"]
    assert {row["layer"] for row in record["analysis"]["rows"]} == set(record["int8_layers"])
    assert record["budget"]["within_budget"] and record["search_metric"]["name"] == "oks_ap"
    with pytest.raises(UserError, match="--eval"):
        apply_pass(tiny_zoo_net, "quantize", {"analyze": True}, RunContext(work_dir=tmp_path / "x", calib_data=coco))


QAT_CHILD = """
import json, sys
from pathlib import Path
from edgepose.loading import load_artifact
from edgepose.passes import RunContext, apply_pass
ckpt, coco, work = sys.argv[1:4]
ctx = RunContext(work_dir=Path(work), calib_data=Path(coco), train_data=Path(coco), val_data=Path(coco), threads=1,
                 progress=False)
options = {"mode": "qat", "calib_images": 4, "finetune": {"epochs": 1, "max_steps_per_epoch": 2, "batch_size": 4}}
out = apply_pass(load_artifact(ckpt), "quantize", options, ctx)
print(json.dumps({"path": str(out.path), "qat": ctx.records["quantize"]["qat"]}))
"""


def test_qat_fine_tunes_and_exports_a_qdq_graph(tiny_zoo_net, coco: Path, tmp_path: Path) -> None:  # noqa: ANN001
    """Run in a fresh interpreter: after hundreds of tests in one process (OpenVINO, ONNX Runtime and NNCF
    thread pools, torch-pruning graphs) this QAT crashed pytest with SIGSEGV; alone it never did."""
    import subprocess
    import sys

    from edgepose.checkpoint import save_checkpoint
    from edgepose.runtimes import open_session

    ckpt = save_checkpoint(tiny_zoo_net, tmp_path / "tiny.pt")
    done = subprocess.run([sys.executable, "-c", QAT_CHILD, str(ckpt), str(coco), str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    record = result["qat"]
    assert record["folded_batchnorm"] == 23 and record["finetune"]["epochs"] == 1
    out = Path(result["path"])
    graph = onnx.load(str(out)).graph
    assert sum(n.op_type == "QuantizeLinear" for n in graph.node) > 10
    assert not any(n.op_type == "BatchNormalization" for n in graph.node)
    heatmaps = open_session(out, "onnxruntime").run({"input": np.zeros((2, 3, 64, 64), np.float32)})["heatmaps"]
    assert heatmaps.shape == (2, 17, 16, 16) and np.isfinite(heatmaps).all()
    assert not list((tmp_path / "work").glob("qat.pt*"))  # a QAT model is not saved as an edgepose checkpoint


def test_cli_writes_the_model_and_a_json_report(tiny_zoo_net, coco: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from edgepose.checkpoint import save_checkpoint
    from edgepose.cli.app import main

    ckpt = save_checkpoint(tiny_zoo_net, tmp_path / "tiny.pt")
    out = tmp_path / "out" / "tiny_int8.onnx"
    with pytest.raises(SystemExit) as exit_info:
        main(["quantize", str(ckpt), "--calib", str(coco), "--eval", str(coco), "-o", str(out), "--calib-images", "4",
              "--iters", "4", "--threads", "1", "--json"])  # fmt: skip
    assert exit_info.value.code == 0
    data = json.loads(capsys.readouterr().out)
    assert out.exists() and data["output"] == str(out)
    assert {"latency", "accuracy", "before", "after", "quantize"} <= set(data)
    assert data["after"]["params"] == data["before"]["params"] and data["after"]["size_mb"] < data["before"]["size_mb"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no scratch left behind
    with pytest.raises(SystemExit) as exit_info:
        main(["quantize", str(ckpt), "--calib", str(coco), "-o", str(tmp_path / "x.xml")])
    assert exit_info.value.code == 2
    assert "writes a .onnx file" in capsys.readouterr().err
