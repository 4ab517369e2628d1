"""`edgepose predict MODEL SOURCE... --out DIR`: poses in images and videos, with the pipeline `eval` scores."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from edgepose.cli.common import ArchOpt, FactoryOpt, InputSizeOpt, JsonOpt, SchemaOpt, TrustOpt

SourcesArg = Annotated[Optional[list[str]], typer.Argument(help="images, folders, 'globs/*.jpg' or video files")]  # noqa: UP045
Opt = typer.Option


def predict_command(
    model: Annotated[str, typer.Argument(help="edgepose .pt checkpoint, .onnx, OpenVINO .xml or TensorRT .engine")],
    sources: SourcesArg = None,
    out: Annotated[str, Opt("--out", "-o", help="output folder: predictions.json, predictions.csv, overlay/")] = "predictions",
    camera: Annotated[Optional[int], Opt("--camera", help="also read camera N (cv2.VideoCapture; untested here)")] = None,  # noqa: UP045
    runtime: Annotated[Optional[str], Opt("--runtime", help="torch|onnxruntime|openvino|tensorrt (default: the model's own)")] = None,  # noqa: UP045
    threads: Annotated[Optional[int], Opt("--threads", min=1, help="runtime threads")] = None,  # noqa: UP045
    device: Annotated[Optional[str], Opt("--device", help="cpu or cuda")] = None,  # noqa: UP045
    boxes: Annotated[Optional[str], Opt("--boxes", help="person boxes: COCO detection results or annotations JSON")] = None,  # noqa: UP045
    detector: Annotated[Optional[str], Opt("--detector", help="a YOLO-pose model whose boxes feed a top-down MODEL")] = None,  # noqa: UP045
    min_box_score: Annotated[float, Opt("--min-box-score", help="boxes (detector or results file) below this are dropped")] = 0.3,
    conf: Annotated[Optional[float], Opt("--conf", help="YOLO-pose score threshold (default 0.25)")] = None,  # noqa: UP045
    iou: Annotated[Optional[float], Opt("--iou", help="YOLO-pose NMS IoU (default 0.7)")] = None,  # noqa: UP045
    decode: Annotated[str, Opt("--decode", help="heatmap refinement: dark|quarter|argmax")] = "dark",
    flip: Annotated[bool, Opt("--flip/--no-flip", help="flip test (top-down models)")] = False,
    smooth: Annotated[str, Opt("--smooth", help="one-euro|none: temporal smoothing along tracks")] = "one-euro",
    min_cutoff: Annotated[Optional[float], Opt("--min-cutoff", help="One-Euro minimum cutoff in Hz (default 5.0): "  # noqa: UP045
                                               "lower = smoother when still")] = None,
    beta: Annotated[Optional[float], Opt("--beta", help="One-Euro speed coefficient in 1/px (default 0.03): "  # noqa: UP045
                                         "higher = less lag when moving")] = None,
    image_fps: Annotated[float, Opt("--fps", help="frame rate of image sequences (tracking, smoothing)")] = 30.0,
    csv: Annotated[bool, Opt("--csv", help="also write predictions.csv, one row per keypoint")] = False,
    save_overlay: Annotated[bool, Opt("--save-overlay", help="draw skeletons, boxes, track ids, latency: images / mp4")] = False,
    no_track: Annotated[bool, Opt("--no-track", help="do not track people across video frames")] = False,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Find poses in images, folders, globs, videos or a camera; write COCO results, CSV and overlays.

    Example: edgepose predict model_int8.xml clip.mp4 --out out/ --csv --save-overlay

    Top-down models take person boxes from --boxes or --detector (else the whole frame is one person);
    YOLO-pose models find the people themselves. `edgepose eval --predictions out/predictions.json --data ANN.json`
    scores the results.
    """
    from pathlib import Path

    from edgepose.console import print_json
    from edgepose.deploy.config import ModelConfig
    from edgepose.deploy.model import PoseModel
    from edgepose.deploy.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF_HZ
    from edgepose.errors import UserError
    from edgepose.inference.engine import PredictOptions, run_predict
    from edgepose.inference.sources import expand_sources
    from edgepose.loading import LoadOptions, load_artifact
    from edgepose.runtimes import open_session

    opts = PredictOptions(Path(out), boxes=boxes, min_box_score=min_box_score, smooth=smooth,
                          min_cutoff=DEFAULT_MIN_CUTOFF_HZ if min_cutoff is None else min_cutoff,
                          beta=DEFAULT_BETA if beta is None else beta, csv=csv, overlay=save_overlay,
                          progress=not json_out)  # fmt: skip
    found = expand_sources(list(sources or []), camera, image_fps)
    if boxes and detector:
        raise UserError("give --boxes or --detector, not both")
    decoder: dict[str, Any] = {"refine": decode, "flip_test": flip, **({"conf": conf} if conf is not None else {}),
                               **({"iou": iou} if iou is not None else {})}  # fmt: skip
    artifact = load_artifact(model, LoadOptions(arch, model_factory, trust_checkpoint, input_size, schema))
    session = open_session(artifact, runtime=runtime, threads=threads, device=device)
    pose_model = PoseModel(session, ModelConfig.from_spec(artifact.spec, **decoder))
    detector_model = None
    if detector:
        from edgepose.inference.people import load_detector

        detector_model = load_detector(detector, threads, device, decoder.get("conf"), decoder.get("iou"))
    tracker = None
    if not no_track and any(s.is_stream for s in found):
        from edgepose.inference.tracking import PoseTracker

        tracker = PoseTracker(fps=next(s.fps for s in found if s.is_stream))
    opts.describe = {"model": str(model), "runtime": getattr(session, "runtime", runtime), "detector": detector,
                     "precision": getattr(session, "precision", None), "input_size": list(artifact.spec.input_size)}
    summary = run_predict(pose_model, found, opts, detector_model, tracker)
    if json_out:
        print_json(summary)
    else:
        print_summary(summary)


