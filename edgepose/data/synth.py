"""`edgepose synth`: procedural people written as a COCO-keypoints JSON plus JPEGs.

Articulated COCO-17 bodies (synth_body, synth_pose) in varied clothes (synth_look), drawn far to near
with a face, hair and depth shading so left and right can be told apart (synth_render, synth_head),
over clutter with look-alike distractors, under occluders and camera degradations (synth_scene).
Same seed + arguments -> byte-identical output: image i (or clip i) draws from its own
SeedSequence(seed, spawn_key=(i,)), whatever comes before it.

Choices the issue left open:
- Images are 192x192 with one person (standing height 60-100% of the image, less when the pose
  must fit, 30-55% for the "small person" share): a 128x96 or 256x192 top-down crop then sees the
  person near native resolution, and a square leaves room for lying or rotated bodies. --multi
  gives 384x384 with 2-6 people at 22-70% of the height, smaller ones drawn behind.
- v=1 marks a joint under an occluder, another person or a nearer body part, and also a face point
  on the far side of the head (the nose of a person seen from behind); v=0 only outside the image.
- bbox and area describe the visible pixels of the person (as COCO's segmentation-based ones do),
  so a joint hidden behind an occluder may lie outside its box.
- With --sequences, `persons` counts person-frames; the last clip is cut short to hit it exactly.
- Each annotation carries a `synth` record (facing front|back|profile, pose family, yaw_deg) that
  COCO readers ignore.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.data.synth_frame import (
    extent,
    make_figure,
    place_multi,
    place_single,
    posed,
    render_frame,
    sample_actor,
)
from edgepose.data.synth_look import sample_look
from edgepose.data.synth_pose import sample_family, sample_pose
from edgepose.data.synth_scene import DIFFICULTIES, Difficulty, background, occluder, sample_camera
from edgepose.schemas import COCO17

GENERATOR_VERSION = "1.0"
SINGLE_SIZE = (192, 192)
MULTI_SIZE = (384, 384)
MAX_PEOPLE = 6


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. `persons` counts annotated people (person-frames with `sequences`)."""

    persons: int = 100
    multi: bool = False
    sequences: bool = False
    frames: int = 8
    seed: int = 0
    image_size: tuple[int, int] | None = None  # (H, W); None = 192x192 single, 384x384 multi
    difficulty: str = "normal"

    @property
    def size(self) -> tuple[int, int]:
        return self.image_size or (MULTI_SIZE if self.multi else SINGLE_SIZE)


