"""Fine-tuning after a structural change (prune, Ghost) or for QAT: the project's one training loop.

With `distill > 0` the targets mix the ground truth with the unmodified model's outputs (the teacher
in RunContext), which recovers accuracy faster than the labels alone after surgery. Under torchrun the
fine-tune is data-parallel over the processes (edgepose.train); `batch_size` is the global batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from edgepose.passes.base import PassConfig, RunContext, Stage, copy_torch_artifact, register_pass

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.train import TrainResult


class FinetuneConfig(PassConfig):
    """How to fine-tune: epochs over the training data, peak learning rate, distillation share."""

    epochs: int = Field(3, ge=0)
    lr: float = Field(5e-4, gt=0)
    batch_size: int = Field(32, ge=1, description="global batch: split evenly over torchrun processes")
    distill: float = Field(0.5, ge=0, le=1, description="teacher share of the target (0: labels only)")
    warmup_steps: int = Field(50, ge=0)
    workers: int = Field(1, ge=0)
    val_limit: int | None = Field(None, ge=1)
    max_steps_per_epoch: int | None = Field(None, ge=1)
    sync_bn: bool = Field(False, description="SyncBatchNorm over torchrun processes (CUDA only)")


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


def finetune_model(
    artifact: Artifact, cfg: FinetuneConfig, ctx: RunContext, name: str = "finetune", save: bool = True
) -> TrainResult | None:
    """Train `artifact.model` in place on ctx.train_data (best on ctx.val_data); None when epochs is 0.

    With `save`, the best model is written to ctx.work_dir/NAME.pt with a resume state beside it, so an
    interrupted fine-tune continues where it stopped (a QAT model is not an edgepose checkpoint: no save).
    """
    if cfg.epochs == 0:
        return None
    from edgepose.train import TrainConfig, train

    train_data = ctx.need("fine-tuning data", ctx.train_data, "--finetune-data ANN.json")
    teacher = None
    if cfg.distill > 0 and ctx.teacher is not None and ctx.teacher.model is not None:
        teacher = ctx.teacher.model
    train_cfg = TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
        workers=cfg.workers, seed=ctx.seed, val_limit=cfg.val_limit, distill_alpha=cfg.distill if teacher else 0.0,
        max_steps_per_epoch=cfg.max_steps_per_epoch, threads=ctx.threads, sync_bn=cfg.sync_bn,
    )  # fmt: skip
    ctx.log(f"fine-tuning for {cfg.epochs} epochs on {train_data}" + (f" (distill {cfg.distill})" if teacher else ""))
    result = train(
        artifact, train_data, ctx.val_data, train_cfg, out_path=ctx.work_dir / f"{name}.pt" if save else None,
        teacher=teacher,
        progress=ctx.progress, on_epoch=lambda record: ctx.log(_epoch_line(record)),
    )  # fmt: skip
    ctx.records[name] = {
        "epochs": result.epochs_run, "best_epoch": result.best_epoch, "metric": result.metric_name,
        "best": result.best_metric, "seconds": round(result.seconds, 1),
    }  # fmt: skip
    return result


def _epoch_line(record: dict[str, Any]) -> str:
    line = f"  epoch {record['epoch']}: loss {record['loss']:.6f}"
    for key in ("oks_ap", "pck@0.2"):
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
