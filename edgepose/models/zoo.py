"""Imports every architecture module so that each registers itself in MODELS."""

from edgepose.models import simplebaseline  # noqa: F401
