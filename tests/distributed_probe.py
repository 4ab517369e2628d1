"""`python tests/distributed_probe.py ARGS` runs `edgepose ARGS`, appending "RANK what" to $EDGEPOSE_PROBE each
time this process times a model run (edgepose.bench.latency.timed_run, the only timing code) or evaluates
(edgepose.evaluate.evaluate): tests/unit/test_distributed.py checks that only rank 0 does, under torchrun."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import edgepose.bench.latency as latency  # noqa: E402  (patched before anything imports its names)
import edgepose.evaluate as evaluate  # noqa: E402


def recorded(what: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with open(os.environ["EDGEPOSE_PROBE"], "a") as log:
            log.write(f"{os.environ.get('RANK', 'alone')} {what}\n")
        return func(*args, **kwargs)

    return wrapper


latency.timed_run = recorded("timed_run", latency.timed_run)
evaluate.evaluate = recorded("evaluate", evaluate.evaluate)

if __name__ == "__main__":
    from edgepose.cli.app import main

    main(sys.argv[1:])
