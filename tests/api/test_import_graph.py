"""The API and the SDK import in one direction: no cycle among their modules (imports
under ``TYPE_CHECKING`` and inside functions count), the WebSocket package does not
import the REST routes, and the SDK imports nothing of the server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import matchbook

SRC = Path(matchbook.__file__).parent.parent
PACKAGES = ("matchbook.api", "matchbook.client")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "matchbook").rglob("*.py")):
        name = ".".join(path.with_suffix("").relative_to(SRC).parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = modules()


def imports(name: str) -> set[str]:
    """The matchbook modules ``name`` imports (``from package import module`` names the
    module), wherever the import statement is."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("matchbook")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if not base.startswith("matchbook"):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports(name) for name in MODULES if name.startswith(PACKAGES)}


def reachable(start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in GRAPH.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def test_the_graph_is_read() -> None:
    assert "matchbook.api.ws.session" in GRAPH and "matchbook.client.stream" in GRAPH
    assert "matchbook.api.trading" in GRAPH["matchbook.api.ws.session"]


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_import_cycle(name: str) -> None:
    back = sorted(m for m in GRAPH[name] if name in reachable(m))
    assert back == [], f"{name} imports {back}, which import it back"


def test_websocket_does_not_import_rest_routes() -> None:
    for name in GRAPH:
        if name.startswith("matchbook.api.ws"):
            assert not any(m.startswith("matchbook.api.routes") for m in GRAPH[name]), name


def test_sdk_imports_nothing_of_the_server() -> None:
    for name in GRAPH:
        if name.startswith("matchbook.client"):
            assert all(m.startswith("matchbook.client") for m in GRAPH[name]), name
