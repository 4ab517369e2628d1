"""Imports every architecture module so that each registers itself in MODELS."""

from edgepose.models import (  # noqa: F401
    alexnet,
    bipose,
    darknet,
    deeppose,
    resnet_regression,
    simplebaseline,
    yolo,
)
