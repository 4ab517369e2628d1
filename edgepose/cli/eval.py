"""`edgepose eval MODEL --data ANN.json`: accuracy on one COCO-keypoints file through any runtime."""

from __future__ import annotations

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
)

DataOpt = Annotated[str, typer.Option("--data", help="COCO-keypoints annotations JSON to evaluate on")]
ImageRootOpt = Annotated[
    Optional[str], typer.Option("--image-root", help="image folder (default: beside the JSON or its images/)")  # noqa: UP045
]
RuntimeOpt = Annotated[
    Optional[str], typer.Option("--runtime", help="torch|onnxruntime|openvino|tensorrt (default: the model's own)")  # noqa: UP045
]
FlipOpt = Annotated[bool, typer.Option("--flip/--no-flip", help="flip test: average with the mirrored input")]
BatchOpt = Annotated[int, typer.Option("--batch", min=1, help="images per session call")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=0, help="data-loading worker processes")]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", min=1, help="evaluate only the first N people")]  # noqa: UP045
DecodeOpt = Annotated[str, typer.Option("--decode", help="heatmap sub-pixel refinement: dark|quarter|argmax")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", min=1, help="runtime threads")]  # noqa: UP045
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="cpu or cuda (runtimes that can use a GPU)")]  # noqa: UP045
PredictionsOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--predictions", help="score a COCO keypoint-results JSON (or an annotations file) instead of a model"),
]
PrecisionOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--precision", help="runtime precision: fp16 (torch on CUDA), bf16 (torch CPU autocast, openvino "
                 "hint; CPUs with native bf16); default: the model's own"),
]
AllowOutsideOpt = Annotated[
    bool,
    typer.Option("--allow-outside-images", help="accept image paths that lead out of the image folder (absolute or ../)"),
]
SmoothOpt = Annotated[
    str, typer.Option("--smooth", help="none|one-euro: One-Euro filter along each track before scoring (clip data)")
]
MinCutoffOpt = Annotated[float, typer.Option("--min-cutoff", help="One-Euro cutoff at rest, Hz (less = smoother, more lag)")]
BetaOpt = Annotated[float, typer.Option("--beta", help="One-Euro speed coefficient, per box diagonal/s (more = less lag)")]
DCutoffOpt = Annotated[float, typer.Option("--d-cutoff", help="One-Euro cutoff of the speed estimate, Hz")]
FpsOpt = Annotated[float, typer.Option("--fps", help="frame rate of the clips for --smooth (frames carry no timestamps)")]
OutOpt = Annotated[Optional[str], typer.Option("--out", "-o", help="also write the JSON result to this file")]  # noqa: UP045
SavePredictionsOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--save-predictions", help="also write the predictions as a COCO keypoint-results JSON "
                 "(the file `edgepose predict` writes; `eval --predictions` re-scores it)"),
]  # fmt: skip

OVERALL = (
    ("OKS AP", "oks_ap"), ("OKS AP50", "oks_ap50"), ("OKS AP75", "oks_ap75"), ("OKS AR", "oks_ar"),
    ("PCK@0.1 (torso)", "pck@0.1"), ("PCK@0.2 (torso)", "pck@0.2"), ("PCKh@0.5", "pckh@0.5"),
    ("MPJPE (px)", "mpjpe_px"), ("F1 visible joints", "f1_visible"),
)  # fmt: skip
TEMPORAL = (("jitter (accel / box diag)", "jitter"), ("accel error (/ box diag)", "accel_error"),
            ("ground-truth jitter", "gt_jitter"))  # fmt: skip


