"""Whole-image multi-person training data for YOLO-pose: letterbox + random scale / translate / flip + HSV.

Every person of an image is a target: a box (xyxy, input pixels) and K keypoints (x, y, v; v = 0 where
unlabelled or pushed out of the input by the augmentation). Geometry is in continuous coordinates
(pixel edges at integers, Ultralytics' convention, see edgepose.deploy.letterbox). No mosaic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from edgepose.deploy.letterbox import PAD_VALUE


@dataclass(frozen=True)
class YoloAugment:
    """Ultralytics' pose defaults, without mosaic: scale 0.5, translate 0.1, fliplr 0.5, HSV 0.015/0.7/0.4."""

    scale: float = 0.5
    translate: float = 0.1
    flip_prob: float = 0.5
    hsv: tuple[float, float, float] = (0.015, 0.7, 0.4)
    min_box_px: float = 2.0


NO_AUGMENT = YoloAugment(scale=0.0, translate=0.0, flip_prob=0.0, hsv=(0.0, 0.0, 0.0))


@dataclass
class _ImageItem:
    file: Path
    size: tuple[int, int]  # (H, W)
    boxes: np.ndarray  # (M, 4) xyxy image pixels
    keypoints: np.ndarray  # (M, K, 3)


class MultiPersonDataset(Dataset):
    """Items: image (3, H, W) float, boxes (M, 4), keypoints (M, K, 3) in model-input pixels."""

    def __init__(self, ann_file: str | Path, spec: Any, train: bool = True, augment: YoloAugment | None = None,
                 image_root: Path | None = None):  # fmt: skip
        from edgepose.data import cocofile

        path = Path(ann_file)
        data = cocofile.read_json(path)
        category_id, names = cocofile.keypoint_category(data, path)
        self.schema = cocofile.resolve_schema(names, spec.schema, path)
        self.spec, self.train = spec, train
        self.augment = (augment or YoloAugment()) if train else NO_AUGMENT
        self.flip_index = np.asarray(self.schema.flip_index())
        root = cocofile.resolve_image_root(data, path, image_root)
        self.items = _collect(data, category_id, self.schema.num_keypoints, root, path)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from edgepose.data.coco import read_image_rgb
        from edgepose.deploy.normalize import YOLO_SCALING, to_model_input

        item = self.items[index]
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))
        linear, offset, flip = self._draw(item.size, rng)
        out_h, out_w = self.spec.input_size
        pixel_offset = linear * 0.5 + offset - 0.5  # the same map for cv2's pixel-centre coordinates
        matrix = np.array([[linear[0], 0.0, pixel_offset[0]], [0.0, linear[1], pixel_offset[1]]])
        image = cv2.warpAffine(read_image_rgb(item.file), matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)  # fmt: skip
        if self.train and any(self.augment.hsv):
            image = _hsv_jitter(image, self.augment.hsv, rng)
        boxes, keypoints = _transform_targets(item, linear, offset, (out_h, out_w), self.augment.min_box_px)
        if flip:
            keypoints = keypoints[:, self.flip_index]
        return {
            "image": torch.from_numpy(to_model_input(image, self.spec.mean, self.spec.std, YOLO_SCALING)),
            "boxes": torch.from_numpy(boxes.astype(np.float32)),
            "keypoints": torch.from_numpy(keypoints.astype(np.float32)),
        }

    def _draw(self, size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
        """(per-axis scale (2,), offset (2,), flipped): input = scale * image + offset, continuous coordinates."""
        h, w = size
        out_h, out_w = self.spec.input_size
        aug = self.augment
        ratio = min(out_h / h, out_w / w) * float(rng.uniform(1 - aug.scale, 1 + aug.scale))
        shift = rng.uniform(-aug.translate, aug.translate, 2) * np.array([out_w, out_h])
        centre_in = np.array([out_w / 2, out_h / 2]) + shift
        linear = np.array([ratio, ratio])
        offset = centre_in - ratio * np.array([w / 2, h / 2])
        flip = bool(rng.random() < aug.flip_prob)
        if flip:
            linear, offset = linear * np.array([-1.0, 1.0]), np.array([out_w - offset[0], offset[1]])
        return linear, offset, flip


def _collect(data: dict[str, Any], category_id: int, num_keypoints: int, root: Path, path: Path) -> list[_ImageItem]:
    """One item per image with its non-crowd people (a person without keypoints still has a box); image
    paths that lead out of `root` are refused (edgepose.data.coco_checks.image_file)."""
    from edgepose.data.coco_checks import image_file

    people: dict[Any, list[dict[str, Any]]] = {}
    for ann in data["annotations"]:
        if ann.get("category_id", category_id) == category_id and not ann.get("iscrowd", 0) and "bbox" in ann:
            people.setdefault(ann["image_id"], []).append(ann)
    items = []
    for img in data["images"]:
        anns = [a for a in people.get(img["id"], []) if float(a["bbox"][2]) > 1 and float(a["bbox"][3]) > 1]
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                          for a in anns], dtype=np.float64).reshape(-1, 4)  # fmt: skip
        kps = np.zeros((len(anns), num_keypoints, 3))
        for i, a in enumerate(anns):
            if len(a.get("keypoints") or []) == 3 * num_keypoints:
                kps[i] = np.asarray(a["keypoints"], dtype=np.float64).reshape(num_keypoints, 3)
        file = image_file(root, img["file_name"], path)
        items.append(_ImageItem(file, (int(img["height"]), int(img["width"])), boxes, kps))
    return items


