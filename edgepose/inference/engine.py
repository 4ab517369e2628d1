"""The `edgepose predict` loop: frames -> person boxes -> the one pose pipeline -> tracking -> smoothing -> files.

Per frame, stage by stage (timed): read the frame; find the people (a boxes file, a YOLO-pose detector, the whole
frame, or the multi-person model itself) and run edgepose.deploy.model.PoseModel (preprocess, inference,
decode); track (ByteTrack on video, or the annotations' track ids); smooth (One-Euro per track and keypoint);
measure jitter before and after smoothing; write results, CSV rows and overlays. Ctrl-C writes what was done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.console import TaskBar, info
from edgepose.deploy.clip_window import ClipWindows
from edgepose.deploy.crop import clip_boxes
from edgepose.deploy.images import bgr_to_rgb
from edgepose.deploy.model import PoseModel
from edgepose.deploy.pose import Pose
from edgepose.deploy.results import result_entry
from edgepose.deploy.smoothing import DEFAULT_BETA, DEFAULT_D_CUTOFF_HZ, DEFAULT_MIN_CUTOFF_HZ, PoseSmoother
from edgepose.errors import UserError
from edgepose.fileio import write_json
from edgepose.inference.jitter import JitterMeter
from edgepose.inference.people import (
    DEFAULT_MIN_BOX_SCORE,
    BoxesFile,
    People,
    default_image_id,
    detected,
    whole_frame,
)
from edgepose.inference.sources import Frame, Source, frame_total, read_frames
from edgepose.inference.timing import StageTimer
from edgepose.inference.writers import Overlay, OverlayFiles, TableWriter

SMOOTHERS = ("one-euro", "none")


@dataclass
class PredictOptions:
    out_dir: Path
    boxes: str | None = None
    min_box_score: float = DEFAULT_MIN_BOX_SCORE
    smooth: str = "one-euro"
    min_cutoff: float = DEFAULT_MIN_CUTOFF_HZ
    beta: float = DEFAULT_BETA
    d_cutoff: float = DEFAULT_D_CUTOFF_HZ
    csv: bool = False
    overlay: bool = False
    progress: bool = True
    describe: dict[str, Any] = field(default_factory=dict)  # model / runtime names for the summary

    def __post_init__(self) -> None:
        if self.smooth not in SMOOTHERS:
            raise UserError(f"--smooth must be one of {', '.join(SMOOTHERS)}, got '{self.smooth}'")


def run_predict(model: PoseModel, sources: list[Source], opts: PredictOptions, detector: PoseModel | None = None,
                tracker: Any = None) -> dict[str, Any]:  # fmt: skip
    """Run `model` over every frame of `sources`; writes into opts.out_dir and returns the summary dict.

    `detector` (a YOLO-pose PoseModel) gives a top-down model its boxes; `tracker` (a PoseTracker) tracks people
    in video sources. KeyboardInterrupt: the files of the frames done are written, summary["interrupted"] is set,
    and the interrupt is raised again.
    """
    if opts.boxes and detector is not None:
        raise UserError("give --boxes or --detector, not both")
    if not model.config.top_down and (opts.boxes or detector is not None):
        raise UserError("this is a multi-person (YOLO-pose) model: it finds the people itself; drop --boxes/--detector")
    boxes_file = BoxesFile(opts.boxes, opts.min_box_score) if opts.boxes else None
    loop = _Loop(model, opts, boxes_file, detector, tracker)
    interrupted = False
    with TaskBar(opts.progress, "predict", frame_total(sources)) as bar:
        try:
            for source in sources:
                loop.run_source(source, bar)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            summary = loop.finish(sources, interrupted)
    if interrupted:
        info(f"interrupted after {summary['frames']} frames; {summary['outputs']['predictions']} holds them")
        raise KeyboardInterrupt
    return summary


class _Loop:
    def __init__(self, model: PoseModel, opts: PredictOptions, boxes_file: BoxesFile | None,
                 detector: PoseModel | None, tracker: Any):  # fmt: skip
        self.model, self.opts, self.boxes_file, self.detector, self.tracker = model, opts, boxes_file, detector, tracker
        opts.out_dir.mkdir(parents=True, exist_ok=True)
        self.timer = StageTimer()
        self.table = TableWriter(opts.out_dir, opts.csv)
        self.overlay = Overlay(list(model.config.keypoint_schema.skeleton)) if opts.overlay else None
        self.overlay_files = OverlayFiles(opts.out_dir) if opts.overlay else None
        self.windows = ClipWindows(model.config.clip_length) if model.config.clip_length else None
        self.smoother = None
        if opts.smooth == "one-euro":
            self.smoother = PoseSmoother(opts.min_cutoff, opts.beta, opts.d_cutoff)
        self.jitter_raw, self.jitter_smooth = JitterMeter(model.names), JitterMeter(model.names)
        self.frames = self.people = 0
        self.tracks: set[Any] = set()
        self.source_index = 0

    def run_source(self, source: Source, bar: TaskBar) -> None:
        if self.tracker is not None and source.is_stream:
            self.tracker.reset()
        if self.windows is not None:
            self.windows.reset()
        frames = read_frames(source)
        while True:
            with self.timer.stage("read"):
                frame = next(frames, None)
            if frame is None:
                break
            self.frames += 1
            self._frame(frame, source)
            self.timer.end_frame()
            bar.advance(status=f"{self.people} people")
        self.source_index += 1

    def _frame(self, frame: Frame, source: Source) -> None:
        model, timer = self.model, self.timer
        with timer.stage("preprocess"):
            rgb = bgr_to_rgb(frame.image_bgr)
        image_id, video_frame = self._image_id(frame)
        people = None
        if model.config.top_down:
            people = self._people(rgb, frame, image_id)
            if self.windows is not None:  # a clip model: tracks first, then each track's window of crops
                poses = self._clip_poses(rgb, people, frame, source, video_frame)
            else:
                poses = model.top_down(rgb, people.boxes_xywh, people.scores, timer)
        else:
            poses = model.whole_image(rgb, timer)
        with timer.stage("postprocess"):
            key, index, t_s = self._timeline(frame, source, video_frame)
            if self.windows is not None:
                pass  # _clip_poses gave the tracks
            elif people is not None and any(t is not None for t in people.track_ids):
                for pose, track in zip(poses, people.track_ids, strict=True):
                    pose.track_id = track
            elif self.tracker is not None and frame.video:
                self.tracker.update(poses)
            for pose in poses:
                track = None if pose.track_id is None else (key, pose.track_id)
                diag = float(np.hypot(pose.box[2] - pose.box[0], pose.box[3] - pose.box[1]))
                if track is not None:
                    self.tracks.add(track)
                    self.jitter_raw.add(track, index, pose.keypoints, diag)
                if self.smoother is not None:
                    pose.keypoints = self.smoother(pose.keypoints, track, t_s)
                    if track is not None:
                        self.jitter_smooth.add(track, index, pose.keypoints, diag)
        with timer.stage("write"):
            ann_ids = people.ann_ids if people is not None else [None] * len(poses)
            entries = [result_entry(p.keypoints, p.score, p.box_xywh, image_id=image_id, file_name=frame.file_name,
                                    frame_id=frame.frame_index if frame.video else video_frame, track_id=p.track_id,
                                    ann_id=ann) for p, ann in zip(poses, ann_ids, strict=True)]  # fmt: skip
            self.table.add(entries, poses, frame.source, frame.frame_index)
            self.people += len(poses)
            if self.overlay is not None and self.overlay_files is not None:
                banner = f"{timer.current_ms():.1f} ms  {len(poses)} people"
                drawn = self.overlay.draw(frame.image_bgr, poses, banner)
                if frame.video:
                    self.overlay_files.video_frame(frame.source, self.source_index, drawn, source.fps)
                else:
                    self.overlay_files.image(frame.source, self.frames, drawn)

    def _clip_poses(self, rgb: np.ndarray, people: People, frame: Frame, source: Source,
                    video_frame: int | None) -> list[Pose]:  # fmt: skip
        """A clip model's poses: track the boxes (or take the annotations' ids), then run each track's window."""
        assert self.windows is not None
        tracks = list(people.track_ids)
        if not any(t is not None for t in tracks) and self.tracker is not None and frame.video:
            xyxy = np.concatenate([people.boxes_xywh[:, :2], people.boxes_xywh[:, :2] + people.boxes_xywh[:, 2:]], axis=1)
            stubs = [Pose(np.zeros((len(self.model.names), 3)), xyxy[i], float(people.scores[i]), self.model.names,
                          None, float(people.scores[i])) for i in range(len(xyxy))]  # fmt: skip
            with self.timer.stage("postprocess"):
                tracks = [p.track_id for p in self.tracker.update(stubs)]
        key = self._timeline(frame, source, video_frame)[0]
        keys = [None if t is None else (key, t) for t in tracks]
        poses = self.model.top_down_clip(rgb, people.boxes_xywh, self.windows, keys, people.scores, self.timer)
        for pose, track in zip(poses, tracks, strict=True):
            pose.track_id = track
        return poses

    def _image_id(self, frame: Frame) -> tuple[Any, int | None]:
        """(image id, the annotations' frame id of a still image that is a video frame, else None)."""
        if self.boxes_file is None:
            return default_image_id(frame.file_name, self.frames), None
        image_id = self.boxes_file.image_id_for(frame.file_name, self.frames)
        info = self.boxes_file.frames.get(image_id)
        return image_id, (info[1] if info else None)

    def _timeline(self, frame: Frame, source: Source, video_frame: int | None) -> tuple[Any, int, float]:
        """(stream key, frame number, time in s) that tracks and smoothing run along."""
        if frame.video:
            return (self.source_index, frame.source), frame.frame_index, frame.time_s
        if video_frame is not None and self.boxes_file is not None:
            info = self.boxes_file.frames.get(self._image_id(frame)[0])
            return ("video", info[0] if info else None), video_frame, video_frame / source.fps
        return (self.source_index, frame.source), self.frames, frame.time_s

    def _people(self, rgb: np.ndarray, frame: Frame, image_id: Any) -> People:
        if self.boxes_file is not None:
            people = self.boxes_file.people(frame.file_name, image_id)
        elif self.detector is not None:
            boxes, scores = _detect(self.detector, rgb, self.timer)
            people = detected(boxes, scores, image_id, self.opts.min_box_score)
        else:
            people = whole_frame(rgb.shape, image_id)
        boxes, keep = clip_boxes(people.boxes_xywh, rgb.shape[:2])
        kept = np.flatnonzero(keep)
        return People(boxes, people.scores[keep], [people.ann_ids[i] for i in kept], [people.track_ids[i] for i in kept],
                      image_id)  # fmt: skip

    def finish(self, sources: list[Source], interrupted: bool) -> dict[str, Any]:
        self.table.flush()
        if self.overlay_files is not None:
            self.overlay_files.close()
        summary = self.summary(sources, interrupted)
        write_json(self.opts.out_dir / "summary.json", summary)
        return summary

    def summary(self, sources: list[Source], interrupted: bool) -> dict[str, Any]:
        cfg = self.model.config
        raw, smooth = self.jitter_raw.result(), self.jitter_smooth.result()
        reduction = None
        if self.smoother is not None and raw["overall"] and smooth["overall"] is not None:
            reduction = round(1.0 - smooth["overall"] / raw["overall"], 4)
        return {
            **self.opts.describe, "head": cfg.head, "sources": [s.name for s in sources], "frames": self.frames,
            "people": self.people, "boxes": self._boxes_note(), "interrupted": interrupted,
            "timing": self.timer.summary(),
            "tracking": self._tracking_note(), "n_tracks": len(self.tracks),
            "smoothing": {"method": self.opts.smooth, **({"min_cutoff_hz": self.opts.min_cutoff, "beta": self.opts.beta,
                                                         "d_cutoff_hz": self.opts.d_cutoff} if self.smoother else {})},
            "jitter": {"raw": raw, "smoothed": smooth if self.smoother else None, "reduction": reduction},
            "decoder": cfg.to_dict()["decoder"],
            "outputs": {"predictions": str(self.table.json_path),
                        "csv": str(self.table.csv_path) if self.table.csv_path else None,
                        "overlay": self.overlay_files.written if self.overlay_files else []},
        }  # fmt: skip

    def _boxes_note(self) -> str:
        if not self.model.config.top_down:
            return "found by the multi-person model"
        if self.boxes_file is not None:
            return f"from {self.boxes_file.path}"
        if self.detector is not None:
            return f"from the detector {self.opts.describe.get('detector')}"
        return "whole frame = one person (single-person model; no --boxes or --detector given)"

    def _tracking_note(self) -> str | None:
        if self.boxes_file is not None and self.boxes_file.is_annotations:
            return "track_id from the annotations where given; else none"
        return "bytetrack (video sources)" if self.tracker is not None else None


def _detect(detector: PoseModel, rgb: np.ndarray, timer: StageTimer) -> tuple[np.ndarray, np.ndarray]:
    """The detector's person boxes (N, 4) xyxy and scores, timed in the same stages as the pose model."""
    poses = detector.whole_image(rgb, timer)
    if not poses:
        return np.zeros((0, 4)), np.zeros(0)
    return np.stack([p.box for p in poses]), np.asarray([p.score for p in poses])
