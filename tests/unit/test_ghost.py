"""Ghost-conv replacement: the building blocks, the pass, its replay on load, and the `ghost` command.

Models are small (quarter-width SimpleBaseline-lite at 64x64, the zoo at test_zoo's small sizes) with
BatchNorm statistics settled on the test input, so activations are O(1) as in a trained network.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgepose.artifact import Artifact, ModelSpec
from edgepose.checkpoint import save_checkpoint
from edgepose.errors import UserError
from edgepose.loading import load_artifact
from edgepose.models import MODELS, build_model, default_spec, takes_input_size, zoo_info
from edgepose.models.ghost import GhostBottleneck, GhostDeconv, GhostModule, ghost_flops_ratio
from edgepose.models.rewrites import replay_history
from edgepose.models.stats import count_gflops
from edgepose.passes import RunContext, apply_pass
from edgepose.passes.finetune import FinetuneConfig
from tests.conftest import TINY_ZOO_ARCH, TINY_ZOO_INPUT_SIZE, TINY_ZOO_KWARGS
from tests.tolerances import max_abs_error, runtime_atol
from tests.unit.test_zoo import settle_batchnorm

FAST = {"calib_images": 4}
ZOO_KWARGS = {"width": 0.25, "fc_dim": 64, "hidden": 16, "proj": 32}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # noqa: ANN202
    """Small convs run fastest on one thread, and the machine is shared (two threads on loaded cores: 10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _settled(artifact: Artifact, seed: int = 1) -> Artifact:
    x = torch.randn(artifact.spec.input_shape(8), generator=torch.Generator().manual_seed(seed))
    settle_batchnorm(artifact.model, x)
    return artifact


@pytest.fixture
def lite(tiny_zoo_net: Artifact) -> Artifact:
    return _settled(tiny_zoo_net)


@pytest.fixture(scope="module")
def ghosted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Artifact, Artifact, dict]:
    """(original, ghosted, ghost record) for the tiny SimpleBaseline-lite, made once for the module."""
    torch.manual_seed(0)
    model = build_model(TINY_ZOO_ARCH, **TINY_ZOO_KWARGS).eval()
    spec = default_spec(TINY_ZOO_ARCH, input_size=TINY_ZOO_INPUT_SIZE)
    original = _settled(Artifact(spec=spec, model=model, arch=TINY_ZOO_ARCH, arch_kwargs=dict(TINY_ZOO_KWARGS)))
    ctx = RunContext(work_dir=tmp_path_factory.mktemp("ghost"))
    result = apply_pass(original, "ghost", FAST, ctx)
    return original, result, ctx.records["ghost"]


