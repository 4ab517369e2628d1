"""The Python API: `edgepose.Predictor(path, runtime=...)` and `edgepose.predict(...)`, the same pipeline as the
`edgepose predict` command (edgepose.deploy.model.PoseModel over an edgepose.runtimes session).

    import edgepose
    predictor = edgepose.Predictor("model_int8.xml")            # any .pt / .onnx / .xml / .engine
    for pose in predictor.predict("photo.jpg"):                 # a path, or an RGB uint8 array
        pose.keypoints, pose.box, pose.score, pose.names        # (K, 3) x, y, score; xyxy; float; names
    poses = edgepose.predict("model.pt", "photo.jpg", boxes=[[x, y, w, h]])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgepose.deploy.config import ModelConfig
from edgepose.deploy.crop import clip_boxes
from edgepose.deploy.images import bgr_to_rgb, read_image_rgb
from edgepose.deploy.model import PoseModel
from edgepose.deploy.pose import Pose
from edgepose.deploy.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF_HZ, PoseSmoother
from edgepose.errors import UserError


def open_pose_model(path: str | Path | Any, runtime: str | None = None, threads: int | None = None,
                    device: str | None = None, **decoder: Any) -> tuple[PoseModel, Any]:  # fmt: skip
    """(PoseModel, Artifact) for a model file or an Artifact, on `runtime` (default: the file's own)."""
    from edgepose.artifact import Artifact
    from edgepose.loading import load_artifact
    from edgepose.runtimes import open_session

    artifact = path if isinstance(path, Artifact) else load_artifact(path)
    session = open_session(artifact, runtime=runtime, threads=threads, device=device)
    options = {k: v for k, v in decoder.items() if v is not None}
    return PoseModel(session, ModelConfig.from_spec(artifact.spec, **options)), artifact


class Predictor:
    """A loaded model that turns images into poses.

    `detector` (a YOLO-pose model file) finds the people for a top-down model; without it, and without `boxes`
    in `predict`, a top-down model sees the whole image as one person. With `track=True`, successive calls are
    frames of one video: ByteTrack gives poses a track_id and, with `smooth="one-euro"`, a One-Euro filter per
    track and keypoint smooths them (`fps` sets the frame time).
    """

    def __init__(self, path: str | Path | Any, runtime: str | None = None, *, threads: int | None = None,
                 device: str | None = None, detector: str | Path | None = None, detector_runtime: str | None = None,
                 conf: float | None = None, iou: float | None = None, refine: str | None = None, flip: bool = False,
                 min_box_score: float = 0.3, track: bool = False, smooth: str = "none", fps: float = 30.0,
                 min_cutoff: float = DEFAULT_MIN_CUTOFF_HZ, beta: float = DEFAULT_BETA):  # fmt: skip
        self.model, self.artifact = open_pose_model(path, runtime, threads, device, conf=conf, iou=iou, refine=refine,
                                                    flip_test=flip)  # fmt: skip
        self.detector = None
        if detector is not None:
            self.detector, _ = open_pose_model(detector, detector_runtime, threads, device, conf=conf, iou=iou)
            if self.detector.config.top_down:
                raise UserError(f"--detector must be a YOLO-pose (multi-person) model; {detector} is {self.detector.config.head}")
        if smooth not in ("one-euro", "none"):
            raise UserError(f"smooth must be 'one-euro' or 'none', got '{smooth}'")
        self.min_box_score, self.fps = min_box_score, fps
        self.tracker = self.smoother = None
        if track:
            from edgepose.inference.tracking import PoseTracker

            self.tracker = PoseTracker(fps=fps)
        if smooth == "one-euro":
            if not track:
                raise UserError("smoothing runs along tracks: use track=True with smooth='one-euro'")
            self.smoother = PoseSmoother(min_cutoff, beta)
        self._frame = 0

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return self.model.names

    @property
    def skeleton(self) -> tuple[tuple[int, int], ...]:
        return tuple(self.model.config.keypoint_schema.skeleton)

    def predict(self, image: str | Path | np.ndarray, boxes: Any = None, *, bgr: bool = False) -> list[Pose]:
        """Poses in one image: a path, or a uint8 (H, W, 3) array in RGB (`bgr=True` for OpenCV frames).

        `boxes` (N, 4) [x, y, w, h] person boxes for a top-down model (else the detector's, else the whole image).
        """
        rgb = _as_rgb(image, bgr)
        model = self.model
        if model.config.top_down:
            scores = None
            if boxes is None and self.detector is not None:
                found = self.detector.whole_image(rgb)
                boxes = np.array([[*p.box[:2], *(p.box[2:] - p.box[:2])] for p in found if p.score >= self.min_box_score])
                scores = [p.score for p in found if p.score >= self.min_box_score]
            if boxes is None:
                h, w = rgb.shape[:2]
                boxes = np.array([[0.0, 0.0, float(w), float(h)]])
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            clipped, keep = clip_boxes(boxes, rgb.shape[:2])
            given = np.ones(len(boxes)) if scores is None else np.asarray(scores, dtype=np.float64)  # a user's box: 1
            poses = model.top_down(rgb, clipped, given[keep])
        else:
            poses = model.whole_image(rgb)
        if self.tracker is not None:
            self.tracker.update(poses)
            if self.smoother is not None:
                for pose in poses:
                    pose.keypoints = self.smoother(pose.keypoints, pose.track_id, self._frame / self.fps)
        self._frame += 1
        return poses

    __call__ = predict


def predict(model: str | Path, image: str | Path | np.ndarray, boxes: Any = None, *, runtime: str | None = None,
            **options: Any) -> list[Pose]:  # fmt: skip
    """One-shot form of Predictor(model, runtime, **options).predict(image, boxes)."""
    bgr = bool(options.pop("bgr", False))
    return Predictor(model, runtime, **options).predict(image, boxes, bgr=bgr)


def _as_rgb(image: str | Path | np.ndarray, bgr: bool) -> np.ndarray:
    if isinstance(image, str | Path):
        return read_image_rgb(image)
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise UserError(f"an image array must be uint8 (H, W, 3); got {array.dtype} {array.shape}")
    return bgr_to_rgb(array) if bgr else array
