"""Where a top-down model's person boxes come from: a boxes file (edgepose.deploy.boxes), a YOLO-pose detector,
or the whole frame (single-person models)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepose.deploy.boxes import DEFAULT_MIN_BOX_SCORE, BoxesFile, People, default_image_id

__all__ = ["DEFAULT_MIN_BOX_SCORE", "BoxesFile", "People", "default_image_id", "detected", "whole_frame"]


def whole_frame(image_shape: tuple[int, ...], image_id: Any) -> People:
    """The whole frame as one person's box (single-person models without boxes)."""
    h, w = image_shape[:2]
    return People(np.array([[0.0, 0.0, float(w), float(h)]]), np.array([1.0]), [None], [None], image_id)


def detected(boxes_xyxy: np.ndarray, scores: np.ndarray, image_id: Any, min_score: float) -> People:
    """A detector's boxes (xyxy) above `min_score`, as People."""
    keep = np.asarray(scores) >= min_score
    b = np.asarray(boxes_xyxy, dtype=np.float64)[keep].reshape(-1, 4)
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    n = len(xywh)
    return People(xywh, np.asarray(scores, dtype=np.float64)[keep], [None] * n, [None] * n, image_id)


def load_detector(path: str, threads: int | None = None, device: str | None = None, conf: float | None = None,
                  iou: float | None = None) -> Any:  # fmt: skip
    """A YOLO-pose model as a PoseModel whose boxes feed a top-down model (`--detector MODEL`)."""
    from edgepose.deploy.config import ModelConfig
    from edgepose.deploy.model import PoseModel
    from edgepose.errors import UserError
    from edgepose.loading import load_artifact
    from edgepose.runtimes import open_session

    det = load_artifact(path)
    if det.spec.head != "yolo":
        raise UserError(f"--detector needs a YOLO-pose (multi-person) model; {path} is a {det.spec.head} model")
    decoder = {**({"conf": conf} if conf is not None else {}), **({"iou": iou} if iou is not None else {})}
    return PoseModel(open_session(det, runtime=None, threads=threads, device=device),
                     ModelConfig.from_spec(det.spec, **decoder))  # fmt: skip
