"""The app's operations as the layers below the router see them: which methods each
path answers and which of them take a signed-in caller, read from the OpenAPI document
(the one description of the API that every FastAPI version keeps public)."""

from __future__ import annotations

import re

from fastapi import FastAPI

Operation = tuple[re.Pattern[str], frozenset[str], frozenset[str]]


def operations(app: FastAPI) -> list[Operation]:
    """Every documented path as ``(pattern, methods, methods that take a signed-in
    caller)``, read once from the app's OpenAPI document (a security scheme there is
    ``deps.Caller``'s)."""
    known: list[Operation] | None = getattr(
        app.state, "operations", None)
    if known is None:
        known = []
        for path, entries in app.openapi().get("paths", {}).items():
            methods = {m.upper(): e for m, e in entries.items() if isinstance(e, dict)}
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
            known.append((re.compile(pattern + "$"), frozenset(methods),
                          frozenset(m for m, e in methods.items() if e.get("security"))))
        app.state.operations = known
    return known
