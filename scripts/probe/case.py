"""One probe case: the command line, what it should do, and how to judge what it did.

Expectations:
  refuse     exit 2 with exactly one line on stderr (optionally matching `match`, not `not_match`)
  ok         exit 0 (and `check(outcome)` returns None); --json stdout must be strict JSON
  either     exit 0 or a one-line exit 2: both are acceptable answers to an odd but legal input
  interrupt  SIGINT to the process group after `signal_after_s`: exit 130, "interrupted" on stderr
  lock       two runs into the same folder at once: the second waits (both exit 0) or refuses (exit 2)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPECTATIONS = ("refuse", "ok", "either", "interrupt", "lock")


@dataclass
class Outcome:
    """What one run of the CLI did."""

    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    case_dir: Path
    timed_out: bool = False
    data: Any = None  # the parsed --json document, when there is one

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


Setup = Callable[[Path, dict[str, str]], dict[str, str]]
Check = Callable[[Outcome], "str | None"]


@dataclass
class Case:
    id: str
    command: str
    category: str
    args: list[str]
    expect: str = "refuse"
    setup: Setup | None = None  # writes per-case inputs into the case folder, returns more placeholders
    match: str | None = None
    not_match: str | None = None
    check: Check | None = None
    timeout_s: float = 120.0
    debug_ok: bool = False  # --debug: a traceback is what the user asked for
    signal_after_s: float | None = None
    needs: tuple[str, ...] = ()  # fixtures that must exist (else the case is skipped)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.expect not in EXPECTATIONS:
            raise ValueError(f"{self.id}: unknown expectation {self.expect}")


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN / Infinity tokens (what a strict parser in another language does)."""

    def reject(token: str) -> Any:
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


def judge(case: Case, out: Outcome, changed: list[str]) -> list[str]:
    """The list of problems with `out` (empty: the case passed)."""
    problems: list[str] = []
    rc, lines = out.rc, out.stderr_lines
    first = lines[0][:140] if lines else ""
    if out.timed_out and case.expect != "interrupt":
        problems.append(f"timeout after {case.timeout_s:.0f} s")
    if rc is not None and (rc < 0 or rc in (134, 139)):
        problems.append(f"crashed (rc {rc})")
    if rc == 3:
        last = next((x for x in reversed(lines) if "internal error" in x), lines[-1] if lines else "")
        problems.append(f"exit 3: {last.strip()[:160]}")
    if "Traceback" in out.stderr and not case.debug_ok:
        problems.append("traceback on stderr")
    if changed:
        problems.append(f"input changed: {', '.join(changed)}")
    if "--json" in case.args and out.stdout.strip():
        try:
            out.data = strict_json(out.stdout)
        except ValueError as exc:
            problems.append(f"stdout is not strict JSON ({str(exc)[:80]})")
    elif "--json" in case.args and rc == 0:
        problems.append("--json printed nothing")
    if case.expect == "refuse":
        if rc == 0:
            problems.append("accepted wrongly (exit 0)")
        elif rc == 2:
            problems += _one_line(lines, case)
        elif rc not in (3, None) and not out.timed_out:
            problems.append(f"exit {rc}, expected 2: {first}")
    elif case.expect in ("ok", "lock"):
        if rc != 0 and rc != 3 and not out.timed_out and not (case.expect == "lock" and rc == 2):
            problems.append(f"exit {rc}, expected 0: {first}")
        if rc == 2 and case.expect == "lock":
            problems += _one_line(lines, case)
    elif case.expect == "either":
        if rc == 2:
            problems += _one_line(lines, case)
        elif rc not in (0, 3, None) and not out.timed_out:
            problems.append(f"exit {rc}, expected 0 or 2: {first}")
    elif case.expect == "interrupt":
        if rc != 130:
            problems.append(f"exit {rc} after SIGINT, expected 130: {first}")
        elif not any("interrupted" in line for line in lines):
            problems.append("exit 130 without 'interrupted' on stderr")
    if case.check is not None and rc == 0 and not problems:
        verdict = case.check(out)
        if verdict:
            problems.append(verdict)
    return problems


def _one_line(lines: list[str], case: Case) -> list[str]:
    problems = []
    if len(lines) != 1 and not case.debug_ok:
        problems.append(f"exit 2 with {len(lines)} lines on stderr: {' | '.join(x.strip()[:60] for x in lines[:3])}")
    text = "\n".join(lines)
    if case.match and not re.search(case.match, text, re.IGNORECASE):
        problems.append(f"message does not match /{case.match}/: {text[:120]}")
    if case.not_match and re.search(case.not_match, text, re.IGNORECASE):
        problems.append(f"message matches /{case.not_match}/: {text[:120]}")
    return problems


def classify(problems: list[str]) -> set[str]:
    """The summary buckets a case's problems fall in."""
    kinds = set()
    for p in problems:
        if p.startswith("exit 3"):
            kinds.add("exit3")
        elif p.startswith("traceback"):
            kinds.add("traceback")
        elif p.startswith("accepted wrongly"):
            kinds.add("accepted")
        elif p.startswith("input changed"):
            kinds.add("changed")
        else:
            kinds.add("other")
    return kinds
