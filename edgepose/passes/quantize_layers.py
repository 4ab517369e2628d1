"""Quantizable layers of an ONNX graph, named as the torch modules they came from.

torch.onnx.export names a node by its module path: `backbone.layer1.0.conv1` becomes
`/backbone/layer1/layer1.0/conv1/Conv`. Users select layers with wildcards over the torch names
(what `edgepose info` and the model code show); a graph without such scopes is selected by node name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgepose.errors import UserError
from edgepose.passes.select import matches

QUANTIZABLE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# ops that only move or reshape data: a head layer reached through them still "produces" the output
PASS_THROUGH_OPS = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Concat", "Cast", "Slice",
                    "Split", "Gather"}  # fmt: skip


@dataclass(frozen=True)
class Layer:
    """One quantizable ONNX node: its node name, op type and the torch module name it maps to."""

    node: str
    op: str
    name: str  # torch module name where the node name carries one, else the node name


def module_name(node_name: str) -> str:
    """`/backbone/layer1/layer1.0/conv1/Conv` -> `backbone.layer1.0.conv1` (the node name if it has no scope)."""
    parts = [p for p in node_name.split("/") if p]
    if len(parts) < 2:
        return node_name
    out: list[str] = []
    for part in parts[:-1]:
        if out and part.startswith(out[-1] + "."):
            out[-1] = part
        else:
            out.append(part)
    return ".".join(out)


def quantizable_layers(model: Any) -> list[Layer]:
    """Every Conv / ConvTranspose / Gemm / MatMul node of an ONNX ModelProto, in graph order."""
    return [Layer(n.name, n.op_type, module_name(n.name)) for n in model.graph.node if n.op_type in QUANTIZABLE_OPS]


def select(layers: Sequence[Layer], patterns: Sequence[str]) -> list[Layer]:
    """Layers whose torch name or node name matches any wildcard pattern."""
    return [layer for layer in layers if matches(layer.name, patterns) or matches(layer.node, patterns)]


def check_patterns(layers: Sequence[Layer], patterns: Sequence[str], option: str) -> None:
    """UserError for a pattern that matches no quantizable layer (a typo would silently do nothing)."""
    for pattern in patterns:
        if pattern != "*" and not select(layers, [pattern]):
            examples = ", ".join(layer.name for layer in layers[:3])
            raise UserError(f"{option} pattern '{pattern}' matches no quantizable layer (e.g. {examples}, ...)")


def output_layers(model: Any, torch_names: Sequence[str] = ()) -> list[Layer]:
    """The layers that produce the graph outputs, and every quantizable layer after them.

    `torch_names` (from edgepose.passes.select.output_layers on the torch model) name them directly;
    otherwise they are found by walking back from each graph output through data-movement ops.
    """
    layers = quantizable_layers(model)
    if torch_names:
        heads = {layer.node for layer in layers if layer.name in set(torch_names)}
    else:
        heads = _producers_of_outputs(model)
    return [layer for layer in layers if layer.node in heads | _downstream(model, heads)]


def _producers_of_outputs(model: Any) -> set[str]:
    producer = {out: node for node in model.graph.node for out in node.output}
    found: set[str] = set()
    stack = [o.name for o in model.graph.output]
    seen: set[str] = set()
    while stack:
        tensor = stack.pop()
        node = producer.get(tensor)
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in QUANTIZABLE_OPS:
            found.add(node.name)
        elif node.op_type in PASS_THROUGH_OPS or node.op_type in ("Add", "Mul", "Sigmoid", "Relu"):
            stack.extend(node.input)
    return found


def _downstream(model: Any, nodes: set[str]) -> set[str]:
    """Names of the nodes that consume (directly or not) the outputs of `nodes`."""
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    by_name = {n.name: n for n in model.graph.node}
    frontier = [out for name in nodes if name in by_name for out in by_name[name].output]
    reached: set[str] = set()
    while frontier:
        for node in consumers.get(frontier.pop(), []):
            if node.name not in reached:
                reached.add(node.name)
                frontier.extend(node.output)
    return reached
