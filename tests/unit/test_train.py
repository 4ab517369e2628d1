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
