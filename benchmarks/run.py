#!/usr/bin/env python3
"""edgepose latency suite: every model x runtime x batch of a suite YAML, one JSON results file.

    python benchmarks/run.py                                   # benchmarks/suite.yaml -> benchmarks/results/latest.json
    python benchmarks/run.py --iters 10 --only 'simplebaseline-lite*' --compare-to benchmarks/baselines/cpu-2core-epyc.json

Each model is a zoo architecture built fresh by name (seeded weights), exported once per format with
the package's own `export_model` into a work folder, loaded back like a user's file, and timed with
`edgepose.bench.benchmark.benchmark` (the same code as `edgepose bench`). Entry ids are
`MODEL/RUNTIME/bBATCH`, e.g. `simplebaseline-lite@128x96/onnxruntime/b1`. `--compare-to` prints the
p50 ratio of each entry to a baseline file (> 1: slower now); it gates only with `--fail-if-slower`,
and only means something on the machine that wrote the baseline (see benchmarks/README.md).
Exit codes: 0 ok, 1 the baseline gate failed, 2 bad input (one line on stderr), 3 an entry failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import itertools
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgepose.errors import EdgeposeError, UserError
from edgepose.registry import did_you_mean

HERE = Path(__file__).resolve().parent
DEFAULT_SUITE = HERE / "suite.yaml"
DEFAULT_OUT = HERE / "results" / "latest.json"
RESULTS_FORMAT = "edgepose-bench-suite"
SCHEMA_VERSION = 1
ENTRY_KEYS = (
    "id", "model", "arch", "input_size", "runtime", "batch", "status", "latency_ms", "fps", "throughput_ips",
    "threads", "precision", "params", "gflops", "size_mb", "iters", "warmup",
)  # fmt: skip
FILE_SUFFIX = {"onnx": ".onnx", "openvino": ".xml", "tensorrt": ".engine"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_batches(value: list[int] | None) -> list[int] | None:
    if value is not None and (not value or any(b < 1 for b in value)):
        raise ValueError("batches must be a non-empty list of integers >= 1")
    return value


class ModelEntry(_Strict):
    """One model of the suite: a zoo architecture, its input size and builder kwargs."""

    arch: str
    name: str | None = None
    input_size: str | None = None  # "HxW"; default: the zoo's
    kwargs: dict[str, Any] = Field(default_factory=dict)
    batches: list[int] | None = None  # default: the suite's
    runtimes: list[str] | None = None  # default: the suite's

    _batches = field_validator("batches")(_check_batches)

    @field_validator("input_size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None:
            parts = value.lower().split("x")
            if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
                raise ValueError(f"input_size '{value}' should look like HxW, e.g. 256x192")
        return value

    @property
    def label(self) -> str:
        return self.name or (f"{self.arch}@{self.input_size}" if self.input_size else self.arch)


class Suite(_Strict):
    name: str
    description: str = ""
    warmup: int = Field(5, ge=0)
    iters: int = Field(30, ge=1)
    threads: int | None = Field(2, ge=1)
    batches: list[int] = Field(default_factory=lambda: [1])
    runtimes: list[str] = Field(default_factory=lambda: ["torch", "onnxruntime", "openvino"])
    models: list[ModelEntry] = Field(min_length=1)

    _batches = field_validator("batches")(_check_batches)


@dataclass(frozen=True)
class Job:
    """One model on one runtime at one or more batch sizes (one session, several entries)."""

    model: ModelEntry
    runtime: str
    batches: tuple[int, ...]

    def entry_id(self, batch: int) -> str:
        return f"{self.model.label}/{self.runtime}/b{batch}"


# ---- the suite file ------------------------------------------------------------------------------


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite; any problem is one UserError line naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"suite file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a suite is a YAML mapping, got {type(raw).__name__}")
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        raise UserError(_suite_error(exc, path)) from None
    labels = [m.label for m in suite.models]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise UserError(f"{path}: model '{twice[0]}' appears twice; give one of them a distinct `name`")
    return suite


def _suite_error(exc: ValidationError, path: Path) -> str:
    error = exc.errors()[0]
    loc = [str(p) for p in error["loc"]]
    where = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        model = ModelEntry if len(loc) >= 3 and loc[0] == "models" else Suite
        known = sorted(model.model_fields)
        return f"{path}: unknown key '{where}'{did_you_mean(loc[-1], known)}; known here: {', '.join(known)}"
    if error["type"] == "missing":
        return f"{path}: missing key '{where}'"
    return f"{path}: {where}: {error['msg']}"


def check_names(suite: Suite, path: Path) -> None:
    """Every architecture is in the zoo and every runtime is registered (imports torch)."""
    from edgepose.models import MODELS
    from edgepose.runtimes import RUNTIMES

    for i, model in enumerate(suite.models):
        if model.arch not in MODELS:
            raise UserError(f"{path}: models.{i}.arch: unknown architecture '{model.arch}'"
                            f"{did_you_mean(model.arch, MODELS.names())}; see `edgepose zoo`")  # fmt: skip
        for runtime in model.runtimes or suite.runtimes:
            if runtime not in RUNTIMES:
                raise UserError(f"{path}: unknown runtime '{runtime}'{did_you_mean(runtime, RUNTIMES.names())}; "
                                f"known: {', '.join(RUNTIMES.names())}")  # fmt: skip


def plan(suite: Suite, only: list[str] | None = None, batches: list[int] | None = None) -> list[Job]:
    """The jobs to run, in suite order, keeping only entries whose id matches one `only` pattern."""
    jobs = []
    for model in suite.models:
        for runtime in model.runtimes or suite.runtimes:
            job = Job(model, runtime, ())
            wanted = tuple(
                b for b in (batches or model.batches or suite.batches) if selected(job.entry_id(b), only)
            )
            if wanted:
                jobs.append(Job(model, runtime, wanted))
    return jobs


def selected(entry_id: str, patterns: list[str] | None) -> bool:
    """A glob pattern matches the whole id; a plain word matches anywhere in it."""
    if not patterns:
        return True
    return any(fnmatch.fnmatchcase(entry_id, p if any(c in p for c in "*?[") else f"*{p}*") for p in patterns)


# ---- running -------------------------------------------------------------------------------------


def build_artifact(model: ModelEntry) -> Any:
    """A torch Artifact of the zoo architecture, seeded (latency does not depend on weight values)."""
    import torch

    from edgepose.artifact import Artifact, parse_input_size
    from edgepose.models import build_model, default_spec, takes_input_size

    size = parse_input_size(model.input_size) if model.input_size else default_spec(model.arch).input_size
    torch.manual_seed(0)
    try:
        net = build_model(model.arch, input_size=size, **model.kwargs).eval()
    except TypeError as exc:
        raise UserError(f"{model.arch}: bad kwargs {model.kwargs}: {exc}") from None
    kwargs = {**({"input_size": list(size)} if takes_input_size(model.arch) else {}), **model.kwargs}
    return Artifact(spec=default_spec(model.arch, input_size=size), model=net, arch=model.arch, arch_kwargs=kwargs,
                    provenance={"source": "benchmarks/run.py"})  # fmt: skip


def artifact_for(job: Job, fmt: str, cache: dict[str, Any], workdir: Path) -> Any:
    """The model in `fmt`, exported once per model and format, then read back from its file."""
    from edgepose.export.convert import export_model
    from edgepose.loading import load_artifact

    if fmt not in cache:
        if "torch" not in cache:
            cache["torch"] = build_artifact(job.model)
        if fmt != "torch":
            slug = job.model.label.replace("/", "_").replace("@", "_")
            out = export_model(cache["torch"], fmt, workdir / f"{slug}{FILE_SUFFIX[fmt]}", dynamic_batch=True)
            cache[fmt] = load_artifact(out.path)
    return cache[fmt]


def run_job(job: Job, suite: Suite, cache: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    """The entries of one job: measured, skipped (runtime unavailable) or error (one line)."""
    from edgepose.bench.benchmark import benchmark
    from edgepose.runtimes import RUNTIMES, is_available

    base = {"model": job.model.label, "arch": job.model.arch, "input_size": job.model.input_size,
            "runtime": job.runtime}  # fmt: skip
    ok, reason = is_available(job.runtime)
    if not ok:
        return [
            {"id": job.entry_id(b), **base, "batch": b, "status": "skipped", "reason": reason}
            for b in job.batches
        ]
    try:
        artifact = artifact_for(job, RUNTIMES.get(job.runtime).formats[0], cache, workdir)
        result = benchmark(artifact, job.runtime, batches=job.batches, threads=suite.threads, warmup=suite.warmup,
                           iters=suite.iters)  # fmt: skip
    except Exception as exc:  # noqa: BLE001  (one failed entry must not lose the others' numbers)
        reason = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:240]}"
        return [
            {"id": job.entry_id(b), **base, "batch": b, "status": "error", "reason": reason}
            for b in job.batches
        ]
    shared = {k: result[k] for k in ("threads", "precision", "params", "gflops", "size_mb")}
    return [
        {"id": job.entry_id(e["batch"]), **base, "batch": e["batch"], "status": "ok", "latency_ms": e["latency_ms"],
         "fps": e["fps"], "throughput_ips": e["throughput_ips"], **shared, "iters": result["iters"], "warmup": suite.warmup}
        for e in result["batches"]
    ]  # fmt: skip


def run_suite(suite: Suite, jobs: list[Job], workdir: Path, progress: bool = True) -> list[dict[str, Any]]:
    """Run every job in order with a progress bar (stderr), one line per finished entry."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from edgepose.console import stderr

    entries: list[dict[str, Any]] = []
    total = sum(len(j.batches) for j in jobs)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=stderr, disable=not (progress and stderr.is_terminal)) as bar:
        task = bar.add_task("latency suite", total=total, status="")
        for _, model_jobs in itertools.groupby(jobs, key=lambda j: j.model.label):
            cache: dict[str, Any] = {}  # this model's artifacts, dropped before the next model is built
            for job in model_jobs:
                bar.update(task, status=f"{job.model.label} on {job.runtime}")
                for entry in run_job(job, suite, cache, workdir):
                    entries.append(entry)
                    ok = entry["status"] == "ok"
                    done = (
                        f"p50 {entry['latency_ms']['p50']:.2f} ms"
                        if ok
                        else f"{entry['status']}: {entry['reason']}"
                    )
                    stderr.print(f"[{len(entries)}/{total}] {entry['id']}: {done}", highlight=False)
                    bar.advance(task)
        bar.update(task, status="done")
    return entries


