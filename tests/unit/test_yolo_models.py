"""The yolopose zoo entries: Ultralytics' sizes, names and compute; the layer-list builder's checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgepose.errors import UserError
from edgepose.models import MODELS, build_model, default_spec
from edgepose.models.stats import count_gflops, count_params
from edgepose.models.yolo import YoloPoseNet, family_config
from edgepose.models.yolo.blocks import DWConv, GhostBottleneck

YOLO_NAMES = [n for n in MODELS.names() if n.startswith("yolopose-")]
# Ultralytics' own counts for nc=1 pose models (PoseModel(yaml, nc=1), ultralytics 8.4), minus its DFL conv's
# 16 fixed weights, which edgepose decodes in numpy instead
ULTRALYTICS_PARAMS = {
    "yolopose-v8n": 3_295_470, "yolopose-v8s": 11_626_046, "yolopose-v8m": 26_464_462,
    "yolopose-11n": 2_874_462, "yolopose-11s": 9_918_238, "yolopose-11m": 20_912_364,
}  # fmt: skip


def meta_model(name: str) -> nn.Module:
    with torch.device("meta"):
        return build_model(name)


def test_every_family_and_scale_is_registered() -> None:
    assert set(YOLO_NAMES) == {*ULTRALYTICS_PARAMS, "yolopose-ghost-n"}
    for name in YOLO_NAMES:
        spec = default_spec(name)
        assert spec.head == "yolo" and spec.schema == "coco17" and spec.input_size == (640, 640)
        assert spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("name", sorted(ULTRALYTICS_PARAMS))
def test_parameter_counts_equal_ultralytics(name: str) -> None:
    assert count_params(meta_model(name)) == ULTRALYTICS_PARAMS[name] - 16


@pytest.mark.parametrize(("name", "published"), [("yolopose-v8n", 9.2), ("yolopose-11n", 7.6)])
def test_n_scale_gflops_match_the_published_numbers(name: str, published: float) -> None:
    # Ultralytics' table (640x640); its thop count adds BatchNorm FLOPs, ours adds the attention matmuls
    assert count_gflops(meta_model(name), default_spec(name)) == pytest.approx(published, rel=0.025)


def test_ghost_variant_is_cheaper_than_yolov8n_and_downsamples_with_stride2_depthwise() -> None:
    ghost, v8n = meta_model("yolopose-ghost-n"), meta_model("yolopose-v8n")
    assert count_gflops(ghost, default_spec("yolopose-ghost-n")) < 0.7 * count_gflops(v8n, default_spec("yolopose-v8n"))
    assert count_params(ghost) < 0.6 * count_params(v8n)
    strided = [m for m in ghost.modules() if isinstance(m, GhostBottleneck) and isinstance(m.conv[1], DWConv)]
    assert len(strided) == 3 and all(m.conv[1].conv.stride == (2, 2) for m in strided)


def test_state_dict_keys_follow_ultralytics() -> None:
    v8n, y11n = meta_model("yolopose-v8n").state_dict(), meta_model("yolopose-11n").state_dict()
    assert {"model.0.conv.weight", "model.0.bn.running_var", "model.22.cv4.0.0.conv.weight",
            "model.22.cv3.0.0.conv.weight", "model.22.cv2.2.2.bias"} <= set(v8n)  # fmt: skip
    assert {"model.10.m.0.attn.qkv.conv.weight", "model.23.cv3.0.0.0.conv.weight",  # YOLO11: DW conv in cls
            "model.23.cv3.0.0.1.conv.weight", "model.6.m.0.m.0.cv1.conv.weight"} <= set(y11n)  # fmt: skip
    assert not any("dfl" in k for k in y11n)


@pytest.mark.parametrize("name", YOLO_NAMES)
def test_declared_output_layers_are_the_final_1x1_convs(name: str) -> None:
    from edgepose.passes.select import output_layers

    model = meta_model(name)
    names = output_layers(model, default_spec(name))
    assert names == model.edgepose_output_layers and len(names) == 9
    convs = [model.get_submodule(n) for n in names]
    assert all(isinstance(c, nn.Conv2d) and c.kernel_size == (1, 1) for c in convs)
    assert [c.out_channels for c in convs] == [64] * 3 + [1] * 3 + [51] * 3


def test_strides_follow_the_layer_list() -> None:
    cfg = family_config("v8", "n")
    cfg["head"][-1] = [[15, 18], 1, "Pose", ["nc", "kpt_shape"]]
    model = YoloPoseNet(cfg, width=0.25)
    assert model.strides == (8.0, 16.0)
    assert meta_model("yolopose-11s").strides == (8.0, 16.0, 32.0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["backbone"].__setitem__(1, [-1, 1, "RepNCSPELAN4", [128]]), "does not implement"),
        (lambda c: c["backbone"].__setitem__(1, [-1, 1, "Conv"]), "should be"),
        (lambda c: c.__setitem__("activation", "nn.ReLU()"), "SiLU"),
        (lambda c: c["head"].pop(), "Pose head"),
        (lambda c: c.__setitem__("scale", "x"), "no scale"),
    ],
)
def test_bad_layer_lists_are_user_errors(edit, message: str) -> None:  # noqa: ANN001
    cfg = family_config("v8", "n")
    edit(cfg)
    with pytest.raises(UserError, match=message):
        YoloPoseNet(cfg, width=0.25)


def test_num_keypoints_sets_the_keypoint_branch() -> None:
    model = build_model("yolopose-ghost-n", num_keypoints=14, width=0.25).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 64 + 1 + 42, 84) and model.kpt_shape == (14, 3)
