"""The recipe's measuring settings applied to edgepose.measure: what every step and the final stage record."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.measure import evaluate_artifact, primary_metric

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.recipe import Recipe


def eval_summary(artifact: Artifact, data: Path, runtime: str | None, recipe: Recipe, progress: bool) -> dict[str, Any]:
    """Eval JSON (DESIGN.md keys) of `artifact` on `data` through `runtime`."""
    result = evaluate_artifact(artifact, data, runtime, recipe.benchmark.threads, recipe.data.eval_limit, progress)
    return {key: result[key] for key in ("metrics", "n_images", "n_instances", "model", "runtime", "data")}


def timing(recipe: Recipe) -> dict[str, Any]:
    """The recipe's benchmark settings as keyword arguments of measure.compare_latency."""
    bench = recipe.benchmark
    return {"threads": bench.threads, "iters": bench.iters, "warmup": bench.warmup}


def metric_name(recipe: Recipe, schema: str) -> str:
    return primary_metric(schema) if recipe.metric == "auto" else recipe.metric
