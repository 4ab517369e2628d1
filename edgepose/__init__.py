"""edgepose: trained pose checkpoints to fast, verified edge artifacts.

`import edgepose` stays light: torch, onnxruntime, openvino and tensorrt load only where used.

    import edgepose
    report = edgepose.optimize("my_pose.pt", recipe="cpu-int8", data="val.json")
    report["final"]["vs_torch_fp32"]["speedup"], report["gates"]
"""

from __future__ import annotations

from typing import Any

from edgepose.version import __version__

__all__ = ["__version__", "optimize"]


def optimize(model: Any = None, recipe: str = "cpu-int8", data: Any = None, out: Any = None,
             overrides: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:  # fmt: skip
    """The `edgepose optimize` command as a function; returns the report dict (see edgepose.pipeline.optimize)."""
    from edgepose.pipeline import optimize as run

    return run(model, recipe, data, out, overrides, **kwargs)
