"""The report's pictures, drawn from the report dict alone (nothing is measured here).

report.png: accuracy against speedup, one point per distinct artifact, each speedup from one interleaved run
against the same reference (the baseline on the target runtime), with its 95% interval as an error bar and
the gates as lines. report_keypoints.png: the change of PCK@0.2 per keypoint, baseline to final.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepose.fileio import atomic_path
from edgepose.report.markdown import keypoint_changes

COLORS = {"baseline": "#7f7f7f", "step": "#3b6ea8", "final": "#c0392b"}


def accuracy_speed_points(report: dict[str, Any]) -> list[dict[str, Any]]:
    """What report.png shows: label, kind, speedup vs the baseline on the target (with CI) and the metric.

    A step whose file the final stage only copied (the last step, already in the target's format) is the
    final artifact: it is shown once, with the final stage's measurement.
    """
    metric, final = report["metric"], report["final"]
    points = [{"label": f"baseline ({report['runtime']} fp32)", "kind": "baseline", "speedup": 1.0, "ci": None,
               "value": report["baseline"]["eval"]["metrics"].get(metric)}]  # fmt: skip
    stages = list(report["stages"])
    if stages and stages[-1]["format"] == final["format"]:
        stages = stages[:-1]
    for stage in stages:
        versus = stage["vs_baseline_on_target"]
        points.append({"label": f"step {stage['index']}: {stage['pass']}", "kind": "step", "speedup": versus["speedup"],
                       "ci": versus["speedup_ci95"], "value": stage["eval"]["metrics"].get(metric)})  # fmt: skip
    versus = final["vs_target_fp32"]
    points.append({"label": f"final ({final['runtime']} {final['precision']})", "kind": "final",
                   "speedup": versus["speedup"], "ci": versus["speedup_ci95"],
                   "value": final["eval"]["metrics"].get(metric)})  # fmt: skip
    return [p for p in points if p["value"] is not None]


def plot_accuracy_speed(report: dict[str, Any], path: Path) -> None:
    """report.png: numbered points with CI bars, a legend naming them, the accuracy gate as a line."""
    plt, ticker = pyplot_modules()
    metric, points = report["metric"], accuracy_speed_points(report)
    figure, axes = plt.subplots(figsize=(8, 4.8), dpi=120)
    for number, point in enumerate(points, start=1):
        lo, hi = point["ci"] or (point["speedup"], point["speedup"])
        axes.errorbar(point["speedup"], point["value"], xerr=[[point["speedup"] - lo], [hi - point["speedup"]]],
                      fmt="o", color=COLORS[point["kind"]], capsize=4, markersize=7, zorder=3,
                      label=f"{number}  {point['label']}: {point['speedup']:.2f}x, {point['value']:.4f}")  # fmt: skip
        axes.annotate(str(number), (point["speedup"], point["value"]), textcoords="offset points", xytext=(0, 9),
                      ha="center", fontsize=9, fontweight="bold", color=COLORS[point["kind"]])  # fmt: skip
    limits = report.get("gate_limits") or {}
    base = points[0]["value"] if points and points[0]["kind"] == "baseline" else None
    if limits.get("max_metric_drop") is not None and base is not None:
        floor = base - limits["max_metric_drop"] / 100
        axes.axhline(floor, color="#c0392b", linestyle="--", linewidth=1,
                     label=f"accuracy gate: {metric} >= {floor:.4f} (drop <= {limits['max_metric_drop']} pt)")  # fmt: skip
    if limits.get("min_speedup") is not None and report.get("speed_baseline") == "target-fp32":
        axes.axvline(limits["min_speedup"], color="#2c7a2c", linestyle="--", linewidth=1,
                     label=f"speed gate: >= {limits['min_speedup']}x")  # fmt: skip
    torch_side = report["final"]["vs_torch_fp32"]
    lo, hi = torch_side["speedup_ci95"]
    note = f"final vs PyTorch eager FP32: {torch_side['speedup']:.2f}x [{lo:.2f}, {hi:.2f}]"
    if limits.get("min_speedup") is not None and report.get("speed_baseline") != "target-fp32":
        note += f" (speed gate >= {limits['min_speedup']}x)"
    axes.set_title(f"{report['recipe']}: accuracy against speedup\n{note}", fontsize=10)
    axes.set_xlabel(f"speedup vs the baseline on {report['runtime']} FP32 (p50 ratio, 95% CI; one interleaved run each)")
    axes.set_ylabel(metric)
    axes.xaxis.set_major_locator(ticker.MaxNLocator(nbins=8))
    axes.xaxis.set_major_formatter(ticker.FormatStrFormatter("%.2gx"))
    axes.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.3f"))
    _pad_limits(axes, points)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    figure.tight_layout()
    save_figure(figure, path, plt)


def plot_search(report: dict[str, Any], path: Path) -> None:
    """report_search.png: every search chain, accuracy against speedup vs PyTorch eager; the kept one starred."""
    plt, ticker = pyplot_modules()
    search, metric = report["search"], report["metric"]
    rows = [row for row in search["candidates"] if row["metric"] is not None]
    figure, axes = plt.subplots(figsize=(8, 4.8), dpi=120)
    for number, row in enumerate(rows, start=1):
        lo, hi = row["speedup_vs_torch_ci95"]
        kept = row["name"] == search["winner"]
        color = COLORS["final"] if kept else (COLORS["step"] if row["passed"] else COLORS["baseline"])
        verdict = "kept" if kept else ("passes" if row["passed"] else "fails a gate")
        axes.errorbar(row["speedup_vs_torch"], row["metric"], xerr=[[row["speedup_vs_torch"] - lo], [hi - row["speedup_vs_torch"]]],
                      fmt="*" if kept else ("o" if row["passed"] else "x"), color=color, capsize=4,
                      markersize=12 if kept else 7, zorder=3,
                      label=f"{number}  {row['name']} ({row['precision']}): {row['speedup_vs_torch']:.2f}x, "
                            f"{row['metric']:.4f}, {verdict}")  # fmt: skip
        axes.annotate(str(number), (row["speedup_vs_torch"], row["metric"]), textcoords="offset points",
                      xytext=(0, 9), ha="center", fontsize=9, fontweight="bold", color=color)  # fmt: skip
    limits = report.get("gate_limits") or {}
    base = report["baseline"]["eval"]["metrics"].get(metric)
    if limits.get("max_metric_drop") is not None and base is not None:
        floor = base - limits["max_metric_drop"] / 100
        axes.axhline(floor, color="#c0392b", linestyle="--", linewidth=1, label=f"accuracy gate: {metric} >= {floor:.4f}")
    if limits.get("min_speedup") is not None and report.get("speed_baseline") != "target-fp32":
        axes.axvline(limits["min_speedup"], color="#2c7a2c", linestyle="--", linewidth=1,
                     label=f"speed gate: >= {limits['min_speedup']}x")  # fmt: skip
    if rows:
        _pad_limits(axes, [{"ci": r["speedup_vs_torch_ci95"], "speedup": r["speedup_vs_torch"], "value": r["metric"]}
                           for r in rows])  # fmt: skip
    axes.set_title(f"{report['recipe']}: the search's chains (kept: {search['winner']})", fontsize=10)
    axes.set_xlabel("speedup vs PyTorch eager FP32 (p50 ratio, 95% CI; each chain's own interleaved run)")
    axes.set_ylabel(metric)
    axes.xaxis.set_major_formatter(ticker.FormatStrFormatter("%.2gx"))
    axes.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.3f"))
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    figure.tight_layout()
    save_figure(figure, path, plt)


def plot_keypoint_drops(report: dict[str, Any], path: Path) -> None:
    """report_keypoints.png: PCK@0.2 change per keypoint (points), losses red, gains green."""
    plt, ticker = pyplot_modules()
    rows = [(name, 100 * (a - b)) for name, b, a in keypoint_changes(report) if a is not None and b is not None]
    figure, axes = plt.subplots(figsize=(7, 0.32 * max(len(rows), 4) + 1.4), dpi=120)
    if rows:
        names, changes = zip(*rows, strict=True)
        positions = range(len(rows))
        axes.barh(positions, changes, color=["#c0392b" if c < 0 else "#2c7a2c" for c in changes], height=0.65)
        axes.set_yticks(list(positions), names, fontsize=8)
        axes.invert_yaxis()
        span = max(0.5, max(abs(c) for c in changes))
        axes.set_xlim(-1.25 * span, 1.25 * span)
        for y, change in zip(positions, changes, strict=True):
            axes.annotate(f"{change:+.2f}", (change, y), textcoords="offset points", fontsize=7, va="center",
                          xytext=(3 if change >= 0 else -3, 0), ha="left" if change >= 0 else "right")  # fmt: skip
    else:
        axes.text(0.5, 0.5, "no per-keypoint PCK in this report", ha="center", va="center", transform=axes.transAxes)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.xaxis.set_major_locator(ticker.MaxNLocator(nbins=8))
    axes.set_xlabel("PCK@0.2 change, final - baseline (points)")
    metric = report["metric"]
    before = report["baseline"]["eval"]["metrics"].get(metric)
    after = report["final"]["eval"]["metrics"].get(metric)
    overall = "" if before is None or after is None else f"; {metric} {before:.4f} -> {after:.4f}"
    axes.set_title(f"{report['recipe']}: per-keypoint change{overall}", fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path, plt)


def _pad_limits(axes: Any, points: list[dict[str, Any]]) -> None:
    """Room around the points (and their CI bars) so labels above them stay inside the axes."""
    xs = [x for p in points for x in (p["ci"] or (p["speedup"], p["speedup"]))]
    ys = [p["value"] for p in points]
    x_span, y_span = max(xs) - min(xs) or 1.0, max(ys) - min(ys) or max(abs(ys[0]) * 0.05, 0.01)
    axes.set_xlim(min(xs) - 0.12 * x_span, max(xs) + 0.12 * x_span)
    y_lo, y_hi = axes.get_ylim()
    axes.set_ylim(min(y_lo, min(ys) - 0.25 * y_span), max(y_hi, max(ys) + 0.35 * y_span))


def pyplot_modules() -> tuple[Any, Any]:
    """(matplotlib.pyplot, matplotlib.ticker) on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker as ticker

    return plt, ticker


def save_figure(figure: Any, path: Path, plt: Any) -> None:
    """Write `figure` as PNG atomically, then close it."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(figure)
