"""`edgepose optimize`: recipes validated before any work, one run end to end, resume, gates, the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgepose.errors import GateFailed, UserError
from edgepose.recipe import builtin_recipes, load_recipe
from tests.coco_files import write_coco

TINY_RECIPE = """
schema_version: 1
name: tiny-int8
target: cpu-onnxruntime
passes:
  - pass: quantize
    backend: onnxruntime
    calib_images: 4
benchmark: {threads: 1, iters: 6, warmup: 1}
gates: {max_metric_drop: 100.0, min_speedup: 0.01, max_parity_error: 0.25}
"""
# An untrained tiny net has near-flat heatmaps whose argmax INT8 rounding can move far: these tests
# check the pipeline's plumbing, so the parity tolerance (keypoint displacement / input diagonal) is loose.


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_coco(tmp_path_factory.mktemp("coco"), n_images=4)


@pytest.fixture
def tiny_ckpt(tiny_zoo_net, tmp_path: Path) -> Path:  # noqa: ANN001
    from edgepose.checkpoint import save_checkpoint

    return save_checkpoint(tiny_zoo_net, tmp_path / "tiny.pt")


def write_recipe(path: Path, text: str = TINY_RECIPE) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(builtin_recipes()))
def test_every_shipped_recipe_validates(name: str) -> None:
    recipe, path = load_recipe(name)
    assert recipe.name == name == path.stem and recipe.schema_version == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("gates.max_metric_dro=1", "unknown key 'gates.max_metric_dro' (did you mean 'max_metric_drop'?)"),
        ("passes.0.backnd=onnxruntime", "unknown key 'backnd' (did you mean 'backend'?)"),
        ("target=cpu-tensorflow", "target"),
        ("passes.3.ratio=1", "not an index"),
    ],
)
def test_a_wrong_key_fails_fast_naming_the_file_and_key(tmp_path: Path, override: str, message: str) -> None:
    recipe = write_recipe(tmp_path / "r.yaml")
    with pytest.raises(UserError) as error:
        load_recipe(str(recipe), [override])
    assert message in str(error.value) and str(recipe) in str(error.value)


def test_misspelt_key_exits_2_in_under_two_seconds(tmp_path: Path) -> None:
    """Measured as the child's CPU time, which a busy machine does not inflate (wall time would)."""
    import resource
    import subprocess
    import sys

    recipe = write_recipe(tmp_path / "r.yaml", TINY_RECIPE.replace("calib_images", "calib_imags"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "edgepose", "optimize", "nothing.pt", "--recipe", str(recipe)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert done.returncode == 2 and "calib_imags" in done.stderr and "did you mean 'calib_images'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and cpu_s < 2.0


def test_pass_order_is_checked_before_any_work(tmp_path: Path) -> None:
    text = TINY_RECIPE.replace("passes:\n", "passes:\n  - pass: finetune\n    epochs: 1\n", 1)
    text = text.replace("    calib_images: 4\n", "    calib_images: 4\n  - pass: prune\n    ratio: 0.2\n")
    with pytest.raises(UserError, match="cannot follow 'quantize'"):
        load_recipe(str(write_recipe(tmp_path / "r.yaml", text)))


def test_optimize_end_to_end_then_resume_without_redoing(tiny_ckpt: Path, coco: Path, tmp_path: Path) -> None:
    import edgepose

    recipe = write_recipe(tmp_path / "r.yaml")
    out = tmp_path / "run"
    before = tiny_ckpt.read_bytes()
    report = edgepose.optimize(tiny_ckpt, str(recipe), coco, out, progress=False)
    assert tiny_ckpt.read_bytes() == before  # the input is only read
    assert set(report) >= {"baseline", "stages", "final", "gates"} and report["verdict"] == "pass"
    assert [g["name"] for g in report["gates"]] == ["max_metric_drop", "min_speedup", "max_parity_error"]
    assert report["stages"][0]["pass"] == "quantize" and report["final"]["precision"] == "int8"
    for key in ("eval", "bench"):
        assert key in report["baseline"] and key in report["stages"][0]
    assert {"latency_ms", "fps", "size_mb"} <= set(report["final"]["vs_torch_fp32"]["b"])
    for name in ("report.json", "report.md", "report.png", "recipe.yaml", "final/model.onnx",
                 "final/edgepose-bundle.json", "final/README.md"):
        assert (out / name).exists(), name
    # the overlay strip: the people moved most, drawn from the two evaluations' prediction files (no re-run)
    assert report["pictures"]["overlays"] == "report_overlays.png" and (out / "report_overlays.png").stat().st_size > 5000
    assert "](report_overlays.png)" in (out / "report.md").read_text()
    assert Path(report["final"]["eval"]["predictions"]).is_file()
    bundle = json.loads((out / "final" / "edgepose-bundle.json").read_text())  # final/ is a device bundle
    assert bundle["model"]["file"] == "model.onnx" and bundle["provenance"]["precision"] == "int8"
    assert bundle["provenance"]["recipe"] == report["recipe"] and bundle["provenance"]["source_sha256"]
    assert bundle["provenance"]["accuracy"] == pytest.approx(
        {k: v for k, v in report["final"]["eval"]["metrics"].items() if isinstance(v, int | float)})
    assert bundle["provenance"]["latency_ms"]["p50"] == report["final"]["vs_target_fp32"]["b"]["latency_ms"]["p50"]
    seals = sorted(p.parent.name for p in out.rglob("done.json"))
    assert seals == ["00_baseline", "01_quantize", "final"]
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("done.json")}
    messages: list[str] = []
    again = edgepose.optimize(tiny_ckpt, str(recipe), coco, out, progress=False, log=messages.append)
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items())  # nothing redone
    assert sum("done earlier" in m for m in messages) == 3
    assert again["final"]["eval"] == report["final"]["eval"]
    changed = edgepose.optimize(tiny_ckpt, str(recipe), coco, out, ["passes.0.calib_images=3"], progress=False,
                                log=messages.append)  # fmt: skip
    assert any("changed at step 1" in m for m in messages)
    assert changed["stages"][0]["options"]["calib_images"] == 3


