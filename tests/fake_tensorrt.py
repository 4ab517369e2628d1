"""A fake `tensorrt` module for the CPU unit tests: the slice of TensorRT's documented Python API
(10.x and 11.x) that edgepose uses, with the real names, recording every call in `trt.calls`.

Builder side: Logger, Builder (create_network, create_builder_config, create_optimization_profile,
build_serialized_network), NetworkDefinitionCreationFlag.STRONGLY_TYPED, OnnxParser (parse_from_file,
num_errors, get_error; reads the real ONNX file unless `io` describes the network), BuilderFlag (no
FP16 / INT8 on 11.x, where they were removed), MemoryPoolType, IBuilderConfig (set_flag,
set_memory_pool_limit, add_optimization_profile, create_timing_cache, set_timing_cache,
get_timing_cache). Runtime side: Runtime.deserialize_cuda_engine, the name-based engine API
(num_io_tensors, get_tensor_name / mode / dtype / shape), the execution context (set_input_shape,
get_tensor_shape, set_tensor_address, execute_async_v3), nptype, DataType, TensorIOMode.
"""

from __future__ import annotations

import enum
import importlib.machinery
import types
from typing import Any

import numpy as np

ENGINE_BYTES = b"fake-serialized-engine"
HEATMAP_IO = {
    "inputs": [("input", (-1, 3, 64, 48), "FLOAT")],
    "outputs": [("heatmaps", (-1, 17, 16, 12), "FLOAT")],
}


# ---- the fake tensorrt module --------------------------------------------------------------------


class DataType(enum.Enum):
    FLOAT = 0
    HALF = 1
    INT8 = 2


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class FakeTensor:
    def __init__(self, name: str, shape: tuple[int, ...], dtype: str):
        self.name, self.shape, self.dtype = name, tuple(shape), DataType[dtype]


def _onnx_io(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What TensorRT's parser would see in a real ONNX file: I/O tensors (dynamic dims -1) and precision."""
    import onnx

    from edgepose.export.fp16 import graph_precision

    proto = onnx.load(path, load_external_data=False)
    inits = {i.name for i in proto.graph.initializer}

    def tensors(values: Any) -> list[tuple[str, tuple[int, ...], str]]:
        out = []
        for v in values:
            if v.name in inits:
                continue
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim)
            out.append(
                (
                    v.name,
                    dims,
                    "HALF" if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16 else "FLOAT",
                )
            )
        return out

    io = {"inputs": tensors(proto.graph.input), "outputs": tensors(proto.graph.output)}
    return io, {"path": path, "graph_precision": graph_precision(proto)}


