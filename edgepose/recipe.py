"""Recipes: a YAML description of an optimization pipeline, validated before anything runs.

A recipe names its target runtime, its data, an ordered list of passes (each validated by that pass's
own config class), the final export, the benchmark settings and the gates. Unknown keys are errors
that name the file, the key path and the closest known key. `--set a.b=value` overrides any value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgepose.errors import UserError
from edgepose.formats import EXPORT_PRECISIONS, PRECISIONS, TARGETS
from edgepose.registry import did_you_mean
from edgepose.resources import shipped_recipes

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DataConfig(_Strict):
    """COCO-keypoints files; relative paths are relative to the recipe file. `--data` fills `eval`."""

    eval: str | None = None
    calib: str | None = Field(None, description="default: train, else eval")
    train: str | None = Field(None, description="fine-tuning data for prune / ghost / finetune / QAT")
    val: str | None = Field(None, description="validation data the fine-tuning picks its best epoch on (and that "
                            "a budget search scores on); never the evaluation data. Default: none, the last epoch")
    eval_limit: int | None = Field(None, ge=1, description="score only the first N people (faster, noisier)")


class PassEntry(BaseModel):
    """`pass: NAME` plus that pass's options (checked by the pass's config class)."""

    model_config = ConfigDict(extra="allow")
    pass_: str = Field(alias="pass")
    keep: Literal["always", "auto"] = Field(
        "always", description="auto (performance rewrites only): keep the step only if the result measures faster "
        "with it than without it on the target runtime, interleaved, with 95% confidence")

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ExportConfig(_Strict):
    precision: Literal[("auto", *PRECISIONS)] = "auto"  # type: ignore[valid-type]
    dynamic_batch: bool = False
    opset: int = Field(17, ge=13)


class BenchmarkConfig(_Strict):
    threads: int | None = Field(2, ge=1)
    iters: int = Field(100, ge=2)
    warmup: int = Field(10, ge=0)
    baseline: Literal["torch", "target-fp32"] = Field(
        "torch", description="what min_speedup is measured against: PyTorch eager FP32, or the baseline on the target runtime")


class GatesConfig(_Strict):
    max_metric_drop: float | None = Field(None, ge=0, description="points of the primary metric")
    min_speedup: float | None = Field(None, gt=0, description="p50 of the named baseline / p50 of the final artifact")
    max_parity_error: float | None = Field(None, gt=0, description="export parity tolerance (precision's default if unset)")


class Candidate(_Strict):
    """One path `search` tries: a target, its passes (after the pruning prefix, if any) and its export."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    target: Literal[tuple(TARGETS)] = "cpu-openvino"  # type: ignore[valid-type]
    passes: list[PassEntry] = Field(default_factory=list)
    export: ExportConfig = Field(default_factory=ExportConfig)


class SearchConfig(_Strict):
    """Try every candidate after every pruning prefix (and unpruned); keep the fastest that passes the gates."""

    candidates: list[Candidate] = Field(min_length=1)
    prune: list[dict[str, Any]] = Field(default_factory=list, description="options of each pruning prefix (a prune pass)")
    unpruned: bool = Field(True, description="also try every candidate on the unpruned model")
    reference: str | None = Field(None, description="a candidate (unpruned) the winner is timed against, in one run")
    tiebreak: int = Field(3, ge=1, description="the fastest N passing chains (by their own speedup against PyTorch "
                          "eager) are timed against each other, interleaved, and the fastest there wins; 1: no tie-break")


class Recipe(_Strict):
    schema_version: int
    name: str
    description: str = ""
    target: Literal[tuple(TARGETS)] = "cpu-openvino"  # type: ignore[valid-type]
    metric: str = Field("auto", description="auto: OKS AP for COCO-17, PCK@0.2 otherwise")
    data: DataConfig = Field(default_factory=DataConfig)
    passes: list[PassEntry] = Field(default_factory=list)
    export: ExportConfig = Field(default_factory=ExportConfig)
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)
    search: SearchConfig | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _version(self) -> Recipe:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is not supported (this edgepose reads {SCHEMA_VERSION})")
        for target, export in [(self.target, self.export), *((c.target, c.export) for c in self.candidates())]:
            allowed = EXPORT_PRECISIONS[TARGETS[target].format]
            if export.precision != "auto" and export.precision not in allowed:
                raise ValueError(f"export.precision {export.precision} is not one target {target} can run "
                                 f"(choose {', '.join(allowed)} or auto)")  # fmt: skip
        if self.search is not None:
            if self.passes:
                raise ValueError("a recipe with `search` lists its passes per candidate; `passes` must be empty")
            names = [c.name for c in self.search.candidates]
            if len(set(names)) != len(names):
                raise ValueError(f"search candidate names repeat: {', '.join(names)}")
            if self.search.reference is not None and self.search.reference not in names:
                raise ValueError(f"search.reference '{self.search.reference}' is not a candidate ({', '.join(names)})")
            if not self.search.unpruned and not self.search.prune:
                raise ValueError("search with unpruned: false needs at least one prune prefix")
        return self

    def candidates(self) -> list[Candidate]:
        return list(self.search.candidates) if self.search else []

    def for_candidate(self, candidate: Candidate, prefix: list[PassEntry]) -> Recipe:
        """This recipe as one chain of the search: the candidate's target, export and passes after `prefix`."""
        return self.model_copy(update={"target": candidate.target, "export": candidate.export, "search": None,
                                       "passes": [*prefix, *candidate.passes]})  # fmt: skip

    @property
    def runtime(self) -> str:
        return TARGETS[self.target].runtime

    @property
    def export_format(self) -> str:
        return TARGETS[self.target].format