def _assert_onnx_matches(model: nn.Module, spec: ModelSpec, path: Path, x: torch.Tensor, simplify: bool = False) -> None:
    """ONNX Runtime == PyTorch to float32 round-off at the output's scale (tests/tolerances.py: 1e-4 of
    max(1, |output|), or 4x PyTorch's own fp32-vs-fp64 error on this model where that is larger: a Ghost fit
    of a random-init YOLO reaches outputs of 1e8, where float32 itself errs by 2e-4 of the scale).
    onnxslim is slow, so it runs only where asked."""
    ort = pytest.importorskip("onnxruntime")
    from edgepose.export.onnx import export_onnx

    export_onnx(model, spec, path, dynamic_batch=True, simplify=simplify)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = model(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    assert got.shape == want.shape
    err, bound = max_abs_error(got, want), runtime_atol(model, x, want)
    assert err <= bound, f"ONNX Runtime vs PyTorch: max abs error {err:.3g} > {bound:.3g}"


# ---- building blocks ----


@pytest.mark.parametrize(
    ("cin", "cout", "kernel", "stride", "padding", "ratio", "dw"),
    [(16, 32, 3, 1, 1, 2, 3), (16, 30, 3, 2, 1, 4, 3), (8, 21, 1, 1, 0, 2, 5), (12, 24, (3, 5), 2, (1, 2), 3, 3),
     (5, 7, 3, 1, 0, 3, 1)],
)  # fmt: skip
def test_ghost_module_has_the_shape_of_the_conv_it_replaces(cin, cout, kernel, stride, padding, ratio, dw) -> None:  # noqa: ANN001
    conv = nn.Conv2d(cin, cout, kernel, stride, padding)
    ghost = GhostModule(cin, cout, kernel, stride, padding, bias=True, ratio=ratio, dw_kernel=dw)
    x = torch.randn(2, cin, 17, 13)
    assert ghost(x).shape == conv(x).shape
    assert ghost.primary.out_channels == -(-cout // ratio)
    assert (ghost.trim is None) == (cout % ratio == 0)


@pytest.mark.parametrize(("kernel", "stride", "padding", "output_padding"), [(4, 2, 1, 0), (3, 2, 1, 1), (2, 2, 0, 0)])
def test_ghost_deconv_has_the_shape_of_the_deconv_it_replaces(kernel, stride, padding, output_padding) -> None:  # noqa: ANN001
    deconv = nn.ConvTranspose2d(24, 18, kernel, stride, padding, output_padding)
    ghost = GhostDeconv(24, 18, kernel, stride, padding, output_padding, ratio=2)
    x = torch.randn(1, 24, 6, 5)
    assert ghost(x).shape == deconv(x).shape


def _gflops(module: nn.Module, channels: int, size: int) -> float:
    """count_gflops of `module` behind a fixed 1x1 conv from RGB, minus that conv's share."""
    spec = ModelSpec(input_size=(size, size))
    stem = nn.Conv2d(3, channels, 1, bias=False)
    return count_gflops(nn.Sequential(stem, module), spec) - count_gflops(stem, spec)


@pytest.mark.parametrize("ratio", [2, 3, 4])
def test_ghost_module_flops_follow_equation_3(ratio: int) -> None:
    cin, cout, k, d = 240, 240, 3, 3
    dense = _gflops(nn.Conv2d(cin, cout, k, padding=1, bias=False), cin, 16)
    ghost = _gflops(GhostModule(cin, cout, k, 1, 1, ratio=ratio, dw_kernel=d), cin, 16)
    assert dense / ghost == pytest.approx(ghost_flops_ratio(cin, k * k, ratio, d), rel=1e-6)
    assert dense / ghost == pytest.approx(ratio, rel=0.02)  # eq. 3: ~s when d*d << c*k*k


def test_ghost_deconv_flops_halve_a_simplebaseline_deconv() -> None:
    dense = _gflops(nn.ConvTranspose2d(128, 128, 4, 2, 1, bias=False), 128, 8)
    ghost = _gflops(GhostDeconv(128, 128, 4, 2, 1, ratio=2), 128, 8)
    assert dense / ghost == pytest.approx(ghost_flops_ratio(128, 16, 2, 3, upsample=4), rel=1e-6)
    assert dense / ghost == pytest.approx(1.965, abs=0.005)


@pytest.mark.parametrize("block", ["module", "deconv", "trimmed", "bottleneck", "bottleneck-stride2"])
def test_ghost_blocks_export_to_onnx_with_parity(block: str, tmp_path: Path) -> None:
    body = {
        "module": GhostModule(16, 32, 3, 1, 1, ratio=2),
        "deconv": GhostDeconv(16, 32, 4, 2, 1, ratio=2),
        "trimmed": GhostModule(16, 30, 3, 2, 1, ratio=4, dw_kernel=5),
        "bottleneck": GhostBottleneck(16, 32, 16, stride=1),
        "bottleneck-stride2": GhostBottleneck(16, 32, 24, stride=2),
    }[block]
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), body).eval()
    x = torch.randn(2, 3, 32, 24, generator=torch.Generator().manual_seed(0))
    settle_batchnorm(model, x)
    _assert_onnx_matches(model, ModelSpec(input_size=(32, 24)), tmp_path / "g.onnx", x)


# ---- the pass on SimpleBaseline-lite ----


def test_default_simplebaseline_lite_loses_over_40_percent_of_its_gflops() -> None:
    """At its real width and 128x96: the GFLOPs ratio the must-show asks for (<= 0.6) with ratio 2."""
    from edgepose.models.rewrites.ghost_swaps import replay_ghost
    from edgepose.passes.ghost import GhostConfig
    from edgepose.passes.ghost_plan import plan_swaps, survey_model

    torch.manual_seed(0)
    model = build_model("simplebaseline-lite", num_keypoints=14).eval()
    spec = default_spec("simplebaseline-lite", input_size=(128, 96), schema="lsp14")
    before = count_gflops(model, spec)
    swaps, skipped = plan_swaps(model, survey_model(model, spec), GhostConfig())
    replay_ghost(model, {"step": "ghost", "ratio": 2, "dw_kernel": 3, "layers": swaps})  # structure only
    ratio = count_gflops(model, spec) / before
    assert before == pytest.approx(0.3777, rel=0.01)
    assert 0.5 < ratio <= 0.6
    assert {s["name"] for s in skipped} == {"backbone.conv1", "head"}
    assert {s["kind"] for s in swaps} == {"conv", "deconv"} and len(swaps) == 22


