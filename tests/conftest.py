"""Shared fixtures: tiny pose nets that pass, runtime, exporter and CLI tests can use on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from edgepose.artifact import Artifact

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY_FACTORY = f"{FIXTURES / 'user_model.py'}:build"
TINY_INPUT_SIZE = (64, 48)
TINY_ZOO_ARCH = "simplebaseline-lite"
TINY_ZOO_KWARGS = {"width": 0.25, "deconv_channels": 32}
TINY_ZOO_INPUT_SIZE = (64, 64)  # ResNet + 3 deconvs give exactly H/4 x W/4 only for multiples of 32


@pytest.fixture
def tiny_pose_net() -> Artifact:
    """A 3-conv + BN heatmap net (tests/fixtures/user_model.py) as a torch Artifact: 64x48 COCO-17.

    Output (1, 17, 16, 12). Seeded, so every test gets the same weights; a fresh copy per test, so
    passes may change it. It is a user-factory model: reload a saved copy with model_factory=TINY_FACTORY.
    """
    import torch

    from edgepose.loading import LoadOptions, load_artifact

    torch.manual_seed(0)
    h, w = TINY_INPUT_SIZE
    options = LoadOptions(model_factory=TINY_FACTORY, input_size=f"{h}x{w}", schema="coco17")
    return load_artifact(None, options)


@pytest.fixture
def tiny_zoo_net() -> Artifact:
    """simplebaseline-lite at quarter width (residual blocks, deconvs; ~0.8M params), 64x64 COCO-17.

    Output (1, 17, 16, 16). A zoo architecture, so `arch` + `arch_kwargs` rebuild it from a checkpoint.
    """
    import torch

    from edgepose.artifact import Artifact
    from edgepose.models import build_model, default_spec

    torch.manual_seed(0)
    model = build_model(TINY_ZOO_ARCH, **TINY_ZOO_KWARGS).eval()
    return Artifact(
        spec=default_spec(TINY_ZOO_ARCH, input_size=TINY_ZOO_INPUT_SIZE), model=model, arch=TINY_ZOO_ARCH,
        arch_kwargs=dict(TINY_ZOO_KWARGS), provenance={"source": "tests/conftest.py:tiny_zoo_net"},
    )  # fmt: skip
