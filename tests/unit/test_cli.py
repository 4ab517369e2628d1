"""The CLI contract: --help everywhere, exit codes, one-line errors, clean --json stdout, light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgepose.cli.app import COMMANDS

FACTORY_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "user_model.py"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgepose", *args], capture_output=True, text=True, timeout=300
    )


def test_root_help_lists_every_command_and_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom edgepose.cli.app import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'openvino', 'tensorrt', 'nncf') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stdout
    for name, _ in COMMANDS:
        assert name in result.stdout


def test_import_edgepose_is_light() -> None:
    code = "import sys, edgepose; print([m for m in ('torch','onnxruntime','openvino','tensorrt') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [name for name, _ in COMMANDS])
def test_every_command_has_help_with_an_example(command: str) -> None:
    from edgepose.cli.app import main

    argv = ["bench", "compare", "--help"] if command == "bench-compare" else [command, "--help"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0


def test_help_texts_carry_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    from edgepose.cli.app import main

    for name, _ in COMMANDS:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        assert "Example" in capsys.readouterr().out, name


def test_truncated_checkpoint_exits_2_with_one_line(tmp_path: Path) -> None:
    from edgepose.artifact import Artifact, ModelSpec
    from edgepose.checkpoint import save_checkpoint
    from edgepose.models import build_model

    spec = ModelSpec(input_size=(64, 48))
    path = save_checkpoint(Artifact(spec=spec, model=build_model("simplebaseline-lite"), arch="simplebaseline-lite"), tmp_path / "m.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:5000])
    result = run_cli("info", str(cut))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "truncated or corrupt" in result.stderr and result.stdout == ""


def test_pickled_whole_model_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 17, 1)), path)
    result = run_cli("info", str(path), "--json")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "arbitrary code" in result.stderr


def test_missing_file_exits_2_and_debug_shows_traceback(tmp_path: Path) -> None:
    result = run_cli("info", str(tmp_path / "nope.pt"))
    assert result.returncode == 2 and result.stderr.strip() == f"error: file not found: {tmp_path / 'nope.pt'}"
    debug = run_cli("info", str(tmp_path / "nope.pt"), "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_usage_error_exits_2() -> None:
    result = run_cli("info", "--no-such-option")
    assert result.returncode == 2


def test_info_shows_a_model_factory_network_as_json() -> None:
    result = run_cli("info", "--model-factory", f"{FACTORY_FILE}:build", "--input-size", "64x48", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["arch"] == "factory" and data["spec"]["head"] == "heatmap"
    assert data["output_shapes"] == [[1, 17, 16, 12]] and data["params"] > 0


def test_zoo_json_lists_every_architecture() -> None:
    from edgepose.models import MODELS

    result = run_cli("zoo", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == MODELS.names()
    for row in rows:
        assert {"name", "params", "gflops", "input_size", "schema", "kind"} <= set(row)
        assert row["params"] > 0 and row["gflops"] > 0
        assert row["gflops_per_frame"] * (row["clip_length"] or 1) == pytest.approx(row["gflops"], abs=0.003)
