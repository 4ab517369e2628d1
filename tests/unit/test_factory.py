"""User architectures through --model-factory (file path or module path)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgepose.checkpoint import save_checkpoint
from edgepose.errors import UserError
from edgepose.loading import LoadOptions, load_artifact

FACTORY_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "user_model.py"


def test_factory_from_file_infers_heatmap_head_and_defaults() -> None:
    artifact = load_artifact(None, LoadOptions(model_factory=f"{FACTORY_FILE}:build", input_size="64x48"))
    assert artifact.arch == "factory" and artifact.spec.head == "heatmap"
    assert artifact.spec.input_size == (64, 48) and artifact.spec.schema == "coco17"


def test_factory_may_return_its_own_spec() -> None:
    artifact = load_artifact(None, LoadOptions(model_factory=f"{FACTORY_FILE}:build_with_spec"))
    assert artifact.spec.schema == "lsp14" and artifact.spec.input_size == (64, 64)


def test_factory_with_weights_and_checkpoint_reload(tmp_path: Path) -> None:
    ref = f"{FACTORY_FILE}:build"
    artifact = load_artifact(None, LoadOptions(model_factory=ref, input_size="64x48"))
    weights = tmp_path / "w.pt"
    torch.save(artifact.model.state_dict(), weights)
    with_weights = load_artifact(weights, LoadOptions(model_factory=ref, input_size="64x48"))
    ckpt = save_checkpoint(with_weights, tmp_path / "user.pt")
    with pytest.raises(UserError, match="--model-factory"):
        load_artifact(ckpt)  # never imports code named inside a checkpoint by itself
    again = load_artifact(ckpt, LoadOptions(model_factory=ref))
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(again.model(x), artifact.model.eval()(x))


@pytest.mark.parametrize(
    "ref, message",
    [
        ("no_colon_here", "should look like"),
        ("missing_file.py:build", "not found"),
        (f"{FACTORY_FILE}:nope", "is not a function"),
        ("edgepose_no_such_module:build", "cannot import"),
    ],
)
def test_bad_factory_refs_are_user_errors(ref: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_artifact(None, LoadOptions(model_factory=ref))
