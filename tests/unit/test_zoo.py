"""The model zoo: every registered architecture builds, has the documented output, exports to ONNX.

Parametrized over MODELS.names(), so a new entry is tested for free: builders are made small through
the kwargs they accept (width, fc_dim, hidden, proj, clip_length, input_size).
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgepose.artifact import ModelSpec
from edgepose.errors import UserError
from edgepose.models import MODELS, build_model, default_spec, takes_input_size, zoo_info
from edgepose.models.stats import count_gflops, count_params
from edgepose.schemas import get_schema
from tests.tolerances import assert_close_fp32

NAMES = MODELS.names()
# non-square, so an x/y mix-up shows; a multiple of 32, so stride-32 trunks + 3 deconvs give exactly H/4 x W/4
SMALL_INPUT = (96, 64)
SMALL_KWARGS = {"width": 0.25, "fc_dim": 128, "hidden": 16, "proj": 32}
CLIP_LENGTH = 3


def small_case(name: str) -> tuple[nn.Module, ModelSpec]:
    """The architecture at a small size and width (for the kwargs its builder accepts), seeded."""
    size = SMALL_INPUT
    params = inspect.signature(MODELS.get(name)).parameters
    forwards_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    # zoo convention: every builder takes `width` (a channel multiplier), also through **kwargs
    kwargs = {k: v for k, v in SMALL_KWARGS.items() if k in params or (k == "width" and forwards_kwargs)}
    overrides: dict = {"input_size": size}
    if zoo_info(name).spec.clip_length:
        overrides["clip_length"] = CLIP_LENGTH
        if "clip_length" in params:
            kwargs["clip_length"] = CLIP_LENGTH
    torch.manual_seed(0)
    model = build_model(name, input_size=size, **kwargs).eval()
    return model, default_spec(name, **overrides)


def expected_shape(spec: ModelSpec, batch: int) -> tuple[int, ...]:
    k = get_schema(spec.schema).num_keypoints
    h, w = spec.input_size
    if spec.head == "yolo":  # raw head: 16 DFL bins x 4 sides + 1 class + K x (x, y, v), one column per anchor
        return (batch, 4 * 16 + 1 + 3 * k, sum((h // s) * (w // s) for s in (8, 16, 32)))
    if spec.clip_length:
        return (batch, spec.clip_length, k, 2)
    if spec.head == "heatmap":
        return (batch, k, h // 4, w // 4)
    return (batch, k, 2)


def settle_batchnorm(model: nn.Module, x: torch.Tensor) -> None:
    """Set BN running stats to the statistics of `x`, so activations are O(1) as in a trained net."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


@pytest.mark.parametrize("name", NAMES)
def test_small_forward_has_documented_shape(name: str) -> None:
    model, spec = small_case(name)
    x = torch.rand(spec.input_shape(2))
    with torch.no_grad():
        out = model(x)
    assert tuple(out.shape) == expected_shape(spec, 2)
    assert torch.isfinite(out).all()
    assert (out[0] - out[1]).abs().max() > 0, "output does not depend on the input"


@pytest.mark.parametrize("name", NAMES)
def test_zoo_info_schema_exists_and_matches_output(name: str) -> None:
    info = zoo_info(name)
    schema = get_schema(info.spec.schema)  # raises UserError for an unknown schema
    assert info.kind in ("heatmap", "regression", "temporal", "multi-person")
    assert (info.kind == "temporal") == bool(info.spec.clip_length)
    assert info.description and info.paper
    model, spec = small_case(name)
    with torch.no_grad():
        out = model(torch.zeros(spec.input_shape(1)))
    k_axis = 2 if spec.clip_length else 1
    if spec.head == "yolo":
        assert out.shape[1] == 4 * 16 + 1 + 3 * schema.num_keypoints
        return
    assert out.shape[k_axis] == schema.num_keypoints


