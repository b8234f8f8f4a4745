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

:class:`ProjectorTask` runs a projector behind a bounded ``asyncio.Queue`` so that the
matching path never waits for the database: :meth:`ProjectorTask.offer` never blocks;
when the queue is full the batch is dropped and counted, and the projection is marked
behind until a catch-up from the journal fills the hole. During a burst of commands it
stands aside (within a bounded lag) and catches up in large transactions afterwards.

Events are not journaled, only commands: a catch-up or :func:`rebuild` re-runs the
commands through a fresh :class:`matchbook.core.Engine` restored to the right point
(newest snapshot at or before ``last_seq`` plus journal replay, as recovery does) and
projects the events it produces for every record after ``last_seq``. The replay must use
the same markets as the live engine, or it produces other events (risk limits are part
of the journaled state: a replay meets them where they were set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from matchbook.core import Engine, Markets
from matchbook.core.commands import STOP_LIMIT, STOP_MARKET
from matchbook.core.events import (
    AddressCreated,
    BookLevelChanged,
    CommandRejected,
    Deposited,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)
from matchbook.core.ledger import entries as ledger_entries_of
from matchbook.journal.codec import decode_command
from matchbook.journal.durable import Applied, recover
from matchbook.journal.segments import iter_records, list_segments, recover_journal
from matchbook.store import schema
from matchbook.store.db import create_engine
from matchbook.store.migrate import upgrade_async

logger = logging.getLogger(__name__)

Record = Applied
"""``(seq, ts_ns, command, events)`` of one applied command, as the sequencer hands it."""

DEFAULT_NAME = schema.DEFAULT_PROJECTION
_SIDES = schema.SIDES
_TYPES = schema.ORDER_TYPES
_TIFS = schema.TIME_IN_FORCE
_REASONS = schema.CANCEL_REASONS
_OPEN = frozenset(schema.OPEN_STATUSES)

# Rows are plain tuples (lists for orders and withdrawals, which later events update)
# with their values in the column order below; every statement names its columns, so
# this order need not be the tables' (a test checks that they hold the same columns).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "user_id", "symbol", "side", "type", "price_ticks", "qty_lots",
               "filled_lots", "leaves_lots", "status", "time_in_force", "client_order_id",
               "stop_price_ticks", "display_lots", "post_only", "expire_ts_ns",
               "quote_amount_minor", "filled_notional_minor", "fee_minor", "created_seq",
               "updated_seq", "created_ts_ns", "updated_ts_ns", "cancel_reason"),
    "order_events": ("seq", "event_index", "order_id", "event_type", "status", "qty_lots",
                     "price_ticks", "filled_lots", "leaves_lots", "trade_id", "ts_ns"),
    "trades": ("trade_id", "symbol", "price_ticks", "qty_lots", "aggressor_side",
               "maker_order_id", "taker_order_id", "maker_user_id", "taker_user_id",
               "notional_minor", "base_minor", "maker_fee_minor", "taker_fee_minor", "seq",
               "ts_ns"),
    "ledger": ("seq", "index", "debit", "credit", "asset", "amount_minor", "reason",
               "reference", "debit_user_id", "credit_user_id", "ts_ns"),
    "audit": ("seq", "ts_ns", "user_id", "command_type", "command", "result_code",
              "event_count"),
    "addresses": ("address", "user_id", "asset", "created_seq", "created_ts_ns"),
    "withdrawals": ("withdrawal_id", "user_id", "asset", "amount_minor", "destination",
                    "status", "reason", "requested_seq", "requested_ts_ns", "updated_seq",
                    "updated_ts_ns"),
    "balances": ("user_id", "asset", "available_minor", "held_minor", "updated_seq"),
    "system": ("account", "asset", "balance_minor", "updated_seq"),
}
_TABLES = {"orders": schema.orders, "order_events": schema.order_events,
           "trades": schema.trades, "ledger": schema.ledger_entries, "audit": schema.audit_log,
           "addresses": schema.wallet_addresses, "withdrawals": schema.withdrawals,
           "balances": schema.balances, "system": schema.system_balances}
