"""One person's pose as every edgepose front end returns it (predict, the Python API, the device runner)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

INSTANCE_SCORE_THRESHOLD = 0.2  # keypoints below this score do not count toward the instance score


def instance_scores(
    keypoint_scores: np.ndarray, threshold: float = INSTANCE_SCORE_THRESHOLD, box_scores: np.ndarray | None = None
) -> np.ndarray:
    """(N, K) keypoint scores -> (N,) box score x mean of the scores above `threshold` (0 if none)."""
    s = np.asarray(keypoint_scores, dtype=np.float64)
    above = s > threshold
    count = above.sum(axis=1)
    mean = np.where(count > 0, (s * above).sum(axis=1) / np.maximum(count, 1), 0.0)
    boxes = np.ones(len(s)) if box_scores is None else np.asarray(box_scores, dtype=np.float64)
    return mean * boxes


@dataclass
class Pose:
    """keypoints (K, 3): x, y in image pixels and a score; box (4,) xyxy image pixels; score of the person;
    track_id across video frames (None without tracking); names of the K keypoints."""

    keypoints: np.ndarray
    box: np.ndarray
    score: float
    names: tuple[str, ...]
    track_id: int | None = None
    box_score: float | None = None  # the detector's (or boxes file's) score of the box, when one gave it

    @property
    def box_xywh(self) -> list[float]:
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return [x1, y1, x2 - x1, y2 - y1]

    def keypoint(self, name: str) -> np.ndarray:
        """(3,) x, y, score of the keypoint called `name`."""
        return self.keypoints[self.names.index(name)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "keypoints": [float(v) for v in np.asarray(self.keypoints, dtype=np.float64).reshape(-1)],
            "bbox": self.box_xywh, "score": float(self.score), "track_id": self.track_id,
            "keypoint_names": list(self.names),
        }  # fmt: skip
