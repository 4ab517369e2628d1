"""Turn `edgepose bench compare --json` output into what a person reads: the CI job summary, the PR
comment, and one entry of main's latency history (benchmarks/plot_history.py draws those).

    python benchmarks/summarize_gate.py summary latency-gate.json --baseline "main @ 1a2b3c4" --candidate "PR #7"
    python benchmarks/summarize_gate.py missing "main's model-onnx artifact expired on 2026-02-01"
    python benchmarks/summarize_gate.py entry --gate latency-gate.json --commit SHA --timestamp ISO -o entry.json
    python benchmarks/summarize_gate.py entry --bench bench.json --commit SHA --timestamp ISO -o entry.json

Markdown goes to stdout (append it to $GITHUB_STEP_SUMMARY); exit 0, or 2 on a bad input file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MARKER = "<!-- edgepose-latency-gate -->"  # lets the workflow find and update its own PR comment
HEADLINE = {"pass": "✅ PASS", "fail": "❌ FAIL", "inconclusive": "⚠️ INCONCLUSIVE"}
MEANING = {
    "pass": "The candidate is not slower than the limit, with 95% confidence: all of the interval is below it.",
    "fail": "The candidate is slower than the limit, with 95% confidence: all of the interval is above it.",
    "inconclusive": "Too noisy to tell within the time budget: the interval straddles the limit, so this run "
                    "can say neither pass nor fail. Re-run the job, or run `edgepose bench compare` on a quiet "
                    "machine; a real regression close to the limit also looks like this.",
}  # fmt: skip
GATE_KEYS = ("ratio_p50", "ci95", "a", "b", "verdict", "threshold")


class BadInput(Exception):
    """A file that is not what the command expects (exit 2)."""


def load_json(path: str | Path, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(f"cannot read {path}: {exc}") from None
    missing = [k for k in keys if not isinstance(data, dict) or k not in data]
    if missing:
        raise BadInput(f"{path} is not `edgepose bench compare --json` output: no {', '.join(missing)}")
    return data


def _ms(side: dict[str, Any], key: str) -> str:
    value = side.get("latency_ms", {}).get(key)
    return "-" if value is None else f"{value:.2f}"


def summary_markdown(data: dict[str, Any], baseline: str = "baseline", candidate: str = "candidate",
                     plot_url: str | None = None, run_url: str | None = None) -> str:  # fmt: skip
    """The job summary / PR comment for one gate run: verdict, both medians, the ratio and its interval."""
    verdict = data["verdict"]
    lo, hi = data["ci95"]
    limit = data.get("limit", 1 + data["threshold"])
    a, b = data["a"], data["b"]
    lines = [
        MARKER,
        f"### Latency gate: {HEADLINE.get(verdict, verdict.upper())}",
        "",
        f"**p50 ratio candidate / baseline = {data['ratio_p50']:.3f}** (95% CI {lo:.3f} to {hi:.3f}); "
        f"limit {limit:.3f} (`--fail-if-slower {100 * data['threshold']:g}%`).",
        "",
        MEANING.get(verdict, ""),
        "",
        "| | model | runtime | threads | p50 ms | p90 ms | mean ms |",
        "|---|---|---|---|---|---|---|",
        f"| A: {baseline} | `{Path(str(a.get('model', '-'))).name}` | {a.get('runtime', '-')} | {a.get('threads', '-')} | "
        f"{_ms(a, 'p50')} | {_ms(a, 'p90')} | {_ms(a, 'mean')} |",
        f"| B: {candidate} | `{Path(str(b.get('model', '-'))).name}` | {b.get('runtime', '-')} | {b.get('threads', '-')} | "
        f"{_ms(b, 'p50')} | {_ms(b, 'p90')} | {_ms(b, 'mean')} |",
        "",
        "The milliseconds are this runner's and move with its load; the ratio and its interval are what the "
        "gate decides on (A and B timed in alternating blocks in one process).",
    ]
    design = data.get("design", {})
    env = b.get("env", {})
    details = (
        f"{data.get('blocks', '?')} blocks of {design.get('block_iters', '?')} runs per model in "
        f"{str(design.get('order', '?')).upper()} order ({data.get('units', '?')} cycles), {data.get('looks', 1)} "
        f"look(s), {data.get('seconds', 0):.0f} s of timing (budget {data.get('max_seconds', '?')} s), interval: "
        f"{data.get('ci_method', 't')}; {env.get('cpu', '?')}, {env.get('cores_available', '?')} cores, "
        f"onnxruntime {env.get('onnxruntime', '?')}, openvino {env.get('openvino', '?')}."
    )
    lines += ["", f"<details><summary>How it was measured</summary>\n\n{details}\n\n</details>"]
    if plot_url:
        lines += ["", f"Latency of main over commits: ![latency history]({plot_url})"]
    if run_url:
        lines += ["", f"[Workflow run]({run_url})"]
    return "\n".join(lines) + "\n"


def missing_markdown(reason: str, run_url: str | None = None) -> str:
    """The notice when there is no baseline to compare with (the gate did not run)."""
    lines = [
        MARKER,
        "### Latency gate: ⚪ NOT RUN: no baseline",
        "",
        f"{reason}",
        "",
        "The baseline is the `model-onnx` artifact of main's latest run of this workflow; artifacts expire "
        "(retention-days in the workflow). Re-run the workflow on main (Actions > latency-gate > Run workflow, "
        "or push to main) to make a fresh one; this check passes without comparing until then.",
    ]
    if run_url:
        lines += ["", f"[Workflow run]({run_url})"]
    return "\n".join(lines) + "\n"


def history_entry(commit: str, timestamp: str, gate: dict[str, Any] | None = None, bench: dict[str, Any] | None = None,
                  run_url: str | None = None) -> dict[str, Any]:  # fmt: skip
    """One commit of main: its model's latency (B of the gate, or a plain bench) and its ratio to the previous main."""
    if gate is None and bench is None:
        raise BadInput("a history entry needs --gate or --bench")
    side = gate["b"] if gate is not None else bench
    assert side is not None
    entry: dict[str, Any] = {
        "commit": commit, "timestamp": timestamp, "run_url": run_url,
        "p50_ms": side["latency_ms"]["p50"], "p90_ms": side["latency_ms"]["p90"],
        "runtime": side.get("runtime"), "threads": side.get("threads"), "cpu": side.get("env", {}).get("cpu"),
        "ratio_p50": None, "ci95": None, "verdict": None, "limit": None,
    }  # fmt: skip
    if gate is not None:
        entry.update(ratio_p50=gate["ratio_p50"], ci95=gate["ci95"], verdict=gate["verdict"],
                     limit=gate.get("limit", 1 + gate["threshold"]), baseline_p50_ms=gate["a"]["latency_ms"]["p50"])  # fmt: skip
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="markdown for a gate run")
    s.add_argument("gate_json")
    s.add_argument("--baseline", default="baseline")
    s.add_argument("--candidate", default="candidate")
    s.add_argument("--plot-url")
    s.add_argument("--run-url")
    m = sub.add_parser("missing", help="markdown for a run without a baseline")
    m.add_argument("reason")
    m.add_argument("--run-url")
    e = sub.add_parser("entry", help="one history entry as JSON")
    e.add_argument("--gate")
    e.add_argument("--bench")
    e.add_argument("--commit", required=True)
    e.add_argument("--timestamp", required=True)
    e.add_argument("--run-url")
    e.add_argument("-o", "--out", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "summary":
            sys.stdout.write(summary_markdown(load_json(args.gate_json, GATE_KEYS), args.baseline, args.candidate,
                                              args.plot_url, args.run_url))  # fmt: skip
        elif args.command == "missing":
            sys.stdout.write(missing_markdown(args.reason, args.run_url))
        else:
            gate = load_json(args.gate, GATE_KEYS) if args.gate else None
            bench = load_json(args.bench, ("latency_ms",)) if args.bench else None
            from edgepose.fileio import write_json

            write_json(args.out, history_entry(args.commit, args.timestamp, gate, bench, args.run_url))
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
