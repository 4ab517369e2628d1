"""Compression without the training data: calibration and fine-tuning from any images (folders, globs, videos,
annotations files of another keypoint schema), label-free distillation from the original model, agreement with
the teacher on held-back images as the validation, and --max-drop stopping. Small models, generated images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from edgepose.artifact import Artifact
from edgepose.errors import UserError
from edgepose.inference.image_inputs import has_matching_labels, list_views, sample_inputs, split_held_back
from edgepose.inference.unlabelled import AGREEMENT_METRIC, TeacherAgreement, UnlabelledCrops, agreement
from edgepose.passes import RunContext, apply_pass
from edgepose.passes.finetune import FinetuneConfig
from edgepose.passes.quantize_calib import calibration_inputs
from edgepose.schemas import get_schema
from tests.coco_files import write_coco


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_folder(root: Path, n: int = 12, seed: int = 0) -> Path:
    """`n` noise JPEGs of varying size in a folder (no labels)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        h, w = int(rng.integers(60, 140)), int(rng.integers(60, 140))
        cv2.imwrite(str(root / f"img{i:03d}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    return root


def write_video(path: Path, frames: int = 6) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (80, 64))
    rng = np.random.default_rng(1)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
    writer.release()
    return path


def relabel_lsp(ann: Path) -> Path:
    """The same images and boxes under a 14-keypoint (LSP) schema: a file whose labels the coco17 model cannot use."""
    data = json.loads(ann.read_text())
    lsp = get_schema("lsp14")
    data["categories"][0]["keypoints"] = list(lsp.keypoints)
    for a in data["annotations"]:
        a["keypoints"] = a["keypoints"][: 3 * lsp.num_keypoints]
        a["num_keypoints"] = sum(1 for v in a["keypoints"][2::3] if v > 0)
    out = ann.parent / "lsp.json"
    out.write_text(json.dumps(data))
    return out


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, tuple[str, int]]:
    """Each source kind -> (SOURCE text, how many views it holds for a top-down model)."""
    folder = write_folder(tmp_path / "folder", n=5)
    coco = write_coco(tmp_path / "coco", n_images=4)
    n_boxes = len(json.loads(coco.read_text())["annotations"])
    return {
        "folder": (str(folder), 5),
        "glob": (str(folder / "img00[0-2].jpg"), 3),
        "video": (str(write_video(tmp_path / "clip.avi", frames=6)), 6),
        "other-schema json": (str(relabel_lsp(coco)), n_boxes),
        "own-schema json": (str(coco), n_boxes),
    }


@pytest.mark.parametrize("kind", ["folder", "glob", "video", "other-schema json", "own-schema json"])
def test_every_source_kind_gives_normalised_inputs(kind: str, sources: dict, tiny_pose_net: Artifact) -> None:
    source, n_views = sources[kind]
    spec = tiny_pose_net.spec
    assert len(list_views(source, spec)) == n_views
    x = calibration_inputs(source, spec, count=4)
    assert x.shape == (min(4, n_views), 3, *spec.input_size)
    assert np.isfinite(x).all() and abs(float(x.mean())) < 2.5 and 0.15 < float(x.std()) < 4.0


def test_only_the_models_own_schema_counts_as_labels(sources: dict, tiny_pose_net: Artifact) -> None:
    spec = tiny_pose_net.spec
    assert has_matching_labels(sources["own-schema json"][0], spec)
    assert not has_matching_labels(sources["other-schema json"][0], spec)
    assert not has_matching_labels(sources["folder"][0], spec)


