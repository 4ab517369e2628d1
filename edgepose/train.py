"""One training loop for training from scratch, fine-tuning after pruning/Ghost, QAT and distillation.

Losses: heatmap MSE weighted per joint (SimpleBaselines), L1 on normalised coordinates for
regressors, per-frame L1 for clip models; YOLO-pose heads bring their own whole-image data and loss
(edgepose.yolo.task). With a teacher, the target is a mix of the ground truth and the teacher's
outputs (knowledge distillation). AdamW + warm-up + cosine; best-on-val
checkpoint; a state file beside the checkpoint lets an interrupted run resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from edgepose.artifact import Artifact, ModelSpec
from edgepose.checkpoint import save_checkpoint
from edgepose.errors import UserError
from edgepose.fileio import atomic_path


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
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
    clip_stride: int | None = None  # clip models: frames between training windows (None: 1, every start)
    select_metric: str | None = None  # the val metric (higher is better) that picks the best epoch; None: primary_metric


@dataclass
class TrainResult:
    metric_name: str
    best_metric: float
    best_epoch: int
    epochs_run: int
    seconds: float
    log: list[dict[str, Any]] = field(default_factory=list)


SELECT_METRICS = ("oks_ap", "oks_ap50", "pck@0.2", "pck@0.1", "pckh@0.5")  # eval metrics where higher is better


def primary_metric(spec: ModelSpec) -> str:
    """The metric that picks the best epoch: OKS AP on COCO-17, PCK@0.2 elsewhere (LSP, MPII)."""
    return "oks_ap" if spec.schema == "coco17" else "pck@0.2"


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
    target = batch["keypoints"][..., :2] / torch.tensor([w, h], dtype=output.dtype)
    if teacher_output is not None and distill_alpha > 0:
        target = (1 - distill_alpha) * target + distill_alpha * teacher_output
    per_joint = (output - target).abs().sum(-1)
    return (per_joint * weight).sum() / weight.sum().clamp(min=1.0)


def train(
    artifact: Artifact,
    train_ann: str | Path,
    val_ann: str | Path | None,
    cfg: TrainConfig,
    out_path: str | Path | None = None,
    teacher: nn.Module | None = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train `artifact.model` in place; keep and return the best-on-val weights.

    With `out_path`, the best model is saved there as an edgepose checkpoint and a resume state
    goes to `<out_path>.state.pt` (removed when training completes).
    """
    from edgepose.data.coco import CocoPoseDataset, make_loader

    model = artifact.require_torch("train")
    spec = artifact.spec
    metric_name = cfg.select_metric or primary_metric(spec)
    if metric_name not in SELECT_METRICS:
        raise UserError(f"the best epoch is picked by one of {', '.join(SELECT_METRICS)}, not '{metric_name}'")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if spec.head == "yolo":  # whole-image multi-person data (edgepose.yolo.task)
        from edgepose.yolo.task import make_train_loader

        loader = make_train_loader(train_ann, spec, cfg.batch_size, workers=cfg.workers, seed=cfg.seed)
    else:
        dataset = CocoPoseDataset(train_ann, spec, train=True, clip_length=spec.clip_length,
                                  clip_stride=cfg.clip_stride or 1)  # fmt: skip
        loader = make_loader(dataset, cfg.batch_size, shuffle=True, workers=cfg.workers, seed=cfg.seed)
    steps_per_epoch = len(loader) if cfg.max_steps_per_epoch is None else min(len(loader), cfg.max_steps_per_epoch)
    total_steps = max(1, steps_per_epoch * cfg.epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(cfg.warmup_steps, total_steps))
    state_path = Path(f"{out_path}.state.pt") if out_path else None
    state = _TrainState(best_metric=-math.inf)
    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if resume and state_path is not None and state_path.exists():
        state, best_weights = _load_state(state_path, model, optimizer, scheduler, cfg, best_weights)
    if teacher is not None:
        teacher.eval()
    started = time.perf_counter() - state.seconds
    from edgepose.cli.output import progress as make_progress

    bar = make_progress() if progress else None
    if bar:
        bar.start()
    try:
        for epoch in range(state.epoch, cfg.epochs):
            loss = _run_epoch(model, loader, spec, optimizer, scheduler, teacher, cfg, steps_per_epoch, bar, epoch)
            record: dict[str, Any] = {"epoch": epoch + 1, "loss": loss, "lr": scheduler.get_last_lr()[0]}
            if val_ann is not None and ((epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs):
                metrics = validate(model, spec, val_ann, cfg)
                record["val"] = metrics
                value = metrics.get(metric_name)
                if value is not None and value > state.best_metric:
                    state.best_metric, state.best_epoch = value, epoch + 1
                    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    if out_path:
                        _save_best(artifact, out_path, train_ann, val_ann, metrics, epoch + 1, cfg)
            elif val_ann is None:
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                state.best_epoch = epoch + 1
            state.epoch, state.seconds = epoch + 1, time.perf_counter() - started
            state.log.append(record)
            if on_epoch:
                on_epoch(record)
            if state_path is not None:
                _save_state(state_path, model, optimizer, scheduler, cfg, state, best_weights)
    finally:
        if bar:
            bar.stop()
    model.load_state_dict(best_weights)
    if out_path and val_ann is None:
        _save_best(artifact, out_path, train_ann, None, {}, state.epoch, cfg)
    if state_path is not None and state_path.exists():
        state_path.unlink()
    best = state.best_metric if state.best_metric > -math.inf else float("nan")
    return TrainResult(metric_name, best, state.best_epoch, state.epoch, time.perf_counter() - started, state.log)


def validate(model: nn.Module, spec: ModelSpec, val_ann: str | Path, cfg: TrainConfig) -> dict[str, Any]:
    """Metrics on the validation set through the one evaluation path (torch runtime)."""
    from edgepose.evaluate import evaluate
    from edgepose.runtimes import open_session

    was_training = model.training
    model.eval()
    try:
        session = open_session(Artifact(spec=spec, model=model), runtime="torch")
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


def _run_epoch(model, loader, spec, optimizer, scheduler, teacher, cfg, steps, bar, epoch) -> float:  # noqa: ANN001
    model.train()
    task = bar.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=steps, status="") if bar else None
    total, count = 0.0, 0
    for step, batch in enumerate(loader):
        if step >= steps:
            break
        output = model(batch["image"])
        teacher_output = None
        if teacher is not None:
            with torch.no_grad():
                teacher_output = teacher(batch["image"])
        loss = _loss_fn(spec)(output, batch, spec, teacher_output, cfg.distill_alpha)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        scheduler.step()
        total, count = total + loss.item(), count + 1
        if bar:
            bar.update(task, advance=1, status=f"loss {total / count:.5f}")
    return total / max(count, 1)


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


