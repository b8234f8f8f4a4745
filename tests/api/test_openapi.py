"""``/openapi.json`` describes every answer: each operation has a 2xx JSON schema, and the
schemas name their fields as the views send them (no server needed: the document is
built from the routes)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from matchbook.api import views
from matchbook.api.app import create_app
from matchbook.settings import Settings


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def test_every_operation_has_a_2xx_response_schema(document: dict[str, Any]) -> None:
    operations = [(method.upper(), path, op) for path, item in document["paths"].items()
                  for method, op in item.items()]
    assert len(operations) >= 42
    missing = [(method, path) for method, path, op in operations
               if not any(code.startswith("2") and answer.get("content", {})
                          .get("application/json", {}).get("schema")
                          for code, answer in op["responses"].items())]
    assert missing == []


def test_response_schemas_are_the_views(document: dict[str, Any]) -> None:
    """Each view's schema lists exactly the struct's fields, all required (always sent)."""
    schemas = document["components"]["schemas"]
    checked = 0
    for name in ("Order", "Fill", "Balance", "Withdrawal", "Stats", "Depth", "Candle"):
        struct = getattr(views, name)
        fields = {f.encode_name for f in msgspec.structs.fields(struct)}
        schema = schemas[name]
        assert set(schema["properties"]) == fields, name
        assert set(schema["required"]) == fields, name
        checked += 1
    assert checked == 7