_APPENDS = ("order_events", "trades", "ledger", "audit", "addresses", "withdrawals")
_UPSERTS = {  # conflict target, columns an existing row keeps
    "orders": (("order_id",), {"order_id", "created_seq", "created_ts_ns"}),
    "balances": (("user_id", "asset"), {"user_id", "asset"}),
    "system": (("account", "asset"), {"account", "asset"}),
}
_ORDER_COLUMNS = _COLUMNS["orders"]
_BUILD_SLICE = 256  # records turned into rows between two turns of the event loop
(_O_PRICE, _O_QTY, _O_FILLED, _O_LEAVES, _O_STATUS, _O_NOTIONAL, _O_FEE, _O_UPDATED_SEQ,
 _O_UPDATED_TS, _O_CANCEL_REASON) = (_ORDER_COLUMNS.index(name) for name in (
    "price_ticks", "qty_lots", "filled_lots", "leaves_lots", "status",
    "filled_notional_minor", "fee_minor", "updated_seq", "updated_ts_ns", "cancel_reason"))
_W_STATUS, _W_REASON, _W_UPDATED_SEQ, _W_UPDATED_TS = (
    _COLUMNS["withdrawals"].index(name)
    for name in ("status", "reason", "updated_seq", "updated_ts_ns"))


class ProjectionError(Exception):
    """The read model cannot follow the stream (see the message)."""


class ProjectionGapError(ProjectionError):
    """A record does not continue the projection: ``expected_seq`` was due, ``found_seq``
    came. Nothing of the batch was written."""

    def __init__(self, expected_seq: int, found_seq: int) -> None:
        super().__init__(f"the projection is at seq {expected_seq - 1}: record {found_seq} "
                         f"would leave a gap (re-read the missing records from the journal)")
        self.expected_seq = expected_seq
        self.found_seq = found_seq


class JournalNotFromStartError(ProjectionError):
    """A rebuild needs the journal from sequence number 1."""


