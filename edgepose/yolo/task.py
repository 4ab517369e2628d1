"""The YOLO-pose training task for edgepose.train's shared loop: its training data and its loss.

edgepose.train dispatches here when spec.head == "yolo"; the loop itself (AdamW, warm-up + cosine,
best-on-val by OKS AP through edgepose.evaluate, resume) stays the shared one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

from edgepose.errors import UserError
from edgepose.yolo.data import MultiPersonDataset, collate
from edgepose.yolo.loss import YoloPoseLoss


def train_dataset(ann_file: str | Path, spec: Any) -> tuple[Dataset, Callable[[list[Any]], Any]]:
    """Whole-image training items with augmentation, and the collate that pads their targets (edgepose.yolo.data);
    edgepose.train shards and batches them (edgepose.data.sharding)."""
    return MultiPersonDataset(ann_file, spec, train=True), collate


@lru_cache(maxsize=8)
def _loss_for(input_size: tuple[int, int], schema_name: str) -> YoloPoseLoss:
    from edgepose.schemas import get_schema

    return YoloPoseLoss(input_size, get_schema(schema_name).sigmas)


def yolo_pose_loss(output: Tensor, batch: dict[str, Tensor], spec: Any, teacher_output: Tensor | None = None,
                   distill_alpha: float = 0.0) -> Tensor:  # fmt: skip
    """The total YOLO-pose loss of one batch (same signature as edgepose.train.pose_loss).

    Label-free (distill_alpha 1 with a teacher): the targets are the teacher's decoded detections on the same
    input (pseudo_labels), so the student learns through the real assignment + box / keypoint losses rather than
    by regressing raw head channels whose scales (DFL logits, class logits, keypoint offsets) differ.
    """
    if distill_alpha >= 1 and teacher_output is not None:
        batch = {**batch, **pseudo_labels(teacher_output, spec)}
    elif distill_alpha > 0:
        raise UserError("YOLO-pose distills only label-free (teacher share 1): mixing labels with the teacher's "
                        "outputs is not implemented; use distill 0 with labels, or unlabelled images")  # fmt: skip
    loss, _ = _loss_for(tuple(spec.input_size), spec.schema)(output, batch["boxes"], batch["keypoints"], batch["mask"])
    return loss


PSEUDO_CONF = 0.5  # teacher detections kept as pseudo-labels (above Ultralytics' 0.25 predict threshold: fewer ghosts)
PSEUDO_VISIBLE = 0.5  # a teacher keypoint with visibility above this is a labelled joint (v=2), else unlabelled


def pseudo_labels(teacher_raw: Tensor, spec: Any) -> dict[str, Tensor]:
    """The teacher's people (score > PSEUDO_CONF, after NMS) as padded targets: boxes (B, M, 4) xyxy, keypoints
    (B, M, K, 3) in input pixels (v = 2 where the teacher sees the joint, else 0), mask (B, M)."""
    import torch

    from edgepose.deploy.yolo_decode import postprocess
    from edgepose.schemas import get_schema

    k = get_schema(spec.schema).num_keypoints
    found = postprocess(teacher_raw.detach().float().cpu().numpy(), tuple(spec.input_size), k, conf=PSEUDO_CONF)
    most = max(1, max(len(d) for d in found))
    boxes, keypoints = torch.zeros(len(found), most, 4), torch.zeros(len(found), most, k, 3)
    mask = torch.zeros(len(found), most, dtype=torch.bool)
    for i, det in enumerate(found):
        n = len(det)
        if n:
            kp = torch.from_numpy(det.keypoints.astype("float32"))
            kp[..., 2] = torch.where(kp[..., 2] > PSEUDO_VISIBLE, 2.0, 0.0)
            boxes[i, :n], keypoints[i, :n], mask[i, :n] = torch.from_numpy(det.boxes.astype("float32")), kp, True
    device = teacher_raw.device
    return {"boxes": boxes.to(device), "keypoints": keypoints.to(device), "mask": mask.to(device)}
