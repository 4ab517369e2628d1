"""Running input batches through any Session for evaluation: fixed-batch chunking, the head's output, clips.

Shared by the top-down and the multi-person paths, so every runtime is fed and read the same way.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from edgepose.heads import head_output


class RunsFeeds(Protocol):
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def run_batch(session: RunsFeeds, images: np.ndarray, head: str) -> np.ndarray:
    """The head's raw output for `images` (B, 3, H, W) or clips (B, T, 3, H, W); clip outputs come back
    flattened to (B*T, K, ...).

    A session that accepts only one batch size (`fixed_batch`, e.g. a static-shape engine) gets chunks of
    that size, the last one padded by repeating its final item.
    """
    fixed = getattr(session, "fixed_batch", None)
    if fixed and len(images) != fixed:
        chunks = []
        for start in range(0, len(images), fixed):
            part = images[start : start + fixed]
            pad = fixed - len(part)
            if pad:
                part = np.concatenate([part, np.repeat(part[-1:], pad, axis=0)])
            chunks.append(_run_once(session, np.ascontiguousarray(part), head)[: fixed - pad])
        out = np.concatenate(chunks)
    else:
        out = _run_once(session, images, head)
    if images.ndim == 5:
        out = out.reshape(-1, *out.shape[2:])
    return out


def _run_once(session: RunsFeeds, images: np.ndarray, head: str) -> np.ndarray:
    names = tuple(getattr(session, "input_names", ()) or ("input",))
    return np.asarray(head_output(session.run({names[0]: images}), head), dtype=np.float32)


def runtime_name(session: Any) -> str:
    """The session's runtime name for the eval JSON (`runtime`), or its class name for a bare callable."""
    for attr in ("runtime", "name"):
        value = getattr(session, attr, None)
        if isinstance(value, str):
            return value
    return type(session).__name__
