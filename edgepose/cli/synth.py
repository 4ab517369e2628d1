"""`edgepose synth OUT_DIR`: procedural people as a COCO-keypoints JSON plus JPEGs (edgepose.data.synth)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgepose.cli.common import JsonOpt

DIFFICULTY_NAMES = ("easy", "normal", "hard")


def synth_command(
    out_dir: Annotated[str, typer.Argument(help="output folder: annotations.json + images/")],
    persons: Annotated[int, typer.Option("--persons", "-n", min=1, max=10_000_000, help="annotated people (person-frames with --sequences)")] = 100,
    multi: Annotated[bool, typer.Option("--multi", help="2-6 people per image (384x384 by default)")] = False,
    sequences: Annotated[bool, typer.Option("--sequences", help="smooth clips with video_id/frame_id/track_id")] = False,
    frames: Annotated[int, typer.Option("--frames", min=1, max=10_000, help="frames per clip with --sequences")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="random seed; same seed + options = identical files")] = 0,
    image_size: Annotated[Optional[str], typer.Option("--image-size", help="HxW (default 192x192, 384x384 with --multi)")] = None,  # noqa: UP045
    difficulty: Annotated[str, typer.Option("--difficulty", help="easy|normal|hard: clutter, occluders, blur, noise")] = "normal",
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing OUT_DIR/annotations.json")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="processes rendering images (same output for any number)")] = 1,
    json_out: JsonOpt = False,
) -> None:
    """Generate synthetic people (COCO-17 keypoints with occlusion flags) for training and tests.

    Example: edgepose synth data/synth-train --persons 10000 --seed 1 --workers 4   |   edgepose synth clips --sequences
    """
    import time

    from edgepose.console import print_json, progress, stdout
    from edgepose.data.synth import SynthConfig, generate

    cfg = SynthConfig(persons=persons, multi=multi, sequences=sequences, frames=frames, seed=seed,
                      image_size=_parse_size(image_size), difficulty=difficulty)  # fmt: skip
    _check(cfg, Path(out_dir), force, workers)
    start = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("synth", total=persons, status="people")
        summary = generate(out_dir, cfg, on_frame=lambda n: bar.advance(task, n), workers=workers)
    seconds = time.perf_counter() - start
    summary.update(seconds=round(seconds, 2), images_per_s=round(summary["n_images"] / max(seconds, 1e-9), 1),
                   difficulty=difficulty, multi=multi, sequences=sequences, workers=workers)  # fmt: skip
    if json_out:
        print_json(summary)
        return
    videos = f" in {summary['n_videos']} clips" if sequences else ""
    stdout.print(
        f"wrote [bold]{summary['annotations']}[/]: {summary['n_persons']} people, {summary['n_images']} images{videos} "
        f"({summary['image_size'][0]}x{summary['image_size'][1]}, {summary['images_per_s']} images/s)"
    )


def _parse_size(text: str | None) -> tuple[int, int] | None:
    from edgepose.errors import UserError

    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        h, w = (int(parts[0]), int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    except (ValueError, IndexError):
        raise UserError(f"--image-size '{text}' is not HxW (e.g. 192x192) or a single number") from None
    if len(parts) > 2 or not (32 <= h <= 4096 and 32 <= w <= 4096):
        raise UserError(f"--image-size '{text}' must be HxW with both sides between 32 and 4096 pixels")
    return h, w


def _check(cfg, out: Path, force: bool, workers: int) -> None:  # noqa: ANN001  (SynthConfig; imported lazily)
    """UserError (exit 2) for options or an output folder that cannot work."""
    from edgepose.errors import UserError

    if cfg.persons < 1:
        raise UserError(f"--persons must be at least 1, got {cfg.persons}")
    if cfg.sequences and cfg.frames < 1:
        raise UserError(f"--frames must be at least 1, got {cfg.frames}")
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if cfg.seed < 0:
        raise UserError(f"--seed must be >= 0, got {cfg.seed}")
    if cfg.difficulty not in DIFFICULTY_NAMES:
        raise UserError(f"--difficulty '{cfg.difficulty}' is not one of {', '.join(DIFFICULTY_NAMES)}")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    if (out / "annotations.json").exists() and not force:
        raise UserError(f"{out / 'annotations.json'} already exists; pass --force to overwrite it")
