"""report_overlays.png: the people whose keypoints the final model moved most from the baseline's, both skeletons
drawn on the photo (baseline grey, final red).

Read from the two evaluations' prediction files (RUN_DIR/steps/00_baseline/eval_predictions.json and
RUN_DIR/final/eval_predictions.json, COCO results matched by annotation id): nothing is run again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.report.plots import COLORS, pyplot_modules, save_figure

OVERLAY_PICTURE = "report_overlays.png"
STRIP_LENGTH = 3  # people in the strip
MARGIN = 0.15  # of the person box, around the crop


def prediction_files(report: dict[str, Any]) -> tuple[Path, Path] | None:
    """(baseline, final) prediction files when both evaluations wrote one and both still exist."""
    paths = [report.get(side, {}).get("eval", {}).get("predictions") for side in ("baseline", "final")]
    if not all(paths) or not all(Path(p).is_file() for p in paths):
        return None
    return Path(paths[0]), Path(paths[1])


def moved_most(baseline: list[dict[str, Any]], final: list[dict[str, Any]],
               count: int = STRIP_LENGTH) -> list[tuple[float, dict[str, Any], dict[str, Any]]]:  # fmt: skip
    """(mean keypoint displacement in image pixels, baseline entry, final entry) of the `count` people moved most."""
    after = {e["ann_id"]: e for e in final if e.get("ann_id") is not None}
    pairs = []
    for before in baseline:
        other = after.get(before.get("ann_id"))
        if other is None:
            continue
        a = np.asarray(before["keypoints"], np.float64).reshape(-1, 3)[:, :2]
        b = np.asarray(other["keypoints"], np.float64).reshape(-1, 3)[:, :2]
        if a.shape == b.shape and np.isfinite(a).all() and np.isfinite(b).all():
            pairs.append((float(np.linalg.norm(a - b, axis=1).mean()), before, other))
    pairs.sort(key=lambda p: -p[0])
    return pairs[:count]


def plot_overlays(report: dict[str, Any], path: Path) -> bool:
    """Draw the strip; False (nothing written) when the prediction files or the photos are not there."""
    from edgepose.data.cocofile import resolve_image_root
    from edgepose.schemas import schema_for_count

    files = prediction_files(report)
    ann_file = report.get("final", {}).get("eval", {}).get("data")
    if files is None or not ann_file or not Path(ann_file).is_file():
        return False
    people = moved_most(*(json.loads(f.read_text()) for f in files))
    if not people:
        return False
    root = resolve_image_root(json.loads(Path(ann_file).read_text()), Path(ann_file), None)
    schema = schema_for_count(len(people[0][1]["keypoints"]) // 3)
    plt, _ = pyplot_modules()
    figure, axes = plt.subplots(1, len(people), figsize=(3.2 * len(people), 3.8), dpi=120, squeeze=False)
    for ax, (moved, before, after) in zip(axes[0], people, strict=True):
        image_file = root / str(before.get("file_name"))
        if not image_file.is_file():
            plt.close(figure)
            return False
        ax.imshow(plt.imread(image_file))
        for entry, color, label in ((before, COLORS["baseline"], "baseline"), (after, COLORS["final"], "final")):
            kpts = np.asarray(entry["keypoints"], np.float64).reshape(-1, 3)
            for i, j in schema.skeleton if schema is not None else ():
                ax.plot(kpts[[i, j], 0], kpts[[i, j], 1], color=color, linewidth=1.6, alpha=0.9)
            ax.scatter(kpts[:, 0], kpts[:, 1], s=9, color=color, label=label, zorder=3)
        x, y, w, h = before["bbox"]
        ax.set_xlim(x - MARGIN * w, x + (1 + MARGIN) * w)
        ax.set_ylim(y + (1 + MARGIN) * h, y - MARGIN * h)
        ax.set_title(f"person {before['ann_id']}: moved {moved:.1f} px", fontsize=8)
        ax.axis("off")
    axes[0][0].legend(loc="lower left", fontsize=7, framealpha=0.8)
    figure.suptitle(f"{report['recipe']}: the people the final model moved most (mean keypoint shift)", fontsize=9)
    figure.tight_layout()
    save_figure(figure, path, plt)
    return True
