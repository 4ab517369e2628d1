"""`optimize`: baseline -> passes -> export -> verify -> evaluate -> benchmark -> gates -> report.

The recipe and its pass order are validated before any work; every step writes into its own sealed
folder of the run directory, so a re-run resumes after the last completed step; the input model is
only read. Gates that fail raise GateFailed (exit 1) after the report is written.

Under torchrun (edgepose.distributed) only the recovery runs on every process: the steps up to the last one
that fine-tunes run on every rank (their training data-parallel, their structural work alike on each rank),
while rank 0 alone measures the baseline and each step, writes the run folder, and runs the later steps, the
export, the parity check, the evaluation, the benchmarks and the report; the other ranks wait at a barrier
meanwhile (nothing else runs while rank 0 times) and every rank returns rank 0's report. A resumed run reloads
finished steps from the run folder on every rank: on several machines it must be on a shared filesystem.
"""

from __future__ import annotations

import contextlib
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
    from edgepose import distributed as dist

    dist.setup()  # under torchrun; the demo's data is generated once, by rank 0
    eval_data, calib_data, train_data = dist.on_rank_zero(lambda: _data_files(recipe_obj, recipe_path, data, demo, log))
    from edgepose.paths import check_output

    check_output(run_root, [model, eval_data, calib_data, train_data, recipe_path], option="--out", folder=True)
    _check_data_needs(recipe_obj, train_data)
    return _run(model, options, recipe_obj, run_root, eval_data, calib_data, train_data, progress, log, check_gates)


def _run(model: Any, options: LoadOptions, recipe: Recipe, run_root: Path, eval_data: Path, calib_data: Path,
         train_data: Path | None, progress: bool, log: Callable[[str], None], check_gates: bool) -> dict[str, Any]:  # fmt: skip
    from edgepose import distributed as dist
    from edgepose.loading import load_artifact
    from edgepose.pipeline.run_dir import RunDir

    baseline = load_artifact(model, options)
    if baseline.model is None:
        raise UserError(f"optimize starts from a PyTorch model (an edgepose .pt checkpoint or --model-factory); "
                        f"{model} is a {baseline.format} file")  # fmt: skip
    run = RunDir(run_root)
    with run.locked() if dist.is_main() else contextlib.nullcontext():  # one optimize per run folder at a time
        return _run_locked(run, baseline, model, options, recipe, eval_data, calib_data, train_data, progress, log,
                           check_gates)  # fmt: skip


