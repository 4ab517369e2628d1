"""The COCO keypoint-results file every front end writes (`predict`'s predictions.json, `eval --save-predictions`)
and `edgepose eval --predictions` reads: a JSON list, one entry per person.

Entry: image_id, file_name, frame_id, track_id, category_id, keypoints [x, y, score] x K (image pixels, full
float precision so that re-scoring the file reproduces the metrics exactly), score, bbox [x, y, w, h]; `ann_id`
when the person is an annotated one (eval, or predict with an annotations file's boxes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.fileio import write_text

PERSON_CATEGORY = 1


def result_entry(
    keypoints: np.ndarray, score: float, bbox_xywh: Sequence[float], *, image_id: Any = None,
    file_name: str | None = None, frame_id: int | None = None, track_id: int | None = None,
    category_id: int = PERSON_CATEGORY, ann_id: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One person as a COCO keypoint result."""
    entry: dict[str, Any] = {
        "image_id": image_id, "file_name": file_name, "frame_id": frame_id, "track_id": track_id,
        "category_id": int(category_id),
        "keypoints": [float(v) for v in np.asarray(keypoints, dtype=np.float64).reshape(-1)],
        "score": float(score), "bbox": [float(v) for v in bbox_xywh],
    }  # fmt: skip
    if ann_id is not None:
        entry["ann_id"] = int(ann_id)
    return entry


def write_results(path: str | Path, entries: list[dict[str, Any]]) -> Path:
    """Write the results list atomically (a reader never sees half a file, also after Ctrl-C); one entry a line."""
    body = ",\n".join(json.dumps(entry) for entry in entries)
    write_text(path, f"[\n{body}\n]\n" if entries else "[]\n")
    return Path(path)