@dataclass(slots=True)
class _Batch:
    """Rows of one batch, ready to write (columns as in ``_COLUMNS``)."""

    orders: dict[int, list[Any]] = field(default_factory=dict)
    order_events: list[tuple[Any, ...]] = field(default_factory=list)
    trades: list[tuple[Any, ...]] = field(default_factory=list)
    ledger: list[tuple[Any, ...]] = field(default_factory=list)
    balances: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    system: dict[tuple[str, str], int] = field(default_factory=dict)
    addresses: list[tuple[Any, ...]] = field(default_factory=list)
    withdrawals: dict[int, list[Any]] = field(default_factory=dict)
    withdrawal_updates: list[dict[str, Any]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    last_seq: int = 0
    last_ts_ns: int = 0
    commands: int = 0

    def row_count(self) -> int:
        return (len(self.orders) + len(self.order_events) + len(self.trades)
                + len(self.ledger) + len(self.balances) + len(self.system)
                + len(self.addresses) + len(self.withdrawals) + len(self.withdrawal_updates)
                + len(self.audit) + 1)


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
        self._open_orders: dict[int, list[Any]] = {}  # rows of open orders written so far
        self._accounts: dict[str, tuple[int | None, int]] = {}  # account -> (user, kind)
        self._balances: dict[tuple[int, str], tuple[int, int]] = {}  # as in the database
        self._system: dict[tuple[str, str], int] = {}
        self._qptl = {name: s.quote_per_tick_lot for name, s in markets.symbols.items()}
        self._statements: dict[str, Any] = {}
        self._copy = False
        self._plain: dict[str, str] = {}
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
        self._build_statements(self._db.dialect.name)
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
        self._open_orders.clear()
        self._balances.clear()

    async def stop(self) -> None:
        """Close the connections (idempotent)."""
        db, self._db = self._db, None
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
            async with db.begin() as conn:
                rows = await self._rows(conn, records)
                new_balances, new_system = await self._new_balances(conn, rows)
                await self._write(conn, rows, last, new_balances, new_system)
            # committed: only now does the projector's memory move on
            self._balances.update(new_balances)
            self._system.update(new_system)
            for oid, row in rows.orders.items():
                if row[_O_STATUS] in _OPEN:
                    self._open_orders[oid] = row
                else:
                    self._open_orders.pop(oid, None)
            self._last_seq, self._last_ts_ns = rows.last_seq, rows.last_ts_ns
            written = rows.row_count()
            self.batches += 1
            self.commands += rows.commands
            self.rows += written
            self.busy_seconds += time.perf_counter() - started
            return written

    async def _new_balances(
        self, conn: AsyncConnection, b: _Batch
    ) -> tuple[dict[tuple[int, str], tuple[int, int]], dict[tuple[str, str], int]]:
        """The balances after the batch: last known + the batch's deltas, in Python ints
        (exact; no database arithmetic that could overflow into floating point)."""
        known = self._balances
        users = {key[0] for key in b.balances if key not in known}
        if users:
            bal = schema.balances
            found: dict[tuple[int, str], tuple[int, int]] = {}
            ids = sorted(users)
            for start in range(0, len(ids), 1000):
                result = await conn.execute(
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

    async def _load_orders(self, conn: AsyncConnection,
                           order_ids: set[int]) -> dict[int, list[Any]]:
        """Rows of orders written by earlier batches (not in memory after a restart)."""
        found: dict[int, list[Any]] = {}
        ids = sorted(order_ids)
        orders = schema.orders
        columns = [orders.c[name] for name in _ORDER_COLUMNS]
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            result = await conn.execute(select(*columns).where(orders.c.order_id.in_(chunk)))
            for row in result:
                found[int(row[0])] = list(row)
        unknown = order_ids - found.keys()
        if unknown:
            raise ProjectionError(
                f"events refer to orders the read model does not hold: {sorted(unknown)[:10]} "
                f"(was the read model built from another journal?)")
        return found

    async def _rows(self, conn: AsyncConnection, records: list[Record]) -> _Batch:
        """The rows of ``records``, built ``_BUILD_SLICE`` records at a time with a turn of
        the event loop in between, so that a large batch never holds the loop for long.
        Rows of orders neither in memory nor in the batch are loaded, then it starts over.
        """
        loaded: dict[int, list[Any]] = {}
        while True:
            b = _Batch()
            missing: set[int] = set()
            for start in range(0, len(records), _BUILD_SLICE):
                if start:
                    await asyncio.sleep(0)
                self._build(records[start:start + _BUILD_SLICE], loaded, b, missing)
            if not missing:
                b.last_seq, b.last_ts_ns = records[-1][0], records[-1][1]
                b.commands = len(records)
                return b
            loaded.update(await self._load_orders(conn, missing))

    def _build(self, records: Sequence[Record], loaded: dict[int, list[Any]], b: _Batch,
               missing: set[int]) -> None:
        """Add the rows of ``records`` to ``b`` (pure: no I/O). Orders whose current row is
        needed but neither in memory nor in ``loaded`` are added to ``missing`` (their
        rows in ``b`` are then placeholders)."""
        orders = b.orders
        open_orders = self._open_orders
        qptl = self._qptl
        markets = self.markets
        order_event = b.order_events.append
        trade = b.trades.append
        audit = b.audit.append
        ledger = self._ledger

        def current(oid: int) -> list[Any]:
            row = orders.get(oid)
            if row is None:
                known = open_orders.get(oid) or loaded.get(oid)
                if known is None:
                    missing.add(oid)
                    known = _placeholder(oid)
                row = orders[oid] = list(known)  # memory moves on after the commit only
            return row

        for seq, ts, command, events in records:
            code = 0
            ev: Any  # dispatched on its exact type below
            for i, ev in enumerate(events):
                t = type(ev)
                if t is BookLevelChanged:
                    continue
                if t is OrderFilled:
                    row = current(ev.order_id)
                    leaves = ev.leaves_lots
                    status = "filled" if not leaves else "partially_filled"
                    row[_O_FILLED] = ev.filled_lots
                    row[_O_LEAVES] = leaves
                    row[_O_STATUS] = status
                    row[_O_NOTIONAL] += ev.price_ticks * ev.qty_lots * qptl.get(ev.symbol, 0)
                    row[_O_FEE] += ev.fee_minor
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "filled", status, ev.qty_lots,
                                 ev.price_ticks, ev.filled_lots, leaves, ev.trade_id, ts))
                elif t is TradeExecuted:
                    trade((ev.trade_id, ev.symbol, ev.price_ticks, ev.qty_lots,
                           _SIDES.get(ev.aggressor_side, "?"), ev.maker_order_id,
                           ev.taker_order_id, ev.maker_user_id, ev.taker_user_id,
                           ev.notional_minor, ev.base_minor, ev.maker_fee_minor,
                           ev.taker_fee_minor, seq, ts))
                elif t is OrderAccepted:
                    is_stop = ev.order_type == STOP_LIMIT or ev.order_type == STOP_MARKET
                    status = "pending_trigger" if is_stop else "new"
                    orders[ev.order_id] = [
                        ev.order_id, ev.user_id, ev.symbol, _SIDES.get(ev.side, "?"),
                        _TYPES.get(ev.order_type, "?"), ev.price_ticks, ev.qty_lots, 0,
                        ev.qty_lots, status, _TIFS.get(ev.tif, "?"),
                        ev.client_order_id or None, ev.stop_price_ticks, ev.display_lots,
                        ev.post_only, ev.expire_ts_ns, ev.quote_amount_minor, 0, 0, seq, seq,
                        ts, ts, None]
                    order_event((seq, i, ev.order_id, "accepted", status, ev.qty_lots,
                                 ev.price_ticks, 0, ev.qty_lots, None, ts))
                elif t is OrderCancelled:
                    row = current(ev.order_id)
                    leaves = ev.leaves_lots
                    if leaves:  # self-trade decrement: the order shrinks and stays open
                        row[_O_QTY] -= ev.cancelled_lots
                    else:
                        row[_O_STATUS] = "cancelled"
                        row[_O_CANCEL_REASON] = _REASONS.get(ev.reason, str(ev.reason))
                    row[_O_LEAVES] = leaves
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "cancelled", row[_O_STATUS],
                                 ev.cancelled_lots, 0, row[_O_FILLED], leaves, None, ts))
                elif t is OrderAmended:
                    row = current(ev.order_id)
                    row[_O_PRICE] = ev.price_ticks
                    row[_O_QTY] = ev.qty_lots
                    row[_O_LEAVES] = ev.leaves_lots
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "amended", row[_O_STATUS], ev.qty_lots,
                                 ev.price_ticks, row[_O_FILLED], ev.leaves_lots, None, ts))
                elif t is OrderExpired:
                    row = current(ev.order_id)
                    row[_O_STATUS] = "expired"
                    row[_O_LEAVES] = 0
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "expired", "expired", ev.leaves_lots, 0,
                                 row[_O_FILLED], 0, None, ts))
                elif t is OrderTriggered:
                    row = current(ev.order_id)
                    row[_O_STATUS] = "new"
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "triggered", "new", 0,
                                 ev.last_price_ticks, row[_O_FILLED], row[_O_LEAVES], None, ts))
                elif t is OrderRejected or t is CommandRejected:
                    code = ev.code
                elif t is AddressCreated:
                    b.addresses.append((ev.address, ev.user_id, ev.asset, seq, ts))
                elif t is WithdrawalRequested:
                    b.withdrawals[ev.withdrawal_id] = [
                        ev.withdrawal_id, ev.user_id, ev.asset, ev.amount_minor,
                        ev.destination, "pending", None, seq, ts, seq, ts]
                elif t is WithdrawalCompleted or t is WithdrawalRejected:
                    status = "completed" if t is WithdrawalCompleted else "rejected"
                    reason = ev.reason if t is WithdrawalRejected else None
                    pending = b.withdrawals.get(ev.withdrawal_id)
                    if pending is not None:
                        pending[_W_STATUS] = status
                        pending[_W_REASON] = reason
                        pending[_W_UPDATED_SEQ] = seq
                        pending[_W_UPDATED_TS] = ts
                    else:
                        b.withdrawal_updates.append({
                            "b_withdrawal_id": ev.withdrawal_id, "status": status,
                            "reason": reason, "updated_seq": seq, "updated_ts_ns": ts})
            if events:
                ledger(b, seq, ts, ledger_entries_of(seq, events, markets))
            audit(_audit_row(seq, ts, command, events, code))

    def _ledger(self, b: _Batch, seq: int, ts: int, entries: Sequence[Any]) -> None:
        accounts = self._accounts
        balances, system, append = b.balances, b.system, b.ledger.append
        for e in entries:
            debit, credit, asset, amount = e.debit, e.credit, e.asset, e.amount_minor
            debit_user, debit_kind = accounts.get(debit) or _account(accounts, debit)
            credit_user, credit_kind = accounts.get(credit) or _account(accounts, credit)
            append((seq, e.index, debit, credit, asset, amount, e.reason, e.reference,
                    debit_user, credit_user, ts))
            if debit_user is None:
                key = (debit, asset)
                system[key] = system.get(key, 0) - amount
            else:
                pair = balances.get((debit_user, asset))
                if pair is None:
                    pair = balances[(debit_user, asset)] = [0, 0]
                pair[debit_kind] -= amount
            if credit_user is None:
                key = (credit, asset)
                system[key] = system.get(key, 0) + amount
            else:
                pair = balances.get((credit_user, asset))
                if pair is None:
                    pair = balances[(credit_user, asset)] = [0, 0]
                pair[credit_kind] += amount

    def _build_statements(self, dialect: str) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ProjectionError(f"the read model needs SQLite or PostgreSQL, not {dialect}")
        statements: dict[str, Any] = {}
        w = schema.withdrawals
        statements["settle"] = (
            update(w).where(w.c.withdrawal_id == bindparam("b_withdrawal_id"))
            .values(status=bindparam("status"), reason=bindparam("reason"),
                    updated_seq=bindparam("updated_seq"),
                    updated_ts_ns=bindparam("updated_ts_ns")))
        state = schema.projection_state
        statements["advance"] = (
            update(state)
            .where(state.c.name == bindparam("b_name"), state.c.last_seq == bindparam("b_old"))
            .values(last_seq=bindparam("last_seq"), last_ts_ns=bindparam("last_ts_ns")))
        self._statements = statements
        # PostgreSQL: append-only tables are loaded with COPY (binary), the fastest path
        self._copy = dialect == "postgresql" and self.copy
        # every other insert and upsert as plain SQL in the driver's parameter style, the
        # rows' tuples straight to its executemany: no dict per row, nothing to compile
        self._plain = {}
        quote = self.db.dialect.identifier_preparer.quote
        for key, columns in _COLUMNS.items():
            marks = ("?" * len(columns) if dialect == "sqlite"
                     else [f"${i}" for i in range(1, len(columns) + 1)])
            sql = (f"INSERT INTO {quote(_TABLES[key].name)} "
                   f"({', '.join(map(quote, columns))}) VALUES ({', '.join(marks)})")
            if key in _UPSERTS:
                target, keep = _UPSERTS[key]
                sql += (f" ON CONFLICT ({', '.join(map(quote, target))}) DO UPDATE SET "
                        + ", ".join(f"{quote(c)} = excluded.{quote(c)}"
                                    for c in columns if c not in keep))
            self._plain[key] = sql

    async def _write(self, conn: AsyncConnection, b: _Batch, old_seq: int,
                     new_balances: dict[tuple[int, str], tuple[int, int]],
                     new_system: dict[tuple[str, str], int]) -> None:
        seq = b.last_seq
        # first, so that it opens the transaction and locks this projection's row
        result = await conn.execute(self._statements["advance"], {
            "b_name": self.name, "b_old": old_seq, "last_seq": seq,
            "last_ts_ns": b.last_ts_ns})
        if result.rowcount != 1:
            raise ProjectionError(
                f"projection_state {self.name!r} is no longer at seq {old_seq}: another "
                f"writer projects into this database")
        tables: tuple[tuple[str, list[tuple[Any, ...]]], ...] = (
            ("orders", list(map(tuple, b.orders.values()))),
            ("order_events", b.order_events), ("trades", b.trades), ("ledger", b.ledger),
            ("audit", b.audit), ("addresses", b.addresses),
            ("withdrawals", list(map(tuple, b.withdrawals.values()))))
        for key, rows in tables:
            if rows:
                await self._insert(conn, key, rows)
        if b.withdrawal_updates:
            await conn.execute(self._statements["settle"], b.withdrawal_updates)
        if new_balances:
            await self._insert(conn, "balances", [
                (uid, asset, free, held, seq)
                for (uid, asset), (free, held) in sorted(new_balances.items())])
        if new_system:
            await self._insert(conn, "system", [
                (account, asset, amount, seq)
                for (account, asset), amount in sorted(new_system.items())])

    async def _insert(self, conn: AsyncConnection, key: str,
                      rows: list[tuple[Any, ...]]) -> None:
        """Insert (or, for orders and balances, upsert) ``rows`` into table ``key``."""
        if self._copy and key in _APPENDS:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.copy_records_to_table(_TABLES[key].name, records=rows,
                                            columns=list(_COLUMNS[key]))
        else:
            await conn.exec_driver_sql(self._plain[key], rows)

    # -- catching up from the journal ----------------------------------------------------

    async def catch_up(self, data_dir: str | Path, *, accounts: bool = True,
                       batch_size: int = 2000) -> int:
        """Project every journaled record after ``last_seq`` (the hole a full queue or a
        restart left), replaying the commands through an engine restored from
        ``data_dir`` (``journal/`` and ``snapshots/``, as ``DurableEngine`` lays them
        out). Returns the number of records projected.

        ``accounts`` must be that of the live engine. Raises
        ``JournalGapError`` when neither a snapshot nor the journal reaches back to
        ``last_seq``.
        """
        replay = _Replay(Path(data_dir), self.markets, self._last_seq, accounts)
        done = 0
        while True:
            chunk = await asyncio.to_thread(replay.take, batch_size)
            if not chunk:
                return done
            await self.project(chunk)
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