def _run_locked(run: Any, baseline: Any, model: Any, options: LoadOptions, recipe: Recipe, eval_data: Path,
                calib_data: Path, train_data: Path | None, progress: bool, log: Callable[[str], None],
                check_gates: bool) -> dict[str, Any]:  # fmt: skip
    import yaml

    from edgepose import distributed as dist
    from edgepose.fileio import write_text
    from edgepose.passes import make_config
    from edgepose.passes.finetune import finetune_of
    from edgepose.pipeline.final import run_final
    from edgepose.pipeline.gates import judge_gates
    from edgepose.pipeline.measure import metric_name
    from edgepose.pipeline.run_dir import file_digest, fingerprint
    from edgepose.pipeline.steps import Inputs, run_baseline, run_pass_step
    from edgepose.pipeline.variants import choose_auto_rewrites
    from edgepose.report.build import build_report, write_report

    with dist.rank_zero_only() as main:
        if main:
            run.root.mkdir(parents=True, exist_ok=True)
            write_text(run.root / "recipe.yaml", yaml.safe_dump(recipe.model_dump(by_alias=True), sort_keys=False))
    val_data = _val_file(recipe, eval_data)
    inputs = Inputs(recipe, eval_data, calib_data, train_data, options, progress, log, baseline=baseline,
                    val_data=val_data)  # fmt: skip
    model_key = file_digest(model) if model is not None else options.model_factory
    data_key = [file_digest(p) for p in (eval_data, calib_data, train_data)]
    if val_data is not None:
        data_key.append(file_digest(val_data))
    key = fingerprint(model_key, options.model_factory, data_key, recipe.metric, recipe.data.model_dump(),
                      recipe.benchmark.model_dump(), recipe.target)  # fmt: skip
    baseline_metrics = dist.on_rank_zero(lambda: run_baseline(run, inputs, key))
    if recipe.search is not None:
        report = _run_search(run, inputs, key, baseline_metrics)
        return _judged(report, run, check_gates)
    base_key, keys = key, []
    for entry in recipe.passes:
        key = fingerprint(key, entry.pass_, entry.options(), recipe.seed)
        keys.append(key)
    trains = [finetune_of(e.pass_, make_config(e.pass_, e.options())) is not None for e in recipe.passes]
    shared = max((i + 1 for i, t in enumerate(trains) if t), default=0)  # steps every rank takes part in
    current = baseline
    for index, entry in enumerate(recipe.passes[:shared], start=1):
        current = run_pass_step(run, index, entry, current, inputs, keys[index - 1])

    def rest() -> dict[str, Any]:  # rank 0 alone from here: later steps, export, measurements, report
        last = current
        for index, entry in enumerate(recipe.passes[shared:], start=shared + 1):
            last = run_pass_step(run, index, entry, last, inputs, keys[index - 1])
        # `keep: auto` steps: measured, then kept
        chosen = choose_auto_rewrites(run, inputs, baseline, base_key, list(recipe.passes), last, key)
        final_metrics = run_final(run, chosen.last, chosen.inputs, fingerprint(chosen.key, recipe.export.model_dump(),
                                                                               "final"))  # fmt: skip
        metric = metric_name(recipe, baseline.spec.schema)
        gates = judge_gates(recipe, metric, baseline_metrics, final_metrics)
        report = build_report(recipe, metric, baseline_metrics, chosen.inputs.stages, final_metrics, gates, run.root,
                              decisions=chosen.decisions)  # fmt: skip
        write_report(report, run.root)
        log(f"report: {run.root / 'report.md'}")
        return report

    return _judged(dist.on_rank_zero(rest), run, check_gates)


def _judged(report: dict[str, Any], run: Any, check_gates: bool) -> dict[str, Any]:
    """The report, or GateFailed (exit 1) naming the failed gates when asked to check them."""
    from edgepose.pipeline.gates import failed

    bad = failed(report["gates"])
    if check_gates and bad:
        summary = "; ".join(f"{g['name']}: {g['value']} vs limit {g['limit']}" for g in bad)
        raise GateFailed(f"gate failed ({summary}); the report is in {run.root}", report=report)
    return report


def _run_search(run: Any, inputs: Any, base_key: str, baseline_metrics: dict[str, Any]) -> dict[str, Any]:
    """A recipe with `search`: every candidate chain, the fastest passing one published as RUN_DIR/final."""
    from edgepose import distributed as dist
    from edgepose.pipeline.measure import metric_name
    from edgepose.pipeline.search import run_search
    from edgepose.report.build import build_report, write_report

    if dist.world_size() > 1:
        raise UserError(f"recipe '{inputs.recipe.name}' searches; run it in one process, not under torchrun")
    found = run_search(run, inputs, base_key, baseline_metrics)
    winner = found.winner
    metric = metric_name(inputs.recipe, inputs.baseline.spec.schema)
    search = {"winner": winner.name, "candidates": [o.summary(metric) for o in found.outcomes],
              "skipped": found.skipped, "tiebreak": found.tiebreak, "vs_reference": found.vs_reference}
    report = build_report(winner.recipe, metric, baseline_metrics, winner.stages, winner.final, winner.gates, run.root,
                          decisions=winner.decisions, search=search)  # fmt: skip
    write_report(report, run.root)
    inputs.log(f"search: kept {winner.name}; report: {run.root / 'report.md'}")
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
        return path if path.is_absolute() or path.exists() or _is_glob(path) else recipe_path.parent / path

    eval_data = Path(data) if data else resolve(recipe.data.eval)
    if eval_data is None:
        if not demo:
            raise UserError("give the evaluation data with --data ANN.json (COCO keypoints) or in the recipe's data.eval")
        from edgepose.pipeline.demo import demo_val_data

        eval_data = demo_val_data(log=log)
    train_data = resolve(recipe.data.train)
    calib_data = resolve(recipe.data.calib) or train_data
    if calib_data is None and demo and not data:
        from edgepose.pipeline.demo import demo_calib_data

        calib_data = demo_calib_data(log=log)
    calib_data = calib_data or eval_data
    if calib_data == eval_data and any(entry.pass_ == "quantize" for entry in recipe.passes):
        log(f"warning: calibrating on the evaluation data ({eval_data}): the accuracy drop is then measured on the "
            "images the INT8 ranges were fitted to; give --set data.calib=... (or data.train) to keep them apart")  # fmt: skip
    if not eval_data.is_file():
        raise UserError(f"data file not found: {eval_data}")
    for path in (calib_data, train_data):  # images suffice for these: a folder, a glob, a video, any COCO-style JSON
        if path is not None and not path.is_file() and not path.is_dir() and not _is_glob(path):
            raise UserError(f"data not found: {path} (a COCO-style JSON, a folder of images, a glob or a video)")
    return eval_data, calib_data, train_data


