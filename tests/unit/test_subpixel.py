"""The sub-pixel rewrite: a strided deconv as conv + pixel shuffle computes the same function, exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from edgepose.checkpoint import save_checkpoint
from edgepose.errors import UserError
from edgepose.loading import load_artifact
from edgepose.models.subpixel import SubpixelDeconv, subpixel_unsupported
from edgepose.passes import RunContext, apply_pass
from tests.tolerances import SAME_RUNTIME_REL, assert_close_fp32

# (kernel, stride, padding, output_padding): SimpleBaselines' deconv, unpooling, larger strides and kernels
SUPPORTED = [(4, 2, 1, 0), (2, 2, 0, 0), (8, 4, 2, 0), (4, 4, 0, 0), (6, 2, 2, 0), (3, 1, 1, 0)]
UNSUPPORTED = [((3, 2, 1, 1), "not a multiple"), ((4, 2, 0, 0), "not stride x input"), ((4, 2, 1, 0, 2), "groups")]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("kernel", "stride", "padding", "output_padding"), SUPPORTED)
def test_rewrite_matches_the_deconv(kernel: int, stride: int, padding: int, output_padding: int, bias: bool) -> None:
    torch.manual_seed(0)
    deconv = nn.ConvTranspose2d(6, 5, kernel, stride, padding, output_padding, bias=bias)
    rewritten = SubpixelDeconv.from_deconv(deconv)
    x = torch.randn(2, 6, 7, 5)
    with torch.no_grad():
        expected, got = deconv(x), rewritten(x)
    assert got.shape == expected.shape == (2, 5, 7 * stride, 5 * stride)
    assert_close_fp32(got, expected, rel=SAME_RUNTIME_REL)


@pytest.mark.parametrize(("config", "reason"), UNSUPPORTED)
def test_unsupported_deconvs_say_why(config: tuple[int, ...], reason: str) -> None:
    kernel, stride, padding, output_padding, *groups = config
    deconv = nn.ConvTranspose2d(4, 4, kernel, stride, padding, output_padding, groups=groups[0] if groups else 1)
    assert reason in (subpixel_unsupported(deconv) or "")
    with pytest.raises(ValueError, match="cannot rewrite"):
        SubpixelDeconv.from_deconv(deconv)


def test_pass_rewrites_every_deconv_keeps_outputs_and_replays_on_load(tiny_zoo_net, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = RunContext(work_dir=tmp_path / "work")
    result = apply_pass(tiny_zoo_net, "subpixel", None, ctx)
    deconvs = [n for n, m in tiny_zoo_net.model.named_modules() if isinstance(m, nn.ConvTranspose2d)]
    assert deconvs and ctx.records["subpixel"]["replaced"] == deconvs
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in result.model.modules())
    assert any(isinstance(m, nn.ConvTranspose2d) for m in tiny_zoo_net.model.modules()), "the input must not change"
    assert result.history[-1] == {"step": "subpixel", "layers": deconvs}
    x = torch.randn(tiny_zoo_net.spec.input_shape(2))
    loaded = load_artifact(save_checkpoint(result, tmp_path / "subpixel.pt"))
    with torch.no_grad():
        expected = tiny_zoo_net.model(x)
        assert_close_fp32(result.model(x), expected, rel=SAME_RUNTIME_REL)
        assert_close_fp32(loaded.model.eval()(x), expected, rel=SAME_RUNTIME_REL)


def test_pass_exports_to_onnx_with_parity(tiny_zoo_net, tmp_path: Path) -> None:  # noqa: ANN001
    from edgepose.bench.parity import verify_export
    from edgepose.export.onnx import export_onnx

    result = apply_pass(tiny_zoo_net, "subpixel", None, RunContext(work_dir=tmp_path))
    out = export_onnx(result.model, result.spec, tmp_path / "m.onnx")
    report = verify_export(tiny_zoo_net, out, n_random=2)
    assert report.passed and report.metric == "scaled" and report.max_scaled_err <= 1e-4


def test_pass_records_what_it_skipped_and_leaves_a_model_without_eligible_deconvs(tiny_pose_net, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = RunContext(work_dir=tmp_path)
    result = apply_pass(tiny_pose_net, "subpixel", None, ctx)
    assert ctx.records["subpixel"]["unchanged"] and result.history == tiny_pose_net.history
    with pytest.raises(UserError, match="matches no layer"):
        apply_pass(tiny_pose_net, "subpixel", {"include": ["nonexistent.*"]}, ctx)
