"""benchmarks/run.py (the latency suite) and the latency-gate workflow example.

The suite's validation is tested on bad files (exit 2, one line); one tiny suite (a quarter-width
SimpleBaseline at 64x64, torch + onnxruntime, 3 iterations) runs for real and its JSON is checked for
the keys scripts read; the baseline comparison and its exit code are tested on made-up results.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from edgepose.bench.latency import STAT_KEYS
from tests.bench_checks import fps_matches_mean
from tests.conftest import TINY_ZOO_ARCH, TINY_ZOO_KWARGS

ROOT = Path(__file__).resolve().parents[2]
RUN_PY = ROOT / "benchmarks" / "run.py"
BASELINE = ROOT / "benchmarks" / "baselines" / "cpu-2core-epyc.json"
WORKFLOW = ROOT / ".github" / "workflows" / "latency-gate.yml"
TINY_SUITE = {
    "name": "tiny", "warmup": 1, "iters": 3, "threads": 1, "batches": [1], "runtimes": ["torch", "onnxruntime"],
    "models": [{"arch": TINY_ZOO_ARCH, "input_size": "64x64", "kwargs": dict(TINY_ZOO_KWARGS)}],
}  # fmt: skip


@pytest.fixture(scope="module")
def run() -> ModuleType:
    """benchmarks/run.py imported as a module (it is a script outside the package)."""
    spec = importlib.util.spec_from_file_location("edgepose_bench_run", RUN_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def write_suite(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


# ---- validation: exit 2, one line ----------------------------------------------------------------


def test_unknown_key_is_one_line_and_exit_2_from_the_command_line(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "bad.yaml", {**TINY_SUITE, "iter": 3})
    result = subprocess.run([sys.executable, str(RUN_PY), "--suite", str(suite), "--out", str(tmp_path / "r.json")],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "unknown key 'iter'" in lines[0] and "did you mean 'iters'" in lines[0] and str(suite) in lines[0]
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"models": [{"arch": TINY_ZOO_ARCH, "batchs": [1]}]}, "unknown key 'models.0.batchs' (did you mean 'batches'?)"),
        ({"models": [{"arch": TINY_ZOO_ARCH, "input_size": "64by64"}]}, "models.0.input_size: Value error, input_size '64by64'"),
        ({"batches": [0]}, "batches: Value error, batches must be a non-empty list"),
        ({"models": []}, "models: List should have at least 1 item"),
        ({"models": [{"input_size": "64x64"}]}, "missing key 'models.0.arch'"),
        ({"models": [{"arch": "simplebaseline-lightt"}]}, "unknown architecture 'simplebaseline-lightt' (did you mean 'simplebaseline-lite'?)"),
        ({"runtimes": ["onnxruntim"]}, "unknown runtime 'onnxruntim' (did you mean 'onnxruntime'?)"),
        ({"models": [{"arch": TINY_ZOO_ARCH}, {"arch": TINY_ZOO_ARCH}]}, "model 'simplebaseline-lite' appears twice"),
    ],
)  # fmt: skip
def test_bad_suites_exit_2_with_one_line(
    run: ModuleType, tmp_path: Path, capsys, change: dict, message: str
) -> None:  # noqa: ANN001
    suite = write_suite(tmp_path / "bad.yaml", {**TINY_SUITE, **change})
    assert run.main(["--suite", str(suite), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_command_line_values_are_validated_too(run: ModuleType, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    suite = write_suite(tmp_path / "ok.yaml", TINY_SUITE)
    assert run.main(["--suite", str(suite), "--iters", "0"]) == 2
    assert "command line: iters: Input should be greater than or equal to 1" in capsys.readouterr().err
    assert run.main(["--suite", str(suite), "--fail-if-slower", "5%"]) == 2
    assert "--fail-if-slower needs --compare-to" in capsys.readouterr().err
    assert run.main(["--suite", str(suite), "--only", "resnet50"]) == 2
    assert "no entry of" in capsys.readouterr().err


def test_the_shipped_suite_is_valid_and_lists_its_entries(run: ModuleType, capsys) -> None:  # noqa: ANN001
    assert run.main(["--list"]) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) == 15 and len(set(ids)) == 15
    assert "simplebaseline-resnet50@256x192/openvino/b1" in ids
    assert "simplebaseline-resnet50@256x192/torch/b4" not in ids  # its batches override the suite's
    assert {i.split("/")[1] for i in ids} == {"torch", "onnxruntime", "openvino"}
    assert run.main(["--list", "--only", "deeppose*/b4"]) == 0
    assert capsys.readouterr().out.split() == [
        f"deeppose-alexnet@220x220/{r}/b4" for r in ("torch", "onnxruntime", "openvino")
    ]


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [(None, True), (["onnxruntime"], True), (["openvino"], False), (["*/b1"], True), (["lite*/torch/*"], False),
     (["simplebaseline-lite@64x64/onnxruntime/b1"], True), (["torch", "b1"], True)],
)  # fmt: skip
def test_only_patterns(run: ModuleType, patterns: list[str] | None, expected: bool) -> None:
    assert run.selected("simplebaseline-lite@64x64/onnxruntime/b1", patterns) is expected


# ---- a tiny suite, for real ----------------------------------------------------------------------


def test_tiny_suite_writes_one_results_json(run: ModuleType, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    suite = write_suite(tmp_path / "tiny.yaml", TINY_SUITE)
    out = tmp_path / "results" / "tiny.json"
    code = run.main(["--suite", str(suite), "--out", str(out), "--no-progress", "--label", "test-box",
                     "--note", "unit test"])  # fmt: skip
    assert code == 0
    assert [p.name for p in out.parent.iterdir()] == ["tiny.json"]  # written atomically: no temp file left
    doc = json.loads(out.read_text())
    assert {"format", "schema_version", "created", "suite", "env", "duration_s", "summary", "results"} <= set(
        doc
    )
    assert doc["format"] == "edgepose-bench-suite" and doc["schema_version"] == 1
    assert doc["suite"] | {"file": None} == {"name": "tiny", "file": None, "description": "", "warmup": 1, "iters": 3,
                                             "threads": 1, "only": None}  # fmt: skip
    env = doc["env"]
    assert {
        "cpu",
        "cores_available",
        "torch",
        "onnxruntime",
        "openvino",
        "python",
        "load_avg_1_5_15_start",
    } <= set(env)
    assert (env["label"], env["note"]) == ("test-box", "unit test")
    assert doc["summary"] == {"ok": 2, "skipped": 0, "error": 0}
    ids = [e["id"] for e in doc["results"]]
    assert ids == ["simplebaseline-lite@64x64/torch/b1", "simplebaseline-lite@64x64/onnxruntime/b1"]
    for entry in doc["results"]:
        assert set(run.ENTRY_KEYS) <= set(entry) and entry["status"] == "ok"
        assert list(entry["latency_ms"]) == list(STAT_KEYS) and entry["latency_ms"]["p50"] > 0
        assert (entry["batch"], entry["iters"], entry["warmup"], entry["threads"]) == (1, 3, 1, 1)
        assert entry["params"] > 100_000 and entry["gflops"] > 0 and entry["precision"] == "fp32"
        assert fps_matches_mean(entry["fps"], entry["latency_ms"]["mean"])
    sizes = {e["runtime"]: e["size_mb"] for e in doc["results"]}
    assert sizes["torch"] is None and sizes["onnxruntime"] > 1  # the exported file's size
    printed = capsys.readouterr()
    assert "simplebaseline-lite@64x64/onnxruntime/b1" in printed.out and "[2/2]" in printed.err


def test_an_unavailable_runtime_is_skipped_with_its_reason(run: ModuleType, tmp_path: Path) -> None:
    from edgepose.runtimes import is_available

    if is_available("tensorrt")[0]:
        pytest.skip("tensorrt runs here; the skip path needs a machine without it")
    suite = run.Suite.model_validate({**TINY_SUITE, "runtimes": ["tensorrt"]})
    job = run.plan(suite)[0]
    entries = run.run_job(job, suite, {}, tmp_path)
    assert [(e["id"], e["status"]) for e in entries] == [("simplebaseline-lite@64x64/tensorrt/b1", "skipped")]
    assert "tensorrt" in entries[0]["reason"] and list(tmp_path.iterdir()) == []  # nothing was exported


# ---- baseline comparison ---------------------------------------------------------------------------


def fake_doc(p50s: dict[str, float], threads: int = 1, cpu: str = "CPU A") -> dict[str, Any]:
    results = [{"id": i, "status": "ok", "latency_ms": {"p50": v}} for i, v in p50s.items()]
    return {"format": "edgepose-bench-suite", "suite": {"threads": threads}, "env": {"cpu": cpu, "cores_available": 2},
            "results": results}  # fmt: skip


def test_compare_to_baseline_ratios_and_verdicts(run: ModuleType) -> None:
    base = fake_doc({"m/torch/b1": 10.0, "m/onnxruntime/b1": 4.0})
    now = fake_doc({"m/torch/b1": 12.0, "m/onnxruntime/b1": 4.1, "m/openvino/b1": 3.0})
    rows = {r["id"]: r for r in run.compare_to_baseline(now, base, threshold=0.1)}
    assert rows["m/torch/b1"] == {"id": "m/torch/b1", "p50_ms": 12.0, "baseline_p50_ms": 10.0, "ratio": 1.2,
                                  "verdict": "slower"}  # fmt: skip
    assert (rows["m/onnxruntime/b1"]["ratio"], rows["m/onnxruntime/b1"]["verdict"]) == (1.025, "ok")
    assert rows["m/openvino/b1"]["verdict"] == "new" and rows["m/openvino/b1"]["ratio"] is None
    assert all(
        r["verdict"] != "slower" for r in run.compare_to_baseline(now, base)
    )  # no threshold: report only
    notes = run.baseline_notes(fake_doc({}, threads=2, cpu="CPU B"), base)
    assert len(notes) == 2 and "compare machines" in notes[0] and "threads=1" in notes[1]


def test_fail_if_slower_exits_1_and_still_writes_the_results(
    run: ModuleType, tmp_path: Path, monkeypatch, capsys
) -> None:  # noqa: ANN001
    suite = write_suite(tmp_path / "tiny.yaml", TINY_SUITE)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(fake_doc({"simplebaseline-lite@64x64/torch/b1": 1.0})))
    measured = [{"id": "simplebaseline-lite@64x64/torch/b1", "status": "ok", "latency_ms": {"p50": 1.5, "p90": 2.0, "mean": 1.6,
                 "std": 0.1}, "throughput_ips": 600.0}]  # fmt: skip
    monkeypatch.setattr(
        run, "run_suite", lambda *args, **kwargs: measured
    )  # no timing: the gate's wiring only
    out = tmp_path / "r.json"
    argv = ["--suite", str(suite), "--out", str(out), "--only", "torch", "--compare-to", str(baseline)]
    assert run.main([*argv, "--fail-if-slower", "25%"]) == 1
    assert "1 entries slower than the baseline by more than 25%" in capsys.readouterr().err
    rows = json.loads(out.read_text())["compare_to"]["rows"]
    assert [(r["ratio"], r["verdict"]) for r in rows] == [(1.5, "slower")]
    assert run.main([*argv, "--fail-if-slower", "60%"]) == 0
    assert run.main(["--suite", str(suite), "--compare-to", str(tmp_path / "missing.json")]) == 2


def test_the_committed_baseline_is_a_results_file_of_the_shipped_suite(run: ModuleType) -> None:
    doc = run.load_results(BASELINE)
    assert doc["suite"]["file"] == "benchmarks/suite.yaml" and doc["summary"]["error"] == 0
    assert doc["env"]["label"] == "cpu-2core-epyc" and "load" in doc["env"]["note"].lower()
    suite = run.load_suite(run.DEFAULT_SUITE)
    assert {e["id"] for e in doc["results"]} == {j.entry_id(b) for j in run.plan(suite) for b in j.batches}
    assert all(set(run.ENTRY_KEYS) <= set(e) for e in doc["results"])


# ---- the GitHub Actions example --------------------------------------------------------------------


def test_latency_gate_workflow_is_valid_yaml_running_the_gate() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert set(triggers) == {"push", "pull_request"}
    jobs = workflow["jobs"]
    assert set(jobs) == {"export", "latency-gate", "history"} and jobs["latency-gate"]["needs"] == "export"
    gate_steps = jobs["latency-gate"]["steps"]
    uses = [s.get("uses", "") for s in gate_steps]
    assert "actions/checkout@v4" in uses and "actions/setup-python@v5" in uses
    assert uses.count("actions/download-artifact@v4") == 2 and "actions/upload-artifact@v4" in uses
    assert "actions/github-script@v7" in uses and jobs["latency-gate"]["permissions"]["pull-requests"] == "write"
    scripts = "\n".join(s.get("run", "") for s in gate_steps)
    assert "edgepose bench compare baseline.onnx candidate.onnx $GATE_ARGS --json" in scripts
    assert "--fail-if-slower 5%" in workflow["env"]["GATE_ARGS"] and "--max-seconds" in workflow["env"]["GATE_ARGS"]
    assert "torch==${TORCH_VERSION}" in scripts and "download.pytorch.org/whl/cpu" in scripts
    assert workflow["env"]["PYTHON_VERSION"] == "3.11" and workflow["env"]["TORCH_VERSION"] == "2.13.0"
    setup = next(s for s in gate_steps if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "${{ env.PYTHON_VERSION }}"
    # the summary, the missing-baseline notice and the exit codes the gate documents
    assert "benchmarks/summarize_gate.py summary" in scripts and "benchmarks/summarize_gate.py missing" in scripts
    assert "GITHUB_STEP_SUMMARY" in scripts and 'case "$CODE" in' in scripts
    for code in ("0)", "1)", "4)"):
        assert code in scripts
    comment = next(s for s in gate_steps if s.get("uses", "") == "actions/github-script@v7")
    assert "<!-- edgepose-latency-gate -->" in comment["with"]["script"] and comment["continue-on-error"] is True
    # main's history: a branch of JSON entries and the plot drawn from it
    history = "\n".join(s.get("run", "") for s in jobs["history"]["steps"])
    assert jobs["history"]["permissions"] == {"contents": "write"} and "bench-history" in history
    assert "benchmarks/summarize_gate.py entry" in history and "benchmarks/plot_history.py" in history
    for script in ("summarize_gate.py", "plot_history.py"):
        assert (ROOT / "benchmarks" / script).exists()
