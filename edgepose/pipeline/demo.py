"""The bundled default: the demo checkpoint (synthetic COCO-17 people), its held-out synthetic data and a
separate calibration set.

Both sets are generated on first use (deterministic: evaluation seed 2, 600 people; calibration seed 4, 256
people; the checkpoint was trained on seed 1), so the repository carries the model but no images, and the
INT8 ranges are never fitted to the images the accuracy drop is measured on.
"""

from __future__ import annotations

from pathlib import Path

from edgepose.errors import UserError
from edgepose.resources import DEMO_CHECKPOINT

DEMO_RECIPE = "cpu-int8"
DEMO_VAL_SEED, DEMO_VAL_PERSONS = 2, 600
DEMO_CALIB_SEED, DEMO_CALIB_PERSONS = 4, 256


def demo_checkpoint() -> Path:
    if not DEMO_CHECKPOINT.exists():
        raise UserError(f"the bundled demo checkpoint {DEMO_CHECKPOINT} is missing: give a MODEL (or run `make demo-checkpoint` and copy it there)")
    return DEMO_CHECKPOINT


def demo_val_data(cache: Path = Path("runs") / "demo-data", log=print) -> Path:  # noqa: ANN001
    """annotations.json of the held-out synthetic people, generated into `cache` on first use."""
    return _synthetic(cache, "val", DEMO_VAL_SEED, DEMO_VAL_PERSONS, "held-out", log)


def demo_calib_data(cache: Path = Path("runs") / "demo-data", log=print) -> Path:  # noqa: ANN001
    """annotations.json of the calibration people (another seed than training and evaluation)."""
    return _synthetic(cache, "calib", DEMO_CALIB_SEED, DEMO_CALIB_PERSONS, "calibration", log)


def _synthetic(cache: Path, kind: str, seed: int, persons: int, what: str, log) -> Path:  # noqa: ANN001
    folder = cache / f"{kind}-seed{seed}-{persons}"
    ann = folder / "annotations.json"
    if ann.exists():
        return ann
    from edgepose.data.synth import SynthConfig, generate

    log(f"generating the {what} synthetic people ({persons}, seed {seed}) into {folder} ...")
    generate(folder, SynthConfig(persons=persons, seed=seed))
    return ann
