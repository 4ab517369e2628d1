"""The one training loop on synthetic clips: a BiLSTM clip model and its per-frame twin learn, save and
reload, and validation reports the temporal metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgepose.artifact import Artifact
from edgepose.models import MODELS, build_model, default_spec, zoo_info
from edgepose.train import TrainConfig, train

TINY = {"width": 0.125, "hidden": 16, "proj": 32}
SIZE = (64, 48)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 8-frame synthetic clips (edgepose synth --sequences)."""
    from edgepose.data.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("clips")
    generate(out, SynthConfig(persons=16, sequences=True, frames=8, seed=9))
    return out / "annotations.json"


@pytest.mark.parametrize("arch", ["bipose-lite-bilstm", "bipose-lite-nolstm"])
def test_clip_model_and_twin_train_a_few_steps(arch: str, clips: Path, tmp_path: Path) -> None:
    from edgepose.loading import load_artifact

    torch.manual_seed(0)
    kwargs = {"num_keypoints": 17, **TINY}
    spec = default_spec(arch, input_size=SIZE)
    artifact = Artifact(spec=spec, model=build_model(arch, **kwargs), arch=arch, arch_kwargs=kwargs)
    cfg = TrainConfig(epochs=6, batch_size=2, lr=3e-3, warmup_steps=1, workers=0, val_every=3, clip_stride=4,
                      max_steps_per_epoch=2, threads=1)  # fmt: skip
    out = tmp_path / "model.pt"
    result = train(artifact, clips, clips, cfg, out_path=out, progress=False)
    losses = [r["loss"] for r in result.log]
    assert losses[-1] < 0.8 * losses[0], losses  # it learns (from the image-centre start)
    val = result.log[-1]["val"]
    assert val["temporal"]["jitter"] > 0 and "per_keypoint" not in val["temporal"]
    # a clip model sees windows of 4 frames, 2 per clip with stride 4; the twin sees every frame
    assert val["temporal"]["n_tracks"] == 2
    loaded = load_artifact(str(out))
    assert loaded.arch == arch and loaded.spec.clip_length == spec.clip_length
    with torch.no_grad():
        y = loaded.model(torch.zeros(loaded.spec.input_shape(1)))
    assert tuple(y.shape) == ((1, 4, 17, 2) if spec.clip_length else (1, 17, 2))
    assert not out.with_name("model.pt.state.pt").exists()


def test_twin_cnn_weights_load_into_the_clip_model() -> None:
    """Same layer names and shapes outside the temporal layer: --init moves the CNN across."""
    clip = build_model("bipose-lite-bilstm", **TINY).state_dict()
    frame = build_model("bipose-lite-nolstm", **TINY).state_dict()
    shared = {k for k in frame if k in clip and frame[k].shape == clip[k].shape}
    assert {k for k in frame if k.startswith(("backbone.", "proj.", "head."))} <= shared
    assert not any(k.startswith("lstm.") for k in frame) and any(k.startswith("frame_fc.") for k in frame)


TRAIN_RECIPES = sorted((Path(__file__).resolve().parents[2] / "edgepose" / "recipes" / "train").glob("*.yaml"))


def test_the_temporal_training_recipes_are_found() -> None:  # an empty glob would skip the test below silently
    names = {p.stem for p in TRAIN_RECIPES}
    assert {"synth-clips-bipose-lite-bilstm-from-twin", "synth-clips-darknet53-lite-bilstm",
            "synth-clips-bipose-lite-nolstm", "synth-clips-bipose-lite-nolstm-plus1"} <= names  # fmt: skip


@pytest.mark.parametrize("path", TRAIN_RECIPES, ids=[p.stem for p in TRAIN_RECIPES])
def test_training_recipes_load_and_name_a_zoo_architecture(path: Path) -> None:
    from edgepose.train_recipe import load_train_recipe

    recipe = load_train_recipe(path)
    assert recipe.name == path.stem and recipe.arch in MODELS.names()
    is_clip = bool(zoo_info(recipe.arch).spec.clip_length)
    assert recipe.train.clip_stride is None or is_clip, "clip_stride only means something for clip models"
    if is_clip:
        assert any(s.sequences for s in recipe.data.synth) or "posetrack" in recipe.data.train.lower()


def test_best_epoch_metric_must_be_higher_is_better(clips: Path) -> None:
    from edgepose.errors import UserError

    arch = "bipose-lite-nolstm"
    artifact = Artifact(spec=default_spec(arch, input_size=SIZE), model=build_model(arch, **TINY), arch=arch)
    with pytest.raises(UserError, match="mpjpe_px"):
        train(artifact, clips, clips, TrainConfig(epochs=1, workers=0, select_metric="mpjpe_px"), progress=False)