def _val_file(recipe: Recipe, eval_data: Path) -> Path | None:
    """data.val (relative to the working folder), refused when it is the evaluation data."""
    if recipe.data.val is None:
        return None
    val = Path(recipe.data.val)
    if not val.is_file():
        raise UserError(f"data.val {val}: file not found")
    if val.resolve() == eval_data.resolve():
        raise UserError(f"data.val {val} is the evaluation data: the fine-tuning would pick its epochs on the images "
                        "it is scored on; give held-out validation data or leave data.val unset (last epoch)")  # fmt: skip
    return val


def _is_glob(path: Path) -> bool:
    import glob

    return any(ch in str(path) for ch in "*?[") and bool(glob.glob(str(path)))


def _check_target(recipe: Recipe) -> None:
    """The target runtime must exist here, before any work starts."""
    from edgepose.runtimes import is_available

    ok, reason = is_available(recipe.runtime)
    if not ok:
        raise UserError(f"recipe '{recipe.name}' targets {recipe.target}, which cannot run here: {reason}")
    if recipe.export.precision == "bf16":
        from edgepose.hardware import require_native_bf16

        require_native_bf16(f"recipe '{recipe.name}' ({recipe.runtime})")
    for entry in recipe.passes:
        backend = entry.options().get("backend")
        if entry.pass_ == "quantize" and backend == "openvino" and recipe.target != "cpu-openvino":
            raise UserError(f"recipe '{recipe.name}': the openvino quantize backend writes an OpenVINO IR; "
                            f"target {recipe.target} needs backend onnxruntime or tensorrt")  # fmt: skip


def _check_data_needs(recipe: Recipe, train_data: Path | None) -> None:
    """Passes that fine-tune need training data; say so before anything runs."""
    from edgepose.passes import make_config
    from edgepose.passes.finetune import finetune_of
    from edgepose.recipe import PassEntry

    if train_data is not None:
        return
    chains = [(f"step {i}", [e]) for i, e in enumerate(recipe.passes, start=1)]
    if recipe.search is not None:
        chains += [(f"search.prune.{i}", [PassEntry.model_validate({"pass": "prune", **options})])
                   for i, options in enumerate(recipe.search.prune)]  # fmt: skip
        chains += [(f"search candidate {c.name}", list(c.passes)) for c in recipe.search.candidates]
    for where, entries in chains:
        for entry in entries:
            if finetune_of(entry.pass_, make_config(entry.pass_, entry.options())) is not None:
                raise UserError(f"recipe '{recipe.name}' {where} ({entry.pass_}) fine-tunes: give training data "
                                "with --set data.train=TRAIN.json")  # fmt: skip
