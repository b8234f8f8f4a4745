"""The SQL read model: schema, migrations, the projector fed by the event stream, and
read helpers.

* :mod:`~matchbook.store.schema` — the tables (SQLAlchemy Core);
* :mod:`~matchbook.store.migrate` — Alembic migrations, configured in code;
* :mod:`~matchbook.store.db` — ``database_url(data_dir)`` (SQLite file by default,
  ``MATCHBOOK_DATABASE_URL`` for PostgreSQL) and ``create_engine(url)``;
* :mod:`~matchbook.store.projector` — ``Projector`` (batches of records, one transaction
  each, idempotent by sequence number, dead letters for what cannot be written),
  ``rebuild`` and catch-up from the journal; it uses :mod:`~matchbook.store.rows`
  (event -> row mapping), :mod:`~matchbook.store.sql` (the dialects' writers) and
  :mod:`~matchbook.store.replay` (records re-derived from the journal);
* :mod:`~matchbook.store.follow` — ``ProjectorTask`` (bounded queue, never blocks the
  producer, never wedges on a bad batch);
* :mod:`~matchbook.store.process` — ``ProjectorProcess``: the projector in a process of
  its own, following the journal files with its own engine replica;
* :mod:`~matchbook.store.queries` — what the API reads;
* :mod:`~matchbook.store.bench` — projector throughput.

The database is a projection: it may lag the engine and can always be rebuilt from the
journal. It is never read back by the core.
"""

from matchbook.store.db import create_engine, database_url
from matchbook.store.follow import ProjectorTask
from matchbook.store.migrate import upgrade, upgrade_async
from matchbook.store.projector import (
    JournalNotFromStartError,
    ProjectionError,
    ProjectionGapError,
    Projector,
    ProjectorStats,
    Record,
    rebuild,
)

__all__ = [
    "JournalNotFromStartError",
    "ProjectionError",
    "ProjectionGapError",
    "Projector",
    "ProjectorStats",
    "ProjectorTask",
    "Record",
    "create_engine",
    "database_url",
    "rebuild",
    "upgrade",
    "upgrade_async",
]
