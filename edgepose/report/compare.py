"""Before/after facts for one optimization step: size, compute, latency (interleaved, one run) and accuracy.

Accuracy of both models goes through the one evaluation path (`edgepose.evaluate`) on the same
images; latency is a ratio from `bench compare`'s interleaved measurement, never two separate runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgepose.artifact import Artifact


def primary_metric(schema: str) -> str:
    """The metric a step is judged by: OKS AP on COCO-17, PCK@0.2 elsewhere (LSP, MPII)."""
    return "oks_ap" if schema == "coco17" else "pck@0.2"


def model_size(artifact: Artifact) -> dict[str, Any]:
    """params, GFLOPs and file size (MB) as `bench` reports them."""
    from edgepose.bench.benchmark import model_facts

    return model_facts(artifact)


def evaluate_artifact(
    artifact: Artifact, data: str | Path, runtime: str | None = None, threads: int | None = None,
    limit: int | None = None, progress: bool = False, batch_size: int = 32,
) -> dict[str, Any]:  # fmt: skip
    """The eval JSON of `artifact` on `data` through `runtime` (default: the artifact's own)."""
    from edgepose.evaluate import evaluate
    from edgepose.runtimes import open_session

    session = open_session(artifact, runtime, threads=threads)
    return evaluate(
        session, artifact.spec, data, batch_size=batch_size, progress=progress, limit=limit,
        model_name=str(artifact.path or artifact.arch or "model"),
    )  # fmt: skip


def latency_ratio(
    before: Artifact, after: Artifact, runtime: str | None = "onnxruntime", runtime_after: str | None = None,
    threads: int | None = None, iters: int = 60, warmup: int = 10,
) -> dict[str, Any]:  # fmt: skip
    """p50 latency of both, interleaved in one process, with B/A and the speedup A/B (95% bootstrap CI)."""
    from edgepose.bench.compare import compare_sessions
    from edgepose.runtimes import make_feeds, open_session

    session_a = open_session(before, runtime, threads=threads)
    session_b = open_session(after, runtime_after or runtime, threads=threads)
    result = compare_sessions(session_a, make_feeds(before.spec), session_b, make_feeds(after.spec), iters=iters,
                              warmup=warmup)  # fmt: skip
    lo, hi = result.ci95
    return {
        "runtime": session_a.runtime, "runtime_after": session_b.runtime, "threads": threads, "iters": iters,
        "before_p50_ms": round(result.a.p50, 4), "after_p50_ms": round(result.b.p50, 4),
        "before_p90_ms": round(result.a.p90, 4), "after_p90_ms": round(result.b.p90, 4),
        "ratio_p50": round(result.ratio_p50, 4), "ci95": [round(lo, 4), round(hi, 4)],
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
        report["latency"] = latency_ratio(before, after, runtime, runtime_after, threads, iters)
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


def _per_keypoint(result: dict[str, Any], metric: str) -> dict[str, float | None]:
    key = "pck@0.2" if metric == "oks_ap" else metric
    return {name: values.get(key) for name, values in result["metrics"].get("per_keypoint", {}).items()}


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result["metrics"].items() if k != "per_keypoint"}
