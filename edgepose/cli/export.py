"""`edgepose export MODEL --format onnx|openvino|tensorrt -o OUT`: export, then verify parity."""

from __future__ import annotations

import math
from typing import Annotated, Optional

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

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="onnx | openvino | tensorrt")]
BundleOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--bundle", help="write a device bundle into this folder: the model, edgepose-bundle.json, README.md "
                 "(run it with python -m edgepose.deploy.run DIR IMAGE); onnx and openvino"),
]  # fmt: skip
OutOpt = Annotated[str, typer.Option("--output", "-o", help="output file: .onnx, .xml (+ .bin) or .engine")]
PrecisionOpt = Annotated[
    str, typer.Option("--precision", help="fp32 | fp16 | int8 (int8 only from a Q/DQ ONNX made by `edgepose quantize`)")
]
TolOpt = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option(
        "--tolerance",
        help="parity gate: fp32 max abs error / max(1, max |reference|) (default 1e-4); fp16 max error relative "
        "to the reference output range (default 2e-2); int8 mean keypoint displacement / input diagonal "
        "(default 1e-2). Above it: exit 1",
    ),
]


def export_command(
    model: OptionalModelArg = None,
    fmt: FormatOpt = "onnx",
    output: OutOpt = "",
    bundle: BundleOpt = None,
    precision: PrecisionOpt = "fp32",
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch", help="dynamic batch axis (TensorRT: profile 1..max)")] = False,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset")] = 17,
    no_simplify: Annotated[bool, typer.Option("--no-simplify", help="skip the onnxslim graph simplification")] = False,
    verify_data: Annotated[
        Optional[str], typer.Option("--verify-data", help="COCO keypoints JSON: also verify on real images")  # noqa: UP045
    ] = None,
    verify_samples: Annotated[int, typer.Option("--verify-samples", help="random inputs (and max real images) to verify on")] = 8,
    tolerance: TolOpt = None,
    max_batch: Annotated[int, typer.Option("--max-batch", help="TensorRT dynamic-batch profile: max batch")] = 8,
    opt_batch: Annotated[int, typer.Option("--opt-batch", help="TensorRT dynamic-batch profile: optimal batch")] = 1,
    timing_cache: Annotated[
        Optional[str], typer.Option("--timing-cache", help="TensorRT timing cache file, reused and updated")  # noqa: UP045
    ] = None,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Export MODEL to ONNX, OpenVINO IR or a TensorRT engine, then check it computes what the source does.

    Example: edgepose export model.pt --format onnx -o model.onnx --dynamic-batch   |   edgepose export model.pt
    --format openvino --bundle device/
    """
    from edgepose.bench.parity import check_source_finite, dataset_images, verify_export
    from edgepose.console import info, print_json
    from edgepose.errors import UserError
    from edgepose.export.bundle import BUNDLE_FORMATS
    from edgepose.export.convert import INT8_HINT, export_model, source_precision
    from edgepose.formats import (
        EXPORT_FORMATS,
        EXPORT_PRECISIONS,
        PRECISIONS,
        check_choice,
        check_output_suffix,
        file_name,
    )
    from edgepose.paths import check_output

    if bundle is not None:
        if fmt not in BUNDLE_FORMATS:
            raise UserError(f"--bundle holds an ONNX or OpenVINO model, not {fmt}")
        if output:
            raise UserError("--bundle DIR writes DIR/model.onnx (or model.xml): leave out -o")
        from pathlib import Path

        output = str(Path(bundle) / file_name(fmt))
    if not output:
        raise UserError("give the output file with -o OUT (e.g. -o model.onnx) or a bundle folder with --bundle DIR")
    if verify_samples < 0:
        raise UserError(f"--verify-samples must be >= 0, got {verify_samples}")
    # bad input is refused before any progress line, so stderr holds the one error line (DESIGN.md)
    check_choice("export format", fmt, EXPORT_FORMATS)
    check_choice("precision", precision, PRECISIONS)
    check_choice(f"{fmt} precision", precision, EXPORT_PRECISIONS[fmt])
    check_output_suffix(fmt, output)
    check_output(output, [model, verify_data, timing_cache])
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UserError(f"--opset must be from {MIN_OPSET} to {MAX_OPSET}, got {opset}")
    if max_batch < 1 or not 1 <= opt_batch <= max_batch:
        raise UserError(f"need 1 <= --opt-batch ({opt_batch}) <= --max-batch ({max_batch})")
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= 0):
        raise UserError(f"--tolerance must be a finite number >= 0, got {tolerance}")
    artifact = load_model_arg(model, arch, model_factory, trust_checkpoint, input_size, schema)
    if precision == "int8" and source_precision(artifact) != "int8":
        raise UserError(INT8_HINT)
    # everything that can be refused is checked before the first progress line (exit 2 = one line on stderr)
    images = dataset_images(verify_data, artifact.spec, verify_samples) if verify_data else None
    if verify_samples == 0 and images is None:
        raise UserError("--verify-samples 0 without --verify-data leaves nothing to verify the export on")
    check_source_finite(artifact)
    info(f"exporting {artifact.path or artifact.arch} to {fmt} ({precision}) ...")
    result = export_model(
        artifact, fmt, output, precision=precision, dynamic_batch=dynamic_batch, opset=opset,
        simplify=not no_simplify, opt_batch=opt_batch, max_batch=max_batch, timing_cache=timing_cache,
    )  # fmt: skip
    info(f"verifying {result.path} against the source on {verify_samples} random inputs"
         + (f" and {len(images)} images" if images is not None else "") + " ...")  # fmt: skip
    report = verify_export(artifact, result.path, precision, n_random=verify_samples, images=images, tolerance=tolerance)
    data = {**result.to_dict(), "parity": report.to_dict(), "verdict": "pass" if report.passed else "fail"}
    if bundle is not None and report.passed:  # a model that fails its parity check is not packed for a device
        from edgepose.export.bundle import write_model_bundle

        data["bundle"] = str(write_model_bundle(result.path, source=artifact.path))
    if json_out:
        print_json(data)
    else:
        _print_table(data)
    report.check()


# 13: per-channel Q/DQ (edgepose quantize, recipes' export.opset >= 13); 20: the newest torch's TorchScript
# exporter (torch.onnx.export(dynamo=False), which edgepose uses) writes
MIN_OPSET, MAX_OPSET = 13, 20


def _print_table(data: dict) -> None:
    from rich.table import Table

    from edgepose.console import stdout

    parity = data["parity"]
    table = Table(title=f"edgepose export: {data['output']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    kpt = parity["mean_kpt_px"]
    rows = [
        ("format / precision", f"{data['format']} / {data['precision']}"),
        ("size", f"{data['size_mb']:.2f} MB"),
        ("verified on", f"{parity['n_random']} random inputs + {parity['n_images']} images"),
        ("max abs error", f"{parity['max_abs_err']:.3g}"),
        ("max error / output range", f"{parity['max_rel_err']:.3g}"),
        ("mean keypoint displacement", "-" if kpt is None else f"{kpt:.3f} px (max {parity['max_kpt_px']:.3f})"),
        ("gate", f"{parity['metric']} error <= {parity['tolerance']:g}: {data['verdict'].upper()}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    stdout.print(table)
