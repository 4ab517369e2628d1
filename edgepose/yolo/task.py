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
    """The total YOLO-pose loss of one batch (same signature as edgepose.train.pose_loss)."""
    if distill_alpha > 0:
        raise UserError("distillation is not implemented for YOLO-pose models yet; train with distill_alpha 0")
    loss, _ = _loss_for(tuple(spec.input_size), spec.schema)(output, batch["boxes"], batch["keypoints"], batch["mask"])
    return loss
