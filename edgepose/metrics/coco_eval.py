"""OKS AP / AP50 / AP75 / AR through pycocotools' COCOeval (never re-implemented here).

Top-down evaluation gives one prediction per ground-truth instance; COCOeval matches them by OKS
with the schema's sigmas. The GT it sees is exactly the annotations that were predicted on.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgepose.deploy.pose import INSTANCE_SCORE_THRESHOLD, instance_scores

__all__ = ["INSTANCE_SCORE_THRESHOLD", "build_results", "coco_from_arrays", "coco_subset", "instance_scores", "keypoint_oks",
           "oks_ap"]
MAX_DETS = 20  # COCOeval's keypoint maxDets: per image, only the 20 highest-scoring detections are matched


def keypoint_oks(pred_xy: np.ndarray, ref_xy: np.ndarray, counted: np.ndarray, area: float, sigmas: np.ndarray) -> float:
    """COCO's object keypoint similarity of one person's (K, 2) keypoints with a reference's, over the `counted`
    (K,) joints, for a reference of `area` (clamped to >= 1) with the schema's (K,) sigmas; 0 when none counts."""
    if not counted.any():
        return 0.0
    d2 = ((pred_xy - ref_xy) ** 2).sum(axis=-1)
    area = max(float(area), 1.0)
    return float(np.exp(-d2[counted] / (2 * area * (2 * sigmas[counted]) ** 2 + np.spacing(1))).mean())


def beyond_max_dets(image_ids: Sequence[Any]) -> int:
    """How many of these people (one image id each) COCOeval cannot match: those past MAX_DETS in an image."""
    counts: dict[Any, int] = {}
    for image_id in image_ids:
        counts[image_id] = counts.get(image_id, 0) + 1
    return sum(max(0, n - MAX_DETS) for n in counts.values())



def build_results(
    keypoints: np.ndarray, image_ids: Sequence[int], scores: np.ndarray, category_id: int = 1
) -> list[dict[str, Any]]:
    """COCO results list [{image_id, category_id, keypoints: [x, y, s, ...], score}]."""
    kp = np.asarray(keypoints, dtype=np.float64)
    return [
        {"image_id": int(image_ids[i]), "category_id": int(category_id),
         "keypoints": [round(float(v), 3) for v in kp[i].reshape(-1)], "score": float(scores[i])}
        for i in range(len(kp))
    ]  # fmt: skip


def coco_subset(coco_gt: Any, ann_ids: Sequence[int]) -> Any:
    """A COCO object holding only the annotations `ann_ids` and their images (the evaluated GT)."""
    from pycocotools.coco import COCO

    wanted = {int(a) for a in ann_ids}
    anns = [_complete(copy.deepcopy(coco_gt.anns[a])) for a in wanted]
    image_ids = {a["image_id"] for a in anns}
    dataset = {
        "images": [coco_gt.imgs[i] for i in image_ids],
        "annotations": sorted(anns, key=lambda a: a["id"]),
        "categories": list(coco_gt.dataset.get("categories", [])),
    }
    subset = COCO()
    subset.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        subset.createIndex()
    return subset


def _complete(ann: dict[str, Any]) -> dict[str, Any]:
    """Fill the fields COCOeval reads when a JSON omits them: iscrowd 0, num_keypoints = labelled
    count, area = box area (w x h) -- COCO's own area is the segmentation area, so prefer to ship it."""
    ann.setdefault("iscrowd", 0)
    if "num_keypoints" not in ann:
        ann["num_keypoints"] = int(sum(1 for v in ann["keypoints"][2::3] if v > 0))
    if "area" not in ann:
        x, y, w, h = ann.get("bbox", (0, 0, 0, 0))
        ann["area"] = float(w) * float(h)
    return ann


def coco_from_arrays(
    keypoints: np.ndarray,
    image_ids: Sequence[int] | None = None,
    bboxes: np.ndarray | None = None,
    areas: np.ndarray | None = None,
    keypoint_names: Sequence[str] | None = None,
) -> tuple[Any, list[int]]:
    """Ground truth as arrays -> (COCO object, ann_ids). Boxes default to the labelled extent,
    areas to the box area, one image per instance unless `image_ids` is given."""
    from pycocotools.coco import COCO

    gt = np.asarray(keypoints, dtype=np.float64)
    n, k, _ = gt.shape
    ids = list(range(1, n + 1)) if image_ids is None else [int(i) for i in image_ids]
    anns = []
    for i in range(n):
        labelled = gt[i, :, 2] > 0
        if bboxes is not None:
            box = [float(v) for v in bboxes[i]]
        elif labelled.any():
            lo, hi = gt[i, labelled, :2].min(axis=0), gt[i, labelled, :2].max(axis=0)
            box = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
        else:
            box = [0.0, 0.0, 0.0, 0.0]
        area = float(areas[i]) if areas is not None else box[2] * box[3]
        anns.append({
            "id": i + 1, "image_id": ids[i], "category_id": 1, "iscrowd": 0, "bbox": box, "area": area,
            "num_keypoints": int(labelled.sum()), "keypoints": [float(v) for v in gt[i].reshape(-1)],
        })  # fmt: skip
    names = list(keypoint_names) if keypoint_names else [f"kp{j}" for j in range(k)]
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i, "width": 0, "height": 0} for i in sorted(set(ids))],
        "annotations": anns,
        "categories": [{"id": 1, "name": "person", "keypoints": names}],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco, [a["id"] for a in anns]


def oks_ap(coco_gt: Any, results: list[dict[str, Any]], sigmas: Sequence[float]) -> dict[str, float | None]:
    """Run COCOeval('keypoints') with the schema's sigmas; prints are swallowed.

    Returns oks_ap, oks_ap50, oks_ap75, oks_ar (and oks_ap_medium/large, oks_ar50/75); None where
    COCOeval has nothing to score (e.g. no GT instance with a labelled keypoint).
    """
    from pycocotools.cocoeval import COCOeval

    keys = ("oks_ap", "oks_ap50", "oks_ap75", "oks_ap_medium", "oks_ap_large",
            "oks_ar", "oks_ar50", "oks_ar75", "oks_ar_medium", "oks_ar_large")  # fmt: skip
    if not results:
        return dict.fromkeys(keys)
    num_kpts = len(coco_gt.dataset["annotations"][0]["keypoints"]) // 3 if coco_gt.dataset["annotations"] else 0
    if num_kpts != len(sigmas):
        raise ValueError(f"{len(sigmas)} OKS sigmas for {num_kpts} keypoints")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        evaluator.params.imgIds = sorted(coco_gt.getImgIds())
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {key: (None if value < 0 else float(value)) for key, value in zip(keys, evaluator.stats, strict=True)}
