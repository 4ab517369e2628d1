"""`edgepose quantize MODEL --calib ANN.json -o OUT`: INT8 by PTQ or QAT, with a report against FP32."""

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
    OptionalModelArg,
    SchemaOpt,
    TrustOpt,
    detector_arg,
    load_model_arg,
    start_distributed,
)  # fmt: skip

Opt = Optional  # noqa: UP045  (Typer reads Optional[...] annotations)


def quantize_command(
    model: OptionalModelArg = None,
    calib: Annotated[str, typer.Option("--calib", help=f"images that calibrate the ranges (labels unused): {SOURCE_HELP}")] = "",
    detector: DetectorOpt = None,
    parity_gate: Annotated[bool, typer.Option("--parity-gate", help="exit 1 when the INT8 keypoints move more than "
                                              "the INT8 parity tolerance from FP32's (always measured and reported)")] = False,  # fmt: skip
    output: Annotated[str, typer.Option("-o", "--output", help="output: .onnx (onnxruntime, tensorrt) or .xml (openvino)")] = "",
    mode: Annotated[str, typer.Option("--mode", help="ptq | qat")] = "ptq",
    backend: Annotated[str, typer.Option("--backend", help="onnxruntime | openvino | tensorrt")] = "onnxruntime",
    method: Annotated[str, typer.Option("--method", help="calibration: minmax | entropy | percentile")] = "minmax",
    calib_images: Annotated[int, typer.Option("--calib-images", min=1, help="calibration images")] = 128,
    include: Annotated[Opt[list[str]], typer.Option("--include", help="quantize only matching layers (wildcards)")] = None,
    exclude: Annotated[Opt[list[str]], typer.Option("--exclude", help="keep matching layers float (wildcards)")] = None,
    quantize_output: Annotated[bool, typer.Option("--quantize-output", help="also quantize the output layers "
                                                  "(kept float by default)")] = False,  # fmt: skip
    analyze: Annotated[bool, typer.Option("--analyze", help="per-layer sensitivity: each layer quantized alone")] = False,
    max_drop: Annotated[Opt[float], typer.Option("--max-drop", help="accuracy budget in metric points: keep the "
                                                 "most sensitive layers float until within it (exit 1 if not)")] = None,  # fmt: skip
    eval_data: Annotated[Opt[str], typer.Option("--eval", help="COCO keypoints JSON to score on (report, --analyze, --max-drop)")] = None,
    eval_limit: Annotated[int, typer.Option("--eval-limit", min=1, help="people scored per analysis/search step")] = 300,
    finetune_data: Annotated[Opt[str], typer.Option("--finetune-data", help="QAT training data: labelled COCO keypoints "
                                             f"in the model's schema, or images (distilled from FP32): {SOURCE_HELP}")] = None,  # fmt: skip
    epochs: Annotated[int, typer.Option("--epochs", min=0, help="QAT epochs")] = 2,
    lr: Annotated[float, typer.Option("--lr", help="QAT peak learning rate")] = 1e-4,
    distill: Annotated[float, typer.Option("--distill", min=0.0, max=1.0, help="QAT: FP32 teacher share of the target")] = 0.5,
    max_steps: Annotated[Opt[int], typer.Option("--max-steps", min=1, help="QAT: training steps per epoch at most")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help=f"QAT batch size, {GLOBAL_BATCH_HELP}")] = 32,
    dist_backend: DistBackendOpt = "auto",
    subpixel: Annotated[Opt[bool], typer.Option("--subpixel/--no-subpixel", help="rewrite strided deconvs as conv + pixel "
                                                "shuffle first (exact; default: on for onnxruntime and openvino)")] = None,  # fmt: skip
    threads: Annotated[Opt[int], typer.Option("--threads", min=1, help="CPU threads for calibration, scoring and timing")] = None,
    iters: Annotated[int, typer.Option("--iters", min=2, help="interleaved timing iterations FP32 vs INT8")] = 60,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Quantize MODEL to INT8 and report accuracy, speed and size against FP32 on the same runtime.

    Example: edgepose quantize lsp.pt --calib lspet_train.json --eval lspet_val.json -o lsp_int8.xml --backend openvino --max-drop 1.0

    QAT on N processes: python -m torch.distributed.run --nproc_per_node N -m edgepose quantize ... --mode qat
    (the training is data-parallel; rank 0 exports, evaluates and times; PTQ runs on rank 0 alone).
    """
    from edgepose.errors import GateFailed, UserError
    from edgepose.formats import QUANTIZE_BACKENDS, check_choice, check_output_suffix
    from edgepose.passes.to_file import quantize_to_file
    from edgepose.paths import check_output, require_inputs

    start_distributed(dist_backend)
    if not calib:
        raise UserError("give calibration images with --calib (a folder, a glob, a video, or a COCO-style JSON)")
    if not output:
        raise UserError("give the output file with -o OUT (.onnx, or .xml for --backend openvino)")
    check_choice("backend", backend, tuple(QUANTIZE_BACKENDS))
    check_output_suffix(QUANTIZE_BACKENDS[backend].format, output, what=f"--backend {backend}")
    check_output(output, [model, calib, eval_data, finetune_data])
    require_inputs({"--calib": calib, "--eval": eval_data, "--finetune-data": finetune_data})
    if (analyze or max_drop is not None) and not eval_data:
        raise UserError("--analyze and --max-drop score the model: give the evaluation data with --eval ANN.json")
    if mode == "qat" and not finetune_data:
        raise UserError("--mode qat fine-tunes: give the training data with --finetune-data ANN.json")
    options = {
        "mode": mode, "backend": backend, "method": method, "calib_images": calib_images, "include": include or ["*"],
        "exclude": exclude or [], "keep_output_float": not quantize_output, "analyze": analyze, "max_drop": max_drop,
        "eval_limit": eval_limit, "finetune": {"epochs": epochs, "lr": lr, "distill": distill, "max_steps_per_epoch": max_steps,
                                          "batch_size": batch_size},
    }  # fmt: skip
    artifact = load_model_arg(model, arch, model_factory, trust_checkpoint, input_size, schema)
    rewrite = QUANTIZE_BACKENDS[backend].subpixel_default if subpixel is None else subpixel
    try:
        data = quantize_to_file(artifact, options, calib, output, eval_data=eval_data, finetune_data=finetune_data,
                                threads=threads, iters=iters, subpixel=rewrite, progress=not json_out,
                                detector=detector_arg(detector, threads), parity_gate=parity_gate)  # fmt: skip
    except GateFailed as failed:  # the budget was not met: still show what was measured, then exit 1
        if failed.report is not None:
            _show(failed.report, json_out)
        raise
    _show(data, json_out)


def _show(data: dict, json_out: bool) -> None:
    from edgepose.console import print_json

    if json_out:
        print_json(data)
    else:
        _print(data)


def _print(data: dict) -> None:
    from rich.table import Table

    from edgepose.cli.step_table import print_step
    from edgepose.console import stdout

    record = data["quantize"]
    print_step(data, f"edgepose quantize: {data['output']}")
    stdout.print(f"INT8 layers: {len(record['int8_layers'])} of {record['layers_total']}; float: "
                 + (", ".join(record["float_layers"]) or "none"))  # fmt: skip
    analysis = record.get("analysis")
    if analysis:
        table = Table(title=f"per-layer sensitivity (each layer INT8 alone, {analysis['runtime']})")
        for column in ("layer", "op", "metric", "change (points)"):
            table.add_column(column, justify="left" if column in ("layer", "op") else "right")
        for row in analysis["rows"]:
            table.add_row(row["layer"], row["op"], f"{row['metric']:.4f}", f"{row['change_points']:+.2f}")
        stdout.print(table)
    budget = record.get("budget")
    if budget:
        verdict = "within budget" if budget["within_budget"] else "NOT within budget"
        stdout.print(f"budget {budget['max_drop_points']} points: drop {budget['drop_points']:.2f} ({verdict}); "
                     f"kept float by the search: {', '.join(budget['kept_float']) or 'none'}")  # fmt: skip
    parity = data.get("parity")
    if parity:
        stdout.print(parity_line(parity))


def parity_line(parity: dict[str, Any]) -> str:
    """One line on the FP32 vs INT8 parity check: what was compared, the error, the tolerance, the verdict."""
    verdict = "pass" if parity["passed"] else "FAIL"
    where = f"parity FP32 vs INT8 on {parity['n_images']} images of {parity['data']}"
    if parity["metric"] != "kpt" or parity["mean_kpt_px"] is None:
        return f"{where}: {parity['metric']} error {parity['checked_value']:.4g} (tolerance {parity['tolerance']:g}): {verdict}"
    judged, total = parity.get("n_judged", 0), parity.get("n_keypoints", 0)
    counted = f" over the {judged} of {total} keypoints the FP32 model sees" if 0 < judged < total else ""
    return (f"{where}: mean keypoint displacement {parity['mean_kpt_px']:.2f} px{counted} = "
            f"{parity['checked_value']:.4f} of the input diagonal (tolerance {parity['tolerance']:g}): {verdict}")  # fmt: skip
