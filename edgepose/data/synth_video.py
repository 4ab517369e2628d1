"""`edgepose synth --sequences`: short clips of people moving smoothly in front of a static camera.

Each video has one (or, with --multi, 2-4) tracked people; joint angles follow smooth curves
(synth_pose.Motion), position and scale drift slowly, the background stays put, most occluders slide
slowly across the frame (so a joint goes out of sight and comes back, which a temporal model can
bridge and a per-frame one cannot), and the camera (blur, lighting, JPEG quality) is fixed per clip:
only the sensor noise changes. Frames carry video_id / frame_id (step 1), people a track_id.
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

MOVING_OCCLUDER_P = 0.6  # share of occluders that slide, at OCCLUDER_SPEED_PX pixels per frame
OCCLUDER_SPEED_PX = (0.5, 2.5)


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
    drift_px = [_occluder_velocity(rng) for _ in occluders]
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
        moved = [(shift_prims(prims, v * frame_id), fill) for (prims, fill), v in zip(occluders, drift_px, strict=True)]
        jpeg, records = render_frame(rng_for(cfg.seed, index, frame_id), bg, figures, moved, camera)
        yield Frame(jpeg, records, index + 1, frame_id, [first_track + j for j in range(people)])


def _occluder_velocity(rng: np.random.Generator) -> np.ndarray:
    """(dx, dy) pixels per frame: zero for a fixed occluder, else a slow slide in a random direction."""
    if rng.random() >= MOVING_OCCLUDER_P:
        return np.zeros(2)
    angle = rng.uniform(0, 2 * math.pi)
    return rng.uniform(*OCCLUDER_SPEED_PX) * np.array([math.cos(angle), math.sin(angle)])


def shift_prims(prims: list, offset_px: np.ndarray) -> list:
    """The drawing primitives (poly, circle, ellipse) moved by `offset_px` = (dx, dy)."""
    dx, dy = float(offset_px[0]), float(offset_px[1])
    if dx == 0 and dy == 0:
        return prims
    moved = []
    for prim in prims:
        if prim[0] == "poly":
            moved.append(("poly", prim[1] + np.array([dx, dy])))
        else:  # ("circle", x, y, r) and ("ellipse", x, y, a, b, angle)
            moved.append((prim[0], prim[1] + dx, prim[2] + dy, *prim[3:]))
    return moved
