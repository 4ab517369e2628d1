"""Training on several processes: torch.distributed launched by torchrun, behind one small module.

    python -m torch.distributed.run --nproc_per_node 2 -m edgepose prune MODEL -o OUT --finetune-data TRAIN.json

torchrun starts one process per rank and sets RANK, WORLD_SIZE and LOCAL_RANK; `setup()` reads them and joins
the process group: gloo on CPU, nccl when CUDA is there (one GPU per process, cuda:LOCAL_RANK), `--dist-backend`
to override. Without those variables every helper here is a single-process no-op, so the same code runs alone
or under torchrun. No other edgepose module calls torch.distributed.

How the rest of the code uses it:
- edgepose.train wraps the student in DistributedDataParallel (`wrap_model`) and shards the data;
- rank 0 alone writes files, prints, evaluates and times: `rank_zero_only()` runs a block there as if it were a
  single process (`solo`) while the other ranks wait at a barrier; `on_rank_zero(fn)` does the same and hands
  fn's result (or its exception) to every rank;
- waits and object exchanges use a gloo group with a long timeout (EDGEPOSE_DIST_TIMEOUT_MIN, default 180
  minutes): ranks waiting for rank 0's evaluation or benchmark block in a socket read, they do not spin.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import pickle
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from edgepose.errors import UserError

if TYPE_CHECKING:
    from torch import nn

T = TypeVar("T")
BACKENDS = ("auto", "gloo", "nccl")
TIMEOUT_ENV = "EDGEPOSE_DIST_TIMEOUT_MIN"
_STATE: dict[str, Any] = {"objects": None, "solo": 0, "device": "cpu"}


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(backend: str | None = None) -> None:
    """Join the launcher's process group (idempotent); nothing to do in a single process.

    `backend`: auto (nccl with CUDA, else gloo), gloo or nccl. Ranks other than 0 are muted (edgepose.console).
    """
    import torch
    import torch.distributed as dist

    if backend not in (None, *BACKENDS):
        raise UserError(f"--dist-backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if not launched():
        if backend not in (None, "auto"):
            from edgepose.console import info

            info(f"[yellow]not started by torchrun: --dist-backend {backend} is ignored (one process)[/]")
        return
    if dist.is_initialized():
        return
    chosen = backend if backend not in (None, "auto") else ("nccl" if torch.cuda.is_available() else "gloo")
    if chosen == "nccl":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if count == 0:
            raise UserError("--dist-backend nccl needs CUDA GPUs and none is visible here: use gloo on CPU")
        if local >= count:
            raise UserError(f"LOCAL_RANK {local} but only {count} GPU(s) are visible: use --nproc_per_node {count} or fewer")
        torch.cuda.set_device(local)
        _STATE["device"] = f"cuda:{local}"
    dist.init_process_group(backend=chosen, timeout=_timeout())
    _STATE["objects"] = dist.new_group(backend="gloo", timeout=_timeout()) if chosen != "gloo" else None
    atexit.register(_teardown)
    if dist.get_rank() != 0:
        from edgepose.console import mute

        mute()
    else:
        from edgepose.console import info

        info(f"distributed: {dist.get_world_size()} processes ({chosen}, {_STATE['device'].split(':')[0]})")


def _timeout() -> timedelta:
    value = os.environ.get(TIMEOUT_ENV, "180")
    try:
        return timedelta(minutes=float(value))
    except ValueError:
        raise UserError(f"{TIMEOUT_ENV}={value!r} should be a number of minutes") from None


def _teardown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    """Several processes take part here (a group exists, its size is > 1, and this is not a rank-0-only block)."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1 and _STATE["solo"] == 0


def rank() -> int:
    """This process's rank among those taking part (0 alone or inside a rank-0-only block)."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """How many processes take part here (1 alone or inside a rank-0-only block)."""
    import torch.distributed as dist

    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes, prints, evaluates and times."""
    return rank() == 0


def device() -> str:
    """Where this rank trains: cuda:LOCAL_RANK under nccl, else cpu."""
    return str(_STATE["device"])


def barrier() -> None:
    """Wait until every rank gets here (on the gloo group: blocking, not spinning)."""
    import torch.distributed as dist

    if active():
        dist.barrier(group=_STATE["objects"])


