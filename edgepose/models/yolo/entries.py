"""Registered yolopose architectures: YOLOv8-pose and YOLO11-pose at n/s/m, and the Ghost variant.

Every builder takes `cfg` (an Ultralytics-style layer list, e.g. an imported checkpoint's own) in
place of the family's, so an imported network is rebuilt exactly; `width` scales channels further.
"""

from __future__ import annotations

from typing import Any

from edgepose.models.registry import register_model
from edgepose.models.yolo.builder import YoloPoseNet
from edgepose.models.yolo.configs import family_config

YOLO_INPUT_SIZE = (640, 640)
_MEAN, _STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # Ultralytics feeds RGB / 255, no normalisation
_V8_PAPER = "Maji et al., YOLO-Pose, CVPR-W 2022; Jocher et al., Ultralytics YOLOv8 (2023)"
_11_PAPER = "Maji et al., YOLO-Pose, CVPR-W 2022; Jocher & Qiu, Ultralytics YOLO11 (2024)"
_GHOST_PAPER = "shared/references/003 (YOLOv8n-pose + GhostNet modules for UAVs); Han et al., GhostNet, CVPR 2020"


def build_yolopose(family: str, scale: str, num_keypoints: int = 17, width: float = 1.0,
                   cfg: dict[str, Any] | None = None, nc: int | None = None) -> YoloPoseNet:  # fmt: skip
    """The `family` network at `scale`, or the given layer list `cfg`, with K = num_keypoints."""
    layers = family_config(family, scale) if cfg is None else dict(cfg)
    layers["kpt_shape"] = [int(num_keypoints), int((layers.get("kpt_shape") or [17, 3])[1])]
    if nc is not None:
        layers["nc"] = int(nc)
    return YoloPoseNet(layers, width=width)


def _register(family: str, scale: str, description: str, paper: str) -> None:
    name = f"yolopose-{family}{'-' if family == 'ghost' else ''}{scale}"

    def builder(num_keypoints: int = 17, width: float = 1.0, cfg: dict[str, Any] | None = None,
                nc: int | None = None) -> YoloPoseNet:  # fmt: skip
        return build_yolopose(family, scale, num_keypoints, width, cfg, nc)

    builder.__name__ = name.replace("-", "_")
    register_model(
        name, kind="multi-person", input_size=YOLO_INPUT_SIZE, schema="coco17", head="yolo",
        description=description, paper=paper, mean=_MEAN, std=_STD,
    )(builder)  # fmt: skip


_SIZES = {"n": "nano", "s": "small", "m": "medium"}
for _scale in ("n", "s", "m"):
    _register("v8", _scale, f"YOLOv8{_scale}-pose ({_SIZES[_scale]}): C2f + SPPF + PAN, anchor-free pose head", _V8_PAPER)
for _scale in ("n", "s", "m"):
    _register("11", _scale, f"YOLO11{_scale}-pose ({_SIZES[_scale]}): C3k2 + SPPF + C2PSA + PAN, DW cls branch",
              _11_PAPER)  # fmt: skip
_register("ghost", "n", "YOLOv8n-pose with Ghost modules and Ghost bottlenecks (stride-2 DW between the pair)",
          _GHOST_PAPER)  # fmt: skip
