"""FP32 -> FP16 conversion of an ONNX graph (DESIGN.md: FP16 is a property of the graph).

A small stand-in for onnxconverter-common's float16 converter: float initializers and constants
become float16, graph inputs/outputs stay float32 behind Cast nodes (so feeds and decoding do not
change), and ops that need float32 operands (Resize scales, random ops, ...) run in float32 between
Casts. Runs on ONNX Runtime CPU (it computes unsupported fp16 kernels in fp32), OpenVINO and TensorRT.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepose.errors import UserError

FP16_MAX = float(np.finfo(np.float16).max)
# ops whose float operands must stay float32, or that are numerically unsafe in fp16
KEEP_FP32_OPS = frozenset(
    {"Resize", "Upsample", "Range", "RandomNormal", "RandomUniform", "RandomNormalLike",
     "RandomUniformLike", "NonMaxSuppression", "RoiAlign", "EyeLike", "Multinomial"}
)  # fmt: skip


def convert_to_fp16(model: Any, keep_fp32_ops: frozenset[str] = KEEP_FP32_OPS) -> Any:
    """Return a float16 copy of ONNX `model` (a ModelProto) with float32 inputs and outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    for node in graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise UserError(f"FP16 conversion does not handle control flow ({node.op_type}); export in fp32")
    float_types = _float_value_names(graph)

    for index, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT:
            graph.initializer[index].CopyFrom(numpy_helper.from_array(_to_fp16(numpy_helper.to_array(init)), init.name))
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(numpy_helper.from_array(_to_fp16(numpy_helper.to_array(attr.t)), attr.t.name))
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
            if attr.name == "dtype" and attr.type == onnx.AttributeProto.INT and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16

    new_nodes = []
    for node in graph.node:
        if node.op_type in keep_fp32_ops:
            for i, name in enumerate(node.input):
                if name in float_types:
                    cast_out = f"{name}__to_fp32_{len(new_nodes)}"
                    new_nodes.append(helper.make_node("Cast", [name], [cast_out], to=TensorProto.FLOAT))
                    node.input[i] = cast_out
            _reset_dtype_attr(node, TensorProto.FLOAT)
            new_nodes.append(node)
            for i, name in enumerate(node.output):
                if name in float_types:
                    node.output[i] = f"{name}__fp32"
                    new_nodes.append(helper.make_node("Cast", [node.output[i]], [name], to=TensorProto.FLOAT16))
        else:
            new_nodes.append(node)

    initializer_names = {i.name for i in graph.initializer}
    head: list[Any] = []
    for value in graph.input:
        if value.name in initializer_names or value.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        inner = f"{value.name}__fp16"
        head.append(helper.make_node("Cast", [value.name], [inner], to=TensorProto.FLOAT16))
        for node in new_nodes:
            node.input[:] = [inner if n == value.name else n for n in node.input]
    tail: list[Any] = []
    for value in graph.output:
        if value.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        inner = f"{value.name}__fp16"
        for node in new_nodes:
            node.output[:] = [inner if n == value.name else n for n in node.output]
            node.input[:] = [inner if n == value.name else n for n in node.input]
        tail.append(helper.make_node("Cast", [inner], [value.name], to=TensorProto.FLOAT))

    del graph.node[:]
    graph.node.extend(head + new_nodes + tail)
    del graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model)
    return model


def graph_precision(model: Any) -> str:
    """'int8' when the graph has Q/DQ nodes, 'fp16' when it holds float16 weights, else 'fp32'."""
    from onnx import TensorProto

    ops = {n.op_type for n in model.graph.node}
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul"}:
        return "int8"
    if any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer):
        return "fp16"
    return "fp32"


def _float_value_names(graph: Any) -> set[str]:
    from onnx import TensorProto

    names = {v.name for v in [*graph.input, *graph.output, *graph.value_info] if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    names |= {i.name for i in graph.initializer if i.data_type == TensorProto.FLOAT}
    for node in graph.node:  # Constant outputs are not always in value_info
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    names.update(node.output)
    return names


def _reset_dtype_attr(node: Any, dtype: int) -> None:
    from onnx import TensorProto

    for attr in node.attribute:
        if attr.name == "dtype" and attr.i == TensorProto.FLOAT16:
            attr.i = dtype


def _to_fp16(array: np.ndarray) -> np.ndarray:
    return np.clip(array, -FP16_MAX, FP16_MAX).astype(np.float16)