def _placeholder(oid: int) -> list[Any]:
    row: list[Any] = [0] * len(_ORDER_COLUMNS)
    row[0], row[_O_STATUS], row[_O_CANCEL_REASON] = oid, "new", None
    row[_ORDER_COLUMNS.index("client_order_id")] = None
    return row


def _account(cache: dict[str, tuple[int | None, int]], name: str) -> tuple[int | None, int]:
    """``user:<id>:available`` -> (id, 0), ``...:held`` -> (id, 1), else (None, 2)."""
    parts = name.split(":")
    parsed: tuple[int | None, int]
    if len(parts) == 3 and parts[0] == "user":
        parsed = (int(parts[1]), 0 if parts[2] == "available" else 1)
    else:
        parsed = (None, 2)
    cache[name] = parsed
    return parsed


_json_encode = msgspec.json.Encoder().encode


def _audit_row(seq: int, ts: int, command: Any, events: Sequence[Event],
               code: int) -> tuple[Any, ...]:
    name = type(command).__name__
    try:
        text = _json_encode({"type": name, **msgspec.structs.asdict(command)}).decode()
    except TypeError:
        text = _json_encode({"type": name, "repr": repr(command)}).decode()
    user_id = getattr(command, "user_id", 0)
    if not user_id:
        for ev in events:  # wallet operations name their user in the event
            if isinstance(ev, Deposited | WithdrawalCompleted | WithdrawalRejected):
                user_id = ev.user_id
                break
    return (seq, ts, user_id or None, name, text, int(code), len(events))