def results_document(suite: Suite, suite_path: Path, entries: list[dict[str, Any]], args: argparse.Namespace,
                     load_start: list[float] | None, started: float) -> dict[str, Any]:  # fmt: skip
    from edgepose.bench.env import environment

    env = {**environment("cpu"), "label": args.label, "note": args.note, "nice": os.nice(0) if hasattr(os, "nice") else None,
           "load_avg_1_5_15_start": load_start, "load_avg_1_5_15_end": _loadavg()}  # fmt: skip
    counts = {s: sum(e["status"] == s for e in entries) for s in ("ok", "skipped", "error")}
    return {
        "format": RESULTS_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "suite": {"name": suite.name, "file": _display(suite_path), "description": suite.description,
                  "warmup": suite.warmup, "iters": suite.iters, "threads": suite.threads, "only": args.only or None},
        "env": env,
        "duration_s": round(time.perf_counter() - started, 1),
        "summary": counts,
        "results": entries,
    }  # fmt: skip


# ---- comparing with a baseline -------------------------------------------------------------------


def load_results(path: str | Path) -> dict[str, Any]:
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"baseline file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise UserError(f"{path} is not a results file of benchmarks/run.py (format '{RESULTS_FORMAT}')")
    return data


def compare_to_baseline(
    current: dict[str, Any], baseline: dict[str, Any], threshold: float | None = None
) -> list[dict[str, Any]]:
    """Per entry id: p50 now, p50 in the baseline, ratio now/baseline (> 1: slower) and a verdict."""
    base = {e["id"]: e for e in baseline.get("results", []) if e.get("status") == "ok"}
    rows = []
    for entry in current["results"]:
        if entry["status"] != "ok":
            continue
        p50, old = entry["latency_ms"]["p50"], base.get(entry["id"])
        if old is None:
            rows.append(
                {"id": entry["id"], "p50_ms": p50, "baseline_p50_ms": None, "ratio": None, "verdict": "new"}
            )
            continue
        ratio = p50 / old["latency_ms"]["p50"]
        verdict = "slower" if threshold is not None and ratio > 1 + threshold else "ok"
        rows.append({"id": entry["id"], "p50_ms": p50, "baseline_p50_ms": old["latency_ms"]["p50"],
                     "ratio": round(ratio, 4), "verdict": verdict})  # fmt: skip
    return rows


