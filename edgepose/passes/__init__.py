"""Optimization passes: each a pydantic config + a plain function, registered by name.

Importing this package registers the built-in passes; their heavy dependencies (torch-pruning,
nncf, onnxruntime.quantization) are imported inside the pass functions.
"""

from edgepose.passes import finetune as _finetune  # noqa: E402,F401  (registers "finetune")
from edgepose.passes import ghost as _ghost  # noqa: E402,F401  (registers "ghost" and its replay)
from edgepose.passes import prune as _prune  # noqa: E402,F401  (registers "prune" and its replay)
from edgepose.passes import quantize as _quantize  # noqa: E402,F401  (registers "quantize")
from edgepose.passes import subpixel as _subpixel  # noqa: E402,F401  (registers "subpixel" and its replay)
from edgepose.passes.base import (
    PASSES,
    PassConfig,
    RunContext,
    Stage,
    apply_pass,
    check_order,
    make_config,
    pass_info,
    register_pass,
)

__all__ = [
    "PASSES", "PassConfig", "RunContext", "Stage", "apply_pass", "check_order", "make_config", "pass_info",
    "register_pass",
]  # fmt: skip
