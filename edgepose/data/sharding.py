"""Training batches that do not depend on how many processes (or loader workers) read them.

A global batch of B items is split over W processes, B / W each, by a DistributedSampler (`set_epoch` reshuffles
it every epoch, from `seed + epoch`, the same permutation on every rank). Rank r takes items r, r + W, ... of
that permutation, so step k's global batch is items [k*B, (k+1)*B) of the permutation whatever W is: exactly the
batch a single process reads. Each item's random augmentation is drawn from its own seed (seed, epoch, index),
not from a per-process random stream, so it is the same at any world size, worker count or resume point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from edgepose.errors import UserError


class EpochShardSampler(DistributedSampler):
    """A DistributedSampler whose items are (index, epoch), so the dataset can seed each item's augmentation."""

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        return ((index, self.epoch) for index in super().__iter__())


class SeededItems(Dataset):
    """`items[(index, epoch)]` is `base[index]` drawn with torch's RNG seeded from (seed, epoch, index).

    The datasets draw their augmentation from torch's RNG (edgepose.data.coco, edgepose.yolo.data); the global
    RNG state is restored afterwards, so nothing else sees a difference.
    """

    def __init__(self, base: Dataset, seed: int):
        self.base, self.seed = base, seed

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, epoch = key
        item_seed = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed)
            return self.base[index]


def steps_per_epoch(n_items: int, global_batch: int) -> int:
    """Full global batches per epoch (one partial batch when the data is smaller than a batch): the same at any W."""
    return n_items // global_batch if n_items > global_batch else 1


def sharded_loader(
    dataset: Dataset, global_batch: int, rank: int, world_size: int, seed: int, workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:  # fmt: skip
    """This rank's share of shuffled global batches of `global_batch` items (global_batch / world_size each).

    Call `loader.sampler.set_epoch(epoch)` before each epoch. UserError when the global batch does not split evenly.
    """
    from edgepose.data.coco import _worker_init, worker_context

    if global_batch < 1 or workers < 0:
        raise UserError(f"batch size {global_batch} must be >= 1 and workers {workers} >= 0")
    if global_batch % world_size:
        raise UserError(f"the batch size is global: {global_batch} does not split evenly over {world_size} processes "
                        f"(use a multiple of {world_size})")  # fmt: skip
    n_items = len(dataset)  # type: ignore[arg-type]
    sampler = EpochShardSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    return DataLoader(
        SeededItems(dataset, seed), batch_size=global_batch // world_size, sampler=sampler, num_workers=workers,
        persistent_workers=workers > 0, worker_init_fn=_worker_init if workers > 0 else None,
        multiprocessing_context=worker_context(workers), collate_fn=collate_fn,
        drop_last=n_items > global_batch,  # no 1-item batch for BatchNorm in training
    )  # fmt: skip
