"""Score keypoints from a file instead of a model: `edgepose eval --predictions RESULTS.json --data ANN.json`.

RESULTS is the COCO keypoint-results list every pose tool writes (`[{"image_id", "keypoints": [x, y, s, ...],
"score"}, ...]`, optionally "ann_id"/"id" naming the annotated person, and "file_name" naming the image, as
`edgepose predict` and `eval --save-predictions` write), or a COCO annotations file (its
annotations are taken as predictions with score 1: the ground truth itself must score OKS AP 1.0 and PCK 1.0,
the check that the metric code is wired right). Predictions are paired one-to-one with the annotated people
as the model path does: by ann_id where given, else greedily by OKS within each image (highest score first);
a person left without a prediction scores as missed, extra detections are ignored. The metrics then go
through the same `score_predictions` as every model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.errors import UserError
from edgepose.metrics.coco_eval import keypoint_oks


def evaluate_predictions_file(predictions: str | Path, ann_file: str | Path) -> dict[str, Any]:
    """The eval dict of DESIGN.md (metrics, n_images, n_instances, ...) for keypoints read from `predictions`."""
    from edgepose.data.coco_checks import merge_drops
    from edgepose.data.cocofile import coco_api, collect_instances, keypoint_category, read_json
    from edgepose.metrics.scoring import score_predictions
    from edgepose.schemas import schema_for_count

    start = time.perf_counter()
    ann_path, pred_path = Path(ann_file), Path(predictions)
    data = read_json(ann_path)
    category, names = keypoint_category(data, ann_path)
    num_keypoints = len(names)
    # the images are never opened here, so where they are does not matter
    people = collect_instances(data, ann_path, category, num_keypoints, ann_path.parent, allow_outside_images=True)
    if not people:
        raise UserError(f"{ann_path} has no person annotations with keypoints to evaluate")
    results = _read_results(pred_path, num_keypoints, _image_ids_by_name(data))
    schema = schema_for_count(num_keypoints)
    sigmas = np.asarray(schema.sigmas if schema else [0.05] * num_keypoints)
    pred = _pair(results, people, sigmas, pred_path)
    scored = score_predictions(pred, coco_api(data), [p.ann_id for p in people], schema)
    return {
        "metrics": scored["metrics"], "n_images": scored["n_images"], "n_instances": scored["n_instances"],
        "model": f"predictions {pred_path}", "runtime": "none (predictions file)", "data": str(ann_path),
        "schema": scored["schema"], "flip": False, "decode": "none", "seconds": round(time.perf_counter() - start, 3),
        "n_predictions": len(results),
        "n_paired": int((pred[..., 2].max(axis=1) > 0).sum()),
        "dropped": merge_drops(data.dropped, scored.get("dropped")),
    }  # fmt: skip


def _image_ids_by_name(data: dict[str, Any]) -> dict[str, Any]:
    """Image id per file name (as written, and its base name) of the annotations' images."""
    ids: dict[str, Any] = {}
    for image in data["images"]:
        if isinstance(image, dict) and "file_name" in image and "id" in image:
            ids.setdefault(str(image["file_name"]), image["id"])
            ids.setdefault(Path(str(image["file_name"])).name, image["id"])
    return ids


