"""Options, output paths, recipes / --set, Click usage errors, interrupts and concurrent runs."""

from __future__ import annotations

from probe import mutate as m
from probe.case import Case
from probe.cases_data import finite_metrics

TRAIN = ["train", "simplebaseline-lite", "--data", "{synth}", "--kw", "width=0.25", "--kw", "deconv_channels=32",
         "--input-size", "64x64", "--workers", "0", "--batch", "4", "--epochs", "1"]  # fmt: skip
FAST_PRUNE = ["--runtime", "none"]
FAST_GHOST = ["--runtime", "none", "--calib-images", "0"]
QUANT = ["quantize", "{tiny}", "--calib", "{coco}", "--calib-images", "4", "--iters", "2"]


def _opt_cases(cmd: str, base: list[str], options: list[tuple[str, list[str]]], expect: str = "refuse",
               category: str = "out-of-range options", timeout_s: float = 120) -> list[Case]:  # fmt: skip
    return [Case(f"opt.{cmd.replace(' ', '_')}.{cid}", cmd, category, [*base, *extra], expect, timeout_s=timeout_s)
            for cid, extra in options]  # fmt: skip


def option_cases() -> list[Case]:
    train_tail = ["-o", "t.pt"]
    cases = _opt_cases("train", [*TRAIN, *train_tail], [
        ("epochs_0", ["--epochs", "0"]), ("epochs_negative", ["--epochs", "-1"]), ("epochs_text", ["--epochs", "abc"]),
        ("epochs_huge", ["--epochs", "10" + "0" * 30]), ("epochs_float", ["--epochs", "1.5"]),
        ("lr_0", ["--lr", "0"]), ("lr_negative", ["--lr", "-0.1"]), ("lr_nan", ["--lr", "nan"]),
        ("lr_inf", ["--lr", "inf"]), ("lr_text", ["--lr", "abc"]), ("lr_divergent", ["--lr", "1e30"]),
        ("batch_0", ["--batch", "0"]), ("batch_negative", ["--batch", "-4"]), ("workers_negative", ["--workers", "-1"]),
        ("val_every_0", ["--val-every", "0"]), ("val_limit_0", ["--val-limit", "0"]), ("threads_0", ["--threads", "0"]),
        ("input_size_0x0", ["--input-size", "0x0"]), ("input_size_text", ["--input-size", "big"]),
        ("input_size_one_number", ["--input-size", "64"]), ("input_size_huge", ["--input-size", "100000x100000"]),
        ("kw_unknown", ["--kw", "colour=blue"]), ("kw_no_equals", ["--kw", "width"]), ("kw_width_nan", ["--kw", "width=nan"]),
        ("kw_width_text", ["--kw", "width=wide"]), ("kw_width_negative", ["--kw", "width=-1"]),
        ("arch_unknown", ["--kw", "width=0.25"]),
        ("data_missing", ["--data", "nope.json"]), ("val_missing", ["--val", "nope.json"]),
        ("init_random_bytes", ["--init", "{junk}"]), ("init_other_arch", ["--init", "{demo}"]),
    ], timeout_s=90)  # fmt: skip
    for case in cases:
        if case.id == "opt.train.init_other_arch":  # a partial init is allowed, but it must be said
            case.expect, case.check = "either", _mentions("random init")
        if case.id == "opt.train.arch_unknown":
            case.args[1] = "no-such-arch"
        if case.id == "opt.train.init_random_bytes":
            case.setup = m.raw("junk", m.random_bytes(4096, 7), ".pt")
    cases += _opt_cases("eval", ["eval", "{tiny}", "--data", "{coco}"], [
        ("batch_0", ["--batch", "0"]), ("limit_0", ["--limit", "0"]), ("limit_negative", ["--limit", "-1"]),
        ("decode_unknown", ["--decode", "magic"]), ("runtime_unknown", ["--runtime", "magic"]),
        ("runtime_tensorrt_missing", ["--runtime", "tensorrt"]), ("device_cuda_absent", ["--device", "cuda"]),
        ("device_unknown", ["--device", "tpu"]), ("threads_0", ["--threads", "0"]), ("threads_negative", ["--threads", "-2"]),
        ("schema_unknown", ["--schema", "coco999"]), ("workers_negative", ["--workers", "-1"]),
    ])  # fmt: skip
    cases.append(Case("opt.eval.limit_huge", "eval", "out-of-range options",
                      ["eval", "{tiny}", "--data", "{coco}", "--limit", "9" * 30], "either"))  # more than there is: all
    cases += _opt_cases("export", ["export", "{tiny}", "-o", "x.onnx"], [
        ("opset_0", ["--opset", "0"]), ("opset_5", ["--opset", "5"]), ("opset_999", ["--opset", "999"]),
        ("verify_samples_negative", ["--verify-samples", "-1"]), ("verify_samples_0", ["--verify-samples", "0"]),
        ("tolerance_negative", ["--tolerance", "-1"]), ("tolerance_nan", ["--tolerance", "nan"]),
        ("tolerance_text", ["--tolerance", "tight"]), ("precision_fp64", ["--precision", "fp64"]),
        ("precision_int8_from_fp32", ["--precision", "int8"]), ("format_unknown", ["--format", "tflite"]),
        ("max_batch_0", ["--max-batch", "0"]), ("max_batch_negative", ["--max-batch", "-1"]),
        ("verify_data_nan_gt", ["--verify-data", "{ann}"]), ("verify_data_missing", ["--verify-data", "nope.json"]),
    ])  # fmt: skip
    for case in cases:
        if case.id == "opt.export.verify_data_nan_gt":
            case.setup = m.coco(m.kp(1, 15, float("nan")))
    cases += _opt_cases("export", ["export", "{tiny}", "--format", "onnx"], [
        ("format_vs_extension_xml", ["-o", "x.xml"]), ("format_vs_extension_engine", ["-o", "x.engine"]),
        ("format_vs_extension_txt", ["-o", "x.txt"]), ("no_extension", ["-o", "model"]),
    ], category="export format vs extension")  # fmt: skip
    cases += _opt_cases("export", ["export", "{tiny}", "--format", "openvino"], [
        ("openvino_to_onnx_name", ["-o", "x.onnx"]),
    ], category="export format vs extension")  # fmt: skip
    cases += _opt_cases("bench", ["bench", "{onnx}"], [
        ("iters_0", ["--iters", "0"]), ("iters_negative", ["--iters", "-5"]), ("warmup_negative", ["--warmup", "-1"]),
        ("batch_0", ["--batch", "0"]), ("batch_text", ["--batch", "a,b"]), ("batch_empty_item", ["--batch", "1,,8"]),
        ("batch_negative", ["--batch", "-1"]), ("seconds_0", ["--seconds", "0"]), ("seconds_negative", ["--seconds", "-1"]),
        ("seconds_nan", ["--seconds", "nan"]), ("threads_0", ["--threads", "0"]), ("threads_negative", ["--threads", "-1"]),
        ("runtime_unknown", ["--runtime", "magic"]), ("precision_int8", ["--precision", "int8"]),
        ("device_cuda_absent", ["--device", "cuda"]), ("iters_huge", ["--iters", "9" * 25]),
    ])  # fmt: skip
    cases += _opt_cases("bench compare", ["bench", "compare", "{onnx}", "{onnx}", "--iters", "5"], [
        ("fail_if_slower_text", ["--fail-if-slower", "lots"]), ("fail_if_slower_negative", ["--fail-if-slower", "-5%"]),
        ("fail_if_slower_nan", ["--fail-if-slower", "nan%"]), ("iters_0", ["--iters", "0"]),
        ("iters_1", ["--iters", "1"]), ("resamples_0", ["--resamples", "0"]), ("runtime_b_unknown", ["--runtime-b", "magic"]),
        ("threads_0", ["--threads", "0"]), ("warmup_negative", ["--warmup", "-1"]),
    ])  # fmt: skip
    cases += [
        Case("opt.bench_compare.missing_b", "bench compare", "usage", ["bench", "compare", "{onnx}"], "refuse"),
        Case("opt.bench_compare.b_missing_file", "bench compare", "missing / wrong files",
             ["bench", "compare", "{onnx}", "nope.onnx"], "refuse"),
    ]  # fmt: skip
    cases += _opt_cases("quantize", [*QUANT, "-o", "q.onnx"], [
        ("mode_unknown", ["--mode", "magic"]), ("backend_unknown", ["--backend", "magic"]),
        ("method_unknown", ["--method", "magic"]), ("calib_images_0", ["--calib-images", "0"]),
        ("max_drop_negative", ["--max-drop", "-1", "--eval", "{coco}"]),
        ("max_drop_nan", ["--max-drop", "nan", "--eval", "{coco}"]), ("max_drop_without_eval", ["--max-drop", "1"]),
        ("distill_2", ["--distill", "2"]), ("epochs_negative", ["--epochs", "-1"]), ("lr_nan", ["--lr", "nan"]),
        ("iters_1", ["--iters", "1"]), ("eval_limit_0", ["--eval-limit", "0", "--eval", "{coco}"]),
        ("qat_without_data", ["--mode", "qat"]), ("threads_0", ["--threads", "0"]),
        ("calib_nan_gt", ["--calib", "{ann}"]), ("calib_missing", ["--calib", "nope.json"]),
        ("calib_truncated_image", ["--calib", "{ann}"]),
    ])  # fmt: skip
    for case in cases:
        if case.id == "opt.quantize.calib_nan_gt":
            case.setup = m.coco(m.kp(1, 15, float("nan")))
        if case.id == "opt.quantize.calib_truncated_image":
            case.setup = m.image_files(lambda img, doc: (img / "002.jpg").write_bytes((img / "002.jpg").read_bytes()[:300]))
            case.match = "truncated"
    cases += _opt_cases("quantize", [*QUANT], [
        ("backend_onnxruntime_xml", ["--backend", "onnxruntime", "-o", "q.xml"]),
        ("backend_openvino_onnx", ["--backend", "openvino", "-o", "q.onnx"]),
    ], category="export format vs extension")  # fmt: skip
    prune = ["prune", "{tiny}", "-o", "p.pt", *FAST_PRUNE]
    cases += _opt_cases("prune", prune, [
        ("ratio_1_5", ["--ratio", "1.5"]), ("ratio_negative", ["--ratio", "-0.1"]), ("ratio_1", ["--ratio", "1.0"]),
        ("ratio_nan", ["--ratio", "nan"]), ("method_unknown", ["--method", "magic"]),
        ("importance_unknown", ["--importance", "magic"]), ("iterative_0", ["--iterative", "0"]),
        ("round_to_negative", ["--round-to", "-1"]), ("max_layer_ratio_2", ["--max-layer-ratio", "2"]),
        ("target_gflops_0", ["--target-gflops", "0"]), ("target_gflops_1_5", ["--target-gflops", "1.5"]),
        ("target_gflops_nan", ["--target-gflops", "nan"]), ("distill_2", ["--distill", "2"]),
        ("distill_negative", ["--distill", "-1"]), ("epochs_negative", ["--epochs", "-1", "--finetune-data", "{synth}"]),
        ("lr_nan", ["--lr", "nan", "--finetune-data", "{synth}"]), ("batch_size_0", ["--batch-size", "0"]),
        ("iters_0", ["--iters", "0"]), ("runtime_unknown_after_none", ["--runtime", "magic"]),
        ("eval_limit_0", ["--eval-limit", "0", "--eval", "{coco}"]), ("threads_0", ["--threads", "0"]),
        ("finetune_data_missing", ["--finetune-data", "nope.json"]),
    ])  # fmt: skip
    ghost = ["ghost", "{tiny}", "-o", "g.pt", *FAST_GHOST]
    cases += _opt_cases("ghost", ghost, [
        ("ratio_1", ["--ratio", "1"]), ("ratio_0", ["--ratio", "0"]), ("ratio_negative", ["--ratio", "-2"]),
        ("dw_kernel_even", ["--dw-kernel", "2"]), ("dw_kernel_0", ["--dw-kernel", "0"]),
        ("calib_images_negative", ["--calib-images", "-1"]), ("distill_2", ["--distill", "2"]),
        ("lr_nan", ["--lr", "nan", "--finetune-data", "{synth}"]), ("epochs_negative", ["--epochs", "-1", "--finetune-data", "{synth}"]),
        ("batch_size_0", ["--batch-size", "0"]), ("iters_0", ["--iters", "0"]), ("max_steps_0", ["--max-steps", "0"]),
        ("threads_0", ["--threads", "0"]), ("calib_missing", ["--calib", "nope.json"]),
    ])  # fmt: skip
    cases += _opt_cases("synth", ["synth", "s"], [
        ("persons_0", ["--persons", "0"]), ("persons_negative", ["--persons", "-1"]),
        ("frames_0", ["--sequences", "--frames", "0"]), ("image_size_0x0", ["--image-size", "0x0"]),
        ("image_size_text", ["--image-size", "big"]), ("difficulty_unknown", ["--difficulty", "insane"]),
        ("workers_0", ["--workers", "0"]), ("workers_negative", ["--workers", "-1"]),
        ("persons_huge", ["--persons", "9" * 20]),
    ], timeout_s=60)  # fmt: skip
    cases += [
        Case("opt.synth.out_dir_is_file", "synth", "output paths", ["synth", "{f}"], "refuse", m.text("f", "x")),
        Case("opt.synth.exists_without_force", "synth", "output paths", ["synth", "{d}"], "refuse",
             m.folder("d", {"annotations.json": "{}"})),
    ]  # fmt: skip
    return cases


