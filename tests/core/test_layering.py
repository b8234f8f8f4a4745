"""``matchbook.core`` is the deterministic bottom layer: it imports nothing from the rest
of Matchbook and nothing that reaches a clock, a file, the network or randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import matchbook.core

CORE = Path(matchbook.core.__file__).parent
SOURCES = sorted(CORE.rglob("*.py"))
FORBIDDEN_MODULES = {
    "socket", "os", "pathlib", "time", "datetime", "random", "io", "asyncio", "threading",
    "logging", "subprocess",
}
FORBIDDEN_CALLS = {"open", "input", "print", "exec", "eval", "__import__"}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from ... import`` names, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve inside matchbook.core
                found.append((node.lineno, "matchbook.core." + (node.module or "")))
            else:
                found.append((node.lineno, node.module or ""))
    return found


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_core_has_sources() -> None:
    names = {p.name for p in SOURCES}
    assert {"__init__.py", "book.py", "engine.py", "symbols.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_core_imports_no_other_matchbook_package(path: Path) -> None:
    for line, module in imported_modules(parse(path)):
        if module == "matchbook" or module.startswith("matchbook."):
            assert module.startswith("matchbook.core"), f"{path.name}:{line} imports {module}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_core_imports_no_io_module(path: Path) -> None:
    for line, module in imported_modules(parse(path)):
        top = module.split(".")[0]
        assert top not in FORBIDDEN_MODULES, f"{path.name}:{line} imports {module}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_core_calls_no_io_builtin(path: Path) -> None:
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, (
                f"{path.name}:{node.lineno} calls {node.func.id}()")


def test_the_checker_sees_forbidden_imports() -> None:
    tree = ast.parse("import os.path\nfrom time import monotonic\nfrom . import api\n")
    assert [m for _, m in imported_modules(tree)] == ["os.path", "time", "matchbook.core."]
