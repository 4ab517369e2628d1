"""Model files: broken or tampered checkpoints, exported files, user factories, models that output NaN."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from probe import mutate as m
from probe.case import Case

NAN = math.nan


def _spec(**fields: Any) -> Callable[[dict], None]:
    def edit(p: dict) -> None:
        p["spec"].update(fields)

    return edit


def _kwargs(**fields: Any) -> Callable[[dict], None]:
    def edit(p: dict) -> None:
        p["arch_kwargs"].update(fields)

    return edit


def _set(**fields: Any) -> Callable[[dict], None]:
    def edit(p: dict) -> None:
        p.update(fields)

    return edit


def _drop(key: str) -> Callable[[dict], None]:
    def edit(p: dict) -> None:
        p.pop(key)

    return edit


def _state(edit_state: Callable[[dict], Any]) -> Callable[[dict], None]:
    def edit(p: dict) -> None:
        edit_state(p["state_dict"])

    return edit


def _first_weight(p_state: dict) -> str:
    return next(k for k, v in p_state.items() if v.ndim == 4)


def _last_weight(p_state: dict) -> str:
    return [k for k, v in p_state.items() if v.ndim == 4][-1]


def _fill_last(value: float) -> Callable[[dict], None]:
    def edit(p: dict) -> None:
        p["state_dict"][_last_weight(p["state_dict"])].fill_(value)

    return edit


def _history(edit_steps: Callable[[list], Any]) -> Callable[[dict], None]:
    def edit(p: dict) -> None:
        result = edit_steps(p["history"])
        if result is not None:
            p["history"] = result

    return edit


def _negative_prune_counts(steps: list) -> None:
    """Make every integer in the recorded pruning plan negative."""

    def walk(node: Any) -> Any:
        if isinstance(node, bool):
            return node
        if isinstance(node, int):
            return -abs(node) - 1
        if isinstance(node, list):
            return [walk(x) for x in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    for step in steps:
        if "pruning_history" in step:
            step["pruning_history"] = walk(step["pruning_history"])


# (id, mutation of the tiny checkpoint's payload, expect, match)
CKPT_MUTATIONS: list[tuple[str, Callable[[dict], Any], str, str | None]] = [
    ("spec_input_size_zero", _spec(input_size=[0, 64]), "refuse", None),
    ("spec_input_size_huge", _spec(input_size=[10**9, 10**9]), "refuse", None),
    ("spec_input_size_float", _spec(input_size=[64.7, 64]), "refuse", None),
    ("spec_input_size_string", _spec(input_size="abc"), "refuse", None),
    ("spec_input_size_one_value", _spec(input_size=[64]), "refuse", None),
    ("spec_mean_nan", _spec(mean=[NAN, 0.4, 0.4]), "refuse", None),
    ("spec_std_zero", _spec(std=[0.0, 0.2, 0.2]), "refuse", None),
    ("spec_std_negative", _spec(std=[-0.2, 0.2, 0.2]), "refuse", None),
    ("spec_mean_two_values", _spec(mean=[0.4, 0.4]), "refuse", None),
    ("spec_schema_unknown", _spec(schema="coco999"), "refuse", None),
    ("spec_schema_other_count", _spec(schema="lsp14"), "refuse", None),
    ("spec_head_unknown", _spec(head="banana"), "refuse", None),
    ("spec_unknown_key", _spec(colour="blue"), "refuse", None),
    ("spec_clip_length_negative", _spec(clip_length=-1), "refuse", None),
    ("spec_clip_length_huge", _spec(clip_length=10**12), "refuse", None),
    ("spec_not_a_dict", _set(spec="256x192"), "refuse", None),
    ("spec_none", _set(spec=None), "refuse", None),
    ("arch_unknown", _set(arch="resnet9000"), "refuse", None),
    ("arch_none", _set(arch=None), "refuse", None),
    ("kwargs_unknown", _kwargs(colour="blue"), "refuse", None),
    ("kwargs_width_nan", _kwargs(width=NAN), "refuse", None),
    ("kwargs_width_negative", _kwargs(width=-1.0), "refuse", None),
    ("kwargs_width_string", _kwargs(width="wide"), "refuse", None),
    ("kwargs_num_keypoints_negative", _kwargs(num_keypoints=-3), "refuse", None),
    ("kwargs_num_keypoints_huge", _kwargs(num_keypoints=2**40), "refuse", None),
    ("kwargs_num_keypoints_other", _kwargs(num_keypoints=100), "refuse", None),
    ("kwargs_list", _set(arch_kwargs=[1, 2]), "refuse", None),
    ("history_unknown_step", _set(history=[{"step": "teleport"}]), "refuse", None),
    ("history_string", _set(history="prune"), "refuse", None),
    ("history_not_list", _set(history=5), "refuse", None),
    ("history_step_not_dict", _set(history=[7]), "refuse", None),
    ("provenance_list", _set(provenance=[1, 2]), "either", None),
    ("state_missing_key", _state(lambda s: s.pop(_first_weight(s))), "refuse", None),
    ("state_extra_key", _state(lambda s: s.update({"extra.weight": s[_first_weight(s)].clone()})), "refuse", None),
    ("state_wrong_shape", _state(lambda s: s.update({_first_weight(s): s[_first_weight(s)][:1].clone()})), "refuse", None),
    ("state_value_not_tensor", _state(lambda s: s.update({_first_weight(s): [1.0, 2.0]})), "refuse", None),
    ("state_dict_none", _set(state_dict=None), "refuse", None),
    ("state_int_dtype", _state(lambda s: s.update({_first_weight(s): s[_first_weight(s)].long()})), "either", None),
    ("format_version_99", _set(format_version=99), "refuse", "version"),
    ("format_version_string", _set(format_version="one"), "refuse", "version"),
    ("format_version_missing", _drop("format_version"), "either", None),
    ("arch_missing", _drop("arch"), "refuse", None),
]

PRUNED_MUTATIONS: list[tuple[str, Callable[[dict], Any]]] = [
    ("negative_channel_counts", _history(_negative_prune_counts)),
    ("plan_truncated", _history(lambda steps: [{**s, "pruning_history": s["pruning_history"][:1]} for s in steps])),
    ("plan_garbage", _history(lambda steps: [{**s, "pruning_history": "garbage"} for s in steps])),
    ("input_shape_nan", _history(lambda steps: [{**s, "input_shape": [1, 3, NAN, 64]} for s in steps])),
]


def checkpoint_cases() -> list[Case]:
    cases = []
    for cid, edit, expect, match in CKPT_MUTATIONS:
        cases.append(Case(f"ckpt.info.{cid}", "info", "tampered checkpoint", ["info", "{ckpt}", "--json"], expect,
                          m.checkpoint(edit), match))  # fmt: skip
    for cid in ("spec_mean_nan", "spec_input_size_huge", "kwargs_unknown", "state_value_not_tensor",
                "spec_schema_other_count", "format_version_99"):  # fmt: skip
        edit, expect, match = next((e, x, mt) for c, e, x, mt in CKPT_MUTATIONS if c == cid)
        cases.append(Case(f"ckpt.eval.{cid}", "eval", "tampered checkpoint",
                          ["eval", "{ckpt}", "--data", "{coco}", "--json"], expect, m.checkpoint(edit), match))
        cases.append(Case(f"ckpt.export.{cid}", "export", "tampered checkpoint",
                          ["export", "{ckpt}", "-o", "out.onnx"], expect, m.checkpoint(edit), match))  # fmt: skip
    for cid, edit in PRUNED_MUTATIONS:
        cases.append(Case(f"ckpt.pruned.{cid}", "info", "tampered checkpoint", ["info", "{ckpt}", "--json"], "refuse",
                          m.checkpoint(edit, source="pruned"), needs=("pruned",)))  # fmt: skip
    tiny_size = lambda places: __import__("os").path.getsize(places["tiny"])  # noqa: E731
    files: list[tuple[str, Any, str, str | None, str | None]] = [
        # (id, setup, expect, match, not_match)
        ("missing", None, "refuse", "not found", None),
        ("folder", m.folder("ckpt"), "refuse", "folder", None),
        ("empty", m.raw("ckpt", b"", ".pt"), "refuse", "empty", None),
        ("random_bytes", m.raw("ckpt", m.random_bytes(4096, 1), ".pt"), "refuse", None, "pickled"),
        ("random_bytes_large", m.raw("ckpt", m.random_bytes(200_000, 2), ".pt"), "refuse", None, "pickled"),
        ("text_file", m.text("ckpt", "this is not a checkpoint\n", ".pt"), "refuse", None, "pickled"),
        ("json_file", m.text("ckpt", '{"arch": "simplebaseline-lite"}', ".pt"), "refuse", None, "pickled"),
        ("truncated_half", m.raw("ckpt", m.truncated("tiny", 0.5), ".pt"), "refuse", "truncated", "pickled"),
        ("truncated_100_bytes", m.raw("ckpt", lambda p: open(p["tiny"], "rb").read(100), ".pt"), "refuse", None,
         "pickled"),
        ("bitflip_zip_header", m.raw("ckpt", m.bitflip("tiny", 0.0, 16), ".pt"), "refuse", None, "pickled"),
        ("bitflip_central_directory", m.raw("ckpt", lambda p: m.bitflip("tiny", (tiny_size(p) - 200) / tiny_size(p), 8)(p),
                                            ".pt"), "either", None, "pickled"),  # fmt: skip
        ("bitflip_tensor_data", m.raw("ckpt", m.bitflip("tiny", 0.5, 8), ".pt"), "either", None, "pickled"),
        ("zip_of_junk", m.raw("ckpt", lambda p: _zip_of_junk(), ".pt"), "refuse", None, "pickled"),
        ("pickled_whole_model", m.copy_of("ckpt", "pickled_model"), "refuse", "pickled", None),
        ("pickled_global", m.copy_of("ckpt", "pickled_global"), "refuse", "pickled", None),
    ]
    for cid, setup, expect, match, not_match in files:
        arg = "nope.pt" if setup is None else "{ckpt}"
        cases.append(Case(f"ckpt.file.{cid}", "info", "checkpoint files", ["info", arg, "--json"], expect, setup,
                          match, not_match))  # fmt: skip
    for cmd, extra in (("eval", ["--data", "{coco}"]), ("bench", ["--iters", "2"]), ("export", ["-o", "x.onnx"]),
                       ("prune", ["-o", "x.pt"]), ("ghost", ["-o", "x.pt"]), ("quantize", ["--calib", "{coco}", "-o", "x.onnx"]),
                       ("optimize", ["--recipe", "{recipe}", "--data", "{coco}", "--out", "run"])):  # fmt: skip
        cases.append(Case(f"ckpt.{cmd}.random_bytes", cmd, "checkpoint files", [cmd, "{ckpt}", *extra], "refuse",
                          m.raw("ckpt", m.random_bytes(4096, 1), ".pt"), None, "pickled"))  # fmt: skip
    cases += [
        Case("ckpt.bare_state_dict_no_arch", "info", "checkpoint files", ["info", "{bare_state_dict}"], "refuse"),
        Case("ckpt.bare_state_dict_wrong_arch", "info", "checkpoint files",
             ["info", "{bare_state_dict}", "--arch", "simplebaseline-resnet18"], "refuse"),
        Case("ckpt.bare_state_dict_unknown_arch", "info", "checkpoint files",
             ["info", "{bare_state_dict}", "--arch", "nope"], "refuse"),
        Case("ckpt.info_arch_ignored", "info", "consistency", ["info", "{tiny}", "--arch", "simplebaseline-resnet50"],
             "either", check=_warned),
        Case("ckpt.debug_shows_traceback", "info", "--debug", ["--debug", "info", "{ckpt}"], "refuse",
             m.raw("ckpt", m.random_bytes(4096, 1), ".pt"), debug_ok=True),
    ]  # fmt: skip
    return cases


def _warned(out: Any) -> str | None:
    return None if any("warning" in line.lower() for line in out.stderr_lines) else "accepted silently (no warning)"


def _zip_of_junk() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", m.random_bytes(500, 9))
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def exported_cases() -> list[Case]:
    junk = m.random_bytes(4096, 4)
    return [
        Case("onnx.random_bytes", "info", "exported files", ["info", "{f}"], "refuse", m.raw("f", junk, ".onnx")),
        Case("onnx.empty", "info", "exported files", ["info", "{f}"], "refuse", m.raw("f", b"", ".onnx")),
        Case("onnx.truncated", "info", "exported files", ["info", "{f}"], "refuse",
             m.raw("f", m.truncated("onnx", 0.5), ".onnx")),
        Case("onnx.folder", "info", "exported files", ["info", "{f}"], "refuse", m.folder("f.onnx")),
        Case("onnx.eval_truncated", "eval", "exported files", ["eval", "{f}", "--data", "{coco}"], "refuse",
             m.raw("f", m.truncated("onnx", 0.7), ".onnx")),
        Case("onnx.bench_random", "bench", "exported files", ["bench", "{f}", "--iters", "2"], "refuse",
             m.raw("f", junk, ".onnx")),
        Case("onnx.metadata_spec_nan", "info", "exported files", ["info", "{f}", "--json"], "refuse",
             _onnx_with_spec('{"input_size": [64, 64], "mean": [NaN, 0.4, 0.4]}')),
        Case("onnx.metadata_spec_garbage", "info", "exported files", ["info", "{f}", "--json"], "refuse",
             _onnx_with_spec("{not json")),
        Case("onnx.metadata_spec_list", "info", "exported files", ["info", "{f}", "--json"], "refuse",
             _onnx_with_spec("[1, 2]")),
        Case("openvino.garbage_xml", "info", "exported files", ["info", "{f}"], "refuse",
             m.text("f", "<net><broken", ".xml")),
        Case("openvino.xml_without_bin", "info", "exported files", ["info", "{f}"], "refuse",
             m.text("f", '<?xml version="1.0"?>\n<net name="x" version="11"><layers></layers><edges></edges></net>\n',
                    ".xml")),
        Case("tensorrt.random_engine", "info", "exported files", ["info", "{f}"], "refuse",
             m.raw("f", junk, ".engine")),
        Case("onnx.ok_info", "info", "sanity", ["info", "{onnx}", "--json"], "ok"),
    ]  # fmt: skip


def _onnx_with_spec(spec_text: str) -> m.Setup:
    def setup(case_dir, places):  # noqa: ANN001, ANN202
        import onnx

        proto = onnx.load(places["onnx"])
        for prop in proto.metadata_props:
            if prop.key == "edgepose.spec":
                prop.value = spec_text
        path = case_dir / "f.onnx"
        onnx.save(proto, str(path))
        return {"f": str(path)}

    return setup


def nan_output_cases() -> list[Case]:
    nan_last = m.checkpoint(_fill_last(NAN))
    inf_last = m.checkpoint(_fill_last(math.inf))
    return [
        Case("nanout.eval_nan_weights", "eval", "model outputs NaN", ["eval", "{ckpt}", "--data", "{coco}", "--json"],
             "refuse", nan_last, "nan|finite"),
        Case("nanout.eval_inf_weights", "eval", "model outputs NaN", ["eval", "{ckpt}", "--data", "{coco}", "--json"],
             "refuse", inf_last, "nan|inf|finite"),
        Case("nanout.eval_onnx_of_nan_model", "eval", "model outputs NaN",
             ["eval", "{ckpt}", "--data", "{coco}", "--runtime", "onnxruntime", "--json"], "refuse", nan_last,
             "nan|finite"),
        Case("nanout.export_nan_model", "export", "model outputs NaN", ["export", "{ckpt}", "-o", "n.onnx"], "refuse",
             nan_last, "nan|finite"),
        Case("nanout.eval_yolo_nan_weights", "eval", "model outputs NaN",
             ["eval", "{ckpt}", "--data", "{coco}", "--json", "--batch", "2"], "refuse",
             m.checkpoint(_fill_last(NAN), source="yolo_ep"), "nan|finite", needs=("yolo_ep",), timeout_s=240),
        Case("nanout.bench_nan_model", "bench", "model outputs NaN", ["bench", "{ckpt}", "--iters", "3", "--json"],
             "either", nan_last),
    ]  # fmt: skip


def factory_cases() -> list[Case]:
    base = ["info", "--model-factory"]
    return [
        Case("factory.ok", "info", "user factory", [*base, "{factory_ok}:build", "--input-size", "64x64", "--json"], "ok"),
        Case("factory.raises", "info", "user factory", [*base, "{factory_raises}:build"], "refuse"),
        Case("factory.syntax_error", "info", "user factory", [*base, "{factory_syntax}:build"], "refuse"),
        Case("factory.returns_int", "info", "user factory", [*base, "{factory_not_module}:build"], "refuse"),
        Case("factory.import_error", "info", "user factory", [*base, "{factory_import_error}:build"], "refuse"),
        Case("factory.missing_file", "info", "user factory", [*base, "nope.py:build"], "refuse"),
        Case("factory.no_colon", "info", "user factory", [*base, "{factory_ok}"], "refuse"),
        Case("factory.missing_function", "info", "user factory", [*base, "{factory_ok}:nope"], "refuse"),
        Case("factory.bad_module", "info", "user factory", [*base, "no.such.module:build"], "refuse"),
    ]  # fmt: skip


def import_cases() -> list[Case]:
    imp = ["import", "ultralytics"]
    return [
        Case("import.ok", "import ultralytics", "sanity", [*imp, "{yolo}", "-o", "y.pt", "--json"], "ok",
             needs=("yolo",), timeout_s=240),
        Case("import.missing", "import ultralytics", "checkpoint files", [*imp, "nope.pt", "-o", "y.pt"], "refuse"),
        Case("import.random_bytes", "import ultralytics", "checkpoint files", [*imp, "{f}", "-o", "y.pt"], "refuse",
             m.raw("f", m.random_bytes(4096, 6), ".pt"), None, "pickled"),
        Case("import.empty", "import ultralytics", "checkpoint files", [*imp, "{f}", "-o", "y.pt"], "refuse",
             m.raw("f", b"", ".pt")),
        Case("import.folder", "import ultralytics", "checkpoint files", [*imp, "{f}", "-o", "y.pt"], "refuse",
             m.folder("f")),
        Case("import.truncated", "import ultralytics", "checkpoint files", [*imp, "{f}", "-o", "y.pt"], "refuse",
             m.raw("f", m.truncated("yolo", 0.5), ".pt"), needs=("yolo",)),
        Case("import.edgepose_checkpoint", "import ultralytics", "checkpoint files", [*imp, "{tiny}", "-o", "y.pt"],
             "refuse"),
        Case("import.pickled_model", "import ultralytics", "checkpoint files",
             [*imp, "{pickled_model}", "-o", "y.pt"], "refuse"),
        Case("import.input_size_zero", "import ultralytics", "options", [*imp, "{yolo}", "-o", "y.pt", "--input-size", "0x0"],
             "refuse", needs=("yolo",)),
        Case("import.input_size_not_32", "import ultralytics", "options",
             [*imp, "{yolo}", "-o", "y.pt", "--input-size", "33x47"], "either", needs=("yolo",)),
        Case("import.input_size_text", "import ultralytics", "options",
             [*imp, "{yolo}", "-o", "y.pt", "--input-size", "big"], "refuse", needs=("yolo",)),
        Case("import.out_is_input", "import ultralytics", "output = input", [*imp, "{y}", "-o", "{y}"], "refuse",
             m.copy_of("y", "yolo"), needs=("yolo",)),
        Case("import.missing_out", "import ultralytics", "usage", [*imp, "{tiny}"], "refuse"),
    ]  # fmt: skip


def all_cases() -> list[Case]:
    return checkpoint_cases() + exported_cases() + nan_output_cases() + factory_cases() + import_cases()
