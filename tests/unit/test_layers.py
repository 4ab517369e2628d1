"""The dependency direction, enforced: every import in edgepose/ (top level, inside functions and under
TYPE_CHECKING), read from the AST, must point to the same layer or a lower one.

    python -m tests.unit.test_layers      prints each module's layer, every import circle and its size
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "edgepose"

# Lowest first. A module belongs to the layer of its longest matching prefix (DEVELOPERS.md, "Layers").
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("version", "errors", "fileio", "registry", "schemas", "heads", "formats", "artifact", "console", "hardware",
              "resources", "paths")),
    ("deploy", ("deploy",)),
    ("models / data / metrics", ("models", "data", "metrics", "yolo")),
    ("loading / export / runtimes / evaluate", ("checkpoint", "loading", "export", "runtimes", "evaluate", "importers",
                                                "predict", "inference")),
    ("bench / measure", ("bench", "measure")),
    ("train", ("train", "training_setup", "distributed", "feature_match")),
    ("passes", ("passes",)),
    ("recipe / pipeline / report", ("recipe", "train_recipe", "pipeline", "report")),
    ("cli", ("cli", "__main__")),
    ("api", ("",)),  # edgepose/__init__.py: the public facade may reach every layer, nothing reaches it
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """Index in LAYERS of `module` (e.g. 'edgepose.passes.prune' -> passes)."""
    rest = module.removeprefix("edgepose").removeprefix(".")
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = rest == prefix or rest.startswith(prefix + ".") or (prefix == "" and rest == "")
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best


def _resolve(name: str) -> str | None:
    """The longest existing edgepose module that `name` names (a symbol's module, or the module itself)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """(imported edgepose module, line) for every import statement anywhere in `module`'s file."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            # `from pkg import sub` imports pkg.sub (pkg's __init__ runs for any import of pkg.sub, so it is not
            # a dependency of its own); `from pkg import name` imports pkg
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for name in names:
            if name == "edgepose" or name.startswith("edgepose."):
                target = _resolve(name)
                if target and target != module:
                    yield target, node.lineno


def import_graph() -> dict[str, set[str]]:
    return {m: {t for t, _ in imports_of(m)} for m in MODULES}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(circles, key=len, reverse=True)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    mine = layer_of(module)
    upward = [
        f"line {line}: {target} ({LAYERS[layer_of(target)][0]})"
        for target, line in imports_of(module) if layer_of(target) > mine
    ]  # fmt: skip
    assert not upward, f"{module} ({LAYERS[mine][0]}) imports upward: " + "; ".join(upward)


def test_no_import_circle_of_more_than_two_modules() -> None:
    big = [c for c in import_circles(import_graph()) if len(c) > 2]
    assert not big, f"import circles (counting imports inside functions and under TYPE_CHECKING): {big}"


def test_the_walker_sees_imports_inside_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    """The test would be worthless if it missed the lazy imports that closed the old circle."""
    found = dict(imports_of("edgepose.loading"))
    assert "edgepose.models.rewrites" in found  # top level
    lazy = dict(imports_of("edgepose.evaluate.topdown"))
    assert "edgepose.data.coco" in lazy  # inside evaluate_top_down()
    typed = dict(imports_of("edgepose.passes.prune_structured"))
    assert "edgepose.passes.prune_config" in typed  # under TYPE_CHECKING
    assert layer_of("edgepose.passes.quantize_qat") > layer_of("edgepose.train") > layer_of("edgepose.measure")
    assert layer_of("edgepose") == len(LAYERS) - 1 and layer_of("edgepose.version") == 0


def test_readme_layout_names_every_package_entry() -> None:
    """README's layout section matches the tree: each module, subpackage and data folder of edgepose/ is named."""
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    entries = [p for p in PACKAGE.iterdir() if p.name not in ("__pycache__", "py.typed", "__main__.py")]
    entries += [p for p in (PACKAGE / "models").iterdir() if p.is_dir() and p.name != "__pycache__"]
    missing = [p.name for p in entries if (p.name + "/" if p.is_dir() else p.name) not in section]
    assert not missing, f"README.md's layout section does not mention: {', '.join(sorted(missing))}"


if __name__ == "__main__":
    graph = import_graph()
    edges = sum(len(v) for v in graph.values())
    print(f"{len(graph)} modules, {edges} import edges (top level + inside functions + TYPE_CHECKING)")
    for name, _ in LAYERS:
        members = [m for m in sorted(MODULES) if LAYERS[layer_of(m)][0] == name]
        print(f"  {name}: {len(members)} modules")
    circles = import_circles(graph)
    print(f"import circles: {len(circles)}; largest: {max((len(c) for c in circles), default=0)} modules")
    for circle in circles:
        print("  ", " <-> ".join(circle))
