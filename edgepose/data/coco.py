"""Top-down COCO-keypoints reader: one person crop per item (or a clip of T frames of one track).

Pixel convention (edgepose.deploy.crop): cv2 pixel coordinates, pixel centres at integer coords.
Keypoints come back in model-input pixels; `inv_affine` maps model-input pixels to original image
pixels (what evaluation needs); heatmap coordinate = input coordinate / stride (SimpleBaselines).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from edgepose.artifact import ModelSpec
from edgepose.data import cocofile
from edgepose.data.targets import default_sigma, gaussian_heatmaps, regression_targets
from edgepose.data.transforms import IDENTITY, AugmentConfig, AugmentParams, sample_augment, to_model_input
from edgepose.deploy.crop import crop_affine, crop_inverse, transform_points, warp_crop
from edgepose.deploy.images import read_image_rgb
from edgepose.errors import UserError
from edgepose.schemas import SCHEMAS, KeypointSchema

# One cv2 thread, set in the parent before any DataLoader forks (see _worker_init). Samples are small
# and the loader already parallelises across worker processes.
cv2.setNumThreads(1)

__all__ = ["CocoPoseDataset", "make_loader", "read_image_rgb", "regression_targets", "schema_from_annotations"]


class CocoPoseDataset(Dataset):
    """People with labelled joints from a COCO-keypoints JSON, cropped top-down to `spec.input_size`.

    Items: image (3,H,W) normalised; heatmaps (K,H/s,W/s); target_weight (K,) (0 for v=0 or outside
    the crop); keypoints (K,3) input pixels + the annotation's v; inv_affine (2,3) input -> image
    pixels; image_id, ann_id, bbox (4,) xywh, area. Clip mode (clip_length=T) stacks T frames of one
    track on a new first axis (image_id/ann_id/bbox/area become (T,) arrays), all with the same
    augmentation draw; each frame is cropped around its own box. Values that cannot be scored are
    refused and what is left out is counted in `dropped` (edgepose.data.coco_checks); image paths that
    lead out of the image folder are refused unless `allow_outside_images`.
    """

    def __init__(
        self,
        ann_file: str | Path,
        spec: ModelSpec,
        image_root: Path | None = None,
        train: bool = False,
        augment: AugmentConfig | None = None,
        heatmap_stride: int = 4,
        sigma: float | None = None,
        clip_length: int | None = None,
        clip_stride: int = 1,
        allow_outside_images: bool = False,
    ):
        self.ann_file = Path(ann_file)
        self.spec = spec
        self.train = train
        self.augment = augment if augment is not None else AugmentConfig()
        data = cocofile.read_json(self.ann_file)
        category_id, names = cocofile.keypoint_category(data, self.ann_file)
        self.schema = cocofile.resolve_schema(names, spec.schema, self.ann_file)
        self.image_root = cocofile.resolve_image_root(data, self.ann_file, image_root)
        self.instances = cocofile.collect_instances(
            data, self.ann_file, category_id, self.schema.num_keypoints, self.image_root, allow_outside_images
        )
        self.dropped = dict(data.dropped)  # what the reader left out (coco_checks.DROP_KINDS)
        cocofile.check_images_exist(self.instances, self.ann_file)
        self.coco = cocofile.coco_api(data)
        if heatmap_stride <= 0:
            raise UserError(f"heatmap stride must be positive, got {heatmap_stride}")
        h, w = spec.input_size
        self.input_size = (h, w)
        self.heatmap_stride = heatmap_stride
        self.heatmap_size = (h // heatmap_stride, w // heatmap_stride)
        self.sigma = sigma if sigma is not None else default_sigma(self.heatmap_size)
        self.flip_index = np.asarray(self.schema.flip_index())
        self.clip_length = clip_length
        self.clips: list[list[int]] | None = None
        if clip_length is not None:
            if clip_length < 1 or clip_stride < 1:
                raise UserError(f"clip length {clip_length} and stride {clip_stride} must be >= 1")
            self.clips = cocofile.build_clips(self.instances, clip_length, self.ann_file, clip_stride)

    def __len__(self) -> int:
        return len(self.clips) if self.clips is not None else len(self.instances)

    def __getitem__(self, index: int) -> dict[str, Any]:
        params = self._draw_params()
        if self.clips is None:
            return _to_torch(self._sample(self.instances[index], params))
        frames = [self._sample(self.instances[i], params) for i in self.clips[index]]
        stacked = {key: np.stack([np.asarray(f[key]) for f in frames]) for key in frames[0]}
        return _to_torch(stacked)

    def _draw_params(self) -> AugmentParams:
        if not self.train:
            return IDENTITY
        # seeded from torch so DataLoader workers and torch.manual_seed give distinct, repeatable draws
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        return sample_augment(np.random.default_rng(seed), self.augment)

    def _sample(self, inst: cocofile.Instance, params: AugmentParams) -> dict[str, Any]:
        h, w = self.input_size
        image = read_image_rgb(inst.file)
        affine = crop_affine(inst.bbox, (h, w), rot_deg=params.rotation_deg, scale_factor=params.scale,
                             shift=params.shift, flip=params.flip)  # fmt: skip
        crop = warp_crop(image, affine, (h, w))
        points = transform_points(inst.keypoints[:, :2], affine)
        vis = inst.keypoints[:, 2].copy()
        if params.flip:
            points, vis = points[self.flip_index], vis[self.flip_index]
        points[vis <= 0] = 0.0
        inside = (points[:, 0] >= 0) & (points[:, 0] <= w - 1) & (points[:, 1] >= 0) & (points[:, 1] <= h - 1)
        weight = ((vis > 0) & inside).astype(np.float32)
        keypoints = np.concatenate([points, vis[:, None]], axis=1).astype(np.float32)
        return {
            "image": to_model_input(crop, self.spec.mean, self.spec.std, params),
            "heatmaps": gaussian_heatmaps(keypoints, weight, self.heatmap_size, self.heatmap_stride, self.sigma),
            "target_weight": weight,
            "keypoints": keypoints,
            "inv_affine": crop_inverse(affine),
            "image_id": inst.image_id,
            "ann_id": inst.ann_id,
            "bbox": inst.bbox.astype(np.float32),
            "area": inst.area,
        }


def _to_torch(sample: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sample.items():
        out[key] = torch.from_numpy(value) if isinstance(value, np.ndarray) else value
    return out


def _worker_init(_worker_id: int) -> None:
    # cv2 is single-threaded in every process that imports this module (set at import). Calling
    # cv2.setNumThreads in a forked child hangs: it waits for pool threads the fork did not copy.
    torch.set_num_threads(1)


def worker_context(workers: int) -> str | None:
    """How DataLoader workers start: from a fork server, never by forking this process.

    By the time edgepose loads data it may host OpenVINO's, ONNX Runtime's and NNCF's thread pools
    (QAT after an OpenVINO PTQ, fine-tuning inside `optimize`); forking such a process crashed it
    (SIGSEGV). A fork server is a clean process that only imports the data code: one start-up of a
    few seconds per loader (workers are persistent), and safe whatever ran before.
    """
    return "forkserver" if workers > 0 else None


def make_loader(
    dataset: Dataset, batch_size: int, shuffle: bool, workers: int = 0, seed: int | None = None
) -> DataLoader:
    """A DataLoader with worker processes (persistent when workers > 0; 0 loads in this process).

    `seed` fixes the shuffling order (and, through torch's RNG, the augmentation draws).
    """
    if batch_size < 1 or workers < 0:
        raise UserError(f"batch size {batch_size} must be >= 1 and workers {workers} >= 0")
    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        persistent_workers=workers > 0,
        worker_init_fn=_worker_init if workers > 0 else None,
        multiprocessing_context=worker_context(workers),
        generator=generator,
        drop_last=shuffle and len(dataset) > batch_size,  # no 1-item batch for BatchNorm in training
    )


def schema_from_annotations(ann_file: str | Path) -> KeypointSchema:
    """The registered keypoint schema whose joint names (in order) are the file's keypoint category."""
    path = Path(ann_file)
    data = cocofile.read_json(path)
    _, names = cocofile.keypoint_category(data, path)
    for entry in SCHEMAS:
        if list(entry.obj.keypoints) == names:
            return entry.obj
    known = ", ".join(f"{e.name} ({e.obj.num_keypoints})" for e in SCHEMAS)
    raise UserError(
        f"{path}: its {len(names)} keypoint names match no known schema ({known}); "
        "rename them to one of these, in the same order"
    )
