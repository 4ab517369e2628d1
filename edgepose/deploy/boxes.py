"""Person boxes from a file, for top-down models: COCO detection results or a COCO annotations file.

A detection-results file is a list of {image_id | file_name, bbox [x, y, w, h], score, category_id}; an
annotations file gives its person boxes at score 1, with their ann_id and track_id (and the images' video_id /
frame_id). A frame finds its boxes by file name (the path as written, its last two parts, or its base name), else
by image id: an annotations file's id for that file name, else the file's stem when it is all digits (COCO's
000000397133.jpg is image 397133), else its 1-based place in the run. Plain json + numpy: the device runner uses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.errors import UserError

DEFAULT_MIN_BOX_SCORE = 0.3  # detections below this are not people (mmpose's top-down demos use 0.3)


@dataclass
class People:
    """The boxes of one frame: (N, 4) xywh image pixels, scores, and the file's ann_id / track_id per box."""

    boxes_xywh: np.ndarray
    scores: np.ndarray
    ann_ids: list[int | None] = field(default_factory=list)
    track_ids: list[int | None] = field(default_factory=list)
    image_id: Any = None


class BoxesFile:
    """Person boxes read from a COCO detection-results or annotations file, looked up per frame."""

    def __init__(self, path: str | Path, min_score: float = DEFAULT_MIN_BOX_SCORE):
        self.path = Path(path)
        raw = _load_json(self.path)
        self.is_annotations = isinstance(raw, dict)
        entries = raw.get("annotations") if self.is_annotations else raw
        if not isinstance(entries, list):
            raise UserError(f"{self.path}: expected COCO detection results (a list) or a COCO annotations file")
        self.image_ids: dict[str, Any] = {}  # file-name keys -> image id (annotations files)
        self.frames: dict[Any, tuple[Any, int]] = {}  # image id -> (video id, frame id) where the file says
        if self.is_annotations:
            for image in raw.get("images", []):
                if isinstance(image, dict) and "file_name" in image and "id" in image:
                    for key in _name_keys(str(image["file_name"])):
                        self.image_ids.setdefault(key, image["id"])
                    video, frame = image.get("video_id", image.get("vid_id")), image.get("frame_id")
                    if video is not None and isinstance(frame, int | float):
                        self.frames[image["id"]] = (video, int(frame))
            person = _person_category(raw)
        self.by_id: dict[Any, list[dict[str, Any]]] = {}
        self.by_name: dict[str, list[dict[str, Any]]] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or "bbox" not in entry or not ("image_id" in entry or "file_name" in entry):
                raise UserError(f"{self.path}: entry {index} needs 'bbox' and 'image_id' or 'file_name'")
            if self.is_annotations and (entry.get("iscrowd") or entry.get("category_id", person) != person):
                continue
            if not self.is_annotations and entry.get("category_id", 1) != 1:
                continue  # detection results of other classes
            if not self.is_annotations and float(entry.get("score", 1.0)) < min_score:
                continue
            if "file_name" in entry:
                self.by_name.setdefault(Path(str(entry["file_name"])).name, []).append(entry)
            else:
                self.by_id.setdefault(entry["image_id"], []).append(entry)
        if not self.by_id and not self.by_name:
            raise UserError(f"{self.path}: no person boxes (score >= {min_score})")

    def image_id_for(self, file_name: str | None, fallback: int) -> Any:
        """The image id of a frame: the annotations' id for its file, else its all-digit stem, else `fallback`."""
        if file_name is not None:
            for key in _name_keys(file_name):
                if key in self.image_ids:
                    return self.image_ids[key]
        return default_image_id(file_name, fallback)

    def people(self, file_name: str | None, image_id: Any) -> People:
        entries = []
        if file_name is not None:
            entries = self.by_name.get(Path(file_name).name, [])
        if not entries:
            entries = self.by_id.get(image_id, [])
        return _to_people(entries, image_id, self.is_annotations)


def default_image_id(file_name: str | None, fallback: int) -> int:
    """A frame's image id without an annotations file: an all-digit stem, else the 1-based frame number."""
    if file_name is not None and Path(file_name).stem.isdigit():
        return int(Path(file_name).stem)
    return fallback


def _name_keys(file_name: str) -> list[str]:
    """Ways a frame's path may be written in a file: as given, its last two parts, its base name."""
    path = Path(file_name)
    keys = [str(path), path.name]
    if len(path.parts) >= 2:
        keys.insert(1, str(Path(*path.parts[-2:])))
    return keys


def _person_category(data: dict[str, Any]) -> Any:
    for cat in data.get("categories", []):
        if isinstance(cat, dict) and cat.get("keypoints"):
            return cat.get("id")
    return 1


def _to_people(entries: list[dict[str, Any]], image_id: Any, annotations: bool) -> People:
    boxes, scores, ann_ids, tracks = [], [], [], []
    for entry in entries:
        try:
            x, y, w, h = (float(v) for v in entry["bbox"])
        except (TypeError, ValueError):
            raise UserError(f"a box for image {image_id} is not 4 numbers: {entry['bbox']!r}") from None
        if w <= 0 or h <= 0:
            continue
        kps = entry.get("keypoints") if annotations else None
        if isinstance(kps, list):
            labelled = sum(1 for v in kps[2::3] if v > 0)
            if entry.get("num_keypoints", labelled) <= 0 or labelled == 0:
                continue  # an annotated person with no labelled joint: eval skips it too
        boxes.append([x, y, w, h])
        scores.append(1.0 if annotations else float(entry.get("score", 1.0)))
        ann_ids.append(int(entry["id"]) if annotations and "id" in entry else None)
        track = entry.get("track_id")
        tracks.append(int(track) if isinstance(track, int | float) else None)
    return People(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores), ann_ids, tracks, image_id)


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise UserError(f"{path}: boxes file not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: malformed JSON ({exc})") from None
