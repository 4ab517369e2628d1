"""`edgepose ghost MODEL -o OUT`: Ghost-conv replacement, optional fine-tuning, and the before/after report."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from edgepose.cli.common import (
    GLOBAL_BATCH_HELP,
    SOURCE_HELP,
    ArchOpt,
    DetectorOpt,
    DistBackendOpt,
    FactoryOpt,
    InputSizeOpt,
    JsonOpt,
    MaxDropOpt,
    MaxEpochsOpt,
    OptionalModelArg,
    SchemaOpt,
    SyncBnOpt,
    TrustOpt,
    detector_arg,
    finetune_epochs,
    load_model_arg,
    parse_runtimes,
    start_distributed,
    validation_data,
)  # fmt: skip

OptStr = Optional[str]  # noqa: UP045
OptInt = Optional[int]  # noqa: UP045
Strings = Optional[list[str]]  # noqa: UP045
MAX_LAYER_ROWS = 25
# measured on checkpoints/lsp-simplebaseline-lite.pt with lspet_train.json (README "Compression results"):
# 24 epochs at lr 1e-3 recover to within a point of the original; fewer did not
DEFAULT_EPOCHS = 24
DEFAULT_LR = 1e-3
DEFAULT_RUNTIMES = ["onnxruntime", "openvino"]


def ghost_command(
    model: OptionalModelArg = None,
    output: Annotated[str, typer.Option("--output", "-o", help="ghosted checkpoint to write (.pt)")] = "",
    ratio: Annotated[int, typer.Option("--ratio", min=2, help="s: 1/s of each layer's outputs come from its full conv (>= 2)")] = 2,
    dw_kernel: Annotated[int, typer.Option("--dw-kernel", min=1, help="d: kernel of the cheap depthwise convs (odd)")] = 3,
    include: Annotated[Strings, typer.Option("--include", help="replace only layers matching (wildcards, repeatable)")] = None,
    exclude: Annotated[Strings, typer.Option("--exclude", help="never replace layers matching (wildcards, repeatable)")] = None,
    no_deconv: Annotated[bool, typer.Option("--no-deconv", help="leave transposed convs (deconvs) as they are")] = False,
    bottleneck: Annotated[bool, typer.Option("--bottleneck", help="rebuild ResNet blocks as Ghost bottlenecks "
                                             "(much cheaper; needs real fine-tuning)")] = False,  # fmt: skip
    keep_stem: Annotated[bool, typer.Option("--keep-stem/--ghost-stem", help="leave the first conv on the image alone")] = True,
    calib: Annotated[OptStr, typer.Option("--calib", help="images that fit the init "
                                          f"(default: --finetune-data; else random inputs): {SOURCE_HELP}")] = None,  # fmt: skip
    detector: DetectorOpt = None,
    calib_images: Annotated[int, typer.Option("--calib-images", min=0, help="images for the least-squares init (0: weights only)")] = 16,
    finetune_data: Annotated[OptStr, typer.Option("--finetune-data", help="what to fine-tune on: labelled COCO keypoints JSON in the model's "
                                            f"schema, or images without labels (distilled from the original model): {SOURCE_HELP}")] = None,  # fmt: skip
    max_drop: MaxDropOpt = None,
    max_epochs: MaxEpochsOpt = None,
    epochs: Annotated[OptInt, typer.Option("--epochs", min=0, max=10_000, help="fine-tuning epochs (default 24 with --finetune-data; with --max-drop: at most)")] = None,
    lr: Annotated[float, typer.Option("--lr", help="fine-tuning peak learning rate")] = DEFAULT_LR,
    distill: Annotated[float, typer.Option("--distill", min=0.0, max=1.0, help="teacher (original model) share of the targets, 0..1")] = 0.5,
    feature_distill: Annotated[float, typer.Option("--feature-distill", min=0.0, help="also pull each replaced layer's output "
                                                   "towards the original's; weight against the output loss at the start (0: off)")] = 0.0,  # fmt: skip
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help=f"fine-tuning batch size, {GLOBAL_BATCH_HELP}")] = 32,
    max_steps: Annotated[OptInt, typer.Option("--max-steps", min=1, help="fine-tuning steps per epoch at most")] = None,
    sync_bn: SyncBnOpt = False,
    dist_backend: DistBackendOpt = "auto",
    eval_data: Annotated[OptStr, typer.Option("--eval", help="COCO keypoints JSON: accuracy before/after")] = None,
    eval_limit: Annotated[OptInt, typer.Option("--eval-limit", min=1, help="score only the first N people")] = None,
    val_data: Annotated[OptStr, typer.Option("--val", help="held-out data that picks the best fine-tuning epoch, not --eval "
                                             "(default: agreement with the original model on held-back training pictures)")] = None,  # fmt: skip
    runtime: Annotated[Strings, typer.Option("--runtime", help="runtime(s) for the latency ratio, repeatable "
                                             "(default: onnxruntime and openvino; none: skip)")] = None,  # fmt: skip
    threads: Annotated[OptInt, typer.Option("--threads", min=1, help="CPU threads for fine-tuning and timing")] = None,
    iters: Annotated[int, typer.Option("--iters", min=2, help="interleaved timing iterations")] = 60,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Replace convs and deconvs by Ghost modules fitted to their weights, fine-tune, and report params, GFLOPs,
    latency (vs the original, interleaved in one run, per runtime) and accuracy.

    Example: edgepose ghost lsp.pt -o lsp-ghost.pt --ratio 2 --finetune-data train.json --epochs 10 --eval val.json --threads 2

    On N processes: python -m torch.distributed.run --nproc_per_node N -m edgepose ghost ... (the fine-tune is
    data-parallel; rank 0 writes, evaluates and times).
    """
    from edgepose.errors import UserError
    from edgepose.passes import make_config
    from edgepose.passes.to_file import measured_rewrite
    from edgepose.paths import check_output, require_inputs

    start_distributed(dist_backend)
    if not output:
        raise UserError("give the output checkpoint with -o OUT (e.g. -o ghost.pt)")
    if (epochs is not None or max_drop is not None) and finetune_data is None:
        raise UserError("--epochs / --max-drop fine-tune on --finetune-data; give it too")
    check_output(output, [model, finetune_data, eval_data, val_data, calib])
    require_inputs({"--finetune-data": finetune_data, "--eval": eval_data, "--val": val_data, "--calib": calib})
    val_data = validation_data(val_data, eval_data)
    runtimes = parse_runtimes(runtime, DEFAULT_RUNTIMES)
    options: dict[str, Any] = {
        "ratio": ratio, "dw_kernel": dw_kernel, "include": include or ["*"], "exclude": exclude or [],
        "keep_stem": keep_stem, "deconv": not no_deconv, "bottleneck": bottleneck, "calib_images": calib_images,
    }  # fmt: skip
    if finetune_data is not None:
        options["finetune"] = {
            "lr": lr, "distill": distill, "feature_distill": feature_distill, "batch_size": batch_size,
            "max_steps_per_epoch": max_steps,
            "sync_bn": sync_bn, **finetune_epochs(epochs, max_epochs, max_drop, DEFAULT_EPOCHS),
        }  # fmt: skip
    cfg = make_config("ghost", options)
    artifact = load_model_arg(model, arch, model_factory, trust_checkpoint, input_size, schema)
    artifact.require_torch("ghost")
    data = measured_rewrite(
        "ghost", artifact, cfg, output, runtimes=runtimes, eval_data=eval_data, eval_limit=eval_limit, iters=iters,
        train_data=finetune_data, val_data=val_data, calib_data=calib, threads=threads,
        detector=detector_arg(detector, threads),
        ghosted_from=str(artifact.path or artifact.arch),
    )  # fmt: skip
    data["finetune"] = data["records"].get("ghost_finetune")
    if json_out:
        from edgepose.console import print_json

        print_json(data)
        return
    _print(data)


