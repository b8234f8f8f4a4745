"""Databases for the read-model tests: a SQLite file in ``tmp_path``, and a fresh
PostgreSQL database per test (see ``store_db``), dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_db import asyncpg_url, create_pg_database, drop_pg_database
from store_stream import Stream, make_stream


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'matchbook.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'db' / 'matchbook.db'}"
        return
    name = create_pg_database()
    try:
        yield asyncpg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture(scope="session")
def stream() -> Stream:
    """4,000 seeded commands after the opening deposits (read-only: do not apply more)."""
    return make_stream(seed=20240611, n=4000)
