"""`optimize`: baseline -> passes -> export -> verify -> evaluate -> benchmark -> gates -> report.

The recipe and its pass order are validated before any work; every step writes into its own sealed
folder of the run directory, so a re-run resumes after the last completed step; the input model is
only read. Gates that fail raise GateFailed (exit 1) after the report is written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.errors import GateFailed, UserError

if TYPE_CHECKING:
    from edgepose.loading import LoadOptions
    from edgepose.recipe import Recipe

REPORT_SCHEMA_VERSION = 1


def optimize(
    model: str | Path | None = None, recipe: str = "cpu-int8", data: str | Path | None = None,
    out: str | Path | None = None, overrides: list[str] | None = None, *, load_options: LoadOptions | None = None,
    progress: bool = True, log: Callable[[str], None] | None = None, check_gates: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Run `recipe` on `model` (default: the bundled demo checkpoint) and return the report dict.

    `data` is the evaluation COCO-keypoints JSON (default: the recipe's, else the demo's held-out set);
    `out` the run folder (default runs/<recipe>-<model>). With `check_gates`, a failed gate raises
    GateFailed after report.json / report.md / report.png are written; its `.report` is the report dict.
    """
    from edgepose.recipe import load_recipe

    log = log or (lambda message: print(message, file=sys.stderr))
    recipe_obj, recipe_path = load_recipe(recipe, overrides)  # a bad recipe fails before torch is imported
    _check_target(recipe_obj)
    from edgepose.loading import LoadOptions as Options

    options = load_options or Options()
    demo = model is None and options.model_factory is None
    if demo:
        from edgepose.pipeline.demo import demo_checkpoint

        model = demo_checkpoint()
    run_root = Path(out) if out else Path("runs") / f"{recipe_obj.name}-{_stem(model, options)}"
    eval_data, calib_data, train_data = _data_files(recipe_obj, recipe_path, data, demo, log)
    _check_data_needs(recipe_obj, train_data)
    return _run(model, options, recipe_obj, run_root, eval_data, calib_data, train_data, progress, log, check_gates)


def _run(model: Any, options: LoadOptions, recipe: Recipe, run_root: Path, eval_data: Path, calib_data: Path,
         train_data: Path | None, progress: bool, log: Callable[[str], None], check_gates: bool) -> dict[str, Any]:  # fmt: skip
    import yaml

    from edgepose.fileio import write_text
    from edgepose.loading import load_artifact
    from edgepose.pipeline.final import run_final
    from edgepose.pipeline.gates import failed, judge_gates
    from edgepose.pipeline.measure import metric_name
    from edgepose.pipeline.run_dir import RunDir, file_digest, fingerprint
    from edgepose.pipeline.steps import Inputs, run_baseline, run_pass_step
    from edgepose.report.build import build_report, write_report

    baseline = load_artifact(model, options)
    if baseline.model is None:
        raise UserError(f"optimize starts from a PyTorch model (an edgepose .pt checkpoint or --model-factory); "
                        f"{model} is a {baseline.format} file")  # fmt: skip
    run = RunDir(run_root)
    run.root.mkdir(parents=True, exist_ok=True)
    write_text(run.root / "recipe.yaml", yaml.safe_dump(recipe.model_dump(by_alias=True), sort_keys=False))
    inputs = Inputs(recipe, eval_data, calib_data, train_data, options, progress, log, baseline=baseline)
    model_key = file_digest(model) if model is not None else options.model_factory
    data_key = [file_digest(p) for p in (eval_data, calib_data, train_data)]
    key = fingerprint(model_key, options.model_factory, data_key, recipe.metric, recipe.data.model_dump(),
                      recipe.benchmark.model_dump(), recipe.target)  # fmt: skip
    baseline_metrics = run_baseline(run, inputs, key)
    current = baseline
    for index, entry in enumerate(recipe.passes, start=1):
        key = fingerprint(key, entry.pass_, entry.options(), recipe.seed)
        current = run_pass_step(run, index, entry, current, inputs, key)
    final_metrics = run_final(run, current, inputs, fingerprint(key, recipe.export.model_dump(), "final"))
    metric = metric_name(recipe, baseline.spec.schema)
    gates = judge_gates(recipe, metric, baseline_metrics, final_metrics)
    report = build_report(recipe, metric, baseline_metrics, inputs.stages, final_metrics, gates, run.root)
    write_report(report, run.root)
    log(f"report: {run.root / 'report.md'}")
    bad = failed(gates)
    if check_gates and bad:
        summary = "; ".join(f"{g['name']}: {g['value']} vs limit {g['limit']}" for g in bad)
        raise GateFailed(f"gate failed ({summary}); the report is in {run.root}", report=report)
    return report


def _stem(model: Any, options: LoadOptions) -> str:
    if model is not None:
        return Path(str(model)).stem
    ref = options.model_factory or "model"
    return Path(ref.split(":")[0]).stem


def _data_files(recipe: Recipe, recipe_path: Path, data: Any, demo: bool,
                log: Callable[[str], None]) -> tuple[Path, Path, Path | None]:  # fmt: skip
    """(eval, calib, train) files: --data, else the recipe's (relative to its file), else the demo set."""

    def resolve(value: str | None) -> Path | None:
        if value is None:
            return None
        path = Path(value)
        return path if path.is_absolute() or path.exists() else recipe_path.parent / path

    eval_data = Path(data) if data else resolve(recipe.data.eval)
    if eval_data is None:
        if not demo:
            raise UserError("give the evaluation data with --data ANN.json (COCO keypoints) or in the recipe's data.eval")
        from edgepose.pipeline.demo import demo_val_data

        eval_data = demo_val_data(log=log)
    train_data = resolve(recipe.data.train)
    calib_data = resolve(recipe.data.calib) or train_data or eval_data
    for path in (eval_data, calib_data, train_data):
        if path is not None and not path.is_file():
            raise UserError(f"data file not found: {path}")
    return eval_data, calib_data, train_data


def _check_target(recipe: Recipe) -> None:
    """The target runtime must exist here, before any work starts."""
    from edgepose.runtimes import is_available

    ok, reason = is_available(recipe.runtime)
    if not ok:
        raise UserError(f"recipe '{recipe.name}' targets {recipe.target}, which cannot run here: {reason}")
    for entry in recipe.passes:
        backend = entry.options().get("backend")
        if entry.pass_ == "quantize" and backend == "openvino" and recipe.target != "cpu-openvino":
            raise UserError(f"recipe '{recipe.name}': the openvino quantize backend writes an OpenVINO IR; "
                            f"target {recipe.target} needs backend onnxruntime or tensorrt")  # fmt: skip


def _check_data_needs(recipe: Recipe, train_data: Path | None) -> None:
    """Passes that fine-tune need training data; say so before anything runs."""
    from edgepose.passes import make_config

    for index, entry in enumerate(recipe.passes, start=1):
        cfg = make_config(entry.pass_, entry.options())
        finetune = cfg if entry.pass_ == "finetune" else getattr(cfg, "finetune", None)
        if entry.pass_ == "quantize" and getattr(cfg, "mode", "ptq") != "qat":
            finetune = None
        if finetune is not None and finetune.epochs > 0 and train_data is None:
            raise UserError(f"recipe '{recipe.name}' step {index} ({entry.pass_}) fine-tunes: give training data "
                            "with --set data.train=TRAIN.json")  # fmt: skip
