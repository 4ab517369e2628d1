"""`edgepose synth`: deterministic, readable by the project's COCO reader, geometrically honest labels."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from edgepose.data.synth import SynthConfig, generate


def _make(root: Path, **kwargs) -> Path:  # noqa: ANN003
    generate(root, SynthConfig(**kwargs))
    return root / "annotations.json"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make(tmp_path_factory.mktemp("single"), persons=24, seed=3)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make(tmp_path_factory.mktemp("clips"), persons=14, sequences=True, frames=5, seed=4)


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    a = _make(tmp_path / "a", persons=6, seed=11)
    b = _make(tmp_path / "b", persons=6, seed=11)
    c = _make(tmp_path / "c", persons=6, seed=12)
    assert a.read_bytes() == b.read_bytes()
    images = sorted(p.name for p in (tmp_path / "a" / "images").iterdir())
    assert len(images) == 6
    for name in images:
        assert (tmp_path / "a" / "images" / name).read_bytes() == (tmp_path / "b" / "images" / name).read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert (tmp_path / "a/images" / images[0]).read_bytes() != (tmp_path / "c/images" / images[0]).read_bytes()


def test_image_i_does_not_depend_on_how_many_images_are_made(tmp_path: Path) -> None:
    few = _make(tmp_path / "few", persons=3, seed=5)
    more = _make(tmp_path / "more", persons=5, seed=5)
    assert _load(few)["annotations"] == _load(more)["annotations"][:3]
    assert (tmp_path / "few/images/000003.jpg").read_bytes() == (tmp_path / "more/images/000003.jpg").read_bytes()


def test_worker_processes_give_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    contexts = []
    get_context = multiprocessing.get_context
    monkeypatch.setattr(multiprocessing, "get_context", lambda method: contexts.append(method) or get_context(method))
    one, two = tmp_path / "one", tmp_path / "two"
    generate(one, SynthConfig(persons=8, seed=6))
    generate(two, SynthConfig(persons=8, seed=6), workers=2)
    assert contexts == ["spawn"]  # the second run really used worker processes
    assert (one / "annotations.json").read_bytes() == (two / "annotations.json").read_bytes()
    for image in (one / "images").iterdir():
        assert image.read_bytes() == (two / "images" / image.name).read_bytes()


def test_the_project_reader_loads_it(single: Path) -> None:
    from edgepose.artifact import ModelSpec
    from edgepose.data.coco import CocoPoseDataset, schema_from_annotations

    assert schema_from_annotations(single).name == "coco17"
    dataset = CocoPoseDataset(single, ModelSpec(input_size=(128, 96), schema="coco17"))
    assert len(dataset) == 24
    item = dataset[0]
    assert tuple(item["image"].shape) == (3, 128, 96)
    assert float(item["target_weight"].sum()) > 0
    doc = _load(single)
    assert doc["categories"][0]["keypoints"][5] == "left_shoulder"
    assert doc["info"]["seed"] == 3 and doc["images"][0]["file_name"] == "images/000001.jpg"


def test_labels_are_geometrically_consistent(single: Path) -> None:
    doc = _load(single)
    sizes = {img["id"]: (img["width"], img["height"]) for img in doc["images"]}
    flags = []
    for ann in doc["annotations"]:
        w, h = sizes[ann["image_id"]]
        kp = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)
        labelled = kp[:, 2] > 0
        assert ((kp[labelled, 0] >= 0) & (kp[labelled, 0] <= w - 1)).all()
        assert ((kp[labelled, 1] >= 0) & (kp[labelled, 1] <= h - 1)).all()
        assert (kp[~labelled, :2] == 0).all()
        assert ann["num_keypoints"] == int(labelled.sum())
        x, y, bw, bh = ann["bbox"]
        assert x >= 0 and y >= 0 and bw > 0 and bh > 0 and x + bw <= w and y + bh <= h
        assert 0 < ann["area"] <= bw * bh
        assert ann["iscrowd"] == 0 and ann["category_id"] == 1
        flags.extend(kp[:, 2].tolist())
    assert flags.count(1) > 0.05 * len(flags)  # occlusion is computed, and it happens
    assert flags.count(2) > 0.5 * len(flags)


def test_a_person_facing_the_camera_has_their_left_on_the_image_right(single: Path) -> None:
    anns = [a for a in _load(single)["annotations"] if a["synth"]["facing"] == "front"]
    assert len(anns) >= 5
    kp = np.asarray([a["keypoints"] for a in anns], dtype=float).reshape(-1, 17, 3)
    both = (kp[:, 5, 2] > 0) & (kp[:, 6, 2] > 0)
    assert (kp[both, 5, 0] > kp[both, 6, 0]).mean() > 0.8


@pytest.mark.parametrize(("yaw_deg", "left_on_right"), [(0.0, True), (180.0, False)])
def test_yaw_turns_the_body_as_a_camera_sees_it(yaw_deg: float, left_on_right: bool) -> None:
    from edgepose.data.synth_body import ANGLE_NAMES, A, P, sample_proportions, skeleton_3d, view_points

    angles = np.zeros(len(ANGLE_NAMES))
    angles[A["yaw"]] = yaw_deg
    pts, front = skeleton_3d(sample_proportions(np.random.default_rng(0)), angles)
    xy, z, facing = view_points(pts, front, yaw_deg)
    assert facing == ("front" if left_on_right else "back")
    assert (xy[P["left_shoulder"], 0] > xy[P["right_shoulder"], 0]) == left_on_right
    assert (z[P["nose"]] < z[P["head"]]) == left_on_right  # the face is nearer than the head's centre
    assert xy[P["left_ankle"], 1] > xy[P["left_hip"], 1] > xy[P["nose"], 1]  # standing: feet down


def test_an_occluder_over_everything_makes_every_joint_occluded() -> None:
    from edgepose.data.synth_canvas import Canvas
    from edgepose.data.synth_frame import make_figure, posed, sample_actor
    from edgepose.data.synth_look import sample_look
    from edgepose.data.synth_pose import sample_pose
    from edgepose.data.synth_render import draw_person, joint_visibility

    rng = np.random.default_rng(1)
    actor = sample_actor(rng, sample_look(rng), "standing")
    angles = sample_pose(rng, "standing")
    xy, z, facing = posed(actor, angles)
    canvas = Canvas(np.zeros((200, 200, 3), dtype=np.uint8))
    fig = make_figure(actor, xy, z, facing, 120.0, np.array([100.0, 110.0]), angles)
    drawn = draw_person(canvas, fig, 1)
    before = joint_visibility(canvas, fig.xy, drawn)
    assert (before == 2).sum() >= 8
    canvas.paint([("poly", np.array([[0.0, 0.0], [199.0, 0.0], [199.0, 199.0], [0.0, 199.0]]))], (9.0, 9.0, 9.0), 250)
    after = joint_visibility(canvas, fig.xy, drawn)
    assert ((after == 1) == (before > 0)).all()


def test_multi_puts_several_people_in_bigger_images(tmp_path: Path) -> None:
    doc = _load(_make(tmp_path, persons=9, multi=True, seed=2))
    per_image = defaultdict(int)
    for ann in doc["annotations"]:
        per_image[ann["image_id"]] += 1
    assert len(doc["annotations"]) == 9
    assert max(per_image.values()) > 1 and min(per_image.values()) >= 2
    assert doc["images"][0]["width"] == 384


def test_sequences_carry_tracks_the_clip_reader_loads(clips: Path) -> None:
    from edgepose.artifact import ModelSpec
    from edgepose.data.coco import CocoPoseDataset

    doc = _load(clips)
    assert len(doc["annotations"]) == 14  # person-frames: two clips of 5 and one of 4
    frames = {img["id"]: (img["video_id"], img["frame_id"]) for img in doc["images"]}
    assert sorted({v for v, _ in frames.values()}) == [1, 2, 3]
    dataset = CocoPoseDataset(clips, ModelSpec(input_size=(128, 96), schema="coco17"), clip_length=4)
    assert len(dataset) == 2 + 2 + 1
    assert tuple(dataset[0]["image"].shape) == (4, 3, 128, 96)


def test_consecutive_frames_of_a_track_move_a_little(clips: Path) -> None:
    doc = _load(clips)
    frame_of = {img["id"]: img["frame_id"] for img in doc["images"]}
    tracks = defaultdict(list)
    for ann in doc["annotations"]:
        tracks[ann["track_id"]].append((frame_of[ann["image_id"]], ann))
    steps = []
    for items in tracks.values():
        items.sort(key=lambda item: item[0])
        for (f0, a0), (f1, a1) in zip(items, items[1:], strict=False):
            assert f1 == f0 + 1
            k0, k1 = (np.asarray(a["keypoints"], dtype=float).reshape(17, 3) for a in (a0, a1))
            both = (k0[:, 2] > 0) & (k1[:, 2] > 0)
            size = max(a0["bbox"][2], a0["bbox"][3])
            steps.append(np.linalg.norm(k1[both, :2] - k0[both, :2], axis=1).mean() / size)
    assert len(steps) == 11
    assert max(steps) < 0.12 and np.mean(steps) > 0.001  # they move, smoothly


def _run(argv: list[str]) -> int:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code)


def test_cli_writes_the_files_and_a_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "synth"
    assert _run(["synth", str(out), "--persons", "3", "--seed", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_persons"] == 3 and summary["n_images"] == 3
    assert len(_load(out / "annotations.json")["annotations"]) == 3
    assert len(list((out / "images").glob("*.jpg"))) == 3
    assert _run(["synth", str(out), "--persons", "2", "--force", "--image-size", "96x80"]) == 0
    assert _load(out / "annotations.json")["images"][0]["height"] == 96


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--persons", "0"], "--persons"),
        (["--image-size", "12xabc"], "--image-size"),
        (["--difficulty", "brutal"], "--difficulty"),
        (["--seed", "-1"], "--seed"),
        (["--workers", "0"], "--workers"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert _run(["synth", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "annotations.json").exists()


def test_cli_refuses_to_overwrite_or_write_into_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "annotations.json").write_text("{}")
    assert _run(["synth", str(tmp_path / "done"), "--persons", "1"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "done" / "annotations.json").read_text() == "{}"
    (tmp_path / "file").write_text("x")
    assert _run(["synth", str(tmp_path / "file"), "--persons", "1"]) == 2
    assert "not a folder" in capsys.readouterr().err
