"""Moving and copying model files with their companions (OpenVINO .bin, TensorRT .json sidecar)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def companion(path: Path) -> Path | None:
    """The file that travels with `path`: an IR's .bin, an engine's JSON sidecar; None for other formats."""
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return path.with_suffix(".bin")
    if suffix in (".engine", ".plan"):
        return Path(f"{path}.json")
    return None


def move_model_files(src: Path, dst: Path) -> Path:
    """Move a model file and its companion to `dst`."""
    return _transfer(Path(src), Path(dst), move=True)


def copy_model_files(src: Path, dst: Path) -> Path:
    """Copy a model file and its companion to `dst` (each via a temp name, then a rename)."""
    return _transfer(Path(src), Path(dst), move=False)


def _transfer(src: Path, dst: Path, move: bool) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    pairs = [(src, dst)]
    extra = companion(src)
    if extra is not None and extra.exists():
        pairs.insert(0, (extra, companion(dst)))  # companion first: a model never points at a missing .bin
    for source, target in pairs:
        tmp = target.with_name(f".{target.name}.tmp")
        if move:
            shutil.move(str(source), tmp)
        else:
            shutil.copy2(source, tmp)
        os.replace(tmp, target)
    return dst