def output_cases() -> list[Case]:
    """-o naming an input, and outputs that cannot be written."""
    same = "output = input"
    cases = [
        Case("out.export.o_is_model", "export", same, ["export", "{m}", "-o", "{m}"], "refuse", m.copy_of("m", "tiny")),
        Case("out.export.o_is_onnx_input", "export", same, ["export", "{m}", "-f", "onnx", "-o", "{m}"], "refuse",
             m.copy_of("m", "onnx")),
        Case("out.export.o_is_verify_data", "export", same, ["export", "{tiny}", "-o", "{ann}", "--verify-data", "{ann}"],
             "refuse", m.coco()),
        Case("out.export.o_is_model_other_spelling", "export", same, ["export", "{m}", "-o", "./sub/../tiny.pt"],
             "refuse", m.chain(m.copy_of("m", "tiny"), m.folder("sub"))),
        Case("out.export.o_is_symlink_to_model", "export", same, ["export", "{m}", "-o", "link.onnx"], "refuse",
             m.chain(m.copy_of("m", "tiny"), _symlink("link.onnx", "tiny.pt"))),
        Case("out.prune.o_is_model", "prune", same, ["prune", "{m}", "-o", "{m}", *FAST_PRUNE], "refuse",
             m.copy_of("m", "tiny")),
        Case("out.prune.o_is_finetune_data", "prune", same,
             ["prune", "{tiny}", "-o", "{ann}", "--finetune-data", "{ann}", *FAST_PRUNE], "refuse", m.coco()),
        Case("out.prune.o_is_eval_data", "prune", same, ["prune", "{tiny}", "-o", "{ann}", "--eval", "{ann}", *FAST_PRUNE],
             "refuse", m.coco()),
        Case("out.ghost.o_is_model", "ghost", same, ["ghost", "{m}", "-o", "{m}", *FAST_GHOST], "refuse",
             m.copy_of("m", "tiny")),
        Case("out.ghost.o_is_calib", "ghost", same, ["ghost", "{tiny}", "-o", "{ann}", "--calib", "{ann}", "--runtime", "none"],
             "refuse", m.coco()),
        Case("out.quantize.o_is_model", "quantize", same, ["quantize", "{m}", "--calib", "{coco}", "-o", "{m}",
                                                          "--calib-images", "4", "--iters", "2"], "refuse",
             m.copy_of("m", "onnx")),
        Case("out.quantize.o_is_calib", "quantize", same,
             ["quantize", "{tiny}", "--calib", "{ann}", "-o", "{ann}", "--calib-images", "4"], "refuse", m.coco()),
        Case("out.eval.out_is_data", "eval", same, ["eval", "{tiny}", "--data", "{ann}", "--out", "{ann}"], "refuse",
             m.coco()),
        Case("out.eval.out_is_model", "eval", same, ["eval", "{m}", "--data", "{coco}", "--out", "{m}"], "refuse",
             m.copy_of("m", "tiny")),
        Case("out.eval.out_is_predictions", "eval --predictions", same,
             ["eval", "--predictions", "{p}", "--data", "{coco}", "--out", "{p}"], "refuse", m.copy_of("p", "preds")),
        Case("out.train.o_is_data", "train", same, [*TRAIN, "--data", "{ann}", "-o", "{ann}"], "refuse",
             m.coco(images="copy")),
        Case("out.train.o_is_val", "train", same, [*TRAIN, "--val", "{ann}", "-o", "{ann}"], "refuse", m.coco()),
        Case("out.train.o_is_init", "train", same, [*TRAIN, "--init", "{m}", "-o", "{m}"], "refuse",
             m.copy_of("m", "tiny")),
        Case("out.import.o_is_input", "import ultralytics", same, ["import", "ultralytics", "{m}", "-o", "{m}"],
             "refuse", m.copy_of("m", "tiny")),
        Case("out.optimize.out_is_model_file", "optimize", same,
             ["optimize", "{m}", "--recipe", "{recipe}", "--data", "{coco}", "--out", "{m}"], "refuse",
             m.copy_of("m", "tiny")),
    ]  # fmt: skip
    impossible = [
        ("folder", "{d}", m.folder("d")),
        ("under_a_file", "{f}/x.onnx", m.text("f", "x")),
        ("proc_file", "/proc/version", None),
        ("proc_new_file", "/proc/edgepose-probe.onnx", None),
        ("root_dir", "/", None),
        ("empty_string", "", None),
        ("name_too_long", "x" * 300 + ".onnx", None),
    ]
    for cid, path, setup in impossible:
        cases.append(Case(f"out.export.{cid}", "export", "output paths", ["export", "{tiny}", "-o", path], "refuse",
                          setup))  # fmt: skip
    for cmd, args in (
        ("eval", ["eval", "{tiny}", "--data", "{coco}", "--out"]),
        ("prune", ["prune", "{tiny}", *FAST_PRUNE, "-o"]),
        ("ghost", ["ghost", "{tiny}", *FAST_GHOST, "-o"]),
        ("quantize", [*QUANT, "-o"]),
        ("train", [*TRAIN, "-o"]),
    ):
        cases.append(Case(f"out.{cmd}.under_a_file", cmd, "output paths", [*args, "{f}/x.out"], "refuse",
                          m.text("f", "x")))  # fmt: skip
        cases.append(Case(f"out.{cmd}.proc", cmd, "output paths", [*args, "/proc/edgepose-probe.out"], "refuse"))
    cases.append(Case("out.optimize.out_under_a_file", "optimize", "output paths",
                      ["optimize", "{tiny}", "--recipe", "{recipe}", "--data", "{coco}", "--out", "{f}/run"], "refuse",
                      m.text("f", "x")))  # fmt: skip
    return cases


