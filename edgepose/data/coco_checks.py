"""Checking a COCO-keypoints document before anything reads it (the metrics must never score garbage).

Refused (UserError naming the file and the annotation or image): a person annotation whose keypoints,
box or area hold a value that is not a finite number (NaN, Infinity, a string, null, true), a visibility
outside {0, 1, 2}, ids that are not integers, image sizes that are not positive numbers, two different
images under one id. Dropped and counted (`CocoDocument.dropped`, reported by eval as a warning and in
its JSON): boxes of zero size, boxes entirely outside their image, repeated annotation ids (the first
one is kept) and repeated identical image entries. Other categories' annotations are left out unread. `beyond_max_dets` (people COCOeval cannot score
because an image has more than its maxDets) is counted by the metrics, which know what is scored.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from edgepose.errors import UserError

# No image is a million pixels wide: a coordinate beyond this is garbage, and its square overflows distances.
MAX_COORD_PX = 1e6
DROP_KINDS = ("zero_size_box", "box_outside_image", "duplicate_ann_id", "duplicate_image_id", "beyond_max_dets")
DROP_WORDS = {
    "zero_size_box": "zero-size boxes", "box_outside_image": "boxes outside their image",
    "duplicate_ann_id": "repeated annotation ids", "duplicate_image_id": "repeated image entries",
    "beyond_max_dets": "people beyond COCOeval's 20 per image",
}  # fmt: skip
COORD_NAMES = ("x", "y", "visibility")


class CocoDocument(dict):
    """The checked COCO document (a plain dict to every reader) with the counts of what was dropped."""

    dropped: dict[str, int]


def no_drops() -> dict[str, int]:
    return dict.fromkeys(DROP_KINDS, 0)


def merge_drops(*counts: dict[str, int] | None) -> dict[str, int]:
    total = no_drops()
    for c in counts:
        for key, value in (c or {}).items():
            total[key] = total.get(key, 0) + int(value)
    return total


def describe_drops(dropped: dict[str, int]) -> str | None:
    """One line for the warning, or None when nothing was dropped."""
    parts = [f"{n} {DROP_WORDS.get(k, k)}" for k, n in dropped.items() if n]
    return f"not scored: {', '.join(parts)}" if parts else None


def is_number(value: Any) -> bool:
    """A JSON number (bool is not one, although Python says it is an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    if not is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def as_int(value: Any, what: str, where: str) -> int:
    """An integer id (2 or 2.0), else a UserError."""
    if is_finite(value) and float(value).is_integer():
        return int(value)
    raise UserError(f"{where}: {what} {value!r} is not an integer")


def check_document(data: dict[str, Any], path: Path, category_id: int, num_keypoints: int) -> CocoDocument:
    """A checked copy of `data`: refused values raise, dropped entries are left out and counted."""
    dropped = no_drops()
    images: dict[int, dict[str, Any]] = {}
    kept_images = []
    for img in data["images"]:
        image_id = check_image(img, path)
        if image_id in images:
            if images[image_id] == img:
                dropped["duplicate_image_id"] += 1
                continue
            raise UserError(f"{path}: image id {image_id} is listed twice with different entries")
        images[image_id] = img
        kept_images.append(img)
    seen: set[Any] = set()
    kept = []
    for ann in data["annotations"]:
        if not isinstance(ann, dict):
            raise UserError(f"{path}: annotation entry is not an object ({type(ann).__name__})")
        if ann.get("category_id", category_id) != category_id:
            continue  # not a person: nothing here reads it (and pycocotools would index whatever it holds)
        ann_id = check_annotation(ann, path, num_keypoints, images)
        if ann_id in seen:
            dropped["duplicate_ann_id"] += 1
            continue
        seen.add(ann_id)
        img = images[int(ann["image_id"])]
        problem = box_problem(ann["bbox"], float(img["width"]), float(img["height"]))
        if problem:
            dropped[problem] += 1
            continue
        kept.append({**ann, "id": ann_id, "image_id": int(ann["image_id"]), "category_id": category_id})
    person = next(c for c in data["categories"] if isinstance(c, dict) and c.get("id") == category_id)
    doc = CocoDocument({**data, "images": kept_images, "annotations": kept, "categories": [{**person, "id": category_id}]})
    doc.dropped = dropped
    return doc


def check_image(img: Any, path: Path) -> int:
    """The image's integer id; UserError for a missing field, a bad file name or size."""
    if not isinstance(img, dict):
        raise UserError(f"{path}: image entry is not an object ({type(img).__name__})")
    for key in ("id", "file_name", "width", "height"):
        if key not in img:
            raise UserError(f"{path}: image entry {img.get('id', '?')} has no '{key}'")
    image_id = as_int(img["id"], "image id", str(path))
    name = img["file_name"]
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise UserError(f"{path}: image {image_id} has file_name {name!r}, not a file name")
    for key in ("width", "height"):
        if not is_finite(img[key]) or img[key] <= 0:
            raise UserError(f"{path}: image {image_id} has {key} {img[key]!r}, not a positive number")
    return image_id


def check_annotation(ann: dict[str, Any], path: Path, num_keypoints: int, images: dict[int, Any]) -> int:
    """The annotation's integer id; UserError naming the annotation for any value that cannot be scored."""
    for key in ("id", "image_id", "keypoints", "bbox"):
        if key not in ann:
            raise UserError(f"{path}: annotation {ann.get('id', '?')} has no '{key}'")
    ann_id = as_int(ann["id"], "annotation id", str(path))
    where = f"{path}: annotation {ann_id}"
    image_id = as_int(ann["image_id"], "image_id", where)
    if image_id not in images:
        raise UserError(f"{where} refers to image {image_id}, which is not listed")
    kps = ann["keypoints"]
    if not isinstance(kps, list) or len(kps) != 3 * num_keypoints:
        n = len(kps) if isinstance(kps, list) else f"a {type(kps).__name__}, not a list of"
        raise UserError(f"{where} has {n} keypoint values, expected {3 * num_keypoints} ({num_keypoints} joints x 3)")
    labelled = 0
    for i, value in enumerate(kps):
        joint, coord = divmod(i, 3)
        if not is_finite(value):
            raise UserError(f"{where}: keypoint {joint} {COORD_NAMES[coord]} is {value!r}, not a finite number")
        if coord == 2:
            if value not in (0, 1, 2):
                raise UserError(f"{where}: keypoint {joint} visibility is {value!r}, not 0, 1 or 2")
            labelled += value > 0
        elif abs(value) > MAX_COORD_PX:
            raise UserError(f"{where}: keypoint {joint} {COORD_NAMES[coord]} is {value!r}, beyond {MAX_COORD_PX:g} px")
    box = ann["bbox"]
    if not isinstance(box, list | tuple) or len(box) != 4 or not all(is_finite(v) for v in box):
        raise UserError(f"{where} has bbox {box!r}, not 4 finite numbers [x, y, w, h]")
    if any(abs(v) > MAX_COORD_PX for v in box):
        raise UserError(f"{where} has bbox {box!r}, beyond {MAX_COORD_PX:g} px")
    if "area" in ann:
        area = ann["area"]
        if not is_finite(area) or area < 0 or (area == 0 and labelled):
            raise UserError(f"{where} has area {area!r}, not a positive finite number")
    if "num_keypoints" in ann and not (is_finite(ann["num_keypoints"]) and float(ann["num_keypoints"]).is_integer()
                                       and ann["num_keypoints"] >= 0):  # fmt: skip
        raise UserError(f"{where} has num_keypoints {ann['num_keypoints']!r}, not a count")
    if ann.get("iscrowd", 0) not in (0, 1):  # True / False compare equal to 1 / 0
        raise UserError(f"{where} has iscrowd {ann['iscrowd']!r}, not 0 or 1")
    return ann_id


def box_problem(bbox: list[float], width: float, height: float) -> str | None:
    """'zero_size_box', 'box_outside_image' or None for a box [x, y, w, h] in a width x height image."""
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        return "zero_size_box"
    if min(width, x + w) - max(0.0, x) <= 0 or min(height, y + h) - max(0.0, y) <= 0:
        return "box_outside_image"
    return None


def image_file(root: Path, file_name: str, path: Path, allow_outside: bool = False) -> Path:
    """root / file_name, refused when the name leads out of `root` (absolute, or up through '..')."""
    name = os.path.normpath(file_name)
    if not allow_outside and (os.path.isabs(name) or name == ".." or name.startswith(".." + os.sep)):
        raise UserError(
            f"{path}: image path '{file_name}' is outside the dataset folder {root}; "
            "pass --allow-outside-images if that is intended"
        )
    return Path(os.path.normpath(Path(root) / file_name))
