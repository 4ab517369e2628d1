"""The recipe's measuring settings applied to edgepose.measure: what every step and the final stage record."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.measure import evaluate_artifact, primary_metric

PREDICTIONS = "eval_predictions.json"  # the scored people of a baseline / final evaluation (COCO results)

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.recipe import Recipe


def eval_summary(artifact: Artifact, data: Path, runtime: str | None, recipe: Recipe, progress: bool,
                 predictions: Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Eval JSON (DESIGN.md keys) of `artifact` on `data` through `runtime`; with `predictions`, the scored
    people are also written there (COCO results) and the path is recorded (the report's overlay strip)."""
    result = evaluate_artifact(artifact, data, runtime, recipe.benchmark.threads, recipe.data.eval_limit, progress,
                               save_predictions=predictions)  # fmt: skip
    summary = {key: result[key] for key in ("metrics", "n_images", "n_instances", "model", "runtime", "data")}
    return {**summary, "predictions": str(predictions)} if predictions is not None else summary


def timing(recipe: Recipe) -> dict[str, Any]:
    """The recipe's benchmark settings as keyword arguments of measure.compare_latency."""
    bench = recipe.benchmark
    return {"threads": bench.threads, "iters": bench.iters, "warmup": bench.warmup}


def metric_name(recipe: Recipe, schema: str) -> str:
    return primary_metric(schema) if recipe.metric == "auto" else recipe.metric
