"""Make a device bundle (edgepose.deploy.bundle) from an exported ONNX / OpenVINO file: `export --bundle DIR` and
`optimize`'s final/ folder.

The model file(s) are already in the folder; this reads the input / output names and the batch from the file,
builds the pipeline config from its ModelSpec, adds the provenance, and writes edgepose-bundle.json + README.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepose.deploy.bundle import bundle_metadata, file_sha256, write_bundle
from edgepose.deploy.config import ModelConfig
from edgepose.errors import UserError
from edgepose.export.files import companion

BUNDLE_FORMATS = ("onnx", "openvino")


def write_model_bundle(model_path: str | Path, *, source: str | Path | None = None, recipe: str | None = None,
                       accuracy: dict[str, Any] | None = None, accuracy_data: str | None = None,
                       latency_ms: dict[str, Any] | None = None, **decoder: Any) -> Path:  # fmt: skip
    """Write the bundle metadata + README beside `model_path` (an .onnx or .xml in the bundle folder).

    `source` is the checkpoint the model came from (hashed), `recipe` the optimize recipe, `accuracy` the eval
    metrics measured on `accuracy_data`, `latency_ms` the measured latency; `decoder` overrides decode settings.
    """
    from edgepose.loading import load_artifact
    from edgepose.runtimes import open_session
    from edgepose.version import __version__

    model_path = Path(model_path)
    artifact = load_artifact(model_path)
    if artifact.format not in BUNDLE_FORMATS:
        raise UserError(f"a bundle holds an ONNX or OpenVINO model; {model_path} is a {artifact.format} file")
    session = open_session(artifact, threads=1)
    files = [model_path.name]
    extra = companion(model_path)
    if extra is not None and extra.exists():
        files.append(extra.name)
    config = ModelConfig.from_spec(artifact.spec, **decoder)
    from edgepose.heads import output_name

    wanted = output_name(artifact.spec.head)
    provenance = {
        "precision": str(artifact.provenance.get("precision") or getattr(session, "precision", None) or "fp32"),
        "edgepose_version": __version__, "arch": artifact.arch,
        "source": str(source) if source else artifact.provenance.get("source"),
        "source_sha256": file_sha256(source) if source and Path(source).is_file() else None,
        "recipe": recipe, "accuracy": _numbers(accuracy), "accuracy_data": accuracy_data, "latency_ms": latency_ms,
        "history": [step.get("step") for step in artifact.history] or None,
    }  # fmt: skip
    meta = bundle_metadata(
        config, fmt=artifact.format, files=files, input_name=session.input_names[0],
        output_name=wanted if wanted in session.output_names else session.output_names[0],
        batch=getattr(session, "fixed_batch", None), provenance=provenance,
    )  # fmt: skip
    return write_bundle(model_path.parent, meta)


def _numbers(metrics: dict[str, Any] | None) -> dict[str, float] | None:
    if not metrics:
        return None
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
