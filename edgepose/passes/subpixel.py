"""The sub-pixel pass: rewrite strided transposed convolutions as conv + pixel shuffle, exactly.

    @register_pass("subpixel", config=SubpixelConfig, stage=Stage.STRUCTURE, accepts={"torch"}, produces="torch")

A deployment rewrite, not a compression: same function (checked on random inputs, to float rounding), same
MACs, but every deconv becomes an ordinary convolution that INT8 runtimes quantize and run fast (OpenVINO's
CPU plugin on AVX2 keeps ConvolutionBackpropData in f32 even inside an INT8 model). Put it before `quantize`.
The swaps are recorded as a history step `{"step": "subpixel", "layers": [...]}`, replayed on load by
edgepose.models.rewrites.subpixel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from edgepose.passes.base import PassConfig, RunContext, Stage, register_pass

if TYPE_CHECKING:

    from edgepose.artifact import Artifact

MAX_REWRITE_ERROR = 1e-4  # relative to the output range: a float rewrite; anything larger is a bug


class SubpixelConfig(PassConfig):
    """Which ConvTranspose2d layers to rewrite (all eligible ones by default)."""

    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)


@register_pass(
    "subpixel", config=SubpixelConfig, stage=Stage.STRUCTURE, accepts={"torch"}, produces="torch", performance_rewrite=True,
    description="rewrite strided deconvs as conv + pixel shuffle (exact; INT8 runtimes then run them as INT8 convs)",
)  # fmt: skip
def subpixel(artifact: Artifact, cfg: SubpixelConfig, ctx: RunContext) -> Artifact:
    """Rewrite a copy of the model; verify it computes the same outputs; record the swaps in its history."""
    import torch

    from edgepose.errors import UserError
    from edgepose.models.rewrites.surgery import model_outputs, set_module
    from edgepose.models.subpixel import SubpixelDeconv, subpixel_unsupported
    from edgepose.passes.base import copy_torch_artifact
    from edgepose.passes.select import check_patterns, select_modules

    result = copy_torch_artifact(artifact)
    model = result.model.eval()
    check_patterns(model, cfg.include, "include")
    check_patterns(model, cfg.exclude, "exclude")
    layers, skipped = [], []
    for name in select_modules(model, (torch.nn.ConvTranspose2d,), cfg.include, cfg.exclude):
        deconv = model.get_submodule(name)
        reason = subpixel_unsupported(deconv)  # type: ignore[arg-type]
        if reason is not None:
            skipped.append({"name": name, "reason": reason})
            continue
        layers.append(name)
    record: dict[str, Any] = {"replaced": layers, "skipped": skipped}
    ctx.records["subpixel"] = record
    if not layers:
        record["unchanged"] = "no eligible ConvTranspose2d"
        ctx.log("subpixel: model unchanged (no eligible ConvTranspose2d)")
        return result
    generator = torch.Generator().manual_seed(ctx.seed)
    x = torch.randn(result.spec.input_shape(2), generator=generator)
    before = model_outputs(model, x)
    for name in layers:
        set_module(model, name, SubpixelDeconv.from_deconv(model.get_submodule(name)))  # type: ignore[arg-type]
    after = model_outputs(model, x)
    error = max(float((a - b).abs().max() / max(float(b.max() - b.min()), 1e-12)) for a, b in zip(after, before, strict=True))
    record["max_rel_err"] = error
    if error > MAX_REWRITE_ERROR:
        raise UserError(f"subpixel: the rewritten model differs from the original by {error:.3g} of the output range "
                        f"(> {MAX_REWRITE_ERROR:g}); exclude the layers it breaks: {', '.join(layers)}")  # fmt: skip
    result.history.append({"step": "subpixel", "layers": layers})
    ctx.log(f"subpixel: rewrote {len(layers)} deconvs as conv + pixel shuffle (max error {error:.2g} of the output "
            f"range){'; skipped ' + str(len(skipped)) if skipped else ''}")  # fmt: skip
    return result