def print_results(
    doc: dict[str, Any], rows: list[dict[str, Any]] | None, baseline: dict[str, Any] | None
) -> None:
    from rich.console import Console
    from rich.table import Table

    from edgepose.console import stdout

    if not stdout.is_terminal:  # a log file or a pipe: wide enough that entry ids stay on one line
        stdout = Console(width=160)
    table = Table(
        title=f"edgepose latency suite '{doc['suite']['name']}' (ms; threads {doc['suite']['threads']})"
    )
    for col in ("entry", "p50", "p90", "mean", "std", "images/s", "status"):
        table.add_column(col, justify="left" if col in ("entry", "status") else "right", overflow="fold")
    for e in doc["results"]:
        if e["status"] == "ok":
            lat = e["latency_ms"]
            cells = [f"{lat[k]:.2f}" for k in ("p50", "p90", "mean", "std")] + [f"{e['throughput_ips']:.1f}"]
            table.add_row(e["id"], *cells, "ok")
        else:
            table.add_row(e["id"], "-", "-", "-", "-", "-", f"{e['status']}: {e['reason']}")
    stdout.print(table)
    if rows is None or baseline is None:
        return
    table = Table(
        title=f"vs baseline {doc['compare_to']['baseline']} (ratio = p50 now / p50 baseline; > 1 slower)"
    )
    for col in ("entry", "baseline p50", "p50 now", "ratio", "verdict"):
        table.add_column(col, justify="left" if col in ("entry", "verdict") else "right", overflow="fold")
    for r in rows:
        old = "-" if r["baseline_p50_ms"] is None else f"{r['baseline_p50_ms']:.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
        table.add_row(r["id"], old, f"{r['p50_ms']:.2f}", ratio, r["verdict"])
    stdout.print(table)
    for note in baseline_notes(doc, baseline):
        stdout.print(f"note: {note}")


