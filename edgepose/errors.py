"""Exceptions that map to the CLI's exit codes (DESIGN.md: 1 a gate failed, 2 bad input)."""

from __future__ import annotations


class EdgeposeError(Exception):
    """Base class; `exit_code` is what the CLI returns."""

    exit_code = 2


class UserError(EdgeposeError):
    """Bad input or usage: a missing file, a broken checkpoint, an unknown name. Exit 2."""

    exit_code = 2


class GateFailed(EdgeposeError):
    """A check the user asked for did not hold (accuracy budget, parity, latency). Exit 1.

    `report` carries what was measured (e.g. the optimize report, the quantize summary), so a caller
    still gets the numbers when the gate fails.
    """

    exit_code = 1

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report


class MissingDependency(UserError):
    """An optional extra is not installed; the message says which `pip install` fixes it."""

    def __init__(self, what: str, extra: str | None = None, hint: str | None = None):
        fix = hint or (f"pip install 'edgepose[{extra}]'" if extra else f"pip install {what}")
        super().__init__(f"{what} is not installed: {fix}")
