"""Model inputs from any images: what calibration, label-free fine-tuning and parity read when they need
images but no labels.

A SOURCE is what `edgepose predict` reads (edgepose.inference.sources: an image, a folder, a glob, a video), or
a COCO-style annotations file whatever its keypoint schema (its labels are not used). Each source becomes a list
of Views: one image (or video frame) and, for top-down models, one person box in it:

- an annotations file gives its person boxes (`bbox`; crowd boxes and empty boxes skipped); a file without boxes
  gives its images;
- images and video frames get boxes from a detector (a YOLO-pose PoseModel, `--detector MODEL`) when one is
  given, else the whole frame is one person (single-person models, e.g. LSP-style crops);
- YOLO-pose (multi-person, whole-image) models take every image whole, letterboxed.

Inputs are made by the deployed preprocessing (edgepose.deploy.crop + the model's mean/std), the same crop the
evaluation reader makes, so calibration sees exactly what the model will see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.errors import UserError

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec
    from edgepose.deploy.model import PoseModel

MIN_BOX_PX = 4.0  # boxes smaller than this (either side) carry no person worth calibrating on


@dataclass(frozen=True)
class View:
    """One model input to make: an image file (or a video's frame) and the person box in it (None: whole image)."""

    file: str
    frame: int | None = None  # video frame index; None for a still image
    box_xywh: tuple[float, float, float, float] | None = None

    @property
    def image_key(self) -> str:
        """What identifies the picture: a held-back split never puts one picture on both sides."""
        return self.file if self.frame is None else f"{self.file}#{self.frame}"


def is_annotations(source: str | Path) -> bool:
    """Whether SOURCE is a COCO-style annotations file (.json) rather than images or a video."""
    return Path(source).suffix.lower() == ".json" and Path(source).is_file()


def has_matching_labels(source: str | Path, spec: ModelSpec) -> bool:
    """Whether SOURCE is an annotations file whose keypoints the model's schema can train on."""
    if not is_annotations(source) or spec.schema is None:
        return False
    from edgepose.data import cocofile

    data = cocofile.read_json(Path(source))
    try:
        _, names = cocofile.keypoint_category(data, Path(source))
        cocofile.resolve_schema(names, spec.schema, Path(source))
    except UserError:
        return False
    return any(isinstance(a, dict) and a.get("num_keypoints", 1) for a in data.get("annotations", []))


def list_views(source: str | Path, spec: ModelSpec) -> list[View]:
    """Every View SOURCE holds for `spec` (boxes from an annotations file; else whole images / frames)."""
    text = str(source)
    if is_annotations(text):
        views = _annotation_views(Path(text), whole=spec.head == "yolo")
    else:
        from edgepose.inference.sources import expand_sources

        views = []
        for src in expand_sources([text]):
            if src.images is not None:
                views.extend(View(str(p)) for p in src.images)
            else:
                views.extend(View(str(src.video), frame=i) for i in range(_frame_count(str(src.video))))
    if not views:
        raise UserError(f"{text} holds no images to take model inputs from")
    return views


def _annotation_views(path: Path, whole: bool) -> list[View]:
    from edgepose.data import cocofile

    data = cocofile.read_json(path)
    root = cocofile.resolve_image_root(data, path, None)
    images = {img["id"]: img for img in data["images"] if isinstance(img, dict) and "file_name" in img and "id" in img}
    if whole:
        return [View(_inside(root, img["file_name"], path)) for img in images.values()]
    views = []
    for ann in data.get("annotations", []):
        box = ann.get("bbox") if isinstance(ann, dict) else None
        image = images.get(ann.get("image_id")) if isinstance(ann, dict) else None
        if image is None or ann.get("iscrowd", 0) or not isinstance(box, list) or len(box) != 4:
            continue
        if float(box[2]) >= MIN_BOX_PX and float(box[3]) >= MIN_BOX_PX:
            views.append(View(_inside(root, image["file_name"], path), box_xywh=tuple(float(v) for v in box)))
    if not views:  # a file that lists images but no person boxes: its images, whole
        views = [View(_inside(root, img["file_name"], path)) for img in images.values()]
    return views


def _inside(root: Path, file_name: str, ann_file: Path) -> str:
    """root / file_name, refused when the name leads out of root (the dataset reader's rule: symlinked images ok)."""
    from edgepose.data.coco_checks import image_file

    return str(image_file(root, file_name, ann_file))


def _frame_count(video: str) -> int:
    import cv2

    capture = cv2.VideoCapture(video)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:  # some containers do not say: count by reading
            count = 0
            while capture.read()[0]:
                count += 1
    finally:
        capture.release()
    return count


def read_rgb(view: View) -> np.ndarray:
    """The view's picture, RGB uint8 (H, W, 3); UserError naming an unreadable file."""
    if view.frame is None:
        from edgepose.deploy.images import read_image_rgb

        return read_image_rgb(Path(view.file))
    import cv2

    capture = cv2.VideoCapture(view.file)
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, view.frame)
        ok, bgr = capture.read()
    finally:
        capture.release()
    if not ok:
        raise UserError(f"frame {view.frame} of {view.file} cannot be read")
    return np.ascontiguousarray(bgr[..., ::-1])


