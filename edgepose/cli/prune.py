"""`edgepose prune MODEL -o OUT --ratio R`: prune (structured / magnitude / sensitivity), fine-tune, report."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from edgepose.cli.common import (
    GLOBAL_BATCH_HELP,
    SOURCE_HELP,
    ArchOpt,
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
    finetune_epochs,
    load_model_arg,
    parse_runtimes,
    start_distributed,
    validation_data,
)  # fmt: skip
from edgepose.errors import UserError

OptStr = Optional[str]  # noqa: UP045
OptFloat = Optional[float]  # noqa: UP045
OptInt = Optional[int]  # noqa: UP045
Patterns = Optional[list[str]]  # noqa: UP045
MAX_LAYER_ROWS = 25
# measured on checkpoints/lsp-simplebaseline-lite.pt with lspet_train.json (README "Compression results"):
# 10 epochs at lr 5e-4 recover to within a point of the original; fewer did not
DEFAULT_EPOCHS = 10
DEFAULT_LR = 5e-4


def prune_command(
    model: OptionalModelArg = None,
    output: Annotated[str, typer.Option("--output", "-o", help="pruned checkpoint to write (.pt)")] = "",
    ratio: Annotated[float, typer.Option("--ratio", help="structured: channel share removed per layer; "
                                         "magnitude: weight share zeroed")] = 0.3,  # fmt: skip
    method: Annotated[str, typer.Option("--method", help="structured | magnitude | sensitivity")] = "structured",
    importance: Annotated[str, typer.Option("--importance", help="l1 | l2 | bn_scale | taylor")] = "l1",
    global_pruning: Annotated[bool, typer.Option("--global", help="rank channels across layers (not per layer)")] = False,
    iterative: Annotated[int, typer.Option("--iterative", min=1, max=50, help="K steps of prune -> fine-tune (epochs split over them)")] = 1,
    round_to: Annotated[str, typer.Option("--round-to", help="keep channel counts multiples of N (0: off); auto: the "
                                          "multiple this CPU's INT8 kernels tile by")] = "auto",  # fmt: skip
    max_layer_ratio: Annotated[float, typer.Option("--max-layer-ratio", help="never remove more than this share of a layer")] = 0.9,
    target_gflops: Annotated[OptFloat, typer.Option("--target-gflops", help="prune until GFLOPs <= this share (e.g. 0.5); "
                                                    "replaces --ratio")] = None,  # fmt: skip
    target_latency: Annotated[OptFloat, typer.Option("--target-latency", help="sensitivity: ONNX Runtime p50 <= this share")] = None,
    layer_ratio: Annotated[Patterns, typer.Option("--layer-ratio", help="an explicit plan: PATTERN=RATIO (wildcards, "
                                                  "repeatable); only matching layers are pruned, each by its ratio")] = None,  # fmt: skip
    include: Annotated[Patterns, typer.Option("--include", help="prune only layers matching (wildcards, repeatable)")] = None,
    exclude: Annotated[Patterns, typer.Option("--exclude", help="never prune layers matching (wildcards, repeatable)")] = None,
    finetune_data: Annotated[OptStr, typer.Option("--finetune-data", help="what to fine-tune on: labelled COCO keypoints JSON in the model's "
                                            f"schema, or images without labels (distilled from the original model): {SOURCE_HELP}")] = None,  # fmt: skip
    max_drop: MaxDropOpt = None,
    max_epochs: MaxEpochsOpt = None,
    epochs: Annotated[OptInt, typer.Option("--epochs", min=0, max=10_000, help="fine-tuning epochs (default 10 with --finetune-data; with --max-drop: at most)")] = None,
    lr: Annotated[float, typer.Option("--lr", help="fine-tuning peak learning rate")] = DEFAULT_LR,
    distill: Annotated[float, typer.Option("--distill", min=0.0, max=1.0, help="teacher (unpruned model) share of the targets, 0..1")] = 0.5,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help=f"fine-tuning batch size, {GLOBAL_BATCH_HELP}")] = 32,
    max_steps: Annotated[OptInt, typer.Option("--max-steps", min=1, help="fine-tuning steps per epoch at most")] = None,
    sync_bn: SyncBnOpt = False,
    dist_backend: DistBackendOpt = "auto",
    eval_data: Annotated[OptStr, typer.Option("--eval", help="COCO keypoints JSON: accuracy before/after")] = None,
    eval_limit: Annotated[OptInt, typer.Option("--eval-limit", min=1, help="score only the first N people")] = None,
    val_data: Annotated[OptStr, typer.Option("--val", help="data for the sensitivity scan and the best fine-tuning "
                                             "epoch; held out, not --eval (default: agreement with the original model on held-back "
                                             "training pictures; the scan then compares with it on fine-tuning images)")] = None,  # fmt: skip
    scan_images: Annotated[int, typer.Option("--scan-images", min=1, help="sensitivity: labelled people (without labels: "
                                             "images) scored per scan entry")] = 64,  # fmt: skip
    runtime: Annotated[str, typer.Option("--runtime", help="runtime for the latency ratio (none: skip)")] = "onnxruntime",
    threads: Annotated[OptInt, typer.Option("--threads", min=1, help="CPU threads for fine-tuning and timing")] = None,
    iters: Annotated[int, typer.Option("--iters", min=2, help="interleaved timing iterations")] = 60,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Prune MODEL, fine-tune it, and report params, GFLOPs, latency (vs the unpruned model, one run) and accuracy.

    Example: edgepose prune lsp.pt -o lsp-pruned.pt --target-gflops 0.5 --finetune-data train.json --epochs 10 --eval val.json

    On N processes: python -m torch.distributed.run --nproc_per_node N -m edgepose prune ... (the fine-tune is
    data-parallel; rank 0 writes, evaluates and times).
    """
    from edgepose.console import info, print_json
    from edgepose.passes import make_config
    from edgepose.passes.select import check_patterns
    from edgepose.passes.to_file import measured_rewrite
    from edgepose.paths import check_output, require_inputs

    start_distributed(dist_backend)
    if not output:
        raise UserError("give the output checkpoint with -o OUT (e.g. -o pruned.pt)")
    if (epochs is not None or max_drop is not None) and finetune_data is None:
        raise UserError("--epochs / --max-drop fine-tune on --finetune-data; give it too")
    check_output(output, [model, finetune_data, eval_data, val_data])
    require_inputs({"--finetune-data": finetune_data, "--eval": eval_data, "--val": val_data})
    val_data = validation_data(val_data, eval_data)
    options: dict[str, Any] = {
        "method": method, "ratio": ratio, "importance": importance, "global_pruning": global_pruning,
        "iterative_steps": iterative, "round_to": _round_to(round_to), "max_layer_ratio": max_layer_ratio,
        "target_gflops_ratio": target_gflops, "target_latency_ratio": target_latency,
        "include": include or ["*"], "exclude": exclude or [], "sensitivity_images": scan_images,
    }  # fmt: skip
    if layer_ratio:
        options["layer_ratios"] = _layer_ratios(layer_ratio)
    if finetune_data is not None:
        options["finetune"] = {"lr": lr, "distill": distill, "batch_size": batch_size, "max_steps_per_epoch": max_steps,
                               "sync_bn": sync_bn, **finetune_epochs(epochs, max_epochs, max_drop, DEFAULT_EPOCHS)}  # fmt: skip
    cfg = make_config("prune", options)
    runtimes = parse_runtimes([runtime], ["onnxruntime"])
    artifact = load_model_arg(model, arch, model_factory, trust_checkpoint, input_size, schema)
    torch_model = artifact.require_torch("prune")  # an exported / quantized file: prune before export
    check_patterns(torch_model, cfg.include, "include")
    check_patterns(torch_model, cfg.exclude, "exclude")
    info(f"pruning {artifact.path or artifact.arch} ({cfg.method}) ...")
    data = measured_rewrite(
        "prune", artifact, cfg, output, runtimes=runtimes, eval_data=eval_data,
        eval_limit=eval_limit, iters=iters, train_data=finetune_data, val_data=val_data, threads=threads,
    )  # fmt: skip
    data["finetune"] = (data.get("prune") or {}).get("finetune", [])
    if json_out:
        print_json(data)
        return
    _print(data)


