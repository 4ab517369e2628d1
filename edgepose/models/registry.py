"""The model zoo registry: name -> builder + the default ModelSpec and a one-line description."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from edgepose.artifact import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
from edgepose.errors import UserError
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
MAX_KEYPOINTS = 1024  # a head with more joints than this is a typo or a tampered file
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
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> Callable[[Builder], Builder]:
    """Register `builder(num_keypoints=..., **kwargs) -> nn.Module` under `name`.

    A builder whose layers depend on the input size (a flatten + FC head) takes `input_size=(h, w)`.
    """
    spec = ModelSpec(
        input_size=input_size, schema=schema, head=head, clip_length=clip_length, mean=mean, std=std
    )
    return MODELS.register(name, info=ZooInfo(kind, spec, description, paper))


def zoo_info(name: str) -> ZooInfo:
    return MODELS.entry(name).meta["info"]


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build architecture `name`; kwargs override its defaults (e.g. num_keypoints, width).

    `input_size=(h, w)` may always be given: it reaches builders that take it (size-dependent heads)
    and is dropped for the rest, whose layers do not depend on it (fully convolutional, pooled).
    """
    builder = MODELS.get(name)
    kwargs.setdefault("num_keypoints", get_schema(zoo_info(name).spec.schema).num_keypoints)
    if "input_size" in kwargs and not takes_input_size(name):
        kwargs.pop("input_size")
    count = kwargs["num_keypoints"]
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_KEYPOINTS:
        raise UserError(f"{name}: num_keypoints {count!r} must be a whole number from 1 to {MAX_KEYPOINTS}")
    try:
        return builder(**kwargs)
    except (TypeError, ValueError, RuntimeError, OverflowError, ZeroDivisionError) as exc:
        # kwargs come from users (--kw) and from checkpoint files: an unknown or impossible one is bad input
        shown = ", ".join(f"{k}={repr(v)[:40]}" for k, v in kwargs.items())
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot build {name} with {shown}: {reason}") from None


def takes_input_size(name: str) -> bool:
    """Whether architecture `name`'s layers depend on the input size (its builder takes input_size)."""
    params = inspect.signature(MODELS.get(name)).parameters
    return "input_size" in params


def default_spec(name: str, **overrides: Any) -> ModelSpec:
    return zoo_info(name).spec.with_changes(**overrides)