def builtin_recipes() -> dict[str, Path]:
    """Recipe name -> file for the recipes shipped in the package (edgepose/recipes/*.yaml)."""
    return shipped_recipes("recipes")


def resolve_recipe(name_or_path: str) -> Path:
    """A recipe file from a path, or a shipped recipe's name (`cpu-int8`)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UserError(f"recipe file not found: {path}")
        return path
    shipped = builtin_recipes()
    if name_or_path not in shipped:
        names = sorted(shipped)
        raise UserError(f"unknown recipe '{name_or_path}'{did_you_mean(name_or_path, names)}; "
                        f"shipped: {', '.join(names)} (or give a path to a .yaml file)")  # fmt: skip
    return shipped[name_or_path]


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> tuple[Recipe, Path]:
    """Read, override (`key.path=value`), validate the recipe and every pass's options; nothing runs."""
    path = resolve_recipe(name_or_path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a recipe is a YAML mapping, got {type(raw).__name__}")
    for item in overrides or []:
        apply_override(raw, item, path)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise UserError(_recipe_error(exc, path)) from None
    check_passes(recipe, path)
    return recipe, path


def read_yaml(path: Path) -> Any:
    """A YAML file read with safe_load; undecodable, malformed or absurdly nested text is one UserError."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (not UTF-8)") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({_first_line(exc)})") from None
    except RecursionError:
        raise UserError(f"{path}: nested too deeply to be a recipe") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror})") from None


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:2])[:200] if lines else type(exc).__name__


def check_passes(recipe: Recipe, path: Path) -> None:
    """Every pass exists, its options validate, and the order respects the stages (per search candidate too)."""
    from edgepose.passes import PASSES, check_order, make_config

    if recipe.search is not None:
        for prefix_index, options in enumerate(recipe.search.prune):
            make_config("prune", options, where=f"{path}: search.prune.{prefix_index}: ")
        for candidate in recipe.search.candidates:
            check_passes(recipe.for_candidate(candidate, [PassEntry.model_validate({"pass": "prune"})]
                                              if recipe.search.prune else []), path)  # fmt: skip
        return
    for index, entry in enumerate(recipe.passes):
        if entry.pass_ not in PASSES:
            names = PASSES.names()
            raise UserError(f"{path}: passes.{index}.pass: unknown pass '{entry.pass_}'"
                            f"{did_you_mean(entry.pass_, names)}; known: {', '.join(names)}")  # fmt: skip
        make_config(entry.pass_, entry.options(), where=f"{path}: passes.{index}: ")
        if entry.keep == "auto" and not PASSES.get(entry.pass_).performance_rewrite:
            rewrites = [info.name for info in PASSES if info.performance_rewrite]
            raise UserError(f"{path}: passes.{index}.keep: 'auto' is for performance rewrites ({', '.join(rewrites)}); "
                            f"'{entry.pass_}' changes what the model computes, so it is always kept")  # fmt: skip
    check_order([entry.pass_ for entry in recipe.passes])


def apply_override(raw: dict[str, Any], item: str, path: Path) -> None:
    """`a.b.c=value` (value parsed as YAML) into the raw mapping; list items by index (`passes.0.ratio=0.4`)."""
    if "=" not in item:
        raise UserError(f"--set '{item}' should look like key.path=value")
    key, value = item.split("=", 1)
    parts = key.strip().split(".")
    node: Any = raw
    for part in parts[:-1]:
        node = _child(node, part, key, path)
    last = parts[-1]
    parsed = parse_override_value(value, item)
    if isinstance(node, list):
        node[_index(node, last, key, path)] = parsed
    else:
        node[last] = parsed


def parse_override_value(value: str, item: str) -> Any:
    """The value of `--set key=value` as YAML (numbers, booleans, lists), refusing tags (`!!python/...`, `!x`)."""
    try:
        events = list(yaml.parse(value, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise UserError(f"--set '{item}': the value is not valid YAML ({_first_line(exc)})") from None
    if any(getattr(event, "tag", None) and getattr(event, "implicit", (True,)) in (False, (False, False))
           for event in events):  # fmt: skip
        raise UserError(f"--set '{item}': YAML tags are not allowed in a value; write the plain value")
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise UserError(f"--set '{item}': the value is not valid YAML ({_first_line(exc)})") from None
    except RecursionError:
        raise UserError(f"--set '{item}': the value is nested too deeply") from None


def _child(node: Any, part: str, key: str, path: Path) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, key, path)]
    if isinstance(node, dict):
        return node.setdefault(part, {})
    raise UserError(f"{path}: --set {key}: '{part}' is inside a value, not a mapping")


def _index(node: list[Any], part: str, key: str, path: Path) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise UserError(f"{path}: --set {key}: '{part}' is not an index of a list of {len(node)}")
    return int(part)


def _recipe_error(exc: ValidationError, path: Path, model: type[BaseModel] | None = None) -> str:
    """One line: file, key path, problem, and for an unknown key the closest known one."""
    error = exc.errors()[0]
    loc = [str(p) for p in error["loc"]]
    where = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1], model or Recipe)
        return f"{path}: unknown key '{where}'{did_you_mean(loc[-1], known)}; known here: {', '.join(known)}"
    if error["type"] == "missing":
        return f"{path}: missing key '{where}'"
    return f"{path}: {where}: {error['msg']}"


def _known_keys(parents: list[str], root: type[BaseModel]) -> list[str]:
    model: Any = root
    for part in parents:
        if part.isdigit():
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            break
        model = field.annotation
    return sorted(getattr(model, "model_fields", {}))
