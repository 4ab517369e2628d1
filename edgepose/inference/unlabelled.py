"""Label-free recovery: a training set of unlabelled person crops, and agreement with the teacher as the
validation metric.

Fine-tuning without labels distils from the original (unmodified) model alone: the training loop's target is
the teacher's output on the same augmented input (edgepose.train.pose_loss with distill 1), so the dataset gives
images and placeholder targets only (weight 1 on every joint: the teacher's heatmap says where a joint is, and
an all-low heatmap where it sees none).

Validation without labels compares the student's decoded keypoints with the teacher's on HELD-BACK images (never
trained on): `teacher_pck` is the share of keypoints within AGREE_FRACTION of the model-input diagonal of the
teacher's (100 = the teacher itself; at 128x96 that is 8 px, about 0.2 of a typical LSP torso in the crop, so
it reads like a PCK@0.2 against the teacher), `teacher_disp_px` their mean distance in model-input pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from edgepose.errors import UserError
from edgepose.inference.image_inputs import View, model_input

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec

AGREE_FRACTION = 0.05
AGREEMENT_METRIC = "teacher_pck"
YOLO_AGREEMENT_METRIC = "teacher_oks"
YOLO_AGREE_CONF = 0.5  # teacher people that count (and student people that may match them)


class UnlabelledCrops(Dataset):
    """Person crops (or letterboxed images) from Views, augmented like the labelled reader when `train`."""

    labelled = False

    def __init__(self, views: list[View], spec: ModelSpec, train: bool = True, heatmap_stride: int = 4,
                 source: str = "unlabelled images"):  # fmt: skip
        if spec.head not in ("heatmap", "regression", "yolo"):
            raise UserError(f"label-free fine-tuning supports heatmap, regression and YOLO-pose models, not '{spec.head}'")
        if spec.clip_length:
            raise UserError("label-free fine-tuning of clip models is not supported: give labelled tracks")
        if not views:
            raise UserError("no images left to fine-tune on")
        from edgepose.schemas import get_schema

        self.views, self.spec, self.train, self.source = views, spec, train, source
        self.num_keypoints = get_schema(spec.schema).num_keypoints
        h, w = spec.input_size
        self.heatmap_size = (h // heatmap_stride, w // heatmap_stride)

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from edgepose.data.transforms import IDENTITY, AugmentConfig, sample_augment

        params = IDENTITY
        if self.train:  # seeded from torch, like CocoPoseDataset: distinct, repeatable draws per worker
            params = sample_augment(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item())), AugmentConfig())
        k = self.num_keypoints
        if self.spec.head == "yolo":  # whole letterboxed images; the targets are the teacher's raw outputs
            return {"image": torch.from_numpy(model_input(self.views[index], self.spec)), "boxes": torch.zeros(0, 4),
                    "keypoints": torch.zeros(0, k, 3)}  # fmt: skip
        return {
            "image": torch.from_numpy(model_input(self.views[index], self.spec, params)),
            "heatmaps": torch.zeros((k, *self.heatmap_size), dtype=torch.float32),
            "keypoints": torch.zeros((k, 3), dtype=torch.float32),
            "target_weight": torch.ones(k, dtype=torch.float32),
        }


class TeacherAgreement:
    """Validation without labels: agreement of a student with `teacher` on held-back `views` (module doc);
    YOLO-pose: `teacher_oks`, OKS agreement (x100) of people matched one to one (yolo_agreement)."""

    def __init__(self, views: list[View], spec: ModelSpec, teacher: torch.nn.Module, batch_size: int = 32):
        if not views:
            raise UserError("no held-back images to validate on")
        self.spec, self.batch_size, self.n_images = spec, batch_size, len(views)
        self.metric = YOLO_AGREEMENT_METRIC if spec.head == "yolo" else AGREEMENT_METRIC
        self.inputs = torch.from_numpy(np.stack([model_input(v, spec) for v in views]))
        self.reference = keypoints_of(teacher, self.inputs, spec, batch_size)

    def __str__(self) -> str:
        return f"agreement with the teacher on {self.n_images} held-back images"

    def score(self, model: torch.nn.Module) -> dict[str, float]:
        """{'teacher_pck' (YOLO-pose: 'teacher_oks'): 0..100, ...} for `model`."""
        student = keypoints_of(model, self.inputs, self.spec, self.batch_size)
        if self.spec.head == "yolo":
            return yolo_agreement(student, self.reference, self.spec)
        return agreement(student, self.reference, self.spec)


def _raw_outputs(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int) -> np.ndarray:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outs = []
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                out = model(inputs[start : start + batch_size].to(device))
                out = out[0] if isinstance(out, list | tuple) else out
                outs.append(out.float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(outs)


def keypoints_of(model: torch.nn.Module, inputs: torch.Tensor, spec: ModelSpec, batch_size: int = 32) -> Any:
    """(N, K, 2) decoded keypoints in model-input pixels (heatmap argmax + DARK, or regression); YOLO-pose: the
    decoded people per image (edgepose.deploy.yolo_decode.Detections)."""
    from edgepose.deploy.decode import decode_heatmaps

    out = _raw_outputs(model, inputs, batch_size)
    if spec.head == "yolo":
        from edgepose.deploy.yolo_decode import postprocess

        return postprocess(out, tuple(spec.input_size), _num_keypoints(spec), conf=YOLO_AGREE_CONF)
    h, w = spec.input_size
    if spec.head == "heatmap":
        stride = (w / out.shape[-1], h / out.shape[-2])
        return decode_heatmaps(out, stride=stride)[..., :2]
    return out[..., :2] * np.array([w, h], dtype=np.float32)


def agreement(student: np.ndarray, teacher: np.ndarray, spec: ModelSpec) -> dict[str, float]:
    """Share (%) of keypoints within AGREE_FRACTION of the input diagonal of the teacher's, and the mean distance."""
    h, w = spec.input_size
    dist = np.linalg.norm(np.asarray(student, np.float64) - np.asarray(teacher, np.float64), axis=-1)
    return {AGREEMENT_METRIC: float(100.0 * np.mean(dist <= AGREE_FRACTION * float(np.hypot(h, w)))),
            "teacher_disp_px": float(dist.mean()), "n_images": int(len(dist))}  # fmt: skip