def test_pass_replaces_convs_and_deconvs_and_keeps_stem_and_head(ghosted) -> None:  # noqa: ANN001
    original, result, record = ghosted
    model = result.model
    assert isinstance(model.deconv[0], GhostDeconv) and isinstance(model.backbone.layer1[0].conv1, GhostModule)
    assert isinstance(model.backbone.layer2[0].downsample[0], GhostModule)
    for name in ("backbone.conv1", "head"):
        kept, before = model.get_submodule(name), original.model.get_submodule(name)
        assert type(kept) is nn.Conv2d and torch.equal(kept.weight, before.weight)
    assert {s["name"] for s in record["skipped"]} == {"backbone.conv1", "head"}
    assert record["gflops_ratio"] < 0.65  # quarter width: the kept stem is a larger share than at full width
    assert record["gflops_after"] == pytest.approx(count_gflops(model, result.spec), abs=1e-5)  # per-layer sums agree
    assert sum(r["gflops_after"] for r in record["replaced"]) < 0.55 * sum(r["gflops_before"] for r in record["replaced"])
    assert result.history[-1]["step"] == "ghost" and len(result.history[-1]["layers"]) == len(record["replaced"])
    assert original.history == [] and type(original.model.deconv[0]) is nn.ConvTranspose2d  # input untouched


def test_fitted_start_is_closer_to_the_original_than_naive_or_random(ghosted) -> None:  # noqa: ANN001
    errors = ghosted[2]["init"]["rel_err"]
    assert errors["fitted"] < 0.95 * errors["naive"]
    assert errors["fitted"] < 0.5 * errors["random"]
    assert errors["fitted"] < 1.0


def test_saved_ghost_model_reloads_and_computes_the_same(ghosted, tmp_path: Path) -> None:  # noqa: ANN001
    _, result, _ = ghosted
    loaded = load_artifact(save_checkpoint(result, tmp_path / "ghost.pt"))
    x = torch.randn(2, 3, *TINY_ZOO_INPUT_SIZE)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), result.model(x))
    assert loaded.history == result.history
    json.dumps(loaded.history)  # JSON-able: loads with weights_only=True


def test_ghost_model_exports_to_onnx_with_parity(ghosted, tmp_path: Path) -> None:  # noqa: ANN001
    _, result, _ = ghosted
    x = torch.randn(2, 3, *TINY_ZOO_INPUT_SIZE, generator=torch.Generator().manual_seed(3))
    _assert_onnx_matches(result.model, result.spec, tmp_path / "g.onnx", x, simplify=True)


