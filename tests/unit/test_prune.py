"""The prune pass and command: every zoo architecture prunes, reloads by replay and exports with parity;
importance criteria, round_to, include/exclude, magnitude sparsity, GFLOPs targets, sensitivity,
fine-tuning and the CLI contract, all on small models and generated data."""

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
from edgepose.loading import LoadOptions, load_artifact
from edgepose.models import MODELS, build_model, default_spec, takes_input_size, zoo_info
from edgepose.models.stats import count_gflops, count_params
from edgepose.passes import RunContext, apply_pass, make_config
from edgepose.passes.finetune import FinetuneConfig
from edgepose.passes.prune_structured import layer_widths
from tests.coco_files import write_coco
from tests.conftest import TINY_FACTORY

SMALL_INPUT = (32, 32)  # a multiple of 32: stride-32 trunks + 3 deconvs give exactly H/4 x W/4
FC_INPUT = (64, 64)  # flatten + FC heads (AlexNet, DeepPose) need a few more pixels
SMALL_KWARGS = {"width": 0.25, "fc_dim": 64, "hidden": 16, "proj": 32}
CLIP_LENGTH = 2


@pytest.fixture(autouse=True)
def _one_thread():
    """Small convs run fastest on one thread, and the machine is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_artifact(name: str) -> Artifact:
    """Zoo architecture `name` at quarter width and 32x32 (64x64 for FC heads, 2-frame clips), BN settled."""
    params = inspect.signature(MODELS.get(name)).parameters
    forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in SMALL_KWARGS.items() if k in params or (k == "width" and forwards)}
    size = FC_INPUT if takes_input_size(name) else SMALL_INPUT
    overrides: dict = {"input_size": size}
    if zoo_info(name).spec.clip_length:
        overrides["clip_length"] = CLIP_LENGTH
        if "clip_length" in params:
            kwargs["clip_length"] = CLIP_LENGTH
    if takes_input_size(name):
        kwargs["input_size"] = list(size)
    torch.manual_seed(0)
    model = build_model(name, **kwargs)
    spec = default_spec(name, **overrides)
    settle_batchnorm(model, torch.rand(spec.input_shape(2), generator=torch.Generator().manual_seed(2)))
    return Artifact(spec=spec, model=model, arch=name, arch_kwargs=kwargs)


def settle_batchnorm(model: nn.Module, x: torch.Tensor) -> None:
    """BN running stats from `x`, so activations are O(1) as in a trained net (and errors are comparable)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def run_prune(artifact: Artifact, tmp_path: Path, **options) -> tuple[Artifact, dict]:  # noqa: ANN003
    """The prune pass; round_to pinned to 8 unless given (the default 'auto' follows the CPU, so a test that
    counts channels or GFLOPs would mean something else on another x86)."""
    options.setdefault("round_to", 8)
    ctx = RunContext(work_dir=tmp_path / "work", progress=False, **options.pop("ctx", {}))
    result = apply_pass(artifact, "prune", options, ctx)
    return result, ctx.records["prune"]


