"""Where the read model lives and how to connect to it.

The default is an embedded SQLite file (``sqlite+aiosqlite:///<data_dir>/matchbook.db``);
``MATCHBOOK_DATABASE_URL`` selects another database, in practice PostgreSQL through
asyncpg (``postgresql+asyncpg://user:password@host:5432/matchbook``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_plain_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ENV_VAR = "MATCHBOOK_DATABASE_URL"
SQLITE_FILE = "matchbook.db"


def database_url(data_dir: str | os.PathLike[str]) -> str:
    """``$MATCHBOOK_DATABASE_URL`` if set, else the SQLite file ``data_dir/matchbook.db``."""
    url = os.environ.get(ENV_VAR, "").strip()
    if url:
        return url
    return f"sqlite+aiosqlite:///{Path(data_dir) / SQLITE_FILE}"


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An asyncio engine for ``url``.

    SQLite files are opened in WAL mode with ``synchronous=NORMAL`` (readers do not block
    the projector; a committed batch survives a process crash) and a busy timeout. The
    directory of a SQLite file is created if needed.
    """
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if not sqlite:
        options.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **options)
    if sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def sqlite_file_engine(url: str) -> Engine | None:
    """A plain (not asyncio) engine on the same SQLite file as ``url``, with the same
    settings, for a worker thread; None when ``url`` is not a SQLite file (PostgreSQL,
    or an in-memory database that another connection would not see)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("mode") == "memory":
        return None
    engine = create_plain_engine(parsed.set(drivername="sqlite+pysqlite"))
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


__all__ = ["ENV_VAR", "SQLITE_FILE", "create_engine", "database_url", "sqlite_file_engine"]
