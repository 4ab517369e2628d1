"""A wheel installed outside the repository works: recipes, training recipes and the demo checkpoint ship as
package data, and the commands find them there.

The wheel is built from a copy of the tracked files, installed with --no-deps into a fresh venv in a temp
folder, and run from another temp folder (so nothing of the checkout is on the path). The fresh venv reads
the already-installed dependencies (torch, onnx, ...) through a .pth line naming this venv's site-packages:
that keeps the test offline and fast, and such a line adds a path without running the editable install's
own import hook, so `edgepose` can only come from the wheel (the test checks where it came from).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tracked_files() -> list[str]:
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("not a git checkout: cannot tell which files a wheel would be built from")
    return [name for name in done.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv with the edgepose wheel installed (no deps), outside the repository."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    for name in _tracked_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    dist = base / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(dist.glob("edgepose-*.whl"))
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())  # fmt: skip
    (site / "edgepose-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    done = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return env_dir / "bin"


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(bin_dir / "edgepose"), *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=env, check=False)  # fmt: skip


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(installed / "python"), "-c", "import edgepose; print(edgepose.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.strip()  # fmt: skip
    assert Path(where).resolve().is_relative_to(installed.parent.resolve()), where
    assert not Path(where).resolve().is_relative_to(ROOT)


def test_version_zoo_and_recipes_run_outside_the_repository(installed: Path, tmp_path: Path) -> None:
    from edgepose.version import __version__

    version = _run(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"edgepose {__version__}", version.stderr
    zoo = _run(installed, "zoo", "--json", cwd=tmp_path)
    assert zoo.returncode == 0, zoo.stderr
    assert "simplebaseline-resnet50" in {row["name"] for row in json.loads(zoo.stdout)}
    recipes = _run(installed, "optimize", "--list", "--json", cwd=tmp_path)
    assert recipes.returncode == 0, recipes.stderr
    assert {"cpu-int8", "cpu-fast"} <= {row["name"] for row in json.loads(recipes.stdout)}
    training = _run(installed, "train", "--list", "--json", cwd=tmp_path)
    assert training.returncode == 0 and "demo-coco17-lite" in {r["name"] for r in json.loads(training.stdout)}
    demo = _run(installed, "info", str(_demo_checkpoint(installed)), "--json", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["arch"] == "simplebaseline-lite"


def _demo_checkpoint(bin_dir: Path) -> Path:
    code = "from edgepose.resources import DEMO_CHECKPOINT as p; print(p if p.is_file() else '')"
    out = subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip(), "the demo checkpoint is not in the wheel"
    return Path(out.strip())