def history_indices(artifact: Artifact, layer: str) -> list[int]:
    """The channel indices the recorded plan removes from `layer` (its first entry)."""
    return next(sorted(idxs) for name, _, idxs in artifact.history[-1]["pruning_history"] if name == layer)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_zoo_architecture_prunes_reloads_and_exports(name: str, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from edgepose.export.onnx import export_onnx

    artifact = small_artifact(name)
    x = torch.rand(artifact.spec.input_shape(2), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before_out = artifact.model(x)
    before_params, before_gflops = count_params(artifact.model), count_gflops(artifact.model, artifact.spec)
    pruned, record = run_prune(artifact, tmp_path, ratio=0.3)

    assert count_params(artifact.model) == before_params, "the input model was changed"
    assert record["params_after"] < 0.8 * before_params
    assert record["gflops_after"] < 0.8 * before_gflops
    widths_before, widths_after = layer_widths(artifact.model), layer_widths(pruned.model)
    assert record["output_layers"]
    for layer in record["output_layers"]:
        assert widths_after[layer] == widths_before[layer]
    with torch.no_grad():
        out = pruned.model(x)
    assert out.shape == before_out.shape

    path = save_checkpoint(pruned, tmp_path / "pruned.pt")
    reloaded = load_artifact(path)
    with torch.no_grad():
        assert torch.equal(reloaded.model(x), out)

    onnx_path = export_onnx(pruned.model, pruned.spec, tmp_path / "pruned.onnx", simplify=False)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = np.concatenate([session.run(None, {"input": x[i : i + 1].numpy()})[0] for i in range(2)])
    assert got.shape == tuple(out.shape)
    # 1e-4 of the output's scale (as test_zoo): YOLO's raw logits are O(10-1000) at random init
    assert float(np.abs(got - out.numpy()).max()) <= 1e-4 * max(1.0, float(out.abs().max()))


def _weaken_channels(model: nn.Module, channels: slice) -> None:
    """Make `channels` of the tiny net's first conv clearly the least important by every criterion."""
    with torch.no_grad():
        model.features[0].weight[channels] *= 1e-3
        model.features[1].weight[channels] *= 1e-3
        model.features[3].weight[:, channels] *= 1e-3


@pytest.mark.parametrize("importance", ["l1", "l2", "bn_scale", "taylor"])
def test_every_importance_criterion_removes_the_weak_channels(
    importance: str, tiny_pose_net: Artifact, tmp_path: Path
) -> None:  # fmt: skip
    _weaken_channels(tiny_pose_net.model, slice(8, 16))
    data = write_coco(tmp_path / "data", n_images=4)
    pruned, record = run_prune(tiny_pose_net, tmp_path, ratio=0.5, importance=importance, ctx={"train_data": data})
    assert history_indices(pruned, "features.0") == list(range(8, 16))
    assert layer_widths(pruned.model)["features.0"] == 8
    assert record["importance"] == importance
    assert all(p.grad is None for p in pruned.model.parameters()), "Taylor gradients were left behind"


def test_round_to_auto_is_resolved_for_this_cpu_and_recorded(tiny_zoo_net: Artifact, tmp_path: Path) -> None:
    from edgepose.hardware import preferred_round_to

    _, record = run_prune(tiny_zoo_net, tmp_path, ratio=0.3, round_to="auto")
    multiple = preferred_round_to()
    assert record["round_to_requested"] == "auto" and record["round_to"] == multiple
    assert all(row["channels_after"] % multiple == 0 for row in record["layers"] if row["channels_after"] != row["channels_before"])


@pytest.mark.parametrize("value", ["-8", "eight", "2.5"])
def test_cli_round_to_refuses_what_is_not_auto_or_a_whole_number(value: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code, _, err = _run_main(["prune", "--arch", "simplebaseline-lite", "-o", str(tmp_path / "p.pt"), "--round-to", value],
                             capsys)  # fmt: skip
    assert code == 2 and "--round-to takes 'auto'" in err
    assert not (tmp_path / "p.pt").exists()


def test_round_to_keeps_channel_multiples(tiny_zoo_net: Artifact, tmp_path: Path) -> None:
    _, by16 = run_prune(tiny_zoo_net, tmp_path / "a", ratio=0.3, round_to=16)
    assert by16["layers"] and all(row["channels_after"] % 16 == 0 for row in by16["layers"])
    _, unrounded = run_prune(tiny_zoo_net, tmp_path / "b", ratio=0.3, round_to=None)
    # 64 channels at ratio 0.3 keep int(44.8) = 44 without rounding, 48 (nearest multiple of 16) with
    rows = {row["layer"]: row["channels_after"] for row in unrounded["layers"]}
    assert rows["backbone.layer3.0.conv1"] == 44
    assert {row["layer"]: row["channels_after"] for row in by16["layers"]}["backbone.layer3.0.conv1"] == 48


def test_exclude_and_include_are_honoured(tiny_zoo_net: Artifact, tmp_path: Path) -> None:
    before = layer_widths(tiny_zoo_net.model)
    excluded, _ = run_prune(tiny_zoo_net, tmp_path / "a", exclude=["backbone.layer1.0.conv1", "backbone.layer2.0.downsample.0"])
    after = layer_widths(excluded.model)
    assert after["backbone.layer1.0.conv1"] == before["backbone.layer1.0.conv1"]
    for coupled in ("backbone.layer2.0.conv2", "backbone.layer2.1.conv2"):  # same residual stream
        assert after[coupled] == before[coupled]
    assert after["backbone.layer1.1.conv1"] < before["backbone.layer1.1.conv1"]

    _, record = run_prune(tiny_zoo_net, tmp_path / "b", include=["deconv.*"])
    assert {row["layer"] for row in record["layers"]} == {"deconv.0", "deconv.3", "deconv.6"}
    with pytest.raises(UserError, match="include pattern 'nope.\\*' matches no layer"):
        run_prune(tiny_zoo_net, tmp_path / "c", include=["nope.*"])


def test_layer_ratios_prune_only_the_matching_layers_each_by_its_own_ratio(tiny_zoo_net: Artifact, tmp_path: Path) -> None:
    before = layer_widths(tiny_zoo_net.model)
    plan = {"backbone.layer1.0.conv1": 0.5, "deconv.*": 0.25}
    pruned, record = run_prune(tiny_zoo_net, tmp_path / "a", layer_ratios=plan, round_to=None)
    after = layer_widths(pruned.model)
    assert after["backbone.layer1.0.conv1"] == before["backbone.layer1.0.conv1"] // 2
    assert after["deconv.0"] == before["deconv.0"] - before["deconv.0"] // 4
    assert {row["layer"] for row in record["layers"]} == {"backbone.layer1.0.conv1", "deconv.0", "deconv.3", "deconv.6"}
    assert record["ratios"]["deconv.3"] == 0.25
    with pytest.raises(UserError, match="layer ratio 'nope.\\*' matches no prunable channel group"):
        run_prune(tiny_zoo_net, tmp_path / "b", layer_ratios={"nope.*": 0.5})
    for bad in ({"deconv.*": 0.95}, {}):  # above max_layer_ratio 0.9; an empty plan
        with pytest.raises(UserError, match="layer"):
            run_prune(tiny_zoo_net, tmp_path / "c", layer_ratios=bad)


def test_cli_layer_ratio_needs_pattern_equals_ratio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(["prune", "--model-factory", TINY_FACTORY, "--layer-ratio", "deconv.*", "-o", str(tmp_path / "p.pt")])
    assert exit_info.value.code == 2 and "PATTERN=RATIO" in capsys.readouterr().err


@pytest.mark.parametrize("steps", [1, 2])
def test_magnitude_pruning_reaches_the_sparsity_and_is_permanent(
    steps: int, tiny_zoo_net: Artifact, tmp_path: Path
) -> None:  # fmt: skip
    keys = list(tiny_zoo_net.model.state_dict())
    pruned, record = run_prune(tiny_zoo_net, tmp_path, method="magnitude", ratio=0.6, iterative_steps=steps)
    model = pruned.model
    assert list(model.state_dict()) == keys
    assert not any(hasattr(m, "weight_orig") or hasattr(m, "weight_mask") or m._forward_pre_hooks for m in model.modules())
    layers = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and n != "head"]
    zeros = sum(int((dict(model.named_modules())[n].weight == 0).sum()) for n in layers)
    total = sum(dict(model.named_modules())[n].weight.numel() for n in layers)
    assert zeros / total == pytest.approx(0.6, abs=1e-3)
    assert record["sparsity"] == pytest.approx(0.6, abs=1e-3) and set(record["layers_sparsity"]) == set(layers)
    assert int((model.head.weight == 0).sum()) == 0, "the keypoint output layer was pruned"
    assert record["faster_on_dense_runtimes"] is False and "no speed-up" in record["note"]
    assert record["gflops_ratio"] == 1.0
    path = save_checkpoint(pruned, tmp_path / "sparse.pt")
    x = torch.rand(pruned.spec.input_shape(1))
    with torch.no_grad():
        assert torch.equal(load_artifact(path).model(x), model(x))


@pytest.mark.parametrize(("global_pruning", "steps"), [(False, 1), (True, 1), (False, 2)])
def test_target_gflops_ratio_lands_at_or_under_the_target(
    global_pruning: bool, steps: int, tiny_pose_net: Artifact, tmp_path: Path
) -> None:  # fmt: skip
    pruned, record = run_prune(
        tiny_pose_net, tmp_path, target_gflops_ratio=0.5, global_pruning=global_pruning, iterative_steps=steps,
        round_to=4,
    )  # fmt: skip
    ratio = count_gflops(pruned.model, pruned.spec) / count_gflops(tiny_pose_net.model, tiny_pose_net.spec)
    assert ratio <= 0.5
    assert ratio > 0.35, "the search over-pruned"
    assert record["gflops_ratio"] == pytest.approx(ratio, abs=1e-4)
    assert len(record["steps"]) == steps


def test_sensitivity_scan_chooses_ratios_under_the_flops_target(tiny_pose_net: Artifact, tmp_path: Path) -> None:
    data = write_coco(tmp_path / "data", n_images=3)
    pruned, record = run_prune(
        tiny_pose_net, tmp_path, method="sensitivity", target_gflops_ratio=0.6, sensitivity_images=4,
        round_to=4, ctx={"val_data": data},
    )  # fmt: skip
    scan = record["sensitivity"]
    assert {row["layer"] for row in scan["table"]} == {"features.0", "features.3", "features.6"}
    assert len(scan["table"]) == 3 * 3
    for row in scan["table"]:
        assert row["drop_points"] == pytest.approx(100 * (scan["baseline"] - row["score"]), abs=1e-3)
    assert scan["chosen"] and set(scan["chosen"]) <= {"features.0", "features.3", "features.6"}
    assert record["gflops_ratio"] <= 0.6
    widths = layer_widths(pruned.model)
    for layer, ratio in scan["chosen"].items():
        assert widths[layer] < layer_widths(tiny_pose_net.model)[layer], (layer, ratio)


@pytest.mark.parametrize("source", ["folder", "other_schema_labels_as_val"])
def test_sensitivity_scan_without_labels_scores_agreement_with_the_unpruned_model(
    tiny_pose_net: Artifact, tmp_path: Path, source: str
) -> None:  # fmt: skip
    data = write_coco(tmp_path / "data", n_images=4)
    ctx = {"train_data": data.parent / "images"} if source == "folder" else {"val_data": _as_lsp14(data)}
    pruned, record = run_prune(
        tiny_pose_net, tmp_path, method="sensitivity", target_gflops_ratio=0.6, sensitivity_images=3, round_to=4,
        ctx=ctx,
    )  # fmt: skip
    scan = record["sensitivity"]
    assert "agreement with the unpruned model" in scan["scored_by"]
    assert scan["baseline"] == pytest.approx(1.0)  # the unpruned model agrees with itself
    assert all(row["score"] <= 1.0 + 1e-9 for row in scan["table"])
    assert any(row["drop_points"] > 0 for row in scan["table"]), "no pruned copy disagreed: the scorer is blind"
    assert record["gflops_ratio"] <= 0.6


def _as_lsp14(coco17: Path) -> Path:
    """The same images with 14-keypoint labels: an annotations file whose schema is not the model's."""
    doc = json.loads(coco17.read_text())
    for ann in doc["annotations"]:
        ann["keypoints"] = ann["keypoints"][: 14 * 3]
        ann["num_keypoints"] = sum(1 for v in ann["keypoints"][2::3] if v > 0)
    doc["categories"][0]["keypoints"] = doc["categories"][0]["keypoints"][:14]
    path = coco17.with_name("lsp14.json")
    path.write_text(json.dumps(doc))
    return path


def test_model_factory_network_prunes_saves_and_reloads(tiny_pose_net: Artifact, tmp_path: Path) -> None:
    pruned, _ = run_prune(tiny_pose_net, tmp_path, ratio=0.5)
    path = save_checkpoint(pruned, tmp_path / "user.pt")
    reloaded = load_artifact(path, LoadOptions(model_factory=TINY_FACTORY))
    assert reloaded.history[-1]["step"] == "prune"
    json.dumps(reloaded.history)  # the plan is plain data
    x = torch.rand(pruned.spec.input_shape(2))
    with torch.no_grad():
        assert torch.equal(reloaded.model(x), pruned.model(x))
    assert layer_widths(reloaded.model)["features.3"] == 16


def test_iterative_pruning_fine_tunes_each_step_and_cleans_up(tiny_pose_net: Artifact, tmp_path: Path) -> None:
    data = write_coco(tmp_path / "data", n_images=4)
    finetune = FinetuneConfig(epochs=2, batch_size=4, warmup_steps=0, workers=0, max_steps_per_epoch=2)
    ctx = RunContext(work_dir=tmp_path / "work", train_data=data, progress=False)
    tuned = apply_pass(tiny_pose_net, "prune", {"ratio": 0.5, "iterative_steps": 2, "round_to": 8, "finetune": finetune}, ctx)
    record = ctx.records["prune"]
    assert [(r["step"], r["epochs"]) for r in record["finetune"]] == [(1, 1), (2, 1)]
    assert ctx.teacher is tiny_pose_net
    assert not list((tmp_path / "work").glob("*.state.pt"))
    untuned, _ = run_prune(tiny_pose_net, tmp_path / "plain", ratio=0.5, iterative_steps=2)
    assert layer_widths(tuned.model) == layer_widths(untuned.model)
    assert not torch.equal(tuned.model.head.weight, untuned.model.head.weight), "fine-tuning changed nothing"


class ChannelShuffleNet(nn.Module):
    """A channel shuffle (reshape + transpose): torch-pruning 1.6 maps its channel indices wrongly."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, 2, 1)
        self.head = nn.Conv2d(32, 17, 1)

    def forward(self, x):  # noqa: ANN001, ANN201
        f = self.stem(x)
        b, c, h, w = f.shape
        return self.head(f.reshape(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w))


def test_a_model_torch_pruning_mishandles_fails_with_one_clear_error(tmp_path: Path) -> None:
    artifact = Artifact(spec=ModelSpec(input_size=(32, 32)), model=ChannelShuffleNet().eval())
    with pytest.raises(UserError, match="nothing was pruned.*'stem': torch-pruning maps its channels wrongly"):
        run_prune(artifact, tmp_path, ratio=0.5, round_to=None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ratio": 1.5}, "ratio"),
        ({"method": "bogus"}, "method"),
        ({"method": "sensitivity"}, "needs target_gflops_ratio or target_latency_ratio"),
        ({"target_latency_ratio": 0.5}, "latency target needs method 'sensitivity'"),
        ({"method": "magnitude", "target_gflops_ratio": 0.5}, "saves no FLOPs"),
        ({"pruning_ratio": 0.5}, "unknown key 'pruning_ratio'"),
    ],
)
def test_bad_options_are_one_user_error(options: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        make_config("prune", options)


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_cli_writes_a_checkpoint_and_one_json_report(
    tiny_pose_net: Artifact, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    model = save_checkpoint(tiny_pose_net, tmp_path / "model.pt")
    out = tmp_path / "pruned.pt"
    argv = ["prune", str(model), "--model-factory", TINY_FACTORY, "-o", str(out), "--ratio", "0.5", "--round-to", "4",
            "--threads", "1", "--iters", "4", "--json"]  # fmt: skip
    code, stdout, stderr = _run_main(argv, capsys)
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["output"] == str(out) and data["prune"]["method"] == "structured"
    assert data["gflops_ratio"] < 0.5 and data["params_ratio"] < 0.5
    assert data["latency"]["runtime_a"] == "onnxruntime" and data["latency"]["speedup"] > 0
    assert {row["layer"] for row in data["prune"]["layers"]} == {"features.0", "features.3", "features.6"}
    assert not (tmp_path / ".pruned.pt.work").exists()
    reloaded = load_artifact(out, LoadOptions(model_factory=TINY_FACTORY))
    assert count_params(reloaded.model) == data["after"]["params"]
    assert reloaded.history[-1]["method"] == "structured"


def test_cli_bad_input_exits_2_with_one_line(
    tiny_pose_net: Artifact, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    from edgepose.export.onnx import export_onnx

    model = str(save_checkpoint(tiny_pose_net, tmp_path / "model.pt"))
    onnx_model = str(export_onnx(tiny_pose_net.model, tiny_pose_net.spec, tmp_path / "model.onnx", simplify=False))
    out = str(tmp_path / "out.pt")
    cases = [
        ([model, "-o", out, "--ratio", "1.5"], "ratio"),
        ([model, "-o", out, "--method", "bogus"], "method"),
        ([model, "-o", out, "--include", "nope.*"], "include pattern 'nope.*' matches no layer"),
        ([onnx_model, "-o", out], "PyTorch model"),
        ([model, "-o", out, "--epochs", "2"], "--finetune-data"),
        ([model, "-o", out, "--method", "sensitivity"], "needs target_gflops_ratio"),
    ]
    for argv, message in cases:
        code, stdout, stderr = _run_main(["prune", *argv, "--model-factory", TINY_FACTORY, "--runtime", "none"], capsys)
        assert code == 2, (argv, stderr)
        assert stderr.count("\n") == 1 and message in stderr and "Traceback" not in stderr, (argv, stderr)
        assert stdout == ""
    assert not Path(out).exists()


@pytest.mark.parametrize("name", [n for n in MODELS.names() if zoo_info(n).spec.clip_length])
def test_structured_pruning_of_a_clip_model_touches_the_cnn_only(name: str, tmp_path: Path) -> None:
    """The BiLSTM and the projection feeding it keep their widths; the CNN gets narrower."""
    from edgepose.passes.prune_structured import prune_scope

    artifact = small_artifact(name)
    model = artifact.model
    lstm_before = {k: v.shape for k, v in model.lstm.state_dict().items()}
    proj_before = [m.out_features for m in model.proj.modules() if isinstance(m, torch.nn.Linear)]
    scope = prune_scope(model, artifact.spec, ["*"], [])
    assert any(n.startswith("proj") for n in scope.ignored)
    result, _ = run_prune(artifact, tmp_path, method="structured", ratio=0.5, round_to=1)
    pruned = result.model
    assert {k: v.shape for k, v in pruned.lstm.state_dict().items()} == lstm_before
    assert [m.out_features for m in pruned.proj.modules() if isinstance(m, torch.nn.Linear)] == proj_before
    assert count_params(pruned.backbone) < count_params(model.backbone)


def test_cli_refuses_validation_on_the_evaluation_data(tiny_pose_net: Artifact, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """--val equal to --eval would pick the fine-tuning's epoch on the images it is scored on: one line, exit 2."""
    from edgepose.checkpoint import save_checkpoint

    data = write_coco(tmp_path / "data", n_images=2)
    model = save_checkpoint(tiny_pose_net, tmp_path / "m.pt")
    before = model.read_bytes()
    code, _, err = _run_main(["prune", str(model), "-o", str(tmp_path / "p.pt"), "--finetune-data", str(data),
                              "--eval", str(data), "--val", str(data)], capsys)  # fmt: skip
    assert code == 2 and "is the --eval data" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.pt").exists() and model.read_bytes() == before