def _mentions(text: str):  # noqa: ANN202
    def check(out):  # noqa: ANN001, ANN202
        return None if text in out.stderr else f"exit 0 without saying '{text}' on stderr"

    return check


def _symlink(name: str, target: str) -> m.Setup:
    def setup(case_dir, places):  # noqa: ANN001, ANN202
        (case_dir / name).symlink_to(case_dir / target)
        return {}

    return setup


RECIPE_WRONG_KEY = "schema_version: 1\nname: x\npasses: []\nbenchmrk:\n  iters: 5\n"
RECIPE_TAG = "schema_version: 1\nname: !!python/object/apply:os.getcwd []\npasses: []\n"
RECIPE_ANCHORS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join('*' + p for _ in range(9))}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def recipe_cases() -> list[Case]:
    opt = ["optimize", "{tiny}", "--data", "{coco}", "--out", "run"]
    rec = [*opt, "--recipe"]
    cases = [
        Case("recipe.missing", "optimize", "recipes", [*rec, "nope.yaml"], "refuse"),
        Case("recipe.unknown_name", "optimize", "recipes", [*rec, "cpu-magic"], "refuse"),
        Case("recipe.wrong_key", "optimize", "recipes", [*rec, "{r}"], "refuse", m.text("r", RECIPE_WRONG_KEY, ".yaml")),
        Case("recipe.yaml_python_tag", "optimize", "recipes", [*rec, "{r}"], "refuse", m.text("r", RECIPE_TAG, ".yaml")),
        Case("recipe.not_yaml", "optimize", "recipes", [*rec, "{r}"], "refuse", m.text("r", "{[: :", ".yaml")),
        Case("recipe.empty", "optimize", "recipes", [*rec, "{r}"], "refuse", m.text("r", "", ".yaml")),
        Case("recipe.random_bytes", "optimize", "recipes", [*rec, "{r}"], "refuse",
             m.raw("r", m.random_bytes(2000, 8), ".yaml")),
        Case("recipe.deeply_nested", "optimize", "recipes", [*rec, "{r}"], "refuse",
             m.text("r", "[" * 50_000 + "]" * 50_000, ".yaml")),
        Case("recipe.billion_laughs", "optimize", "recipes", [*rec, "{r}"], "refuse",
             m.text("r", RECIPE_ANCHORS, ".yaml"), timeout_s=60),
        Case("recipe.folder", "optimize", "recipes", [*rec, "{d}"], "refuse", m.folder("d")),
        Case("recipe.train_recipe_wrong_key", "train", "recipes", ["train", "--recipe", "{r}"], "refuse",
             m.text("r", "arch: simplebaseline-lite\nbogus: 1\n", ".yaml")),
        Case("recipe.train_recipe_tag", "train", "recipes", ["train", "--recipe", "{r}"], "refuse",
             m.text("r", "arch: !!python/object/apply:os.getcwd []\n", ".yaml")),
        Case("recipe.list", "optimize", "sanity", ["optimize", "--list"], "ok"),
    ]  # fmt: skip
    sets = [
        ("yaml_tag", "gates.max_metric_drop=!!python/object/apply:os.getcwd []"),
        ("yaml_tag_str", "name=!!python/name:os.system"),
        ("unknown_key", "gates.bogus=1"),
        ("no_equals", "gates.max_metric_drop"),
        ("text_for_number", "gates.max_metric_drop=abc"),
        ("nan", "gates.max_metric_drop=nan"),
        ("negative", "gates.max_metric_drop=-1"),
        ("iters_0", "benchmark.iters=0"),
        ("index_out_of_range", "passes.5.mode=ptq"),
        ("empty_key", "=1"),
        ("parity_negative", "gates.max_parity_error=-1"),
        ("yaml_flow_garbage", "gates={[: :"),
    ]
    for cid, value in sets:
        cases.append(Case(f"set.{cid}", "optimize", "--set", [*rec, "{recipe}", "--set", value], "refuse"))
    cases.append(Case("set.ok_applies", "optimize", "sanity", [*rec, "{recipe}", "--set", "benchmark.iters=3", "--json"],
                      "ok", check=_report_has_iters(3), timeout_s=180))  # fmt: skip
    return cases