def broadcast_object(obj: T, src: int = 0) -> T:
    """`obj` as rank `src` has it, on every rank (pickled through the gloo group)."""
    import torch.distributed as dist

    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, group=_STATE["objects"])
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order."""
    import torch.distributed as dist

    if not active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj, group=_STATE["objects"])
    return out


def all_reduce_mean(value: float) -> float:
    """The mean of `value` over the ranks (float64)."""
    import torch
    import torch.distributed as dist

    if not active():
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor, group=_STATE["objects"])
    return float(tensor.item()) / dist.get_world_size()


@contextlib.contextmanager
def solo() -> Iterator[None]:
    """Run a block as a single process: every helper here (and the training loop) acts as if alone."""
    _STATE["solo"] += 1
    try:
        yield
    finally:
        _STATE["solo"] -= 1


@contextlib.contextmanager
def rank_zero_only() -> Iterator[bool]:
    """`with rank_zero_only() as main: if main: write(...)`: rank 0 runs the block alone (`solo`), the others
    skip it and wait at a barrier until it is done. An exception on rank 0 skips the barrier: rank 0 exits and
    torchrun stops the others."""
    if not active():
        yield True
        return
    main = is_main()
    if main:
        with solo():
            yield True
    else:
        yield False
    barrier()


def on_rank_zero(fn: Callable[[], T]) -> T:
    """fn() run on rank 0 alone (others wait), its result broadcast to every rank; an exception is raised on all."""
    if not active():
        return fn()
    if not is_main():
        kind, value = broadcast_object(None)
        if kind == "error":
            raise value
        return value
    try:
        with solo():
            result = fn()
    except BaseException as exc:
        broadcast_object(("error", _portable(exc)))
        raise
    broadcast_object(("ok", result))
    return result


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else a RuntimeError that says what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001  (any unpicklable exception: describe it instead)
        return RuntimeError(f"rank 0 failed: {type(exc).__name__}: {exc}")


def broadcast_module(module: nn.Module) -> None:
    """Rank 0's parameters and buffers copied into `module` on every rank (in place)."""
    import torch.distributed as dist

    if active():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0, group=_group_for(tensor))


def broadcast_grads(module: nn.Module) -> None:
    """Rank 0's .grad of every parameter copied to every rank (Taylor importance, so ranks prune alike)."""
    import torch.distributed as dist

    if active():
        for param in module.parameters():
            if param.grad is not None:
                dist.broadcast(param.grad, src=0, group=_group_for(param.grad))


def _group_for(tensor: Any) -> Any:
    """The default group for tensors on the training device; the gloo group for CPU tensors under nccl."""
    return _STATE["objects"] if tensor.device.type == "cpu" else None


def check_same_structure(module: nn.Module, what: str) -> None:
    """RuntimeError unless every rank's `module` has the same tensor names, shapes and dtypes."""
    listing = [(k, tuple(v.shape), str(v.dtype)) for k, v in module.state_dict().items()]
    digest = hashlib.sha256(repr(listing).encode()).hexdigest()
    digests = all_gather_object(digest)
    if len(set(digests)) > 1:
        ranks = [r for r, d in enumerate(digests) if d != digests[0]]
        raise RuntimeError(f"{what}: rank(s) {ranks} built a different model structure from rank 0's")


def wrap_model(model: nn.Module) -> nn.Module:
    """DistributedDataParallel around `model` when several processes train, else `model` itself.

    DDP first checks that every rank has the same parameter shapes and broadcasts rank 0's parameters and
    buffers, so every rank starts from identical weights; backward then all-reduces (averages) the gradients.
    """
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    cuda = device().startswith("cuda")
    return DistributedDataParallel(model, device_ids=[int(device().split(":")[1])] if cuda else None)


@contextlib.contextmanager
def sync_batchnorm(model: nn.Module, enabled: bool) -> Iterator[None]:
    """With `enabled` and several processes: BatchNorm layers become SyncBatchNorm (sharing their parameters and
    buffers) for the block, then the original layers are put back. torch's SyncBatchNorm runs on GPUs only."""
    from torch import nn

    from edgepose.models.rewrites.surgery import set_module

    if not enabled or not active():
        yield
        return
    if not device().startswith("cuda"):
        raise UserError("--sync-bn needs CUDA (torch's SyncBatchNorm runs on GPUs only); on CPU leave it off: "
                        "each process then normalises over its share of the batch")  # fmt: skip
    originals = {n: m for n, m in model.named_modules() if n and isinstance(m, nn.modules.batchnorm._BatchNorm)}
    for name, bn in originals.items():
        sync = nn.SyncBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        if bn.affine:
            sync.weight, sync.bias = bn.weight, bn.bias
        if bn.track_running_stats:
            sync.running_mean, sync.running_var = bn.running_mean, bn.running_var
            sync.num_batches_tracked = bn.num_batches_tracked
        set_module(model, name, sync.train(bn.training))
    try:
        yield
    finally:
        for name, bn in originals.items():
            set_module(model, name, bn)