def eval_command(
    model: OptionalModelArg = None,
    data: DataOpt = ...,
    image_root: ImageRootOpt = None,
    runtime: RuntimeOpt = None,
    flip: FlipOpt = False,
    batch: BatchOpt = 32,
    workers: WorkersOpt = 0,
    limit: LimitOpt = None,
    decode: DecodeOpt = "dark",
    threads: ThreadsOpt = None,
    device: DeviceOpt = None,
    out: OutOpt = None,
    predictions: PredictionsOpt = None,
    precision: PrecisionOpt = None,
    save_predictions: SavePredictionsOpt = None,
    allow_outside_images: AllowOutsideOpt = False,
    smooth: SmoothOpt = "none",
    min_cutoff: MinCutoffOpt = 1.0,
    beta: BetaOpt = 0.0,
    d_cutoff: DCutoffOpt = 1.0,
    fps: FpsOpt = 30.0,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Score MODEL on a COCO-keypoints file: OKS AP (pycocotools), PCK, PCKh, MPJPE, per-joint PCK.

    Example: edgepose eval checkpoints/demo.pt --data data/synth/val.json --flip --json

    With --predictions and no MODEL it scores keypoints from a file with the same metric code (the
    annotations file itself scores OKS AP 1.0: edgepose eval --predictions val.json --data val.json).
    --save-predictions p.json keeps the model's keypoints; `eval --predictions p.json` gives the same metrics.
    On clip data (video_id / frame_id / track_id) it also reports jitter and acceleration error per
    track (metrics.temporal); --smooth one-euro filters each track first, e.g.
    edgepose eval frame.pt --data clips.json --smooth one-euro --min-cutoff 1 --beta 0.5
    """
    import contextlib
    import sys

    from edgepose.deploy.decode import REFINE_METHODS
    from edgepose.errors import UserError
    from edgepose.evaluate import evaluate
    from edgepose.paths import check_output
    from edgepose.runtimes import open_session

    if decode not in REFINE_METHODS:
        raise UserError(f"--decode must be one of {', '.join(REFINE_METHODS)}, got '{decode}'")
    smoothing = _smoothing(smooth, min_cutoff, beta, d_cutoff, fps)
    if out:
        check_output(out, [model, data, predictions], option="--out")
    if predictions is not None:
        if model is not None or model_factory is not None:
            raise UserError("give either MODEL or --predictions, not both")
        if save_predictions is not None:
            raise UserError("--save-predictions writes a model's predictions; with --predictions there is no model")
        if smoothing is not None:
            raise UserError("--smooth applies to a MODEL's predictions, not to --predictions")
        from edgepose.metrics.predictions_file import evaluate_predictions_file

        _emit(evaluate_predictions_file(predictions, data), out, json_out)
        return
    artifact = load_model_arg(model, arch, model_factory, trust_checkpoint, input_size, schema)
    session = open_session(artifact, runtime=runtime, threads=threads, device=device, precision=precision)
    name = str(artifact.path) if artifact.path else f"factory {artifact.arch_kwargs.get('ref', '')}"
    with contextlib.redirect_stdout(sys.stderr):  # nothing a library prints may reach --json stdout
        result = evaluate(
            session, artifact.spec, data, batch_size=batch, flip=flip, workers=workers, progress=not json_out,
            limit=limit, image_root=image_root, refine=decode, model_name=name, runtime_name=runtime,
            save_predictions=save_predictions,
            allow_outside_images=allow_outside_images,
            smooth=smoothing,
        )  # fmt: skip
    _emit(result, out, json_out)


def _smoothing(method: str, min_cutoff: float, beta: float, d_cutoff: float, fps: float) -> Any:
    """OneEuroParams for --smooth one-euro, None for none; UserError for anything else."""
    from edgepose.deploy.smoothing import SMOOTH_METHODS, OneEuroParams
    from edgepose.errors import UserError

    if method not in SMOOTH_METHODS:
        raise UserError(f"--smooth must be one of {', '.join(SMOOTH_METHODS)}, got '{method}'")
    if method == "none":
        return None
    try:
        return OneEuroParams(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff, fps=fps)
    except ValueError:
        raise UserError(
            f"--min-cutoff {min_cutoff}, --d-cutoff {d_cutoff} and --fps {fps} must be > 0 and --beta {beta} >= 0"
        ) from None


def _emit(result: dict[str, Any], out: str | None, json_out: bool) -> None:
    from edgepose.console import info, print_json
    from edgepose.data.coco_checks import describe_drops

    dropped = describe_drops(result.get("dropped") or {})
    if dropped:
        info(f"warning: {dropped} (counted in the JSON under 'dropped')")
    if out:
        from edgepose.fileio import write_json

        write_json(out, result)
    if json_out:
        print_json(result)
    else:
        print_tables(result)


def print_tables(result: dict[str, Any]) -> None:
    """The overall metric table, then per-keypoint PCK@0.2 (and PCK@0.1, PCKh@0.5, error)."""
    from pathlib import Path

    from rich.table import Table

    from edgepose.console import stdout

    metrics = result["metrics"]
    model = str(result["model"])
    overall = Table(title=f"edgepose eval: {Path(model).name if Path(model).exists() else model}")
    overall.add_column("metric", style="bold")
    overall.add_column("value", justify="right")
    for label, key in OVERALL:
        overall.add_row(label, _fmt(metrics.get(key), digits=2 if key == "mpjpe_px" else 4))
    temporal = metrics.get("temporal")
    if temporal:
        for label, key in TEMPORAL:
            overall.add_row(label, _fmt(temporal.get(key), digits=5))
    overall.caption = (
        f"{result['n_instances']} people in {result['n_images']} images, {result.get('schema')}; "
        f"runtime {result['runtime']}, flip {'on' if result.get('flip') else 'off'}, "
        f"decode {result.get('decode')}, {result.get('seconds')} s"
    )
    if temporal:
        smooth = result.get("smooth") or {}
        overall.caption += (
            f"; temporal metrics over {temporal['n_tracks']} tracks in {temporal['units']}, smoothing "
            + (f"one-euro (min_cutoff {smooth['min_cutoff']}, beta {smooth['beta']})" if smooth.get("method") == "one-euro" else "none")
        )
    stdout.print(overall)
    per = Table(title="per keypoint")
    has_head = any("pckh@0.5" in v for v in metrics["per_keypoint"].values())
    per_temporal = temporal["per_keypoint"] if temporal else None
    columns = ["keypoint", "PCK@0.2", "PCK@0.1", *(["PCKh@0.5"] if has_head else []), "MPJPE (px)", "labelled",
               *(["jitter", "accel err"] if per_temporal else [])]  # fmt: skip
    for i, column in enumerate(columns):
        per.add_column(column, style="bold" if i == 0 else None, justify="left" if i == 0 else "right")
    for name, values in metrics["per_keypoint"].items():
        row = [name, _fmt(values["pck@0.2"]), _fmt(values["pck@0.1"])]
        if has_head:
            row.append(_fmt(values.get("pckh@0.5")))
        row += [_fmt(values["mpjpe_px"], digits=2), str(values["n_labelled"])]
        if per_temporal:
            row += [_fmt(per_temporal[name]["jitter"], 5), _fmt(per_temporal[name]["accel_error"], 5)]
        per.add_row(*row)
    stdout.print(per)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
