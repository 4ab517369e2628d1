"""The prune pass's options (recipe keys), apart from the pass so its helpers can name the type without a cycle."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edgepose.passes.base import PassConfig
from edgepose.passes.finetune import FinetuneConfig


class PruneConfig(PassConfig):
    """How to prune (recipe keys). `ratio`: channel share per layer (structured) or weight share (magnitude)."""

    method: Literal["structured", "magnitude", "sensitivity"] = "structured"
    ratio: float = Field(0.3, gt=0, lt=1)
    target_gflops_ratio: float | None = Field(None, gt=0, lt=1, description="prune until GFLOPs <= this share")
    target_latency_ratio: float | None = Field(None, gt=0, lt=1, description="sensitivity: p50 share on latency_runtime")
    latency_runtime: Literal["onnxruntime", "openvino"] = Field(
        "onnxruntime", description="where the sensitivity plan's latency target is timed (FP32): the target runtime")
    importance: Literal["l1", "l2", "bn_scale", "taylor"] = "l1"
    global_pruning: bool = False
    iterative_steps: int = Field(1, ge=1, le=50)
    round_to: int | Literal["auto"] | None = Field(
        "auto", description="keep channel counts multiples of N; auto: the multiple this CPU's INT8 kernels tile by "
        "(edgepose.hardware.preferred_round_to); null: no rounding")
    max_layer_ratio: float = Field(0.9, gt=0, lt=1)
    layer_ratios: dict[str, float] | None = Field(
        None, description="structured: an explicit per-layer plan, {pattern: channel share removed}; layers matching "
        "no pattern keep every channel (e.g. the `chosen` ratios of a sensitivity scan, replayed)")
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    finetune: FinetuneConfig | None = None
    taylor_batches: int = Field(4, ge=1, description="batches of the pose loss behind Taylor importance")
    sensitivity_ratios: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75], min_length=1)
    sensitivity_images: int = Field(64, ge=1, description="labelled instances (or, without labels, images) scored per scan entry")

    @field_validator("target_latency_ratio")
    @classmethod
    def _latency_needs_sensitivity(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("method") != "sensitivity":
            raise ValueError("a latency target needs method 'sensitivity' (structured takes target_gflops_ratio)")
        return value

    @field_validator("round_to")
    @classmethod
    def _positive_round_to(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("round_to must be a positive integer, 'auto' or null")
        return value

    def resolved_round_to(self) -> int | None:
        """round_to as a number: 'auto' becomes this CPU's preferred channel multiple."""
        from edgepose.hardware import preferred_round_to

        return preferred_round_to() if self.round_to == "auto" else self.round_to

    @field_validator("sensitivity_ratios")
    @classmethod
    def _ratios_in_range(cls, value: list[float]) -> list[float]:
        if any(not 0 < r < 1 for r in value):
            raise ValueError("every ratio must be between 0 and 1")
        return sorted(set(value))

    @field_validator("layer_ratios")
    @classmethod
    def _plan_in_range(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and (not value or any(not 0 < r < 1 for r in value.values())):
            raise ValueError("give at least one pattern, each with a ratio between 0 and 1")
        return value

    @model_validator(mode="after")
    def _method_fits(self) -> PruneConfig:
        if self.layer_ratios is not None:
            if self.method != "structured" or self.target_gflops_ratio or self.global_pruning:
                raise ValueError("layer_ratios is a structured plan: it takes no target, global ranking or other method")
            if max(self.layer_ratios.values()) > self.max_layer_ratio:
                raise ValueError(f"a layer ratio is above max_layer_ratio {self.max_layer_ratio:g}; raise it to prune that far")
        if self.method == "sensitivity" and not (self.target_gflops_ratio or self.target_latency_ratio):
            raise ValueError("method 'sensitivity' needs target_gflops_ratio or target_latency_ratio")
        if self.method == "sensitivity" and self.global_pruning:
            raise ValueError("method 'sensitivity' picks per-layer ratios; global_pruning does not apply")
        if self.method == "magnitude" and (self.target_gflops_ratio or self.importance != "l1"):
            raise ValueError("magnitude pruning ranks weights by |w| and saves no FLOPs: drop target / importance")
        return self