def test_ghost_model_quantizes_to_int8_qdq(ghosted, tmp_path: Path) -> None:  # noqa: ANN001
    ort = pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    from edgepose.export.onnx import export_onnx

    _, result, _ = ghosted
    fp32 = export_onnx(result.model, result.spec, tmp_path / "g.onnx")
    rng = np.random.default_rng(0)
    batches = [{"input": rng.standard_normal((1, 3, *TINY_ZOO_INPUT_SIZE)).astype(np.float32)} for _ in range(8)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict | None:
            return next(self.items, None)

    int8 = tmp_path / "g.int8.onnx"
    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True)
    session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    ops = {node.op_type for node in __import__("onnx").load(str(int8)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    with torch.no_grad():
        want = result.model(torch.from_numpy(batches[0]["input"])).numpy()
    got = session.run(None, batches[0])[0]
    assert np.abs(got - want).max() <= 0.15 * (want.max() - want.min())


def test_include_and_exclude_choose_the_layers(lite: Artifact, tmp_path: Path) -> None:
    ctx = RunContext(work_dir=tmp_path)
    only_deconvs = apply_pass(lite, "ghost", {**FAST, "include": ["deconv.*"]}, ctx)
    assert [e["name"] for e in only_deconvs.history[-1]["layers"]] == ["deconv.0", "deconv.3", "deconv.6"]
    no_layer4 = apply_pass(lite, "ghost", {**FAST, "exclude": ["backbone.layer4.*"], "deconv": False}, ctx)
    names = [e["name"] for e in no_layer4.history[-1]["layers"]]
    assert names and not any(n.startswith("backbone.layer4") or n.startswith("deconv") for n in names)
    with pytest.raises(UserError, match="matches no layer"):
        apply_pass(lite, "ghost", {"include": ["backbone.layer9.*"]}, ctx)


def test_bottleneck_mode_rebuilds_resnet_blocks_and_reloads(lite: Artifact, tmp_path: Path) -> None:
    ctx = RunContext(work_dir=tmp_path)
    result = apply_pass(lite, "ghost", {**FAST, "bottleneck": True}, ctx)
    blocks = [m for m in result.model.modules() if isinstance(m, GhostBottleneck)]
    assert len(blocks) == 8 and sum(b.dw is not None for b in blocks) == 3  # stride 2 through the depthwise conv
    assert isinstance(result.model.deconv[0], GhostDeconv)
    assert ctx.records["ghost"]["gflops_ratio"] < 0.45
    x = torch.randn(2, 3, *TINY_ZOO_INPUT_SIZE)
    loaded = load_artifact(save_checkpoint(result, tmp_path / "b.pt"))
    with torch.no_grad():
        assert loaded.model(x).shape == lite.model(x).shape
        assert torch.equal(loaded.model(x), result.model(x))


def test_bad_options_are_user_errors(lite: Artifact, tmp_path: Path) -> None:
    ctx = RunContext(work_dir=tmp_path)
    with pytest.raises(UserError, match="ratio"):
        apply_pass(lite, "ghost", {"ratio": 1}, ctx)
    with pytest.raises(UserError, match="odd"):
        apply_pass(lite, "ghost", {"dw_kernel": 2}, ctx)
    with pytest.raises(UserError, match="unknown key"):
        apply_pass(lite, "ghost", {"ratios": 2}, ctx)
    with pytest.raises(UserError, match="torch model"):
        apply_pass(Artifact(spec=lite.spec, format="onnx", path=tmp_path / "m.onnx"), "ghost", {}, ctx)


def test_replay_refuses_a_history_that_does_not_fit(ghosted) -> None:  # noqa: ANN001
    from edgepose.models.rewrites.ghost_swaps import replay_ghost

    step = dict(ghosted[1].history[-1])
    other = build_model(TINY_ZOO_ARCH, width=0.5, deconv_channels=32)
    with pytest.raises(UserError, match="does not fit"):
        replay_ghost(other, step)


# ---- composing with pruning and fine-tuning ----


def test_ghost_then_prune_reloads(ghosted, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("torch_pruning")
    _, result, _ = ghosted
    ctx = RunContext(work_dir=tmp_path)
    pruned = apply_pass(result, "prune", {"ratio": 0.25, "round_to": None}, ctx)
    assert [s["step"] for s in pruned.history] == ["ghost", "prune"]
    assert count_gflops(pruned.model, pruned.spec) < count_gflops(result.model, result.spec)
    loaded = load_artifact(save_checkpoint(pruned, tmp_path / "gp.pt"))
    x = torch.randn(2, 3, *TINY_ZOO_INPUT_SIZE)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), pruned.model(x))


def test_prune_then_ghost_reloads(lite: Artifact, tmp_path: Path) -> None:
    pytest.importorskip("torch_pruning")
    ctx = RunContext(work_dir=tmp_path)
    pruned = apply_pass(lite, "prune", {"ratio": 0.25, "round_to": 2}, ctx)
    result = apply_pass(pruned, "ghost", FAST, ctx)
    assert [s["step"] for s in result.history] == ["prune", "ghost"] and ctx.records["ghost"]["replaced"]
    loaded = load_artifact(save_checkpoint(result, tmp_path / "pg.pt"))
    x = torch.randn(2, 3, *TINY_ZOO_INPUT_SIZE)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), result.model(x))


def test_a_short_finetune_after_ghosting_runs(lite: Artifact, tmp_path: Path) -> None:
    from tests.coco_files import write_coco

    data = write_coco(tmp_path / "coco", n_images=6)
    ctx = RunContext(work_dir=tmp_path / "work", train_data=data, progress=False)
    finetune = FinetuneConfig(epochs=1, max_steps_per_epoch=2, batch_size=4, workers=0, warmup_steps=1)
    result = apply_pass(lite, "ghost", {**FAST, "finetune": finetune}, ctx)
    assert ctx.records["ghost_finetune"]["epochs"] == 1
    assert ctx.teacher is lite  # distilled from the unghosted model
    assert ctx.records["ghost"]["init"]["calibration"].endswith("ann.json")  # the init saw the real images
    start = apply_pass(lite, "ghost", FAST, RunContext(work_dir=tmp_path / "w2", train_data=data))
    moved = [k for k, v in result.model.state_dict().items() if not torch.equal(v, start.model.state_dict()[k])]
    assert any(k.endswith("primary.weight") for k in moved)