@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_matches_pytorch(name: str, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from edgepose.export.onnx import export_onnx

    model, spec = small_case(name)
    x = torch.rand(spec.input_shape(2), generator=torch.Generator().manual_seed(1))
    settle_batchnorm(model, x)
    with torch.no_grad():
        expected = model(x).numpy()
    path = export_onnx(model, spec, tmp_path / f"{name}.onnx", opset=17)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = np.concatenate([session.run(None, {"input": x[i : i + 1].numpy()})[0] for i in range(2)])
    err = float(np.abs(got - expected).max())
    spread = float(np.abs(expected[0] - expected[1]).max())
    assert got.shape == expected.shape
    # 1e-4 of the output's scale: absolute for heatmaps / [0, 1] coordinates; YOLO raw logits are O(10), and
    # a random-init 50-layer net at 96x64 has float32 round-off of ~1e-5 of that in PyTorch alone (fp32 vs fp64)
    assert err <= 1e-4 * max(1.0, float(np.abs(expected).max()))
    assert err <= 1e-3 * spread, f"error {err:.3g} is not small next to the output's variation {spread:.3g}"


@pytest.mark.parametrize("name", [n for n in NAMES if zoo_info(n).spec.clip_length])
def test_clip_model_onnx_takes_a_dynamic_batch(name: str, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from edgepose.export.onnx import export_onnx

    model, spec = small_case(name)
    x = torch.rand(spec.input_shape(3))
    with torch.no_grad():
        expected = model(x).numpy()
    path = export_onnx(model, spec, tmp_path / "clip.onnx", dynamic_batch=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    assert_close_fp32(got, expected)


@pytest.mark.parametrize("name", [n for n in NAMES if zoo_info(n).spec.clip_length])
def test_clip_model_mixes_time_both_ways_and_never_batch(name: str) -> None:
    model, spec = small_case(name)
    x = torch.rand(spec.input_shape(2))
    settle_batchnorm(model, x)  # unsettled BN lets activations grow until the LSTM gates saturate
    with torch.no_grad():
        base = model(x)
        first_changed, last_changed = x.clone(), x.clone()
        first_changed[0, 0] += 1.0
        last_changed[0, -1] += 1.0
        out_first, out_last = model(first_changed), model(last_changed)
    assert (out_first[0, -1] - base[0, -1]).abs().max() > 1e-7, "the last frame does not see the first"
    assert (out_last[0, 0] - base[0, 0]).abs().max() > 1e-7, "the first frame does not see the last"
    assert torch.equal(out_first[1], base[1]) and torch.equal(out_last[1], base[1]), (
        "samples leak into each other"
    )


def test_simplebaseline_resnet50_size_and_compute_match_the_paper() -> None:
    model = build_model("simplebaseline-resnet50")
    spec = default_spec("simplebaseline-resnet50")
    assert spec.input_size == (256, 192)
    assert count_params(model) == pytest.approx(34.0e6, rel=0.02)
    assert count_gflops(model, spec) == pytest.approx(10.9, rel=0.02)


def _conv_linear_params(model: nn.Module) -> list[int]:
    return [
        sum(p.numel() for p in m.parameters())
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]


def test_deeppose_matches_the_report_layer_table() -> None:
    # shared/references/004 Fig. 3: 100x100 input, one joint (2 outputs); Keras counts include biases
    model = build_model("deeppose-alexnet", num_keypoints=1, input_size=(100, 100))
    report = [17472, 743552, 221376, 331968, 221312, 2101248, 16781312, 8194]
    assert _conv_linear_params(model) == report
    assert count_params(model) == 20_426_786  # the report's trainable params (BN gamma/beta included)
    assert tuple(model(torch.zeros(1, 3, 100, 100)).shape) == (1, 1, 2)
    at_220 = build_model("deeppose-alexnet")
    assert at_220.head.fc[0].in_features == 6 * 6 * 128


def test_alexnet_regression_has_krizhevsky_conv_widths() -> None:
    model = build_model("alexnet-regression")
    assert _conv_linear_params(model)[:5] == [34944, 614656, 885120, 1327488, 884992]  # report Fig. 7
    assert model.head.fc[0].in_features == 6 * 6 * 256


def test_trunks_match_published_sizes() -> None:
    from edgepose.models.darknet import Darknet53
    from edgepose.models.resnet import ResNet

    with torch.device("meta"):
        # torchvision resnet34 / resnet50 minus their 1000-way FC; Darknet-53 is 41.6M with its FC
        assert count_params(ResNet(34)) == 21_797_672 - 513_000
        assert count_params(ResNet(50)) == 25_557_032 - 2_049_000
        darknet = Darknet53()
        assert count_params(darknet) + 1024 * 1000 + 1000 == pytest.approx(41.6e6, rel=0.002)
        resnet50 = ResNet(50)
    square = ModelSpec(input_size=(256, 256))
    # Redmon & Farhadi 2018, Table 2, at 256x256: Darknet-53 18.7 and ResNet-50 10.7 billion ops
    assert count_gflops(darknet, square) == pytest.approx(18.7, rel=0.02)
    assert count_gflops(resnet50, square) == pytest.approx(10.7, rel=0.02)


def test_count_gflops_counts_the_lstm_and_agrees_with_a_real_forward() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    model, spec = small_case("simplebaseline-lite")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(spec.input_shape(1)))
    assert count_gflops(model, spec) == pytest.approx(counter.get_total_flops() / 1e9, rel=1e-9)
    clip_model = build_model("bipose-resnet50-bilstm", width=0.25, hidden=64, proj=32)
    clip_spec = default_spec("bipose-resnet50-bilstm", input_size=(64, 64), clip_length=4)
    lstm_gflops = 2 * 4 * (4 * 64 * (32 + 64)) * 2 / 1e9  # 2 directions, 4 steps, 4 gates, 2 FLOPs/MAC
    head_gflops = 4 * 2 * (2 * 64 * 17 * 2) / 1e9
    without_lstm = count_gflops(clip_model.backbone, ModelSpec(input_size=(64, 64))) * 4
    proj_gflops = 4 * 2 * clip_model.backbone.out_channels * 32 / 1e9
    total = count_gflops(clip_model, clip_spec)
    assert total == pytest.approx(without_lstm + proj_gflops + lstm_gflops + head_gflops, rel=1e-3)


def test_input_size_reaches_only_the_builders_that_take_it() -> None:
    assert takes_input_size("deeppose-alexnet") and not takes_input_size("simplebaseline-lite")
    small = build_model("deeppose-alexnet", input_size=(100, 100), width=0.25, fc_dim=64)
    assert small.head.fc[0].in_features == 2 * 2 * 32
    build_model("simplebaseline-lite", input_size=(64, 48))  # accepted and ignored
    with pytest.raises(UserError, match="too small"):
        build_model("deeppose-alexnet", input_size=(32, 32))


def test_darknet_uses_min_max_normalisation_and_leaky_relu() -> None:
    spec = default_spec("darknet53-bilstm")
    assert spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0)
    assert spec.input_size == (256, 256) and spec.schema == "coco17"
    model = build_model("darknet53-bilstm", width=0.25)
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.1}
    assert sum(isinstance(m, nn.Conv2d) for m in model.backbone.modules()) == 52


