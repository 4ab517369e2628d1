"""`edgepose import ultralytics CKPT -o OUT`: a foreign checkpoint -> an edgepose checkpoint, no pickle code run."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from edgepose.cli.common import JsonOpt


def import_ultralytics_command(
    checkpoint: Annotated[str, typer.Argument(help="Ultralytics YOLOv8 / YOLO11 pose checkpoint (.pt)")],
    out: Annotated[str, typer.Option("-o", "--out", help="edgepose checkpoint to write (.pt)")],
    input_size: Annotated[
        Optional[str], typer.Option("--input-size", help="HxW the model is fed (default: its training size, 640x640)")  # noqa: UP045
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Import an Ultralytics pose checkpoint without importing ultralytics or running its pickle.

    Only tensors, plain containers and the model's layer list are read; anything else in the file is
    refused. The weights keep their licence (Ultralytics: AGPL-3.0), recorded in the provenance.

    Example: edgepose import ultralytics yolo11n-pose.pt -o yolo11n-pose.edgepose.pt
    """
    from edgepose.artifact import parse_input_size
    from edgepose.checkpoint import save_checkpoint
    from edgepose.console import print_json, stdout
    from edgepose.importers.ultralytics import import_ultralytics
    from edgepose.models.stats import count_params
    from edgepose.paths import check_output

    check_output(out, [checkpoint])
    artifact = import_ultralytics(checkpoint, parse_input_size(input_size) if input_size else None)
    save_checkpoint(artifact, out)
    summary = {
        "checkpoint": out, "arch": artifact.arch, "params": count_params(artifact.model),
        "spec": artifact.spec.to_dict(), "provenance": artifact.provenance,
    }  # fmt: skip
    if json_out:
        print_json(summary)
        return
    prov = artifact.provenance
    stdout.print(
        f"imported [bold]{checkpoint}[/] -> [bold]{out}[/]: {artifact.arch} ({summary['params'] / 1e6:.2f} M params, "
        f"{'fused' if prov['fused'] else 'unfused'} source, ultralytics {prov.get('ultralytics_version')}), "
        f"schema {artifact.spec.schema}, input {artifact.spec.input_size[0]}x{artifact.spec.input_size[1]}, "
        f"strides {prov['strides']}.\nLicence of these weights: {prov['license']}"
    )
