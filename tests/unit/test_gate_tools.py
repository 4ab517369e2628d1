"""The gate's reporting scripts in benchmarks/: the job summary / PR comment, main's history and its plot,
and the calibration summary. All on made-up JSON (the shape `edgepose bench compare --json` writes)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"edgepose_benchmarks_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def summarize() -> ModuleType:
    return script("summarize_gate")


@pytest.fixture(scope="module")
def plot() -> ModuleType:
    return script("plot_history")


@pytest.fixture(scope="module")
def calibrate() -> ModuleType:
    return script("calibrate_gate")


def side(p50: float, model: str) -> dict[str, Any]:
    return {"latency_ms": {"mean": p50 * 1.02, "p50": p50, "p90": p50 * 1.1, "p99": p50 * 1.3, "min": p50 * 0.9,
                           "max": p50 * 1.5, "std": 0.1},
            "model": model, "runtime": "onnxruntime", "threads": 1,
            "env": {"cpu": "AMD EPYC", "cores_available": 2, "onnxruntime": "1.32.0", "openvino": "2026.4.1"}}  # fmt: skip


def gate_json(verdict: str, ratio: float, ci: tuple[float, float]) -> dict[str, Any]:
    return {"ratio_p50": ratio, "ci95": list(ci), "verdict": verdict, "threshold": 0.05, "limit": 1.05,
            "a": side(10.0, "/w/baseline.onnx"), "b": side(10.0 * ratio, "/w/candidate.onnx"), "blocks": 68,
            "units": 34, "looks": 2, "seconds": 41.3, "max_seconds": 300, "ci_method": "t",
            "design": {"order": "abba", "block_iters": 3}}  # fmt: skip


@pytest.mark.parametrize(("verdict", "ratio", "ci", "headline", "says"), [
    ("pass", 0.99, (0.97, 1.01), "✅ PASS", "not slower than the limit"),
    ("fail", 1.21, (1.15, 1.27), "❌ FAIL", "slower than the limit, with 95% confidence"),
    ("inconclusive", 1.04, (0.99, 1.09), "⚠️ INCONCLUSIVE", "Too noisy to tell"),
])  # fmt: skip
def test_summary_shows_the_verdict_both_medians_and_the_interval(
    summarize: ModuleType, verdict: str, ratio: float, ci: tuple[float, float], headline: str, says: str
) -> None:
    text = summarize.summary_markdown(gate_json(verdict, ratio, ci), "main @ 1a2b3c4", "PR #7 @ 9f8e7d6",
                                      plot_url="https://example.org/latency.png")  # fmt: skip
    assert text.startswith(summarize.MARKER) and f"### Latency gate: {headline}" in text and says in text
    assert f"**p50 ratio candidate / baseline = {ratio:.3f}** (95% CI {ci[0]:.3f} to {ci[1]:.3f}); limit 1.050" in text
    rows = [line for line in text.splitlines() if line.startswith("| A:") or line.startswith("| B:")]
    assert rows[0].startswith("| A: main @ 1a2b3c4 | `baseline.onnx` | onnxruntime | 1 | 10.00 | 11.00 |")
    assert f"| {10 * ratio:.2f} |" in rows[1] and "PR #7" in rows[1]
    assert "68 blocks of 3 runs per model in ABBA order (34 cycles), 2 look(s), 41 s" in text
    assert "![latency history](https://example.org/latency.png)" in text


def test_missing_baseline_notice(summarize: ModuleType) -> None:
    text = summarize.missing_markdown("main's model-onnx artifact of run 42 has expired", run_url="https://x/runs/1")
    assert "NOT RUN: no baseline" in text and "run 42 has expired" in text and "retention-days" in text
    assert text.startswith(summarize.MARKER) and "[Workflow run](https://x/runs/1)" in text


def test_cli_writes_markdown_and_history_entries(
    summarize: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = tmp_path / "latency-gate.json"
    gate.write_text(json.dumps(gate_json("fail", 1.21, (1.15, 1.27))))
    assert summarize.main(["summary", str(gate), "--baseline", "main"]) == 0
    assert "❌ FAIL" in capsys.readouterr().out
    out = tmp_path / "h" / "e.json"
    assert summarize.main(["entry", "--gate", str(gate), "--commit", "abc1234", "--timestamp", "2026-01-02T03:04:05Z",
                           "-o", str(out)]) == 0  # fmt: skip
    entry = json.loads(out.read_text())
    assert (entry["commit"], entry["ratio_p50"], entry["ci95"], entry["verdict"], entry["limit"]) == (
        "abc1234", 1.21, [1.15, 1.27], "fail", 1.05)
    assert entry["p50_ms"] == pytest.approx(12.1) and entry["baseline_p50_ms"] == 10.0
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(side(8.0, "m.onnx")))
    assert summarize.main(["entry", "--bench", str(bench), "--commit", "c", "--timestamp", "t", "-o", str(out)]) == 0
    entry = json.loads(out.read_text())
    assert entry["p50_ms"] == 8.0 and entry["ratio_p50"] is None and entry["verdict"] is None


def test_cli_bad_input_exits_2(summarize: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "x.json"
    broken.write_text('{"ratio_p50": 1.0}')
    assert summarize.main(["summary", str(broken)]) == 2
    assert "not `edgepose bench compare --json` output" in capsys.readouterr().err
    assert summarize.main(["summary", str(tmp_path / "absent.json")]) == 2


def fake_history(folder: Path, n: int = 14) -> None:
    verdicts = ["pass", "pass", "inconclusive", "fail", None]
    for i in range(n):
        v = verdicts[i % len(verdicts)]
        ratio = {"pass": 0.99, "inconclusive": 1.04, "fail": 1.12, None: None}[v]
        entry = {"commit": f"{i:07x}deadbeef", "timestamp": f"2026-01-{i + 1:02d}T12:00:00Z", "p50_ms": 10 + 0.3 * i,
                 "p90_ms": 11 + 0.3 * i, "ratio_p50": ratio, "ci95": None if v is None else [ratio - 0.03, ratio + 0.03],
                 "verdict": v, "limit": None if v is None else 1.05}  # fmt: skip
        (folder / f"2026-01-{i + 1:02d}-{i:07x}.json").write_text(json.dumps(entry))


def test_history_loads_oldest_first_and_plots(plot: ModuleType, tmp_path: Path) -> None:
    import matplotlib.image

    fake_history(tmp_path)
    (tmp_path / "notes.txt").write_text("not an entry")
    entries = plot.load_history(tmp_path)
    assert [e["timestamp"] for e in entries] == sorted(e["timestamp"] for e in entries) and len(entries) == 14
    assert len(plot.load_history(tmp_path, last=5)) == 5 and plot.load_history(tmp_path, last=5)[-1] == entries[-1]
    out = plot.plot_history(entries, tmp_path / "out" / "latency.png")
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 400 and image.shape[1] > 600
    assert not list((tmp_path / "out").glob(".*"))  # written atomically: no temporary file left
    assert plot.main([str(tmp_path), "-o", str(tmp_path / "cli.png")]) == 0 and (tmp_path / "cli.png").exists()


def test_history_errors_exit_2(plot: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plot.main([str(tmp_path)]) == 2 and "no history entries" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"commit": "x"}')
    assert plot.main([str(tmp_path)]) == 2 and "no timestamp, p50_ms" in capsys.readouterr().err


# ---- calibration summary --------------------------------------------------------------------------


def runs(scenario: str, truth: float, verdicts: list[str], ci: tuple[float, float]) -> list[dict[str, Any]]:
    return [{"scenario": scenario, "true_ratio": truth, "verdict": v, "ratio": sum(ci) / 2, "ci95": list(ci),
             "seconds": 10.0} for v in verdicts]  # fmt: skip


def test_calibration_summary_rates_and_requirements(calibrate: ModuleType) -> None:
    records = (runs("B 20% slower", 1.18, ["fail"] * 7 + ["inconclusive"] * 3, (1.1, 1.25))
               + runs("A vs A", 1.0, ["pass"] * 18 + ["fail"] * 2, (0.97, 1.03))
               + runs("B 50% slower", 1.45, ["fail"] * 10, (1.3, 1.4)))  # fmt: skip
    summary = calibrate.summarize(records)
    assert list(summary) == ["A vs A", "B 20% slower", "B 50% slower"]
    null = summary["A vs A"]
    assert (null["fail"]["k"], null["fail"]["n"], null["fail"]["rate"]) == (2, 20, 0.1)
    assert null["fail"]["ci95"][0] < 0.1 < null["fail"]["ci95"][1] and null["covers"]["rate"] == 1.0
    checks = {(name, c["what"]): c["met"] for name, e in summary.items() for c in e["checks"]}
    assert checks == {("A vs A", "false alarms"): False, ("A vs A", "CI covers 1.0"): True,
                      ("B 20% slower", "detected"): False, ("B 50% slower", "detected"): True}  # fmt: skip
    assert summary["B 50% slower"]["covers"]["rate"] == 0.0  # [1.3, 1.4] misses the true 1.45
    config = {"threshold": "5%", "iters": 200, "block_iters": 3, "max_seconds": 120.0, "ci": "t", "threads": 1,
              "load_procs": 2, "load_pattern": "bursty"}  # fmt: skip
    table = calibrate.markdown_table(summary, config, {"arch": "simplebaseline-lite", "base_size": "128x96",
                                                       "runtime": "onnxruntime"})  # fmt: skip
    assert "| A vs A | 1.000 | 20 | 2/20 = 10% (" in table and "false alarms <= 5%: **NOT met**" in table
    assert "| B 50% slower | 1.450 | 10 | 10/10 = 100% (" in table and "detected >= 95%: met" in table


def test_scaled_sizes_follow_the_area(calibrate: ModuleType) -> None:
    h, w = calibrate.scaled_size((128, 96), 1.5)
    assert (h % 4, w % 4) == (0, 0) and h * w / (128 * 96) == pytest.approx(1.5, rel=0.05)
    assert calibrate.scaled_size((128, 96), 1.0) == (128, 96)
