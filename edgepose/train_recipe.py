"""Training recipes (shipped in edgepose/recipes/train/*.yaml): how each shipped checkpoint was made, runnable again.

    edgepose train --recipe demo-coco17-lite        (a shipped recipe by name, or a path to a .yaml file)

A training recipe names the architecture, the data (optionally generated first with `edgepose synth`),
an initial checkpoint, the schedule and the output; unknown keys are errors, as in optimize recipes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgepose.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SynthData(_Strict):
    """Generate this set with `edgepose synth` when its annotations.json is missing."""

    out: str
    persons: int = Field(ge=1)
    seed: int = 0
    multi: bool = False
    image_size: str | None = None
    sequences: bool = False  # clips with video_id / frame_id / track_id (persons counts person-frames)
    frames: int = Field(8, ge=1)  # frames per clip with sequences
    difficulty: str = "normal"


class TrainData(_Strict):
    train: str
    val: str | None = None
    synth: list[SynthData] = Field(default_factory=list)


class Schedule(_Strict):
    epochs: int = Field(20, ge=1)
    batch: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    workers: int = Field(1, ge=0)
    val_every: int = Field(1, ge=1)
    val_limit: int | None = Field(None, ge=1)
    seed: int = 0
    threads: int | None = Field(None, ge=1)
    clip_stride: int | None = Field(None, ge=1)  # clip models: frames between training windows (default 1)
    select: str | None = None  # val metric that picks the best epoch (default: OKS AP on COCO-17, else PCK@0.2)


class TrainRecipe(_Strict):
    schema_version: int = Field(1, ge=1, le=1)
    name: str
    description: str = ""
    arch: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    input_size: str | None = None
    init: str | None = None
    data: TrainData
    train: Schedule = Field(default_factory=Schedule)
    output: str
    wall_time_note: str = ""


def load_train_recipe(path: str | Path) -> TrainRecipe:
    """Read and validate a training recipe (one UserError naming the file and key on any problem)."""
    from edgepose.recipe import _recipe_error, read_yaml

    path = resolve_train_recipe(str(path))
    raw = read_yaml(path)
    try:
        return TrainRecipe.model_validate(raw)
    except ValidationError as exc:
        raise UserError(_recipe_error(exc, path, TrainRecipe)) from None


def resolve_train_recipe(name_or_path: str) -> Path:
    """A training recipe file from a path, or a shipped one's name (`lsp-simplebaseline-lite`)."""
    from edgepose.registry import did_you_mean
    from edgepose.resources import shipped_recipes

    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UserError(f"training recipe not found: {path}")
        return path
    shipped = shipped_recipes("recipes/train")
    if name_or_path not in shipped:
        names = sorted(shipped)
        raise UserError(f"unknown training recipe '{name_or_path}'{did_you_mean(name_or_path, names)}; "
                        f"shipped: {', '.join(names)} (or give a path to a .yaml file)")  # fmt: skip
    return shipped[name_or_path]


def generate_missing_data(recipe: TrainRecipe, log: Any = print) -> None:
    """Run `edgepose synth` for each synthetic set the recipe lists whose annotations are not there yet."""
    from edgepose.data.synth import SynthConfig, generate

    for item in recipe.data.synth:
        if (Path(item.out) / "annotations.json").exists():
            continue
        size = tuple(int(v) for v in item.image_size.lower().split("x")) if item.image_size else None
        what = f"person-frames in clips of {item.frames}" if item.sequences else "people"
        log(f"generating {item.persons} synthetic {what} (seed {item.seed}) into {item.out} ...")
        generate(Path(item.out), SynthConfig(persons=item.persons, seed=item.seed, multi=item.multi, image_size=size,
                                             sequences=item.sequences, frames=item.frames,
                                             difficulty=item.difficulty))  # fmt: skip
