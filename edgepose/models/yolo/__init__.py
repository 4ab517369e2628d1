"""Single-stage multi-person YOLO-pose networks (YOLOv8 / YOLO11 / Ghost), Ultralytics-compatible.

Importing this package registers the `yolopose-*` architectures in the zoo.
"""

from edgepose.models.yolo import entries as _entries  # noqa: F401  (registers the architectures)
from edgepose.models.yolo import prunable as _prunable  # noqa: F401  (registers the "yolo-split-c2f" replay)
from edgepose.models.yolo.builder import YoloPoseNet, parse_layers
from edgepose.models.yolo.configs import FAMILIES, family_config

__all__ = ["FAMILIES", "YoloPoseNet", "family_config", "parse_layers"]
