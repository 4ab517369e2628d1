"""`benchmark`: latency of a model on one runtime at one or more batch sizes, as the bench JSON.

Top-level keys (DESIGN.md) describe the first batch given; `fps` is always the batch-1 figure (null
when batch 1 was not measured); `batches` lists every batch measured with its own latency_ms,
fps and throughput_ips. Extra keys: `model`, `iters`, `peak_rss_mb` (peak RSS of the process).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.bench.env import environment, peak_rss_mb
from edgepose.bench.latency import LatencyStats, measure
from edgepose.errors import UserError

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.runtimes.base import Session

BENCH_KEYS = (
    "latency_ms", "fps", "throughput_ips", "batch", "threads", "runtime", "precision", "params", "gflops",
    "size_mb", "env",
)  # fmt: skip
EXTRA_KEYS = ("model", "iters", "peak_rss_mb", "batches")


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


def batch_entry(batch: int, stats: LatencyStats) -> dict[str, Any]:
    per_second = 1000.0 / stats.mean if stats.mean > 0 else float("inf")
    return {
        "batch": batch,
        "latency_ms": stats.to_dict(),
        "fps": round(per_second, 3) if batch == 1 else None,
        "throughput_ips": round(batch * per_second, 3),
    }


def bench_result(
    artifact: Artifact, session: Session, measured: list[tuple[int, LatencyStats]], facts: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The bench JSON for `session` on `artifact` from (batch, stats) pairs, first pair on top."""
    entries = [batch_entry(b, s) for b, s in measured]
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
        "iters": measured[0][1].n,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "batches": entries,
    }


def benchmark(
    artifact: Artifact, runtime: str | None = None, batches: tuple[int, ...] = (1,), threads: int | None = None,
    warmup: int = 10, iters: int = 200, seconds: float | None = None, device: str | None = None,
    precision: str | None = None, session: Session | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Open a session (unless given) and measure it at each batch size; returns the bench JSON."""
    from edgepose.runtimes.base import make_feeds, open_session

    session = session or open_session(artifact, runtime, threads=threads, device=device, precision=precision)
    measured = []
    for batch in batches:
        if session.fixed_batch is not None and batch != session.fixed_batch:
            raise UserError(
                f"{artifact.path or 'this model'} takes batch {session.fixed_batch} only; "
                f"re-export with --dynamic-batch to bench batch {batch}"
            )
        feeds = make_feeds(artifact.spec, batch)
        measured.append((batch, measure(session, feeds, warmup=warmup, iters=iters, seconds=seconds)))
    return bench_result(artifact, session, measured)
