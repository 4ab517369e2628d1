"""The bundled default: the demo checkpoint (synthetic COCO-17 people) and its held-out synthetic data.

The held-out set is generated on first use (deterministic: seed 2, 600 people; the checkpoint was
trained on seed 1), so the repository carries the model but no images.
"""

from __future__ import annotations

from pathlib import Path

from edgepose.errors import UserError
from edgepose.resources import DEMO_CHECKPOINT

DEMO_RECIPE = "cpu-int8"
DEMO_VAL_SEED, DEMO_VAL_PERSONS = 2, 600


def demo_checkpoint() -> Path:
    if not DEMO_CHECKPOINT.exists():
        raise UserError(f"the bundled demo checkpoint {DEMO_CHECKPOINT} is missing: give a MODEL (or run `make demo-checkpoint` and copy it there)")
    return DEMO_CHECKPOINT


def demo_val_data(cache: Path = Path("runs") / "demo-data", log=print) -> Path:  # noqa: ANN001
    """annotations.json of the held-out synthetic people, generated into `cache` on first use."""
    folder = cache / f"val-seed{DEMO_VAL_SEED}-{DEMO_VAL_PERSONS}"
    ann = folder / "annotations.json"
    if ann.exists():
        return ann
    from edgepose.data.synth import SynthConfig, generate

    log(f"generating the held-out synthetic people ({DEMO_VAL_PERSONS}, seed {DEMO_VAL_SEED}) into {folder} ...")
    generate(folder, SynthConfig(persons=DEMO_VAL_PERSONS, seed=DEMO_VAL_SEED))
    return ann