def _layer_ratios(items: list[str]) -> dict[str, float]:
    """{pattern: ratio} from PATTERN=RATIO strings (the last '=' splits)."""
    plan: dict[str, float] = {}
    for item in items:
        pattern, sep, value = item.rpartition("=")
        try:
            plan[pattern] = float(value)
        except ValueError:
            sep = ""
        if not sep or not pattern:
            raise UserError(f"--layer-ratio takes PATTERN=RATIO (e.g. 'model.23.cv2.*=0.5'), not '{item}'")
    return plan


def _print(data: dict[str, Any]) -> None:
    """The before/after table, then what changed per layer (or the sparsity, or the chosen ratios)."""
    from rich.table import Table

    from edgepose.cli.step_table import print_finetune, print_step
    from edgepose.console import stdout

    record = data["prune"] or {}
    print_step(data, title=f"edgepose prune ({record.get('method')}): {data['output']}")
    print_finetune(data.get("finetune"))
    if record.get("method") == "magnitude":
        stdout.print(f"sparsity reached: {record['sparsity']:.1%} of {record['n_weights']:,} weights "
                     f"(asked {record['sparsity_asked']:.0%})\n[yellow]note:[/] {record['note']}")  # fmt: skip
        return
    layers = record.get("layers", [])
    table = Table(title=f"channels per layer ({len(layers)} changed; outputs kept: {', '.join(record['output_layers'])})")
    for column in ("layer", "before", "after", "removed"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for row in layers[:MAX_LAYER_ROWS]:
        table.add_row(row["layer"], str(row["channels_before"]), str(row["channels_after"]), f"{row['ratio']:.0%}")
    if len(layers) > MAX_LAYER_ROWS:
        table.add_row(f"... {len(layers) - MAX_LAYER_ROWS} more (--json lists all)", "", "", "")
    stdout.print(table)
    for layer, reason in record.get("not_pruned", {}).items():
        stdout.print(f"[yellow]kept whole:[/] {layer}: {reason}")
    if record.get("sensitivity"):
        _print_scan(record["sensitivity"])


def _print_scan(scan: dict[str, Any]) -> None:
    """Accuracy drop (points) and GFLOPs saved per layer group and ratio; * marks the chosen ratio."""
    from rich.table import Table

    from edgepose.console import stdout

    ratios = sorted({row["ratio"] for row in scan["table"]})
    table = Table(title=f"sensitivity scan: drop in points (GFLOPs saved), baseline {scan['baseline']:.4f} "
                        f"on {scan['instances']} of {scan['data']}, scored by {scan.get('scored_by', 'labels')}")  # fmt: skip
    table.add_column("layer")
    for ratio in ratios:
        table.add_column(f"x{ratio:g}", justify="right")
    by_layer: dict[str, dict[float, dict[str, Any]]] = {}
    for row in scan["table"]:
        by_layer.setdefault(row["layer"], {})[row["ratio"]] = row
    for layer, rows in by_layer.items():
        cells = []
        for ratio in ratios:
            row = rows.get(ratio)
            mark = "*" if scan["chosen"].get(layer) == ratio else ""
            cells.append("-" if row is None else f"{mark}{row['drop_points']:+.2f} ({row['saved_gflops']:.3f})")
        table.add_row(layer, *cells)
    stdout.print(table)


def _round_to(value: str) -> int | str | None:
    """--round-to: 'auto', 0 (off: None) or a positive channel multiple."""
    if value.strip().lower() == "auto":
        return "auto"
    try:
        number = int(value)
    except ValueError:
        raise UserError(f"--round-to takes 'auto' or a whole number >= 0, not '{value}'") from None
    if number < 0:
        raise UserError(f"--round-to takes 'auto' or a whole number >= 0, not {number}")
    return number or None
