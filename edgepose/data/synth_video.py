"""`edgepose synth --sequences`: short clips of people moving smoothly in front of a static camera.

Each video has one (or, with --multi, 2-4) tracked people; joint angles follow smooth curves
(synth_pose.Motion), position and scale drift slowly, the background and occluders stay put, and
the camera (blur, lighting, JPEG quality) is fixed per clip: only the sensor noise changes. Frames
carry video_id / frame_id (step 1), people a track_id.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from edgepose.data.synth import Frame, SynthConfig, rng_for
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
from edgepose.data.synth_pose import sample_family, sample_motion
from edgepose.data.synth_scene import Difficulty, background, occluder, sample_camera


def plan_clips(cfg: SynthConfig) -> list[tuple[int, ...]]:
    """(index, people, frames, first track id) per clip: clips of `cfg.frames` frames until `cfg.persons`
    person-frames are annotated (the last clip is shorter where that count asks for it)."""
    jobs: list[tuple[int, ...]] = []
    remaining, index, next_track = cfg.persons, 0, 1
    while remaining > 0:
        people = _people(rng_for(cfg.seed, index), cfg.multi)
        length = min(cfg.frames, remaining // people)
        if length == 0:
            people, length = remaining, 1
        jobs.append((index, people, length, next_track))
        remaining -= people * length
        next_track += people
        index += 1
    return jobs


def clip_frames(cfg: SynthConfig, diff: Difficulty, index: int, people: int, length: int, first_track: int) -> list[Frame]:
    """The frames of clip `index` as planned by plan_clips."""
    rng = rng_for(cfg.seed, index)
    _people(rng, cfg.multi)  # the draw plan_clips made: the rest of the clip's stream follows it
    return list(_video(cfg, diff, index, rng, people, length, first_track))


def _people(rng: np.random.Generator, multi: bool) -> int:
    return int(rng.integers(2, 5)) if multi else 1


def _video(cfg: SynthConfig, diff: Difficulty, index: int, rng: np.random.Generator, people: int, length: int,
           first_track: int) -> Iterator[Frame]:  # fmt: skip
    height, width = cfg.size
    low_contrast = rng.random() < diff.low_contrast_p
    actors, motions = [], []
    for _ in range(people):
        family = sample_family(rng)
        actor = sample_actor(rng, sample_look(rng), family)
        actors.append(actor)
        motions.append(sample_motion(rng, family))
    boxes = [extent(a, posed(a, m.at(0))[0]) for a, m in zip(actors, motions, strict=True)]
    if cfg.multi:
        placements = place_multi(rng, boxes, cfg.size)
    else:
        placements = [place_single(rng, boxes[0], cfg.size, diff)]
    velocity_px = [rng.uniform(-0.012, 0.012, 2) * unit for unit, _ in placements]
    scale_rate = rng.uniform(-0.012, 0.012, people)
    near_color = actors[0].look.top.a if low_contrast else None
    bg = background(rng, height, width, float(np.median([u for u, _ in placements])), diff, near_color)
    occluders = []
    for box, (unit, pelvis) in zip(boxes, placements, strict=True):
        if rng.random() < diff.occluder_p * (0.6 if cfg.multi else 1.0):
            occluders.append(occluder(rng, box * unit + np.tile(pelvis, 2)))
    camera = sample_camera(rng, diff)
    low, high = np.array([0.1 * width, 0.1 * height]), np.array([0.9 * width, 0.9 * height])
    for frame_id in range(length):
        figures = []
        for j, (actor, motion) in enumerate(zip(actors, motions, strict=True)):
            angles = motion.at(frame_id)
            xy, z, facing = posed(actor, angles)
            unit = placements[j][0] * math.exp(scale_rate[j] * frame_id)
            pelvis = np.clip(placements[j][1] + velocity_px[j] * frame_id, low, high)
            figures.append(make_figure(actor, xy, z, facing, unit, pelvis, angles))
        jpeg, records = render_frame(rng_for(cfg.seed, index, frame_id), bg, figures, occluders, camera)
        yield Frame(jpeg, records, index + 1, frame_id, [first_track + j for j in range(people)])
