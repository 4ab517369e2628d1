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
from edgepose.bench.compare import VERDICTS, compare_sessions, parse_threshold
from edgepose.bench.latency import STAT_KEYS, measure, stats_from_samples, timed_run
from edgepose.errors import UserError
from edgepose.export.convert import export_model
from tests.bench_checks import fps_matches_mean
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


# ---- the gate on real (sleeping) sessions: the statistics themselves are in test_bench_gate.py ------------


@pytest.mark.parametrize(("text", "value"), [("5%", 0.05), ("0.05", 0.05), (" 12.5% ", 0.125), ("0", 0.0)])
def test_parse_threshold(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["five", "-1%", "5%%"])
def test_parse_threshold_rejects_nonsense(text: str) -> None:
    with pytest.raises(UserError, match="--fail-if-slower"):
        parse_threshold(text)


def test_compare_sessions_times_blocks_and_reports_both_sides() -> None:
    a, b = SleepSession(ms=1.0), SleepSession(ms=3.0)
    result = compare_sessions(a, FEEDS, b, FEEDS, iters=24, warmup=2, threshold=0.05, block_iters=3)
    # 2 warm-up runs each, then 8 ABBA blocks of 3 timed runs, each after one untimed run
    assert a.runs == b.runs == 2 + 8 * (1 + 3) and result.a.n == result.b.n == 24 and result.pairs == 8
    assert result.ratio_p50 > 1.5 and result.verdict == "fail" and result.units == 4
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
    assert fps_matches_mean(data["fps"], lat["mean"]) and data["fps"] == data["throughput_ips"]
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
     (["--iters", "0"], "Invalid value for '--iters'"), (["--seconds", "nan"], "Invalid value for '--seconds'"),
     (["--threads", "0"], "Invalid value for '--threads'"), (["--mode", "fast"], "--mode must be one of")],
    ids=["bad-batch", "static-batch", "zero-iters", "nan-seconds", "zero-threads", "bad-mode"],
)  # fmt: skip
def test_bench_bad_input_exits_2(
    args: list[str], message: str, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = models["a"]
    if "4" in args:  # a static-batch export refuses other batch sizes
        model = export_model(tiny_at((64, 48)), "onnx", tmp_path / "static.onnx").path
    code, out, err = cli(capsys, "bench", str(model), *args, "--warmup", "0", "--json")
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1, err


COMPARE_KEYS = {"ratio_p50", "ci95", "a", "b", "verdict", "threshold", "blocks", "units", "seconds", "design", "looks",
                "limit", "block_ratios", "ci_method", "exit_code", "max_seconds", "iters"}  # fmt: skip


def test_compare_on_real_timings_gives_consistent_json(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Real runs of a model against itself: which verdict depends on this machine's load, so only its
    consistency is asserted (the verdicts themselves are tested on controlled timings below)."""
    code, out, err = cli(capsys, "bench", "compare", str(models["a"]), str(models["a"]), "--threads", "1",
                         "-n", "48", "--warmup", "5", "--fail-if-slower", "5%", "--max-seconds", "0", "--json")  # fmt: skip
    data = json.loads(out)
    assert COMPARE_KEYS <= set(data) and data["verdict"] in VERDICTS
    assert code == {"pass": 0, "fail": 1, "inconclusive": 4}[data["verdict"]] == data["exit_code"], err
    lo, hi = data["ci95"]
    assert lo <= data["ratio_p50"] <= hi and data["looks"] == 1
    assert DESIGN_BENCH_KEYS <= set(data["a"]) and data["a"]["iters"] == data["b"]["iters"] == 48
    assert data["blocks"] == 16 and len(data["block_ratios"]) == 16 and data["units"] == 8
    assert data["threshold"] == 0.05 and data["limit"] == 1.05 and data["design"]["block_iters"] == 3


@pytest.fixture
def controlled_timings(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """The CLI's sessions still run, but the gate reads seeded synthetic timings: B = A x `ratio` x noise."""
    import edgepose.bench.compare as compare_module

    settings = {"ratio": 1.0, "noise": 0.01}
    real = compare_module.compare_sessions

    def with_controlled_timer(session_a, feeds_a, session_b, feeds_b, **kwargs):  # noqa: ANN001, ANN202
        rng = np.random.default_rng(0)

        def timer(session, feeds) -> float:  # noqa: ANN001
            session.run(feeds)
            scale = settings["ratio"] if session is session_b else 1.0
            return 10.0 * scale * float(rng.lognormal(0, settings["noise"]))

        return real(session_a, feeds_a, session_b, feeds_b, timer=timer, **kwargs)

    monkeypatch.setattr(compare_module, "compare_sessions", with_controlled_timer)
    return settings


@pytest.mark.parametrize(("ratio", "noise", "extra", "verdict", "code"), [
    (1.00, 0.01, [], "pass", 0),
    (1.50, 0.01, [], "fail", 1),
    (1.05, 0.20, ["--max-seconds", "0"], "inconclusive", 4),
    (1.05, 0.20, ["--max-seconds", "0", "--inconclusive-ok"], "inconclusive", 0),
], ids=["pass", "fail", "inconclusive", "inconclusive-ok"])  # fmt: skip
def test_compare_exit_codes(
    ratio: float, noise: float, extra: list[str], verdict: str, code: int, controlled_timings: dict[str, float],
    models: dict[str, Path], capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    controlled_timings.update(ratio=ratio, noise=noise)
    got, out, err = cli(capsys, "bench", "compare", str(models["a"]), str(models["a"]), "--threads", "1", "-n", "24",
                        "--warmup", "1", "--no-progress", *extra, "--json")  # fmt: skip
    data = json.loads(out)  # the JSON is printed before the exit code
    assert (got, data["verdict"], data["exit_code"]) == (code, verdict, code), err
    lo, hi = data["ci95"]
    if verdict == "fail":
        assert lo > 1.05 and data["ratio_p50"] == pytest.approx(1.5, rel=0.02)
        assert "B is slower than A" in err and err.strip().splitlines()[-1].startswith("error:")
    elif verdict == "pass":
        assert hi < 1.05
    else:
        assert lo <= 1.05 <= hi and "too noisy to tell" in " ".join(err.split())  # rich wraps long lines


def test_compare_extends_an_inconclusive_look_up_to_max_seconds(
    controlled_timings: dict[str, float], models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    controlled_timings.update(ratio=1.3, noise=0.4)
    code, out, err = cli(capsys, "bench", "compare", str(models["a"]), str(models["a"]), "--threads", "1", "-n", "12",
                         "--warmup", "1", "--max-seconds", "20", "--json")  # fmt: skip
    data = json.loads(out)
    assert data["looks"] > 1 and data["blocks"] > 12 and data["max_seconds"] == 20
    assert data["verdict"] == "fail" and code == 1  # 30% slower, seen once there are enough blocks


def test_compare_rich_output_names_the_verdict(
    controlled_timings: dict[str, float], models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "bench", "compare", str(models["a"]), str(models["a"]), "-n", "24", "--warmup", "1")
    assert code == 0
    for label in ("p50 ratio B/A", "95% CI", "PASS (exit 0)", "ABBA blocks", "limit 1.050"):
        assert label in out, label


def test_compare_bad_threshold_exits_2(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "bench", "compare", str(models["a"]), str(models["a"]), "--fail-if-slower", "lots")
    assert code == 2 and out == "" and "--fail-if-slower" in err


# ---- throughput mode ------------------------------------------------------------------------------


def async_runtimes() -> list[str]:
    from edgepose.runtimes.base import ASYNC_RUNTIMES, is_available

    return [name for name in ASYNC_RUNTIMES if not name.endswith("-cuda") and is_available(name)[0]]


@pytest.mark.parametrize("runtime", async_runtimes())
def test_both_modes_give_the_same_keys_and_consistent_numbers(runtime: str, tiny_pose_net: Artifact) -> None:
    from edgepose.bench.benchmark import benchmark

    latency = benchmark(tiny_pose_net, runtime, threads=2, warmup=2, iters=20, mode="latency")
    throughput = benchmark(tiny_pose_net, runtime, threads=2, warmup=2, iters=20, mode="throughput", streams=2)
    assert set(latency) == set(throughput) == DESIGN_BENCH_KEYS | set(EXTRA_KEYS)
    assert set(latency["batches"][0]) == set(throughput["batches"][0])
    assert (latency["mode"], latency["streams"], latency["infer_requests"]) == ("latency", 1, 1)
    assert throughput["mode"] == "throughput" and throughput["streams"] == 2 and throughput["infer_requests"] >= 2
    assert latency["iters"] == throughput["iters"] == 20 and throughput["runtime"] == runtime
    lat = throughput["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    # images/s is completed images over wall time, and fps is the same figure at batch 1
    assert throughput["throughput_ips"] == pytest.approx(20 / throughput["wall_s"], rel=1e-2)
    assert throughput["fps"] == throughput["throughput_ips"]
    # no request can finish faster than it started: the wall time holds at least the slowest one
    assert throughput["wall_s"] * 1000 >= lat["max"]
    assert fps_matches_mean(latency["fps"], latency["latency_ms"]["mean"])


@pytest.mark.parametrize("runtime", async_runtimes())
def test_throughput_at_two_batch_sizes(runtime: str, tiny_pose_net: Artifact) -> None:
    from edgepose.bench.benchmark import benchmark

    data = benchmark(tiny_pose_net, runtime, batches=(1, 2), warmup=1, iters=10, mode="throughput", streams=2)
    first, second = data["batches"]
    assert (first["batch"], second["batch"]) == (1, 2) and second["fps"] is None
    assert second["throughput_ips"] == pytest.approx(2 * 10 / second["wall_s"], rel=1e-2)


def test_bench_cli_throughput_json(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "bench", str(models["a"]), "--mode", "throughput", "--streams", "2", "-n", "16",
                         "--warmup", "2", "--json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == DESIGN_BENCH_KEYS | set(EXTRA_KEYS) and data["mode"] == "throughput" and data["streams"] == 2
    code, out, err = cli(capsys, "bench", str(models["a"]), "--mode", "throughput", "-n", "8", "--warmup", "1")
    assert code == 0 and "throughput mode" in out and "images/s" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--mode", "fast"], "--mode must be one of"),
    (["--streams", "2"], "--streams is for --mode throughput"),
    (["--mode", "throughput", "-r", "torch"], "has no asynchronous mode"),
    (["--mode", "throughput", "--streams", "0"], "Invalid value for '--streams'"),
], ids=["bad-mode", "streams-in-latency-mode", "torch", "zero-streams"])  # fmt: skip
def test_throughput_bad_input_exits_2(
    args: list[str], message: str, models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "bench", str(models["a"]), *args, "-n", "2", "--warmup", "0", "--json")
    assert code == 2 and out == "" and message in err


def test_threaded_async_session_keeps_requests_in_flight_together() -> None:
    """Two requests must be inside run() at the same moment, or the barrier breaks and wait_all raises."""
    import threading

    from edgepose.runtimes.base import ThreadedAsyncSession

    barrier = threading.Barrier(2, timeout=10)

    class MeetingSession(SleepSession):
        def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            barrier.wait()
            return super().run(feeds)

    inner = MeetingSession(ms=0.0)
    session = ThreadedAsyncSession(inner, requests=2, threads=2)
    done: list[int] = []
    for i in range(6):
        session.start(FEEDS, lambda i=i: done.append(i))
    session.wait_all()
    session.close()
    assert sorted(done) == list(range(6)) and inner.runs == 6 and session.streams == session.requests == 2


def test_measure_throughput_excludes_warmup_and_times_each_request() -> None:
    from edgepose.bench.latency import measure_throughput

    class InstantQueue:
        """An AsyncSession whose requests complete inside start() (the callback runs at once)."""

        input_names, output_names, runtime, device, precision, threads, fixed_batch = (
            ("input",), ("y",), "fake", "cpu", "fp32", 1, None)  # fmt: skip
        streams, requests = 2, 3

        def __init__(self) -> None:
            self.started = self.idle_waits = self.drains = 0

        def wait_idle(self) -> None:
            self.idle_waits += 1

        def start(self, feeds: dict[str, np.ndarray], done) -> None:  # noqa: ANN001
            self.started += 1
            time.sleep(0.001)
            done()

        def wait_all(self) -> None:
            self.drains += 1

    queue = InstantQueue()
    stats = measure_throughput(queue, {"input": np.zeros((4, 3, 2, 2), np.float32)}, warmup=2, iters=7)
    assert queue.started == 3 + 7 and queue.idle_waits == 7 and queue.drains == 2  # warm-up: max(2, 3 requests)
    assert stats.requests == 7 and stats.batch == 4 and stats.latency.n == 7
    assert stats.images_per_s == pytest.approx(7 * 4 / stats.wall_s)
