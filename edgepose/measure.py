"""Measurement in one home: an artifact's accuracy, the A/B latency comparison, the primary metric, and the
before/after record of one optimization step.

Accuracy goes through the one evaluation path (`edgepose.evaluate`) on the same images for both models;
latency is always a ratio from one interleaved run in one process (`edgepose.bench.compare`), never two
separate runs. `compare_latency` is the only A/B wrapper: `bench compare`, the pipeline's steps and final
stage, and the prune / ghost / quantize commands all report its one JSON shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgepose.artifact import Artifact


def primary_metric(schema: str) -> str:
    """The metric a model is judged by: OKS AP on COCO-17, PCK@0.2 elsewhere (LSP, MPII)."""
    return "oks_ap" if schema == "coco17" else "pck@0.2"


def model_size(artifact: Artifact) -> dict[str, Any]:
    """params, GFLOPs and file size (MB) as `bench` reports them."""
    from edgepose.bench.benchmark import model_facts

    return model_facts(artifact)


def evaluate_artifact(
    artifact: Artifact, data: str | Path, runtime: str | None = None, threads: int | None = None,
    limit: int | None = None, progress: bool = False, batch_size: int = 32, save_predictions: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The eval JSON of `artifact` on `data` through `runtime` (default: the artifact's own); `save_predictions`
    also writes the scored people as a COCO results file."""
    from edgepose.evaluate import evaluate
    from edgepose.runtimes import open_session

    session = open_session(artifact, runtime, threads=threads)
    return evaluate(
        session, artifact.spec, data, batch_size=batch_size, progress=progress, limit=limit,
        model_name=str(artifact.path or artifact.arch or "model"), save_predictions=save_predictions,
    )  # fmt: skip


def compare_latency(
    a: Artifact, b: Artifact, runtime_a: str | None = "onnxruntime", runtime_b: str | None = None, *,
    threads: int | None = None, device: str | None = None, iters: int = 60, warmup: int = 10,
    spinning: bool = False, on_open: Any = None, **compare_options: Any,
) -> dict[str, Any]:  # fmt: skip
    """A and B timed in ABBA blocks in one process (batch 1): the gate's JSON (ratio_p50 B/A with its 95%
    interval over blocks, verdict, design), both bench JSONs as `a` and `b`, and the speedup A/B with its CI.

    `runtime_b` defaults to `runtime_a`; None picks each file's own runtime. ONNX Runtime sessions are
    opened with thread spinning off (`spinning`): one session's spinning threads slow the other after each
    switch. `on_open(session_a, session_b)` is called before timing starts; `compare_options` go to
    `compare_sessions` (threshold, max_seconds, order, ci, on_progress, ...).
    """
    from edgepose.bench.benchmark import bench_result
    from edgepose.bench.compare import compare_sessions
    from edgepose.runtimes import make_feeds, open_session

    session_a = open_session(a, runtime_a, threads=threads, device=device, spinning=spinning)
    session_b = open_session(b, runtime_b or runtime_a, threads=threads, device=device, spinning=spinning)
    if on_open is not None:
        on_open(session_a, session_b)
    result = compare_sessions(session_a, make_feeds(a.spec), session_b, make_feeds(b.spec), iters=iters,
                              warmup=warmup, **compare_options)  # fmt: skip
    lo, hi = result.ci95
    return {
        **result.summary(),
        "a": bench_result(a, session_a, [(1, result.a)]), "b": bench_result(b, session_b, [(1, result.b)]),
        "runtime_a": session_a.runtime, "runtime_b": session_b.runtime, "threads": threads,
        "speedup": round(1.0 / result.ratio_p50, 4), "speedup_ci95": [round(1.0 / hi, 4), round(1.0 / lo, 4)],
    }  # fmt: skip


def compare_step(
    before: Artifact, after: Artifact, *, eval_data: str | Path | None = None, runtime: str | None = "onnxruntime",
    runtime_after: str | None = None, threads: int | None = None, iters: int = 60, eval_limit: int | None = None,
    before_eval: dict[str, Any] | None = None, progress: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The report entry of one step: size before/after, latency ratio and (with eval data) accuracy drop.

    `before_eval` reuses an evaluation of `before` already made on the same data (same decode, metric).
    """
    report: dict[str, Any] = {"before": model_size(before), "after": model_size(after)}
    for key in ("params", "gflops"):
        b, a = report["before"][key], report["after"][key]
        report[f"{key}_ratio"] = round(a / b, 4) if a is not None and b else None
    if runtime is not None:
        report["latency"] = compare_latency(before, after, runtime, runtime_after, threads=threads, iters=iters)
    if eval_data is not None:
        metric = primary_metric(before.spec.schema)
        ev_before = before_eval or evaluate_artifact(before, eval_data, None, threads, eval_limit, progress)
        ev_after = evaluate_artifact(after, eval_data, None, threads, eval_limit, progress)
        b, a = ev_before["metrics"].get(metric), ev_after["metrics"].get(metric)
        report["accuracy"] = {
            "metric": metric, "data": str(eval_data), "n_instances": ev_after["n_instances"],
            "before": b, "after": a, "drop_points": None if a is None or b is None else round(100 * (b - a), 3),
            "per_keypoint_before": _per_keypoint(ev_before, metric), "per_keypoint_after": _per_keypoint(ev_after, metric),
        }  # fmt: skip
        report["eval_before"], report["eval_after"] = _summary(ev_before), _summary(ev_after)
    return report


def compare_step_on_runtimes(
    before: Artifact, after: Artifact, runtimes: list[str], *, eval_data: str | Path | None = None,
    eval_limit: int | None = None, threads: int | None = None, iters: int = 60, log: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """compare_step on the first available runtime (with accuracy), then the latency ratio on each further one.

    `latencies` maps every runtime asked for to its comparison, or to why it was not measured here.
    """
    from edgepose.runtimes.base import is_available

    available, latencies = [], {}
    for name in runtimes:
        ok, reason = is_available(name)
        if ok:
            available.append(name)
        else:
            latencies[name] = f"not measured: {reason}"
    if log is not None:
        log("measuring before / after" + (f" on {', '.join(available)}" if available else "") + " ...")
    report = compare_step(
        before, after, eval_data=eval_data, runtime=available[0] if available else None, threads=threads,
        iters=iters, eval_limit=eval_limit,
    )  # fmt: skip
    if available:
        latencies[available[0]] = report["latency"]
    for name in available[1:]:
        latencies[name] = compare_latency(before, after, name, threads=threads, iters=iters)
    report["latencies"] = latencies
    return report


def _per_keypoint(result: dict[str, Any], metric: str) -> dict[str, float | None]:
    key = "pck@0.2" if metric == "oks_ap" else metric
    return {name: values.get(key) for name, values in result["metrics"].get("per_keypoint", {}).items()}


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result["metrics"].items() if k != "per_keypoint"}
