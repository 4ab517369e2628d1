"""Multi-person evaluation of YOLO-pose models: whole letterboxed images, numpy decode + NMS, then
OKS AP (pycocotools, all people of each image) and PCK / MPJPE on people matched to detections by box IoU.

Reached through edgepose.evaluate.evaluate when spec.head == "yolo", so every runtime is scored by this
one path; the eval dict has the top-down path's keys (DESIGN.md) plus detection and matching counts. The
letterbox, session call and decode + NMS are edgepose.deploy.model.PoseModel's, which `predict` runs per frame.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.console import TaskBar
from edgepose.deploy.config import ModelConfig
from edgepose.deploy.model import PoseModel, run_batch
from edgepose.deploy.yolo_decode import IOU_NMS, MAX_DET
from edgepose.errors import UserError
from edgepose.evaluate.batches import runtime_name as session_runtime
from edgepose.metrics.coco_eval import oks_ap
from edgepose.yolo.matching import match_people, matched_error_metrics, predictions_for_people

EVAL_CONF = 0.001  # every detection above this becomes a COCO result (Ultralytics' val default)
OKS_KEYS = ("oks_ap", "oks_ap50", "oks_ap75", "oks_ar")


def evaluate_multi_person(
    session: Any, spec: Any, ann_file: str | Path, *, batch_size: int = 8, limit: int | None = None,
    image_root: str | Path | None = None, progress: bool = True, model_name: str | None = None,
    runtime_name: str | None = None, flip: bool = False, conf: float = EVAL_CONF, iou: float = IOU_NMS,
    max_det: int = MAX_DET, save_predictions: str | Path | None = None, allow_outside_images: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Evaluate a YOLO-pose `session` on every image of `ann_file` (the first `limit` images by id);
    `save_predictions` also writes every detection as a COCO results file.

    NaN / Inf in the model's output is a UserError; `dropped` counts what the reader left out and the
    people COCOeval cannot match (more than its maxDets in one image)."""
    from edgepose.data import cocofile
    from edgepose.data.coco_checks import merge_drops
    from edgepose.deploy.images import read_image_rgb
    from edgepose.metrics.coco_eval import beyond_max_dets
    from edgepose.metrics.schema_map import data_schema_name, find_map
    from edgepose.schemas import get_schema

    if flip:
        raise UserError("--flip is not supported for YOLO-pose (multi-person) models")
    if batch_size < 1 or (limit is not None and limit < 1):
        raise UserError(f"batch size ({batch_size}) and --limit ({limit}) must be at least 1")
    start = time.perf_counter()
    path = Path(ann_file)
    data = cocofile.read_json(path)
    category_id, names = cocofile.keypoint_category(data, path)
    mapping = find_map(spec.schema, data_schema_name(path))
    schema = get_schema(mapping.target) if mapping else cocofile.resolve_schema(names, spec.schema, path)
    root = cocofile.resolve_image_root(data, path, Path(image_root) if image_root else None)
    images = sorted(data["images"], key=lambda im: im["id"])[:limit]
    if not images:
        raise UserError(f"{path} lists no images to evaluate")
    model = PoseModel(session, ModelConfig.from_spec(spec, conf=conf, iou=iou, max_det=max_det))
    detections: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    batches = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    with TaskBar(progress, f"eval {path.name}", len(batches)) as bar:
        for batch in batches:
            files = [cocofile.image_file(root, im["file_name"], path, allow_outside_images) for im in batch]
            inputs, maps = model.letterbox([read_image_rgb(file) for file in files])
            raw = run_batch(session, inputs, spec.head)
            for im, (boxes, scores, keypoints) in zip(batch, model.decode_detections(raw, maps), strict=True):
                detections[int(im["id"])] = (boxes, scores, mapping.apply(keypoints) if mapping else keypoints)
            bar.advance()
    coco = cocofile.coco_api(_subset(data, {int(im["id"]) for im in images}, category_id))
    if mapping:
        coco = mapping.mask_coco(coco)
    metrics = _score(coco, detections, schema, data, path, category_id, root)
    if save_predictions is not None:
        _save(save_predictions, detections, {int(im["id"]): im for im in images}, category_id)
    scored = [a for a in coco.dataset["annotations"] if not a.get("iscrowd") and a.get("num_keypoints", 1) > 0]
    n_people = len(scored)
    dropped = merge_drops(data.dropped, {"beyond_max_dets": beyond_max_dets([a["image_id"] for a in scored])})
    return {
        "metrics": metrics, "n_images": len(images), "n_instances": n_people, "model": model_name,
        "runtime": runtime_name or session_runtime(session), "data": str(ann_file), "schema": schema.name,
        "flip": False, "decode": "yolo", "seconds": round(time.perf_counter() - start, 3),
        "detections": int(sum(len(d[1]) for d in detections.values())),
        "thresholds": {"conf": conf, "iou_nms": iou, "max_det": max_det}, "dropped": dropped,
        **({"schema_map": mapping.describe()} if mapping else {}),
    }  # fmt: skip