def _read_results(path: Path, num_keypoints: int, ids_by_name: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Result entries with (K, 3) keypoints; a COCO annotations file gives its annotations at score 1.

    An entry's `file_name` (what `edgepose predict` writes) names its image when the annotations list that file
    (by path or base name); else its `image_id` does.
    """
    from edgepose.data.cocofile import load_json_file

    raw = load_json_file(path, "predictions file")
    from_annotations = isinstance(raw, dict)
    entries = raw.get("annotations") if from_annotations else raw
    if not isinstance(entries, list):
        raise UserError(f"{path}: expected a COCO keypoint-results list or a COCO annotations file")
    results = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "keypoints" not in entry or ("image_id" not in entry and "file_name" not in entry):
            raise UserError(f"{path}: entry {index} needs 'image_id' (or 'file_name') and 'keypoints'")
        name = entry.get("file_name")
        if name and ids_by_name:
            image_id = ids_by_name.get(str(name), ids_by_name.get(Path(str(name)).name, entry.get("image_id")))
            entry = {**entry, "image_id": image_id}
        if entry.get("image_id") is None:
            raise UserError(f"{path}: entry {index} names file {name!r}, which the annotations do not list")
        results.append(_check_entry(entry, index, path, num_keypoints, from_annotations))
    return results


def _check_entry(entry: dict[str, Any], index: int, path: Path, num_keypoints: int, from_annotations: bool
                 ) -> dict[str, Any]:  # fmt: skip
    """One result as {image_id, keypoints (K, 3), score, ann_id}; UserError for any value that is not a finite number."""
    from edgepose.data.coco_checks import MAX_COORD_PX, as_int, is_finite

    where = f"{path}: entry {index}"
    image_id = as_int(entry["image_id"], "image_id", where)
    kps = entry["keypoints"]
    if not isinstance(kps, list) or len(kps) != 3 * num_keypoints:
        n = len(kps) if isinstance(kps, list) else "non-list"
        raise UserError(f"{where} has {n} keypoint values, the annotations have {num_keypoints} joints x 3")
    bad = next((i for i, v in enumerate(kps) if not is_finite(v)), None)
    if bad is not None:
        raise UserError(f"{where}: keypoint {bad // 3} value {bad % 3} is {kps[bad]!r}, not a finite number")
    kp = np.asarray(kps, dtype=np.float64).reshape(num_keypoints, 3)
    if np.abs(kp[:, :2]).max() > MAX_COORD_PX:
        raise UserError(f"{where} has a keypoint beyond {MAX_COORD_PX:g} px (coordinates are image pixels)")
    if from_annotations:  # ground truth as predictions: every labelled joint certain, unlabelled ones absent
        kp[:, 2] = (kp[:, 2] > 0).astype(np.float64)
        ann_id, score = entry.get("id"), 1.0
    else:
        ann_id, score = entry.get("ann_id"), entry.get("score", 1.0)
        if not is_finite(score):
            raise UserError(f"{where} has score {score!r}, not a finite number")
    if ann_id is not None:
        ann_id = as_int(ann_id, "ann_id", where)
    return {"image_id": image_id, "keypoints": kp, "score": float(score), "ann_id": ann_id}


def _pair(results: list[dict[str, Any]], people: list[Any], sigmas: np.ndarray, path: Path) -> np.ndarray:
    """(N, K, 3) predictions row-aligned with `people`; zeros (score 0) where a person got none.

    `sigmas` (K,) are the per-joint OKS constants used to pair predictions that name no annotation.
    """
    pred = np.zeros((len(people), len(sigmas), 3))
    row_of = {p.ann_id: i for i, p in enumerate(people)}
    taken: set[int] = set()
    loose: dict[Any, list[dict[str, Any]]] = {}
    for result in results:
        if result["ann_id"] is not None and result["ann_id"] in row_of:
            row = row_of[result["ann_id"]]
            if row not in taken:
                pred[row] = result["keypoints"]
                taken.add(row)
        else:
            loose.setdefault(result["image_id"], []).append(result)
    by_image: dict[Any, list[int]] = {}
    for i, person in enumerate(people):
        by_image.setdefault(person.image_id, []).append(i)
    for image_id, candidates in loose.items():
        free = [i for i in by_image.get(image_id, []) if i not in taken]
        for result in sorted(candidates, key=lambda r: -r["score"]):
            if not free:
                break
            best = max(free, key=lambda i: _oks(result["keypoints"], people[i], sigmas))
            pred[best] = result["keypoints"]
            taken.add(best)
            free.remove(best)
    if not taken:
        raise UserError(f"{path}: no prediction matches an annotated person (check image_id / ann_id)")
    return pred


def _oks(kp: np.ndarray, person: Any, sigmas: np.ndarray) -> float:
    gt = person.keypoints
    return keypoint_oks(kp[:, :2], gt[:, :2], gt[:, 2] > 0, person.area, sigmas)