def _report_has_iters(n: int):  # noqa: ANN202
    def check(out):  # noqa: ANN001, ANN202
        import json

        report = out.case_dir / "run" / "report.json"
        if not report.exists():
            return "no run/report.json"
        text = report.read_text()
        try:
            json.loads(text, parse_constant=lambda t: (_ for _ in ()).throw(ValueError(t)))
        except ValueError as exc:
            return f"report.json is not strict JSON ({exc})"
        return None

    return check


def usage_cases() -> list[Case]:
    """Click's own errors: one line, exit 2."""
    return [
        Case(f"usage.{cid}", args[0] if args else "(none)", "usage errors", args, "refuse")
        for cid, args in [
            ("unknown_command", ["frobnicate"]),
            ("unknown_option", ["zoo", "--bogus"]),
            ("eval_missing_data", ["eval", "{tiny}"]),
            ("eval_data_without_value", ["eval", "{tiny}", "--data"]),
            ("train_epochs_without_value", ["train", "simplebaseline-lite", "--epochs"]),
            ("bench_iters_text", ["bench", "{onnx}", "--iters", "abc"]),
            ("export_unknown_option", ["export", "{tiny}", "--bogus", "1"]),
            ("quantize_distill_out_of_range", ["quantize", "{tiny}", "--distill", "2"]),
            ("eval_batch_below_min", ["eval", "{tiny}", "--data", "{coco}", "--batch", "0"]),
            ("synth_missing_out_dir", ["synth"]),
            ("zoo_extra_argument", ["zoo", "extra"]),
            ("import_missing_checkpoint", ["import", "ultralytics"]),
            ("bench_compare_no_models", ["bench", "compare"]),
            ("info_no_model", ["info"]),
        ]
    ]


