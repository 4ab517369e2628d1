"""Tracking people across video frames with Roboflow's ByteTrack (`trackers.ByteTrackTracker`), not our own.

ByteTrack associates the boxes frame to frame (Kalman prediction + IoU, high-confidence boxes first, then the
low-confidence ones to revive occluded tracks); the track id it gives a box becomes that pose's `track_id`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepose.deploy.pose import Pose
from edgepose.errors import MissingDependency

TRACKERS_HINT = "pip install trackers --no-deps (it asks for opencv-python, which clashes with opencv-python-headless)"


class PoseTracker:
    """Gives each pose of a frame a track id; one tracker per video (`reset` between sources)."""

    def __init__(self, fps: float = 30.0, activation_score: float = 0.5, high_score: float = 0.5,
                 lost_frames: int = 30, min_iou: float = 0.1):  # fmt: skip
        try:
            from trackers import ByteTrackTracker
        except ImportError:
            raise MissingDependency("trackers (Roboflow's ByteTrack)", hint=TRACKERS_HINT) from None
        self._make = lambda: ByteTrackTracker(
            lost_track_buffer=lost_frames, frame_rate=fps, track_activation_threshold=activation_score,
            minimum_consecutive_frames=1, minimum_iou_threshold=min_iou, high_conf_det_threshold=high_score,
        )  # fmt: skip
        self._tracker: Any = self._make()

    def reset(self) -> None:
        self._tracker = self._make()

    def update(self, poses: list[Pose]) -> list[Pose]:
        """Set `track_id` on the poses ByteTrack tracks (None on those it leaves untracked); returns `poses`."""
        import supervision as sv

        if poses:
            boxes = np.stack([np.asarray(p.box, dtype=np.float32) for p in poses])
            scores = np.asarray([p.box_score if p.box_score is not None else p.score for p in poses], dtype=np.float32)
            detections = sv.Detections(xyxy=boxes, confidence=scores, data={"index": np.arange(len(poses))})
        else:
            detections = sv.Detections.empty()
        tracked = self._tracker.update(detections)
        for pose in poses:
            pose.track_id = None
        if len(tracked):
            for index, track in zip(tracked.data["index"], tracked.tracker_id, strict=True):
                poses[int(index)].track_id = int(track) if int(track) >= 0 else None
        return poses