class _Replay:
    """Records after ``after_seq`` with their events, re-derived from the journal.

    The engine is restored to ``after_seq`` on the first ``take`` (snapshot + replay);
    records are read up to the journal's last intact record at that moment.
    """

    def __init__(self, data_dir: Path, markets: Markets, after_seq: int,
                 accounts: bool) -> None:
        self.data_dir = data_dir
        self.markets = markets
        self.after_seq = after_seq
        self.accounts = accounts
        self._records: Iterator[Record] | None = None

    def take(self, n: int) -> list[Record]:
        if self._records is None:
            self._records = self._generate()
        return list(islice(self._records, n))

    def _generate(self) -> Iterator[Record]:
        journal = self.data_dir / "journal"
        end = recover_journal(journal, dry_run=True, verify_from=self.after_seq + 1).last_seq or 0
        if end < self.after_seq:
            raise ProjectionError(
                f"the read model is at seq {self.after_seq} but the journal in {journal} "
                f"ends at seq {end}: it is not the journal this read model was built from")
        if end == self.after_seq:
            return
        engine: Engine
        if self.after_seq == 0:
            engine = Engine(self.markets, accounts=self.accounts)
        else:
            engine, _ = recover(self.data_dir, self.markets, accounts=self.accounts,
                                to_seq=self.after_seq, truncate=False)
        if engine.last_seq != self.after_seq:
            raise ProjectionError(
                f"the journal in {self.data_dir} restores seq {engine.last_seq}, not "
                f"{self.after_seq}")
        expected = self.after_seq + 1
        apply = engine.apply
        for seq, ts_ns, payload in iter_records(journal, from_seq=expected):
            if seq != expected:
                raise JournalNotFromStartError(
                    f"the journal in {journal} continues at seq {seq}, the projection needs "
                    f"seq {expected}")
            command = decode_command(payload)
            yield seq, ts_ns, command, apply(seq, ts_ns, command)
            if seq >= end:
                return
            expected += 1


