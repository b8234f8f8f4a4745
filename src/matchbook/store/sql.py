"""The read model's SQL writers, per dialect (SQLite and PostgreSQL).

:class:`SqlWriter` writes one :class:`~matchbook.store.rows.RowBatch` inside the
caller's transaction: the projection's ``projection_state`` row first (it locks that
row and checks no other writer moved it), then every table. On PostgreSQL the
append-only tables go through ``COPY`` (binary) unless ``copy`` is false; every other
insert and upsert is plain SQL in the driver's parameter style, the rows' tuples
straight to its ``executemany``.

What a batch needs from the database is a sequence of *operations* (:data:`Op`: a
query, a statement, an insert of rows, a turn of the event loop), produced by
generators that hold the logic once (:meth:`SqlWriter.write_ops` here, the
projector's batch in :mod:`matchbook.store.projector`). Two drivers run them: on an
asyncio connection (:meth:`SqlWriter.run`) and on a plain one in a worker thread
(:meth:`SqlWriter.run_sync`: the SQLite projector, one thread hop per batch instead of
one per statement).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, case, func, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from matchbook.store import schema
from matchbook.store.errors import ProjectionError
from matchbook.store.p2p_rows import P2P_COLUMNS, TRADE_UPDATE_COLUMNS
from matchbook.store.rows import COLUMNS, RowBatch

TABLES = {"orders": schema.orders, "order_events": schema.order_events,
          "trades": schema.trades, "ledger": schema.ledger_entries, "audit": schema.audit_log,
          "addresses": schema.wallet_addresses, "withdrawals": schema.withdrawals,
          "balances": schema.balances, "system": schema.system_balances,
          "p2p_methods": schema.p2p_payment_methods, "p2p_ads": schema.p2p_ads,
          "p2p_trades": schema.p2p_trades, "p2p_transitions": schema.p2p_transitions,
          "p2p_messages": schema.p2p_messages, "p2p_feedback": schema.p2p_feedback,
          "notifications": schema.notifications}
_DISPUTE = ("dispute_opened_by", "dispute_reason", "dispute_text", "dispute_opened_ts_ns")
_APPENDS = ("order_events", "trades", "ledger", "audit", "addresses", "withdrawals")
_UPSERTS = {  # conflict target, columns an existing row keeps
    # an order's later events change only these columns (store/rows.py), so an update
    # sets only them: SQLite then leaves alone the indexes on the others
    # (ix_orders_user_symbol), which it would rewrite if they were in the SET list
    "orders": (("order_id",), set(COLUMNS["orders"]) - {
        "price_ticks", "qty_lots", "filled_lots", "leaves_lots", "status",
        "filled_notional_minor", "fee_minor", "updated_seq", "updated_ts_ns",
        "cancel_reason"}),
    "balances": (("user_id", "asset"), {"user_id", "asset"}),
    "system": (("account", "asset"), {"account", "asset"}),
}


@dataclass(frozen=True, slots=True)
class Query:
    """Run ``statement``; its rows are sent back (a list of rows)."""

    statement: Executable


@dataclass(frozen=True, slots=True)
class Execute:
    """Run ``statement`` with ``params`` (one dict, or a list for many); the rows it
    changed are sent back."""

    statement: Executable
    params: dict[str, Any] | list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Insert:
    """Insert (or, for orders and balances, upsert) ``rows`` into table ``key``."""

    key: str
    rows: list[tuple[Any, ...]]


class Pause:
    """A turn of the event loop between two slices of work (nothing in a thread)."""


PAUSE = Pause()
Op = Query | Execute | Insert | Pause
Steps = Generator[Op, Any, Any]


class SqlWriter:
    """Statements of one projection (``name``) on one database."""

    def __init__(self, db: AsyncEngine, name: str, *, copy: bool = True) -> None:
        self.name = name
        self.copy = copy
        self.db = db
        self._statements: dict[str, Any] = {}
        self._copy = False
        self._plain: dict[str, str] = {}
        self._build_statements(db.dialect.name)

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
        statements.update(_p2p_updates())
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
        for key, columns in COLUMNS.items():
            marks = ("?" * len(columns) if dialect == "sqlite"
                     else [f"${i}" for i in range(1, len(columns) + 1)])
            sql = (f"INSERT INTO {quote(TABLES[key].name)} "
                   f"({', '.join(map(quote, columns))}) VALUES ({', '.join(marks)})")
            if key in _UPSERTS:
                target, keep = _UPSERTS[key]
                sql += (f" ON CONFLICT ({', '.join(map(quote, target))}) DO UPDATE SET "
                        + ", ".join(f"{quote(c)} = excluded.{quote(c)}"
                                    for c in columns if c not in keep))
            self._plain[key] = sql

    async def write(self, conn: AsyncConnection, b: RowBatch, old_seq: int,
                    new_balances: dict[tuple[int, str], tuple[int, int]],
                    new_system: dict[tuple[str, str], int]) -> None:
        """Write ``b`` and move ``projection_state`` from ``old_seq`` to its last record,
        in the caller's transaction."""
        await self.run(conn, self.write_ops(b, old_seq, new_balances, new_system))

    def write_ops(self, b: RowBatch, old_seq: int,
                  new_balances: dict[tuple[int, str], tuple[int, int]],
                  new_system: dict[tuple[str, str], int]) -> Steps:
        """The operations of :meth:`write`."""
        seq = b.last_seq
        # first, so that it opens the transaction and locks this projection's row
        yield from self.skip_ops(old_seq, seq, b.last_ts_ns)
        tables: tuple[tuple[str, list[tuple[Any, ...]]], ...] = (
            ("orders", list(map(tuple, b.orders.values()))),
            ("order_events", b.order_events), ("trades", b.trades), ("ledger", b.ledger),
            ("audit", b.audit), ("addresses", b.addresses),
            ("withdrawals", list(map(tuple, b.withdrawals.values()))))
        for key, rows in tables:
            if rows:
                yield Insert(key, rows)
        if b.withdrawal_updates:
            yield Execute(self._statements["settle"], b.withdrawal_updates)
        p2p = b.p2p
        if p2p.row_count():
            for key in P2P_COLUMNS:  # new rows first: an update may follow in a later batch
                rows = p2p.rows(key)
                if rows:
                    yield Insert(key, rows)
            for key, updates in (("p2p_method_updates", p2p.method_updates),
                                 ("p2p_ad_updates", p2p.ad_updates),
                                 ("p2p_trade_updates", p2p.trade_updates)):
                if updates:
                    yield Execute(self._statements[key], updates)
        if new_balances:
            yield Insert("balances", [
                (uid, asset, free, held, seq)
                for (uid, asset), (free, held) in sorted(new_balances.items())])
        if new_system:
            yield Insert("system", [
                (account, asset, amount, seq)
                for (account, asset), amount in sorted(new_system.items())])

    async def skip(self, conn: AsyncConnection, old_seq: int, seq: int, ts_ns: int) -> None:
        """Move ``projection_state`` from ``old_seq`` to ``seq``; raises
        ``ProjectionError`` if another writer moved it."""
        await self.run(conn, self.skip_ops(old_seq, seq, ts_ns))

    def skip_ops(self, old_seq: int, seq: int, ts_ns: int) -> Steps:
        """The operations of :meth:`skip`."""
        changed = yield Execute(self._statements["advance"], {
            "b_name": self.name, "b_old": old_seq, "last_seq": seq, "last_ts_ns": ts_ns})
        if changed != 1:
            raise ProjectionError(
                f"projection_state {self.name!r} is no longer at seq {old_seq}: another "
                f"writer projects into this database")

    # -- the two drivers -----------------------------------------------------------------

    async def run(self, conn: AsyncConnection, steps: Steps) -> Any:
        """Run ``steps`` on the asyncio connection ``conn``; returns what they return."""
        answer: Any = None
        while True:
            try:
                op = steps.send(answer)
            except StopIteration as done:
                return done.value
            answer = None
            if type(op) is Insert:
                await self._insert(conn, op.key, op.rows)
            elif type(op) is Execute:
                answer = (await conn.execute(op.statement, op.params)).rowcount
            elif type(op) is Query:
                answer = list(await conn.execute(op.statement))
            else:
                await asyncio.sleep(0)

    def run_sync(self, conn: Connection, steps: Steps) -> Any:
        """:meth:`run` on a plain connection (in a worker thread; ``Pause`` is a no-op,
        as the event loop is not waiting on this thread)."""
        answer: Any = None
        while True:
            try:
                op = steps.send(answer)
            except StopIteration as done:
                return done.value
            answer = None
            if type(op) is Insert:
                conn.exec_driver_sql(self._plain[op.key], op.rows)
            elif type(op) is Execute:
                answer = conn.execute(op.statement, op.params).rowcount
            elif type(op) is Query:
                answer = list(conn.execute(op.statement))

    async def _insert(self, conn: AsyncConnection, key: str,
                      rows: list[tuple[Any, ...]]) -> None:
        """Insert (or, for orders and balances, upsert) ``rows`` into table ``key``."""
        if self._copy and key in _APPENDS:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.copy_records_to_table(TABLES[key].name, records=rows,
                                            columns=list(COLUMNS[key]))
        else:
            await conn.exec_driver_sql(self._plain[key], rows)


