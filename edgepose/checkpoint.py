"""The edgepose checkpoint: arch + kwargs, ModelSpec, history, provenance and a state_dict.

Saved atomically with torch.save; read only with torch.load(weights_only=True), so a checkpoint can
never run code. Pickled whole models are refused unless the caller trusts the file explicitly.
"""

from __future__ import annotations

import datetime as _dt
import math
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
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        # the weights-only unpickler refuses both a class reference (a pickled object: say so) and junk
        # bytes ("Unsupported operand"): only the first is "pickled objects"
        if "Unsupported global" in str(exc):
            raise UserError(PICKLED_MODEL_REFUSAL.format(path=path)) from None
        raise UserError(f"{path} is not a readable checkpoint ({_diagnose(path, exc)})") from None
    except Exception as exc:  # the unpickler raises many types (KeyError, RuntimeError, ...) on junk
        raise UserError(f"{path} is not a readable checkpoint ({_diagnose(path, exc)})") from None
    if is_edgepose_checkpoint(obj):
        check_payload(obj, path)
    return obj


def check_payload(payload: dict[str, Any], path: Path) -> None:
    """UserError unless the checkpoint's fields have the types this version writes (a tampered or foreign
    file must not reach the model builder as, say, a string history or a list of kwargs)."""
    version = payload.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(f"{path}: checkpoint format version {version!r} is not a version number")
    if version > FORMAT_VERSION:
        raise UserError(
            f"{path} has checkpoint format version {version}; this edgepose reads version {FORMAT_VERSION}: "
            "upgrade edgepose"
        )
    for key in ("arch", "spec", "state_dict"):
        if key not in payload:
            raise UserError(f"{path} is an edgepose checkpoint missing field '{key}'")
    expected = {"arch": str, "arch_kwargs": dict, "spec": dict, "history": list, "provenance": dict, "state_dict": dict}
    for key, kind in expected.items():
        value = payload.get(key)
        if value is not None and not isinstance(value, kind):
            raise UserError(f"{path}: checkpoint field '{key}' is a {type(value).__name__}, not a {kind.__name__}")
    if payload["arch"] is None or payload["spec"] is None or payload["state_dict"] is None:
        raise UserError(f"{path}: checkpoint fields arch, spec and state_dict must be set")
    for key, value in (payload.get("arch_kwargs") or {}).items():
        try:
            plain = isinstance(key, str) and _plain_value(value)
        except RecursionError:  # nested deeper than any real model description
            plain = False
        if not plain:
            raise UserError(f"{path}: architecture kwarg {key!r} (a {type(value).__name__}) is not plain data "
                            "(numbers, strings, lists, mappings)")
    for index, step in enumerate(payload.get("history") or []):
        if not isinstance(step, dict) or not isinstance(step.get("step"), str):
            raise UserError(f"{path}: history step {index} is not a recorded step ({{'step': NAME, ...}})")
    for key, value in payload["state_dict"].items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise UserError(f"{path}: state_dict entry {key!r} is a {type(value).__name__}, not a tensor")
    count = (payload.get("arch_kwargs") or {}).get("num_keypoints")
    schema = payload["spec"].get("schema")
    if isinstance(count, int) and isinstance(schema, str):
        from edgepose.schemas import SCHEMAS

        if schema in SCHEMAS and SCHEMAS.get(schema).num_keypoints != count:
            raise UserError(
                f"{path}: the spec's schema {schema} has {SCHEMAS.get(schema).num_keypoints} keypoints but the "
                f"model is built for {count}"
            )


def _plain_value(value: Any) -> bool:
    """A kwarg value a checkpoint may carry: finite number, string, bool, None, or lists / string-keyed
    mappings of those (a YOLO model's layer table)."""
    if isinstance(value, list | tuple):
        return all(_plain_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_value(v) for k, v in value.items())
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, bool | int | str)


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
