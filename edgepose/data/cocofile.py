"""Reading and checking a COCO-keypoints JSON: schema, image folder, person instances, video tracks.

Video fields (clip mode; the synth generator's `--sequences` writes them, PoseTrack uses the same):
images carry `video_id` (or PoseTrack's `vid_id`) and an integer `frame_id` that grows by 1 from one
frame to the next; annotations carry `track_id`, the same for one person across the frames of a video.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.data.coco_checks import CocoDocument, as_int, check_document, image_file, is_finite
from edgepose.errors import UserError
from edgepose.schemas import SCHEMAS, KeypointSchema, get_schema


@dataclass
class Instance:
    """One person annotation to crop: everything __getitem__ needs, nothing it must look up."""

    ann_id: int
    image_id: int
    file: Path
    bbox: np.ndarray  # (4,) xywh, clipped to the image
    area: float
    keypoints: np.ndarray  # (K, 3) x, y, v in image pixels
    video: Any = None
    frame: int | None = None
    track: Any = None


def load_json_file(path: Path, what: str = "annotation file") -> Any:
    """The parsed JSON at `path`, or a UserError naming the file and why it cannot be read."""
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: malformed JSON ({exc})") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply to be a COCO file") from None


def read_json(path: Path) -> CocoDocument:
    """The checked COCO document at `path` (edgepose.data.coco_checks): a UserError says why it cannot be
    read or scored; dropped entries are left out and counted in `.dropped`."""
    data = load_json_file(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a COCO JSON object, got a {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise UserError(f"{path}: missing or invalid '{key}' list (not a COCO keypoints file?)")
    category_id, names = keypoint_category(data, path)
    return check_document(data, path, category_id, len(names))


def keypoint_category(data: dict[str, Any], path: Path) -> tuple[int, list[str]]:
    """(category id, keypoint names) of the category that has keypoints (the person category)."""
    for cat in data["categories"]:
        if isinstance(cat, dict) and cat.get("keypoints"):
            if "id" not in cat:
                raise UserError(f"{path}: keypoint category has no 'id'")
            if not isinstance(cat["keypoints"], list):
                raise UserError(f"{path}: the keypoint category's 'keypoints' is not a list of joint names")
            return as_int(cat["id"], "category id", str(path)), [str(n) for n in cat["keypoints"]]
    raise UserError(f"{path}: no category with a 'keypoints' list (not a COCO keypoints file?)")


def resolve_schema(names: list[str], model_schema: str, path: Path) -> KeypointSchema:
    """The model's schema, checked against the file's joint count and order."""
    schema = get_schema(model_schema)
    if len(names) != schema.num_keypoints:
        file_schema = next((e.name for e in SCHEMAS if list(e.obj.keypoints) == names), None)
        label = f" ({file_schema})" if file_schema else ""
        raise UserError(
            f"{path}: {len(names)} keypoints{label} but the model's schema {schema.name} has "
            f"{schema.num_keypoints}"
        )
    if sorted(names) == sorted(schema.keypoints) and names != list(schema.keypoints):
        raise UserError(f"{path}: same joints as {schema.name} but in a different order")
    return schema


def resolve_image_root(data: dict[str, Any], path: Path, image_root: Path | None) -> Path:
    """`image_root` if given, else the JSON's folder or its images/ subfolder: whichever has image 1."""
    if not data["images"]:
        return Path(image_root) if image_root is not None else path.parent
    first = data["images"][0]
    if not isinstance(first, dict) or "file_name" not in first:
        raise UserError(f"{path}: image entry has no 'file_name'")
    if image_root is not None and not Path(image_root).is_dir():
        raise UserError(f"--image-root {image_root} is not a folder")
    candidates = [Path(image_root)] if image_root is not None else [path.parent, path.parent / "images"]
    for root in candidates:
        if os.path.isfile(root / first["file_name"]):
            return root
    tried = ", ".join(str(r) for r in candidates)
    raise UserError(f"{path}: image '{first['file_name']}' not found (looked in {tried})")


def collect_instances(
    data: dict[str, Any], path: Path, category_id: int, num_keypoints: int, image_root: Path,
    allow_outside_images: bool = False,
) -> list[Instance]:  # fmt: skip
    """Person instances with labelled joints (iscrowd 0, num_keypoints > 0, a box of positive size).

    `data` comes from read_json (checked, so every value here is a finite number of the right kind).
    An image path leading out of `image_root` is refused unless `allow_outside_images`.
    """
    images = {int(img["id"]): img for img in data["images"]}
    instances = []
    for ann in data["annotations"]:
        if ann.get("category_id", category_id) != category_id:
            continue
        img = images.get(int(ann["image_id"]))
        if img is None:
            raise UserError(f"{path}: annotation {ann['id']} refers to image {ann['image_id']}, which is not listed")
        kp = np.asarray(ann["keypoints"], dtype=np.float32).reshape(num_keypoints, 3)
        labelled = int((kp[:, 2] > 0).sum())
        if ann.get("iscrowd", 0) or ann.get("num_keypoints", labelled) <= 0 or labelled == 0:
            continue
        box = _clip_box(ann["bbox"], float(img["width"]), float(img["height"]))
        if box is None:
            continue
        instances.append(Instance(
            ann_id=int(ann["id"]), image_id=int(ann["image_id"]),
            file=image_file(image_root, img["file_name"], path, allow_outside_images), bbox=box,
            area=float(ann.get("area", box[2] * box[3])), keypoints=kp,
            video=img.get("video_id", img.get("vid_id")), frame=_int_or_none(img.get("frame_id")),
            track=ann.get("track_id"),
        ))  # fmt: skip
    return instances


def _clip_box(bbox: Any, width: float, height: float) -> np.ndarray | None:
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(width, x + max(0.0, w)), min(height, y + max(0.0, h))
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


def _int_or_none(value: Any) -> int | None:
    return int(value) if is_finite(value) else None


def check_images_exist(instances: list[Instance], path: Path) -> None:
    """UserError naming the first image file that is missing."""
    seen: set[Path] = set()
    for inst in instances:
        if inst.file not in seen:
            seen.add(inst.file)
            if not os.path.exists(inst.file):
                raise UserError(f"{path}: image {inst.file} (image id {inst.image_id}) not found")


def build_clips(instances: list[Instance], length: int, path: Path, stride: int = 1) -> list[list[int]]:
    """Windows of `length` consecutive frames (frame_id step 1) of one track, as instance indices."""
    tracks: dict[tuple[Any, Any], list[int]] = defaultdict(list)
    for i, inst in enumerate(instances):
        if inst.video is None or inst.frame is None or inst.track is None:
            raise UserError(
                f"{path}: clip mode needs video_id (or vid_id) and frame_id on images and track_id on "
                f"annotations; annotation {inst.ann_id} lacks them"
            )
        tracks[(inst.video, inst.track)].append(i)
    clips = []
    for key in sorted(tracks, key=str):
        members = sorted(tracks[key], key=lambda i: instances[i].frame)
        runs, run = [], [members[0]]
        for i in members[1:]:
            if instances[i].frame == instances[run[-1]].frame + 1:
                run.append(i)
            else:
                runs.append(run)
                run = [i]
        runs.append(run)
        for run in runs:
            clips.extend(run[s : s + length] for s in range(0, len(run) - length + 1, stride))
    if not clips:
        raise UserError(f"{path}: no track has {length} consecutive frames for clip mode")
    return clips


def coco_api(data: dict[str, Any]) -> Any:
    """A pycocotools COCO object over `data`, built without its prints (they would break --json)."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco
