"""The edgepose checkpoint format: round trip, safe loading, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgepose.artifact import Artifact, ModelSpec
from edgepose.checkpoint import read_checkpoint_file, save_checkpoint
from edgepose.errors import UserError
from edgepose.loading import LoadOptions, load_artifact
from edgepose.models import build_model, default_spec

ARCH = "simplebaseline-lite"
SPEC = ModelSpec(input_size=(64, 48), schema="coco17", head="heatmap")


def _saved(tmp_path: Path) -> tuple[Artifact, Path]:
    torch.manual_seed(0)
    model = build_model(ARCH, width=0.25, deconv_channels=16)
    artifact = Artifact(spec=SPEC, model=model, arch=ARCH, arch_kwargs={"width": 0.25, "deconv_channels": 16})
    path = save_checkpoint(artifact, tmp_path / "m.pt", dataset="unit-test")
    return artifact, path


def test_round_trip_restores_weights_spec_and_provenance(tmp_path: Path) -> None:
    original, path = _saved(tmp_path)
    loaded = load_artifact(path)
    assert loaded.arch == ARCH and loaded.spec == SPEC and loaded.history == []
    assert loaded.provenance["dataset"] == "unit-test" and "created" in loaded.provenance
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(original.model.eval()(x), loaded.model(x))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    _saved(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_checkpoint_holds_only_weights_only_types(tmp_path: Path) -> None:
    _, path = _saved(tmp_path)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "edgepose-checkpoint" and raw["spec"]["input_size"] == [64, 48]


def test_pickled_whole_model_is_refused_without_trust(tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(build_model(ARCH, width=0.25, deconv_channels=16), path)
    with pytest.raises(UserError, match="arbitrary code"):
        load_artifact(path)
    trusted = load_artifact(path, LoadOptions(trust_checkpoint=True, input_size="64x48"))
    assert trusted.spec.head == "heatmap" and trusted.model is not None


def test_truncated_file_is_one_clear_error(tmp_path: Path) -> None:
    _, path = _saved(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        read_checkpoint_file(cut)


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", b"\x80\x04K\x01."])
def test_non_checkpoint_files_raise_user_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(UserError):
        load_artifact(path)


def test_bare_state_dict_needs_arch_and_must_fit(tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(build_model(ARCH).state_dict(), path)
    with pytest.raises(UserError, match="--arch"):
        load_artifact(path)
    loaded = load_artifact(path, LoadOptions(arch=ARCH))
    assert loaded.spec == default_spec(ARCH)
    with pytest.raises(UserError, match="do not fit architecture simplebaseline-resnet18"):
        load_artifact(path, LoadOptions(arch="simplebaseline-resnet18"))


def test_unknown_arch_suggests_the_closest_name(tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(build_model(ARCH).state_dict(), path)
    with pytest.raises(UserError, match="did you mean 'simplebaseline-lite'"):
        load_artifact(path, LoadOptions(arch="simplebaseline-lit"))


def test_unreplayable_history_is_refused(tmp_path: Path) -> None:
    _, path = _saved(tmp_path)
    raw = torch.load(path, weights_only=True)
    raw["history"] = [{"step": "teleport"}]
    torch.save(raw, path)
    with pytest.raises(UserError, match="cannot replay"):
        load_artifact(path)
