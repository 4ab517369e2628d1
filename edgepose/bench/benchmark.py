"""`benchmark`: latency or throughput of a model on one runtime at one or more batch sizes, as the bench JSON.

Top-level keys (DESIGN.md) describe the first batch given; `fps` is always the batch-1 figure (null
when batch 1 was not measured); `batches` lists every batch measured with its own latency_ms,
fps and throughput_ips. Extra keys: `model`, `iters`, `peak_rss_mb` (peak RSS of the process), `mode`,
`streams`, `infer_requests`, `wall_s`.

`mode="latency"`: one request at a time (streams 1, infer_requests 1); `latency_ms` is per call and
fps = 1000 / mean. `mode="throughput"`: the runtime's requests kept busy (OpenVINO: an AsyncInferQueue
over N streams; ONNX Runtime: N concurrent calls); `latency_ms` is each request's latency under that
load, and `fps` / `throughput_ips` are completed images per second of wall time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.bench.env import environment, peak_rss_mb
from edgepose.bench.latency import LatencyStats, Progress, ThroughputStats, measure, measure_throughput
from edgepose.errors import UserError

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.runtimes.base import AsyncSession, Session

MODES = ("latency", "throughput")

BENCH_KEYS = (
    "latency_ms", "fps", "throughput_ips", "batch", "threads", "runtime", "precision", "params", "gflops",
    "size_mb", "env",
)  # fmt: skip
EXTRA_KEYS = ("model", "iters", "peak_rss_mb", "batches", "mode", "streams", "infer_requests", "wall_s")


def parse_batches(text: str | int | None) -> tuple[int, ...]:
    """'1,8' -> (1, 8)."""
    if text is None or text == "":
        return (1,)
    try:
        batches = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise UserError(f"--batch takes comma-separated integers like 1,8; got '{text}'") from None
    if any(b < 1 for b in batches):
        raise UserError(f"batch sizes must be at least 1; got '{text}'")
    return batches


def model_facts(artifact: Artifact) -> dict[str, Any]:
    """params, GFLOPs (batch 1; from the torch model, else from export metadata) and file size in MB."""
    params = artifact.provenance.get("params")
    gflops = artifact.provenance.get("gflops")
    if artifact.model is not None:
        from edgepose.models.stats import count_gflops, count_params

        params, gflops = count_params(artifact.model), count_gflops(artifact.model, artifact.spec)
    size_mb = None
    if artifact.path is not None and Path(artifact.path).exists():
        if artifact.format == "openvino":
            from edgepose.export.openvino import ir_size_mb

            size_mb = ir_size_mb(artifact.path)
        else:
            size_mb = Path(artifact.path).stat().st_size / 2**20
    return {
        "params": None if params is None else int(params),
        "gflops": None if gflops is None else round(float(gflops), 4),
        "size_mb": None if size_mb is None else round(size_mb, 3),
    }


def batch_entry(batch: int, stats: LatencyStats | ThroughputStats, streams: int = 1, requests: int = 1) -> dict[str, Any]:
    """One batch's numbers; a ThroughputStats gives images/s of wall time, a LatencyStats 1000 / mean."""
    if isinstance(stats, ThroughputStats):
        latency, per_second, wall_s = stats.latency, stats.images_per_s / batch, stats.wall_s
    else:
        latency, wall_s = stats, sum(stats.samples_ms) / 1000 if stats.samples_ms else None
        per_second = 1000.0 / stats.mean if stats.mean > 0 else float("inf")
        streams = requests = 1
    return {
        "batch": batch,
        "latency_ms": latency.to_dict(),
        "fps": round(per_second, 3) if batch == 1 else None,
        "throughput_ips": round(batch * per_second, 3),
        "iters": latency.n,
        "streams": streams,
        "infer_requests": requests,
        "wall_s": None if wall_s is None else round(wall_s, 6),  # microseconds: a tiny model's run takes a few ms
    }


def bench_result(
    artifact: Artifact, session: Session | AsyncSession, measured: list[tuple[int, LatencyStats | ThroughputStats]],
    facts: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The bench JSON for `session` on `artifact` from (batch, stats) pairs, first pair on top."""
    throughput = isinstance(measured[0][1], ThroughputStats)
    streams, requests = (getattr(session, "streams", 1), getattr(session, "requests", 1)) if throughput else (1, 1)
    entries = [batch_entry(b, s, streams, requests) for b, s in measured]
    first = entries[0]
    fps = next((e["fps"] for e in entries if e["batch"] == 1), None)
    return {
        "latency_ms": first["latency_ms"],
        "fps": fps,
        "throughput_ips": first["throughput_ips"],
        "batch": first["batch"],
        "threads": session.threads,
        "runtime": session.runtime,
        "precision": session.precision,
        **(facts if facts is not None else model_facts(artifact)),
        "env": environment(session.device),
        "model": str(artifact.path) if artifact.path else (artifact.arch or "model"),
        "iters": first["iters"],
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "batches": entries,
        "mode": "throughput" if throughput else "latency",
        "streams": streams,
        "infer_requests": requests,
        "wall_s": first["wall_s"],
    }


def benchmark(
    artifact: Artifact, runtime: str | None = None, batches: tuple[int, ...] = (1,), threads: int | None = None,
    warmup: int = 10, iters: int = 200, seconds: float | None = None, device: str | None = None,
    precision: str | None = None, session: Session | AsyncSession | None = None, mode: str = "latency",
    streams: int | None = None, on_progress: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Open a session (unless given) and measure it at each batch size; returns the bench JSON.

    `on_progress(batch, runs done, runs expected)` is called after every timed run.
    """
    from edgepose.runtimes.base import make_feeds, open_async_session, open_session

    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}; got '{mode}'")
    if streams is not None and mode != "throughput":
        raise UserError("--streams is for --mode throughput (latency mode runs one request at a time)")
    if session is None:
        if mode == "throughput":
            session = open_async_session(artifact, runtime, streams=streams, threads=threads, device=device,
                                         precision=precision)  # fmt: skip
        else:
            session = open_session(artifact, runtime, threads=threads, device=device, precision=precision)
    measured: list[tuple[int, LatencyStats | ThroughputStats]] = []
    for batch in batches:
        if session.fixed_batch is not None and batch != session.fixed_batch:
            raise UserError(
                f"{artifact.path or 'this model'} takes batch {session.fixed_batch} only; "
                f"re-export with --dynamic-batch to bench batch {batch}"
            )
        feeds = make_feeds(artifact.spec, batch)
        tick: Progress | None = None if on_progress is None else functools.partial(on_progress, batch)
        if mode == "throughput":
            stats: LatencyStats | ThroughputStats = measure_throughput(
                session, feeds, warmup=warmup, iters=iters, seconds=seconds, on_progress=tick)  # type: ignore[arg-type]
        else:
            stats = measure(session, feeds, warmup=warmup, iters=iters, seconds=seconds, on_progress=tick)  # type: ignore[arg-type]
        measured.append((batch, stats))
    return bench_result(artifact, session, measured)
