#!/usr/bin/env python
"""Feed edgepose hostile and careless inputs, as a new user would, and check the CLI contract held.

Every case runs the real CLI (`python -m edgepose ...`) in its own folder under a temporary directory.
Checked per case: the exit code (2 with ONE line on stderr for bad input; 0 for odd but valid input),
no traceback, --json stdout is strict JSON (no NaN / Infinity), the sha256 of every input file is the
same afterwards, and a case that must be refused was refused (exit 0 there is "accepted wrongly").

    python scripts/probe_bad_inputs.py                       # everything (~15 min on 2 cores)
    python scripts/probe_bad_inputs.py --only gt.,pred.      # cases whose id contains any of these
    python scripts/probe_bad_inputs.py --list                # the case ids
    python scripts/probe_bad_inputs.py --json probe.json     # also save per-case results

Run it with the project's Python (the one that has edgepose's dependencies); the code under test is
this checkout unless --pythonpath says otherwise. Exit status: 0 when every case passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe import cases_data, cases_model, cases_options, fixtures  # noqa: E402
from probe.case import Case  # noqa: E402
from probe.runner import Result, hashes, run_case  # noqa: E402

SUMMARY_KINDS = (("exit3", "exit 3"), ("traceback", "tracebacks"), ("accepted", "accepted wrongly"),
                 ("changed", "inputs changed"), ("other", "other failures"))  # fmt: skip


def all_cases() -> list[Case]:
    cases = cases_data.all_cases() + cases_model.all_cases() + cases_options.all_cases()
    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise SystemExit(f"duplicate case ids: {sorted(dupes)}")
    return cases


def select(cases: list[Case], only: str | None) -> list[Case]:
    if not only:
        return cases
    parts = [p for p in only.split(",") if p]
    return [c for c in cases if any(p in c.id for p in parts)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run cases whose id contains this (comma-separated: any of them)")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--json", dest="json_out", help="write per-case results to this JSON file")
    parser.add_argument("--list", action="store_true", help="list the case ids and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--pythonpath", default=str(fixtures.REPO), help="edgepose checkout to test (default: this one)")
    args = parser.parse_args(argv)
    cases = select(all_cases(), args.only)
    if args.list:
        for c in cases:
            print(f"{c.id:60s} {c.expect:9s} {c.command}")
        print(f"{len(cases)} cases", file=sys.stderr)
        return 0
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    root = Path(tempfile.mkdtemp(prefix="edgepose-probe-"))
    env = fixtures.cli_env(args.pythonpath)
    start = time.perf_counter()
    try:
        print(f"building fixtures in {root} ...", file=sys.stderr)
        places = fixtures.build(root, env)
        fixture_hashes = hashes([p for p in (root / "fx").rglob("*") if p.is_file()])
        results = run_all(cases, places, root, env, args.jobs)
        after = hashes(list(fixture_hashes))
        changed_fixtures = [str(p.relative_to(root)) for p, h in fixture_hashes.items() if after.get(p) != h]
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(results, changed_fixtures, time.perf_counter() - start)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([r.to_dict() for r in results], indent=1) + "\n")
    return 0 if all(r.passed for r in results) and not changed_fixtures else 1


def run_all(cases: list[Case], places: dict[str, str], root: Path, env: dict[str, str], jobs: int) -> list[Result]:
    results: list[Result] = []
    order = {c.id: i for i, c in enumerate(cases)}
    # the slow ones first, so the pool does not end waiting on one of them
    queue = sorted(cases, key=lambda c: -(c.timeout_s + (100 if c.expect in ("lock", "interrupt") else 0)))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_case, c, places, root, env): c for c in queue}
        for n, future in enumerate(as_completed(futures), 1):
            case = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a bug in a case's setup: report it, keep going
                result = Result(case, None, 0.0, [f"probe setup failed: {type(exc).__name__}: {exc}"])
            results.append(result)
            verdict = "skip" if result.skipped else ("pass" if result.passed else "FAIL")
            print(f"[{n}/{len(cases)}] {verdict} {case.id} (rc {result.rc}, {result.seconds:.1f} s)", file=sys.stderr)
    return sorted(results, key=lambda r: order[r.case.id])


def report(results: list[Result], changed_fixtures: list[str], seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    ran = [r for r in results if not r.skipped]
    failed = [r for r in ran if not r.passed]
    if failed:
        table = Table(title=f"edgepose probe: {len(failed)} failing cases", show_lines=False)
        for col in ("case", "command", "expect", "rc", "problems"):
            table.add_column(col, overflow="fold")
        for r in failed:
            table.add_row(r.case.id, r.case.command, r.case.expect, str(r.rc), "; ".join(r.problems))
        console.print(table)
    by_category: dict[str, list[int]] = {}
    for r in ran:
        counts = by_category.setdefault(r.case.category, [0, 0])
        counts[0] += 1
        counts[1] += 0 if r.passed else 1
    cat = Table(title="by category")
    cat.add_column("category")
    cat.add_column("cases", justify="right")
    cat.add_column("failing", justify="right")
    for name, (n, bad) in sorted(by_category.items()):
        cat.add_row(name, str(n), str(bad))
    console.print(cat)
    for r in results:
        if r.skipped:
            console.print(f"skipped {r.case.id}: {r.skipped}")
    if changed_fixtures:
        console.print(f"[bold red]shared fixtures changed: {', '.join(changed_fixtures)}")
    exit2 = sum(1 for r in ran if r.rc == 2)
    counts = {k: sum(1 for r in ran if k in r.kinds) for k, _ in SUMMARY_KINDS}
    parts = [f"{len(ran)} tried", f"{exit2} exit 2"] + [f"{counts[k]} {label}" for k, label in SUMMARY_KINDS]
    console.print(f"[bold]{', '.join(parts)}[/] ({len(ran) - len(failed)} passed, {len(failed)} failed, "
                  f"{len(results) - len(ran)} skipped; {seconds / 60:.1f} min)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