def sanity_cases() -> list[Case]:
    """Valid commands: exit 0 and strict JSON (the probe would be worthless if these failed)."""
    return [
        Case("ok.zoo", "zoo", "sanity", ["zoo", "--json"], "ok"),
        Case("ok.info_demo", "info", "sanity", ["info", "{demo}", "--json"], "ok"),
        Case("ok.synth", "synth", "sanity", ["synth", "s", "--persons", "3", "--image-size", "64x64", "--json"], "ok"),
        Case("ok.eval_synth", "eval", "sanity", ["eval", "{tiny}", "--data", "{synth}", "--json"], "ok",
             check=finite_metrics),
        Case("ok.eval_out_file", "eval", "sanity", ["eval", "{tiny}", "--data", "{coco}", "--out", "e.json", "--json"],
             "ok", check=_strict_file("e.json")),
        Case("ok.eval_onnx", "eval", "sanity", ["eval", "{onnx}", "--data", "{coco}", "--json"], "ok",
             check=finite_metrics),
        Case("ok.export", "export", "sanity", ["export", "{tiny}", "-o", "x.onnx", "--json"], "ok"),
        Case("ok.export_yolo_parity", "export", "sanity", ["export", "{yolo_ep}", "-o", "y.onnx", "--json"], "ok",
             needs=("yolo_ep",), timeout_s=300),
        Case("ok.bench", "bench", "sanity", ["bench", "{onnx}", "--iters", "3", "--json"], "ok"),
        Case("ok.bench_compare", "bench compare", "sanity",
             ["bench", "compare", "{onnx}", "{onnx}", "--iters", "6", "--fail-if-slower", "500%", "--json"], "ok"),
        Case("ok.train", "train", "sanity", [*TRAIN, "-o", "t.pt", "--json"], "ok"),
        Case("ok.prune", "prune", "sanity", ["prune", "{tiny}", "-o", "p.pt", *FAST_PRUNE, "--json"], "ok"),
        Case("ok.ghost", "ghost", "sanity", ["ghost", "{tiny}", "-o", "g.pt", *FAST_GHOST, "--json"], "ok"),
        Case("ok.quantize", "quantize", "sanity", [*QUANT, "-o", "q.onnx", "--json"], "ok", timeout_s=240),
        Case("ok.optimize", "optimize", "sanity",
             ["optimize", "{tiny}", "--recipe", "{recipe}", "--data", "{coco}", "--out", "run", "--json"], "ok",
             timeout_s=240),
    ]  # fmt: skip


