"""Fine-tuning after a structural change (prune, Ghost) or for QAT: the project's one training loop.

With `distill > 0` the targets mix the ground truth with the unmodified model's outputs (the teacher
in RunContext), which recovers accuracy faster than the labels alone after surgery. Fine-tuning data without
labels in the model's schema (image folders, globs, videos, other schemas' files) is label-free: the teacher's
outputs alone are the targets (distill 1; for single-frame top-down models its flip-test average,
`flip_teacher`), and without `--val` the check is agreement with the teacher on held-back pictures
(edgepose.passes.finetune_data). With `max_drop`, the fine-tune stops at the first epoch whose validation
drop (points below the teacher) is at most max_drop, `epochs` being the most it may run. Under torchrun the
fine-tune is data-parallel over the processes (edgepose.train); `batch_size` is the global batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from edgepose.errors import UserError
from edgepose.passes.base import PassConfig, RunContext, Stage, copy_torch_artifact, register_pass

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.train import TrainResult


class FinetuneConfig(PassConfig):
    """How to fine-tune: epochs over the training data, peak learning rate, distillation share."""

    epochs: int = Field(3, ge=0, description="epochs (with max_drop: the most it may run)")
    lr: float = Field(5e-4, gt=0)
    max_drop: float | None = Field(None, ge=0, description="stop once the validation drop is <= this (points)")
    hold_back: bool = Field(True, description="without val data: validate on held-back pictures (teacher agreement)")
    batch_size: int = Field(32, ge=1, description="global batch: split evenly over torchrun processes")
    distill: float = Field(0.5, ge=0, le=1, description="teacher share of the target (0: labels only)")
    warmup_steps: int = Field(50, ge=0)
    workers: int = Field(1, ge=0)
    val_limit: int | None = Field(None, ge=1)
    max_steps_per_epoch: int | None = Field(None, ge=1)
    sync_bn: bool = Field(False, description="SyncBatchNorm over torchrun processes (CUDA only)")
    flip_teacher: bool = Field(True, description="label-free top-down models: the teacher's targets are its flip-test "
                               "average (image and mirror, as eval --flip), a better teacher than one pass")  # fmt: skip
    freeze_bn_stats: bool | None = Field(None, description="BatchNorm keeps the original statistics while fine-tuning "
                                         "(its weight and bias still learn); null: frozen for label-free YOLO-pose")  # fmt: skip
    train_layers: Literal["all", "changed"] | None = Field(None, description="which layers learn: all, or only those "
                                "the pass changed (new shapes or new layers; the rest keep the original weights); "
                                "null: changed for label-free YOLO-pose, all otherwise")  # fmt: skip
    feature_distill: float = Field(0.0, ge=0, description="also match the teacher's outputs at the layers the pass "
                                   "replaced (Ghost: they keep their shapes); weight relative to the output loss at the start")  # fmt: skip


def finetune_of(pass_name: str, cfg: PassConfig) -> FinetuneConfig | None:
    """The fine-tuning pass `pass_name` with `cfg` will run (None when it trains nothing): the finetune pass
    itself, prune / ghost's `finetune`, QAT's."""
    if pass_name == "finetune":
        found = cfg
    elif pass_name == "quantize" and getattr(cfg, "mode", "ptq") != "qat":
        found = None
    else:
        found = getattr(cfg, "finetune", None)
    return found if isinstance(found, FinetuneConfig) and found.epochs > 0 else None


def check_finetune_data(cfg: FinetuneConfig | None, ctx: RunContext, spec: Any) -> None:
    """Before a pass changes the model: refuse fine-tuning data that the fine-tune after it would refuse."""
    if cfg is None or cfg.epochs == 0 or ctx.train_data is None:
        return
    from edgepose.passes.finetune_data import check_source

    check_source(ctx.train_data, spec)


def finetune_model(
    artifact: Artifact, cfg: FinetuneConfig, ctx: RunContext, name: str = "finetune", save: bool = True,
    feature_layers: list[str] | None = None,
) -> TrainResult | None:
    """Train `artifact.model` in place on ctx.train_data (best on ctx.val_data); None when epochs is 0.

    `feature_layers`: the layers a shape-keeping pass replaced; with cfg.feature_distill > 0 and a teacher, their
    outputs are also pulled towards the teacher's (edgepose.feature_match).

    With `save`, the best model is written to ctx.work_dir/NAME.pt with a resume state beside it, so an
    interrupted fine-tune continues where it stopped (a QAT model is not an edgepose checkpoint: no save).
    """
    if cfg.epochs == 0:
        return None
    from edgepose.passes.finetune_data import recovery_data
    from edgepose.train import TrainConfig, flip_test_applies, train

    train_data = ctx.need("fine-tuning data", ctx.train_data, "--finetune-data ANN.json (or images: a folder, glob, video)")
    original = ctx.teacher.model if ctx.teacher is not None and ctx.teacher.model is not None else None
    data = recovery_data(train_data, ctx.val_data, artifact.spec, original, ctx.seed, cfg.hold_back)
    distill = cfg.distill if data.labelled else 1.0  # no labels: the teacher's outputs are the whole target
    teacher = original if distill > 0 else None
    flip = cfg.flip_teacher and teacher is not None and not data.labelled and flip_test_applies(artifact.spec)
    targets = f"{data.targets}, flip-test averaged" if flip else data.targets
    stop_at, baseline = _stop_at(cfg, data, original, artifact, ctx)
    trainable, trained = trainable_layers(cfg, artifact, original, data.labelled)
    matched = tuple(feature_layers or ()) if teacher is not None and cfg.feature_distill > 0 else ()
    if cfg.feature_distill > 0 and not matched:
        why = "no teacher (distill 0 with labels)" if teacher is None else "this pass keeps no layer shapes to match"
        ctx.log(f"feature_distill {cfg.feature_distill:g} unused: {why}")
    train_cfg = TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
        workers=cfg.workers, seed=ctx.seed, val_limit=cfg.val_limit, distill_alpha=distill if teacher else 0.0,
        max_steps_per_epoch=cfg.max_steps_per_epoch, threads=ctx.threads, sync_bn=cfg.sync_bn, stop_at=stop_at,
        feature_layers=matched, feature_distill=cfg.feature_distill if matched else 0.0, flip_teacher=flip,
        freeze_bn_stats=freeze_bn_stats(cfg, artifact.spec, data.labelled), validate_start=True,
        trainable=trainable,
    )  # fmt: skip
    upto = f"up to {cfg.epochs} epochs, until the drop is <= {cfg.max_drop}" if stop_at is not None else f"{cfg.epochs} epochs"
    ctx.log(f"fine-tuning for {upto} on {train_data}; targets: {targets}; validation: {data.validation}")
    result = train(
        artifact, data.train, data.val, train_cfg, out_path=ctx.work_dir / f"{name}.pt" if save else None,
        teacher=teacher,
        progress=ctx.progress, on_epoch=lambda record: ctx.log(_epoch_line(record)),
    )  # fmt: skip
    ctx.records[name] = {
        "epochs": result.epochs_run, "best_epoch": result.best_epoch, "metric": result.metric_name,
        "best": result.best_metric, "seconds": round(result.seconds, 1), "targets": targets,
        "labelled": data.labelled, "distill": distill if teacher else 0.0, "validation": data.validation,
        "max_drop": cfg.max_drop, "max_epochs": cfg.epochs, "baseline": baseline, "stopped_early": result.stopped_early,
        "curve": [_curve_point(r, result.metric_name, baseline) for r in result.log],
        "feature_distill": {"weight": cfg.feature_distill, "layers": len(matched)} if matched else None,
        "bn_stats": "frozen" if train_cfg.freeze_bn_stats else "updated", "trained_layers": trained,
    }  # fmt: skip
    return result


def trainable_layers(cfg: FinetuneConfig, artifact: Artifact, original: Any, labelled: bool) -> tuple[tuple[str, ...], str]:
    """(module names that learn, () for all; the record's description). By default only the changed layers learn
    for label-free YOLO-pose: with every layer learning, 25 steps of distillation took a head-pruned yolo11n-pose
    from 99.6 to 34.7 OKS agreement with its teacher (the starved head branches pull on the shared features);
    with only the changed layers learning it stayed at 99.6."""
    mode = cfg.train_layers or ("changed" if artifact.spec.head == "yolo" and not labelled else "all")
    if mode == "all":
        return (), "all"
    if original is None:
        raise UserError("train_layers 'changed' compares with the original model, which this fine-tune does not have")
    names = changed_modules(artifact.model, original)
    if not names:
        return (), "all (the pass changed no layer's shape)"
    return names, f"changed: {len(names)} layers"


def changed_modules(model: Any, original: Any) -> tuple[str, ...]:
    """Modules of `model` holding a parameter or buffer that `original` lacks or holds in another shape."""
    before = {k: tuple(v.shape) for k, v in original.state_dict().items()}
    changed = {k.rpartition(".")[0] for k, v in model.state_dict().items() if before.get(k) != tuple(v.shape)}
    return tuple(sorted(changed))


def freeze_bn_stats(cfg: FinetuneConfig, spec: Any, labelled: bool) -> bool:
    """cfg.freeze_bn_stats, or by default: frozen for label-free YOLO-pose recovery. Its BatchNorm statistics come
    from the original training pictures; re-estimated on the user's (LSP photos), the unpruned yolo11n-pose itself
    agreed with its original outputs at only 78 OKS (x100) on held-back photos, so updating them fights the targets."""
    if cfg.freeze_bn_stats is not None:
        return cfg.freeze_bn_stats
    return spec.head == "yolo" and not labelled


def _stop_at(cfg: FinetuneConfig, data: Any, original: Any, artifact: Artifact,
             ctx: RunContext) -> tuple[float | None, float | None]:  # fmt: skip
    """(metric value that ends the fine-tune, the teacher's value it is measured against): the teacher agrees
    with itself 100%; a labelled metric is scored on the teacher first."""
    if data.val is None:
        if cfg.max_drop is not None:
            raise UserError("--max-drop needs a validation check: give --val ANN.json, or fine-tuning data with "
                            "enough pictures to hold some back")  # fmt: skip
        return None, None
    if hasattr(data.val, "score"):
        baseline = 100.0
        return (baseline - cfg.max_drop if cfg.max_drop is not None else None), baseline
    if original is None or cfg.max_drop is None:  # no budget: nothing to score the teacher for
        return None, None
    from edgepose import distributed as dist
    from edgepose.measure import primary_metric
    from edgepose.train import TrainConfig, validate

    metric = primary_metric(artifact.spec.schema)
    baseline = dist.on_rank_zero(  # rank 0 alone evaluates (the one metric path), every rank gets the number
        lambda: validate(original, artifact.spec, data.val, TrainConfig(val_limit=cfg.val_limit)).get(metric))
    if baseline is None:
        return None, None
    return baseline - cfg.max_drop / 100.0, baseline  # metrics are fractions, drops are points


def _curve_point(record: dict[str, Any], metric: str, baseline: float | None) -> dict[str, Any]:
    value = (record.get("val") or {}).get(metric)
    loss = None if record["loss"] is None else round(float(record["loss"]), 7)  # epoch 0: the start, untrained
    point: dict[str, Any] = {"epoch": record["epoch"], "loss": loss, metric: value}
    if value is not None and baseline is not None:
        scale = 1.0 if metric.startswith("teacher_") else 100.0
        point["drop_points"] = round((baseline - value) * scale, 3)
    return point


def _epoch_line(record: dict[str, Any]) -> str:
    line = f"  epoch {record['epoch']}: " + ("start" if record["loss"] is None else f"loss {record['loss']:.6f}")
    for key in ("oks_ap", "pck@0.2", "teacher_pck", "teacher_disp_px", "teacher_oks"):
        value = (record.get("val") or {}).get(key)
        if value is not None:
            line += f"  {key} {value:.4f}"
    return line


@register_pass(
    "finetune", config=FinetuneConfig, stage=Stage.STRUCTURE, accepts={"torch"}, produces="torch",
    description="fine-tune (optionally distilled from the input model) on the training data",
)  # fmt: skip
def finetune(artifact: Artifact, cfg: FinetuneConfig, ctx: RunContext) -> Artifact:
    """Fine-tune a copy of the model; the input model is its teacher when none is set."""
    result = copy_torch_artifact(artifact)
    if ctx.teacher is None:
        ctx.teacher = artifact
    finetune_model(result, cfg, ctx)
    return result
