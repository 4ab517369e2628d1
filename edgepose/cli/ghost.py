"""`edgepose ghost MODEL -o OUT`: Ghost-conv replacement, optional fine-tuning, and the before/after report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgepose.cli.common import (
    ArchOpt,
    FactoryOpt,
    InputSizeOpt,
    JsonOpt,
    OptionalModelArg,
    SchemaOpt,
    TrustOpt,
    load_model_arg,
)  # fmt: skip

OptStr = Optional[str]  # noqa: UP045
OptInt = Optional[int]  # noqa: UP045
Strings = Optional[list[str]]  # noqa: UP045
MAX_LAYER_ROWS = 25
DEFAULT_RUNTIMES = ["onnxruntime", "openvino"]


def ghost_command(
    model: OptionalModelArg = None,
    output: Annotated[str, typer.Option("--output", "-o", help="ghosted checkpoint to write (.pt)")] = "",
    ratio: Annotated[int, typer.Option("--ratio", help="s: 1/s of each layer's outputs come from its full conv (>= 2)")] = 2,
    dw_kernel: Annotated[int, typer.Option("--dw-kernel", help="d: kernel of the cheap depthwise convs (odd)")] = 3,
    include: Annotated[Strings, typer.Option("--include", help="replace only layers matching (wildcards, repeatable)")] = None,
    exclude: Annotated[Strings, typer.Option("--exclude", help="never replace layers matching (wildcards, repeatable)")] = None,
    no_deconv: Annotated[bool, typer.Option("--no-deconv", help="leave transposed convs (deconvs) as they are")] = False,
    bottleneck: Annotated[bool, typer.Option("--bottleneck", help="rebuild ResNet blocks as Ghost bottlenecks "
                                             "(much cheaper; needs real fine-tuning)")] = False,  # fmt: skip
    keep_stem: Annotated[bool, typer.Option("--keep-stem/--ghost-stem", help="leave the first conv on the image alone")] = True,
    calib: Annotated[OptStr, typer.Option("--calib", help="COCO keypoints JSON whose images fit the init "
                                          "(default: --finetune-data; else random inputs)")] = None,  # fmt: skip
    calib_images: Annotated[int, typer.Option("--calib-images", help="images for the least-squares init (0: weights only)")] = 16,
    finetune_data: Annotated[OptStr, typer.Option("--finetune-data", help="COCO keypoints JSON to fine-tune on")] = None,
    epochs: Annotated[OptInt, typer.Option("--epochs", help="fine-tuning epochs (default 3 with --finetune-data)")] = None,
    lr: Annotated[float, typer.Option("--lr", help="fine-tuning peak learning rate")] = 5e-4,
    distill: Annotated[float, typer.Option("--distill", help="teacher (original model) share of the targets, 0..1")] = 0.5,
    batch_size: Annotated[int, typer.Option("--batch-size", help="fine-tuning batch size")] = 32,
    max_steps: Annotated[OptInt, typer.Option("--max-steps", help="fine-tuning steps per epoch at most")] = None,
    eval_data: Annotated[OptStr, typer.Option("--eval", help="COCO keypoints JSON: accuracy before/after")] = None,
    eval_limit: Annotated[OptInt, typer.Option("--eval-limit", help="score only the first N people")] = None,
    val_data: Annotated[OptStr, typer.Option("--val", help="data that picks the best fine-tuning epoch (default: --eval)")] = None,
    runtime: Annotated[Strings, typer.Option("--runtime", help="runtime(s) for the latency ratio, repeatable "
                                             "(default: onnxruntime and openvino; none: skip)")] = None,  # fmt: skip
    threads: Annotated[OptInt, typer.Option("--threads", help="CPU threads for fine-tuning and timing")] = None,
    iters: Annotated[int, typer.Option("--iters", help="interleaved timing iterations")] = 60,
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
    """
    from edgepose.errors import UserError
    from edgepose.passes import make_config

    if not output:
        raise UserError("give the output checkpoint with -o OUT (e.g. -o ghost.pt)")
    if epochs is not None and finetune_data is None:
        raise UserError("--epochs fine-tunes on --finetune-data ANN.json; give it too")
    runtimes = _runtimes(runtime)
    options: dict[str, Any] = {
        "ratio": ratio, "dw_kernel": dw_kernel, "include": include or ["*"], "exclude": exclude or [],
        "keep_stem": keep_stem, "deconv": not no_deconv, "bottleneck": bottleneck, "calib_images": calib_images,
    }  # fmt: skip
    if finetune_data is not None:
        options["finetune"] = {
            "lr": lr, "distill": distill, "batch_size": batch_size, "max_steps_per_epoch": max_steps,
            **({"epochs": epochs} if epochs is not None else {}),
        }  # fmt: skip
    cfg = make_config("ghost", options)
    artifact = load_model_arg(model, arch, model_factory, trust_checkpoint, input_size, schema)
    artifact.require_torch("ghost")
    result, records = run_ghost(artifact, cfg, Path(output), finetune_data, val_data or eval_data, calib, threads)
    data = measure(artifact, result, runtimes, eval_data, eval_limit, threads, iters)
    data.update(model=str(artifact.path or artifact.arch), output=output, ghost=records.get("ghost"),
                finetune=records.get("ghost_finetune"))  # fmt: skip
    if json_out:
        from edgepose.cli.output import print_json

        print_json(data)
        return
    _print(data)


