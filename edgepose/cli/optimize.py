"""`edgepose optimize [MODEL] [--recipe NAME|PATH] [--data ANN.json] [--out RUN_DIR]`: the main job."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from edgepose.cli.common import (
    ArchOpt,
    DistBackendOpt,
    FactoryOpt,
    InputSizeOpt,
    JsonOpt,
    OptionalModelArg,
    SchemaOpt,
    TrustOpt,
    start_distributed,
)

Opt = Optional  # noqa: UP045  (Typer reads Optional[...] annotations)


def optimize_command(
    model: OptionalModelArg = None,
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="a shipped recipe name (edgepose optimize --list) or a YAML file")] = "cpu-int8",
    data: Annotated[Opt[str], typer.Option("--data", help="evaluation data: COCO keypoints JSON (default: the recipe's, or the demo's)")] = None,
    out: Annotated[Opt[str], typer.Option("--out", "-o", help="run folder (default runs/<recipe>-<model>); a re-run resumes in it")] = None,
    set_: Annotated[Opt[list[str]], typer.Option("--set", help="override a recipe value: key.path=value (repeatable)")] = None,
    list_recipes: Annotated[bool, typer.Option("--list", help="list the shipped recipes and exit")] = False,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    dist_backend: DistBackendOpt = "auto",
    json_out: JsonOpt = False,
) -> None:
    """Optimize MODEL with a recipe: baseline, passes, export, parity, accuracy, speed, gates, report.

    With no arguments it runs the default CPU recipe on the bundled demo checkpoint and its held-out data.

    Example: edgepose optimize my_pose.pt --recipe cpu-int8 --data val.json --set gates.max_metric_drop=0.5

    Under torchrun (python -m torch.distributed.run --nproc_per_node N -m edgepose optimize ...) only the
    recipe's fine-tuning runs on N processes; rank 0 alone evaluates, exports, benchmarks and reports.
    """
    from edgepose.console import print_json

    if list_recipes:
        _print_recipes(json_out)
        return
    from edgepose.console import info
    from edgepose.errors import GateFailed
    from edgepose.pipeline import optimize
    from edgepose.recipe import load_recipe

    load_recipe(recipe, set_ or [])  # a misspelt key fails here, in well under 2 s: no torch imported yet
    start_distributed(dist_backend)
    from edgepose.loading import LoadOptions

    options = LoadOptions(arch, model_factory, trust_checkpoint, input_size, schema)
    report = optimize(model, recipe, data, out, set_ or [], load_options=options, progress=not json_out, log=info,
                      check_gates=False)  # fmt: skip
    if json_out:
        print_json(report)
    else:
        print_report(report)
    bad = [g for g in report["gates"] if g["verdict"] == "fail"]
    if bad:
        raise GateFailed("gate failed: " + "; ".join(f"{g['name']} ({g['what']}): {g['value']} vs limit {g['limit']}"
                                                     for g in bad))  # fmt: skip


def print_report(report: dict) -> None:
    """Baseline vs final table, speedups, steps and gates."""
    from rich.table import Table

    from edgepose.console import stdout
    from edgepose.report.markdown import speedup_lines, summary_rows

    table = Table(title=f"edgepose optimize: {report['recipe']} -> {report['target']}")
    table.add_column("")
    table.add_column("baseline", justify="right")
    table.add_column("final", justify="right")
    for row in summary_rows(report):
        table.add_row(*row)
    stdout.print(table)
    for line in speedup_lines(report):
        stdout.print(line)
    for decision in report.get("decisions", []):
        stdout.print(f"step {decision['step']} {decision['pass']} (keep: auto): {decision['reason']}")
    gates = Table(title="gates")
    for column in ("gate", "limit", "value", "verdict", "what"):
        gates.add_column(column)
    for gate in report["gates"]:
        style = "green" if gate["verdict"] == "pass" else "bold red"
        gates.add_row(gate["name"], str(gate["limit"]), str(gate["value"]), f"[{style}]{gate['verdict']}[/]", gate["what"])
    stdout.print(gates)
    stdout.print(f"artifact: {report['final']['artifact']}   report: {report['run_dir']}/report.md")


def _print_recipes(json_out: bool) -> None:
    import yaml
    from rich.table import Table

    from edgepose.console import print_json, stdout
    from edgepose.recipe import builtin_recipes

    rows = []
    for name, path in builtin_recipes().items():
        raw = yaml.safe_load(path.read_text()) or {}
        passes = [p.get("pass") for p in raw.get("passes", []) if isinstance(p, dict)]
        rows.append({"name": name, "target": raw.get("target"), "passes": passes, "description": raw.get("description", "")})
    if json_out:
        print_json(rows)
        return
    table = Table(title="shipped recipes")
    for column in ("name", "target", "passes", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], str(row["target"]), " -> ".join(row["passes"]) or "-", row["description"])
    stdout.print(table)
