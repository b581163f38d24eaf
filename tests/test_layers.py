"""The package's layering: data flows one way, no cycles, no reaching into another package's privates.

Every ``import`` of a deploykit module (module level or inside a function) is read with ``ast``
and checked against the layer table below, the same contract README's "How the code is laid out"
describes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deploykit"

# top-level unit under deploykit/ -> layer; a unit may import only units of a lower layer
LAYERS = {
    "_version": 0,
    "_errors": 0,
    "_collect": 0,
    "_extras": 0,
    "_public": 0,
    "_time_units": 0,
    "predicates": 10,
    "calendar": 10,
    "schemas": 20,
    "filters": 21,  # the filter classes of `schemas`, re-exported under API.md's second path
    "store": 30,
    "scheduling": 40,
    "models": 50,
    "io": 60,
    "history": 70,
    "plots": 80,
    "widgets": 90,
    "cli": 100,
    "__init__": 110,
    "__main__": 110,  # `python -m deploykit`: the CLI
}
VIEWS = ("plots", "widgets", "cli")


def _unit(module: str) -> str:
    """``deploykit.models.flows`` -> ``models``; ``deploykit`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every deploykit module that ``path`` imports, with its line number."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "deploykit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "deploykit":
                continue
            submodules = [f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")]
            # `from deploykit import plots` imports only that submodule, not the package's face
            if target != "deploykit" or len(submodules) < len(node.names):
                found.append((node.lineno, target))
            found += [(node.lineno, module) for module in submodules]
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in SOURCES}
    assert units <= set(LAYERS), f"units without a layer: {sorted(units - set(LAYERS))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path: Path) -> None:
    source = _unit(_module_name(path))
    wrong = []
    for line, target in _imports(path):
        unit = _unit(target)
        if unit == source:
            continue
        if LAYERS[unit] >= LAYERS[source]:
            wrong.append(f"line {line}: {target} (layer {LAYERS[unit]} >= {LAYERS[source]})")
    assert not wrong, f"{path.relative_to(PACKAGE)} imports upward:\n" + "\n".join(wrong)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_reaching_into_another_packages_privates(path: Path) -> None:
    source = _unit(_module_name(path))
    wrong = []
    for line, target in _imports(path):
        parts = target.split(".")
        if _unit(target) != source and any(p.startswith("_") for p in parts[2:]):
            wrong.append(f"line {line}: {target}")
    assert not wrong, f"{path.relative_to(PACKAGE)} imports another package's private module:\n" + "\n".join(
        wrong
    )


def test_no_import_cycles_between_units() -> None:
    graph: dict[str, set[str]] = {}
    for path in SOURCES:
        source = _unit(_module_name(path))
        graph.setdefault(source, set()).update(_unit(t) for _, t in _imports(path) if _unit(t) != source)
    seen: set[str] = set()
    stack: list[str] = []

    def visit(unit: str) -> None:
        if unit in stack:
            raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(unit) :], unit]))
        if unit in seen:
            return
        stack.append(unit)
        for nxt in sorted(graph.get(unit, ())):
            visit(nxt)
        stack.pop()
        seen.add(unit)

    for unit in sorted(graph):
        visit(unit)


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if _unit(_module_name(p)) in VIEWS], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_views_run_no_sql(path: Path) -> None:
    calls = [
        f"line {n.lineno}: .{n.func.attr}(...)"
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr in {"sql", "execute", "cursor"}
    ]
    assert not calls, f"{path.relative_to(PACKAGE)} runs SQL itself:\n" + "\n".join(calls)