def _transform_targets(item: _ImageItem, linear: np.ndarray, offset: np.ndarray, out_size: tuple[int, int],
                       min_box_px: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Boxes and keypoints moved into the input; boxes clipped, tiny or mostly-cut ones dropped."""
    out_h, out_w = out_size
    corners = item.boxes.reshape(-1, 2, 2) * linear + offset
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    clipped = np.stack([np.clip(boxes[:, 0], 0, out_w), np.clip(boxes[:, 1], 0, out_h),
                        np.clip(boxes[:, 2], 0, out_w), np.clip(boxes[:, 3], 0, out_h)], axis=1)  # fmt: skip
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    keep = (w >= min_box_px) & (h >= min_box_px) & (w * h >= 0.1 * np.maximum(area, 1e-9))
    kps = item.keypoints[keep].copy()
    kps[..., :2] = kps[..., :2] * linear + offset
    outside = (kps[..., 0] < 0) | (kps[..., 0] > out_w) | (kps[..., 1] < 0) | (kps[..., 1] > out_h)
    kps[(kps[..., 2] <= 0) | outside] = 0.0
    return clipped[keep], kps


def _hsv_jitter(image: np.ndarray, gains: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """Ultralytics' random hue / saturation / value lookup tables on an RGB uint8 image."""
    r = rng.uniform(-1, 1, 3) * np.asarray(gains) + 1
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))
    x = np.arange(256, dtype=np.float64)
    luts = [((x * r[0]) % 180).astype(np.uint8), np.clip(x * r[1], 0, 255).astype(np.uint8),
            np.clip(x * r[2], 0, 255).astype(np.uint8)]  # fmt: skip
    hsv = cv2.merge([cv2.LUT(ch, lut) for ch, lut in zip((hue, sat, val), luts, strict=True)])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack images; pad people to the batch maximum: boxes (B, M, 4), keypoints (B, M, K, 3), mask (B, M)."""
    most = max(1, max(len(it["boxes"]) for it in items))
    k = items[0]["keypoints"].shape[1] if items[0]["keypoints"].ndim == 3 else 0
    boxes = torch.zeros(len(items), most, 4)
    keypoints = torch.zeros(len(items), most, k, 3)
    mask = torch.zeros(len(items), most, dtype=torch.bool)
    for i, it in enumerate(items):
        n = len(it["boxes"])
        boxes[i, :n], keypoints[i, :n], mask[i, :n] = it["boxes"], it["keypoints"].reshape(n, k, 3), True
    return {"image": torch.stack([it["image"] for it in items]), "boxes": boxes, "keypoints": keypoints, "mask": mask}
