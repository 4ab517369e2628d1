"""The run folder of `edgepose optimize`: one subfolder per step, each sealed when it completes.

    RUN_DIR/recipe.yaml                 the recipe as it ran (after --set overrides)
    RUN_DIR/steps/00_baseline/          baseline metrics
    RUN_DIR/steps/01_prune/             the step's artifact, its metrics, its pass's scratch (resume state)
    RUN_DIR/final/                      the deployable artifact and its metrics
    RUN_DIR/report.json|md|png

A step is done when its `done.json` holds the fingerprint of everything that decides its result: the
input model's bytes, the data files and the recipe up to and including that step. A re-run skips done
steps whose fingerprint still matches and redoes everything from the first step that changed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgepose.errors import UserError
from edgepose.fileio import write_json

LOCK_NAME = ".lock"


def file_digest(path: str | Path | None) -> str | None:
    """sha256 of a file's bytes (and of an IR's .bin beside it); of the names and sizes of an image folder's or
    glob's files; None for no file."""
    if path is None:
        return None
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir() or (not path.exists() and any(ch in str(path) for ch in "*?[")):  # an image source
        import glob

        files = sorted(path.iterdir()) if path.is_dir() else sorted(Path(p) for p in glob.glob(str(path)))
        for file in files:  # names and sizes: cheap, and what changes when the images do
            if file.is_file():
                digest.update(f"{file.name}\0{file.stat().st_size}\n".encode())
        return digest.hexdigest()
    for part in (path, path.with_suffix(".bin") if path.suffix == ".xml" else None):
        if part is not None and part.exists():
            with part.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RunDir:
    """Step folders with completion seals; `clear_from(i)` drops step i and everything after it."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.steps = self.root / "steps"
        self.final = self.root / "final"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold RUN_DIR/.lock (an flock, released by the kernel if the process dies) for the whole run, so a
        second `optimize` into the same folder refuses at once instead of interleaving its writes."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = (self.root / LOCK_NAME).open("a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise UserError(f"{self.root} is in use by another edgepose optimize ({holder}); wait for it to finish "
                                "or give another --out") from None  # fmt: skip
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            yield
        finally:
            handle.close()

    def step_dir(self, index: int, name: str) -> Path:
        return self.steps / f"{index:02d}_{name}"

    def done(self, folder: Path, key: str) -> dict[str, Any] | None:
        """The seal of `folder` if it was completed with fingerprint `key`, else None."""
        seal = folder / "done.json"
        if not seal.exists():
            return None
        try:
            data = json.loads(seal.read_text())
        except json.JSONDecodeError:
            return None
        return data if data.get("fingerprint") == key else None

    def seal(self, folder: Path, key: str, **record: Any) -> None:
        """Mark `folder` complete (written last, atomically: a folder without it is redone)."""
        write_json(folder / "done.json", {"fingerprint": key, **record})

    def stale_from(self, folder: Path, key: str) -> bool:
        """Whether `folder` holds a completed step with another fingerprint (recipe or input changed)."""
        seal = folder / "done.json"
        return seal.exists() and self.done(folder, key) is None

    def clear_from(self, index: int) -> list[str]:
        """Remove the step folders numbered `index` and above and the final folder; returns their names."""
        removed = []
        if self.steps.is_dir():
            for folder in sorted(self.steps.iterdir()):
                number = folder.name.split("_", 1)[0]
                if number.isdigit() and int(number) >= index:
                    shutil.rmtree(folder)
                    removed.append(folder.name)
        if self.final.exists():
            shutil.rmtree(self.final)
            removed.append("final")
        return removed
