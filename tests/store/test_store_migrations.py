"""Alembic migrations create exactly the schema of ``matchbook.store.schema`` on SQLite
and PostgreSQL, and undo it; where the read model lives by default."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from matchbook.store import migrate, schema
from matchbook.store.db import create_engine, database_url

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


async def _inspect(url: str, fn: Any) -> Any:
    db = create_engine(url)
    try:
        async with db.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await db.dispose()


def _read_model_only(obj: Any, name: str | None, kind: str, reflected: bool,
                     compare_to: Any) -> bool:
    """Compare the read model's tables; other tables in the database (the API's users
    and keys, created by later revisions) are not ``schema.metadata``'s business."""
    table = obj if kind == "table" else getattr(obj, "table", None)
    return table is None or table.name in schema.metadata.tables


def _diff(conn: Any) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_object": _read_model_only})
    return list(compare_metadata(context, schema.metadata))


def _tables(conn: Any) -> set[str]:
    return set(inspect(conn).get_table_names())


def test_migrations_build_the_schema_and_undo_it(db_url: str) -> None:
    async def main() -> None:
        assert await migrate.current_revision(db_url) is None
        await migrate.upgrade_async(db_url)
        assert await migrate.current_revision(db_url) == migrate.head_revision()
        assert await _inspect(db_url, _diff) == []
        assert await _inspect(db_url, _tables) >= set(schema.metadata.tables) | {
            "alembic_version"}
        await migrate.upgrade_async(db_url)  # at head already: nothing to do
        await migrate.downgrade_async(db_url)
        assert await migrate.current_revision(db_url) is None
        assert await _inspect(db_url, _tables) <= {"alembic_version"}
        await migrate.upgrade_async(db_url)
        assert await _inspect(db_url, _diff) == []

    asyncio.run(main())


def test_blocking_upgrade_outside_an_event_loop(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    assert asyncio.run(migrate.current_revision(sqlite_url)) == migrate.head_revision()
    migrate.downgrade(sqlite_url)
    assert asyncio.run(migrate.current_revision(sqlite_url)) is None


def test_database_url_is_sqlite_in_the_data_dir_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MATCHBOOK_DATABASE_URL", raising=False)
    assert database_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path / 'matchbook.db'}"
    url = "postgresql+asyncpg://mb:secret@db.internal:5432/matchbook"
    monkeypatch.setenv("MATCHBOOK_DATABASE_URL", url)
    assert database_url(tmp_path) == url


def test_history_keys_are_sqlite_row_ids_and_the_rebuild_keeps_the_rows(
        sqlite_url: str) -> None:
    """From revision 0005 the keys of orders, trades, withdrawals and audit_log are row
    id aliases on SQLite: no separate key index (``sqlite_autoindex_*``); rows written
    before the migration are still there after it, and after undoing it."""
    import sqlite3

    path = sqlite_url.split("///", 1)[1]
    migrate.upgrade(sqlite_url, "0004")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO audit_log VALUES (7, 1, 2, 'Deposit', '{}', 0, 1)")

    def key_indexes() -> list[str]:
        with sqlite3.connect(path) as conn:
            return sorted(name for (name, table) in conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")
                if name.startswith("sqlite_autoindex")
                and table in ("orders", "trades", "withdrawals", "audit_log"))

    def rows() -> list[tuple[int, str]]:
        with sqlite3.connect(path) as conn:
            return list(conn.execute("SELECT seq, command_type FROM audit_log"))

    assert len(key_indexes()) == 4
    migrate.upgrade(sqlite_url)
    assert key_indexes() == []
    assert rows() == [(7, "Deposit")]
    migrate.downgrade(sqlite_url, "0004")
    assert len(key_indexes()) == 4
    assert rows() == [(7, "Deposit")]
