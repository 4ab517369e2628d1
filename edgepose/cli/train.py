"""`edgepose train ARCH`: train a zoo architecture on COCO-keypoints data (or fine-tune from --init)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from edgepose.cli.common import GLOBAL_BATCH_HELP, DistBackendOpt, JsonOpt, SyncBnOpt, start_distributed

KwOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--kw", help="architecture kwarg key=value (e.g. width=0.5), repeatable"),
]


def train_command(
    arch: Annotated[Optional[str], typer.Argument(help="zoo architecture (see `edgepose zoo`)")] = None,  # noqa: UP045
    data: Annotated[Optional[str], typer.Option("--data", help="training annotations (COCO keypoints JSON)")] = None,  # noqa: UP045
    out: Annotated[Optional[str], typer.Option("-o", "--out", help="output checkpoint (.pt)")] = None,  # noqa: UP045
    recipe: Annotated[Optional[str], typer.Option("--recipe", help="a shipped training recipe's name (see `edgepose train --list`) or a .yaml file: "  # noqa: UP045
                                                  "architecture, data, schedule and output in one file")] = None,
    val: Annotated[Optional[str], typer.Option("--val", help="validation annotations")] = None,  # noqa: UP045
    epochs: Annotated[int, typer.Option(min=1, max=10_000, help="training epochs")] = 20,
    batch: Annotated[int, typer.Option(min=1, help=f"batch size, {GLOBAL_BATCH_HELP}")] = 32,
    lr: Annotated[float, typer.Option(help="peak AdamW learning rate")] = 1e-3,
    input_size: Annotated[Optional[str], typer.Option("--input-size", help="HxW (default: the architecture's)")] = None,  # noqa: UP045
    init: Annotated[Optional[str], typer.Option("--init", help="start from this checkpoint's weights")] = None,  # noqa: UP045
    kw: KwOpt = None,
    workers: Annotated[int, typer.Option(min=0, help="data-loading worker processes")] = 2,
    val_limit: Annotated[Optional[int], typer.Option("--val-limit", min=1, help="validate on the first N people")] = None,  # noqa: UP045
    val_every: Annotated[int, typer.Option("--val-every", min=1, help="validate every N epochs (and after the last)")] = 1,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="torch CPU threads")] = None,  # noqa: UP045
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    clip_stride: Annotated[Optional[int], typer.Option("--clip-stride", min=1, help="clip models: frames between training windows (default 1)")] = None,  # noqa: UP045
    select: Annotated[Optional[str], typer.Option("--select", help="val metric that picks the best epoch: oks_ap|pck@0.2|... (default: OKS AP on COCO-17, else PCK@0.2)")] = None,  # noqa: UP045
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="continue an interrupted run")] = True,
    list_recipes: Annotated[bool, typer.Option("--list", help="list the shipped training recipes and exit")] = False,
    sync_bn: SyncBnOpt = False,
    dist_backend: DistBackendOpt = "auto",
    json_out: JsonOpt = False,
) -> None:
    """Train ARCH; keeps the best-on-val checkpoint with provenance; resumes if interrupted.

    With --recipe, everything comes from the recipe file (how each shipped checkpoint was made).

    Example: edgepose train simplebaseline-lite --data synth/train.json --val synth/val.json -o demo.pt --epochs 30

    On N processes (one per GPU, or CPU processes with gloo): python -m torch.distributed.run --nproc_per_node N
    -m edgepose train ... (data-parallel; --batch is global, so the schedule is the same at any N; rank 0 writes).
    """
    import math

    from edgepose.console import info, print_json, stdout
    from edgepose.errors import UserError
    from edgepose.paths import check_output, require_inputs
    from edgepose.train import TrainConfig, train
    from edgepose.training_setup import build_for_training, parse_kwargs

    if list_recipes:
        _list_recipes(json_out)
        return
    start_distributed(dist_backend)
    kwargs = parse_kwargs(kw or [])
    if recipe:
        from edgepose.distributed import rank_zero_only
        from edgepose.train_recipe import generate_missing_data, load_train_recipe

        spec = load_train_recipe(recipe)
        with rank_zero_only() as main:  # one process generates missing data; the others wait for it
            if main:
                generate_missing_data(spec, log=info)
        arch, data, val, out, kwargs = spec.arch, spec.data.train, spec.data.val, spec.output, dict(spec.kwargs)
        input_size, init, schedule = spec.input_size, spec.init, spec.train
        epochs, batch, lr, workers, seed = schedule.epochs, schedule.batch, schedule.lr, schedule.workers, schedule.seed
        val_limit, val_every, threads = schedule.val_limit, schedule.val_every, schedule.threads
        clip_stride, select = schedule.clip_stride, schedule.select
    if not (arch and data and out):
        raise UserError("give ARCH, --data TRAIN.json and -o OUT.pt, or --recipe NAME (a shipped training recipe) or --recipe FILE.yaml")
    if not (math.isfinite(lr) and 0 < lr < 10):
        raise UserError(f"--lr must be a positive learning rate below 10, got {lr}")
    check_output(out, [data, val, init, recipe])
    require_inputs({"--data": data, "--val": val, "--init": init})
    artifact = build_for_training(arch, data, kwargs, input_size, init)
    cfg = TrainConfig(
        epochs=epochs, batch_size=batch, lr=lr, workers=workers, seed=seed, val_limit=val_limit,
        val_every=val_every, threads=threads, sync_bn=sync_bn, clip_stride=clip_stride, select_metric=select,
    )  # fmt: skip
    result = train(artifact, data, val, cfg, out_path=out, resume=resume, progress=not json_out, on_epoch=_log_epoch)
    summary = {
        "checkpoint": out, "arch": arch, "metric": result.metric_name, "best": result.best_metric,
        "best_epoch": result.best_epoch, "epochs": result.epochs_run, "seconds": round(result.seconds, 1),
        "log": result.log,
    }  # fmt: skip
    if json_out:
        print_json(summary)
        return
    stdout.print(
        f"saved [bold]{out}[/]: best {result.metric_name} = {result.best_metric:.4f} at epoch "
        f"{result.best_epoch}/{result.epochs_run} ({result.seconds / 60:.1f} min)"
    )


def _list_recipes(json_out: bool) -> None:
    """The shipped training recipes: name, architecture, output and description."""
    from edgepose.console import print_json, stdout
    from edgepose.resources import shipped_recipes
    from edgepose.train_recipe import load_train_recipe

    rows = []
    for name, path in shipped_recipes("recipes/train").items():
        spec = load_train_recipe(path)
        rows.append({"name": name, "arch": spec.arch, "output": spec.output, "description": spec.description,
                     "path": str(path)})  # fmt: skip
    if json_out:
        print_json(rows)
        return
    for row in rows:
        stdout.print(f"[bold]{row['name']}[/]  {row['arch']} -> {row['output']}: {row['description']}")


def _log_epoch(record: dict) -> None:
    """One line per epoch on stderr: loss, learning rate and the validation metrics that matter."""
    from edgepose.console import info

    line = f"epoch {record['epoch']}: loss {record['loss']:.6f}  lr {record['lr']:.2e}"
    val = record.get("val") or {}
    for key in ("oks_ap", "pck@0.2", "pck@0.1", "mpjpe_px"):
        if val.get(key) is not None:
            line += f"  {key} {val[key]:.4f}"
    temporal = val.get("temporal") or {}
    for key in ("jitter", "accel_error"):
        if temporal.get(key) is not None:
            line += f"  {key} {temporal[key]:.5f}"
    info(line)
