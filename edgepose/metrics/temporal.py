"""Temporal metrics over tracks: jitter and acceleration error, relative to the person's box.

For a keypoint at frame t of a track with frames t-1, t, t+1 present, the acceleration is
a[t] = x[t+1] - 2 x[t] + x[t-1] (pixels per frame^2). Both metrics divide by the diagonal of the
ground-truth box at frame t and average over every (track, t, keypoint) where the ground truth
labels the joint (v > 0, as PCK counts joints) in all three frames:

- jitter = mean |a_pred[t]| / diag: how much the predictions shake (a still person scores 0; the
  ground truth itself scores `gt_jitter`, the real motion's acceleration);
- accel_error = mean |a_pred[t] - a_gt[t]| / diag: acceleration error against the ground truth,
  which real motion does not inflate.

A track is (video_id, track_id); its frames are ordered by frame_id and split where a frame_id is
missing, so no acceleration spans a gap. Rows whose scores are all 0 (a person with no prediction)
count as missing frames. Values are fractions of the box diagonal per frame^2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgepose.schemas import KeypointSchema

UNITS = "box diagonal / frame^2"


def track_runs(anns: Sequence[Mapping[str, Any]], images: Mapping[Any, Mapping[str, Any]]) -> list[np.ndarray] | None:
    """Row indices of each track's runs of consecutive frames, in frame order; None without track fields.

    `anns` are the annotations row-aligned with the predictions, `images` the COCO images by id.
    """
    tracks: dict[tuple[Any, Any], list[tuple[int, int]]] = defaultdict(list)
    for row, ann in enumerate(anns):
        image = images.get(ann.get("image_id"), {})
        video = image.get("video_id", image.get("vid_id"))
        frame, track = image.get("frame_id"), ann.get("track_id")
        if video is None or frame is None or track is None:
            return None
        tracks[(video, track)].append((int(frame), row))
    runs: list[np.ndarray] = []
    for key in sorted(tracks, key=str):
        members = sorted(tracks[key])
        start = 0
        for i in range(1, len(members) + 1):
            if i == len(members) or members[i][0] != members[i - 1][0] + 1:
                runs.append(np.asarray([row for _, row in members[start:i]], dtype=np.int64))
                start = i
    return runs


def accelerations(points: np.ndarray) -> np.ndarray:
    """(T, K, 2) positions -> (T-2, K, 2) second differences x[t+1] - 2 x[t] + x[t-1], t = 1..T-2."""
    p = np.asarray(points, dtype=np.float64)
    return p[2:] - 2.0 * p[1:-1] + p[:-2]


def temporal_metrics(
    pred: np.ndarray, gt: np.ndarray, box_diag: np.ndarray, runs: Sequence[np.ndarray], schema: KeypointSchema
) -> dict[str, Any]:
    """Jitter and acceleration error (module docstring), overall and per keypoint.

    pred, gt: (N, K, 3) image pixels [x, y, score|v]; box_diag: (N,) GT box diagonals in pixels;
    runs: row indices of consecutive frames per track (track_runs).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    diag = np.asarray(box_diag, dtype=np.float64)
    present = pred[..., 2].max(axis=1) > 0
    k = gt.shape[1]
    sums = {name: np.zeros(k) for name in ("jitter", "accel_error", "gt_jitter")}
    counts = np.zeros(k, dtype=np.int64)
    n_tracks = 0
    for run in runs:
        for rows in _split(run, present):
            if len(rows) < 3:
                continue
            centre = diag[rows[1:-1]]
            labelled = gt[rows, :, 2] > 0
            mask = labelled[2:] & labelled[1:-1] & labelled[:-2] & (centre > 0)[:, None]
            if not mask.any():
                continue
            n_tracks += 1
            a_pred, a_gt = accelerations(pred[rows, :, :2]), accelerations(gt[rows, :, :2])
            scale = np.where(centre > 0, centre, 1.0)[:, None]
            for name, value in (("jitter", a_pred), ("accel_error", a_pred - a_gt), ("gt_jitter", a_gt)):
                sums[name] += np.where(mask, np.linalg.norm(value, axis=-1) / scale, 0.0).sum(axis=0)
            counts += mask.sum(axis=0)
    total = int(counts.sum())
    result: dict[str, Any] = {
        name: float(s.sum() / total) if total else None for name, s in sums.items()
    }
    result.update(units=UNITS, n_accelerations=total, n_tracks=n_tracks)
    result["per_keypoint"] = {
        name: {
            **{m: float(sums[m][j] / counts[j]) if counts[j] else None for m in ("jitter", "accel_error")},
            "n_accelerations": int(counts[j]),
        }
        for j, name in enumerate(schema.keypoints)
    }
    return result


def _split(run: np.ndarray, present: np.ndarray) -> list[np.ndarray]:
    """`run` cut where a row has no prediction (all scores 0)."""
    pieces, start = [], 0
    for i in range(len(run) + 1):
        if i == len(run) or not present[run[i]]:
            if i > start:
                pieces.append(run[start:i])
            start = i + 1
    return pieces
