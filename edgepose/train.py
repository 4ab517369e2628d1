"""One training loop for training from scratch, fine-tuning after pruning/Ghost, QAT and distillation.

Losses: heatmap MSE weighted per joint (SimpleBaselines), L1 on normalised coordinates for
regressors, per-frame L1 for clip models; YOLO-pose heads bring their own whole-image data and loss
(edgepose.yolo.task). With a teacher, the target is a mix of the ground truth and the teacher's
outputs (knowledge distillation). AdamW + warm-up + cosine; best-on-val
checkpoint; a state file beside the checkpoint lets an interrupted run resume.

Under torchrun the same loop runs on every process (edgepose.distributed): the student is wrapped in
DistributedDataParallel (gradients averaged over the ranks), each rank reads its share of every global batch
(edgepose.data.sharding: the batches are the same at any world size), and the teacher is a plain copy on each
rank. `batch_size` is the GLOBAL batch, split evenly over the ranks, so one command gives the same steps per
epoch and the same learning-rate schedule on 1 or N processes. Rank 0 alone validates (through the one
evaluation path, so the metric is exactly a single process's: OKS AP needs every prediction in one place) and
broadcasts the metrics, so every rank picks the same best epoch; rank 0 alone writes the checkpoint, the resume
state and the progress bar while the others wait. The resume state holds no world size: a run interrupted on
N processes resumes on M at the start of the epoch after the last completed one.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from edgepose import distributed as dist
from edgepose.artifact import Artifact, ModelSpec
from edgepose.checkpoint import save_checkpoint
from edgepose.deploy.decode import flip_average
from edgepose.errors import UserError
from edgepose.feature_match import FeatureMatch
from edgepose.fileio import atomic_path
from edgepose.measure import primary_metric
from edgepose.schemas import get_schema

# settings that change how fast a run goes, not what it computes: a resumed run may change them
RUNTIME_KEYS = ("workers", "threads")


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32  # global: split evenly over the torchrun processes
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    workers: int = 2
    seed: int = 0
    val_limit: int | None = None  # evaluate on the first N validation instances (None: all)
    val_every: int = 1
    distill_alpha: float = 0.0  # teacher share of the target: 0 = ground truth only, 1 = teacher only
    max_steps_per_epoch: int | None = None
    threads: int | None = None
    sync_bn: bool = False  # SyncBatchNorm over the ranks (CUDA only)
    clip_stride: int | None = None  # clip models: frames between training windows (None: 1, every start)
    select_metric: str | None = None  # the val metric (higher is better) that picks the best epoch; None: primary_metric
    stop_at: float | None = None  # stop once the validation metric reaches this (recover-until-within-budget)
    feature_layers: tuple[str, ...] = ()  # with a teacher: layers whose outputs are also matched to its (FeatureMatch)
    feature_distill: float = 0.0  # that term's weight, relative to the output loss on the first step
    flip_teacher: bool = False  # single-frame top-down: the teacher's targets are its flip-test average (teacher_targets)
    freeze_bn_stats: bool = False  # BatchNorm normalises by its stored statistics and leaves them be (affine still learns)
    validate_start: bool = False  # score the starting weights too (epoch 0): kept unless an epoch beats them
    trainable: tuple[str, ...] = ()  # names of the modules whose parameters learn; () for all


@dataclass
class TrainResult:
    metric_name: str
    best_metric: float
    best_epoch: int
    epochs_run: int
    seconds: float
    log: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False  # cfg.stop_at reached before cfg.epochs


SELECT_METRICS = ("oks_ap", "oks_ap50", "pck@0.2", "pck@0.1", "pckh@0.5")  # eval metrics where higher is better


def pose_loss(output: Tensor, batch: dict[str, Tensor], spec: ModelSpec, teacher_output: Tensor | None = None,
              distill_alpha: float = 0.0) -> Tensor:  # fmt: skip
    """Weighted heatmap MSE, or L1 on [0, 1] coordinates for regression (per frame for clips)."""
    weight = batch["target_weight"]
    if spec.head == "heatmap":
        target = batch["heatmaps"]
        if teacher_output is not None and distill_alpha > 0:
            target = (1 - distill_alpha) * target + distill_alpha * teacher_output
        per_joint = ((output - target) ** 2).mean(dim=(-2, -1))
        return 0.5 * (per_joint * weight).mean()
    h, w = spec.input_size
    target = batch["keypoints"][..., :2] / torch.tensor([w, h], dtype=output.dtype, device=output.device)
    if teacher_output is not None and distill_alpha > 0:
        target = (1 - distill_alpha) * target + distill_alpha * teacher_output
    per_joint = (output - target).abs().sum(-1)
    return (per_joint * weight).sum() / weight.sum().clamp(min=1.0)


def train(
    artifact: Artifact,
    train_ann: str | Path | Any,
    val_ann: str | Path | Any | None,
    cfg: TrainConfig,
    out_path: str | Path | None = None,
    teacher: nn.Module | None = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train `artifact.model` in place; keep and return the best-on-val weights.

    With `out_path`, the best model is saved there as an edgepose checkpoint and a resume state
    goes to `<out_path>.state.pt` (removed when training completes). Under torchrun, see the module doc.
    `train_ann` may be a ready Dataset (e.g. edgepose.inference.unlabelled.UnlabelledCrops: label-free, with a
    teacher and distill 1), `val_ann` an object with `score(model) -> metrics` and `metric` (the teacher
    agreement on held-back images). With cfg.stop_at the run stops after the first validated epoch whose
    metric reaches it.
    """
    dist.setup()
    model = artifact.require_torch("train")
    spec = artifact.spec
    validator_metric = getattr(val_ann, "metric", None)  # a label-free validator names its own (teacher agreement)
    metric_name = validator_metric or cfg.select_metric or primary_metric(spec.schema)  # what picks the best epoch
    if validator_metric is None and metric_name not in SELECT_METRICS:
        raise UserError(f"the best epoch is picked by one of {', '.join(SELECT_METRICS)}, not '{metric_name}'")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    loader, n_items = _train_loader(train_ann, spec, cfg)
    steps_per_epoch = _steps(n_items, cfg)
    state_path = Path(f"{out_path}.state.pt") if out_path else None
    state = _TrainState(best_metric=-math.inf)
    stopped = False
    best_weights = _cpu_copy(model)
    device = torch.device(dist.device())
    if teacher is not None:  # a plain copy on every rank (not wrapped), rank 0's weights on all
        teacher = (copy.deepcopy(teacher) if device.type != "cpu" else teacher).to(device).eval()
        dist.broadcast_module(teacher)
    started = time.perf_counter()
    from edgepose.console import progress as make_progress

    bar = make_progress() if progress and dist.is_main() else None
    features: FeatureMatch | None = None
    frozen: list[nn.Parameter] = []
    try:
        model.to(device)  # before the optimizer, so its state lives where the parameters do
        learning, frozen = _learning_parameters(model, cfg.trainable)
        optimizer = torch.optim.AdamW(learning, lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _warmup_cosine(cfg.warmup_steps, max(1, steps_per_epoch * cfg.epochs)))  # fmt: skip
        if resume and state_path is not None:
            loaded = dist.on_rank_zero(lambda: _read_state(state_path, cfg))  # rank 0 reads, every rank gets it
            if loaded is not None:
                state, best_weights = _restore(loaded, model, optimizer, scheduler)
                started -= state.seconds
        if teacher is not None and cfg.feature_layers and cfg.feature_distill > 0:
            features = FeatureMatch(model, teacher, list(cfg.feature_layers), cfg.feature_distill, state.feature_scale)
        if cfg.validate_start and val_ann is not None and state.epoch == 0 and not state.log:
            state, best_weights = _score_start(model, spec, val_ann, cfg, metric_name, state)
            with dist.rank_zero_only() as main:
                if main and out_path:
                    _save_best(artifact, out_path, train_ann, val_ann, state.log[0]["val"], 0, cfg, best_weights)
            if on_epoch:
                on_epoch(state.log[0])
            stopped = _reached(state.log[0], metric_name, cfg.stop_at)
        if bar and not stopped:
            bar.start()
        with dist.sync_batchnorm(model, cfg.sync_bn):
            net = dist.wrap_model(model)
            for epoch in range(state.epoch, 0 if stopped else cfg.epochs):
                loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
                loss = _run_epoch(net, loader, spec, optimizer, scheduler, teacher, cfg, steps_per_epoch, bar, epoch,
                                  features)  # fmt: skip
                state.feature_scale = features.scale if features is not None else None
                record: dict[str, Any] = {"epoch": epoch + 1, "loss": loss, "lr": scheduler.get_last_lr()[0]}
                if val_ann is not None and ((epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs):
                    metrics = dist.on_rank_zero(lambda: validate(model, spec, val_ann, cfg))
                    record["val"] = metrics
                    value = metrics.get(metric_name)
                    if value is not None and value > state.best_metric:
                        state.best_metric, state.best_epoch = value, epoch + 1
                        best_weights = _cpu_copy(model)
                        with dist.rank_zero_only() as main:
                            if main and out_path:
                                _save_best(artifact, out_path, train_ann, val_ann, metrics, epoch + 1, cfg, best_weights)
                elif val_ann is None:
                    best_weights = _cpu_copy(model)
                    state.best_epoch = epoch + 1
                state.epoch, state.seconds = epoch + 1, time.perf_counter() - started
                state.log.append(record)
                with dist.rank_zero_only() as main:  # the state is on disk before anyone hears of the epoch
                    if main and state_path is not None:
                        _save_state(state_path, model, optimizer, scheduler, cfg, state, best_weights)
                if on_epoch:
                    on_epoch(record)
                if _reached(record, metric_name, cfg.stop_at):
                    stopped = epoch + 1 < cfg.epochs
                    break
    except BaseException as error:  # an error (or Ctrl-C) ends the run: its one line is all stderr keeps
        if bar:
            bar.stop_after(error)
            bar = None
        raise
    finally:
        if bar:
            bar.stop()
        if features is not None:
            features.close()
        model.to("cpu")
        for parameter in frozen:  # the frozen ones learn again in whatever trains this model next
            parameter.requires_grad_(True)
    model.load_state_dict(best_weights)
    with dist.rank_zero_only() as main:
        if main and out_path and val_ann is None:
            _save_best(artifact, out_path, train_ann, None, {}, state.epoch, cfg, best_weights)
        if main and state_path is not None and state_path.exists():
            state_path.unlink()
    best = state.best_metric if state.best_metric > -math.inf else float("nan")
    return TrainResult(metric_name, best, state.best_epoch, state.epoch, time.perf_counter() - started, state.log,
                       stopped)  # fmt: skip


def _learning_parameters(
    model: nn.Module, trainable: tuple[str, ...]
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """The parameters of the `trainable` modules (all when empty), and those this froze (no gradients now)."""
    if not trainable:
        return list(model.parameters()), []
    missing = set(trainable) - {name for name, _ in model.named_modules()}
    if missing:
        raise UserError(f"no such layer to train: {', '.join(sorted(missing))}")
    learning, frozen = [], []
    for name, parameter in model.named_parameters():
        if name.rpartition(".")[0] in trainable:
            learning.append(parameter)
        elif parameter.requires_grad:
            parameter.requires_grad_(False)
            frozen.append(parameter)
    if not learning:
        for parameter in frozen:
            parameter.requires_grad_(True)
        raise UserError("the layers to train hold no parameters")
    return learning, frozen


def _score_start(model: nn.Module, spec: ModelSpec, val_ann: Any, cfg: TrainConfig, metric_name: str,
                 state: _TrainState) -> tuple[_TrainState, dict[str, Tensor]]:  # fmt: skip
    """Epoch 0: the starting weights' validation metrics, the best so far (training must beat them)."""
    metrics = dist.on_rank_zero(lambda: validate(model, spec, val_ann, cfg))
    state.log.append({"epoch": 0, "loss": None, "lr": 0.0, "val": metrics})
    value = metrics.get(metric_name)
    if value is not None:
        state.best_metric, state.best_epoch = value, 0
    return state, _cpu_copy(model)


def _reached(record: dict[str, Any], metric_name: str, stop_at: float | None) -> bool:
    """Whether `record`'s validation metric meets the stop_at budget."""
    value = (record.get("val") or {}).get(metric_name)
    return stop_at is not None and value is not None and value >= stop_at


def _train_loader(train_ann: str | Path, spec: ModelSpec, cfg: TrainConfig) -> tuple[Any, int]:
    """This rank's loader over shuffled global batches of cfg.batch_size, and the number of training items."""
    from edgepose.data.sharding import sharded_loader

    collate = None
    if isinstance(train_ann, Dataset):  # built by the caller (label-free crops, a held-back split)
        dataset = train_ann
        if spec.head == "yolo":
            from edgepose.yolo.data import collate
    elif spec.head == "yolo":  # whole-image multi-person data (edgepose.yolo.task)
        from edgepose.yolo.task import train_dataset

        dataset, collate = train_dataset(train_ann, spec)
    else:
        from edgepose.data.coco import CocoPoseDataset

        dataset = CocoPoseDataset(train_ann, spec, train=True, clip_length=spec.clip_length,
                                  clip_stride=cfg.clip_stride or 1)  # fmt: skip
    loader = sharded_loader(dataset, cfg.batch_size, dist.rank(), dist.world_size(), cfg.seed, cfg.workers, collate)
    return loader, len(dataset)


def _steps(n_items: int, cfg: TrainConfig) -> int:
    """Optimizer steps per epoch: full global batches, capped by max_steps_per_epoch; independent of the world size."""
    from edgepose.data.sharding import steps_per_epoch

    steps = steps_per_epoch(n_items, cfg.batch_size)
    return steps if cfg.max_steps_per_epoch is None else min(steps, cfg.max_steps_per_epoch)


def _cpu_copy(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def validate(model: nn.Module, spec: ModelSpec, val_ann: str | Path, cfg: TrainConfig) -> dict[str, Any]:
    """Metrics on the validation set through the one evaluation path (torch runtime), or `val_ann.score(model)`
    for a label-free check (agreement with the teacher)."""
    if hasattr(val_ann, "score"):
        return dict(val_ann.score(model))
    from edgepose.evaluate import evaluate
    from edgepose.runtimes import open_session

    was_training = model.training
    model.eval()
    on_gpu = next(model.parameters()).device.type == "cuda"
    try:  # on a GPU, the session runs a copy there (the torch runtime would otherwise move the model to the CPU)
        session = open_session(Artifact(spec=spec, model=model), runtime="torch", device="cuda" if on_gpu else None)
        result = evaluate(session, spec, val_ann, batch_size=cfg.batch_size, workers=0, progress=False,
                          limit=cfg.val_limit)  # fmt: skip
    finally:
        model.train(was_training)
    metrics = {k: v for k, v in result["metrics"].items() if k != "per_keypoint"}
    if metrics.get("temporal"):  # clip data: jitter and acceleration error, without the per-joint table
        metrics["temporal"] = {k: v for k, v in metrics["temporal"].items() if k != "per_keypoint"}
    return metrics


@dataclass
class _TrainState:
    best_metric: float
    best_epoch: int = 0
    epoch: int = 0
    seconds: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    feature_scale: float | None = None  # FeatureMatch's, once its first step has fixed it


def _run_epoch(model, loader, spec, optimizer, scheduler, teacher, cfg, steps, bar, epoch,  # noqa: ANN001
               features: FeatureMatch | None = None) -> float:  # fmt: skip
    """One epoch of `steps` optimizer steps; returns the mean loss over the steps and the ranks (with `features`,
    the output loss plus the feature term)."""
    model.train()
    if cfg.freeze_bn_stats:
        freeze_batchnorm_stats(model)
    device = next(model.parameters()).device
    task = bar.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=steps, status="") if bar else None
    total, count = 0.0, 0
    for step, batch in enumerate(loader):
        if step >= steps:
            break
        if device.type != "cpu":
            batch = {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}
        output = model(batch["image"])
        teacher_output = None
        if teacher is not None:
            with torch.no_grad():
                teacher_output = teacher_targets(teacher, batch["image"], spec, cfg.flip_teacher)
        loss = _loss_fn(spec)(output, batch, spec, teacher_output, cfg.distill_alpha)
        if features is not None:
            loss = loss + features.loss(loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        scheduler.step()
        total, count = total + loss.item(), count + 1
        if bar:
            bar.update(task, advance=1, status=f"loss {total / count:.5f}")
    mean = dist.all_reduce_mean(total / max(count, 1))  # the same on every rank, so every rank stops together
    if not math.isfinite(mean):
        raise UserError(f"training diverged: the loss became {mean} in epoch {epoch + 1} (learning rate "
                        f"{cfg.lr:g}); lower the learning rate. Nothing was written for this epoch")  # fmt: skip
    return mean


def freeze_batchnorm_stats(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode (stored statistics, not the batch's; none updated); its weight and bias
    still train. Fine-tuning a pretrained model on other pictures then starts from exactly its function."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def flip_test_applies(spec: ModelSpec) -> bool:
    """Whether `spec`'s outputs have a flip test (single-frame heatmap / regression models)."""
    return spec.head in ("heatmap", "regression") and not spec.clip_length


def teacher_targets(teacher: nn.Module, images: Tensor, spec: ModelSpec, flip: bool) -> Tensor:
    """The teacher's outputs on `images`; with `flip` (where flip_test_applies), averaged with its outputs on
    the mirrored images mapped back, by the decoder's own flip_average (`edgepose eval --flip`)."""
    out = teacher(images)
    if not flip or not flip_test_applies(spec):
        return out
    mirrored = teacher(images.flip(-1))
    index = get_schema(spec.schema).flip_index()
    as_numpy = [t.detach().float().cpu().numpy() for t in (out, mirrored)]
    averaged = flip_average(*as_numpy, spec.head, index, spec.input_size[1])
    return torch.from_numpy(np.ascontiguousarray(averaged)).to(device=out.device, dtype=out.dtype)


def _loss_fn(spec: ModelSpec) -> Callable[..., Tensor]:
    """pose_loss, or the YOLO-pose loss (TAL + CIoU/DFL + OKS + visibility) for head "yolo"."""
    if spec.head == "yolo":
        from edgepose.yolo.task import yolo_pose_loss

        return yolo_pose_loss
    return pose_loss


def _warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _save_best(artifact: Artifact, out_path, train_ann, val_ann, metrics, epoch, cfg, weights) -> None:  # noqa: ANN001
    """The checkpoint of `artifact` with `weights` (its model holds them, unless it is on a GPU: then a CPU copy)."""
    saved = artifact
    if any(p.device.type != "cpu" for p in artifact.model.parameters()):  # type: ignore[union-attr]
        saved = copy.copy(artifact)
        saved.model = copy.deepcopy(artifact.model).to("cpu")  # type: ignore[union-attr]
        saved.model.load_state_dict(weights)
    save_checkpoint(
        saved, out_path, dataset=str(getattr(train_ann, "source", train_ann)), val_dataset=str(val_ann) if val_ann else None,
        val_metrics=metrics, epoch=epoch, train_config=asdict(cfg),
    )  # fmt: skip


def _save_state(path: Path, model, optimizer, scheduler, cfg, state: _TrainState, best_weights) -> None:  # noqa: ANN001
    """Everything a resumed run needs, on CPU and with no world size in it (the batch size is global)."""
    payload = {
        "model": _cpu_copy(model), "best_weights": best_weights, "optimizer": _to_cpu(optimizer.state_dict()),
        "scheduler": scheduler.state_dict(), "config": asdict(cfg), "epoch": state.epoch,
        "best_metric": state.best_metric, "best_epoch": state.best_epoch, "seconds": state.seconds,
        "log": state.log, "feature_scale": state.feature_scale,
    }  # fmt: skip
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _to_cpu(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _same_run(saved: dict[str, Any], cfg: TrainConfig) -> bool:
    """Whether a saved config describes this run (speed-only settings may differ)."""
    now = {k: v for k, v in asdict(cfg).items() if k not in RUNTIME_KEYS}
    return {k: v for k, v in saved.items() if k not in RUNTIME_KEYS} == now


def _read_state(path: Path, cfg: TrainConfig) -> dict[str, Any] | None:
    """The resume state of an interrupted run with the same config, or None (none there, or the config changed)."""
    from edgepose.console import info

    if not path.exists():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not _same_run(payload.get("config") or {}, cfg):
        info(f"[yellow]training config changed since {path} was written: starting over[/]")
        return None
    info(f"resuming from epoch {payload['epoch']} ({path})")
    return payload


def _restore(payload: dict[str, Any], model, optimizer, scheduler) -> tuple[_TrainState, dict[str, Tensor]]:  # noqa: ANN001
    """Model, optimizer, schedule and bookkeeping from a resume state (before the model moves to its device)."""
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    state = _TrainState(payload["best_metric"], payload["best_epoch"], payload["epoch"], payload["seconds"],
                        list(payload["log"]), payload.get("feature_scale"))  # fmt: skip
    return state, payload["best_weights"]
