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
from edgepose.schemas import get_schema
from edgepose.yolo.data import MultiPersonDataset, collate
from edgepose.yolo.distill import dense_distill_loss
from edgepose.yolo.loss import YoloPoseLoss


def train_dataset(ann_file: str | Path, spec: Any) -> tuple[Dataset, Callable[[list[Any]], Any]]:
    """Whole-image training items with augmentation, and the collate that pads their targets (edgepose.yolo.data);
    edgepose.train shards and batches them (edgepose.data.sharding)."""
    return MultiPersonDataset(ann_file, spec, train=True), collate


@lru_cache(maxsize=8)
def _loss_for(input_size: tuple[int, int], schema_name: str) -> YoloPoseLoss:
    return YoloPoseLoss(input_size, get_schema(schema_name).sigmas)


def yolo_pose_loss(output: Tensor, batch: dict[str, Tensor], spec: Any, teacher_output: Tensor | None = None,
                   distill_alpha: float = 0.0) -> Tensor:  # fmt: skip
    """The total YOLO-pose loss of one batch (same signature as edgepose.train.pose_loss).

    Label-free (distill_alpha 1 with a teacher): the student's raw head outputs are matched to the teacher's
    at every anchor, each channel group with its own loss (edgepose.yolo.distill). Measured against the
    teacher's decoded people as pseudo-labels through the loss below, on a yolo11n-pose pruned to 70% of its
    GFLOPs: after 25 steps of 8 photos the dense targets reached OKS agreement 8.0 with the teacher, the
    pseudo-labels 0.0 (the assignment gives each person ~10 anchors; the dense targets give all 8,400).
    """
    if distill_alpha >= 1 and teacher_output is not None:
        return dense_distill_loss(output, teacher_output, get_schema(spec.schema).num_keypoints)
    if distill_alpha > 0:
        raise UserError("YOLO-pose distills only label-free (teacher share 1): mixing labels with the teacher's "
                        "outputs is not implemented; use distill 0 with labels, or unlabelled images")  # fmt: skip
    loss, _ = _loss_for(tuple(spec.input_size), spec.schema)(output, batch["boxes"], batch["keypoints"], batch["mask"])
    return loss