def _num_keypoints(spec: ModelSpec) -> int:
    from edgepose.schemas import get_schema

    return get_schema(spec.schema).num_keypoints


def yolo_agreement(student: list[Any], teacher: list[Any], spec: ModelSpec) -> dict[str, float]:
    """OKS agreement (x100) of the student's people with the teacher's, matched one to one.

    Each teacher person (most confident first) takes the still-unmatched student person whose OKS with it is
    highest (schema sigmas, the teacher box's area, the keypoints the teacher sees). The score is the sum of the
    matched OKS over (teacher people + student people left over), so a missed person, a duplicate and an invented
    one each cost: a student that finds every teacher person twice scores 50, not 100. Teacher people with no
    seen keypoint are not scored, and each excuses one left-over student person (the one that found it).
    """
    from edgepose.metrics.coco_eval import keypoint_oks
    from edgepose.schemas import get_schema

    sigmas = np.asarray(get_schema(spec.schema).sigmas, dtype=np.float64)
    matched_oks, n_people, n_extra = 0.0, 0, 0
    for s_det, t_det in zip(student, teacher, strict=True):
        free = list(range(len(s_det.keypoints)))
        unseen = 0
        for t in np.argsort(-np.asarray(t_det.scores, dtype=np.float64), kind="stable"):
            box, kpts = t_det.boxes[t], t_det.keypoints[t]
            seen = kpts[:, 2] > 0.5
            if not seen.any():
                unseen += 1
                continue
            area = float((box[2] - box[0]) * (box[3] - box[1]))
            fits = [keypoint_oks(s_det.keypoints[j][:, :2], kpts[:, :2], seen, area, sigmas) for j in free]
            if fits:
                best = int(np.argmax(fits))  # the first of equals, as before
                matched_oks += fits[best]
                del free[best]
            n_people += 1
        n_extra += max(len(free) - unseen, 0)
    total = n_people + n_extra
    return {YOLO_AGREEMENT_METRIC: 100.0 * matched_oks / total if total else 100.0, "n_people": n_people,
            "n_extra": n_extra}  # fmt: skip
