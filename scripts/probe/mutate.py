"""Setups that write one case's hostile inputs into its folder: mutated COCO files, predictions,
checkpoints, raw bytes. Each returns the placeholders it defines (name -> path)."""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from probe.case import Setup

Places = dict[str, str]


def chain(*setups: Setup) -> Setup:
    def setup(case_dir: Path, places: Places) -> Places:
        out: Places = {}
        for s in setups:
            out.update(s(case_dir, {**places, **out}))
        return out

    return setup


def _dump(doc: Any) -> str:
    return doc if isinstance(doc, str) else json.dumps(doc)  # Python writes NaN / Infinity tokens, as users' tools do


def coco(mutator: Callable[[dict], Any] | None = None, name: str = "ann", images: str = "link") -> Setup:
    """The probe's COCO file, mutated, at CASE/NAME.json; images/ linked (or copied) from the fixture."""

    def setup(case_dir: Path, places: Places) -> Places:
        doc = json.loads(Path(places["coco"]).read_text())
        result = mutator(doc) if mutator else None
        doc = doc if result is None else result
        img = case_dir / "images"
        if not img.exists():
            if images == "copy":
                shutil.copytree(places["coco_images"], img)
            else:
                os.symlink(places["coco_images"], img)
        path = case_dir / f"{name}.json"
        path.write_text(_dump(doc))
        return {name: str(path)}

    return setup


def preds(mutator: Callable[[list], Any], name: str = "pred") -> Setup:
    def setup(case_dir: Path, places: Places) -> Places:
        doc = json.loads(Path(places["preds"]).read_text())
        result = mutator(doc)
        path = case_dir / f"{name}.json"
        path.write_text(_dump(doc if result is None else result))
        return {name: str(path)}

    return setup


def image_files(modify: Callable[[Path, dict], Any], name: str = "ann") -> Setup:
    """A private copy of the images, changed by modify(images_dir, doc) (which may also edit the document)."""

    def setup(case_dir: Path, places: Places) -> Places:
        doc = json.loads(Path(places["coco"]).read_text())
        img = case_dir / "images"
        shutil.copytree(places["coco_images"], img)
        modify(img, doc)
        path = case_dir / f"{name}.json"
        path.write_text(json.dumps(doc))
        return {name: str(path)}

    return setup


def checkpoint(mutator: Callable[[dict], Any], source: str = "tiny", name: str = "ckpt") -> Setup:
    """A fixture checkpoint loaded (weights only), changed by `mutator`, saved again with torch.save."""

    def setup(case_dir: Path, places: Places) -> Places:
        import torch

        payload = torch.load(places[source], map_location="cpu", weights_only=True)
        result = mutator(payload)
        path = case_dir / f"{name}.pt"
        torch.save(payload if result is None else result, path)
        return {name: str(path)}

    return setup


def raw(name: str, content: bytes | Callable[[Places], bytes], suffix: str = "") -> Setup:
    """A file of the given bytes (or bytes computed from the fixtures, e.g. a truncated copy)."""

    def setup(case_dir: Path, places: Places) -> Places:
        data = content(places) if callable(content) else content
        path = case_dir / f"{name}{suffix}"
        path.write_bytes(data)
        return {name: str(path)}

    return setup


def text(name: str, content: str, suffix: str = "") -> Setup:
    return raw(name, content.encode(), suffix)


def copy_of(name: str, source: str, filename: str | None = None) -> Setup:
    """A private copy of fixture `source` (for cases whose output names the input)."""

    def setup(case_dir: Path, places: Places) -> Places:
        src = Path(places[source])
        dst = case_dir / (filename or src.name)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
        return {name: str(dst)}

    return setup


def folder(name: str, files: dict[str, str] | None = None) -> Setup:
    def setup(case_dir: Path, places: Places) -> Places:
        path = case_dir / name
        path.mkdir(parents=True, exist_ok=True)
        for rel, content in (files or {}).items():
            (path / rel).write_text(content)
        return {name: str(path)}

    return setup


def truncated(source: str, fraction: float = 0.5) -> Callable[[Places], bytes]:
    def content(places: Places) -> bytes:
        data = Path(places[source]).read_bytes()
        return data[: max(1, int(len(data) * fraction))]

    return content


def bitflip(source: str, at: float, count: int = 8) -> Callable[[Places], bytes]:
    def content(places: Places) -> bytes:
        data = bytearray(Path(places[source]).read_bytes())
        start = int(len(data) * at)
        for i in range(start, min(len(data), start + count)):
            data[i] ^= 0xFF
        return bytes(data)

    return content


def random_bytes(n: int, seed: int = 0) -> bytes:
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


# ----- document edits (each returns nothing: it changes the document in place) ---------------------------


def ann(index: int, **fields: Any) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        doc["annotations"][index].update(copy.deepcopy(fields))

    return edit


def kp(index: int, position: int, value: Any) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        doc["annotations"][index]["keypoints"][position] = value

    return edit


def image(index: int, **fields: Any) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        doc["images"][index].update(fields)

    return edit
