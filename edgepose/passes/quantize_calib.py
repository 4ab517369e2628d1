"""Calibration inputs: real images from any source, through the model's own preprocessing.

Calibration needs images, not labels: a COCO-keypoints file in the model's schema is read by the evaluation
reader (its labelled people); anything else (a folder, a glob, a video, an annotations file of another keypoint
schema) goes through edgepose.inference.image_inputs: person boxes from the file, from a detector, or whole
images for a single-person top-down model; whole letterboxed images for YOLO-pose.

Wrong normalisation is the silent killer of INT8 accuracy (ranges calibrated on inputs the model never
sees), so the inputs are made by the same reader that evaluation uses, with the model's ModelSpec, and
their statistics are checked against what that spec implies before any calibration runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.errors import UserError

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec

# per-channel mean / std of normalised natural images stay well inside these bounds; a wrong
# mean/std (e.g. 0-255 pixels, or ImageNet stats applied twice) lands far outside them
MEAN_LIMIT = 2.5
STD_RANGE = (0.15, 4.0)


def calibration_inputs(ann_file: str | Path, spec: ModelSpec, count: int = 128, seed: int = 0, detector: Any = None,
                       log: Any = None) -> np.ndarray:  # fmt: skip
    """(N, 3, H, W) float32 inputs (clips: (N, T, 3, H, W)) for `spec`, drawn evenly from SOURCE `ann_file`
    (module doc); `detector` (a YOLO-pose PoseModel) finds the people in unannotated images for top-down models."""
    from edgepose.inference.image_inputs import has_matching_labels, is_annotations, sample_inputs

    if count < 1:
        raise UserError(f"calibration needs at least 1 image, got {count}")
    annotated = is_annotations(ann_file)
    if spec.head == "yolo" and annotated:  # whole-image multi-person models see letterboxed whole images
        images = letterboxed_inputs(Path(ann_file), spec, count, seed)
        check_normalisation(images, spec, str(ann_file))
        return images
    if not (annotated and (spec.clip_length or has_matching_labels(ann_file, spec))):
        images = sample_inputs(ann_file, spec, count, seed, detector=detector, log=log)
        check_normalisation(images, spec, str(ann_file))
        return images
    from edgepose.data.coco import CocoPoseDataset

    dataset = CocoPoseDataset(ann_file, spec, train=False, clip_length=spec.clip_length,
                              clip_stride=spec.clip_length or 1)  # fmt: skip
    if len(dataset) == 0:
        raise UserError(f"{ann_file} has no annotated people to calibrate on")
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(dataset), size=min(count, len(dataset)), replace=False))
    images = np.stack([_numpy(dataset[int(i)]["image"]) for i in picks]).astype(np.float32)
    check_normalisation(images, spec, str(ann_file))
    return images


def letterboxed_inputs(ann_file: Path, spec: ModelSpec, count: int, seed: int = 0) -> np.ndarray:
    """(N, 3, H, W) whole images from `ann_file`, letterboxed and normalised as the YOLO-pose eval does."""
    from edgepose.data import cocofile
    from edgepose.data.coco import read_image_rgb
    from edgepose.deploy.letterbox import letterbox
    from edgepose.deploy.normalize import YOLO_SCALING, to_model_input

    data = cocofile.read_json(ann_file)
    root = cocofile.resolve_image_root(data, ann_file, None)
    entries = [img for img in data["images"] if isinstance(img, dict) and "file_name" in img]
    if not entries:
        raise UserError(f"{ann_file} lists no images to calibrate on")
    picks = np.sort(np.random.default_rng(seed).choice(len(entries), size=min(count, len(entries)), replace=False))
    return np.stack([to_model_input(letterbox(read_image_rgb(root / entries[int(i)]["file_name"]), spec.input_size)[0],
                                    spec.mean, spec.std, YOLO_SCALING) for i in picks]).astype(np.float32)  # fmt: skip


def check_normalisation(images: np.ndarray, spec: ModelSpec, source: str) -> dict[str, Any]:
    """Per-channel mean/std of the inputs; UserError when they cannot come from the spec's preprocessing."""
    channel_axis = images.ndim - 3
    axes = tuple(i for i in range(images.ndim) if i != channel_axis)
    mean, std = images.mean(axis=axes), images.std(axis=axes)
    minmax = all(m == 0.0 for m in spec.mean) and all(s == 1.0 for s in spec.std)
    if minmax:
        ok = float(images.min()) >= -1e-3 and float(images.max()) <= 1.0 + 1e-3
        expected = "pixels in [0, 1]"
    else:
        ok = bool(np.all(np.abs(mean) < MEAN_LIMIT) and np.all((std > STD_RANGE[0]) & (std < STD_RANGE[1])))
        expected = f"mean within +-{MEAN_LIMIT} and std in {STD_RANGE} per channel"
    stats = {"mean": [round(float(v), 4) for v in mean], "std": [round(float(v), 4) for v in std], "ok": ok}
    if not ok:
        raise UserError(
            f"calibration inputs from {source} do not look like the model's preprocessing (mean {stats['mean']}, "
            f"std {stats['std']}; expected {expected} for mean {list(spec.mean)} / std {list(spec.std)}): "
            "check the model's spec (edgepose info MODEL)"
        )
    return stats


def _numpy(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)
