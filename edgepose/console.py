"""Console output for every layer: tables to stdout, messages and progress bars to stderr; `--json` keeps stdout clean.

Library code reports progress and messages through here (never through the CLI), so a `--json` run or a
Python caller gets the same stderr lines the terminal shows.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Piped or captured output (logs, CI) gets 120 columns instead of rich's 80, so wide tables keep
# their headers; a terminal or an explicit COLUMNS decides for itself.
_PIPED_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120
stdout = Console(width=_PIPED_WIDTH)
stderr = Console(stderr=True, width=_PIPED_WIDTH)


# With --json, the app sends everything else written to stdout (a library's progress bars: NNCF prints
# its own) to stderr and keeps the real stdout here, for the one JSON document.
json_stream: Any = None
muted = False  # ranks other than 0 under torchrun print nothing (edgepose.distributed)


def mute() -> None:
    """Print nothing from here on: no messages, tables, progress bars or JSON (a torchrun rank other than 0)."""
    global muted
    muted = True
    stdout.quiet = stderr.quiet = True


def print_json(data: Any) -> None:
    """The one JSON document a `--json` command prints to stdout: strict JSON (NaN / Infinity become null)."""
    from edgepose.fileio import dumps_strict

    if muted:
        return
    stream = json_stream or sys.stdout
    stream.write(dumps_strict(data) + "\n")
    stream.flush()


def info(message: str) -> None:
    stderr.print(message)


class _QuietOnErrorProgress(Progress):
    """A Progress that, when an error ends it, takes its bars away: the error's one line is all stderr shows."""

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:  # noqa: ANN001
        if exc_type is not None:
            self._clear()
        super().__exit__(exc_type, exc_val, exc_tb)

    def stop_after(self, error: BaseException | None) -> None:
        """stop(), clearing the bars first when `error` ends the work (for bars started with start())."""
        if error is not None:
            self._clear()
        self.stop()

    def _clear(self) -> None:
        for task in list(self.task_ids):
            self.remove_task(task)
        self.live.transient = True


def progress() -> Progress:
    """A rich progress bar on stderr (so it never mixes into --json output); cleared when an error ends it."""
    return _QuietOnErrorProgress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=stderr, transient=False,
    )  # fmt: skip


class TaskBar:
    """One progress task on stderr when enabled, a no-op otherwise: `with TaskBar(on, "eval", n) as bar: bar.advance()`."""

    def __init__(self, enabled: bool, what: str, total: int | None):
        self.enabled, self.what, self.total = enabled, what, total
        self._bar: Progress | None = None

    def __enter__(self) -> TaskBar:
        if self.enabled:
            self._bar = progress()
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=self.total, status="")
        return self

    def advance(self, steps: int = 1, status: str | None = None) -> None:
        if self._bar is not None:
            fields = {} if status is None else {"status": status}
            self._bar.update(self._task, advance=steps, **fields)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)  # type: ignore[arg-type]
            self._bar = None
