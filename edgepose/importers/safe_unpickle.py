"""Read a pickled foreign checkpoint without running any of its code.

`restricted_torch_load(path, stub_prefixes)` runs torch.load with a pickle module whose `find_class`
returns only (a) torch's tensor/storage rebuild functions, torch.Size and dtypes, (b) plain
containers and literals (OrderedDict, set, frozenset, slice, ...), (c) numpy array/scalar rebuilders,
and (d) for a class under one of `stub_prefixes` (e.g. `ultralytics.`, `torch.nn.modules.`) an inert
`PickledObject` subclass that records the state it is given and has no other behaviour. Every other
global (builtins.eval, os.system, subprocess.*, builtins.getattr on anything but a stub class, ...)
raises pickle.UnpicklingError before it can be called.
"""

from __future__ import annotations

import collections
import pickle
import types
from pathlib import Path
from typing import Any

import torch

_TORCH_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch", "Size"),
    ("torch", "device"),
}
_PLAIN = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "range"): range,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
}
_NUMPY = {
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy": {"ndarray", "dtype"},
}


class PickledObject:
    """An inert stand-in for a pickled instance of a foreign class: records its state, runs nothing."""

    pickled_class = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["pickled_args"] = (args, kwargs)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict | type(None)):
            state = {**(state[0] or {}), **(state[1] or {})}  # (dict, slots) form
        self.__dict__["state"] = state if isinstance(state, dict) else {"value": state}

    @property
    def fields(self) -> dict[str, Any]:
        """The recorded instance dict (empty when nothing was recorded)."""
        state = self.__dict__.get("state")
        return state if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"<pickled {self.pickled_class}>"


class PickledAttribute:
    """What `getattr(StubClass, name)` gives while unpickling: a record of the name, nothing callable."""

    def __init__(self, owner: str, name: str):
        self.owner, self.name = owner, name

    def __repr__(self) -> str:
        return f"<pickled attribute {self.owner}.{self.name}>"


def _safe_getattr(obj: Any, name: Any, *default: Any) -> PickledAttribute:
    """Ultralytics pickles `Pose.detect = Detect.forward` as getattr(Detect, 'forward'): allowed on stubs only."""
    if isinstance(obj, type) and issubclass(obj, PickledObject) and isinstance(name, str):
        return PickledAttribute(obj.pickled_class, name)
    raise pickle.UnpicklingError(f"refused getattr({type(obj).__name__}, {name!r}): only allowed on recorded classes")


class _RestrictedUnpickler(pickle.Unpickler):
    stub_prefixes: tuple[str, ...] = ()
    _stubs: dict[str, type[PickledObject]] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = "builtins" if module == "__builtin__" else module
        if (module, name) in _TORCH_FUNCTIONS:
            return getattr(__import__(module, fromlist=[name]), name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if (module, name) in _PLAIN:
            return _PLAIN[(module, name)]
        if (module, name) == ("builtins", "getattr"):
            return _safe_getattr
        if name in _NUMPY.get(module, ()):
            import numpy  # noqa: F401  (the rebuilders below live in numpy)

            return getattr(__import__(module, fromlist=[name]), name)
        if module.startswith("numpy.dtypes") and name.endswith("DType"):
            import numpy.dtypes

            cls = getattr(numpy.dtypes, name, None)
            if isinstance(cls, type):
                return cls
        if any(module == p.rstrip(".") or module.startswith(p) for p in self.stub_prefixes):
            return self._stub(f"{module}.{name}")
        raise pickle.UnpicklingError(f"refused to load global '{module}.{name}' (it could run code)")

    def _stub(self, qualname: str) -> type[PickledObject]:
        if qualname not in self._stubs:
            self._stubs[qualname] = type(qualname.rsplit(".", 1)[-1], (PickledObject,), {"pickled_class": qualname})
        return self._stubs[qualname]


def restricted_pickle_module(stub_prefixes: tuple[str, ...]) -> types.ModuleType:
    """A module usable as torch.load's `pickle_module` that only materialises safe objects."""
    unpickler = type("RestrictedUnpickler", (_RestrictedUnpickler,), {"stub_prefixes": tuple(stub_prefixes),
                                                                       "_stubs": {}})  # fmt: skip
    module = types.ModuleType("edgepose_restricted_pickle")
    module.Unpickler = unpickler  # type: ignore[attr-defined]
    module.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]

    def load(file: Any, **kwargs: Any) -> Any:
        return unpickler(file, **kwargs).load()

    module.load = load  # type: ignore[attr-defined]
    return module


def restricted_torch_load(path: str | Path, stub_prefixes: tuple[str, ...]) -> Any:
    """torch.load(path) through the restricted unpickler; pickle.UnpicklingError for anything unsafe."""
    module = restricted_pickle_module(stub_prefixes)
    return torch.load(Path(path), map_location="cpu", pickle_module=module, weights_only=False)