def _save(path: str | Path, detections: dict[int, tuple], images: dict[int, dict[str, Any]], category_id: int) -> None:
    """Every detection as a COCO result (image_id, file_name, keypoints, score, bbox)."""
    from edgepose.deploy.results import result_entry, write_results

    entries = [
        result_entry(kp, float(score), [box[0], box[1], box[2] - box[0], box[3] - box[1]], image_id=image_id,
                     file_name=images[image_id].get("file_name"), frame_id=images[image_id].get("frame_id"),
                     category_id=category_id)
        for image_id, (boxes, scores, keypoints) in detections.items()
        for box, score, kp in zip(boxes, scores, keypoints, strict=True)
    ]  # fmt: skip
    write_results(path, entries)


def _subset(data: dict[str, Any], image_ids: set[int], category_id: int) -> dict[str, Any]:
    """The evaluated images and all their people (crowd and unlabelled ones included, COCOeval ignores them)."""
    anns = [
        dict(a) for a in data["annotations"]
        if a.get("image_id") in image_ids and a.get("category_id", category_id) == category_id
    ]  # fmt: skip
    for ann in anns:
        ann.setdefault("iscrowd", 0)
        ann.setdefault("num_keypoints", int(sum(1 for v in ann.get("keypoints", [])[2::3] if v > 0)))
        if "area" not in ann:
            ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3])
    return {
        "images": [im for im in data["images"] if im["id"] in image_ids], "annotations": anns,
        "categories": [c for c in data["categories"] if c.get("id") == category_id],
    }  # fmt: skip


def _score(coco: Any, detections: dict[int, tuple], schema: Any, data: dict[str, Any], path: Path,
           category_id: int, root: Path) -> dict[str, Any]:  # fmt: skip
    """OKS AP over all detections; PCK & co. on annotated people matched to detections."""
    from edgepose.data import cocofile
    from edgepose.metrics.scoring import score_predictions

    results = [
        {"image_id": image_id, "category_id": category_id, "score": float(score),
         "keypoints": [round(float(v), 3) for v in kpts.reshape(-1)]}
        for image_id, (_, scores, keypoints) in detections.items()
        for score, kpts in zip(scores, keypoints, strict=True)
    ]  # fmt: skip
    oks = oks_ap(coco, results, schema.sigmas) if coco.dataset["annotations"] else dict.fromkeys(OKS_KEYS)
    scorable = any(a.get("num_keypoints", 0) > 0 and not a.get("iscrowd") for a in coco.dataset["annotations"])
    if not results and scorable:  # nobody detected: the people are all missed, which is AP 0, not "n/a"
        oks = dict.fromkeys(OKS_KEYS, 0.0)
    people = [p for p in cocofile.collect_instances(coco.dataset, path, category_id, schema.num_keypoints, root,
                                                    allow_outside_images=True)  # checked when the images were read
              if p.image_id in detections]  # fmt: skip
    if not people:
        raise UserError(f"{path} has no person annotations with keypoints in the evaluated images")
    pred = np.zeros((len(people), schema.num_keypoints, 3))
    hit = np.full(len(people), -1, dtype=np.int64)
    by_image: dict[int, list[int]] = {}
    for i, p in enumerate(people):
        by_image.setdefault(p.image_id, []).append(i)
    for image_id, rows in by_image.items():  # one-to-one within an image
        boxes, scores, keypoints = detections[image_id]
        gt_xyxy = np.array([[*people[i].bbox[:2], *(people[i].bbox[:2] + people[i].bbox[2:])] for i in rows])
        hit[rows] = match_people(gt_xyxy, boxes, scores)
        pred[rows] = predictions_for_people(hit[rows], keypoints, schema.num_keypoints)
    scored = score_predictions(pred, coco, [p.ann_id for p in people], schema)["metrics"]
    metrics = {key: oks.get(key) for key in OKS_KEYS}
    metrics.update({k: v for k, v in scored.items() if k not in OKS_KEYS})
    gt = np.stack([p.keypoints for p in people]).astype(np.float64)
    matched_error_metrics(pred, gt, hit, schema.keypoints, metrics)
    return metrics
