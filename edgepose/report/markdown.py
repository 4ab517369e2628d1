"""report.md and the terminal summary, from the report dict alone."""

from __future__ import annotations

from typing import Any

TEMPORAL_ROWS = (("jitter (box diag / frame^2)", "jitter"), ("accel error (box diag / frame^2)", "accel_error"))
ROWS = (("OKS AP", "oks_ap", 4), ("PCK@0.2", "pck@0.2", 4), ("PCK@0.1", "pck@0.1", 4), ("MPJPE (px)", "mpjpe_px", 2))


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, baseline, final) rows shared by the terminal table and report.md."""
    base, final = report["baseline"], report["final"]
    torch_side = final["vs_torch_fp32"]
    rows = []
    for label, key, digits in ROWS:
        b, f = base["eval"]["metrics"].get(key), final["eval"]["metrics"].get(key)
        if b is not None or f is not None:
            rows.append((label, _fmt(b, digits), _fmt(f, digits)))
    b_t, f_t = base["eval"]["metrics"].get("temporal") or {}, final["eval"]["metrics"].get("temporal") or {}
    for label, key in TEMPORAL_ROWS:  # clip data: jitter and acceleration error (edgepose.metrics.temporal)
        if b_t.get(key) is not None or f_t.get(key) is not None:
            rows.append((label, _fmt(b_t.get(key), 5), _fmt(f_t.get(key), 5)))
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
    """report.md: summary table, speedups, steps, per-keypoint change, gates, pictures."""
    lines = [f"# edgepose optimize: {report['recipe']} -> {report['target']}", "",
             f"Metric: `{report['metric']}`. Run folder: `{report['run_dir']}`. Verdict: **{report['verdict']}**.", "",
             "| | baseline | final |", "|---|---:|---:|"]  # fmt: skip
    lines += [f"| {what} | {b} | {f} |" for what, b, f in summary_rows(report)]
    lines += ["", "Baseline and final latency: one interleaved run (`final.vs_torch_fp32`).", ""]
    lines += [*[f"- {line}" for line in speedup_lines(report)], "", "## Steps", "",
              "Each step's speedup is measured against the baseline on the target runtime, interleaved in that "
              "step's own run; the final artifact's in the final stage's.", "",
              f"| step | pass | {report['metric']} | speedup vs baseline on {report['runtime']} (95% CI) | GFLOPs | seconds |",
              "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for stage in report["stages"]:
        value = stage["eval"]["metrics"].get(report["metric"])
        versus = stage["vs_baseline_on_target"]
        lo, hi = versus["speedup_ci95"]
        lines.append(f"| {stage['index']} | {stage['pass']} | {_fmt(value, 4)} | {versus['speedup']:.2f}x "
                     f"[{lo:.2f}, {hi:.2f}] | {_fmt(stage['gflops'], 3)} | {stage['seconds']} |")  # fmt: skip
    for decision in report.get("decisions", []):
        lines.append(f"| {decision['step']} | {decision['pass']} (keep: auto) | | {decision['reason']} | | |")
    lines += ["", "## Per keypoint", "", _keypoint_table(report), "", "## Gates", "",
              "| gate | limit | value | verdict | what |", "|---|---:|---:|---|---|"]  # fmt: skip
    lines += [f"| {g['name']} | {g['limit']} | {g['value']} | {g['verdict']} | {g['what']} |" for g in report["gates"]]
    if report.get("search"):
        lines += ["", *search_lines(report)]
    pictures = report.get("pictures", {})
    lines += ["", f"![accuracy against speedup]({pictures.get('accuracy_speed', 'report.png')})", "",
              f"![per-keypoint change]({pictures.get('keypoints', 'report_keypoints.png')})", ""]  # fmt: skip
    if "search" in pictures:
        lines += [f"![search candidates]({pictures['search']})", ""]
    if "overlays" in pictures:
        lines += [f"![the people the final model moved most (baseline grey, final red)]({pictures['overlays']})", ""]
    return "\n".join(lines)


def search_lines(report: dict[str, Any]) -> list[str]:
    """The search section: every candidate chain, its accuracy, speed and gates; the winner against the reference."""
    search, metric = report["search"], report["metric"]
    lines = ["## Search", "", f"Every candidate after every pruning prefix; kept: **{search['winner']}** (the fastest "
             "among those that pass every gate: by speedup against PyTorch eager, then timed against the other "
             "fastest chains, interleaved).", "",
             f"| chain | target / precision | {metric} | speedup vs torch eager (95% CI) | p50 (ms) | GFLOPs | gates |",
             "|---|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for row in search["candidates"]:
        lo, hi = row["speedup_vs_torch_ci95"]
        gates = ", ".join(f"{name} {verdict}" for name, verdict in row["gates"].items()) or "-"
        name = f"**{row['name']}**" if row["name"] == search["winner"] else row["name"]
        lines.append(f"| {name} | {row['target']} / {row['precision']} | {_fmt(row['metric'], 4)} | "
                     f"{row['speedup_vs_torch']:.2f}x [{lo:.2f}, {hi:.2f}] | {_fmt(row['p50_ms'], 2)} | "
                     f"{_fmt(row['gflops'], 3)} | {gates} |")  # fmt: skip
    lines += [f"| {row['name']} | skipped: {row['reason']} | | | | | |" for row in search.get("skipped", [])]
    for pair in search.get("tiebreak", []):
        lo, hi = pair["speedup_ci95"]
        lines += ["", f"Tie-break, interleaved in one run: {pair['contender']} against {pair['leader']}: "
                  f"{pair['speedup']:.2f}x (95% CI {lo:.2f}-{hi:.2f}; p50 {pair['a_p50_ms']:.2f} -> "
                  f"{pair['b_p50_ms']:.2f} ms); kept {pair['kept']}."]  # fmt: skip
    versus = search.get("vs_reference")
    if versus and "speedup" in versus:
        lo, hi = versus["speedup_ci95"]
        lines += ["", f"{versus['winner']} against the reference {versus['reference']}, interleaved in one run: "
                  f"{versus['speedup']:.2f}x (95% CI {lo:.2f}-{hi:.2f}; p50 {versus['reference_p50_ms']:.2f} -> "
                  f"{versus['winner_p50_ms']:.2f} ms)."]  # fmt: skip
    elif versus:
        lines += ["", f"The reference {versus['reference']} is the winner itself."]
    return [*lines, ""]


def keypoint_changes(report: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """(keypoint, baseline PCK@0.2, final PCK@0.2) for every keypoint of the schema."""
    before = report["baseline"]["eval"]["metrics"].get("per_keypoint", {})
    after = report["final"]["eval"]["metrics"].get("per_keypoint", {})
    return [(name, (before.get(name) or {}).get("pck@0.2"), (after.get(name) or {}).get("pck@0.2")) for name in before]


def _keypoint_table(report: dict[str, Any]) -> str:
    rows = ["| keypoint | PCK@0.2 baseline | final | change (points) |", "|---|---:|---:|---:|"]
    for name, b, a in keypoint_changes(report):
        change = "-" if a is None or b is None else f"{100 * (a - b):+.2f}"
        rows.append(f"| {name} | {_fmt(b, 4)} | {_fmt(a, 4)} | {change} |")
    return "\n".join(rows)


def _fmt(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _m(value: Any) -> float | None:
    return None if value is None else value / 1e6
