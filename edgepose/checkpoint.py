"""The edgepose checkpoint: arch + kwargs, ModelSpec, history, provenance and a state_dict.

Saved atomically with torch.save; read only with torch.load(weights_only=True), so a checkpoint can
never run code. Pickled whole models are refused unless the caller trusts the file explicitly.
"""

from __future__ import annotations

import datetime as _dt
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from edgepose.artifact import Artifact
from edgepose.errors import UserError
from edgepose.fileio import atomic_path
from edgepose.version import __version__

FORMAT = "edgepose-checkpoint"
FORMAT_VERSION = 1

PICKLED_MODEL_REFUSAL = (
    "{path} holds pickled Python objects (e.g. a whole pickled model); loading it would run arbitrary "
    "code. Save its state_dict instead, or pass --trust-checkpoint if you trust where it came from."
)


def save_checkpoint(artifact: Artifact, path: str | Path, **provenance: Any) -> Path:
    """Write `artifact` (a torch model with arch + spec) as an edgepose checkpoint, atomically."""
    model = artifact.require_torch("saving a checkpoint")
    record = dict(artifact.provenance)
    record.update({k: v for k, v in provenance.items() if v is not None})
    record.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    record["edgepose_version"] = __version__
    record["torch_version"] = torch.__version__.split("+")[0]
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": artifact.arch,
        "arch_kwargs": dict(artifact.arch_kwargs),
        "spec": artifact.spec.to_dict(),
        "history": list(artifact.history),
        "provenance": record,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    artifact.provenance = record
    artifact.path = path
    return path


def read_checkpoint_file(path: str | Path, trust: bool = False) -> Any:
    """torch.load with weights_only=True, turning every failure into one clear UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"file not found: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc):
            raise UserError(PICKLED_MODEL_REFUSAL.format(path=path)) from None
        raise UserError(f"{path} is not a readable checkpoint: {_first_line(exc)}") from None
    except Exception as exc:  # the unpickler raises many types (KeyError, RuntimeError, ...) on junk
        raise UserError(f"{path} is not a readable checkpoint ({_diagnose(path, exc)})") from None


def _diagnose(path: Path, exc: BaseException) -> str:
    """Say 'truncated' for a torch zip archive cut short, else the loader's first line."""
    with path.open("rb") as handle:
        magic = handle.read(2)
    if magic == b"PK" and not zipfile.is_zipfile(path):
        return "truncated or corrupt file: incomplete zip archive"
    if isinstance(exc, (EOFError, zipfile.BadZipFile)):
        return "truncated or corrupt file"
    return _first_line(exc)


def is_edgepose_checkpoint(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