def with_detections(views: list[View], detector: PoseModel, min_score: float) -> list[View]:
    """Views without a box replaced by one View per person the detector finds (pictures with none are dropped)."""
    out: list[View] = []
    for view in views:
        if view.box_xywh is not None:
            out.append(view)
            continue
        for pose in detector.whole_image(read_rgb(view)):
            if pose.score >= min_score:
                x1, y1, x2, y2 = (float(v) for v in pose.box)
                if x2 - x1 >= MIN_BOX_PX and y2 - y1 >= MIN_BOX_PX:
                    out.append(View(view.file, view.frame, (x1, y1, x2 - x1, y2 - y1)))
    return out


def model_input(view: View, spec: ModelSpec, params: Any = None, image: np.ndarray | None = None) -> np.ndarray:
    """(3, H, W) float32 input for `spec`: the person crop (top-down; augmented by `params` when given), or the
    letterboxed whole image (YOLO-pose)."""
    rgb = read_rgb(view) if image is None else image
    if spec.head == "yolo":
        from edgepose.deploy.letterbox import letterbox
        from edgepose.deploy.normalize import YOLO_SCALING
        from edgepose.deploy.normalize import to_model_input as yolo_input

        return yolo_input(letterbox(rgb, spec.input_size)[0], spec.mean, spec.std, YOLO_SCALING).astype(np.float32)
    from edgepose.data.transforms import IDENTITY, to_model_input
    from edgepose.deploy.crop import clip_boxes, crop_affine, warp_crop

    h, w = rgb.shape[:2]
    box = view.box_xywh if view.box_xywh is not None else (0.0, 0.0, float(w), float(h))
    clipped, keep = clip_boxes(np.asarray([box]), (h, w))
    box = tuple(float(v) for v in clipped[0]) if keep[0] else box
    p = params if params is not None else IDENTITY
    affine = crop_affine(box, spec.input_size, rot_deg=p.rotation_deg, scale_factor=p.scale, shift=p.shift, flip=p.flip)
    return to_model_input(warp_crop(rgb, affine, spec.input_size), spec.mean, spec.std, p).astype(np.float32)


def pick(views: list[View], count: int, seed: int = 0) -> list[View]:
    """Up to `count` views drawn without replacement (seeded), in source order."""
    if len(views) <= count:
        return list(views)
    index = np.sort(np.random.default_rng(seed).choice(len(views), size=count, replace=False))
    return [views[int(i)] for i in index]


def sample_inputs(source: str | Path, spec: ModelSpec, count: int, seed: int = 0, detector: PoseModel | None = None,
                  min_score: float = 0.5, log: Callable[[str], None] | None = None) -> np.ndarray:  # fmt: skip
    """(N <= count, 3, H, W) inputs for `spec` from SOURCE (see the module doc), drawn evenly at random."""
    if count < 1:
        raise UserError(f"need at least 1 image, got {count}")
    if spec.clip_length:
        raise UserError("a clip model takes T frames of one track: give an annotations file with tracks of its schema")
    views = list_views(source, spec)
    boxed = any(v.box_xywh is not None for v in views)
    if detector is not None and spec.head != "yolo" and not boxed:
        views = with_detections(pick(views, count, seed), detector, min_score)
        if not views:
            raise UserError(f"the detector found no person (score >= {min_score}) in the images of {source}")
    if log:
        how = ("letterboxed whole images" if spec.head == "yolo" else "person boxes from the file" if boxed
               else "detected people" if detector is not None else "whole images as one person each")  # fmt: skip
        log(f"model inputs from {source}: {how} ({min(count, len(views))} of {len(views)})")
    return np.stack([model_input(v, spec) for v in pick(views, count, seed)]).astype(np.float32)


def split_held_back(views: list[View], share: float, cap: int, seed: int = 0) -> tuple[list[View], list[View]]:
    """(train views, held-back views): about `share` of the pictures (at most `cap`, at least 1 when there are 2+)
    held back whole, so no held-back picture is trained on."""
    keys = sorted({v.image_key for v in views})
    n_hold = min(cap, max(1 if len(keys) > 1 else 0, int(round(share * len(keys)))))
    held = set(np.random.default_rng(seed).permutation(keys)[:n_hold].tolist()) if n_hold else set()
    return [v for v in views if v.image_key not in held], [v for v in views if v.image_key in held]
