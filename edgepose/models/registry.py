"""The model zoo registry: name -> builder + the default ModelSpec and a one-line description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from edgepose.artifact import ModelSpec
from edgepose.registry import Registry
from edgepose.schemas import get_schema


@dataclass(frozen=True)
class ZooInfo:
    """What the zoo says about an architecture before it is built."""

    kind: str  # heatmap | regression | temporal | multi-person
    spec: ModelSpec
    description: str
    paper: str = ""


Builder = Callable[..., nn.Module]
MODELS: Registry[Builder] = Registry("architecture")


def register_model(
    name: str,
    *,
    kind: str,
    input_size: tuple[int, int],
    schema: str,
    head: str,
    description: str,
    paper: str = "",
    clip_length: int | None = None,
) -> Callable[[Builder], Builder]:
    """Register `builder(num_keypoints=..., **kwargs) -> nn.Module` under `name`."""
    spec = ModelSpec(input_size=input_size, schema=schema, head=head, clip_length=clip_length)
    return MODELS.register(name, info=ZooInfo(kind, spec, description, paper))


def zoo_info(name: str) -> ZooInfo:
    return MODELS.entry(name).meta["info"]


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build architecture `name`; kwargs override its defaults (e.g. num_keypoints, width)."""
    builder = MODELS.get(name)
    kwargs.setdefault("num_keypoints", get_schema(zoo_info(name).spec.schema).num_keypoints)
    return builder(**kwargs)


def default_spec(name: str, **overrides: Any) -> ModelSpec:
    return zoo_info(name).spec.with_changes(**overrides)