def make_fake_trt(
    version: str = "10.13.3.9", io: dict[str, Any] | None = None, parse_errors: tuple[str, ...] = (),
    build_fails: bool = False,
) -> types.ModuleType:  # fmt: skip
    """A `tensorrt` stand-in; `trt.calls` lists (api, args...) in call order, `trt.parsed` what was parsed."""
    trt = types.ModuleType("tensorrt")
    trt.__spec__ = importlib.machinery.ModuleSpec(
        "tensorrt", loader=None
    )  # importlib.util.find_spec works on it
    trt.__version__ = version
    trt.calls, trt.parsed = [], []
    major = int(version.split(".")[0])
    calls = trt.calls

    class Logger:
        WARNING, ERROR, INFO = 2, 1, 3

        def __init__(self, level: int = 2):
            self.level = level

    class NetworkDefinitionCreationFlag(enum.IntEnum):
        STRONGLY_TYPED = 1  # deprecated and ignored from 11.0, still accepted

    flags = {"TF32": 1, "REFIT": 2} if major >= 11 else {"FP16": 3, "INT8": 4, "TF32": 1, "REFIT": 2}
    BuilderFlag = enum.IntEnum("BuilderFlag", flags)

    class MemoryPoolType(enum.IntEnum):
        WORKSPACE = 0

    class Network:
        def __init__(self) -> None:
            self.inputs: list[FakeTensor] = []
            self.outputs: list[FakeTensor] = []

        num_inputs = property(lambda self: len(self.inputs))
        num_outputs = property(lambda self: len(self.outputs))

        def get_input(self, i: int) -> FakeTensor:
            return self.inputs[i]

        def get_output(self, i: int) -> FakeTensor:
            return self.outputs[i]

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger):
            self.network, self.errors = network, list(parse_errors)

        def parse_from_file(self, path: str) -> bool:
            calls.append(("parse_from_file", path))
            described = io
            if described is None:
                described, record = _onnx_io(path)
                trt.parsed.append(record)
            if self.errors:
                return False
            self.network.inputs = [FakeTensor(*t) for t in described["inputs"]]
            self.network.outputs = [FakeTensor(*t) for t in described["outputs"]]
            return True

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> str:
            return self.errors[i]

    class Profile:
        def set_shape(self, name: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002  (TRT's names)
            calls.append(("profile.set_shape", name, tuple(min), tuple(opt), tuple(max)))

    class TimingCache:
        def __init__(self, data: bytes):
            self.data = bytes(data)

        def serialize(self) -> memoryview:
            return memoryview(self.data + b"+tuned")

    class BuilderConfig:
        def __init__(self) -> None:
            self.cache: TimingCache | None = None

        def set_flag(self, flag: Any) -> None:
            calls.append(("config.set_flag", flag.name))

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            calls.append(("config.set_memory_pool_limit", pool.name, size))

        def add_optimization_profile(self, profile: Profile) -> int:
            calls.append(("config.add_optimization_profile",))
            return 0

        def create_timing_cache(self, data: bytes) -> TimingCache:
            calls.append(("config.create_timing_cache", bytes(data)))
            return TimingCache(data)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            calls.append(("config.set_timing_cache", ignore_mismatch))
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self.cache

    class Builder:
        def __init__(self, logger: Logger):
            calls.append(("Builder",))

        def create_network(self, flags: int = 0) -> Network:
            calls.append(("create_network", flags))
            return Network()

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            calls.append(("create_optimization_profile",))
            return Profile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> memoryview | None:
            calls.append(("build_serialized_network",))
            return None if build_fails else memoryview(ENGINE_BYTES)

    trt.Logger, trt.NetworkDefinitionCreationFlag, trt.BuilderFlag = (
        Logger,
        NetworkDefinitionCreationFlag,
        BuilderFlag,
    )
    trt.MemoryPoolType, trt.OnnxParser, trt.Builder = MemoryPoolType, OnnxParser, Builder
    trt.DataType, trt.TensorIOMode = DataType, TensorIOMode
    trt.nptype = lambda dtype: {
        DataType.FLOAT: np.float32,
        DataType.HALF: np.float16,
        DataType.INT8: np.int8,
    }[dtype]
    _add_runtime(trt, io or HEATMAP_IO)
    return trt


def _add_runtime(trt: types.ModuleType, io: dict[str, Any]) -> None:
    """trt.Runtime -> engine -> execution context, over the I/O tensors in `io`."""
    calls = trt.calls
    tensors = [(n, s, d, TensorIOMode.INPUT) for n, s, d in io["inputs"]]
    tensors += [(n, s, d, TensorIOMode.OUTPUT) for n, s, d in io["outputs"]]
    by_name = {t[0]: t for t in tensors}

    class Context:
        def __init__(self) -> None:
            self.input_shape: tuple[int, ...] | None = None
            self.addresses: dict[str, int] = {}
            self.fail = False

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            calls.append(("context.set_input_shape", name, tuple(shape)))
            self.input_shape = tuple(shape)
            return True

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            assert self.input_shape is not None, "output shapes are known only after set_input_shape"
            shape = by_name[name][1]
            return tuple(self.input_shape[0] if d == -1 else d for d in shape)

        def set_tensor_address(self, name: str, address: int) -> bool:
            calls.append(("context.set_tensor_address", name))
            self.addresses[name] = address
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            calls.append(("context.execute_async_v3", stream_handle))
            return not self.fail

    class Engine:
        num_io_tensors = len(tensors)

        def get_tensor_name(self, i: int) -> str:
            return tensors[i][0]

        def get_tensor_mode(self, name: str) -> TensorIOMode:
            return by_name[name][3]

        def get_tensor_dtype(self, name: str) -> DataType:
            return DataType[by_name[name][2]]

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return by_name[name][1]

        def create_execution_context(self) -> Context:
            trt.context = Context()
            return trt.context

    class Runtime:
        def __init__(self, logger: Any):
            pass

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            calls.append(("deserialize_cuda_engine", bytes(data)))
            return Engine() if bytes(data) == ENGINE_BYTES else None

    trt.Runtime = Runtime
