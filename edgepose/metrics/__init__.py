"""Metrics, in numpy, outside the network: one path scores every runtime (DESIGN.md).

The decode (heatmaps, regression, flip helpers) lives in edgepose.deploy.decode, re-exported here.
coco_eval: OKS AP through pycocotools COCOeval. pck: PCK, PCKh, MPJPE, visible-joint F1.
scoring: score_predictions(pred, gt) -> the eval "metrics" dict.
"""

from edgepose.deploy.decode import (
    decode_heatmaps,
    decode_regression,
    flip_back,
    flip_back_regression,
    to_image_coords,
)
from edgepose.metrics.scoring import score_predictions

__all__ = [
    "decode_heatmaps", "decode_regression", "flip_back", "flip_back_regression", "score_predictions",
    "to_image_coords",
]  # fmt: skip
