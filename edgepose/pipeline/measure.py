"""Measurements the pipeline records: accuracy through the one eval path, latency side by side in one run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.recipe import Recipe


def eval_summary(artifact: Artifact, data: Path, runtime: str | None, recipe: Recipe, progress: bool) -> dict[str, Any]:
    """Eval JSON (DESIGN.md keys) of `artifact` on `data` through `runtime`."""
    from edgepose.report.compare import evaluate_artifact

    result = evaluate_artifact(artifact, data, runtime, recipe.benchmark.threads, recipe.data.eval_limit, progress)
    return {key: result[key] for key in ("metrics", "n_images", "n_instances", "model", "runtime", "data")}


def side_by_side(
    a: Artifact, a_runtime: str, b: Artifact, b_runtime: str, recipe: Recipe
) -> dict[str, Any]:  # fmt: skip
    """A and B timed interleaved in one process: both bench JSONs, p50 ratio B/A, speedup A/B, 95% CIs."""
    from edgepose.bench.benchmark import bench_result
    from edgepose.bench.compare import compare_sessions
    from edgepose.runtimes import make_feeds, open_session

    bench = recipe.benchmark
    session_a = open_session(a, a_runtime, threads=bench.threads)
    session_b = open_session(b, b_runtime, threads=bench.threads)
    result = compare_sessions(session_a, make_feeds(a.spec), session_b, make_feeds(b.spec), iters=bench.iters,
                              warmup=bench.warmup)  # fmt: skip
    lo, hi = result.ci95
    return {
        "a": bench_result(a, session_a, [(1, result.a)]), "b": bench_result(b, session_b, [(1, result.b)]),
        "ratio_p50": round(result.ratio_p50, 4), "ci95": [round(lo, 4), round(hi, 4)],
        "speedup": round(1 / result.ratio_p50, 4), "speedup_ci95": [round(1 / hi, 4), round(1 / lo, 4)],
        "iters": bench.iters,
    }  # fmt: skip


def bench_alone(artifact: Artifact, runtime: str, recipe: Recipe) -> dict[str, Any]:
    """Bench JSON of one model on one runtime (batch 1)."""
    from edgepose.bench.benchmark import benchmark

    bench = recipe.benchmark
    return benchmark(artifact, runtime, threads=bench.threads, warmup=bench.warmup, iters=bench.iters)


def metric_name(recipe: Recipe, schema: str) -> str:
    from edgepose.report.compare import primary_metric

    return primary_metric(schema) if recipe.metric == "auto" else recipe.metric
