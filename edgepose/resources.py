"""What ships inside the package (importlib.resources), so a wheel installed anywhere has it:
the optimize recipes, the training recipes and the demo checkpoint."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_path(*parts: str) -> Path:
    """A file or folder shipped in the package (pip installs wheels unpacked, so this is a real path)."""
    return Path(str(files("edgepose").joinpath(*parts)))


def shipped_recipes(folder: str = "recipes") -> dict[str, Path]:
    """Recipe name -> file for the YAML recipes in a shipped folder (`recipes`, `recipes/train`)."""
    root = package_path(*folder.split("/"))
    return {p.stem: p for p in sorted(root.glob("*.yaml"))} if root.is_dir() else {}


DEMO_CHECKPOINT = package_path("checkpoints", "demo-coco17-lite.pt")