async def rebuild(data_dir: str | Path, markets: Markets, url: str, *,
                  accounts: bool = True, name: str = DEFAULT_NAME, batch_size: int = 2000,
                  progress: Callable[[int], None] | None = None) -> ProjectorStats:
    """Drop the read model's tables at ``url``, create them again and project the whole
    journal of ``data_dir`` from sequence number 1 (replayed through a fresh engine).

    Only the tables of :data:`matchbook.store.schema.metadata` are dropped; other tables
    in the same database (the API's users and keys) are left alone. Stop every projector
    writing to ``url`` first. ``accounts`` must be that of the engine that wrote the
    journal. Raises :class:`JournalNotFromStartError` when the journal's
    first segment does not start at seq 1 (older segments were removed: a rebuild needs
    all of them).
    """
    journal = Path(data_dir) / "journal"
    segments = [s for s in list_segments(journal) if s.path.stat().st_size > 0]
    if segments and segments[0].first_seq != 1:
        raise JournalNotFromStartError(
            f"cannot rebuild the read model: the journal in {journal} starts at seq "
            f"{segments[0].first_seq} ({segments[0].path.name}), not 1")
    await upgrade_async(url)
    await _recreate_tables(url)
    projector = Projector(url, markets, name=name, migrate=False)
    await projector.start()
    try:
        replay = _Replay(Path(data_dir), markets, 0, accounts)
        while True:
            chunk = await asyncio.to_thread(replay.take, batch_size)
            if not chunk:
                break
            await projector.project(chunk)
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


