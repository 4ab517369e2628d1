"""Latency statistics, the bench JSON, and the A/B gate (paired bootstrap of the p50 ratio).

The statistics are tested on known and synthetic samples (no timing assertions); the CLI tests run
tiny models for a few dozen iterations and check the contract: keys, exit codes, the gate's verdict.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from edgepose.artifact import Artifact
from edgepose.bench.benchmark import BENCH_KEYS, EXTRA_KEYS
from edgepose.bench.compare import (
    bootstrap_ratio_ci,
    compare_samples,
    compare_sessions,
    gate_verdict,
    median_ratio,
    parse_threshold,
)
from edgepose.bench.latency import STAT_KEYS, measure, stats_from_samples, timed_run
from edgepose.errors import UserError
from edgepose.export.convert import export_model
from tests.conftest import TINY_FACTORY

DESIGN_BENCH_KEYS = {"latency_ms", "fps", "throughput_ips", "batch", "threads", "runtime", "precision", "params",
                     "gflops", "size_mb", "env"}  # fmt: skip


# ---- statistics on known samples -----------------------------------------------------------------


def test_stats_from_samples_match_numpy() -> None:
    samples = np.random.default_rng(0).permutation(np.arange(1.0, 101.0))  # 1..100 ms, shuffled
    stats = stats_from_samples(samples)
    assert (stats.p50, stats.p90, stats.p99) == pytest.approx((50.5, 90.1, 99.01))
    assert (stats.p50, stats.p90, stats.p99) == pytest.approx(tuple(np.percentile(samples, [50, 90, 99])))
    assert (stats.mean, stats.min, stats.max, stats.n) == (50.5, 1.0, 100.0, 100)
    assert stats.std == pytest.approx(np.std(samples, ddof=1))
    assert list(stats.to_dict()) == list(STAT_KEYS)
    assert stats_from_samples([4.0]).std == 0.0
    with pytest.raises(UserError, match="no latency samples"):
        stats_from_samples([])


class SleepSession:
    """A fake CPU Session whose run() takes `ms` milliseconds; counts runs and synchronizes."""

    input_names, output_names, runtime, precision, threads, fixed_batch = ("input",), ("y",), "fake", "fp32", 1, None

    def __init__(self, ms: float, device: str = "cpu"):
        self.ms, self.device, self.runs, self.syncs, self.calls = ms, device, 0, 0, []

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.runs += 1
        self.calls.append("run")
        time.sleep(self.ms / 1000)
        return {"y": feeds["input"]}

    def synchronize(self) -> None:
        self.syncs += 1
        self.calls.append("sync")


FEEDS = {"input": np.zeros((1, 3, 4, 4), np.float32)}


def test_measure_excludes_warmup_and_counts_iterations() -> None:
    session = SleepSession(ms=2.0)
    stats = measure(session, FEEDS, warmup=4, iters=7)
    assert stats.n == 7 and session.runs == 11  # 4 untimed + 7 timed
    assert stats.min >= 2.0 and len(stats.samples_ms) == 7


class FakeClock:
    """time.perf_counter / perf_counter_ns for edgepose.bench.latency, advanced only by ClockSession.run:
    the time-budget logic is tested on its behaviour, never on how fast this machine happens to be."""

    def __init__(self) -> None:
        self.ns = 0

    def perf_counter(self) -> float:
        return self.ns / 1e9

    def perf_counter_ns(self) -> int:
        return self.ns


class ClockSession(SleepSession):
    def __init__(self, ms: float, clock: FakeClock):
        super().__init__(ms)
        self.clock = clock

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.runs += 1
        self.clock.ns += int(self.ms * 1e6)
        return {"y": feeds["input"]}


def test_measure_with_a_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgepose.bench.latency as latency

    clock = FakeClock()
    monkeypatch.setattr(latency, "time", clock)
    session = ClockSession(ms=10.0, clock=clock)
    stats = measure(session, FEEDS, warmup=2, seconds=0.15)
    assert stats.n == 15 and list(stats.samples_ms) == [10.0] * 15  # runs until 150 ms of (fake) time are spent
    assert session.runs == 2 + 15  # the warm-up is not timed and not counted in the budget
    few = measure(ClockSession(ms=5.0, clock=clock), FEEDS, warmup=0, seconds=0.001)
    assert few.n == 3  # at least MIN_SAMPLES, even when one run outlasts the budget
    with pytest.raises(UserError, match="--seconds must be positive"):
        measure(session, FEEDS, seconds=0)


def test_timed_run_on_cuda_brackets_the_run_with_cuda_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA sessions: synchronize, record start, run, record end, wait on end; time = elapsed_time."""
    session = SleepSession(ms=0.0, device="cuda")

    made: list[FakeEvent] = []

    class FakeEvent:
        def __init__(self, enable_timing: bool = False):
            assert enable_timing
            self.name = "end" if made else "start"
            made.append(self)

        def record(self) -> None:
            session.calls.append(f"record:{self.name}")

        def synchronize(self) -> None:
            session.calls.append(f"wait:{self.name}")

        def elapsed_time(self, other: FakeEvent) -> float:
            return 2.5

    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    assert timed_run(session, FEEDS) == 2.5
    assert session.calls == ["sync", "record:start", "run", "record:end", "wait:end"]


