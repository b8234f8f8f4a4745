"""PostgreSQL databases for the read-model tests: a fresh database on 127.0.0.1:5432
(user postgres, trust auth; created from the ``test`` database) per test or module,
dropped afterwards; the test is skipped when the server cannot be reached. Set
``MATCHBOOK_TEST_PG`` to another server (``postgresql://user@host:port``) to use it.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
import pytest

PG_SERVER = os.environ.get("MATCHBOOK_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
PG_ADMIN_DB = "test"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/{PG_ADMIN_DB}", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


_pg_unreachable: str | None = None


def create_pg_database() -> str:
    global _pg_unreachable
    if _pg_unreachable is not None:
        pytest.skip(_pg_unreachable)
    name = f"mb_store_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError) as exc:
        _pg_unreachable = f"PostgreSQL at {PG_SERVER} is unreachable: {exc}"
        pytest.skip(_pg_unreachable)
    return name


def drop_pg_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def asyncpg_url(name: str) -> str:
    return PG_SERVER.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
