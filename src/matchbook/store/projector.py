"""The SQL projector: the engine's event stream, written to the read model in batches.

A *record* is what the sequencer hands out for every applied command:
``(seq, ts_ns, command, events)`` (``DurableEngine.submit`` returns a list of them).
:meth:`Projector.project` writes a batch of records in **one transaction**:

* ``orders`` (upserted: one row per order with its latest state), ``order_events`` (the
  status history), ``trades``, ``ledger_entries`` (from
  :func:`matchbook.core.ledger.entries`), ``wallet_addresses``, ``withdrawals`` and
  ``audit_log`` (one row per command, with its result code);
* ``balances`` and ``system_balances``: each ledger entry's debit and credit applied to
  the last known amounts, then upserted. The sums are done on Python ints, never in SQL,
  so nothing is rounded: on SQLite an amount beyond 64 bits raises ``OverflowError``
  (and nothing of the batch is written) instead of turning into a float;
* ``projection_state`` advances to the batch's last sequence number in the same
  transaction, so a batch is either fully in the database or not at all.

Records with ``seq <= last_seq`` are skipped: offering the same records twice (after a
restart, or a catch-up racing the live stream) writes nothing twice. A record that would
leave a hole (``seq > last_seq + 1``) raises :class:`ProjectionGapError` before anything
is written: the missing range must come from the journal (:meth:`Projector.catch_up`).

**Dead letters.** :meth:`Projector.follow` (what the live task, the catch-up and
:func:`rebuild` use) never lets one bad record stop the read model: when a batch cannot
be written for a reason other than the database being unreachable, it is split in
halves until the record that fails is alone, and that record is *dead-lettered*: a row
in ``projection_dead_letters`` (the sequence range, the error, the command, the time)
and ``projection_state`` moving past it, in one transaction; the records after it are
written as usual. The read model is then incomplete (that command's rows, and balances
it changed, are missing): the journal stays the truth, and ``matchbook db rebuild``
rewrites everything once the cause is fixed. An unreachable database (connection
errors) is not the records' fault: those errors are raised, and the caller retries.

**Where the work runs.** On a SQLite file (the embedded read model), a batch runs
whole in the projector's own thread (``matchbook-sql-writer``): its rows are built
there, off the event loop, and its statements go to a plain SQLite connection, so a
batch costs the event loop one hand-over and one wake-up instead of one per statement.
On PostgreSQL (and an in-memory SQLite) the batch runs on the event loop's asyncio
connection, its rows built in slices with a turn of the loop in between. The logic is
written once, as a generator of database operations (:mod:`matchbook.store.sql`) that
either driver runs.

The jobs live in their own modules: :mod:`~matchbook.store.rows` (event -> row
mapping), :mod:`~matchbook.store.sql` (the dialects' writers),
:mod:`~matchbook.store.replay` (records re-derived from the journal) and
:mod:`~matchbook.store.follow` (:class:`ProjectorTask`, the asyncio task that follows
the live stream behind a bounded queue).

Events are not journaled, only commands: a catch-up or :func:`rebuild` re-runs the
commands through a fresh :class:`matchbook.core.Engine` restored to the right point
(newest snapshot at or before ``last_seq`` plus journal replay, as recovery does) and
projects the events it produces for every record after ``last_seq``. The replay must use
the same markets as the live engine, or it produces other events (risk limits are part
of the journaled state: a replay meets them where they were set).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.core import Markets
from matchbook.store import schema
from matchbook.store.db import create_engine, sqlite_file_engine
from matchbook.store.errors import (
    JournalNotFromStartError,
    ProjectionError,
    ProjectionGapError,
)
from matchbook.store.migrate import upgrade_async
from matchbook.store.replay import JournalReplay, check_from_start
from matchbook.store.rows import COLUMNS, ORDER_COLUMNS, Record, RowBatch, RowBuilder, audit_row
from matchbook.store.sql import PAUSE, Query, SqlWriter, Steps

logger = logging.getLogger(__name__)

DEFAULT_NAME = schema.DEFAULT_PROJECTION
_BUILD_SLICE = 256  # records turned into rows between two turns of the event loop
_ERROR_TEXT = 2000  # characters of an error or a command kept in a dead letter

# the database is unreachable or busy (not the records' fault): raised, never
# dead-lettered
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, ConnectionError,
             TimeoutError)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record the read model could not hold, and why."""

    first_seq: int
    last_seq: int
    error: str
    recorded_ns: int

    def as_dict(self) -> dict[str, Any]:
        return {"first_seq": self.first_seq, "last_seq": self.last_seq,
                "error": self.error, "recorded_ns": self.recorded_ns}


