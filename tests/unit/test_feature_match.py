"""Feature distillation (edgepose.feature_match): the per-layer hint loss, its relative weight, and its use in
the Ghost pass's fine-tune."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from edgepose.artifact import Artifact
from edgepose.errors import UserError
from edgepose.feature_match import FeatureMatch


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))


def test_the_loss_is_zero_for_the_teacher_itself_and_grows_with_the_difference() -> None:
    student, teacher = _net(), _net()
    x = torch.randn(2, 3, 8, 8)
    match = FeatureMatch(student, teacher, ["0", "2"], weight=1.0, scale=1.0)
    student(x), teacher(x)
    assert match.loss(torch.tensor(1.0)).item() == pytest.approx(0.0, abs=1e-12)
    with torch.no_grad():
        student[0].weight.add_(0.1 * torch.randn_like(student[0].weight))
    student(x), teacher(x)
    small = match.loss(torch.tensor(1.0)).item()
    with torch.no_grad():
        student[0].weight.add_(torch.randn_like(student[0].weight))
    student(x), teacher(x)
    assert 0 < small < match.loss(torch.tensor(1.0)).item()


def test_only_the_student_gets_gradients_and_the_hooks_go_away() -> None:
    student, teacher = _net(), _net()
    with torch.no_grad():
        student[2].bias.add_(1.0)
    x = torch.randn(2, 3, 8, 8)
    match = FeatureMatch(student, teacher, ["2"], weight=1.0, scale=1.0)
    student(x)
    with torch.no_grad():
        teacher(x)
    match.loss(torch.tensor(1.0)).backward()
    assert student[2].weight.grad is not None and teacher[2].weight.grad is None
    match.close()
    assert not student[2]._forward_hooks and not teacher[2]._forward_hooks


def test_the_weight_is_relative_to_the_output_loss_on_the_first_step_then_fixed() -> None:
    student, teacher = _net(), _net()
    with torch.no_grad():
        student[0].weight.mul_(1.5)
    x = torch.randn(2, 3, 8, 8)
    match = FeatureMatch(student, teacher, ["0"], weight=0.5)
    student(x), teacher(x)
    first = match.loss(torch.tensor(0.004))
    assert first.item() == pytest.approx(0.5 * 0.004, rel=1e-5)  # weight x the output loss, whatever its scale
    scale = match.scale
    student(x), teacher(x)
    match.loss(torch.tensor(123.0))
    assert match.scale == scale


def test_layers_that_change_shape_or_do_not_exist_are_refused() -> None:
    student, teacher = _net(), _net()
    with pytest.raises(UserError, match="no layer 'head'"):
        FeatureMatch(student, teacher, ["head"], weight=1.0)
    teacher[0] = nn.Conv2d(3, 6, 3, padding=1)
    teacher[2] = nn.Conv2d(6, 4, 3, padding=1)
    match = FeatureMatch(student, teacher, ["0"], weight=1.0)
    x = torch.randn(1, 3, 8, 8)
    student(x), teacher(x)
    with pytest.raises(UserError, match="keep their shapes"):
        match.loss(torch.tensor(1.0))


def test_ghost_fine_tune_with_feature_distill_matches_the_replaced_layers(tiny_zoo_net: Artifact, tmp_path: Path) -> None:
    from edgepose.passes import apply_pass
    from edgepose.passes.base import RunContext
    from edgepose.passes.finetune import FinetuneConfig
    from tests.coco_files import write_coco

    torch.set_num_threads(1)
    data = write_coco(tmp_path / "coco", n_images=12)
    original = copy.deepcopy(tiny_zoo_net)
    records = {}
    for weight in (0.0, 1.0):
        ctx = RunContext(work_dir=tmp_path / f"w{weight}", train_data=data, progress=False)
        cfg = FinetuneConfig(epochs=1, max_steps_per_epoch=2, batch_size=4, workers=0, warmup_steps=0,
                             feature_distill=weight)  # fmt: skip
        apply_pass(tiny_zoo_net, "ghost", {"calib_images": 4, "finetune": cfg}, ctx)
        records[weight] = ctx.records
    replaced = len(records[1.0]["ghost"]["replaced"])
    assert records[1.0]["ghost_finetune"]["feature_distill"] == {"weight": 1.0, "layers": replaced} and replaced > 0
    assert records[0.0]["ghost_finetune"]["feature_distill"] is None
    # the same first step, and the feature term on top: the mean loss of the matched run is higher (curve[0] is
    # the start, scored before any step: it has no loss)
    matched, plain = (records[w]["ghost_finetune"]["curve"] for w in (1.0, 0.0))
    assert matched[0]["loss"] is None and plain[0]["loss"] is None
    assert matched[1]["loss"] > plain[1]["loss"]
    assert all(torch.equal(a, b) for a, b in zip(tiny_zoo_net.model.state_dict().values(),
                                                 original.model.state_dict().values(), strict=True))  # fmt: skip


def test_feature_distill_on_a_pass_that_reshapes_layers_says_it_is_unused(tiny_zoo_net: Artifact, tmp_path: Path) -> None:
    pytest.importorskip("torch_pruning")
    from edgepose.passes import apply_pass
    from edgepose.passes.base import RunContext
    from edgepose.passes.finetune import FinetuneConfig
    from tests.coco_files import write_coco

    torch.set_num_threads(1)
    messages: list[str] = []
    ctx = RunContext(work_dir=tmp_path / "w", train_data=write_coco(tmp_path / "coco", n_images=12), progress=False,
                     log=messages.append)  # fmt: skip
    cfg = FinetuneConfig(epochs=1, max_steps_per_epoch=1, batch_size=4, workers=0, warmup_steps=0, feature_distill=1.0)
    apply_pass(tiny_zoo_net, "prune", {"ratio": 0.5, "finetune": cfg}, ctx)
    assert any("feature_distill 1 unused: this pass keeps no layer shapes" in m for m in messages)
    assert ctx.records["prune"]["finetune"][0]["feature_distill"] is None