def test_failed_gate_exits_1_naming_it_after_writing_the_report(tiny_ckpt: Path, coco: Path, tmp_path: Path,
                                                                capsys) -> None:  # noqa: ANN001
    from edgepose.cli.app import main

    recipe = write_recipe(tmp_path / "r.yaml", TINY_RECIPE.replace("min_speedup: 0.01", "min_speedup: 1000"))
    with pytest.raises(SystemExit) as exit_info:
        main(["optimize", str(tiny_ckpt), "--recipe", str(recipe), "--data", str(coco), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "min_speedup" in err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["verdict"] == "fail" and report["gates"][1]["verdict"] == "fail"
    import edgepose

    with pytest.raises(GateFailed) as failed:
        edgepose.optimize(tiny_ckpt, str(recipe), coco, tmp_path / "run", progress=False)
    assert failed.value.report is not None and failed.value.report["verdict"] == "fail"  # the numbers come along
    assert failed.value.report["gates"] == report["gates"]
    returned = edgepose.optimize(tiny_ckpt, str(recipe), coco, tmp_path / "run", progress=False, check_gates=False)
    assert returned["verdict"] == "fail"


def test_a_model_factory_network_goes_through_cpu_int8(coco: Path, tmp_path: Path) -> None:
    from edgepose.loading import LoadOptions
    from edgepose.pipeline import optimize
    from tests.conftest import TINY_FACTORY, TINY_INPUT_SIZE

    options = LoadOptions(model_factory=TINY_FACTORY, input_size="x".join(map(str, TINY_INPUT_SIZE)), schema="coco17")
    overrides = ["benchmark.iters=6", "benchmark.threads=1", "passes.1.calib_images=4", "gates.min_speedup=0.01",
                 "gates.max_metric_drop=100", "gates.max_parity_error=0.25"]  # fmt: skip
    report = optimize(None, "cpu-int8", coco, tmp_path / "run", overrides, load_options=options, progress=False)
    assert report["final"]["format"] == "openvino" and report["final"]["precision"] == "int8"
    assert report["final"]["parity"]["passed"] and report["final"]["parity"]["n_images"] > 0
    assert Path(report["final"]["artifact"]).with_suffix(".bin").exists()


def test_training_passes_without_training_data_are_refused_up_front(tiny_ckpt: Path, coco: Path) -> None:
    from edgepose.pipeline import optimize

    with pytest.raises(UserError, match="data.train"):
        optimize(tiny_ckpt, "cpu-fast", coco, progress=False)


@pytest.mark.parametrize(("mode", "expected_runtime"), [("qat", "onnxruntime (Q/DQ evaluated in float)"), ("ptq", "torch")])
def test_parity_reference_after_quantize_is_the_qat_graph_only_after_qat(
    tiny_zoo_net, tmp_path: Path, mode: str, expected_runtime: str,  # noqa: ANN001
) -> None:  # fmt: skip
    """QAT changes the weights: the INT8 file must match the QAT-trained Q/DQ graph, not the float model before it."""
    from edgepose.artifact import Artifact
    from edgepose.export.onnx import export_onnx
    from edgepose.loading import LoadOptions
    from edgepose.passes.quantize import INT8_GRAPH
    from edgepose.pipeline.steps import STEP_WORK_DIR, Inputs, _track_reference
    from edgepose.recipe import PassEntry

    inputs = Inputs(recipe=None, eval_data=tmp_path, calib_data=tmp_path, train_data=None,  # type: ignore[arg-type]
                    load_options=LoadOptions(), progress=False, log=print)  # fmt: skip
    _track_reference(tiny_zoo_net, PassEntry.model_validate({"pass": "prune"}), tmp_path, inputs)
    assert inputs.reference is tiny_zoo_net and inputs.reference_runtime == "torch"
    folder = tmp_path / "03_quantize"
    qat_graph = folder / STEP_WORK_DIR / INT8_GRAPH
    qat_graph.parent.mkdir(parents=True)
    export_onnx(tiny_zoo_net.model, tiny_zoo_net.spec, qat_graph, simplify=False)
    int8_step = Artifact(spec=tiny_zoo_net.spec, format="openvino", path=folder / "model.xml")
    _track_reference(int8_step, PassEntry.model_validate({"pass": "quantize", "mode": mode}), folder, inputs)
    assert inputs.reference_runtime == expected_runtime
    if mode == "qat":
        assert inputs.reference.format == "onnx" and inputs.reference.path == qat_graph
        qat_graph.unlink()
        with pytest.raises(UserError, match="no Q/DQ graph"):  # never silently fall back to the pre-QAT model
            _track_reference(int8_step, PassEntry.model_validate({"pass": "quantize", "mode": mode}), folder, inputs)
    else:
        assert inputs.reference is tiny_zoo_net


def test_fine_tuning_never_validates_on_the_evaluation_data(tiny_ckpt: Path, coco: Path, tmp_path: Path) -> None:
    import edgepose

    recipe = write_recipe(tmp_path / "r.yaml")
    with pytest.raises(UserError, match="is the evaluation data: the fine-tuning would pick its epochs"):
        edgepose.optimize(tiny_ckpt, str(recipe), coco, tmp_path / "run", [f"data.val={coco}"], progress=False)
    from edgepose.pipeline.steps import Inputs

    assert Inputs.__dataclass_fields__["val_data"].default is None  # unset: the last epoch, nothing chosen on eval