def test_annotation_boxes_are_the_crops(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    """An LSP-schema file calibrates a coco17 model on its person boxes: the crop of a box, not the whole image."""
    lsp = relabel_lsp(write_coco(tmp_path / "coco", n_images=2))
    views = list_views(lsp, tiny_pose_net.spec)
    boxes = [a["bbox"] for a in json.loads(lsp.read_text())["annotations"]]
    assert np.allclose([v.box_xywh for v in views], boxes)
    whole = sample_inputs(lsp.parent / "images", tiny_pose_net.spec, 8)
    cropped = sample_inputs(lsp, tiny_pose_net.spec, 8)
    assert len(whole) == 2 and len(cropped) == len(boxes)  # 2 pictures; one crop per person
    assert not np.allclose(whole[:1], cropped[:1])


def test_wrong_normalisation_is_still_refused(sources: dict, tiny_pose_net: Artifact) -> None:
    from dataclasses import replace

    spec = replace(tiny_pose_net.spec, mean=(0.0, 0.0, 0.0), std=(0.001, 0.001, 0.001))
    with pytest.raises(UserError, match="do not look like the model's preprocessing"):
        calibration_inputs(sources["folder"][0], spec, count=4)


def test_empty_or_missing_sources_are_one_user_error(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    (tmp_path / "empty").mkdir()
    for source in (tmp_path / "empty", tmp_path / "missing", str(tmp_path / "*.png")):
        with pytest.raises(UserError):
            calibration_inputs(source, tiny_pose_net.spec, count=2)


def test_held_back_pictures_are_never_trained_on(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    views = list_views(write_folder(tmp_path / "f", n=30), tiny_pose_net.spec)
    train, held = split_held_back(views, 0.1, 200)
    assert len(held) == 3 and len(train) == 27
    assert not {v.image_key for v in train} & {v.image_key for v in held}


def test_agreement_is_100_for_the_teacher_and_falls_with_displacement(tiny_pose_net: Artifact) -> None:
    spec = tiny_pose_net.spec
    points = np.random.default_rng(0).uniform(0, 40, (5, 17, 2))
    assert agreement(points, points, spec)[AGREEMENT_METRIC] == 100.0
    shifted = points.copy()
    shifted[:, :5] += 50.0  # 5 of 17 joints far away
    result = agreement(shifted, points, spec)
    assert result[AGREEMENT_METRIC] == pytest.approx(100.0 * 12 / 17)
    assert result["teacher_disp_px"] == pytest.approx(50.0 * np.sqrt(2) * 5 / 17)


def test_teacher_agreement_scores_the_teacher_itself_100(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    views = list_views(write_folder(tmp_path / "f", n=4), tiny_pose_net.spec)
    check = TeacherAgreement(views, tiny_pose_net.spec, tiny_pose_net.model)
    assert check.score(tiny_pose_net.model)[AGREEMENT_METRIC] == 100.0
    import copy

    other = copy.deepcopy(tiny_pose_net.model)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p))
    score = check.score(other)
    assert score[AGREEMENT_METRIC] < 100.0 and score["teacher_disp_px"] > 0.0


def test_unlabelled_crops_have_no_targets_of_their_own(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    views = list_views(write_folder(tmp_path / "f", n=3), tiny_pose_net.spec)
    item = UnlabelledCrops(views, tiny_pose_net.spec)[0]
    assert item["image"].shape == (3, *tiny_pose_net.spec.input_size)
    assert float(item["heatmaps"].abs().sum()) == 0.0 and float(item["target_weight"].min()) == 1.0


def _prune(artifact: Artifact, tmp_path: Path, data: Path, **finetune) -> tuple[Artifact, dict]:  # noqa: ANN003
    cfg = FinetuneConfig(batch_size=4, warmup_steps=0, workers=0, max_steps_per_epoch=3, lr=5e-3,
                         **{"epochs": 2, **finetune})  # fmt: skip
    ctx = RunContext(work_dir=tmp_path / "work", train_data=data, progress=False)
    result = apply_pass(artifact, "prune", {"ratio": 0.5, "finetune": cfg}, ctx)
    return result, ctx.records["prune"]["finetune"][0]


def test_label_free_prune_distils_from_the_original_and_validates_on_held_back_images(
    tmp_path: Path, tiny_pose_net: Artifact
) -> None:
    folder = write_folder(tmp_path / "photos", n=20)
    result, record = _prune(tiny_pose_net, tmp_path, folder)
    assert record["labelled"] is False and record["distill"] == 1.0
    assert "teacher" in record["targets"] and "no labels" in record["targets"]
    assert record["metric"] == AGREEMENT_METRIC and "2 held-back images" in record["validation"]
    assert [p["epoch"] for p in record["curve"]] == [0, 1, 2]  # 0: the pruned start, scored before training
    assert record["curve"][0]["loss"] is None
    assert all(0.0 <= p[AGREEMENT_METRIC] <= 100.0 for p in record["curve"])
    assert record["curve"][0]["drop_points"] == pytest.approx(100.0 - record["curve"][0][AGREEMENT_METRIC], abs=1e-3)


def test_label_free_targets_are_the_teachers_flip_test_and_labelled_ones_keep_one_pass(
    tmp_path: Path, tiny_pose_net: Artifact
) -> None:
    folder = write_folder(tmp_path / "photos", n=20)
    _, free = _prune(tiny_pose_net, tmp_path / "a", folder, epochs=1)
    assert "flip-test averaged" in free["targets"]
    _, plain = _prune(tiny_pose_net, tmp_path / "b", folder, epochs=1, flip_teacher=False)
    assert "flip" not in plain["targets"]
    _, labelled = _prune(tiny_pose_net, tmp_path / "c", write_coco(tmp_path / "coco", n_images=12), epochs=1)
    assert "flip" not in labelled["targets"]


@pytest.mark.parametrize("head", ["heatmap", "regression"])
def test_flip_test_teacher_targets_decode_like_eval_flip(head: str) -> None:
    """The flip-averaged targets are what `eval --flip` decodes: the one-pass outputs averaged with the mirrored
    pass mapped back by the deploy decoder's own flip_back (same joint swap, same sub-pixel shift)."""
    from dataclasses import replace

    from edgepose.deploy.decode import flip_back, flip_back_regression
    from edgepose.train import teacher_targets

    torch.manual_seed(0)
    spec = replace(get_spec_for(head), head=head)
    index = get_schema(spec.schema).flip_index()
    images = torch.rand(2, 3, *spec.input_size)

    class Teacher(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if head == "heatmap":
                return torch.nn.functional.avg_pool2d(x[:, :1], 4).repeat(1, len(index), 1, 1)
            return x.mean(dim=(1, 2))[:, : 2 * len(index)].reshape(x.shape[0], len(index), 2)

    teacher = Teacher()
    one_pass = teacher_targets(teacher, images, spec, flip=False)
    averaged = teacher_targets(teacher, images, spec, flip=True)
    mirrored = teacher(images.flip(-1)).numpy()
    if head == "heatmap":
        w = one_pass.shape[-1]
        back = flip_back(mirrored, index, shift_px=1.0 - w / spec.input_size[1])
    else:
        back = flip_back_regression(mirrored, index, spec.input_size[1])
    assert torch.allclose(averaged, 0.5 * (one_pass + torch.from_numpy(back)), atol=1e-6)
    assert not torch.allclose(averaged, one_pass)  # the mirror pass changed something


def get_spec_for(head: str):  # noqa: ANN201
    from edgepose.models import default_spec

    return default_spec("simplebaseline-lite" if head == "heatmap" else "alexnet-regression")


def test_labelled_data_keeps_the_labels_and_its_distill_share(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    data = write_coco(tmp_path / "coco", n_images=12)
    _, record = _prune(tiny_pose_net, tmp_path, data, distill=0.3)
    assert record["labelled"] is True and record["distill"] == 0.3
    assert record["metric"] == AGREEMENT_METRIC  # no --val: agreement on held-back pictures of the file


def test_max_drop_stops_as_soon_as_the_budget_is_met(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    folder = write_folder(tmp_path / "photos", n=20)
    _, loose = _prune(tiny_pose_net, tmp_path / "a", folder, epochs=5, max_drop=100.0)  # any agreement is within
    assert loose["epochs"] == 0 and loose["stopped_early"] is True and len(loose["curve"]) == 1  # the start: no training
    _, strict = _prune(tiny_pose_net, tmp_path / "b", folder, epochs=2, max_drop=0.0)  # 100% agreement: never
    assert strict["epochs"] == 2 and strict["stopped_early"] is False and len(strict["curve"]) == 3


def test_label_free_needs_the_original_model(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    from edgepose.passes.finetune_data import recovery_data

    with pytest.raises(UserError, match="no labels in the model's schema"):
        recovery_data(write_folder(tmp_path / "f", n=3), None, tiny_pose_net.spec, teacher=None)


def test_max_drop_without_any_validation_is_refused(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    with pytest.raises(UserError, match="--max-drop needs a validation"):
        _prune(tiny_pose_net, tmp_path, write_folder(tmp_path / "few", n=3), max_drop=1.0)


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_cli_quantizes_from_a_folder_and_prunes_label_free(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import TINY_FACTORY

    folder = str(write_folder(tmp_path / "photos", n=12))
    factory = ["--model-factory", TINY_FACTORY, "--input-size", "64x48", "--schema", "coco17"]
    code, stdout, stderr = _run_main(["quantize", *factory, "--calib", folder, "--calib-images", "8", "--iters", "2",
                                      "--threads", "1", "-o", str(tmp_path / "q.onnx"), "--json"], capsys)  # fmt: skip
    assert code == 0, stderr
    calibration = json.loads(stdout)["quantize"]["calibration"]
    assert calibration["data"] == folder and calibration["images"] == 8 and calibration["ok"]
    code, stdout, stderr = _run_main(["prune", *factory, "--ratio", "0.5", "--finetune-data", folder, "--max-drop", "100",
                                      "--max-epochs", "3", "--max-steps", "1", "--batch-size", "4", "--runtime", "none",
                                      "--threads", "1", "-o", str(tmp_path / "p.pt"), "--json"], capsys)  # fmt: skip
    assert code == 0, stderr
    record = json.loads(stdout)["finetune"][0]
    assert record["labelled"] is False and record["epochs"] == 0 and record["max_epochs"] == 3  # the start is within
    code, stdout, stderr = _run_main(["prune", *factory, "--max-epochs", "3", "--finetune-data", folder,
                                      "-o", str(tmp_path / "bad.pt")], capsys)  # fmt: skip
    assert code == 2 and stderr.count("\n") == 1 and "--max-drop" in stderr


class _StubDetector:
    """A YOLO-pose stand-in: one confident person box and one below the score threshold per picture."""

    def whole_image(self, image_rgb: np.ndarray, timer: object = None) -> list:
        from edgepose.deploy.pose import Pose

        h, w = image_rgb.shape[:2]
        confident = Pose(np.zeros((17, 3)), np.array([2.0, 3.0, w / 2, h - 4.0]), 0.9, ())
        faint = Pose(np.zeros((17, 3)), np.array([0.0, 0.0, w, h]), 0.1, ())
        return [confident, faint]


def test_a_detector_gives_unannotated_images_their_person_boxes(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    from edgepose.inference.image_inputs import with_detections

    views = list_views(write_folder(tmp_path / "f", n=3), tiny_pose_net.spec)
    found = with_detections(views, _StubDetector(), min_score=0.5)
    assert len(found) == 3 and all(v.box_xywh is not None and v.box_xywh[:2] == (2.0, 3.0) for v in found)
    detected = sample_inputs(tmp_path / "f", tiny_pose_net.spec, 3, detector=_StubDetector())
    whole = sample_inputs(tmp_path / "f", tiny_pose_net.spec, 3)
    assert detected.shape == whole.shape and not np.allclose(detected, whole)


def test_an_image_folder_is_valid_optimize_calibration_data(tmp_path: Path) -> None:
    from edgepose.pipeline.run_dir import file_digest

    folder = write_folder(tmp_path / "f", n=3)
    before = file_digest(folder)
    assert before == file_digest(folder)
    write_folder(tmp_path / "f", n=4)  # one more image
    assert file_digest(folder) != before


def test_yolo_pose_recovers_label_free_from_the_teachers_raw_outputs(tmp_path: Path) -> None:
    """A pruned YOLO-pose student fine-tunes on unlabelled images against its teacher's raw head outputs and is
    validated by OKS agreement on held-back images (the teacher agrees with itself: 100)."""
    from edgepose.models import build_model, default_spec
    from edgepose.yolo.task import yolo_pose_loss

    torch.manual_seed(0)
    spec = default_spec("yolopose-v8n", input_size=(64, 64))
    teacher = Artifact(spec=spec, model=build_model("yolopose-v8n", width=0.25).eval(), arch="yolopose-v8n",
                       arch_kwargs={"width": 0.25})  # fmt: skip
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        raw = teacher.model(x)
    assert float(yolo_pose_loss(raw, {}, spec, raw, 1.0)) == pytest.approx(0.0, abs=1e-5)
    views = list_views(write_folder(tmp_path / "f", n=3), spec)
    check = TeacherAgreement(views, spec, teacher.model)
    assert check.metric == "teacher_oks" and check.score(teacher.model)["teacher_oks"] == 100.0
    folder = write_folder(tmp_path / "photos", n=12)
    cfg = FinetuneConfig(epochs=1, batch_size=4, warmup_steps=0, workers=0, max_steps_per_epoch=1)
    ctx = RunContext(work_dir=tmp_path / "work", train_data=folder, progress=False)
    apply_pass(teacher, "prune", {"ratio": 0.3, "finetune": cfg}, ctx)
    record = ctx.records["prune"]["finetune"][0]
    assert record["labelled"] is False and "raw head outputs" in record["targets"] and record["metric"] == "teacher_oks"
    assert record["epochs"] == 1 and 0.0 <= record["curve"][0]["teacher_oks"] <= 100.0
    assert record["bn_stats"] == "frozen"  # the default for label-free YOLO-pose (edgepose.passes.finetune)
    assert record["trained_layers"].startswith("changed: ")  # the layers pruning reshaped, nothing else


@pytest.mark.parametrize(("head", "labelled", "asked", "frozen"), [
    ("yolo", False, None, True), ("yolo", True, None, False), ("heatmap", False, None, False),
    ("heatmap", False, True, True), ("yolo", False, False, False),
])  # fmt: skip
def test_batchnorm_statistics_freeze_by_default_only_for_label_free_yolo_pose(
    head: str, labelled: bool, asked: bool | None, frozen: bool
) -> None:  # fmt: skip
    from edgepose.artifact import ModelSpec
    from edgepose.passes.finetune import freeze_bn_stats

    spec = ModelSpec(input_size=(64, 64), head=head)
    assert freeze_bn_stats(FinetuneConfig(freeze_bn_stats=asked), spec, labelled) is frozen


@pytest.mark.parametrize("group", ["box", "class", "keypoint xy", "visibility"])
def test_dense_yolo_distillation_is_zero_at_the_teacher_and_pulls_every_channel_group(group: str) -> None:
    from edgepose.yolo.distill import dense_distill_loss

    torch.manual_seed(0)
    k, nbox = 17, 64
    rows = {"box": slice(0, nbox), "class": slice(nbox, nbox + 1),
            "keypoint xy": [nbox + 1 + 3 * j + c for j in range(k) for c in (0, 1)],
            "visibility": [nbox + 1 + 3 * j + 2 for j in range(k)]}[group]  # fmt: skip
    teacher = torch.randn(2, nbox + 1 + 3 * k, 40)
    teacher[:, nbox] = 3.0  # the teacher sees a person at every anchor: every group is weighed
    assert float(dense_distill_loss(teacher.clone(), teacher, k)) == pytest.approx(0.0, abs=1e-5)
    student = teacher.clone()
    student[:, rows] += 0.5 * torch.randn_like(student[:, rows])
    student.requires_grad_(True)
    loss = dense_distill_loss(student, teacher, k)
    loss.backward()
    assert float(loss) > 1e-3
    moved = torch.zeros(teacher.shape[1], dtype=torch.bool)
    moved[rows] = True
    assert float(student.grad[:, moved].abs().sum()) > 0 and float(student.grad[:, ~moved].abs().sum()) < 1e-6
    with pytest.raises(ValueError, match="differ"):
        dense_distill_loss(student[:, :, :10], teacher, k)


def test_yolo_agreement_is_oks_against_the_teachers_people() -> None:
    from edgepose.deploy.yolo_decode import Detections
    from edgepose.inference.unlabelled import yolo_agreement
    from edgepose.models import default_spec

    spec = default_spec("yolopose-v8n", input_size=(64, 64))
    kpts = np.concatenate([np.random.default_rng(0).uniform(10, 50, (1, 17, 2)), np.ones((1, 17, 1))], axis=-1)
    teacher = [Detections(np.array([[10.0, 10.0, 50.0, 50.0]]), np.array([0.9]), kpts, np.array([0]))]
    same = yolo_agreement(teacher, teacher, spec)
    assert same["teacher_oks"] == pytest.approx(100.0) and same["n_people"] == 1
    moved = kpts.copy()
    moved[..., :2] += 4.0
    near = yolo_agreement([Detections(teacher[0].boxes, teacher[0].scores, moved, np.array([0]))], teacher, spec)
    missed = yolo_agreement([Detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 17, 3)), np.zeros(0, int))],
                            teacher, spec)  # fmt: skip
    assert 0.0 < near["teacher_oks"] < 100.0 and missed["teacher_oks"] == 0.0


def _people(kpts: np.ndarray, vis: float = 1.0) -> Any:
    """Detections of people with these (N, 17, 2) keypoints, all seen (vis 1) or none, best first."""
    from edgepose.deploy.yolo_decode import Detections

    n = len(kpts)
    full = np.concatenate([kpts, np.full((*kpts.shape[:2], 1), vis)], axis=-1)
    boxes = np.array([[k[:, 0].min(), k[:, 1].min(), k[:, 0].max(), k[:, 1].max()] for k in kpts]).reshape(n, 4)
    return Detections(boxes, np.linspace(0.9, 0.6, n), full, np.arange(n))


def test_yolo_agreement_charges_duplicates_and_invented_people_and_matches_one_to_one() -> None:
    from edgepose.inference.unlabelled import yolo_agreement
    from edgepose.models import default_spec

    spec = default_spec("yolopose-v8n", input_size=(64, 64))
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 25, (1, 17, 2)), rng.uniform(35, 60, (1, 17, 2))
    teacher = [_people(np.concatenate([a, b]))]
    assert yolo_agreement(teacher, teacher, spec)["teacher_oks"] == pytest.approx(100.0)
    twice = yolo_agreement([_people(np.concatenate([a, a, b, b]))], teacher, spec)
    assert twice["teacher_oks"] == pytest.approx(50.0) and twice["n_extra"] == 2
    close_pair = [_people(np.concatenate([a, a + 1.0]))]  # the one student person cannot match both
    one_for_both = yolo_agreement([_people(a)], close_pair, spec)
    assert one_for_both["teacher_oks"] == pytest.approx(50.0) and one_for_both["n_extra"] == 0
    invented = yolo_agreement([_people(np.concatenate([a, b, rng.uniform(0, 60, (1, 17, 2))]))], teacher, spec)
    assert invented["teacher_oks"] == pytest.approx(100.0 * 2 / 3)


def test_yolo_agreement_lets_a_teacher_person_with_nothing_seen_excuse_the_student_that_found_it() -> None:
    from edgepose.inference.unlabelled import yolo_agreement
    from edgepose.models import default_spec

    spec = default_spec("yolopose-v8n", input_size=(64, 64))
    a = np.random.default_rng(2).uniform(0, 60, (1, 17, 2))
    unseen = _people(a, vis=0.0)
    result = yolo_agreement([_people(a)], [unseen], spec)
    assert result == {"teacher_oks": 100.0, "n_people": 0, "n_extra": 0}


def test_annotation_image_paths_may_not_leave_the_image_folder(tmp_path: Path, tiny_pose_net: Artifact) -> None:
    ann = write_coco(tmp_path / "coco", n_images=2)
    data = json.loads(ann.read_text())
    data["images"][1]["file_name"] = "../../etc/passwd"
    ann.write_text(json.dumps(data))
    with pytest.raises(UserError, match="outside the dataset folder"):
        list_views(relabel_lsp(ann), tiny_pose_net.spec)


def test_the_yolo_recipe_runs_end_to_end_on_unlabelled_photos(tmp_path: Path) -> None:
    """yolo-cpu-fast: prune, label-free recovery on a folder, PTQ to OpenVINO, every gate judged (a random tiny
    model: the verdicts are not the point, that each stage ran on the images alone is)."""
    pytest.importorskip("openvino")
    import edgepose
    from edgepose.checkpoint import save_checkpoint
    from edgepose.models import build_model, default_spec

    torch.manual_seed(0)
    spec = default_spec("yolopose-v8n", input_size=(64, 64))
    model = Artifact(spec=spec, model=build_model("yolopose-v8n", width=0.25).eval(), arch="yolopose-v8n",
                     arch_kwargs={"width": 0.25})  # fmt: skip
    ckpt = save_checkpoint(model, tmp_path / "y.pt")
    overrides = [f"data.train={write_folder(tmp_path / 'photos', n=12)}", "passes.0.finetune.epochs=1",
                 "passes.0.finetune.max_steps_per_epoch=1", "passes.0.finetune.batch_size=4",
                 "passes.0.finetune.warmup_steps=0", "passes.0.finetune.workers=0", "passes.1.calib_images=8",
                 "benchmark.iters=5", "benchmark.warmup=1"]  # fmt: skip
    report = edgepose.optimize(ckpt, "yolo-cpu-fast", write_coco(tmp_path / "val", n_images=3), tmp_path / "run",
                               overrides, progress=False, check_gates=False)  # fmt: skip
    prune = next(stage for stage in report["stages"] if stage["pass"] == "prune")
    tuned = prune["records"]["prune"]["finetune"][0]
    assert tuned["labelled"] is False and "raw head outputs" in tuned["targets"] and tuned["distill"] == 1.0
    assert report["final"]["precision"] == "int8" and report["final"]["format"] == "openvino"
    assert prune["records"]["prune"]["gflops_ratio"] <= 0.7
    assert {g["name"] for g in report["gates"]} >= {"max_metric_drop", "min_speedup", "max_parity_error"}
    assert all(g["verdict"] in ("pass", "fail") for g in report["gates"])


@pytest.mark.parametrize(("head", "labelled", "asked", "changed_only"), [
    ("yolo", False, None, True), ("yolo", True, None, False), ("heatmap", False, None, False),
    ("heatmap", True, "changed", True), ("yolo", False, "all", False),
])  # fmt: skip
def test_only_the_changed_layers_learn_by_default_for_label_free_yolo_pose(
    tiny_pose_net: Artifact, head: str, labelled: bool, asked: str | None, changed_only: bool
) -> None:  # fmt: skip
    import copy
    import dataclasses

    from edgepose.artifact import Artifact as Art
    from edgepose.passes.finetune import trainable_layers

    original = tiny_pose_net.model
    pruned = copy.deepcopy(original)
    conv = next(m for m in pruned.modules() if isinstance(m, torch.nn.Conv2d))
    conv.weight = torch.nn.Parameter(conv.weight[: max(1, conv.out_channels // 2)].clone())  # one reshaped layer
    spec = dataclasses.replace(tiny_pose_net.spec, head=head)
    names, described = trainable_layers(FinetuneConfig(train_layers=asked), Art(spec=spec, model=pruned), original, labelled)
    reshaped = next(n for n, m in pruned.named_modules() if m is conv)
    assert (names == (reshaped,)) is changed_only
    assert described == ("changed: 1 layers" if changed_only else "all")