class ProjectorTask:
    """Runs a :class:`Projector` behind a bounded queue of batches.

    :meth:`offer` is called by the producer (on the event loop thread) after every
    applied batch and never blocks. The consumer takes a batch, and when it has fallen
    behind also whatever else is queued (up to ``max_coalesce`` records), and writes
    them in one transaction.

    When it writes: at least ``interval`` seconds apart, so that a lone command is
    written at once and a steady stream in few large transactions (a write costs about
    as much for ten records as for a thousand). During a burst, while records are offered
    faster than ``busy_rate`` per second, it does not write at all: the event loop, the
    CPU and the disk (whose fsyncs acknowledge orders) go to order entry, and the
    projection catches up in large transactions once the burst is over. The lag is
    bounded all the same: once the oldest waiting record is ``max_delay`` seconds old,
    ``max_lag`` records are waiting (about 1 KB each), or the queue is half full, it
    writes whatever the rate.

    A batch offered to a full queue is dropped: the task is then ``behind`` until the
    hole is filled from the journal, either by :meth:`catch_up` or, when ``data_dir`` is
    given, automatically by the consumer.
    """

    def __init__(self, projector: Projector, *, maxsize: int = 4096,
                 max_coalesce: int = 20_000, data_dir: str | Path | None = None,
                 accounts: bool = True, retry_seconds: float = 1.0, interval: float = 0.1,
                 busy_rate: float = 2_000.0, max_delay: float = 5.0,
                 max_lag: int = 100_000) -> None:
        self.projector = projector
        # (time.monotonic() when offered, batch)
        self.queue: asyncio.Queue[tuple[float, Sequence[Record]]] = asyncio.Queue(maxsize)
        self.max_coalesce = max_coalesce
        self.interval = interval
        self.busy_rate = busy_rate
        self.max_delay = max_delay
        self.max_lag = max_lag
        self.offered_records = 0
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.accounts = accounts
        self.retry_seconds = retry_seconds
        self.last_offered_seq = projector.last_seq
        self.offered_batches = 0
        self.dropped_batches = 0
        self.dropped_records = 0
        self.discarded_records = 0  # dequeued but not writable (behind a hole)
        self.behind = False
        self.errors = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    # -- producer side -------------------------------------------------------------------

    def offer(self, batch: Sequence[Record]) -> bool:
        """Queue ``batch`` for projection; never blocks. Returns False (and marks the
        projection behind) when the queue is full and the batch was dropped. Call it on
        the event loop's thread (``asyncio.Queue`` is not thread-safe)."""
        if not batch:
            return True
        last = batch[-1][0]
        if last > self.last_offered_seq:
            self.last_offered_seq = last
        self.offered_batches += 1
        self.offered_records += len(batch)
        try:
            self.queue.put_nowait((time.monotonic(), batch))
        except asyncio.QueueFull:
            self.dropped_batches += 1
            self.dropped_records += len(batch)
            self.behind = True
            return False
        return True

    @property
    def lag(self) -> int:
        """Records offered but not yet in the database."""
        return max(0, self.last_offered_seq - self.projector.last_seq)

    @property
    def rows_per_second(self) -> float:
        """Rows written per second of database work."""
        return self.projector.stats().rows_per_second

    @property
    def commands_per_second(self) -> float:
        return self.projector.stats().commands_per_second

    def stats(self) -> dict[str, Any]:
        s = self.projector.stats()
        return {"last_seq": s.last_seq, "last_offered_seq": self.last_offered_seq,
                "lag": self.lag, "queued_batches": self.queue.qsize(),
                "offered_batches": self.offered_batches,
                "dropped_batches": self.dropped_batches,
                "dropped_records": self.dropped_records,
                "discarded_records": self.discarded_records, "behind": self.behind,
                "batches": s.batches, "commands": s.commands, "rows": s.rows,
                "rows_per_second": s.rows_per_second,
                "commands_per_second": s.commands_per_second, "errors": self.errors,
                "last_error": self.last_error}

    # -- consumer side -------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="matchbook-sql-projector")

    async def stop(self, *, drain: bool = True, timeout: float | None = 30.0) -> None:
        """Stop the consumer, after writing what is queued when ``drain``."""
        task, self._task = self._task, None
        if task is None:
            return
        if drain and not task.done():
            try:
                await asyncio.wait_for(self.queue.join(), timeout)
            except TimeoutError:
                logger.warning("projector stopped with %d batches still queued",
                               self.queue.qsize())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def catch_up(self, data_dir: str | Path | None = None) -> int:
        """Fill the hole from the journal (see :meth:`Projector.catch_up`); clears
        ``behind`` when the projection reached what was offered."""
        directory = Path(data_dir) if data_dir is not None else self.data_dir
        if directory is None:
            raise ProjectionError("no data directory to catch up from")
        done = await self.projector.catch_up(directory, accounts=self.accounts)
        if self.projector.last_seq >= self.last_offered_seq:
            self.behind = False
        return done

    async def _run(self) -> None:
        queue = self.queue
        loop = asyncio.get_running_loop()
        next_write = measured_at = loop.time()
        measured = self.offered_records  # the offered rate is measured from here
        while True:
            offered_at, batch = await queue.get()
            taken = 1
            try:
                delay = next_write - loop.time()
                if delay > 0:  # the last write began a moment ago: let more join this one
                    await asyncio.sleep(delay)
                # during a burst, wait until it is over (or the lag reaches its bounds,
                # or the queue is half full: many small batches fill it before the lag
                # in records is large, and a full queue drops what is offered)
                while (self.lag < self.max_lag and 2 * queue.qsize() < queue.maxsize
                       and time.monotonic() - offered_at < self.max_delay):
                    now, offered = loop.time(), self.offered_records
                    rate = (offered - measured) / max(now - measured_at, self.interval)
                    measured, measured_at = offered, now
                    if rate < self.busy_rate:
                        break
                    await asyncio.sleep(self.interval)
                next_write = loop.time() + self.interval
                records = list(batch)
                while len(records) < self.max_coalesce and not queue.empty():
                    records.extend(queue.get_nowait()[1])
                    taken += 1
                await self._project(records)
            finally:
                for _ in range(taken):
                    queue.task_done()

    async def _project(self, records: list[Record]) -> None:
        projector = self.projector
        try:
            if self.behind and self.data_dir is not None:
                await self.catch_up()
            await projector.project(records)
            if self.behind and projector.last_seq >= self.last_offered_seq:
                self.behind = False  # whatever was dropped has been written since
            return
        except ProjectionGapError:
            self.behind = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database went away: the journal has the records
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.behind = True
            self.discarded_records += sum(1 for r in records if r[0] > projector.last_seq)
            logger.exception("projecting seq %d..%d failed", records[0][0], records[-1][0])
            await asyncio.sleep(self.retry_seconds)
            return
        if self.data_dir is None:
            self.discarded_records += sum(1 for r in records if r[0] > projector.last_seq)
            return
        try:
            await self.catch_up()
            await projector.project(records)  # what the journal had is skipped
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("catching up from %s failed", self.data_dir)


__all__ = [
    "DEFAULT_NAME",
    "JournalNotFromStartError",
    "ProjectionError",
    "ProjectionGapError",
    "Projector",
    "ProjectorStats",
    "ProjectorTask",
    "Record",
    "rebuild",
]
