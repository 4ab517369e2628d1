"""Passes: a pydantic config class paired with a plain function, through one registry (DESIGN.md).

    @register_pass("prune", config=PruneConfig, stage=Stage.STRUCTURE, accepts={"torch"}, produces="torch")
    def prune(artifact: Artifact, cfg: PruneConfig, ctx: RunContext) -> Artifact: ...

A pass never modifies the artifact it is given (it works on a copy of the model) and writes files
only under `ctx.work_dir`. Its stage (structure < quantize < export < build) lets a recipe's pass
order be checked before anything runs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from edgepose import distributed as dist
from edgepose.errors import UserError
from edgepose.registry import Registry, did_you_mean

if TYPE_CHECKING:
    from edgepose.artifact import Artifact


class Stage(IntEnum):
    """Where a pass may sit in a pipeline: a later stage never runs before an earlier one."""

    STRUCTURE = 0  # torch -> torch: prune, ghost, finetune
    QUANTIZE = 1  # -> INT8 graph: ptq, qat
    EXPORT = 2  # -> ONNX / OpenVINO IR
    BUILD = 3  # -> TensorRT engine


class PassConfig(BaseModel):
    """Base of every pass config: unknown keys are errors, values are validated and typed (NaN / inf refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass
class RunContext:
    """What a pass may use besides the artifact: data, a place for files, threads, a teacher, a logger."""

    work_dir: Path
    train_data: Path | None = None  # COCO-keypoints JSON for fine-tuning
    val_data: Path | None = None  # for validation during fine-tuning and for sensitivity scans
    calib_data: Path | None = None  # calibration images for quantization
    threads: int | None = None
    progress: bool = True
    seed: int = 0
    teacher: Artifact | None = None  # the unmodified model, for distillation
    detector: Any = None  # a YOLO-pose PoseModel finding people in unannotated images (top-down calibration)
    calib_inputs: Any = None  # calibration inputs read ahead (quantize_to_file: bad data fails before any work)
    log: Callable[[str], None] = field(default=lambda message: None)
    records: dict[str, Any] = field(default_factory=dict)  # what the pass measured, for the report

    def need(self, what: str, value: Path | None, flag: str) -> Path:
        """`value`, or a UserError saying which option provides it."""
        if value is None:
            raise UserError(f"{what} is needed here: give it with {flag}")
        return Path(value)


@dataclass(frozen=True)
class PassInfo:
    name: str
    func: Callable[..., Artifact]
    config: type[PassConfig]
    stage: Stage
    accepts: frozenset[str]
    produces: frozenset[str]
    description: str
    performance_rewrite: bool = False  # same function, maybe faster: a recipe may `keep: auto` it (measured)


PASSES: Registry[PassInfo] = Registry("pass")


def register_pass(
    name: str, *, config: type[PassConfig], stage: Stage, accepts: set[str] | frozenset[str],
    produces: str | set[str] | frozenset[str], description: str = "", performance_rewrite: bool = False,
) -> Callable[[Callable[..., Artifact]], Callable[..., Artifact]]:  # fmt: skip
    """Register `func(artifact, cfg, ctx) -> Artifact` as pass `name`.

    `performance_rewrite`: the pass keeps the model's function and only may make it faster (subpixel), so a
    recipe may mark it `keep: auto` and optimize keeps it only where it measures faster.
    """

    def decorator(func: Callable[..., Artifact]) -> Callable[..., Artifact]:
        doc = description or ((func.__doc__ or "").strip().splitlines() or [""])[0]
        outputs = frozenset({produces} if isinstance(produces, str) else produces)
        PASSES.add(name, PassInfo(name, func, config, stage, frozenset(accepts), outputs, doc, performance_rewrite))
        return func

    return decorator


def pass_info(name: str) -> PassInfo:
    """The registered pass `name` (importing edgepose.passes, which any import of this module does first,
    registers the built-in ones)."""
    return PASSES.get(name)


def make_config(name: str, options: PassConfig | dict[str, Any] | None, where: str = "") -> PassConfig:
    """Validate `options` for pass `name`; a wrong key or value is one UserError naming it."""
    info = pass_info(name)
    if isinstance(options, info.config):
        return options
    data = dict(options or {})
    try:
        return info.config(**data)
    except ValidationError as exc:
        raise UserError(config_error(exc, info.config, f"{where}pass '{name}'")) from None


def config_error(exc: ValidationError, model: type[BaseModel], where: str) -> str:
    """One line for the first validation error: the key path, what is wrong, and a suggestion."""
    error = exc.errors()[0]
    path = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        known = sorted(_field_names(model, error["loc"][:-1]))
        key = str(error["loc"][-1])
        return f"{where}: unknown key '{path}'{did_you_mean(key, known)}; known: {', '.join(known)}"
    return f"{where}: {path}: {error['msg']} (got {error.get('input')!r})"


def _field_names(model: type[BaseModel], parents: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) pydantic model at `parents`."""
    current: Any = model
    for part in parents:
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            return list(getattr(current, "model_fields", {}))
        current = fields[part].annotation
    return list(getattr(current, "model_fields", {}))


def apply_pass(
    artifact: Artifact, name: str, options: PassConfig | dict[str, Any] | None, ctx: RunContext
) -> Artifact:
    """Run pass `name` on `artifact`; checks the input format, validates options, leaves the input unchanged."""
    info = pass_info(name)
    cfg = make_config(name, options)
    if artifact.format not in info.accepts:
        raise UserError(
            f"pass '{name}' takes a {' or '.join(sorted(info.accepts))} model, got a {artifact.format} one"
            + (" (run it before quantization / export)" if "torch" in info.accepts else "")
        )
    if dist.is_main():
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        result = info.func(artifact, cfg, ctx)
    else:  # another torchrun rank: its scratch files go to a private folder nobody reads (rank 0 writes the outputs)
        import tempfile

        shared = ctx.work_dir
        with tempfile.TemporaryDirectory(prefix=f"edgepose-rank{dist.rank()}-") as tmp:
            ctx.work_dir = Path(tmp)
            try:
                result = info.func(artifact, cfg, ctx)
            finally:
                ctx.work_dir = shared
    if result.format not in info.produces:
        raise RuntimeError(f"pass '{name}' produced a {result.format} artifact, declared {sorted(info.produces)}")
    return result


def copy_torch_artifact(artifact: Artifact) -> Artifact:
    """A deep copy of a torch artifact (model included), so a pass never changes its input."""
    model = artifact.require_torch("this pass")
    clone = copy.copy(artifact)
    clone.model = copy.deepcopy(model)
    clone.history = [dict(step) for step in artifact.history]
    clone.arch_kwargs = dict(artifact.arch_kwargs)
    clone.provenance = dict(artifact.provenance)
    clone.path = None
    return clone


def check_order(names: list[str]) -> None:
    """UserError if a pass of an earlier stage follows one of a later stage (e.g. prune after quantize)."""
    last: tuple[Stage, str] | None = None
    for name in names:
        stage = pass_info(name).stage
        if last is not None and stage < last[0]:
            raise UserError(
                f"pass '{name}' ({stage.name.lower()}) cannot follow '{last[1]}' ({last[0].name.lower()}): "
                "structure passes come before quantization, quantization before export"
            )
        last = (stage, name) if last is None or stage >= last[0] else last
