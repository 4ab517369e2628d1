"""Load any model a user may hand us into an Artifact.

Accepted: an edgepose checkpoint; a bare state_dict with `arch=`; a user architecture from
`model_factory="file.py:build"` or `"pkg.mod:build"` (with or without weights); a pickled whole
model only with `trust_checkpoint=True`; exported files (.onnx, .xml, .engine) through the exporters.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgepose.artifact import Artifact, LoadOptions, ModelSpec, parse_input_size
from edgepose.checkpoint import is_edgepose_checkpoint, read_checkpoint_file
from edgepose.errors import UserError
from edgepose.formats import exported_format_of
from edgepose.heads import head_from_shape
from edgepose.models.rewrites import replay_history


def load_artifact(path: str | Path | None, options: LoadOptions | None = None) -> Artifact:
    """Read `path` (or build from the factory when path is None) into an Artifact."""
    options = options or LoadOptions()
    if path is None:
        if not options.model_factory:
            raise UserError("give a MODEL file, or --model-factory to build one")
        return _from_factory(options, state_dict=None, source=None)
    path = Path(path)
    if not path.exists():
        raise UserError(f"file not found: {path}")
    kind = exported_format_of(path)
    if kind is not None:
        from edgepose.export.metadata import load_exported_artifact

        return load_exported_artifact(path, kind, options)
    obj = read_checkpoint_file(path, trust=options.trust_checkpoint)
    if is_edgepose_checkpoint(obj):
        return _from_edgepose_checkpoint(obj, path, options)
    if isinstance(obj, nn.Module):  # only reachable with --trust-checkpoint
        return _with_spec(obj, options, path, arch=None, provenance={"source": str(path), "trusted_pickle": True})
    state_dict = _as_state_dict(obj)
    if state_dict is None:
        raise UserError(f"{path} is neither an edgepose checkpoint nor a state_dict of tensors")
    if options.model_factory:
        return _from_factory(options, state_dict=state_dict, source=path)
    if options.arch:
        return _from_arch(options.arch, {}, state_dict, options, path)
    raise UserError(f"{path} is a bare state_dict: say which architecture with --arch NAME or --model-factory")


def _from_edgepose_checkpoint(ckpt: dict[str, Any], path: Path, options: LoadOptions) -> Artifact:
    from edgepose.models import MODELS, build_model

    try:
        spec = ModelSpec.from_dict(ckpt["spec"])
        arch, kwargs = ckpt["arch"], dict(ckpt.get("arch_kwargs") or {})
        history, state_dict = list(ckpt.get("history") or []), ckpt["state_dict"]
    except (KeyError, TypeError) as exc:
        raise UserError(f"{path} is an edgepose checkpoint missing field {exc}") from None
    _check_hints_fit(path, arch, spec, options)
    if arch == "factory":
        if not options.model_factory:
            raise UserError(
                f"{path} was built by a user factory ({kwargs.get('ref')}); pass --model-factory to rebuild it"
            )
        model = _call_factory(options.model_factory)[0]
    elif arch in MODELS:
        model = build_model(arch, **kwargs)
    else:
        raise UserError(f"{path} needs architecture '{arch}', which this edgepose does not have")
    model = replay_history(model, history)
    _load_weights(model, state_dict, path, arch)
    model.eval()
    return Artifact(
        spec=spec, model=model, path=path, arch=arch, arch_kwargs=kwargs,
        history=history, provenance=dict(ckpt.get("provenance") or {}),
    )  # fmt: skip


def _check_hints_fit(path: Path, arch: str, spec: ModelSpec, options: LoadOptions) -> None:
    """--arch / --schema / --input-size describe files that carry no spec; a checkpoint names its own."""
    from edgepose.schemas import get_schema

    if options.arch and options.arch != arch:
        raise UserError(f"{path} is a '{arch}' checkpoint; --arch {options.arch} is for bare state_dicts")
    if options.schema:
        get_schema(options.schema)
        if options.schema != spec.schema:
            raise UserError(f"{path} holds a {spec.schema} model; --schema {options.schema} is for models without a spec")
    if options.input_size and parse_input_size(options.input_size) != tuple(spec.input_size):
        h, w = spec.input_size
        raise UserError(f"{path} takes {h}x{w} inputs; --input-size {options.input_size} is for models without a spec")


def _from_arch(arch: str, kwargs: dict[str, Any], state_dict: dict, options: LoadOptions, path: Path) -> Artifact:
    from edgepose.models import build_model, default_spec

    model = build_model(arch, **kwargs)
    _load_weights(model, state_dict, path, arch)
    overrides: dict[str, Any] = {}
    if options.input_size:
        overrides["input_size"] = parse_input_size(options.input_size)
    if options.schema:
        overrides["schema"] = options.schema
    model.eval()
    return Artifact(
        spec=default_spec(arch, **overrides), model=model, path=path, arch=arch,
        arch_kwargs=kwargs, provenance={"source": str(path)},
    )  # fmt: skip


def _from_factory(options: LoadOptions, state_dict: dict | None, source: Path | None) -> Artifact:
    ref = options.model_factory
    assert ref is not None
    model, spec = _call_factory(ref)
    if state_dict is not None:
        _load_weights(model, state_dict, source, f"factory {ref}")
    artifact = _with_spec(model, options, source, arch="factory", provenance={"factory": ref}, spec=spec)
    artifact.arch_kwargs = {"ref": ref}
    return artifact


def _with_spec(
    model: nn.Module, options: LoadOptions, path: Path | None, arch: str | None,
    provenance: dict[str, Any], spec: ModelSpec | None = None,
) -> Artifact:  # fmt: skip
    """Describe a model that carries no spec with --input-size / --schema, head from its output."""
    from edgepose.schemas import get_schema

    overrides: dict[str, Any] = {}
    if options.input_size:
        overrides["input_size"] = parse_input_size(options.input_size)
    if options.schema:
        get_schema(options.schema)
        overrides["schema"] = options.schema
    if spec is None:
        spec = ModelSpec(input_size=overrides.pop("input_size", (256, 192)), schema=overrides.pop("schema", "coco17"))
        spec = spec.with_changes(head=infer_head(model, spec))
    spec = spec.with_changes(**overrides)
    model.eval()
    return Artifact(spec=spec, model=model, path=path, arch=arch, provenance=provenance)


def infer_head(model: nn.Module, spec: ModelSpec) -> str:
    """The head type of a model that carries no spec, from the shape of its output (edgepose.heads)."""
    with torch.no_grad():
        out = model.eval()(torch.zeros(spec.input_shape(1)))
    if isinstance(out, (tuple, list)):
        out = out[0]
    head = head_from_shape(tuple(out.shape))
    if head is not None:
        return head
    raise UserError(f"cannot tell the head type from an output of shape {tuple(out.shape)}")


def _call_factory(ref: str) -> tuple[nn.Module, ModelSpec | None]:
    """Import `file.py:build` or `pkg.mod:build` and call it; it returns a module (and maybe a spec)."""
    if ":" not in ref:
        raise UserError(f"--model-factory '{ref}' should look like path/to/file.py:build or pkg.mod:build")
    target, func_name = ref.rsplit(":", 1)
    if target.endswith(".py"):
        file = Path(target)
        if not file.exists():
            raise UserError(f"model factory file not found: {file}")
        module_name = f"edgepose_user_factory_{abs(hash(str(file.resolve())))}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's own file failed: bad input, said in one line
            raise UserError(f"model factory file {file} failed to load: {type(exc).__name__}: {_line(exc)}") from None
    else:
        try:
            module = importlib.import_module(target)
        except Exception as exc:
            raise UserError(f"cannot import model factory module '{target}': {type(exc).__name__}: {_line(exc)}") from None
    func = getattr(module, func_name, None)
    if func is None or not callable(func):
        raise UserError(f"model factory '{ref}': '{func_name}' is not a function in {target}")
    try:
        result = func()
    except Exception as exc:
        raise UserError(f"model factory '{ref}' raised {type(exc).__name__}: {_line(exc)}") from None
    model, spec = (result if isinstance(result, tuple) else (result, None))
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    if not isinstance(model, nn.Module):
        raise UserError(f"model factory '{ref}' returned {type(model).__name__}, not a torch nn.Module")
    return model, spec


def _line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


def _as_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    """A dict of tensors, also inside the usual {'state_dict': ...} / {'model': ...} wrappers."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
            return obj
    return None


def _load_weights(model: nn.Module, state_dict: dict, path: Path | None, arch: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [k for k in expected if k in state_dict and expected[k].shape != state_dict[k].shape]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if mismatched:
            k = mismatched[0]
            parts.append(
                f"{len(mismatched)} of another shape (e.g. {k}: {tuple(state_dict[k].shape)} vs {tuple(expected[k].shape)})"
            )
        raise UserError(f"weights in {path} do not fit architecture {arch}: {'; '.join(parts)}")
    model.load_state_dict(state_dict)
