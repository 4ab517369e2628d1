"""Options shared by commands that take a MODEL (DESIGN.md: checkpoint, ONNX, OpenVINO, TensorRT)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from edgepose.artifact import Artifact

ModelArg = Annotated[str, typer.Argument(help="edgepose .pt checkpoint, .onnx, OpenVINO .xml or TensorRT .engine")]
OptionalModelArg = Annotated[
    Optional[str], typer.Argument(help="model file; may be omitted with --model-factory")  # noqa: UP045
]
ArchOpt = Annotated[Optional[str], typer.Option("--arch", help="zoo architecture for a bare state_dict")]  # noqa: UP045
FactoryOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--model-factory", help="your architecture: path/to/file.py:build or pkg.mod:build"),
]
TrustOpt = Annotated[
    bool, typer.Option("--trust-checkpoint", help="allow a pickled whole model (runs code from the file!)")
]
InputSizeOpt = Annotated[
    Optional[str], typer.Option("--input-size", help="HxW for a model without a spec (default 256x192)")  # noqa: UP045
]
SchemaOpt = Annotated[
    Optional[str], typer.Option("--schema", help="coco17|lsp14|mpii16 for a model without a spec")  # noqa: UP045
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document to stdout and nothing else")]
SOURCE_HELP = "a folder of images, a glob ('dir/*.jpg'), a video, or a COCO-style JSON (any keypoint schema)"
MaxDropOpt = Annotated[Optional[float], typer.Option("--max-drop", min=0.0, help="fine-tune until the validation drop "  # noqa: UP045
                       "is <= this many points (--val metric, else agreement with the original model on held-back "
                       "images), then stop")]  # fmt: skip
MaxEpochsOpt = Annotated[Optional[int], typer.Option("--max-epochs", min=1, max=10_000, help="with --max-drop: the most "  # noqa: UP045
                         "epochs it may take (default: --epochs)")]  # fmt: skip
DetectorOpt = Annotated[Optional[str], typer.Option("--detector", help="a YOLO-pose model that finds the people in "  # noqa: UP045
                        "unannotated calibration images (top-down models; else each image is one person)")]  # fmt: skip


def detector_arg(path: str | None, threads: int | None) -> Any:
    """The --detector model as a PoseModel (None when not given)."""
    if path is None:
        return None
    from edgepose.inference.people import load_detector

    return load_detector(path, threads)


def finetune_epochs(epochs: int | None, max_epochs: int | None, max_drop: float | None,
                    default: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The fine-tune's `epochs` / `max_drop` options from --epochs, --max-epochs and --max-drop (`default` epochs
    when none is given)."""
    from edgepose.errors import UserError

    if max_epochs is not None and max_drop is None:
        raise UserError("--max-epochs bounds a --max-drop fine-tune; give --max-drop too (or use --epochs)")
    if max_epochs is not None and epochs is not None and max_epochs != epochs:
        raise UserError("give --epochs or --max-epochs, not both")
    chosen = max_epochs if max_epochs is not None else epochs if epochs is not None else default
    return {**({"epochs": chosen} if chosen is not None else {}), **({"max_drop": max_drop} if max_drop is not None else {})}
# training under torchrun (edgepose.distributed; README "Training on several processes")
DistBackendOpt = Annotated[str, typer.Option("--dist-backend", help="under torchrun: auto (nccl with CUDA, else gloo) "
                                             "| gloo | nccl")]  # fmt: skip
SyncBnOpt = Annotated[bool, typer.Option("--sync-bn", help="under torchrun: SyncBatchNorm over the processes "
                                         "(CUDA only; default: each process normalises its share of the batch)")]  # fmt: skip
GLOBAL_BATCH_HELP = "the GLOBAL batch: under torchrun split evenly over the processes (must divide by their number)"


def validation_data(val_data: str | None, eval_data: str | None) -> str | None:
    """--val, refused when it is the --eval file: the fine-tuning's best epoch and the sensitivity scan would be
    chosen on the images the result is scored on. Without --val, validation is label-free (held-back pictures)."""
    from pathlib import Path

    from edgepose.errors import UserError

    if val_data is not None and eval_data is not None and Path(val_data).resolve() == Path(eval_data).resolve():
        raise UserError(f"--val {val_data} is the --eval data: the fine-tuning would pick its epoch on the images it is "
                        "scored on; give held-out validation data, or leave --val out (agreement with the original "
                        "model on held-back training pictures)")  # fmt: skip
    return val_data


def start_distributed(backend: str) -> None:
    """Join torchrun's process group when launched by it (nothing otherwise); before any work."""
    from edgepose.distributed import setup

    setup(backend)


def load_model_arg(
    model: str | None,
    arch: str | None = None,
    model_factory: str | None = None,
    trust_checkpoint: bool = False,
    input_size: str | None = None,
    schema: str | None = None,
) -> Artifact:
    """Load MODEL with the shared options into an Artifact (imports torch lazily)."""
    from edgepose.loading import LoadOptions, load_artifact

    options = LoadOptions(arch, model_factory, trust_checkpoint, input_size, schema)
    return load_artifact(model, options)


def parse_runtimes(values: list[str] | None, default: list[str]) -> list[str]:
    """`--runtime` values (repeatable; `none` alone: skip timing), each checked against the runtime registry."""
    from edgepose.errors import UserError
    from edgepose.runtimes.base import RUNTIMES

    names = list(dict.fromkeys(values or default))
    if names == ["none"]:
        return []
    for name in names:
        if name not in RUNTIMES:
            raise UserError(f"unknown runtime '{name}' for --runtime: {', '.join(RUNTIMES.names())} or none")
    return names