def _p2p_updates() -> dict[str, Any]:
    """The update statements of P2P rows written by earlier batches (parameters as
    :class:`~matchbook.store.p2p_rows.P2PBatch` builds them)."""
    methods, ads, trades = schema.p2p_payment_methods, schema.p2p_ads, schema.p2p_trades
    opening = bindparam("b_opening", type_=Integer) == 1
    values: dict[str, Any] = {}
    for name in TRADE_UPDATE_COLUMNS:
        column = trades.c[name]
        if name in _DISPUTE:
            values[name] = case((opening, bindparam(name)), else_=column)
        elif name in ("proposed_outcome", "proposed_by"):
            values[name] = case((opening, bindparam(name)),
                                else_=func.coalesce(bindparam(name), column))
        else:
            values[name] = func.coalesce(bindparam(name), column)
    values["updated_seq"] = bindparam("updated_seq")
    values["updated_ts_ns"] = bindparam("updated_ts_ns")
    return {
        "p2p_method_updates": update(methods)
        .where(methods.c.method_id == bindparam("b_method_id"))
        .values(removed=bindparam("removed"), updated_seq=bindparam("updated_seq")),
        "p2p_ad_updates": update(ads).where(ads.c.ad_id == bindparam("b_ad_id"))
        .values(state=func.coalesce(bindparam("state"), ads.c.state),
                remaining_minor=bindparam("remaining_minor"),
                updated_seq=bindparam("updated_seq"), updated_ts_ns=bindparam("updated_ts_ns")),
        "p2p_trade_updates": update(trades).where(trades.c.trade_id == bindparam("b_trade_id"))
        .values(**values),
    }