# ---- the gate on synthetic samples ----------------------------------------------------------------


def noisy(base_ms: float, n: int, rng: np.random.Generator, burst: float = 0.0) -> np.ndarray:
    """Log-normal jitter (5%) plus, with probability `burst`, a run slowed 2-4x (a preempted run)."""
    samples = base_ms * rng.lognormal(0.0, 0.05, n)
    hit = rng.random(n) < burst
    return np.where(hit, samples * rng.uniform(2, 4, n), samples)


def test_equal_samples_give_an_interval_around_one_and_pass() -> None:
    rng = np.random.default_rng(1)
    a, b = noisy(10, 80, rng, burst=0.1), noisy(10, 80, rng, burst=0.1)
    lo, hi = bootstrap_ratio_ci(a, b)
    assert lo < 1.0 < hi and hi - lo < 0.1
    result = compare_samples(a, b, threshold=0.05)
    assert result.verdict == "pass" and result.ratio_p50 == pytest.approx(median_ratio(a, b))
    assert compare_samples(a, a).ci95 == (1.0, 1.0)  # identical timings: ratio exactly 1


def test_b_one_and_a_half_times_slower_fails_even_with_bursts() -> None:
    rng = np.random.default_rng(2)
    a, b = noisy(10, 60, rng, burst=0.2), noisy(15, 60, rng, burst=0.2)
    result = compare_samples(a, b, threshold=0.05)
    assert result.ratio_p50 == pytest.approx(1.5, rel=0.05)
    assert result.ci95[0] > 1.05 and result.verdict == "fail"


def test_bimodal_contention_does_not_move_the_paired_ratio() -> None:
    """Half the runs of each model slowed 2x at random (a 2-core machine with a competing job):
    the p50 of the paired ratios stays at the true 1.5 and the gate still fails."""
    rng = np.random.default_rng(3)
    a = 10 * rng.lognormal(0, 0.03, 100) * np.where(rng.random(100) < 0.5, 2.0, 1.0)
    b = 15 * rng.lognormal(0, 0.03, 100) * np.where(rng.random(100) < 0.5, 2.0, 1.0)
    result = compare_samples(a, b, threshold=0.05)
    assert result.ratio_p50 == pytest.approx(1.5, rel=0.05) and result.verdict == "fail"


def test_b_slower_by_less_than_the_threshold_passes() -> None:
    rng = np.random.default_rng(4)
    a, b = noisy(10, 100, rng, burst=0.05), noisy(10.2, 100, rng, burst=0.05)  # 2% slower, gate at 5%
    result = compare_samples(a, b, threshold=0.05)
    assert 1.0 < result.ratio_p50 < 1.05 and result.ci95[0] < 1.05 and result.verdict == "pass"
    assert compare_samples(a, b, threshold=0.0).ratio_p50 == result.ratio_p50


