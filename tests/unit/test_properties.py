"""Property-based tests (hypothesis) over what users hand edgepose: COCO files, predictions, checkpoints.

The property, for any mutation of a valid file: the CLI exits 0 with a finite, correct result, or exits 2
with exactly one line on stderr. Never exit 3 (an internal error), never a traceback, never NaN in JSON.
"Correct" is checked where it is known: annotations scored as their own predictions give OKS AP 1.0.

The default run is short (a few hundred examples in all, derandomized so CI sees the same ones);
EDGEPOSE_HYPOTHESIS_EXAMPLES=N runs N random examples per test to explore further.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXPLORE = int(os.environ.get("EDGEPOSE_HYPOTHESIS_EXAMPLES", "0") or 0)


def budget(default: int) -> Any:
    """Settings for one property: `default` fixed examples, or EDGEPOSE_HYPOTHESIS_EXAMPLES random ones."""
    return settings(
        max_examples=EXPLORE or default, derandomize=not EXPLORE, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )  # fmt: skip


def run_main(args: list[str]) -> tuple[int, str, str]:
    """edgepose's CLI in this process: (exit code, stdout, stderr)."""
    from edgepose.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def strict(text: str) -> Any:
    def reject(token: str) -> Any:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


def assert_contract(code: int, out: str, err: str) -> Any:
    """Exit 0 with strict JSON (returned), or exit 2 with one line; anything else fails."""
    assert "Traceback" not in err, err
    assert code in (0, 2), f"exit {code}: {err.strip()[-300:]}"
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, f"exit 2 with {len(lines)} lines on stderr: {lines[:3]}"
        assert out == "", "exit 2 printed to stdout"
        return None
    return strict(out)


# ---- hostile values and edits ---------------------------------------------------------------------

SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.text(max_size=4)
    | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0, 1, 2, 3, -1, 0.5, 1e308, -0.0, 2**63])
)  # fmt: skip
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                                max_size=2), max_leaves=4)  # fmt: skip
# odd but legal: coordinates anywhere near the image, visibilities, small counts (so that many edits are accepted
# and the "correct result" half of the property is exercised, not only the refusals)
PLAUSIBLE = st.floats(-20, 150, allow_nan=False) | st.integers(0, 3) | st.sampled_from([0.0, 1.0, 2.0, 1e-3, 119.9])
EDIT_VALUES = st.one_of(PLAUSIBLE, PLAUSIBLE, VALUES)


def containers(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every list / dict inside `node` (the places an edit can go)."""
    found = [path]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        if isinstance(child, dict | list):
            found += containers(child, (*path, key))
    return found


def at(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


@st.composite
def edited(draw: Any, document: Any, max_edits: int = 3) -> Any:
    """`document` after 1..max_edits random edits: set, delete or append a hostile value anywhere."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_edits))):
        places = containers(doc)
        target = at(doc, draw(st.sampled_from(places)))
        action = draw(st.sampled_from(["set", "set", "set", "set", "delete", "append"]))
        if isinstance(target, dict):
            keys = list(target)
            if action == "delete" and keys:
                del target[draw(st.sampled_from(keys))]
            else:
                key = draw(st.sampled_from(keys)) if keys and action == "set" else draw(st.text(max_size=6))
                target[key] = draw(EDIT_VALUES)
        elif isinstance(target, list):
            if action == "delete" and target:
                del target[draw(st.integers(0, len(target) - 1))]
            elif action == "append" or not target:
                target.append(draw(EDIT_VALUES))
            else:
                target[draw(st.integers(0, len(target) - 1))] = draw(EDIT_VALUES)
    return doc


def serialised(draw: Any, doc: Any) -> str:
    """JSON text of `doc`, sometimes cut short or with a stray byte (what a failed copy leaves)."""
    text = json.dumps(doc)
    damage = draw(st.sampled_from(["none"] * 10 + ["truncate", "insert"]))
    if damage == "truncate":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif damage == "insert":
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.sampled_from(["{", "]", ",", "\x00", "\ufeff", "NaN"])) + text[i:]
    return text


# ---- the COCO reader ----------------------------------------------------------------------------


