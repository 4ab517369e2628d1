"""The optimize report: report.json (DESIGN.md keys: baseline, stages[], final, gates), report.md, report.png."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.fileio import write_json, write_text

if TYPE_CHECKING:
    from edgepose.recipe import Recipe

SCHEMA_VERSION = 1
ROWS = (("OKS AP", "oks_ap", 4), ("PCK@0.2", "pck@0.2", 4), ("PCK@0.1", "pck@0.1", 4), ("MPJPE (px)", "mpjpe_px", 2))


def build_report(
    recipe: Recipe, metric: str, baseline: dict[str, Any], stages: list[dict[str, Any]], final: dict[str, Any],
    gates: list[dict[str, Any]], run_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    """The report dict: what ran, every step's accuracy and latency, the final artifact and the gates."""
    from edgepose.version import __version__

    return {
        "schema_version": SCHEMA_VERSION, "edgepose_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "recipe": recipe.name, "target": recipe.target, "runtime": recipe.runtime, "metric": metric,
        "run_dir": str(run_dir), "baseline": baseline, "stages": stages, "final": final, "gates": gates,
        "verdict": "fail" if any(g["verdict"] == "fail" for g in gates) else "pass",
    }  # fmt: skip


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, baseline, final) rows shared by the terminal table and report.md."""
    base, final = report["baseline"], report["final"]
    torch_side = final["vs_torch_fp32"]
    rows = []
    for label, key, digits in ROWS:
        b, f = base["eval"]["metrics"].get(key), final["eval"]["metrics"].get(key)
        if b is not None or f is not None:
            rows.append((label, _fmt(b, digits), _fmt(f, digits)))
    a_lat, b_lat = torch_side["a"]["latency_ms"], torch_side["b"]["latency_ms"]
    rows += [
        ("runtime / precision", f"torch / {base['precision']}", f"{final['runtime']} / {final['precision']}"),
        ("latency p50 (ms)", _fmt(a_lat["p50"], 2), _fmt(b_lat["p50"], 2)),
        ("latency p90 (ms)", _fmt(a_lat["p90"], 2), _fmt(b_lat["p90"], 2)),
        ("FPS (batch 1)", _fmt(torch_side["a"]["fps"], 1), _fmt(torch_side["b"]["fps"], 1)),
        ("size (MB)", _fmt(base["bench"]["size_mb"], 2), _fmt(torch_side["b"]["size_mb"], 2)),
        ("params (M)", _fmt(_m(base["bench"]["params"]), 3), _fmt(_m(torch_side["b"]["params"]), 3)),
        ("GFLOPs", _fmt(base["bench"]["gflops"], 3), _fmt(torch_side["b"]["gflops"], 3)),
    ]  # fmt: skip
    return rows


def speedup_lines(report: dict[str, Any]) -> list[str]:
    final = report["final"]
    lines = []
    for key, label in (("vs_torch_fp32", "PyTorch eager FP32"), ("vs_target_fp32", f"{final['runtime']} FP32")):
        side = final[key]
        lo, hi = side["speedup_ci95"]
        lines.append(f"{side['speedup']:.2f}x faster than {label} (p50, 95% CI {lo:.2f}-{hi:.2f}, "
                     f"{side['iters']} interleaved iterations)")  # fmt: skip
    return lines


def markdown(report: dict[str, Any]) -> str:
    """report.md: summary table, speedups, steps, gates."""
    lines = [f"# edgepose optimize: {report['recipe']} -> {report['target']}", "",
             f"Metric: `{report['metric']}`. Run folder: `{report['run_dir']}`. Verdict: **{report['verdict']}**.", "",
             "| | baseline | final |", "|---|---:|---:|"]  # fmt: skip
    lines += [f"| {what} | {b} | {f} |" for what, b, f in summary_rows(report)]
    lines += ["", *[f"- {line}" for line in speedup_lines(report)], "", "## Steps", "",
              f"| step | pass | {report['metric']} | p50 ms ({report['runtime']}) | speedup vs baseline on target | GFLOPs | seconds |",
              "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for stage in report["stages"]:
        value = stage["eval"]["metrics"].get(report["metric"])
        versus = stage["vs_baseline_on_target"]
        lines.append(f"| {stage['index']} | {stage['pass']} | {_fmt(value, 4)} | {_fmt(stage['bench']['latency_ms']['p50'], 2)} "
                     f"| {versus['speedup']:.2f}x | {_fmt(stage['gflops'], 3)} | {stage['seconds']} |")  # fmt: skip
    lines += ["", "## Gates", "", "| gate | limit | value | verdict | what |", "|---|---:|---:|---|---|"]
    lines += [f"| {g['name']} | {g['limit']} | {g['value']} | {g['verdict']} | {g['what']} |" for g in report["gates"]]
    lines += ["", "![accuracy against latency](report.png)", ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], run_dir: Path) -> None:
    write_json(run_dir / "report.json", report)
    write_text(run_dir / "report.md", markdown(report))
    plot(report, run_dir / "report.png")


def plot(report: dict[str, Any], path: Path) -> None:
    """Accuracy against p50 latency for the baseline, every step and the final artifact (atomic write)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgepose.fileio import atomic_path

    metric = report["metric"]
    final = report["final"]
    points = [("baseline (torch fp32)", final["vs_torch_fp32"]["a"]["latency_ms"]["p50"], report["baseline"]["eval"]["metrics"].get(metric)),
              (f"baseline ({report['runtime']} fp32)", final["vs_target_fp32"]["a"]["latency_ms"]["p50"], report["baseline"]["eval"]["metrics"].get(metric))]  # fmt: skip
    points += [(f"{s['index']}: {s['pass']}", s["bench"]["latency_ms"]["p50"], s["eval"]["metrics"].get(metric)) for s in report["stages"]]
    points.append((f"final ({final['precision']})", final["vs_torch_fp32"]["b"]["latency_ms"]["p50"], final["eval"]["metrics"].get(metric)))
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    xs = [p[1] for p in points if p[2] is not None]
    ys = [p[2] for p in points if p[2] is not None]
    colors = ["#888888", "#888888", *["#3b6ea8"] * (len(points) - 3), "#c0392b"]
    axes.scatter(xs, ys, c=[c for c, p in zip(colors, points, strict=True) if p[2] is not None], s=40, zorder=3)
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    for label, x, y in points:
        if y is not None:
            axes.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    axes.set_xlabel("p50 latency (ms, batch 1)")
    axes.set_ylabel(metric)
    axes.set_title(f"{report['recipe']}: accuracy against latency per step")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)


def _fmt(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _m(value: Any) -> float | None:
    return None if value is None else value / 1e6