def _strict_file(name: str):  # noqa: ANN202
    def check(out):  # noqa: ANN001, ANN202
        from probe.case import strict_json

        try:
            strict_json((out.case_dir / name).read_text())
        except (OSError, ValueError) as exc:
            return f"{name}: {exc}"
        return None

    return check


def signal_cases() -> list[Case]:
    """Ctrl-C (SIGINT to the process group) once the command is working: exit 130, one line."""
    return [
        Case("sigint.optimize", "optimize", "interrupts",
             ["optimize", "{tiny}", "--recipe", "{recipe}", "--data", "{synth}", "--out", "run"], "interrupt",
             signal_after_s=7.0),
        Case("sigint.train", "train", "interrupts", [*TRAIN, "--epochs", "50", "-o", "t.pt"], "interrupt",
             signal_after_s=8.0),
        Case("sigint.train_workers", "train", "interrupts", [*TRAIN, "--epochs", "50", "--workers", "1", "-o", "t.pt"],
             "interrupt", signal_after_s=10.0),
        Case("sigint.bench", "bench", "interrupts", ["bench", "{onnx}", "--seconds", "60"], "interrupt",
             signal_after_s=6.0),
        Case("sigint.quantize", "quantize", "interrupts", [*QUANT, "-o", "q.xml", "--backend", "openvino"], "interrupt",
             signal_after_s=7.0),
        Case("lock.optimize_twice", "optimize", "concurrency",
             ["optimize", "{tiny}", "--recipe", "{recipe}", "--data", "{coco}", "--out", "run"], "lock", timeout_s=240),
    ]  # fmt: skip


def all_cases() -> list[Case]:
    return option_cases() + output_cases() + recipe_cases() + usage_cases() + sanity_cases() + signal_cases()