def _save_best(artifact: Artifact, out_path, train_ann, val_ann, metrics, epoch, cfg) -> None:  # noqa: ANN001
    save_checkpoint(
        artifact, out_path, dataset=str(train_ann), val_dataset=str(val_ann) if val_ann else None,
        val_metrics=metrics, epoch=epoch, train_config=asdict(cfg),
    )  # fmt: skip


def _save_state(path: Path, model, optimizer, scheduler, cfg, state: _TrainState, best_weights) -> None:  # noqa: ANN001
    payload = {
        "model": model.state_dict(), "best_weights": best_weights, "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "config": asdict(cfg), "epoch": state.epoch,
        "best_metric": state.best_metric, "best_epoch": state.best_epoch, "seconds": state.seconds,
        "log": state.log,
    }  # fmt: skip
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _load_state(path: Path, model, optimizer, scheduler, cfg: TrainConfig, best_weights):  # noqa: ANN001, ANN202
    """Restore model, optimizer, schedule and bookkeeping from an interrupted run with the same config."""
    from edgepose.cli.output import info

    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("config") != asdict(cfg):
        info(f"[yellow]training config changed since {path} was written: starting over[/]")
        return _TrainState(best_metric=-math.inf), best_weights
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    info(f"resuming from epoch {payload['epoch']} ({path})")
    state = _TrainState(payload["best_metric"], payload["best_epoch"], payload["epoch"], payload["seconds"],
                        list(payload["log"]))  # fmt: skip
    return state, payload["best_weights"]
