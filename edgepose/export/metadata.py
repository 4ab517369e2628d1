"""What an exported file says about itself: the ModelSpec and provenance, so any runtime can decode it.

ONNX keeps it in metadata_props, OpenVINO IR in rt_info (under "edgepose"), a TensorRT engine in the
JSON sidecar `MODEL.engine.json` (engines are opaque). Keys are "edgepose.<name>", values strings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgepose.artifact import Artifact, LoadOptions, ModelSpec, parse_input_size
from edgepose.errors import UserError
from edgepose.heads import head_from_shape

PREFIX = "edgepose."
SPEC_KEY = "edgepose.spec"


def build_metadata(
    spec: ModelSpec, *, arch: str | None = None, arch_kwargs: dict[str, Any] | None = None,
    precision: str = "fp32", params: int | None = None, gflops: float | None = None,
    source: str | None = None, history: list[dict[str, Any]] | None = None,
) -> dict[str, str]:  # fmt: skip
    """The edgepose metadata of an exported model, as string key/values."""
    from edgepose.version import __version__

    h, w = spec.input_size
    meta = {
        SPEC_KEY: json.dumps(spec.to_dict(), sort_keys=True),
        "edgepose.schema": spec.schema,
        "edgepose.input_size": f"{h}x{w}",
        "edgepose.mean": json.dumps(list(spec.mean)),
        "edgepose.std": json.dumps(list(spec.std)),
        "edgepose.head": spec.head,
        "edgepose.precision": precision,
        "edgepose.version": __version__,
    }
    optional = {
        "edgepose.arch": arch,
        "edgepose.arch_kwargs": json.dumps(arch_kwargs) if arch_kwargs else None,
        "edgepose.params": None if params is None else str(int(params)),
        "edgepose.gflops": None if gflops is None else f"{gflops:.6g}",
        "edgepose.source": source,
        "edgepose.history": json.dumps(history) if history else None,
    }
    meta.update({k: v for k, v in optional.items() if v is not None})
    return meta


def metadata_for_artifact(artifact: Artifact, precision: str = "fp32") -> dict[str, str]:
    """build_metadata for an artifact, counting params and GFLOPs from its torch model when it has one."""
    params = gflops = None
    if artifact.model is not None:
        from edgepose.models.stats import count_gflops, count_params

        params, gflops = count_params(artifact.model), count_gflops(artifact.model, artifact.spec)
    else:
        params = _as_number(artifact.provenance.get("params"), int)
        gflops = _as_number(artifact.provenance.get("gflops"), float)
    return build_metadata(
        artifact.spec, arch=artifact.arch, arch_kwargs=artifact.arch_kwargs or None, precision=precision,
        params=params, gflops=gflops, source=str(artifact.path) if artifact.path else None,
        history=artifact.history or None,
    )  # fmt: skip


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError / ValueError / OSError for broken files
        raise UserError(f"{path} is not a readable ONNX file ({type(exc).__name__})") from None
    return {p.key: p.value for p in proto.metadata_props}


def read_openvino_metadata(path: str | Path) -> dict[str, str]:
    model = _read_openvino(path)
    meta: dict[str, str] = {}
    if model.has_rt_info(["edgepose"]):
        for key in model.get_rt_info(["edgepose"]).astype(dict):
            meta[PREFIX + key] = model.get_rt_info(["edgepose", key]).astype(str)
    return meta


def sidecar_path(engine_path: str | Path) -> Path:
    """`model.engine` -> `model.engine.json`."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def read_tensorrt_sidecar(path: str | Path) -> dict[str, Any]:
    side = sidecar_path(path)
    if not side.exists():
        return {}
    try:
        return json.loads(side.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{side} is not valid JSON ({exc.msg})") from None


def spec_from_metadata(meta: dict[str, str]) -> ModelSpec | None:
    """The ModelSpec stored in edgepose metadata, or None when the file has none."""
    if SPEC_KEY in meta:
        try:
            return ModelSpec.from_dict(json.loads(meta[SPEC_KEY]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UserError(f"broken edgepose spec in model metadata: {exc}") from None
    if "edgepose.input_size" in meta:
        return ModelSpec(
            input_size=parse_input_size(meta["edgepose.input_size"]),
            schema=meta.get("edgepose.schema", "coco17"), head=meta.get("edgepose.head", "heatmap"),
        )  # fmt: skip
    return None


def load_exported_artifact(path: str | Path, kind: str, options: LoadOptions | None = None) -> Artifact:
    """An Artifact for an exported file (onnx | openvino | tensorrt), its spec read from the file.

    A file without edgepose metadata is described from its input/output shapes, with --input-size and
    --schema filling what the shapes cannot tell.
    """
    path = Path(path)
    io_shapes: tuple[list, list] | None = None
    if kind == "onnx":
        meta = read_onnx_metadata(path)
        if SPEC_KEY not in meta:
            io_shapes = _onnx_io_shapes(path)
    elif kind == "openvino":
        meta = read_openvino_metadata(path)
        if SPEC_KEY not in meta:
            io_shapes = _openvino_io_shapes(path)
    elif kind == "tensorrt":
        side = read_tensorrt_sidecar(path)
        meta = dict(side.get("edgepose") or {})
        if SPEC_KEY not in meta and side:
            io_shapes = ([t["shape"] for t in side.get("inputs", [])], [t["shape"] for t in side.get("outputs", [])])
    else:
        raise UserError(f"unknown exported model kind '{kind}'")
    spec = spec_from_metadata(meta)
    if spec is None or (options and (options.input_size or options.schema)):
        spec = _describe(spec, io_shapes, options, path)
    provenance: dict[str, Any] = {k.removeprefix(PREFIX): v for k, v in meta.items() if k != SPEC_KEY}
    for key, cast in (("params", int), ("gflops", float)):
        if key in provenance:
            provenance[key] = _as_number(provenance[key], cast)
    arch_kwargs = json.loads(meta["edgepose.arch_kwargs"]) if "edgepose.arch_kwargs" in meta else {}
    history = json.loads(meta["edgepose.history"]) if "edgepose.history" in meta else []
    provenance.pop("arch_kwargs", None)
    provenance.pop("history", None)
    return Artifact(
        spec=spec, format=kind, path=path, arch=meta.get("edgepose.arch"), arch_kwargs=arch_kwargs,
        history=history, provenance=provenance,
    )  # fmt: skip


def _describe(spec: ModelSpec | None, io_shapes: tuple[list, list] | None, options: LoadOptions | None, path: Path) -> ModelSpec:
    """A spec from --input-size/--schema and the file's shapes, for files that carry none."""
    from edgepose.schemas import get_schema, schema_for_count

    input_size = parse_input_size(options.input_size) if options and options.input_size else None
    inputs, outputs = io_shapes or ([], [])
    if input_size is None and spec is not None:
        input_size = spec.input_size
    if input_size is None and inputs and len(inputs[0]) >= 4 and all(_static(d) for d in inputs[0][-2:]):
        input_size = (int(inputs[0][-2]), int(inputs[0][-1]))
    if input_size is None:
        raise UserError(f"{path} has no edgepose metadata and no fixed input size: pass --input-size HxW")
    head = spec.head if spec else "heatmap"
    if spec is None and outputs:
        head = head_from_shape(outputs[0]) or "heatmap"
    schema = options.schema if options and options.schema else None
    if schema:
        get_schema(schema)
    elif spec is not None:
        schema = spec.schema
    else:
        count = outputs[0][1] if outputs and len(outputs[0]) > 1 and _static(outputs[0][1]) else None
        found = schema_for_count(int(count)) if count else None
        schema = found.name if found else "coco17"
    base = spec or ModelSpec(input_size=input_size)
    return base.with_changes(input_size=input_size, schema=schema, head=head)


def _static(dim: Any) -> bool:
    return isinstance(dim, int) and dim > 0


def _onnx_io_shapes(path: Path) -> tuple[list, list]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}

    def dims(value: Any) -> list:
        return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]

    return [dims(v) for v in graph.input if v.name not in initializers], [dims(v) for v in graph.output]


def _openvino_io_shapes(path: Path) -> tuple[list, list]:
    model = _read_openvino(path)

    def dims(port: Any) -> list:
        return [d.get_length() if d.is_static else "?" for d in port.get_partial_shape()]

    return [dims(p) for p in model.inputs], [dims(p) for p in model.outputs]


def _check_ir_xml(path: Path) -> None:
    """An OpenVINO IR is an XML document with a <net> root and a .bin beside it; say so before OpenVINO's native
    parser is given junk (it logs several lines of its own to stderr first)."""
    import xml.etree.ElementTree as ET

    try:
        for _event, element in ET.iterparse(path, events=("start",)):
            if element.tag != "net":
                raise UserError(f"{path} is not an OpenVINO IR (its XML root is <{element.tag}>, not <net>)")
            break
    except ET.ParseError as exc:
        raise UserError(f"{path} is not an OpenVINO IR (not well-formed XML: {exc})") from None
    if not path.with_suffix(".bin").is_file():
        raise UserError(f"{path}: its weights file {path.with_suffix('.bin').name} is missing beside it")


def _read_openvino(path: str | Path) -> Any:
    _check_ir_xml(Path(path))
    try:
        import openvino as ov
    except ImportError:
        from edgepose.errors import MissingDependency

        raise MissingDependency("openvino", hint="pip install openvino") from None
    try:
        return ov.Core().read_model(str(path))
    except RuntimeError as exc:
        raise UserError(f"{path} is not a readable OpenVINO IR: {str(exc).strip().splitlines()[0][:200]}") from None


def _as_number(value: Any, cast: type) -> Any:
    try:
        return None if value is None else cast(value)
    except (TypeError, ValueError):
        return None
