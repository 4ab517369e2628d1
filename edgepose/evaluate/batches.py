"""What evaluation needs of a session: the `run(feeds)` protocol, the runtime's name for the eval JSON, and
`run_batch` (fixed-batch chunking, the head's output, clips), which lives in edgepose.deploy.model so that
eval, predict and the device runner feed every runtime the same way.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from edgepose.deploy.model import run_batch

__all__ = ["RunsFeeds", "run_batch", "runtime_name"]


class RunsFeeds(Protocol):
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def runtime_name(session: Any) -> str:
    """The session's runtime name for the eval JSON (`runtime`), or its class name for a bare callable."""
    for attr in ("runtime", "name"):
        value = getattr(session, attr, None)
        if isinstance(value, str):
            return value
    return type(session).__name__