def baseline_notes(doc: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """Why the ratios may compare machines or settings rather than code."""
    notes = []
    old_env, env = baseline.get("env", {}), doc["env"]
    if (old_env.get("cpu"), old_env.get("cores_available")) != (env.get("cpu"), env.get("cores_available")):
        notes.append(f"the baseline ran on '{old_env.get('cpu')}' with {old_env.get('cores_available')} cores, this run on "
                     f"'{env.get('cpu')}' with {env.get('cores_available')}: the ratios compare machines, not code")  # fmt: skip
    old_threads, threads = baseline.get("suite", {}).get("threads"), doc["suite"]["threads"]
    if old_threads != threads:
        notes.append(f"the baseline used threads={old_threads}, this run threads={threads}")
    if old_env.get("note"):
        notes.append(f"baseline note: {old_env['note']}")
    return notes


# ---- command line --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (the CLI contract), not usage + line
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _Parser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", default=str(DEFAULT_SUITE), help="suite YAML (default: benchmarks/suite.yaml)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="results JSON, written atomically (default: %(default)s)")  # fmt: skip
    p.add_argument("--iters", type=int, help="timed iterations per entry (overrides the suite)")
    p.add_argument("--warmup", type=int, help="untimed warm-up iterations (overrides the suite)")
    p.add_argument("--threads", type=int, help="CPU threads for every runtime (overrides the suite)")
    p.add_argument("--batches", help="batch sizes for every model, comma separated (overrides the suite)")
    p.add_argument("--only", action="append", metavar="PATTERN",
                   help="run only entries whose id (MODEL/RUNTIME/bN) matches; glob or substring; repeatable")  # fmt: skip
    p.add_argument("--list", action="store_true", help="print the entry ids the suite would run, then exit")
    p.add_argument("--workdir", help="keep the exported models here (default: a temporary folder)")
    p.add_argument("--compare-to", metavar="BASELINE.json", help="print p50 ratios of each entry to this results file")  # fmt: skip
    p.add_argument("--fail-if-slower", metavar="PCT",
                   help="with --compare-to: exit 1 when an entry's p50 ratio exceeds 1 + PCT (e.g. 25%%); "
                        "only meaningful on the baseline's own machine")  # fmt: skip
    p.add_argument("--label", help="a name for this machine, stored in env.label (e.g. cpu-2core-epyc)")
    p.add_argument("--note", help="free text stored in env.note (e.g. 'measured under load')")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="tracebacks instead of one-line errors")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _main(args)
    except EdgeposeError as exc:
        if args.debug:
            raise
        print(f"benchmarks/run.py: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _main(args: argparse.Namespace) -> int:
    from edgepose.bench.benchmark import parse_batches
    from edgepose.bench.compare import parse_threshold

    started, load_start = time.perf_counter(), _loadavg()
    suite_path = Path(args.suite)
    suite = load_suite(suite_path)
    overrides = {k: getattr(args, k) for k in ("iters", "warmup", "threads") if getattr(args, k) is not None}
    try:
        suite = Suite.model_validate({**suite.model_dump(), **overrides})
    except ValidationError as exc:
        raise UserError(_suite_error(exc, Path("command line"))) from None
    batches = list(parse_batches(args.batches)) if args.batches else None
    threshold = parse_threshold(args.fail_if_slower) if args.fail_if_slower else None
    if threshold is not None and not args.compare_to:
        raise UserError("--fail-if-slower needs --compare-to BASELINE.json")
    baseline = load_results(args.compare_to) if args.compare_to else None
    check_names(suite, suite_path)
    jobs = plan(suite, args.only, batches)
    if not jobs:
        raise UserError(f"no entry of {suite_path} matches --only {' '.join(args.only or [])}; see --list")
    if args.list:
        print("\n".join(j.entry_id(b) for j in jobs for b in j.batches))
        return 0
    with tempfile.TemporaryDirectory(prefix="edgepose-bench-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        entries = run_suite(suite, jobs, workdir, progress=not args.no_progress)
    doc = results_document(suite, suite_path, entries, args, load_start, started)
    rows = None
    if baseline is not None:
        rows = compare_to_baseline(doc, baseline, threshold)
        doc["compare_to"] = {
            "baseline": _display(Path(args.compare_to)),
            "threshold": threshold,
            "rows": rows,
        }
    from edgepose.fileio import write_json

    write_json(args.out, doc)  # a temp file beside it, then os.replace
    print_results(doc, rows, baseline)
    print(f"results: {args.out}", file=sys.stderr)
    if doc["summary"]["error"]:
        return 3
    if rows is not None and any(r["verdict"] == "slower" for r in rows):
        print(f"benchmarks/run.py: {sum(r['verdict'] == 'slower' for r in rows)} entries slower than the baseline "
              f"by more than {threshold:.0%}", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