@dataclass
class Frame:
    """One generated image: JPEG bytes, person records, and video fields in sequence mode."""

    jpeg: bytes
    records: list[dict[str, Any]]
    video_id: int | None = None
    frame_id: int | None = None
    track_ids: list[int] | None = None


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """The generator of image (or video, frame) `key`: independent of every other image's draws."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def people_per_image(rng: np.random.Generator, remaining: int, multi: bool) -> int:
    """1 in single mode; 2-6 with --multi, never leaving a lone person for the last image if avoidable."""
    if not multi or remaining <= 1:
        return 1
    k = int(rng.integers(2, MAX_PEOPLE + 1))
    if remaining - k == 1:
        k = k + 1 if k < MAX_PEOPLE else k - 1
    return min(k, remaining)


def still_image(seed: int, index: int, remaining: int, cfg: SynthConfig, diff: Difficulty) -> Frame:
    """Image `index` (0-based): its people, background, occluders and camera effects."""
    rng = rng_for(seed, index)
    count = people_per_image(rng, remaining, cfg.multi)
    low_contrast = rng.random() < diff.low_contrast_p
    near_color = None
    actors, poses = [], []
    for j in range(count):
        family = sample_family(rng)
        look = sample_look(rng)
        if j == 0 and low_contrast:
            near_color = look.top.a
        actor = sample_actor(rng, look, family)
        angles = sample_pose(rng, family)
        actors.append(actor)
        poses.append((angles, *posed(actor, angles)))
    boxes = [extent(a, p[1]) for a, p in zip(actors, poses, strict=True)]
    if cfg.multi:
        placements = place_multi(rng, boxes, cfg.size)
    else:
        placements = [place_single(rng, boxes[0], cfg.size, diff)]
    figures = [make_figure(a, xy, z, facing, unit, pelvis, angles)
               for a, (angles, xy, z, facing), (unit, pelvis) in zip(actors, poses, placements, strict=True)]  # fmt: skip
    unit_typ = float(np.median([u for u, _ in placements]))
    bg = background(rng, *cfg.size, unit_typ, diff, near_color)
    occluders = []
    for box, (unit, pelvis) in zip(boxes, placements, strict=True):
        if rng.random() < diff.occluder_p * (0.6 if cfg.multi else 1.0):
            for _ in range(1 if rng.random() < 0.7 else 2):
                occluders.append(occluder(rng, box * unit + np.tile(pelvis, 2)))
    jpeg, records = render_frame(rng, bg, figures, occluders, sample_camera(rng, diff))
    return Frame(jpeg, records)


def plan(cfg: SynthConfig) -> list[tuple[int, ...]]:
    """One job per image (per clip with --sequences), fixed up front so that workers can share them:
    (index, people still to make) for stills, (index, people, frames, first track id) for clips."""
    if cfg.sequences:
        from edgepose.data.synth_video import plan_clips

        return plan_clips(cfg)
    if not cfg.multi:
        return [(i, cfg.persons - i) for i in range(cfg.persons)]
    jobs, remaining, index = [], cfg.persons, 0
    while remaining > 0:
        jobs.append((index, remaining))
        remaining -= people_per_image(rng_for(cfg.seed, index), remaining, True)  # still_image draws it again
        index += 1
    return jobs


def run_job(cfg: SynthConfig, job: tuple[int, ...]) -> list[Frame]:
    """The frames of one planned job (a worker-process entry point, hence module level)."""
    diff = DIFFICULTIES[cfg.difficulty]
    if cfg.sequences:
        from edgepose.data.synth_video import clip_frames

        return clip_frames(cfg, diff, *job)
    return [still_image(cfg.seed, job[0], job[1], cfg, diff)]


def frames(cfg: SynthConfig, workers: int = 1) -> Iterator[Frame]:
    """Every image of the data set, in order; the annotated people add up to `cfg.persons`.

    `workers` > 1 renders in that many processes; the output is the same, byte for byte.
    """
    jobs = plan(cfg)
    if workers <= 1 or len(jobs) < 4 * workers:
        for job in jobs:
            yield from run_job(cfg, job)
        return
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers, initializer=single_threaded_cv2) as pool:
        for result in pool.imap(functools.partial(run_job, cfg), jobs, chunksize=8):
            yield from result


def single_threaded_cv2() -> None:
    import cv2

    cv2.setNumThreads(1)


def coco_categories() -> list[dict[str, Any]]:
    return [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17.keypoints),
             "skeleton": [[a + 1, b + 1] for a, b in COCO17.skeleton]}]  # fmt: skip


def generate(out_dir: str | Path, cfg: SynthConfig, on_frame: Callable[[int], None] | None = None,
             workers: int = 1) -> dict[str, Any]:  # fmt: skip
    """Write OUT_DIR/images/*.jpg, then OUT_DIR/annotations.json atomically; return a summary.

    cv2 runs single-threaded meanwhile: on images this small its thread pool costs more than it gives.
    `workers` > 1 spawns processes, so a script calling this needs the `if __name__ == "__main__":` guard.
    """
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _generate(Path(out_dir), cfg, on_frame, workers)
    finally:
        cv2.setNumThreads(threads)


def _generate(out: Path, cfg: SynthConfig, on_frame: Callable[[int], None] | None, workers: int) -> dict[str, Any]:
    from edgepose.fileio import write_json

    (out / "images").mkdir(parents=True, exist_ok=True)
    height, width = cfg.size
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    videos = set()
    for frame in frames(cfg, workers):
        image_id = len(images) + 1
        file_name = f"images/{image_id:06d}.jpg"
        (out / file_name).write_bytes(frame.jpeg)
        image = {"id": image_id, "file_name": file_name, "width": width, "height": height}
        if frame.video_id is not None:
            image.update(video_id=frame.video_id, frame_id=frame.frame_id)
            videos.add(frame.video_id)
        images.append(image)
        for j, rec in enumerate(frame.records):
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0, **rec}
            if frame.track_ids is not None:
                ann["track_id"] = frame.track_ids[j]
            annotations.append(ann)
        if on_frame is not None:
            on_frame(len(frame.records))
    info = {"description": "edgepose synth: procedural people on COCO-17", "generator": "edgepose.data.synth",
            "version": GENERATOR_VERSION, "seed": cfg.seed, "args": asdict(cfg) | {"image_size": [height, width]}}  # fmt: skip
    doc = {"info": info, "images": images, "annotations": annotations, "categories": coco_categories()}
    write_json(out / "annotations.json", doc)
    return {"annotations": str(out / "annotations.json"), "n_images": len(images), "n_persons": len(annotations),
            "n_videos": len(videos), "image_size": [height, width], "seed": cfg.seed}  # fmt: skip
