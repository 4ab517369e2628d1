"""What `edgepose predict` writes into --out: predictions.json (COCO keypoint results), predictions.csv, overlays.

Everything is written atomically: the JSON and CSV at the end or on Ctrl-C (so an interrupted run leaves valid
files of the frames done), each overlay image as it is drawn, an overlay video under a temporary name that is
renamed when the video is closed. Overlays are drawn with supervision's annotators (edges, vertices, boxes,
labels) plus a banner with the frame's latency.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.deploy.pose import Pose
from edgepose.deploy.results import write_results
from edgepose.fileio import atomic_path, current_umask, write_text

CSV_COLUMNS = ("source", "frame", "image_id", "person", "track_id", "keypoint", "x", "y", "score")
KEYPOINT_DRAW_SCORE = 0.3  # joints below this score are not drawn


class TableWriter:
    """predictions.json entries and CSV rows, kept in memory and written in one go (`flush`)."""

    def __init__(self, out_dir: Path, csv_rows: bool):
        self.json_path = out_dir / "predictions.json"
        self.csv_path = out_dir / "predictions.csv" if csv_rows else None
        self.entries: list[dict[str, Any]] = []
        self.rows: list[tuple[Any, ...]] = []

    def add(self, entries: list[dict[str, Any]], poses: list[Pose], source: str, frame_index: int) -> None:
        self.entries.extend(entries)
        if self.csv_path is None:
            return
        for person, (entry, pose) in enumerate(zip(entries, poses, strict=True)):
            for name, (x, y, score) in zip(pose.names, np.asarray(pose.keypoints, dtype=np.float64), strict=True):
                self.rows.append((source, frame_index, entry["image_id"], person, "" if pose.track_id is None else pose.track_id,
                                  name, round(x, 3), round(y, 3), round(score, 4)))  # fmt: skip

    def flush(self) -> None:
        write_results(self.json_path, self.entries)
        if self.csv_path is not None:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(self.rows)
            write_text(self.csv_path, buffer.getvalue())


class Overlay:
    """Skeletons, boxes, track ids and a latency banner on a BGR frame (supervision's annotators)."""

    def __init__(self, skeleton: list[tuple[int, int]]):
        import supervision as sv

        self.sv = sv
        edges = [(a + 1, b + 1) for a, b in skeleton]  # supervision's skeletons are 1-based
        self.edges = sv.EdgeAnnotator(color=sv.Color.from_hex("#00FF66"), thickness=2, edges=edges)
        self.vertices = sv.VertexAnnotator(color=sv.Color.from_hex("#FF3366"), radius=3)
        self.boxes = sv.BoxAnnotator(thickness=2, color_lookup=sv.ColorLookup.INDEX)
        self.labels = sv.LabelAnnotator(text_scale=0.45, text_padding=4, color_lookup=sv.ColorLookup.INDEX)

    def draw(self, image_bgr: np.ndarray, poses: list[Pose], banner: str) -> np.ndarray:
        sv = self.sv
        scene = image_bgr.copy()
        if poses:
            xy = np.stack([p.keypoints[:, :2] for p in poses]).astype(np.float32)
            conf = np.stack([p.keypoints[:, 2] for p in poses]).astype(np.float32)
            points = sv.KeyPoints(xy=xy, keypoint_confidence=conf, visible=conf >= KEYPOINT_DRAW_SCORE)
            detections = sv.Detections(xyxy=np.stack([p.box for p in poses]).astype(np.float32),
                                       confidence=np.asarray([p.score for p in poses], dtype=np.float32),
                                       class_id=np.zeros(len(poses), dtype=int))  # fmt: skip
            labels = [("" if p.track_id is None else f"#{p.track_id} ") + f"{p.score:.2f}" for p in poses]
            scene = self.boxes.annotate(scene, detections)
            scene = self.labels.annotate(scene, detections, labels=labels)
            scene = self.edges.annotate(scene, points)
            scene = self.vertices.annotate(scene, points)
        scale = max(0.4, min(image_bgr.shape[:2]) / 900)
        return sv.draw_text(scene, banner, sv.Point(8 + int(150 * scale), 14 + int(12 * scale)), text_color=sv.Color.WHITE,
                            text_scale=scale, text_thickness=1, text_padding=6, background_color=sv.Color.BLACK)  # fmt: skip


class OverlayFiles:
    """Overlay images (one per input image) or one mp4 per video, under out/overlay/."""

    def __init__(self, out_dir: Path):
        self.folder = out_dir / "overlay"
        self._videos: dict[str, tuple[Any, Path, Path]] = {}
        self.written: list[str] = []

    def image(self, source: str, index: int, frame_bgr: np.ndarray) -> None:
        import cv2

        name = f"{index:05d}_{Path(source).stem}.jpg"
        ok, data = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if ok:
            with atomic_path(self.folder / name) as tmp:
                tmp.write_bytes(data.tobytes())
            self.written.append(str(self.folder / name))

    def video_frame(self, source: str, index: int, frame_bgr: np.ndarray, fps: float) -> None:
        import cv2

        if source not in self._videos:
            self.folder.mkdir(parents=True, exist_ok=True)
            final = self.folder / f"{index:02d}_{Path(source).stem}.mp4"
            tmp = final.with_name(f".{final.stem}.part.mp4")
            h, w = frame_bgr.shape[:2]
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            self._videos[source] = (writer, tmp, final)
        self._videos[source][0].write(frame_bgr)

    def close(self) -> None:
        """Finish every open video: release the writer, give it normal permissions, rename it into place."""
        for writer, tmp, final in self._videos.values():
            writer.release()
            if tmp.exists():
                os.chmod(tmp, 0o666 & ~current_umask())
                os.replace(tmp, final)
                self.written.append(str(final))
        self._videos.clear()