def base_coco() -> dict[str, Any]:
    """Three images, four people with every field a COCO keypoints file has."""
    from edgepose.schemas import get_schema

    rng = np.random.default_rng(0)
    images = [{"id": i, "file_name": f"{i:03d}.jpg", "width": 120, "height": 100} for i in (1, 2, 3)]
    anns = []
    for n, image_id in enumerate((1, 1, 2, 3), 1):
        xy = rng.uniform(10, 90, (17, 2)).round(1)
        v = np.array([2, 2, 1, 0, 2, 2, 2, 1, 2, 2, 0, 2, 2, 1, 2, 2, 2])
        xy[v == 0] = 0
        kps = np.concatenate([xy, v[:, None]], 1).reshape(-1)
        anns.append({"id": n, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": [5.0, 5.0, 90.0, 90.0],
                     "area": 4000.0, "num_keypoints": int((v > 0).sum()), "keypoints": [float(t) for t in kps]})  # fmt: skip
    categories = [{"id": 1, "name": "person", "keypoints": list(get_schema("coco17").keypoints), "skeleton": []}]
    return {"images": images, "annotations": anns, "categories": categories}


BASE_COCO = base_coco()


@budget(120)
@given(st.data())
def test_coco_reader_scores_any_accepted_file_as_its_own_predictions_perfectly(tmp_path: Path, data: Any) -> None:
    doc = data.draw(edited(BASE_COCO, max_edits=2))
    path = tmp_path / "ann.json"
    path.write_text(serialised(data.draw, doc))
    code, out, err = run_main(["eval", "--predictions", str(path), "--data", str(path), "--json"])
    result = assert_contract(code, out, err)
    if result is not None:
        metrics = result["metrics"]
        assert metrics["oks_ap"] == pytest.approx(1.0), metrics  # the ground truth scores itself perfectly
        assert metrics["pck@0.2"] in (None, pytest.approx(1.0)) and metrics["mpjpe_px"] in (None, 0.0)
        assert result["n_instances"] >= 1 and set(result["dropped"]) >= {"zero_size_box", "beyond_max_dets"}


@budget(60)
@given(st.data())
def test_coco_reader_library_raises_only_user_errors(tmp_path: Path, data: Any) -> None:
    """The reader itself (what train, quantize and export --verify-data use): UserError or checked data."""
    from edgepose.data.cocofile import collect_instances, keypoint_category, read_json
    from edgepose.errors import UserError

    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data.draw(edited(BASE_COCO, max_edits=4))))
    try:
        doc = read_json(path)
        category, names = keypoint_category(doc, path)
        people = collect_instances(doc, path, category, len(names), tmp_path)
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return
    for person in people:
        assert np.isfinite(person.keypoints).all() and set(np.unique(person.keypoints[:, 2])) <= {0.0, 1.0, 2.0}
        assert np.isfinite(person.bbox).all() and (person.bbox[2:] > 0).all() and math.isfinite(person.area)
        assert person.file.is_relative_to(tmp_path)


# ---- the predictions reader ----------------------------------------------------------------------


def base_predictions() -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    preds = []
    for ann in BASE_COCO["annotations"]:
        kp = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)
        kp[:, :2] += rng.normal(0, 2, (17, 2))
        kp[:, 2] = rng.uniform(0.1, 1, 17)
        preds.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kp.round(2).reshape(-1).tolist(),
                      "score": 0.8})  # fmt: skip
    return preds


BASE_PREDS = base_predictions()


@pytest.fixture(scope="module")
def ann_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("properties") / "ann.json"
    path.write_text(json.dumps(BASE_COCO))
    return path


@budget(100)
@given(st.data())
def test_predictions_reader_gives_finite_metrics_or_one_line(ann_file: Path, tmp_path: Path, data: Any) -> None:
    preds = data.draw(edited(BASE_PREDS, max_edits=2))
    path = tmp_path / "preds.json"
    path.write_text(serialised(data.draw, preds))
    code, out, err = run_main(["eval", "--predictions", str(path), "--data", str(ann_file), "--json"])
    result = assert_contract(code, out, err)
    if result is not None:
        metrics = result["metrics"]
        for key in ("oks_ap", "oks_ap50", "oks_ar", "pck@0.1", "pck@0.2", "f1_visible"):
            assert metrics[key] is None or 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
        assert metrics["mpjpe_px"] is None or 0.0 <= metrics["mpjpe_px"] < 1e7
        assert 1 <= result["n_paired"] <= result["n_instances"] == len(BASE_COCO["annotations"])


