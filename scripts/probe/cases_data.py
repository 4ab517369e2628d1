"""Ground truth, predictions and images: what the metric code must refuse, count or accept."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from probe import mutate as m
from probe.case import Case, Outcome

NAN, INF = math.nan, math.inf
NAMES_ANN2 = r"(?=.*ann\.json)(?=.*annotation 2\b)"  # the message names the file and the annotation
SHOULDER_X, SHOULDER_Y, SHOULDER_V = 15, 16, 17  # left shoulder of every person is labelled (v=2)


def dropped(kind: str, count: int) -> Callable[[Outcome], str | None]:
    """An exit-0 eval must report `count` dropped `kind` in its JSON and say so in one warning line."""

    def check(out: Outcome) -> str | None:
        got = ((out.data or {}).get("dropped") or {}).get(kind)
        if got != count:
            return f"JSON dropped.{kind} is {got!r}, expected {count}"
        warnings = [line for line in out.stderr_lines if "warning" in line.lower()]
        if len(warnings) != 1:
            return f"{len(warnings)} warning lines on stderr, expected 1"
        return None

    return check


def finite_metrics(out: Outcome) -> str | None:
    metrics = (out.data or {}).get("metrics")
    if not isinstance(metrics, dict):
        return "no metrics in the JSON"
    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    return f"non-finite metrics {bad}" if bad else None


def oks_ap_is(value: float) -> Callable[[Outcome], str | None]:
    def check(out: Outcome) -> str | None:
        got = ((out.data or {}).get("metrics") or {}).get("oks_ap")
        return None if got is not None and abs(got - value) < 1e-9 else f"oks_ap {got}, expected {value}"

    return check


def _many_people(doc: dict) -> None:
    first = doc["annotations"][0]
    for extra in range(25):
        doc["annotations"].append({**first, "id": 100 + extra})


def _dup_image_same(doc: dict) -> None:
    doc["images"].append(dict(doc["images"][0]))


def _dup_image_other(doc: dict) -> None:
    doc["images"].append({**doc["images"][0], "file_name": "images/002.jpg"})


def _all_kp(value: Any) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        a = doc["annotations"][1]
        a["keypoints"] = [value] * len(a["keypoints"])

    return edit


def _other_category_nan(doc: dict) -> None:
    doc["categories"].append({"id": 2, "name": "dog"})
    doc["annotations"].append({**doc["annotations"][0], "id": 99, "category_id": 2, "bbox": [NAN, 0, 1, 1]})


# (id, edit, expect, match, check) -- each becomes two cases: scored from a predictions file, and by a model
GT_MUTATIONS: list[tuple[str, Callable[[dict], Any], str, str | None, Any]] = [
    ("kp_x_nan", m.kp(1, SHOULDER_X, NAN), "refuse", NAMES_ANN2, None),
    ("kp_y_inf", m.kp(1, SHOULDER_Y, INF), "refuse", NAMES_ANN2, None),
    ("kp_x_neg_inf", m.kp(1, SHOULDER_X, -INF), "refuse", NAMES_ANN2, None),
    ("kp_string", m.kp(1, SHOULDER_X, "abc"), "refuse", NAMES_ANN2, None),
    ("kp_null", m.kp(1, SHOULDER_X, None), "refuse", NAMES_ANN2, None),
    ("kp_bool", m.kp(1, SHOULDER_X, True), "refuse", NAMES_ANN2, None),
    ("kp_nested_list", m.kp(1, SHOULDER_X, [1, 2]), "refuse", NAMES_ANN2, None),
    ("kp_huge", m.kp(1, SHOULDER_X, 1e308), "refuse", NAMES_ANN2, None),
    ("kp_all_nan", _all_kp(NAN), "refuse", NAMES_ANN2, None),
    ("vis_3", m.kp(1, SHOULDER_V, 3), "refuse", NAMES_ANN2, None),
    ("vis_minus_1", m.kp(1, SHOULDER_V, -1), "refuse", NAMES_ANN2, None),
    ("vis_1_5", m.kp(1, SHOULDER_V, 1.5), "refuse", NAMES_ANN2, None),
    ("vis_nan", m.kp(1, SHOULDER_V, NAN), "refuse", NAMES_ANN2, None),
    ("vis_string", m.kp(1, SHOULDER_V, "2"), "refuse", NAMES_ANN2, None),
    ("bbox_nan", m.ann(1, bbox=[NAN, 10, 20, 30]), "refuse", NAMES_ANN2, None),
    ("bbox_inf_w", m.ann(1, bbox=[1, 10, INF, 30]), "refuse", NAMES_ANN2, None),
    ("bbox_strings", m.ann(1, bbox=["a", "b", "c", "d"]), "refuse", NAMES_ANN2, None),
    ("bbox_3_numbers", m.ann(1, bbox=[1, 2, 3]), "refuse", NAMES_ANN2, None),
    ("bbox_dict", m.ann(1, bbox={"x": 1}), "refuse", NAMES_ANN2, None),
    ("area_nan", m.ann(1, area=NAN), "refuse", NAMES_ANN2, None),
    ("area_inf", m.ann(1, area=INF), "refuse", NAMES_ANN2, None),
    ("area_negative", m.ann(1, area=-50.0), "refuse", NAMES_ANN2, None),
    ("area_string", m.ann(1, area="big"), "refuse", NAMES_ANN2, None),
    ("ann_id_string", m.ann(1, id="two"), "refuse", r"ann\.json", None),
    ("ann_id_float", m.ann(1, id=2.5), "refuse", r"ann\.json", None),
    ("ann_id_nan", m.ann(1, id=NAN), "refuse", r"ann\.json", None),
    ("num_keypoints_nan", m.ann(1, num_keypoints=NAN), "refuse", NAMES_ANN2, None),
    ("iscrowd_string", m.ann(1, iscrowd="yes"), "refuse", NAMES_ANN2, None),
    ("keypoints_string", m.ann(1, keypoints="0 0 2"), "refuse", NAMES_ANN2, None),
    ("keypoints_50_values", m.ann(1, keypoints=[1.0] * 50), "refuse", NAMES_ANN2, None),
    ("image_width_nan", m.image(0, width=NAN), "refuse", r"ann\.json", None),
    ("image_width_zero", m.image(0, width=0), "refuse", r"ann\.json", None),
    ("image_height_string", m.image(0, height="tall"), "refuse", r"ann\.json", None),
    ("image_id_mismatch", m.ann(1, image_id=77), "refuse", r"ann\.json", None),
    ("dup_image_conflicting", _dup_image_other, "refuse", r"ann\.json", None),
    ("crowd_with_nan", lambda d: d["annotations"][1].update(iscrowd=1, bbox=[NAN, 0, 5, 5]), "refuse", NAMES_ANN2, None),
    ("other_category_nan_ignored", _other_category_nan, "ok", None, finite_metrics),
    ("zero_size_box", m.ann(1, bbox=[10, 10, 0, 30]), "ok", None, dropped("zero_size_box", 1)),
    ("negative_size_box", m.ann(1, bbox=[10, 10, -5, 30]), "ok", None, dropped("zero_size_box", 1)),
    ("box_outside_image", m.ann(1, bbox=[500, 500, 20, 30]), "ok", None, dropped("box_outside_image", 1)),
    ("duplicate_ann_id", m.ann(1, id=1), "ok", None, dropped("duplicate_ann_id", 1)),
    ("dup_image_identical", _dup_image_same, "ok", None, dropped("duplicate_image_id", 1)),
    ("too_many_people", _many_people, "ok", None, dropped("beyond_max_dets", 7)),
]

# also scored by a model (the reader path of `eval MODEL`), not only from a predictions file
MODEL_TOO = {
    "kp_x_nan", "kp_string", "kp_huge", "kp_all_nan", "vis_3", "bbox_nan", "bbox_strings", "area_nan", "ann_id_string",
    "image_width_nan", "dup_image_conflicting", "crowd_with_nan", "zero_size_box", "box_outside_image",
    "duplicate_ann_id", "dup_image_identical", "too_many_people",
}

DOC_MUTATIONS: list[tuple[str, Any, str]] = [  # whole-document problems: (id, content, expect)
    ("top_level_list", "[]", "refuse"),
    ("images_not_list", '{"images": 1, "annotations": [], "categories": []}', "refuse"),
    ("annotation_not_object", lambda d: d["annotations"].append(5), "refuse"),
    ("image_not_object", lambda d: d["images"].append("x.jpg"), "refuse"),
    ("no_keypoint_category", lambda d: d.update(categories=[{"id": 1, "name": "person"}]), "refuse"),
    ("category_keypoints_string", lambda d: d["categories"][0].update(keypoints="nose"), "refuse"),
    ("deeply_nested", m.deep_json(), "refuse"),
    ("empty_file", "", "refuse"),
    ("json_with_bom", lambda d: "\ufeff" + __import__("json").dumps(d), "either"),
    ("no_annotations", lambda d: d.update(annotations=[]), "refuse"),
]


def gt_cases() -> list[Case]:
    cases = []
    for cid, edit, expect, match, check in GT_MUTATIONS:
        preds_args = ["eval", "--predictions", "{preds}", "--data", "{ann}", "--json"]
        if cid == "too_many_people":  # the annotations themselves as predictions: one per person
            preds_args = ["eval", "--predictions", "{ann}", "--data", "{ann}", "--json"]
        cases.append(Case(f"gt.preds.{cid}", "eval --predictions", "GT values", preds_args, expect,
                          m.coco(edit), match, check=check))  # fmt: skip
        if cid not in MODEL_TOO:
            continue
        cases.append(Case(f"gt.model.{cid}", "eval", "GT values", ["eval", "{tiny}", "--data", "{ann}", "--json"],
                          expect, m.coco(edit), match, check=check))  # fmt: skip
    for cid, content, expect in DOC_MUTATIONS:
        setup = m.coco(content if callable(content) else (lambda c: lambda d: c)(content))
        cases.append(Case(f"gt.doc.{cid}", "eval --predictions", "GT structure",
                          ["eval", "--predictions", "{preds}", "--data", "{ann}", "--json"], expect, setup))  # fmt: skip
    files = [
        ("missing", ["--data", "nope.json"], None),
        ("folder", ["--data", "{coco_images}"], None),
        ("random_bytes", ["--data", "{junk}"], m.raw("junk", m.random_bytes(4096), ".json")),
        ("yaml_not_json", ["--data", "{y}"], m.text("y", "images: []\nannotations: []\n", ".json")),
    ]
    for cid, args, setup in files:
        cases.append(Case(f"gt.file.{cid}", "eval", "missing / wrong files", ["eval", "{tiny}", *args, "--json"],
                          "refuse", setup))  # fmt: skip
    cases.append(Case("gt.sanity.gt_as_predictions", "eval --predictions", "sanity",
                      ["eval", "--predictions", "{coco}", "--data", "{coco}", "--json"], "ok", check=oks_ap_is(1.0)))
    cases.append(Case("gt.sanity.model_eval", "eval", "sanity", ["eval", "{tiny}", "--data", "{coco}", "--json"], "ok",
                      check=finite_metrics))  # fmt: skip
    return cases


# ----- predictions files ----------------------------------------------------------------------------------


def _pred_kp(index: int, position: int, value: Any) -> Callable[[list], None]:
    def edit(doc: list) -> None:
        doc[index]["keypoints"][position] = value

    return edit


def _pred_field(index: int, **fields: Any) -> Callable[[list], None]:
    def edit(doc: list) -> None:
        doc[index].update(fields)

    return edit


def _all_pred_nan(doc: list) -> None:
    for entry in doc:
        entry["keypoints"] = [NAN] * len(entry["keypoints"])


def _extra_nan_detection(doc: list) -> None:
    doc.append({**doc[0], "image_id": 999, "keypoints": [NAN] * 51})


PRED_MUTATIONS: list[tuple[str, Any, str, Any]] = [
    ("x_nan", _pred_kp(1, 0, NAN), "refuse", None),
    ("y_inf", _pred_kp(1, 1, INF), "refuse", None),
    ("all_nan", _all_pred_nan, "refuse", None),
    ("kp_score_nan", _pred_kp(1, 2, NAN), "refuse", None),
    ("score_nan", _pred_field(1, score=NAN), "refuse", None),
    ("score_inf", _pred_field(1, score=INF), "refuse", None),
    ("score_string", _pred_field(1, score="high"), "refuse", None),
    ("kp_string", _pred_kp(1, 0, "x"), "refuse", None),
    ("kp_null", _pred_kp(1, 0, None), "refuse", None),
    ("kp_bool", _pred_kp(1, 0, False), "refuse", None),
    ("kp_huge", _pred_kp(1, 0, 1e308), "refuse", None),
    ("ann_id_nan", _pred_field(1, ann_id=NAN), "refuse", None),
    ("nan_in_unmatched_detection", _extra_nan_detection, "refuse", None),
    ("wrong_length", _pred_field(1, keypoints=[1.0] * 10), "refuse", None),
    ("entries_not_objects", lambda d: [1, 2, 3], "refuse", None),
    ("empty_list", lambda d: [], "refuse", None),
    ("no_image_matches", lambda d: [{**e, "image_id": 1000 + i} for i, e in enumerate(d)], "refuse", None),
    ("image_ids_as_strings", lambda d: [{**e, "image_id": str(e["image_id"])} for e in d], "refuse", None),
    ("dict_without_annotations", lambda d: {"results": d}, "refuse", None),
    ("deeply_nested", lambda d: m.deep_json(), "refuse", None),
    ("extra_detections", lambda d: d + [dict(e, score=0.1) for e in d], "ok", finite_metrics),
    ("duplicated_predictions", lambda d: d + d, "ok", finite_metrics),
    ("negative_keypoint_scores", _pred_kp(1, 2, -1.0), "ok", finite_metrics),
    ("unknown_ann_id", _pred_field(1, ann_id=12345), "ok", finite_metrics),
]


def prediction_cases() -> list[Case]:
    cases = []
    for cid, edit, expect, check in PRED_MUTATIONS:
        match = r"pred\.json" if expect == "refuse" else None
        cases.append(Case(f"pred.{cid}", "eval --predictions", "predictions file",
                          ["eval", "--predictions", "{pred}", "--data", "{coco}", "--json"], expect, m.preds(edit),
                          match, check=check))  # fmt: skip
    files = [
        ("missing", "nope.json", None),
        ("folder", "{coco_images}", None),
        ("empty", "{p}", m.raw("p", b"", ".json")),
        ("random_bytes", "{p}", m.raw("p", m.random_bytes(2048, 3), ".json")),
    ]
    for cid, arg, setup in files:
        cases.append(Case(f"pred.file.{cid}", "eval --predictions", "missing / wrong files",
                          ["eval", "--predictions", arg, "--data", "{coco}", "--json"], "refuse", setup))  # fmt: skip
    cases.append(Case("pred.with_model_too", "eval --predictions", "usage",
                      ["eval", "{tiny}", "--predictions", "{preds}", "--data", "{coco}"], "refuse"))
    return cases


# ----- image paths and image files ------------------------------------------------------------------------


def _outside_image(case_dir: Path, places: dict[str, str]) -> dict[str, str]:
    """data/ann.json whose first image is ../outside.jpg (a real image, outside the data folder)."""
    import json
    import shutil

    data = case_dir / "data"
    data.mkdir()
    os.symlink(places["coco_images"], data / "images")
    shutil.copy(Path(places["coco_images"]) / "001.jpg", case_dir / "outside.jpg")
    doc = json.loads(Path(places["coco"]).read_text())
    doc["images"][1]["file_name"] = "../outside.jpg"
    (data / "ann.json").write_text(json.dumps(doc))
    doc["images"][1]["file_name"] = str(case_dir / "outside.jpg")
    (data / "abs.json").write_text(json.dumps(doc))
    return {"ann": str(data / "ann.json"), "abs": str(data / "abs.json")}


def _truncate(name: str, fraction: float) -> Callable[[Path, dict], None]:
    def modify(img: Path, doc: dict) -> None:
        data = (img / name).read_bytes()
        (img / name).write_bytes(data[: int(len(data) * fraction)])

    return modify


def _replace(name: str, content: bytes) -> Callable[[Path, dict], None]:
    def modify(img: Path, doc: dict) -> None:
        (img / name).write_bytes(content)

    return modify


def _append(name: str, content: bytes) -> Callable[[Path, dict], None]:
    def modify(img: Path, doc: dict) -> None:
        (img / name).write_bytes((img / name).read_bytes() + content)

    return modify


def _gray_png(img: Path, doc: dict) -> None:
    import cv2
    import numpy as np

    cv2.imwrite(str(img / "004.png"), np.random.default_rng(1).integers(0, 65535, (80, 96), dtype=np.uint16))


def _image_dir_symlink(case_dir: Path, places: dict[str, str]) -> dict[str, str]:
    import json

    os.symlink(places["coco_images"], case_dir / "images")
    (case_dir / "ann.json").write_text(json.dumps(json.loads(Path(places["coco"]).read_text())))
    return {"ann": str(case_dir / "ann.json")}


def image_cases() -> list[Case]:
    evaluate = ["eval", "{tiny}", "--data", "{ann}", "--json"]
    path_edits = [
        ("etc_passwd_relative", "../../../../../../etc/passwd"),
        ("etc_passwd_absolute", "/etc/passwd"),
        ("nul_byte", "images/001\u0000.jpg"),
        ("not_a_string", 123),
        ("empty_name", ""),
        ("a_folder", "images"),
        ("missing_file", "images/nope.jpg"),
    ]
    cases = []
    for cid, name in path_edits:
        match = "outside" if cid.startswith("etc_") else None
        cases.append(Case(f"img.path.{cid}", "eval", "image paths", evaluate, "refuse",
                          m.coco(m.image(1, file_name=name)), match))  # fmt: skip
    cases += [
        Case("img.path.escapes_to_real_image", "eval", "image paths", evaluate, "refuse", _outside_image, "outside"),
        Case("img.path.absolute_real_image", "eval", "image paths", ["eval", "{tiny}", "--data", "{abs}", "--json"],
             "refuse", _outside_image, "outside"),
        Case("img.path.escape_allowed_by_flag", "eval", "image paths", [*evaluate, "--allow-outside-images"], "ok",
             _outside_image, check=finite_metrics),
        Case("img.path.absolute_allowed_by_flag", "eval", "image paths",
             ["eval", "{tiny}", "--data", "{abs}", "--json", "--allow-outside-images"], "ok", _outside_image,
             check=finite_metrics),
        Case("img.path.image_folder_is_symlink", "eval", "image paths", evaluate, "ok", _image_dir_symlink,
             check=finite_metrics),
        Case("img.root.is_a_file", "eval", "image paths", [*evaluate, "--image-root", "{coco}"], "refuse", m.coco()),
        Case("img.root.missing", "eval", "image paths", [*evaluate, "--image-root", "nowhere"], "refuse", m.coco()),
        Case("img.file.truncated_jpeg", "eval", "image files", evaluate, "refuse",
             m.image_files(_truncate("002.jpg", 0.6)), "truncated"),
        Case("img.file.truncated_png", "eval", "image files", evaluate, "refuse",
             m.image_files(_truncate("004.png", 0.6)), "truncated"),
        Case("img.file.empty_jpeg", "eval", "image files", evaluate, "refuse", m.image_files(_replace("002.jpg", b""))),
        Case("img.file.random_bytes", "eval", "image files", evaluate, "refuse",
             m.image_files(_replace("002.jpg", m.random_bytes(3000, 5)))),
        Case("img.file.text_as_jpeg", "eval", "image files", evaluate, "refuse",
             m.image_files(_replace("002.jpg", b"hello, not an image\n"))),
        Case("img.file.trailing_bytes_after_eoi", "eval", "image files", evaluate, "ok",
             m.image_files(_append("002.jpg", b"\x00" * 64 + b"trailer")), check=finite_metrics),
        Case("img.file.16bit_gray_png", "eval", "image files", evaluate, "ok", m.image_files(_gray_png),
             check=finite_metrics),
        Case("img.train.truncated_jpeg", "train", "image files",
             ["train", "simplebaseline-lite", "--data", "{ann}", "--val", "{ann}", "-o", "t.pt", "--epochs", "1", "--kw", "width=0.25",
              "--kw", "deconv_channels=32", "--input-size", "64x64", "--workers", "0", "--batch", "4"], "refuse",
             m.image_files(_truncate("002.jpg", 0.6)), "truncated"),
        Case("img.export.verify_data_escaping", "export", "image paths",
             ["export", "{tiny}", "-o", "t.onnx", "--verify-data", "{ann}"], "refuse", _outside_image, "outside"),
    ]  # fmt: skip
    return cases


def all_cases() -> list[Case]:
    return gt_cases() + prediction_cases() + image_cases()
