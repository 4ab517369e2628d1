"""Terminal output: tables to stdout, messages and progress to stderr, `--json` keeps stdout clean."""

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


def print_json(data: Any) -> None:
    """The one JSON document a `--json` command prints to stdout: strict JSON (NaN / Infinity become null)."""
    from edgepose.fileio import dumps_strict

    stream = json_stream or sys.stdout
    stream.write(dumps_strict(data) + "\n")
    stream.flush()


def info(message: str) -> None:
    stderr.print(message)


def progress() -> Progress:
    """A rich progress bar on stderr (so it never mixes into --json output)."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=stderr, transient=False,
    )  # fmt: skip
