"""Atomic writes: write to a temporary name in the same folder, then rename (DESIGN.md principle 3)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    A folder that cannot be made or written (a path under a file, /proc, no permission) is one UserError.
    """
    from edgepose.errors import UserError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600; a written file gets the normal 0666 & ~umask (0644 under 022)
            os.chmod(tmp_path, 0o666 & ~current_umask())
        try:
            os.replace(tmp_path, path)
        except OSError as exc:  # e.g. PATH is a folder
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def current_umask() -> int:
    """The process umask (read by setting and restoring it; os has no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    """`data` as strict JSON (no NaN / Infinity tokens: see dumps_strict), written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(dumps_strict(data) + "\n")


def dumps_strict(data: Any, indent: int | None = 2) -> str:
    """JSON every parser accepts: a non-finite float (an undefined value) becomes null, as DESIGN.md's
    'a metric that does not apply is null'; numpy arrays and scalars become lists and numbers."""
    return json.dumps(finite_or_null(data), indent=indent, default=_json_default, allow_nan=False)


def finite_or_null(obj: Any) -> Any:
    """`obj` with every NaN / Infinity (float or numpy scalar, at any depth) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_or_null(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy array or scalar
        return finite_or_null(obj.tolist())
    return obj


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
