"""`edgepose info MODEL`: what a model file is, what it expects and where it came from."""

from __future__ import annotations

from pathlib import Path

from edgepose.cli.common import (
    ArchOpt,
    FactoryOpt,
    InputSizeOpt,
    JsonOpt,
    OptionalModelArg,
    SchemaOpt,
    TrustOpt,
    load_model_arg,
)  # fmt: skip


def info_command(
    model: OptionalModelArg = None,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Describe MODEL: format, architecture, input spec, params, GFLOPs, history, provenance.

    Example: edgepose info checkpoints/demo.pt --json
    """
    from rich.table import Table

    from edgepose.console import print_json, stdout

    artifact = load_model_arg(model, arch, model_factory, trust_checkpoint, input_size, schema)
    data = describe(artifact)
    if json_out:
        print_json(data)
        return
    table = Table(title=f"edgepose info: {data['model']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(key, _fmt(value))
    stdout.print(table)


def describe(artifact) -> dict:  # noqa: ANN001  (Artifact; imported lazily)
    """The facts `info` reports, as a JSON-ready dict."""
    spec = artifact.spec
    data = {
        "model": str(artifact.path) if artifact.path else f"factory {artifact.arch_kwargs.get('ref', '')}",
        "format": artifact.format,
        "arch": artifact.arch,
        "arch_kwargs": artifact.arch_kwargs,
        "spec": spec.to_dict(),
        "input_shape": list(spec.input_shape(1)),
        "size_mb": round(_size_mb(Path(artifact.path)), 3) if artifact.path else None,
        "history": artifact.history,
        "provenance": artifact.provenance,
    }
    if artifact.model is not None:
        from edgepose.models.stats import count_gflops, count_params, output_shapes

        data["params"] = count_params(artifact.model)
        data["gflops"] = round(count_gflops(artifact.model, spec), 3)
        data["output_shapes"] = output_shapes(artifact.model, spec)
    return data


def _size_mb(path: Path) -> float:
    """The model's size on disk: an OpenVINO IR counts its .xml and .bin together."""
    if path.suffix.lower() == ".xml":
        from edgepose.export.openvino import ir_size_mb

        return ir_size_mb(path)
    return path.stat().st_size / 2**20


def _fmt(value) -> str:  # noqa: ANN001
    import json

    if isinstance(value, (dict, list)):
        return json.dumps(value) if value else "-"
    return "-" if value is None else str(value)
