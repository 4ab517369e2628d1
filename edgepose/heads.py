"""The three head types and how each shows in a model's outputs: decided here, and only here.

heatmap:    output `heatmaps`  (B, K, H/stride, W/stride)
regression: output `keypoints` (B, K, 2|3) in [0, 1] of the input; clips (B, T, K, 2|3)
yolo:       output `raw`       (B, 4 + 1 + 3K, anchors), whole-image multi-person (boxes + keypoints)

A model's head is its ModelSpec's `head`. Only a file that carries no spec has it inferred, from the shape of
its first output (`head_from_shape`); runtimes key outputs by these names, so `head_output` finds the one
to decode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

HEAD_TYPES = ("heatmap", "regression", "yolo")
OUTPUT_NAMES = {"heatmap": "heatmaps", "regression": "keypoints", "yolo": "raw"}


def output_name(head: str) -> str:
    """The ONNX / runtime output name of a head type."""
    return OUTPUT_NAMES[head]


def head_from_shape(shape: Sequence[Any]) -> str | None:
    """'heatmap' for (B, K, h, w) maps, 'regression' for (B, K, 2|3) or clip (B, T, K, 2|3) coordinates.

    Dimensions may be symbolic (strings) in a file's declared shapes; None when the shape says neither.
    YOLO outputs are never inferred: such a file must carry its spec.
    """
    last = shape[-1] if len(shape) else None
    last = int(last) if isinstance(last, int) else None
    if len(shape) == 3 and last in (2, 3):
        return "regression"
    if len(shape) == 4 and last in (2, 3):
        return "regression"  # a clip model's (B, T, K, 2|3)
    if len(shape) == 4:
        return "heatmap"
    return None


def head_output(outputs: Mapping[str, Any], head: str) -> Any:
    """The output to decode for `head`: the one of its name, else the first (a foreign file's own names)."""
    name = OUTPUT_NAMES[head]
    if name in outputs:
        return outputs[name]
    return next(iter(outputs.values()))
