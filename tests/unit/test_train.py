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
