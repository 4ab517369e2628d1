"""The training loop refuses to go on (or write a checkpoint) once the loss is no longer finite."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepose.errors import UserError
from tests.coco_files import write_coco


def test_a_diverging_run_stops_naming_the_epoch_and_writes_nothing(tiny_zoo_net, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import edgepose.train as training
    from edgepose.train import TrainConfig, train

    ann = write_coco(tmp_path / "data", n_images=2)
    real = training._loss_fn(tiny_zoo_net.spec)
    monkeypatch.setattr(training, "_loss_fn", lambda spec: lambda *a, **k: real(*a, **k) * float("inf"))
    out = tmp_path / "t.pt"
    cfg = TrainConfig(epochs=2, batch_size=2, lr=1e-3, workers=0, seed=0)
    with pytest.raises(UserError, match=r"training diverged: the loss became (inf|nan) in epoch 1"):
        train(tiny_zoo_net, ann, None, cfg, out_path=out, progress=False)
    assert not out.exists()


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_batchnorm_statistics_stay_while_the_weights_learn(tiny_zoo_net, tmp_path: Path, frozen: bool) -> None:  # noqa: ANN001
    import torch

    from edgepose.train import TrainConfig, train

    ann = write_coco(tmp_path / "data", n_images=2)
    bns = [m for m in tiny_zoo_net.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    before = [(bn.running_mean.clone(), bn.weight.detach().clone()) for bn in bns]
    cfg = TrainConfig(epochs=1, batch_size=2, lr=1e-2, workers=0, seed=0, warmup_steps=0, freeze_bn_stats=frozen)
    train(tiny_zoo_net, ann, None, cfg, progress=False)
    stats_kept = all(torch.equal(bn.running_mean, mean) for bn, (mean, _) in zip(bns, before, strict=True))
    weights_moved = any(not torch.equal(bn.weight, weight) for bn, (_, weight) in zip(bns, before, strict=True))
    assert stats_kept is frozen
    assert weights_moved


class _ScriptedValidator:
    """A label-free-style validator whose scores are given in advance: the start, then one per epoch."""

    metric = "teacher_oks"

    def __init__(self, scores: list[float]) -> None:
        self.scores = list(scores)

    def score(self, model) -> dict[str, float]:  # noqa: ANN001
        return {self.metric: self.scores.pop(0)}


@pytest.mark.parametrize(("scores", "stop_at", "best_epoch", "epochs_run"), [
    ([90.0, 50.0, 60.0], None, 0, 2),  # training only made it worse: the starting weights come back
    ([50.0, 60.0, 55.0], None, 1, 2),  # an epoch beat the start: its weights
    ([99.0], 98.0, 0, 0),  # the start already meets the budget: no training at all
])  # fmt: skip
def test_validate_start_keeps_the_starting_weights_unless_an_epoch_beats_them(
    tiny_zoo_net, tmp_path: Path, scores: list[float], stop_at: float | None, best_epoch: int, epochs_run: int,  # noqa: ANN001
) -> None:  # fmt: skip
    import torch

    from edgepose.train import TrainConfig, train

    ann = write_coco(tmp_path / "data", n_images=2)
    start = {k: v.clone() for k, v in tiny_zoo_net.model.state_dict().items()}
    cfg = TrainConfig(epochs=2, batch_size=2, lr=1e-2, workers=0, seed=0, warmup_steps=0, validate_start=True,
                      stop_at=stop_at)  # fmt: skip
    result = train(tiny_zoo_net, ann, _ScriptedValidator(scores), cfg, out_path=tmp_path / "t.pt", progress=False)
    assert (result.best_epoch, result.epochs_run) == (best_epoch, epochs_run)
    assert [r["epoch"] for r in result.log] == list(range(epochs_run + 1))
    assert result.stopped_early is (epochs_run == 0)
    kept = all(torch.equal(v, start[k]) for k, v in tiny_zoo_net.model.state_dict().items())
    assert kept is (best_epoch == 0)
    assert (tmp_path / "t.pt").exists()


def test_only_the_trainable_layers_move_and_what_it_froze_learns_again_afterwards(tiny_zoo_net, tmp_path: Path) -> None:  # noqa: ANN001
    """What was frozen before training (by the caller) stays frozen; what `trainable` froze learns again."""
    import torch

    from edgepose.train import TrainConfig, train

    ann = write_coco(tmp_path / "data", n_images=2)
    convs = [n for n, m in tiny_zoo_net.model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    chosen = convs[-1]
    before = {k: v.clone() for k, v in tiny_zoo_net.model.named_parameters()}
    held = tiny_zoo_net.model.get_submodule(convs[0]).weight
    held.requires_grad_(False)
    cfg = TrainConfig(epochs=1, batch_size=2, lr=1e-2, workers=0, seed=0, warmup_steps=0, trainable=(chosen,))
    train(tiny_zoo_net, ann, None, cfg, progress=False)
    moved = {k for k, v in tiny_zoo_net.model.named_parameters() if not torch.equal(v, before[k])}
    assert moved and all(k.rpartition(".")[0] == chosen for k in moved)
    assert not held.requires_grad
    assert all(p.requires_grad for p in tiny_zoo_net.model.parameters() if p is not held)
    with pytest.raises(UserError, match="no such layer to train"):
        train(tiny_zoo_net, ann, None, TrainConfig(epochs=1, batch_size=2, workers=0, trainable=("nope",)), progress=False)