def print_summary(summary: dict[str, Any]) -> None:
    """Frames, people, where the boxes came from, per-stage p50/p90 ms, FPS, jitter, the files written."""
    from rich.table import Table

    from edgepose.console import stdout

    timing = summary["timing"]
    table = Table(title=f"edgepose predict: {summary['model']} ({summary['runtime']}, {summary['head']})")
    for column in ("stage", "p50 ms", "p90 ms", "mean ms"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage, values in timing["per_stage_ms"].items():
        table.add_row(stage, f"{values['p50']:.2f}", f"{values['p90']:.2f}", f"{values['mean']:.2f}")
    if timing["frame_ms"]:
        frame = timing["frame_ms"]
        table.add_row("[bold]frame[/bold]", f"{frame['p50']:.2f}", f"{frame['p90']:.2f}", f"{frame['mean']:.2f}")
    ratio = timing.get("pre_post_over_inference")
    jitter = summary["jitter"]
    lines = [
        f"{summary['frames']} frames, {summary['people']} people; boxes {summary['boxes']}",
        f"end to end {timing['fps']} FPS; (preprocess + postprocess) / inference = "
        + ("n/a" if ratio is None else f"{100 * ratio:.1f}%") + " (medians)",
        f"tracking: {summary['tracking'] or 'off'} ({summary['n_tracks']} tracks); smoothing: {summary['smoothing']['method']}",
        "jitter (accel / box diagonal): raw " + _num(jitter["raw"]["overall"])
        + (f", smoothed {_num(jitter['smoothed']['overall'])}" if jitter["smoothed"] else "")
        + (f" ({100 * jitter['reduction']:.0f}% lower)" if jitter["reduction"] is not None else ""),
        f"wrote {summary['outputs']['predictions']}"
        + (f", {summary['outputs']['csv']}" if summary["outputs"]["csv"] else "")
        + (f", {len(summary['outputs']['overlay'])} overlay file(s)" if summary["outputs"]["overlay"] else ""),
    ]  # fmt: skip
    if summary.get("interrupted"):
        lines.append("interrupted: the files hold the frames done")
    stdout.print(table)
    for line in lines:
        stdout.print(line, highlight=False)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.5f}"
