"""edgepose: trained pose checkpoints to fast, verified edge artifacts.

`import edgepose` stays light: torch, onnxruntime, openvino and tensorrt load only where used.

    import edgepose
    report = edgepose.optimize("my_pose.pt", recipe="cpu-int8", data="val.json")
    report["final"]["vs_torch_fp32"]["speedup"], report["gates"]
    poses = edgepose.Predictor("runs/cpu-int8-my_pose/final/model.xml").predict("photo.jpg")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgepose.version import __version__

if TYPE_CHECKING:
    from edgepose.deploy.pose import Pose
    from edgepose.inference.api import Predictor, predict

__all__ = ["Pose", "Predictor", "__version__", "optimize", "predict"]

_LAZY = {"Predictor": "edgepose.inference.api", "predict": "edgepose.inference.api", "Pose": "edgepose.deploy.pose"}


def __getattr__(name: str) -> Any:
    """Predictor, predict and Pose, imported on first use (so `import edgepose` loads no runtime)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgepose' has no attribute {name!r}")


def optimize(model: Any = None, recipe: str = "cpu-int8", data: Any = None, out: Any = None,
             overrides: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:  # fmt: skip
    """The `edgepose optimize` command as a function; returns the report dict (see edgepose.pipeline.optimize).

    A failed gate raises edgepose.errors.GateFailed after the report is written; the exception's `.report` holds
    the same report dict. `check_gates=False` returns the report instead of raising.
    """
    from edgepose.pipeline import optimize as run

    return run(model, recipe, data, out, overrides, **kwargs)
