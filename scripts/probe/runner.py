"""Run one case as a subprocess in its own folder and judge it (exit code, stderr, JSON, input hashes)."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from probe.case import Case, Outcome, classify, judge

PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass
class Result:
    case: Case
    rc: int | None
    seconds: float
    problems: list[str] = field(default_factory=list)
    stderr_tail: str = ""
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def kinds(self) -> set[str]:
        return classify(self.problems)

    def to_dict(self) -> dict:
        return {
            "id": self.case.id, "command": self.case.command, "category": self.case.category,
            "expect": self.case.expect, "args": self.case.args, "rc": self.rc, "seconds": round(self.seconds, 2),
            "passed": self.passed, "problems": self.problems, "kinds": sorted(self.kinds),
            "skipped": self.skipped, "stderr_tail": self.stderr_tail,
        }  # fmt: skip


def substitute(args: list[str], places: dict[str, str]) -> list[str]:
    return [PLACEHOLDER.sub(lambda mt: places.get(mt.group(1), mt.group(0)), a) for a in args]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(case_dir: Path, args: list[str]) -> list[Path]:
    """Every file the case starts with: its folder's files and each argument naming an existing file."""
    files = [p for p in case_dir.rglob("*") if p.is_file()]
    for arg in args:
        for part in (arg, arg.split("=", 1)[-1], arg.split(":", 1)[0]):
            path = Path(part) if os.path.isabs(part) else case_dir / part
            try:
                if path.is_file() and not str(path).startswith("/proc") and not str(path).startswith("/sys"):
                    files.append(path)
            except (OSError, ValueError):
                pass
    return sorted(set(files))


def hashes(files: list[Path]) -> dict[Path, str | None]:
    out: dict[Path, str | None] = {}
    for f in files:
        try:
            out[f] = sha256(f)
        except OSError:
            out[f] = None
    return out


def run_case(case: Case, places: dict[str, str], root: Path, env: dict[str, str]) -> Result:
    missing = [n for n in case.needs if n not in places]
    if missing:
        return Result(case, None, 0.0, skipped=f"fixture {', '.join(missing)} not available")
    case_dir = root / "cases" / case.id
    case_dir.mkdir(parents=True)
    local = dict(places)
    if case.setup is not None:
        local.update(case.setup(case_dir, local))
    args = substitute(case.args, local)
    before = hashes(input_files(case_dir, args))
    run_env = {**env, **case.env}
    start = time.perf_counter()
    if case.expect == "lock":
        out, extra = _run_lock(args, case, case_dir, run_env)
    else:
        out, extra = _run(args, case, case_dir, run_env), []
    after = hashes(list(before))
    changed = [_short(p, case_dir, places) for p, h in before.items() if after.get(p) != h]
    problems = judge(case, out, changed) + extra
    tail = "\n".join(out.stderr_lines[-6:])[-1500:]
    return Result(case, out.rc, time.perf_counter() - start, problems, tail)


def _short(path: Path, case_dir: Path, places: dict[str, str]) -> str:
    try:
        return str(path.relative_to(case_dir))
    except ValueError:
        return path.name


def _popen(args: list[str], case_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgepose", *args], cwd=case_dir, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen, timeout_s: float) -> tuple[int | None, str, str, bool]:
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
        return proc.returncode, stdout, stderr, False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return None, stdout, stderr, True


def _run(args: list[str], case: Case, case_dir: Path, env: dict[str, str]) -> Outcome:
    start = time.perf_counter()
    proc = _popen(args, case_dir, env)
    if case.signal_after_s is not None:
        try:
            proc.wait(timeout=case.signal_after_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        rc, stdout, stderr, timed_out = _finish(proc, 60.0)
    else:
        rc, stdout, stderr, timed_out = _finish(proc, case.timeout_s)
    return Outcome(rc, stdout, stderr, time.perf_counter() - start, case_dir, timed_out)


def _run_lock(args: list[str], case: Case, case_dir: Path, env: dict[str, str]) -> tuple[Outcome, list[str]]:
    """Start A; once its run folder exists start B into the same folder; B must wait or refuse."""
    start = time.perf_counter()
    first = _popen(args, case_dir, env)
    run_dir = case_dir / "run"
    deadline = time.time() + 60
    while not run_dir.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    second = _popen(args, case_dir, env)
    rc_b, out_b, err_b, to_b = _finish(second, case.timeout_s)
    rc_a, _, err_a, to_a = _finish(first, case.timeout_s)
    extra = []
    if rc_a != 0:
        extra.append(f"first run exit {rc_a}: {err_a.strip().splitlines()[-1][:100] if err_a.strip() else ''}")
    if rc_b == 0 and not re.search(r"wait|lock", err_b, re.IGNORECASE):
        extra.append("second run into the same folder ran at the same time (no lock: neither waited nor refused)")
    return Outcome(rc_b, out_b, err_b, time.perf_counter() - start, case_dir, to_a or to_b), extra
