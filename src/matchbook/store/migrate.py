"""Alembic migrations of the read model, configured in code (no ``alembic.ini``).

``await upgrade_async(url)`` (or ``upgrade(url)`` outside an event loop) brings the
database at ``url`` to the newest revision; it works on SQLite and PostgreSQL. The
revisions live in ``matchbook/store/migrations/versions``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from matchbook.store.db import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the read model (for ``alembic.command`` calls)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def _run(url: str, fn: Any, *args: Any) -> Any:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(fn, *args)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection=connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection=connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` in one transaction (PostgreSQL; SQLite as
    far as its DDL allows)."""
    await _run(url, _upgrade, revision)


async def downgrade_async(url: str, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (``base``: drop every table)."""
    await _run(url, _downgrade, revision)


async def current_revision(url: str) -> str | None:
    """The revision the database is at (``None``: not migrated yet)."""
    result: str | None = await _run(url, _current)
    return result


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking :func:`upgrade_async`, for scripts and the CLI. Raises ``RuntimeError``
    when called from a running event loop (await ``upgrade_async`` there)."""
    asyncio.run(upgrade_async(url, revision))


def downgrade(url: str, revision: str = "base") -> None:
    """Blocking :func:`downgrade_async`."""
    asyncio.run(downgrade_async(url, revision))


__all__ = [
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "downgrade",
    "downgrade_async",
    "head_revision",
    "upgrade",
    "upgrade_async",
]
