"""The model zoo. Importing this package registers every architecture."""

from edgepose.models import zoo as _zoo  # noqa: F401,E402  (registers the architectures)
from edgepose.models.registry import (
    MODELS,
    build_model,
    default_spec,
    register_model,
    takes_input_size,
    zoo_info,
)

__all__ = ["MODELS", "build_model", "default_spec", "register_model", "takes_input_size", "zoo_info"]