# ---- the checkpoint loader -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real edgepose checkpoint of a small zoo model (quarter-width SimpleBaseline-lite, 64x64)."""
    import torch

    from edgepose.artifact import Artifact
    from edgepose.checkpoint import save_checkpoint
    from edgepose.models import build_model, default_spec
    from tests.conftest import TINY_ZOO_ARCH, TINY_ZOO_INPUT_SIZE, TINY_ZOO_KWARGS

    torch.manual_seed(0)
    model = build_model(TINY_ZOO_ARCH, **TINY_ZOO_KWARGS).eval()
    artifact = Artifact(spec=default_spec(TINY_ZOO_ARCH, input_size=TINY_ZOO_INPUT_SIZE), model=model,
                        arch=TINY_ZOO_ARCH, arch_kwargs=dict(TINY_ZOO_KWARGS))  # fmt: skip
    path = save_checkpoint(artifact, tmp_path_factory.mktemp("ckpt") / "tiny.pt")
    return path, torch.load(path, weights_only=True)


def assert_loads_and_runs_or_refuses(path: Path) -> str:
    """`edgepose info` keeps the contract; when it accepts the file, the model it describes runs. Returns stderr."""
    code, out, err = run_main(["info", str(path), "--json"])
    info = assert_contract(code, out, err)
    if info is None:
        return err
    import torch

    from edgepose.loading import load_artifact
    from edgepose.schemas import get_schema

    artifact = load_artifact(path)
    with torch.no_grad():
        out_tensor = artifact.model(torch.zeros(artifact.spec.input_shape(1)))
    assert out_tensor.shape[1] == get_schema(artifact.spec.schema).num_keypoints
    assert info["spec"]["input_size"] == list(artifact.spec.input_size)
    return err


PAYLOAD_KEYS = ["format_version", "arch", "arch_kwargs", "spec", "history", "provenance", "state_dict"]


@budget(40)
@given(data=st.data())
def test_checkpoint_with_tampered_fields_loads_or_is_refused(checkpoint, tmp_path: Path, data: Any) -> None:  # noqa: ANN001
    import torch

    _, payload = checkpoint
    payload = dict(payload)
    payload["spec"], payload["arch_kwargs"] = dict(payload["spec"]), dict(payload["arch_kwargs"])
    for _ in range(data.draw(st.integers(1, 2))):
        where = data.draw(st.sampled_from(["top", "spec", "arch_kwargs", "state_dict", "history"]))
        if where == "top":
            key = data.draw(st.sampled_from(PAYLOAD_KEYS))
            if data.draw(st.booleans()):
                payload.pop(key, None)
            else:
                payload[key] = data.draw(VALUES)
        elif where == "history":
            payload["history"] = data.draw(st.lists(st.dictionaries(st.sampled_from(["step", "layers", "x"]), VALUES),
                                                    max_size=2))  # fmt: skip
        elif where == "state_dict" and isinstance(payload.get("state_dict"), dict):
            state = dict(payload["state_dict"])
            key = data.draw(st.sampled_from(sorted(state)))
            value = data.draw(st.sampled_from(["nan", "shape", "dtype", "junk", "drop"]))
            if value == "nan":
                state[key] = torch.full_like(state[key], float("nan")) if state[key].is_floating_point() else state[key]
            elif value == "shape":
                state[key] = torch.zeros(3, 1)
            elif value == "dtype":
                state[key] = state[key].to(torch.int8)
            elif value == "junk":
                state[key] = data.draw(SCALARS)
            else:
                del state[key]
            payload["state_dict"] = state
        elif isinstance(payload.get(where), dict):
            target = payload[where]
            key = data.draw(st.sampled_from(sorted(target) + ["unknown"]))
            target[key] = data.draw(VALUES)
    path = tmp_path / "tampered.pt"
    torch.save(payload, path)
    assert_loads_and_runs_or_refuses(path)


@budget(40)
@given(data=st.data())
def test_checkpoint_with_damaged_bytes_loads_or_is_refused(checkpoint, tmp_path: Path, data: Any) -> None:  # noqa: ANN001
    original = checkpoint[0].read_bytes()
    raw = bytearray(original)
    damage = data.draw(st.sampled_from(["truncate", "flip", "flip", "splice", "random"]))
    if damage == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif damage == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif damage == "splice":
        start = data.draw(st.integers(0, len(raw) - 1))
        raw[start : start + data.draw(st.integers(1, 64))] = data.draw(st.binary(max_size=64))
    else:
        raw = bytearray(data.draw(st.binary(min_size=1, max_size=2048)))
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(raw))
    err = assert_loads_and_runs_or_refuses(path)
    if damage == "random":
        assert "pickled" not in err, err  # junk bytes are not "pickled Python objects"
