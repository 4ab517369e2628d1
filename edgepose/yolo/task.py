"""The YOLO-pose training task for edgepose.train's shared loop: its data loader and its loss.

edgepose.train dispatches here when spec.head == "yolo"; the loop itself (AdamW, warm-up + cosine,
best-on-val by OKS AP through edgepose.evaluate, resume) stays the shared one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from edgepose.errors import UserError
from edgepose.yolo.data import MultiPersonDataset, collate
from edgepose.yolo.loss import YoloPoseLoss


def make_train_loader(ann_file: str | Path, spec: Any, batch_size: int, workers: int = 0, seed: int | None = None
                      ) -> DataLoader:  # fmt: skip
    """Shuffled whole-image batches with augmentation, padded targets (edgepose.yolo.data.collate)."""
    from edgepose.data.coco import _worker_init, worker_context

    dataset = MultiPersonDataset(ann_file, spec, train=True)
    if batch_size < 1 or workers < 0:
        raise UserError(f"batch size {batch_size} must be >= 1 and workers {workers} >= 0")
    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(seed)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers, collate_fn=collate,
        persistent_workers=workers > 0, worker_init_fn=_worker_init if workers > 0 else None, generator=generator,
        multiprocessing_context=worker_context(workers),
        drop_last=len(dataset) > batch_size,
    )  # fmt: skip


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
