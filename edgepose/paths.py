"""Output paths checked before any work: never one of the command's inputs, and writable at all.

Every command that writes calls `check_output` with all the files it reads (model, data, recipe,
calibration, initial weights), before its first progress line, so a mistyped `-o` is one line and exit 2,
and nothing the user gave is overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from edgepose.errors import UserError

MAX_NAME_BYTES = 255  # the longest file name Linux file systems take


def companions(path: Path) -> list[Path]:
    """The files written or read together with `path`: an OpenVINO IR's .bin, a TensorRT engine's sidecar."""
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return [path.with_suffix(".bin")]
    if suffix in (".engine", ".plan"):
        return [path.with_name(path.name + ".json")]
    return []


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        try:
            return os.path.samefile(a, b)
        except OSError:
            return False
    return a.resolve() == b.resolve()


def check_output(
    output: str | Path, inputs: Iterable[str | Path | None] = (), *, option: str = "-o", folder: bool = False,
) -> Path:  # fmt: skip
    """`output` as a Path, or UserError when it names (or would overwrite) an input, or cannot be written.

    `folder`: the output is a directory (a run folder, predict's --out) rather than a file.
    """
    out = Path(output)
    written = [out] if folder else [out, *companions(out)]
    for given in inputs:
        if given is None or str(given) == "":
            continue
        source = Path(given)
        for path in written:
            for read in [source, *companions(source)]:
                if _same(path, read):
                    raise UserError(f"{option} {output} would overwrite the input {given}: choose another output path")
        if folder and source.exists() and out.exists() and source.resolve() == out.resolve():
            raise UserError(f"{option} {output} is the input {given}: choose another output folder")
    _check_writable(out, option, folder)
    return out


def _check_writable(out: Path, option: str, folder: bool) -> None:
    if len(out.name.encode()) > MAX_NAME_BYTES:
        raise UserError(f"{option} {out}: the file name is longer than {MAX_NAME_BYTES} bytes")
    if folder:
        if out.exists() and not out.is_dir():
            raise UserError(f"{option} {out} is a file, not a folder")
    elif out.is_dir() or str(out).endswith(os.sep):
        raise UserError(f"{option} {out} is a folder: give a file name (e.g. {Path(out) / 'model'}...)")
    existing = out if (folder and out.exists()) else out.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {out}: cannot create it, {existing} is a file")
    probe = out if folder and out.exists() else existing
    if not os.access(probe, os.W_OK | os.X_OK) or _is_virtual(probe):
        raise UserError(f"{option} {out}: {probe} is not writable")


def _is_virtual(path: Path) -> bool:
    """/proc and /sys accept no new files even for root (os.access says yes there)."""
    resolved = path.resolve()
    return any(resolved == Path(root) or Path(root) in resolved.parents for root in ("/proc", "/sys"))