@dataclass(frozen=True, slots=True)
class ProjectorStats:
    last_seq: int
    batches: int
    commands: int
    rows: int
    busy_seconds: float  # time spent inside ``project``

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.busy_seconds if self.busy_seconds else 0.0

    @property
    def commands_per_second(self) -> float:
        return self.commands / self.busy_seconds if self.busy_seconds else 0.0


class Projector:
    """Writes records to the read model at ``url``; see the module docstring.

    ``name`` keys the row in ``projection_state`` (several projections may share a
    database). ``start`` runs the migrations first unless ``migrate`` is false. On
    PostgreSQL the append-only tables are written with ``COPY`` unless ``copy`` is false
    (then, as on SQLite, with multi-row ``executemany`` INSERTs); orders, balances and
    system balances are always upserted (``INSERT ... ON CONFLICT``). One projector per
    database and name; ``project`` calls are serialised.
    """

    def __init__(self, url: str, markets: Markets, *, name: str = DEFAULT_NAME,
                 migrate: bool = True, copy: bool = True,
                 engine_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.copy = copy
        self.markets = markets
        self.name = name
        self.migrate = migrate
        self.engine_options = engine_options or {}
        self._db: AsyncEngine | None = None
        self._last_seq = 0
        self._last_ts_ns = 0
        self._lock = asyncio.Lock()
        self._rows_of = RowBuilder(markets)
        self._writer: SqlWriter | None = None
        # SQLite file: the plain engine of the projector's thread, and that thread
        self._sync_db: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._balances: dict[tuple[int, str], tuple[int, int]] = {}  # as in the database
        self._system: dict[tuple[str, str], int] = {}
        self.dead_letters = 0  # in the database for this projection
        self.last_dead_letter: DeadLetter | None = None
        self.batches = 0
        self.commands = 0
        self.rows = 0
        self.busy_seconds = 0.0

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, migrate (unless disabled) and read ``last_seq``."""
        if self.migrate:
            await upgrade_async(self.url)
        self._db = create_engine(self.url, **self.engine_options)
        self._writer = SqlWriter(self._db, self.name, copy=self.copy)
        self._sync_db = sqlite_file_engine(self.url)
        if self._sync_db is not None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="matchbook-sql-writer")
        state = schema.projection_state
        async with self._db.begin() as conn:
            row = (await conn.execute(select(state.c.last_seq, state.c.last_ts_ns)
                                      .where(state.c.name == self.name))).first()
            if row is None:
                await conn.execute(state.insert().values(name=self.name, last_seq=0,
                                                         last_ts_ns=0))
                self._last_seq = self._last_ts_ns = 0
            else:
                self._last_seq, self._last_ts_ns = int(row[0]), int(row[1])
            sysbal = schema.system_balances
            result = await conn.execute(select(sysbal.c.account, sysbal.c.asset,
                                               sysbal.c.balance_minor))
            self._system = {(account, asset): int(amount) for account, asset, amount in result}
            dead = schema.projection_dead_letters
            self.dead_letters = int((await conn.execute(
                select(func.count()).select_from(dead).where(dead.c.name == self.name)
            )).scalar_one())
        self._rows_of.open_orders.clear()
        self._balances.clear()

    async def stop(self) -> None:
        """Close the connections (idempotent)."""
        db, self._db = self._db, None
        sync_db, self._sync_db = self._sync_db, None
        thread, self._thread = self._thread, None
        self._writer = None
        if thread is not None:
            if sync_db is not None:  # its connection belongs to its thread
                await asyncio.get_running_loop().run_in_executor(thread, sync_db.dispose)
            thread.shutdown(wait=False)
        if db is not None:
            await db.dispose()

    async def __aenter__(self) -> Projector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def db(self) -> AsyncEngine:
        """The asyncio engine (after ``start``), e.g. for :mod:`matchbook.store.queries`."""
        if self._db is None:
            raise ProjectionError("the projector is not started")
        return self._db

    @property
    def last_seq(self) -> int:
        """The sequence number of the last record in the read model."""
        return self._last_seq

    @property
    def last_ts_ns(self) -> int:
        return self._last_ts_ns

    def stats(self) -> ProjectorStats:
        return ProjectorStats(self._last_seq, self.batches, self.commands, self.rows,
                              self.busy_seconds)

    # -- writing -------------------------------------------------------------------------

    async def project(self, batch: Sequence[Record]) -> int:
        """Write ``batch`` (records in ascending ``seq``) in one transaction.

        Records with ``seq <= last_seq`` are skipped. Returns the number of rows written
        (0 when every record was already projected). Raises :class:`ProjectionGapError`
        (nothing written) if the first new record is not ``last_seq + 1`` or the batch
        is not contiguous, and the database's errors (the transaction is rolled back and
        the projector is unchanged).
        """
        async with self._lock:
            db = self.db
            last = self._last_seq
            records = _new_records(batch, last)
            if not records:
                return 0
            started = time.perf_counter()
            if self._thread is not None:
                rows, new_balances, new_system = await self._in_thread(records, last)
            else:
                async with db.begin() as conn:
                    rows, new_balances, new_system = await self.writer.run(
                        conn, self._batch(records, last))
            written = self._committed(rows, new_balances, new_system)
            self.busy_seconds += time.perf_counter() - started
            return written

    def _committed(self, rows: RowBatch,
                   new_balances: dict[tuple[int, str], tuple[int, int]],
                   new_system: dict[tuple[str, str], int]) -> int:
        """The batch is committed: only now does the projector's memory move on.
        Returns the rows written."""
        self._balances.update(new_balances)
        self._system.update(new_system)
        self._rows_of.committed(rows)
        self._last_seq, self._last_ts_ns = rows.last_seq, rows.last_ts_ns
        written = rows.row_count()
        self.batches += 1
        self.commands += rows.commands
        self.rows += written
        return written

    async def follow(self, batch: Sequence[Record], *, isolate_transient: bool = False) -> int:
        """:meth:`project`, dead-lettering what cannot be written instead of raising.

        A batch that fails is split in halves until the failing record is alone; that
        record is recorded in ``projection_dead_letters`` and skipped (see the module
        docstring). Returns the rows written. Raises :class:`ProjectionGapError`, and the
        database's connection errors (``TRANSIENT``) unless ``isolate_transient`` (the
        caller has retried them long enough): then they are treated as the records'
        fault too, and only a database that also refuses the dead letter raises.
        """
        try:
            return await self.project(batch)
        except ProjectionGapError:
            raise
        except Exception as exc:  # whatever the cause, never retried forever
            if isinstance(exc, TRANSIENT) and not isolate_transient:
                raise
            failure = exc
        records = _new_records(batch, self._last_seq)
        if len(records) == 1:
            await self.dead_letter(records, failure)
            return 0
        middle = len(records) // 2
        written = await self.follow(records[:middle], isolate_transient=isolate_transient)
        return written + await self.follow(records[middle:],
                                           isolate_transient=isolate_transient)

    async def dead_letter(self, records: Sequence[Record], error: BaseException) -> DeadLetter:
        """Record ``records`` (contiguous, starting at ``last_seq + 1``) as not writable
        because of ``error``, and move ``projection_state`` past them, in one
        transaction. Raises the database's errors (nothing is changed then)."""
        async with self._lock:
            records = _new_records(records, self._last_seq)
            if not records:
                raise ProjectionError("nothing to dead-letter: the records are projected")
            first, last = records[0], records[-1]
            text = f"{type(error).__name__}: {error}"[:_ERROR_TEXT]
            seq, ts, command, events = first
            audit = audit_row(seq, ts, command, events, 0)
            letter = DeadLetter(first[0], last[0], text, time.time_ns())
            async with self.db.begin() as conn:
                await self.writer.skip(conn, self._last_seq, last[0], last[1])
                await conn.execute(schema.projection_dead_letters.insert().values(
                    name=self.name, first_seq=letter.first_seq, last_seq=letter.last_seq,
                    error=text, command=str(audit[4])[:_ERROR_TEXT],
                    recorded_ns=letter.recorded_ns))
            self._last_seq, self._last_ts_ns = last[0], last[1]
            self.dead_letters += 1
            self.last_dead_letter = letter
            self._balances.clear()  # re-read from the database: it holds what was written
            logger.error("read model: records %d..%d cannot be written and were skipped "
                         "(dead letter %d of projection %r): %s; the read model is "
                         "incomplete until `matchbook db rebuild`", letter.first_seq,
                         letter.last_seq, self.dead_letters, self.name, text)
            return letter

    async def dead_letter_rows(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters of this projection, newest first."""
        dead = schema.projection_dead_letters
        async with self.db.connect() as conn:
            result = await conn.execute(
                select(dead.c.first_seq, dead.c.last_seq, dead.c.error, dead.c.recorded_ns)
                .where(dead.c.name == self.name).order_by(dead.c.id.desc()).limit(limit))
            return [DeadLetter(int(a), int(b), str(e), int(t)) for a, b, e, t in result]

    @property
    def writer(self) -> SqlWriter:
        if self._writer is None:
            raise ProjectionError("the projector is not started")
        return self._writer

    async def _in_thread(self, records: list[Record], last: int) -> Any:
        """:meth:`_batch` in one transaction on the projector's thread. The transaction
        ends there whatever happens here: if the caller is cancelled meanwhile, its
        outcome is still awaited, so the projector's memory stays in step with the
        database."""
        assert self._thread is not None
        future = asyncio.get_running_loop().run_in_executor(
            self._thread, self._batch_in_thread, records, last)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                raise
            outcome = await future
            self._committed(*outcome)
            raise

    def _batch_in_thread(self, records: list[Record], last: int) -> Any:
        assert self._sync_db is not None
        with self._sync_db.begin() as conn:
            return self.writer.run_sync(conn, self._batch(records, last))

    def _batch(self, records: list[Record], last: int) -> Steps:
        """The operations of one batch: its rows, its balances, then the writes; returns
        ``(rows, new balances, new system balances)``."""
        rows = yield from self._rows(records)
        new_balances, new_system = yield from self._new_balances(rows)
        yield from self.writer.write_ops(rows, last, new_balances, new_system)
        return rows, new_balances, new_system

    def _new_balances(self, b: RowBatch) -> Steps:
        """The balances after the batch: last known + the batch's deltas, in Python ints
        (exact; no database arithmetic that could overflow into floating point)."""
        known = self._balances
        users = {key[0] for key in b.balances if key not in known}
        if users:
            bal = schema.balances
            found: dict[tuple[int, str], tuple[int, int]] = {}
            ids = sorted(users)
            for start in range(0, len(ids), 1000):
                result = yield Query(
                    select(bal.c.user_id, bal.c.asset, bal.c.available_minor, bal.c.held_minor)
                    .where(bal.c.user_id.in_(ids[start:start + 1000])))
                for uid, asset, free, held in result:
                    found[(int(uid), asset)] = (int(free), int(held))
            for key in b.balances:
                if key not in known:
                    known[key] = found.get(key, (0, 0))
        new_balances = {}
        for key, (free_delta, held_delta) in b.balances.items():
            free, held = known[key]
            new_balances[key] = (free + free_delta, held + held_delta)
        system = self._system
        new_system = {key: system.get(key, 0) + delta for key, delta in b.system.items()}
        return new_balances, new_system

    def _load_orders(self, order_ids: set[int]) -> Steps:
        """Rows of orders written by earlier batches (not in memory after a restart)."""
        found: dict[int, list[Any]] = {}
        ids = sorted(order_ids)
        orders = schema.orders
        columns = [orders.c[name] for name in ORDER_COLUMNS]
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            result = yield Query(select(*columns).where(orders.c.order_id.in_(chunk)))
            for row in result:
                found[int(row[0])] = list(row)
        unknown = order_ids - found.keys()
        if unknown:
            raise ProjectionError(
                f"events refer to orders the read model does not hold: {sorted(unknown)[:10]} "
                f"(was the read model built from another journal?)")
        return found

    def _rows(self, records: list[Record]) -> Steps:
        """The rows of ``records``, built ``_BUILD_SLICE`` records at a time with a turn of
        the event loop in between when built on it, so that a large batch never holds the
        loop for long. Rows of orders neither in memory nor in the batch are loaded,
        then it starts over.
        """
        loaded: dict[int, list[Any]] = {}
        p2p = self._rows_of.p2p
        unknown = p2p.missing(records)
        if unknown:  # chat lines of trades opened before this process: their parties
            trades = schema.p2p_trades
            result = yield Query(
                select(trades.c.trade_id, trades.c.buyer_id, trades.c.seller_id)
                .where(trades.c.trade_id.in_(sorted(unknown))))
            for trade_id, buyer_id, seller_id in result:
                p2p.parties[int(trade_id)] = (int(buyer_id), int(seller_id))
        while True:
            b = RowBatch()
            missing: set[int] = set()
            for start in range(0, len(records), _BUILD_SLICE):
                if start:
                    yield PAUSE
                self._rows_of.build(records[start:start + _BUILD_SLICE], loaded, b, missing)
            if not missing:
                b.last_seq, b.last_ts_ns = records[-1][0], records[-1][1]
                b.commands = len(records)
                return b
            loaded.update((yield from self._load_orders(missing)))

    # -- catching up from the journal ----------------------------------------------------

    async def catch_up(self, data_dir: str | Path, *, accounts: bool = True,
                       batch_size: int = 2000, isolate_transient: bool = False) -> int:
        """Project every journaled record after ``last_seq`` (the hole a full queue or a
        restart left), replaying the commands through an engine restored from
        ``data_dir`` (``journal/`` and ``snapshots/``, as ``DurableEngine`` lays them
        out). Returns the number of records projected.

        ``accounts`` must be that of the live engine. A record that cannot be written
        is dead-lettered (:meth:`follow`). Raises ``JournalGapError`` when neither a
        snapshot nor the journal reaches back to ``last_seq``.
        """
        replay = JournalReplay(Path(data_dir), self.markets, self._last_seq, accounts)
        done = 0
        while True:
            chunk = await asyncio.to_thread(replay.take, batch_size)
            if not chunk:
                return done
            await self.follow(chunk, isolate_transient=isolate_transient)
            done += len(chunk)


def _new_records(batch: Sequence[Record], last: int) -> list[Record]:
    records: list[Record] = []
    expected = last + 1
    for record in batch:
        seq = record[0]
        if seq <= last and not records:
            continue
        if seq != expected:
            raise ProjectionGapError(expected, seq)
        records.append(record)
        expected += 1
    return records


async def rebuild(data_dir: str | Path, markets: Markets, url: str, *,
                  accounts: bool = True, name: str = DEFAULT_NAME, batch_size: int = 2000,
                  progress: Callable[[int], None] | None = None) -> ProjectorStats:
    """Drop the read model's tables at ``url``, create them again and project the whole
    journal of ``data_dir`` from sequence number 1 (replayed through a fresh engine).

    Only the tables of :data:`matchbook.store.schema.metadata` are dropped; other tables
    in the same database (the API's users and keys) are left alone. Stop every projector
    writing to ``url`` first. ``accounts`` must be that of the engine that wrote the
    journal. A record that cannot be written is dead-lettered and the rebuild goes on
    (:meth:`Projector.follow`). Raises :class:`JournalNotFromStartError` when the
    journal's first segment does not start at seq 1 (older segments were removed: a
    rebuild needs all of them).
    """
    check_from_start(Path(data_dir) / "journal")
    await upgrade_async(url)
    await _recreate_tables(url)
    projector = Projector(url, markets, name=name, migrate=False)
    await projector.start()
    try:
        replay = JournalReplay(Path(data_dir), markets, 0, accounts)
        while True:
            chunk = await asyncio.to_thread(replay.take, batch_size)
            if not chunk:
                break
            await projector.follow(chunk, isolate_transient=True)
            if progress is not None:
                progress(projector.last_seq)
        return projector.stats()
    finally:
        await projector.stop()


async def _recreate_tables(url: str) -> None:
    """Drop and create the read model's tables in one transaction (they are what the
    migrations at head create: a test compares them)."""
    db = create_engine(url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
            await conn.run_sync(schema.metadata.create_all)
    finally:
        await db.dispose()

__all__ = [
    "COLUMNS",
    "DEFAULT_NAME",
    "DeadLetter",
    "JournalNotFromStartError",
    "ProjectionError",
    "ProjectionGapError",
    "Projector",
    "ProjectorStats",
    "Record",
    "rebuild",
]
