"""The contract every registered pass keeps (DESIGN.md, "A pass"), checked for each entry of the registry:
its config validates and refuses unknown keys, it leaves its input unchanged, it produces what it declares,
it records its measurements, and its result round-trips through a file (a checkpoint replays its history)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgepose.checkpoint import save_checkpoint
from edgepose.errors import UserError
from edgepose.loading import load_artifact
from edgepose.passes import PASSES, RunContext, apply_pass, make_config
from edgepose.runtimes import make_feeds, open_session
from tests.coco_files import write_coco

# Small settings so every pass runs in seconds on the tiny zoo net; a new pass runs with its defaults.
FAST_OPTIONS = {
    "prune": {"ratio": 0.3},
    "ghost": {"calib_images": 2},
    "subpixel": {},
    "quantize": {"calib_images": 4},
    "finetune": {"epochs": 1, "max_steps_per_epoch": 2, "batch_size": 4, "workers": 0, "warmup_steps": 0},
}


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_coco(tmp_path_factory.mktemp("contract-data"), n_images=6)


@pytest.mark.parametrize("name", PASSES.names())
def test_config_validates_defaults_and_refuses_unknown_keys(name: str) -> None:
    info = PASSES.get(name)
    assert make_config(name, None) == info.config()
    with pytest.raises(UserError, match="unknown key 'no_such_option'"):
        make_config(name, {"no_such_option": 1})
    assert info.accepts and info.produces and info.description


@pytest.mark.parametrize("name", PASSES.names())
def test_pass_keeps_its_input_records_its_metrics_and_round_trips(name: str, tiny_zoo_net, coco: Path,  # noqa: ANN001
                                                                  tmp_path: Path) -> None:  # fmt: skip
    before = {k: v.clone() for k, v in tiny_zoo_net.model.state_dict().items()}
    history_before = list(tiny_zoo_net.history)
    ctx = RunContext(work_dir=tmp_path / "work", train_data=coco, val_data=coco, calib_data=coco, threads=1,
                     progress=False)  # fmt: skip
    result = apply_pass(tiny_zoo_net, name, FAST_OPTIONS.get(name, {}), ctx)

    after = tiny_zoo_net.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before), "input changed"
    assert tiny_zoo_net.history == history_before
    assert result.format in PASSES.get(name).produces
    assert ctx.records.get(name), f"pass {name} recorded nothing in ctx.records['{name}']"

    feeds = make_feeds(result.spec, batch=2, seed=3)
    expected = _outputs(open_session(result, None, threads=1), feeds)
    if result.format == "torch":
        path = save_checkpoint(result, tmp_path / "out.pt")
        reloaded = load_artifact(path)
        assert reloaded.history == result.history
    else:
        reloaded = load_artifact(result.path)
        assert reloaded.format == result.format
    assert reloaded.spec == result.spec
    got = _outputs(open_session(reloaded, None, threads=1), feeds)
    scale = float(np.abs(expected).max()) + 1e-6
    assert np.abs(got - expected).max() <= 1e-5 * scale, "the reloaded artifact computes something else"


def _outputs(session, feeds: dict[str, np.ndarray]) -> np.ndarray:  # noqa: ANN001
    return np.asarray(next(iter(session.run(feeds).values())), dtype=np.float64)