def test_gate_verdict_needs_the_whole_interval_above_the_threshold() -> None:
    assert gate_verdict((1.06, 1.30), 0.05) == "fail"
    assert gate_verdict((1.04, 1.30), 0.05) == "pass"  # maybe slower, not with confidence
    assert gate_verdict((0.90, 1.10), 0.05) == "pass"
    assert gate_verdict((0.50, 0.70), 0.0) == "pass"  # faster is never a failure


@pytest.mark.parametrize(("text", "value"), [("5%", 0.05), ("0.05", 0.05), (" 12.5% ", 0.125), ("0", 0.0)])
def test_parse_threshold(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["five", "-1%", "5%%"])
def test_parse_threshold_rejects_nonsense(text: str) -> None:
    with pytest.raises(UserError, match="--fail-if-slower"):
        parse_threshold(text)


def test_ratio_inputs_are_checked() -> None:
    with pytest.raises(UserError, match="equally long"):
        bootstrap_ratio_ci(np.ones(5), np.ones(4))
    with pytest.raises(UserError, match="positive"):
        median_ratio(np.array([1.0, 0.0]), np.ones(2))


def test_compare_sessions_interleaves_and_reports_both_sides() -> None:
    a, b = SleepSession(ms=1.0), SleepSession(ms=3.0)
    result = compare_sessions(a, FEEDS, b, FEEDS, iters=12, warmup=2, threshold=0.05)
    # 2 warm-up runs each, then blocks of 5 timed runs (5, 5, 2) each after one untimed run
    assert a.runs == b.runs == 2 + 12 + 3 and result.a.n == result.b.n == 12
    assert result.ratio_p50 > 1.5 and result.verdict == "fail"
    assert result.ratio_of_p50s == pytest.approx(result.b.p50 / result.a.p50)