# ---- every zoo architecture ----


def _small_zoo(name: str) -> tuple[nn.Module, ModelSpec]:
    """Architecture `name` at quarter width and 32x32 (64x64 for FC heads), 2-frame clips: as small as it builds."""
    params = inspect.signature(MODELS.get(name)).parameters
    forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in ZOO_KWARGS.items() if k in params or (k == "width" and forwards)}
    size = (64, 64) if takes_input_size(name) else (32, 32)
    overrides: dict = {"input_size": size}
    if zoo_info(name).spec.clip_length:
        overrides["clip_length"] = 2
        if "clip_length" in params:
            kwargs["clip_length"] = 2
    torch.manual_seed(0)
    return build_model(name, input_size=size, **kwargs).eval(), default_spec(name, **overrides)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_zoo_architecture_is_ghosted_or_left_alone_with_a_reason(name: str, tmp_path: Path) -> None:
    model, spec = _small_zoo(name)
    x = torch.rand(spec.input_shape(2), generator=torch.Generator().manual_seed(1))
    settle_batchnorm(model, x)
    artifact = Artifact(spec=spec, model=model, arch=name)
    ctx = RunContext(work_dir=tmp_path)
    result = apply_pass(artifact, "ghost", {"calib_images": 2}, ctx)
    record = ctx.records["ghost"]
    if not record["replaced"]:
        assert record["unchanged"] and result.history == []
        return
    with torch.no_grad():
        assert result.model(x).shape == model(x).shape
    assert record["gflops_ratio"] < 1.0
    if not spec.clip_length:
        _assert_onnx_matches(result.model, spec, tmp_path / "g.onnx", x)
    rebuilt = replay_history(_small_zoo(name)[0], result.history)  # what loading a checkpoint does
    rebuilt.load_state_dict(result.model.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), result.model(x))


# ---- the command ----


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_ghost_command_writes_a_checkpoint_and_a_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.coco_files import write_coco

    torch.manual_seed(0)
    spec = default_spec(TINY_ZOO_ARCH, input_size=TINY_ZOO_INPUT_SIZE)
    source = _settled(Artifact(spec=spec, model=build_model(TINY_ZOO_ARCH, **TINY_ZOO_KWARGS).eval(),
                               arch=TINY_ZOO_ARCH, arch_kwargs=dict(TINY_ZOO_KWARGS)))  # fmt: skip
    model_path = save_checkpoint(source, tmp_path / "m.pt")
    data = write_coco(tmp_path / "coco", n_images=4)
    out = tmp_path / "g.pt"
    code, stdout, err = _run(
        capsys, "ghost", str(model_path), "-o", str(out), "--calib-images", "2", "--eval", str(data),
        "--runtime", "onnxruntime", "--runtime", "openvino", "--iters", "3", "--threads", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(stdout)
    assert out.exists() and load_artifact(out).history[-1]["step"] == "ghost"
    assert report["gflops_ratio"] < 0.65 and report["ghost"]["replaced"]
    assert set(report["latencies"]) == {"onnxruntime", "openvino"}
    for latency in report["latencies"].values():
        assert isinstance(latency, str) or latency["ratio_p50"] > 0
    assert report["accuracy"]["metric"] == "oks_ap" and "before" in report["accuracy"]
    assert not list(tmp_path.glob(".g.pt.work"))  # the work folder is removed after success


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--ratio", "1"], "ratio"), (["--dw-kernel", "2"], "odd"), (["--include", "nothing.*"], "matches no layer"),
     (["--epochs", "2"], "--finetune-data"), (["--runtime", "tensorflow"], "unknown runtime")],
)  # fmt: skip
def test_ghost_command_bad_input_exits_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_zoo_net: Artifact
) -> None:  # fmt: skip
    model_path = save_checkpoint(tiny_zoo_net, tmp_path / "m.pt")
    code, stdout, err = _run(capsys, "ghost", str(model_path), "-o", str(tmp_path / "g.pt"), *args)
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_ghost_command_refuses_an_onnx_model(tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_zoo_net: Artifact) -> None:
    from edgepose.export.onnx import export_onnx

    path = export_onnx(tiny_zoo_net.model, tiny_zoo_net.spec, tmp_path / "m.onnx")
    code, _, err = _run(capsys, "ghost", str(path), "-o", str(tmp_path / "g.pt"))
    assert code == 2 and err.count("\n") == 1 and "PyTorch model" in err