def _print(data: dict[str, Any]) -> None:
    """The before/after table, the latency on further runtimes, then what was replaced and how close it started."""
    from rich.table import Table

    from edgepose.cli.step_table import print_finetune, print_step
    from edgepose.console import stdout

    record = data["ghost"] or {}
    print_step(data, title=f"edgepose ghost (ratio {record.get('ratio')}, dw {record.get('dw_kernel')}): {data['output']}")
    print_finetune(data.get("finetune"))
    first = (data.get("latency") or {}).get("runtime_a")
    for name, latency in data.get("latencies", {}).items():
        if name == first:
            continue
        if isinstance(latency, str):
            stdout.print(f"{name}: {latency}")
            continue
        lo, hi = latency["speedup_ci95"]
        before_ms, after_ms = latency["a"]["latency_ms"]["p50"], latency["b"]["latency_ms"]["p50"]
        stdout.print(f"p50 latency on {name} ({latency['threads'] or 'default'} threads): {before_ms:.2f} -> "
                     f"{after_ms:.2f} ms, {latency['speedup']:.2f}x faster [{lo:.2f}, {hi:.2f}]")  # fmt: skip
    if record.get("unchanged"):
        stdout.print(f"[yellow]model unchanged:[/] {record['unchanged']}")
        return
    replaced = record.get("replaced", [])
    table = Table(title=f"replaced layers ({len(replaced)}; skipped {len(record.get('skipped', []))}, --json lists why)")
    for column in ("layer", "kind", "MFLOPs before", "MFLOPs after", "init"):
        table.add_column(column, justify="left" if column in ("layer", "kind", "init") else "right")
    for row in replaced[:MAX_LAYER_ROWS]:
        table.add_row(row["name"], row["kind"], f"{row['gflops_before'] * 1e3:.2f}", f"{row['gflops_after'] * 1e3:.2f}", row["init"])
    if len(replaced) > MAX_LAYER_ROWS:
        table.add_row(f"... {len(replaced) - MAX_LAYER_ROWS} more (--json lists all)", "", "", "", "")
    stdout.print(table)
    init = record.get("init") or {}
    errors = init.get("rel_err") or {}
    if errors:
        stdout.print(
            f"start vs original (relative output error on {init['check_inputs']} held-out inputs, fit on "
            f"{init['calibration']}): fitted {errors['fitted']:.3f}, naive {errors['naive']:.3f}, random {errors['random']:.3g}"
        )
