"""The optimize report: report.json (DESIGN.md keys: baseline, stages[], final, gates), report.md and its pictures.

Every number in report.md and in the pictures is read from the report dict written to report.json: nothing is
measured twice. The baseline's latency is the PyTorch side of the final stage's interleaved run.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.fileio import write_json, write_text

if TYPE_CHECKING:
    from edgepose.recipe import Recipe

SCHEMA_VERSION = 1
PICTURES = {"accuracy_speed": "report.png", "keypoints": "report_keypoints.png"}
SEARCH_PICTURE = "report_search.png"


def build_report(
    recipe: Recipe, metric: str, baseline: dict[str, Any], stages: list[dict[str, Any]], final: dict[str, Any],
    gates: list[dict[str, Any]], run_dir: Path, decisions: list[dict[str, Any]] | None = None,
    search: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The report dict: what ran, every step's accuracy and latency, the final artifact and the gates.

    `search` (recipes that search): the winner's name, every candidate's summary, the winner against the reference.
    """
    from edgepose.version import __version__

    baseline = {k: v for k, v in baseline.items() if k != "bench"}
    baseline["bench"] = final["vs_torch_fp32"]["a"]  # one measurement of the baseline: the interleaved one
    return {
        "schema_version": SCHEMA_VERSION, "edgepose_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "recipe": recipe.name, "target": recipe.target, "runtime": recipe.runtime, "metric": metric,
        "run_dir": str(run_dir), "baseline": baseline, "stages": stages, "final": final, "gates": gates,
        "gate_limits": recipe.gates.model_dump(), "speed_baseline": recipe.benchmark.baseline,
        "pictures": {**PICTURES, **({"search": SEARCH_PICTURE} if search else {})}, "decisions": list(decisions or []),
        "verdict": "fail" if any(g["verdict"] == "fail" for g in gates) else "pass",
        **({"search": search} if search is not None else {}),
    }  # fmt: skip


def write_report(report: dict[str, Any], run_dir: Path) -> None:
    from edgepose.report.markdown import markdown
    from edgepose.report.overlays import OVERLAY_PICTURE, plot_overlays
    from edgepose.report.plots import plot_accuracy_speed, plot_keypoint_drops, plot_search

    if plot_overlays(report, run_dir / OVERLAY_PICTURE):  # drawn from the evaluations' prediction files, when kept
        report["pictures"]["overlays"] = OVERLAY_PICTURE
    write_json(run_dir / "report.json", report)
    plot_accuracy_speed(report, run_dir / PICTURES["accuracy_speed"])
    plot_keypoint_drops(report, run_dir / PICTURES["keypoints"])
    if report.get("search"):
        plot_search(report, run_dir / SEARCH_PICTURE)
    write_text(run_dir / "report.md", markdown(report))
