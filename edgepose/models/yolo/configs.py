"""Layer lists of the yolopose families, as plain data in Ultralytics' yaml layout.

Each row is [from, repeats, module, args]; `scales` maps a scale letter to [depth, width, max_channels].
The YOLOv8-pose and YOLO11-pose lists are Ultralytics' (yolov8-pose.yaml, yolo11-pose.yaml, AGPL-3.0
architecture descriptions, reproduced as data); the Ghost list is the drone paper's variant
(shared/references/003): Ghost modules in place of the heavy convs and C2f blocks, and Ghost
bottlenecks with a stride-2 depthwise conv between the Ghost pair where the backbone downsamples.
"""

from __future__ import annotations

import copy
from typing import Any

_V8_SCALES = {"n": [0.33, 0.25, 1024], "s": [0.33, 0.50, 1024], "m": [0.67, 0.75, 768]}
_11_SCALES = {"n": [0.50, 0.25, 1024], "s": [0.50, 0.50, 1024], "m": [0.50, 1.00, 512]}

_POSE = [[15, 18, 21], 1, "Pose", ["nc", "kpt_shape"]]

YOLOV8_POSE: dict[str, Any] = {
    "nc": 1,
    "kpt_shape": [17, 3],
    "scales": _V8_SCALES,
    "backbone": [
        [-1, 1, "Conv", [64, 3, 2]],  # 0-P1/2
        [-1, 1, "Conv", [128, 3, 2]],  # 1-P2/4
        [-1, 3, "C2f", [128, True]],
        [-1, 1, "Conv", [256, 3, 2]],  # 3-P3/8
        [-1, 6, "C2f", [256, True]],
        [-1, 1, "Conv", [512, 3, 2]],  # 5-P4/16
        [-1, 6, "C2f", [512, True]],
        [-1, 1, "Conv", [1024, 3, 2]],  # 7-P5/32
        [-1, 3, "C2f", [1024, True]],
        [-1, 1, "SPPF", [1024, 5]],  # 9
    ],
    "head": [
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 6], 1, "Concat", [1]],
        [-1, 3, "C2f", [512]],  # 12
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 4], 1, "Concat", [1]],
        [-1, 3, "C2f", [256]],  # 15 (P3/8)
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 12], 1, "Concat", [1]],
        [-1, 3, "C2f", [512]],  # 18 (P4/16)
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 9], 1, "Concat", [1]],
        [-1, 3, "C2f", [1024]],  # 21 (P5/32)
        _POSE,
    ],
}

YOLO11_POSE: dict[str, Any] = {
    "nc": 1,
    "kpt_shape": [17, 3],
    "scales": _11_SCALES,
    "backbone": [
        [-1, 1, "Conv", [64, 3, 2]],  # 0-P1/2
        [-1, 1, "Conv", [128, 3, 2]],  # 1-P2/4
        [-1, 2, "C3k2", [256, False, 0.25]],
        [-1, 1, "Conv", [256, 3, 2]],  # 3-P3/8
        [-1, 2, "C3k2", [512, False, 0.25]],
        [-1, 1, "Conv", [512, 3, 2]],  # 5-P4/16
        [-1, 2, "C3k2", [512, True]],
        [-1, 1, "Conv", [1024, 3, 2]],  # 7-P5/32
        [-1, 2, "C3k2", [1024, True]],
        [-1, 1, "SPPF", [1024, 5]],  # 9
        [-1, 2, "C2PSA", [1024]],  # 10
    ],
    "head": [
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 6], 1, "Concat", [1]],
        [-1, 2, "C3k2", [512, False]],  # 13
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 4], 1, "Concat", [1]],
        [-1, 2, "C3k2", [256, False]],  # 16 (P3/8)
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 13], 1, "Concat", [1]],
        [-1, 2, "C3k2", [512, False]],  # 19 (P4/16)
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 10], 1, "Concat", [1]],
        [-1, 2, "C3k2", [1024, True]],  # 22 (P5/32)
        [[16, 19, 22], 1, "Pose", ["nc", "kpt_shape"]],
    ],
}

GHOST_POSE: dict[str, Any] = {
    "nc": 1,
    "kpt_shape": [17, 3],
    "scales": {"n": [0.33, 0.25, 1024]},
    "backbone": [
        [-1, 1, "Conv", [64, 3, 2]],  # 0-P1/2: a plain conv on the 3-channel image (a Ghost half would be 1.5 ch)
        [-1, 1, "GhostConv", [128, 3, 2]],  # 1-P2/4
        [-1, 3, "C3Ghost", [128, True]],
        [-1, 1, "GhostBottleneck", [256, 3, 2]],  # 3-P3/8: Ghost, stride-2 depthwise, Ghost (+ shortcut)
        [-1, 6, "C3Ghost", [256, True]],
        [-1, 1, "GhostBottleneck", [512, 3, 2]],  # 5-P4/16
        [-1, 6, "C3Ghost", [512, True]],
        [-1, 1, "GhostBottleneck", [1024, 3, 2]],  # 7-P5/32
        [-1, 3, "C3Ghost", [1024, True]],
        [-1, 1, "SPPF", [1024, 5]],  # 9
    ],
    "head": [
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 6], 1, "Concat", [1]],
        [-1, 3, "C3Ghost", [512]],  # 12
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 4], 1, "Concat", [1]],
        [-1, 3, "C3Ghost", [256]],  # 15 (P3/8)
        [-1, 1, "GhostConv", [256, 3, 2]],
        [[-1, 12], 1, "Concat", [1]],
        [-1, 3, "C3Ghost", [512]],  # 18 (P4/16)
        [-1, 1, "GhostConv", [512, 3, 2]],
        [[-1, 9], 1, "Concat", [1]],
        [-1, 3, "C3Ghost", [1024]],  # 21 (P5/32)
        _POSE,
    ],
}

FAMILIES: dict[str, dict[str, Any]] = {"v8": YOLOV8_POSE, "11": YOLO11_POSE, "ghost": GHOST_POSE}


def family_config(family: str, scale: str) -> dict[str, Any]:
    """A fresh copy of `family`'s layer list at `scale` (the copy may be edited freely)."""
    cfg = copy.deepcopy(FAMILIES[family])
    if scale not in cfg["scales"]:
        raise KeyError(f"yolopose family {family} has no scale {scale}")
    cfg["scale"] = scale
    return cfg