def test_zoo_table_never_truncates_names() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    result = subprocess.run(
        [sys.executable, "-m", "edgepose", "zoo"], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr
    for name in NAMES:
        assert f" {name} " in result.stdout


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", [-1, 0, float("nan"), float("inf")])
def test_a_non_positive_width_is_refused_for_every_architecture(name: str, value: float) -> None:
    from edgepose.errors import UserError
    from edgepose.models import build_model

    with pytest.raises(UserError, match=rf"cannot build {name} with width={value!r}: it must be a positive number"):
        build_model(name, width=value)


@pytest.mark.parametrize(("clip_name", "twin_name"), [
    ("bipose-lite-bilstm", "bipose-lite-nolstm"), ("darknet53-lite-bilstm", "darknet53-lite-nolstm"),
])  # fmt: skip
def test_lite_clip_models_and_their_per_frame_twins_cost_the_same_per_frame(clip_name: str, twin_name: str) -> None:
    clip_spec, twin_spec = default_spec(clip_name), default_spec(twin_name)
    assert clip_spec.input_size == twin_spec.input_size and twin_spec.clip_length is None
    with torch.device("meta"):
        clip_model, twin_model = build_model(clip_name), build_model(twin_name)
    per_frame = count_gflops(clip_model, clip_spec) / clip_spec.clip_length
    twin = count_gflops(twin_model, twin_spec)
    assert twin == pytest.approx(per_frame, rel=0.01)  # the BiLSTM is < 1% of the compute
    assert per_frame < 0.5  # sized for 2 CPU cores
    assert {k for k in twin_model.state_dict() if k.startswith("backbone.")} == {
        k for k in clip_model.state_dict() if k.startswith("backbone.")
    }


def test_full_size_temporal_models_keep_the_reference_backbones() -> None:
    with torch.device("meta"):
        bipose, darknet = build_model("bipose-resnet50-bilstm"), build_model("darknet53-bilstm")
    # ResNet-50 at 256x192 is 4.1 GMACs = 8.2 GFLOPs a frame; Darknet-53 at 256x256 18.7 (Redmon & Farhadi)
    assert count_gflops(bipose, default_spec("bipose-resnet50-bilstm")) / 4 == pytest.approx(8.0, rel=0.03)
    assert count_gflops(darknet, default_spec("darknet53-bilstm")) / 4 == pytest.approx(18.6, rel=0.02)
    assert count_params(bipose) == pytest.approx(26.15e6, rel=0.01)
