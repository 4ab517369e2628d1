"""Build the model to train: a zoo architecture sized to the data's keypoint schema, or --init weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepose.artifact import Artifact, parse_input_size
from edgepose.console import info
from edgepose.errors import UserError


def parse_kwargs(pairs: list[str]) -> dict[str, Any]:
    """['width=0.5', 'depth=34'] -> {'width': 0.5, 'depth': 34} (numbers parsed, else strings)."""
    import yaml

    result: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--kw '{pair}' should look like key=value")
        key, value = pair.split("=", 1)
        result[key.strip()] = yaml.safe_load(value)
    return result


def build_for_training(arch: str, data: str | Path, kwargs: dict[str, Any], input_size: str | None,
                       init: str | None) -> Artifact:  # fmt: skip
    """A fresh `arch` with as many keypoints as the data has, optionally initialised from `init`."""
    from edgepose.data.coco import schema_from_annotations
    from edgepose.models import build_model, default_spec

    schema = schema_from_annotations(data)
    overrides: dict[str, Any] = {"schema": schema.name}
    if input_size:
        overrides["input_size"] = parse_input_size(input_size)
    if "input_size" in _builder_params(arch) and "input_size" in overrides:
        kwargs.setdefault("input_size", overrides["input_size"])
    model = build_model(arch, num_keypoints=schema.num_keypoints, **kwargs)
    spec = default_spec(arch, **overrides)
    kwargs = {"num_keypoints": schema.num_keypoints, **kwargs}
    artifact = Artifact(spec=spec, model=model, arch=arch, arch_kwargs=kwargs)
    if init:
        _init_from(artifact, init)
    return artifact


def _builder_params(arch: str) -> set[str]:
    import inspect

    from edgepose.models import MODELS

    return set(inspect.signature(MODELS.get(arch)).parameters)


def _init_from(artifact: Artifact, init: str) -> None:
    """Copy every tensor of `init` whose name and shape fit; say what was left at random init."""
    from edgepose.loading import load_artifact

    source = load_artifact(init)
    if source.history:
        raise UserError(f"--init {init} has structural history {[h['step'] for h in source.history]}; "
                        "fine-tune it through its own pass instead")  # fmt: skip
    model = artifact.require_torch("train")
    target = model.state_dict()
    loaded, skipped = 0, []
    for key, value in source.require_torch("train").state_dict().items():
        if key in target and target[key].shape == value.shape:
            target[key] = value
            loaded += 1
        else:
            skipped.append(key)
    if loaded == 0:
        raise UserError(f"--init {init}: no weights fit architecture {artifact.arch}")
    model.load_state_dict(target)
    left = [k for k in target if k not in source.model.state_dict() or k in skipped]
    info(f"initialised {loaded} tensors from {init}; {len(left)} left at random init"
         + (f" (e.g. {left[0]})" if left else ""))  # fmt: skip
    artifact.provenance["init"] = str(init)
