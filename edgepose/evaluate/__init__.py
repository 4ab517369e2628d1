"""The one evaluation path: run any Session over a COCO-keypoints file, decode in numpy, score (= predict + score:
the preprocessing, session call and decode are edgepose.deploy's, shared with `edgepose predict`).

Every runtime (torch, ONNX Runtime, OpenVINO, TensorRT) is scored by this same code: the session only
maps an input batch to raw outputs; decoding, the inverse crop or letterbox and the metrics live here and
in edgepose.metrics. Top-down models (heatmap, regression) are scored on the annotated person boxes
(topdown.py); whole-image YOLO-pose models by detection + NMS + matching (multi_person.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
from edgepose.evaluate.batches import RunsFeeds
from edgepose.evaluate.multi_person import evaluate_multi_person
from edgepose.evaluate.topdown import evaluate_top_down
from edgepose.metrics.scoring import score_predictions

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec
    from edgepose.deploy.smoothing import OneEuroParams

__all__ = ["evaluate", "score_predictions"]


def evaluate(
    session: RunsFeeds, spec: ModelSpec, ann_file: str | Path, *, batch_size: int = 32, flip: bool = False,
    workers: int = 0, progress: bool = True, limit: int | None = None, image_root: str | Path | None = None,
    refine: str = "dark", blur_sigma: float | None = None, model_name: str | None = None,
    runtime_name: str | None = None, save_predictions: str | Path | None = None, allow_outside_images: bool = False,
    smooth: OneEuroParams | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Evaluate `session` on `ann_file`; returns the eval dict of DESIGN.md (metrics, n_images, n_instances,
    model, runtime, plus data, schema, flip, decode, seconds).

    `limit` keeps the first N dataset items (top-down: instances, or clips for clip models; multi-person:
    images by id). `workers`, `refine` and `blur_sigma` apply to the top-down (heatmap / regression) decode.
    `save_predictions` writes the predictions as a COCO keypoint-results file (what `edgepose predict` writes).
    Image paths that lead out of the dataset's folder are refused unless `allow_outside_images`; what the
    reader left out (edgepose.data.coco_checks.DROP_KINDS) is counted under `dropped`. A model whose output
    holds NaN or Inf is a UserError. `smooth` (top-down on clip data) One-Euro filters each track before scoring.
    """
    common: dict[str, Any] = dict(batch_size=batch_size, flip=flip, progress=progress, limit=limit, image_root=image_root,
                                  model_name=model_name, runtime_name=runtime_name,
                                  save_predictions=save_predictions, allow_outside_images=allow_outside_images)  # fmt: skip
    if spec.head == "yolo":
        if smooth is not None:
            raise UserError("--smooth applies to top-down models on clip data, not to a YOLO-pose model")
        return evaluate_multi_person(session, spec, ann_file, **common)
    return evaluate_top_down(session, spec, ann_file, workers=workers, refine=refine, blur_sigma=blur_sigma,
                             smooth=smooth, **common)  # fmt: skip
