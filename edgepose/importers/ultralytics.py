"""`edgepose import ultralytics`: an Ultralytics YOLOv8 / YOLO11 pose checkpoint -> an edgepose checkpoint.

The .pt is read through the restricted unpickler (edgepose.importers.safe_unpickle): Ultralytics and
torch.nn classes become inert records of their state, nothing from the file runs and ultralytics is
never imported. From the record we take the model's layer list (`yaml`), class count, keypoint shape
and strides, rebuild the network with edgepose's modules (edgepose.models.yolo) and load the tensors
by name. A fused checkpoint (Conv without `bn`, conv with a bias) loads as conv + an identity BatchNorm
carrying the bias, so fused and unfused checkpoints give the same architecture.

Licence: Ultralytics' released weights (yolov8*-pose.pt, yolo11*-pose.pt) are AGPL-3.0 (or an
Ultralytics Enterprise licence); an imported checkpoint keeps that licence, and the provenance says so.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgepose.artifact import Artifact
from edgepose.errors import UserError
from edgepose.importers.safe_unpickle import PickledObject, restricted_torch_load

STUB_PREFIXES = ("ultralytics.", "torch.nn.modules.")
ULTRALYTICS_LICENSE = "AGPL-3.0 (Ultralytics weights; https://ultralytics.com/license)"
_FAMILY_OF_BLOCK = {"C3k2": "11", "C3Ghost": "ghost", "C2f": "v8"}


def read_ultralytics_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict with its model as a PickledObject tree; UserError if unsafe or not Ultralytics."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    try:
        ckpt = restricted_torch_load(path, STUB_PREFIXES)
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refused"):
            raise UserError(f"{path}: {_first_line(exc)}; not importing it") from None
        raise UserError(f"{path} is not a readable checkpoint ({_first_line(exc)})") from None
    except Exception as exc:  # a corrupt archive or a non-pickle file raises many types
        raise UserError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {_first_line(exc)})") from None
    model = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if not isinstance(model, PickledObject) or not isinstance(model.fields.get("yaml"), dict):
        raise UserError(f"{path} is not an Ultralytics checkpoint (no model with a layer list inside)")
    return ckpt


def recorded_tensors(module: PickledObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers of a recorded nn.Module tree, by dotted name, as float32."""
    fields = module.fields
    out: dict[str, torch.Tensor] = {}
    skip = set(fields.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for name, value in (fields.get(group) or {}).items():
            if isinstance(value, torch.Tensor) and name not in skip:
                out[prefix + name] = value.detach().float() if value.is_floating_point() else value.detach().clone()
    for name, child in (fields.get("_modules") or {}).items():
        if isinstance(child, PickledObject):
            out.update(recorded_tensors(child, f"{prefix}{name}."))
    return out


def layer_config(model: PickledObject) -> dict[str, Any]:
    """The layer list to build: the checkpoint's yaml, with its trained class count and keypoint shape."""
    fields = model.fields
    yaml = copy.deepcopy(fields["yaml"])
    nc = fields.get("nc", yaml.get("nc", 1))
    kpt_shape = list(fields.get("kpt_shape") or yaml.get("kpt_shape") or [])
    if len(kpt_shape) != 2 or int(kpt_shape[1]) != 3:
        raise UserError(f"only pose checkpoints with (x, y, visibility) keypoints can be imported, got kpt_shape {kpt_shape}")
    if int(nc) != 1:
        raise UserError(f"only single-class (person) pose checkpoints can be imported, this one has {nc} classes")
    cfg: dict[str, Any] = {"nc": 1, "kpt_shape": [int(kpt_shape[0]), 3], "backbone": yaml.get("backbone"),
                           "head": yaml.get("head")}  # fmt: skip
    scales = yaml.get("scales")
    if scales:
        scale = yaml.get("scale") or next(iter(scales))
        cfg["scale"], cfg["scales"] = scale, {scale: list(scales[scale])}
    else:
        cfg["depth_multiple"] = yaml.get("depth_multiple", 1.0)
        cfg["width_multiple"] = yaml.get("width_multiple", 1.0)
    if yaml.get("activation"):
        cfg["activation"] = yaml["activation"]
    return cfg


def arch_name(cfg: dict[str, Any]) -> str:
    """The zoo name closest to a layer list (its own layers are kept in arch_kwargs['cfg'])."""
    from edgepose.models import MODELS

    modules = {row[2] for row in (cfg.get("backbone") or []) + (cfg.get("head") or []) if len(row) == 4}
    family = next((f for block, f in _FAMILY_OF_BLOCK.items() if block in modules), "v8")
    scale = cfg.get("scale") or "n"
    name = f"yolopose-{family}{'-' if family == 'ghost' else ''}{scale}"
    return name if name in MODELS else f"yolopose-{family}{'-' if family == 'ghost' else ''}n"


def fill_state_dict(model: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """`model`'s state_dict from the checkpoint's tensors; a fused conv's bias becomes an identity BN."""
    expected = model.state_dict()
    used: set[str] = set()
    out: dict[str, torch.Tensor] = {}
    for key, target in expected.items():
        value = tensors.get(key)
        if value is None and ".bn." in key:
            value = _identity_bn_value(key, target, tensors, model)
            used.add(key.rsplit(".bn.", 1)[0] + ".conv.bias")
        if value is None:
            raise UserError(f"{path}: the checkpoint has no tensor for {key}; its layers do not match its layer list")
        if tuple(value.shape) != tuple(target.shape):
            raise UserError(f"{path}: {key} has shape {tuple(value.shape)} in the checkpoint, {tuple(target.shape)} here")
        out[key] = value.to(target.dtype)
        used.add(key)
    extra = [k for k in tensors if k not in used and not _is_dfl(k, tensors[k])]
    if extra:
        raise UserError(f"{path}: {len(extra)} checkpoint tensors have no place in the rebuilt network (e.g. {extra[0]})")
    return out


def _identity_bn_value(key: str, target: torch.Tensor, tensors: dict[str, torch.Tensor], model: nn.Module
                       ) -> torch.Tensor | None:  # fmt: skip
    """For a fused Conv (no bn): weight 1, bias = the fused conv bias, mean 0, var chosen so var + eps = 1."""
    owner, field = key.rsplit(".bn.", 1)
    bias = tensors.get(f"{owner}.conv.bias")
    if bias is None:
        return None
    eps = model.get_submodule(f"{owner}.bn").eps
    values = {
        "weight": torch.ones_like(target), "bias": bias.float(), "running_mean": torch.zeros_like(target),
        "running_var": torch.full_like(target, 1.0 - eps), "num_batches_tracked": torch.zeros_like(target),
    }  # fmt: skip
    return values.get(field)


def _is_dfl(key: str, value: torch.Tensor) -> bool:
    """Ultralytics' DFL conv holds the fixed bin indices 0..reg_max-1; edgepose decodes that in numpy."""
    if not key.endswith("dfl.conv.weight"):
        return False
    bins = torch.arange(value.numel(), dtype=torch.float32)
    return bool(torch.equal(value.float().flatten(), bins))


def import_ultralytics(path: str | Path, input_size: tuple[int, int] | None = None) -> Artifact:
    """Rebuild an Ultralytics pose checkpoint as an edgepose Artifact (arch, spec, weights, provenance)."""
    from edgepose.models import build_model, default_spec
    from edgepose.schemas import schema_for_count

    path = Path(path)
    ckpt = read_ultralytics_checkpoint(path)
    recorded = ckpt.get("ema") or ckpt["model"]
    cfg = layer_config(recorded)
    num_keypoints = cfg["kpt_shape"][0]
    schema = schema_for_count(num_keypoints)
    if schema is None:
        raise UserError(f"{path}: {num_keypoints} keypoints match no edgepose schema (coco17, lsp14, mpii16)")
    arch = arch_name(cfg)
    kwargs = {"num_keypoints": num_keypoints, "cfg": cfg}
    model = build_model(arch, **kwargs)
    strides = _recorded_strides(recorded)
    if strides and tuple(strides) != tuple(model.strides):
        raise UserError(f"{path}: checkpoint strides {strides} differ from the rebuilt network's {model.strides}")
    tensors = recorded_tensors(recorded, "")
    model.load_state_dict(fill_state_dict(model, tensors, path))
    model.eval()
    size = input_size or _train_size(ckpt)
    spec = default_spec(arch, input_size=size, schema=schema.name)
    fused = not any(k.endswith(".bn.weight") for k in tensors)
    provenance = {
        "source": str(path), "imported_from": "ultralytics", "ultralytics_version": ckpt.get("version"),
        "license": ULTRALYTICS_LICENSE, "checkpoint_license_field": ckpt.get("license"),
        "checkpoint_date": ckpt.get("date"), "fused": fused, "strides": list(model.strides),
        "kpt_shape": list(cfg["kpt_shape"]), "ultralytics_model": recorded.fields["yaml"].get("yaml_file"),
    }  # fmt: skip
    return Artifact(spec=spec, model=model, arch=arch, arch_kwargs=kwargs, provenance=provenance)


def _recorded_strides(model: PickledObject) -> list[float]:
    stride = model.fields.get("stride")
    return [float(s) for s in stride.tolist()] if isinstance(stride, torch.Tensor) else []


def _train_size(ckpt: dict[str, Any]) -> tuple[int, int]:
    """The square training image size the checkpoint records (Ultralytics trains at imgsz x imgsz), else 640."""
    args = ckpt.get("train_args")
    imgsz = args.get("imgsz") if isinstance(args, dict) else None
    size = int(imgsz) if isinstance(imgsz, int | float) and imgsz > 0 else 640
    return (size, size)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


__all__ = ["ULTRALYTICS_LICENSE", "import_ultralytics", "read_ultralytics_checkpoint"]
