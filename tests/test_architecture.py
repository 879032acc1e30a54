"""The house's shape, measured on the source: no import circle, no module over 450 lines, fewer than 13
import layers. How layers are counted (docs/design.md): every ``import`` of a cance module, at module level
or inside a function, is an edge; ``from package import name`` counts the submodule when ``name`` is one,
else the package; a module with no cance imports is layer 0 and every other module sits one layer above
the highest module it imports; the count is the highest layer + 1 (``__main__`` included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cance_cli"
MAX_LINES = 450
MAX_LAYERS = 12


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [base, *subs]
            else:
                continue
            for target in targets:
                found = known(target) if target.startswith("cance_cli") else None
                if found and found != module:
                    graph[module].add(found)
    return graph


def layers(graph: dict[str, set[str]]) -> dict[str, int]:
    level: dict[str, int] = {}

    def visit(module: str, stack: tuple[str, ...]) -> int:
        if module in level:
            return level[module]
        if module in stack:
            pytest.fail(f"import circle: {' -> '.join(stack[stack.index(module):] + (module,))}")
        level[module] = 1 + max((visit(m, (*stack, module)) for m in graph[module]), default=-1)
        return level[module]

    for module in graph:
        visit(module, ())
    return level


def test_no_import_circle_and_fewer_than_13_layers():
    level = layers(import_graph())
    top = max(level, key=level.get)
    assert level[top] + 1 <= MAX_LAYERS, f"{level[top] + 1} layers (top: {top})"


def test_no_module_over_450_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_library_never_imports_the_cli():
    graph = import_graph()
    offenders = [m for m, deps in graph.items() if not m.startswith("cance_cli.cli") and m != "cance_cli.__main__"
                 and any(d.startswith("cance_cli.cli") for d in deps)]
    assert offenders == []