# ---- the CLI ------------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def tiny_at(size: tuple[int, int]) -> Artifact:
    """The seeded tiny factory net described at input size `size` (it is fully convolutional)."""
    from edgepose.loading import LoadOptions, load_artifact

    torch.manual_seed(0)
    return load_artifact(None, LoadOptions(model_factory=TINY_FACTORY, input_size=f"{size[0]}x{size[1]}"))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ONNX files of one net: `a` at 192x144, `b` at 288x144 (1.5x the area, so 1.5x the convolutions)."""
    root = tmp_path_factory.mktemp("bench")
    return {
        "a": export_model(tiny_at((192, 144)), "onnx", root / "a.onnx", dynamic_batch=True).path,
        "b": export_model(tiny_at((288, 144)), "onnx", root / "b.onnx", dynamic_batch=True).path,
    }


def test_bench_json_has_the_design_keys_and_consistent_numbers(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "bench", str(models["a"]), "--threads", "1", "-n", "15", "--warmup", "2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert DESIGN_BENCH_KEYS == set(BENCH_KEYS) and set(data) == DESIGN_BENCH_KEYS | set(EXTRA_KEYS)
    lat = data["latency_ms"]
    assert list(lat) == ["mean", "p50", "p90", "p99", "min", "max", "std"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] and lat["std"] >= 0
    assert lat["min"] <= lat["mean"] <= lat["max"]
    assert data["fps"] == pytest.approx(1000 / lat["mean"], rel=1e-3) == data["throughput_ips"]
    assert (data["batch"], data["threads"], data["runtime"], data["precision"], data["iters"]) == (1, 1, "onnxruntime", "fp32", 15)
    params = sum(p.numel() for p in tiny_at((64, 48)).model.parameters())  # type: ignore[union-attr]
    assert data["params"] == params and data["gflops"] > 0  # from the ONNX metadata
    assert data["size_mb"] == pytest.approx(models["a"].stat().st_size / 2**20, abs=1e-3)
    assert data["peak_rss_mb"] > 0
    env = data["env"]
    assert {"cpu", "cores_logical", "cores_available", "python", "torch", "onnxruntime", "openvino", "device"} <= set(env)
    assert env["device"] == "cpu" and env["onnxruntime"] and env["cores_logical"] >= 1


def test_bench_batch_list_gives_throughput_for_each(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "bench", str(models["a"]), "--batch", "1,4", "--threads", "1", "-n", "8",
                         "--warmup", "1", "--json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert [e["batch"] for e in data["batches"]] == [1, 4] and data["batch"] == 1
    for entry in data["batches"]:
        assert entry["throughput_ips"] == pytest.approx(entry["batch"] * 1000 / entry["latency_ms"]["mean"], rel=1e-3)
    assert data["batches"][0]["fps"] == data["fps"] and data["batches"][1]["fps"] is None


def test_bench_time_budget(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "bench", str(models["a"]), "--seconds", "0.3", "--threads", "1", "--warmup", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    # behaviour, not speed: how many runs fit in 0.3 s depends on the machine (the budget logic itself is
    # tested on a fake clock in test_measure_with_a_time_budget); the CLI passes the budget on and reports
    assert data["iters"] >= 3
    assert data["latency_ms"]["min"] <= data["latency_ms"]["p50"] <= data["latency_ms"]["max"]


def test_bench_rich_table(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "bench", str(models["a"]), "--threads", "1", "-n", "5", "--warmup", "1")
    assert code == 0
    for label in ("p50", "p99", "FPS", "images/s", "threads 1", "onnxruntime"):
        assert label in out, label


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--batch", "1,x"], "--batch takes"), (["--batch", "4"], "re-export with --dynamic-batch"),
     (["--iters", "0"], "iters >= 1")],
    ids=["bad-batch", "static-batch", "zero-iters"],
)  # fmt: skip
def test_bench_bad_input_exits_2(
    args: list[str], message: str, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = models["a"]
    if "4" in args:  # a static-batch export refuses other batch sizes
        model = export_model(tiny_at((64, 48)), "onnx", tmp_path / "static.onnx").path
    code, out, err = cli(capsys, "bench", str(model), *args, "--warmup", "0", "--json")
    assert code == 2 and out == "" and message in err


def test_compare_a_model_with_itself_passes(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "bench", "compare", str(models["a"]), str(models["a"]), "--threads", "1",
                         "-n", "60", "--warmup", "5", "--fail-if-slower", "5%", "--json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert {"ratio_p50", "ci95", "a", "b", "verdict"} <= set(data) and data["verdict"] == "pass"
    lo, hi = data["ci95"]
    assert lo <= data["ratio_p50"] <= hi
    # the same file twice: the interval holds 1.0 (a 2% margin for two sessions' memory layouts)
    assert lo <= 1.02 and hi >= 0.98 and 0.9 < data["ratio_p50"] < 1.1
    assert DESIGN_BENCH_KEYS <= set(data["a"]) and data["a"]["iters"] == data["b"]["iters"] == 60
    assert data["threshold"] == 0.05


def test_compare_with_one_and_a_half_times_the_input_area_fails(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "bench", "compare", str(models["a"]), str(models["b"]), "--threads", "1",
                         "-n", "60", "--warmup", "5", "--fail-if-slower", "5%", "--json")  # fmt: skip
    assert code == 1, err
    data = json.loads(out)  # the JSON is printed before the gate exits 1
    assert data["verdict"] == "fail" and data["ci95"][0] > 1.05 and data["ratio_p50"] > 1.2
    assert "B is slower than A" in err and err.strip().splitlines()[-1].startswith("error:")


def test_compare_bad_threshold_exits_2(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "bench", "compare", str(models["a"]), str(models["a"]), "--fail-if-slower", "lots")
    assert code == 2 and out == "" and "--fail-if-slower" in err