def _runtimes(values: list[str] | None) -> list[str]:
    from edgepose.errors import UserError
    from edgepose.runtimes.base import RUNTIMES

    names = list(dict.fromkeys(values or DEFAULT_RUNTIMES))
    if names == ["none"]:
        return []
    for name in names:
        if name not in RUNTIMES:
            raise UserError(f"unknown runtime '{name}' for --runtime: {', '.join(RUNTIMES.names())} or none")
    return names


def run_ghost(
    artifact: Any, cfg: Any, output: Path, finetune_data: str | None, val_data: str | None, calib: str | None,
    threads: int | None,
) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """Run the pass with its work files beside OUT (kept only while interrupted), then save OUT atomically."""
    import shutil

    from edgepose.checkpoint import save_checkpoint
    from edgepose.cli.output import info
    from edgepose.passes import RunContext, apply_pass

    work_dir = output.parent / f".{output.name}.work"
    ctx = RunContext(
        work_dir=work_dir, train_data=Path(finetune_data) if finetune_data else None,
        val_data=Path(val_data) if val_data else None, calib_data=Path(calib) if calib else None,
        threads=threads, log=info,
    )  # fmt: skip
    result = apply_pass(artifact, "ghost", cfg, ctx)
    save_checkpoint(result, output, ghost_config=cfg.model_dump(mode="json"), ghosted_from=str(artifact.path or artifact.arch))
    shutil.rmtree(work_dir, ignore_errors=True)
    return result, ctx.records


def measure(
    before: Any, after: Any, runtimes: list[str], eval_data: str | None, eval_limit: int | None,
    threads: int | None, iters: int,
) -> dict[str, Any]:  # fmt: skip
    """compare_step on the first runtime (with accuracy), then the latency ratio on each further one."""
    from edgepose.cli.output import info
    from edgepose.report.compare import compare_step, latency_ratio
    from edgepose.runtimes.base import is_available

    available = []
    notes = {}
    for name in runtimes:
        ok, reason = is_available(name)
        if ok:
            available.append(name)
        else:
            notes[name] = f"not measured: {reason}"
    info("measuring before / after" + (f" on {', '.join(available)}" if available else "") + " ...")
    report = compare_step(
        before, after, eval_data=eval_data, runtime=available[0] if available else None, threads=threads,
        iters=iters, eval_limit=eval_limit,
    )  # fmt: skip
    latencies: dict[str, Any] = dict(notes)
    if available:
        latencies[available[0]] = report["latency"]
    for name in available[1:]:
        latencies[name] = latency_ratio(before, after, name, threads=threads, iters=iters)
    report["latencies"] = latencies
    return report


def _print(data: dict[str, Any]) -> None:
    """The before/after table, the latency on further runtimes, then what was replaced and how close it started."""
    from rich.table import Table

    from edgepose.cli.output import stdout
    from edgepose.cli.step_table import print_step

    record = data["ghost"] or {}
    print_step(data, title=f"edgepose ghost (ratio {record.get('ratio')}, dw {record.get('dw_kernel')}): {data['output']}")
    first = (data.get("latency") or {}).get("runtime")
    for name, latency in data.get("latencies", {}).items():
        if name == first:
            continue
        if isinstance(latency, str):
            stdout.print(f"{name}: {latency}")
            continue
        lo, hi = latency["speedup_ci95"]
        stdout.print(f"p50 latency on {name} ({latency['threads'] or 'default'} threads): {latency['before_p50_ms']:.2f} -> "
                     f"{latency['after_p50_ms']:.2f} ms, {latency['speedup']:.2f}x faster [{lo:.2f}, {hi:.2f}]")  # fmt: skip
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
