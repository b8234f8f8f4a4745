"""Read helpers over the read model, for the API and operators.

Every function takes the asyncio engine (``Projector.db`` or ``db.create_engine(url)``)
and returns plain ``dict`` rows whose money columns are ``int`` minor units. Lists are
newest first and paged by keyset: pass the smallest id of the previous page as
``before_*`` to get the next one. ``limit`` is capped at :data:`MAX_LIMIT`.

The read model lags the engine by a little (see :func:`projection_lag`): these answers
are for history and statements, not for risk decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Select, and_, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.core.ledger import available, held
from matchbook.store import schema

MAX_LIMIT = 1000
NS_PER_SECOND = 1_000_000_000
INTERVALS: dict[str, int] = {
    "1m": 60 * NS_PER_SECOND,
    "5m": 5 * 60 * NS_PER_SECOND,
    "15m": 15 * 60 * NS_PER_SECOND,
    "1h": 3600 * NS_PER_SECOND,
    "4h": 4 * 3600 * NS_PER_SECOND,
    "1d": 86_400 * NS_PER_SECOND,
}
"""Candle intervals and their length in ns. Buckets are aligned to the Unix epoch
(a ``1d`` candle runs from 00:00 UTC)."""

_orders = schema.orders
_trades = schema.trades
_ledger = schema.ledger_entries


def _limit(limit: int) -> int:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return min(limit, MAX_LIMIT)


async def _all(db: AsyncEngine, query: Select[Any]) -> list[dict[str, Any]]:
    async with db.connect() as conn:
        result = await conn.execute(query)
        return [dict(row) for row in result.mappings()]


# -- orders ------------------------------------------------------------------------------


async def orders_of_user(
    db: AsyncEngine,
    user_id: int,
    *,
    open_only: bool | None = None,
    symbol: str | None = None,
    status: str | Sequence[str] | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The user's orders, newest first. ``open_only``: True = open (new, partially
    filled, pending trigger), False = closed, None = both; ``status`` narrows further.
    Raises ``ValueError`` for an unknown status or a limit below 1."""
    return await all_orders(db, user_id=user_id, open_only=open_only, symbol=symbol,
                            status=status, limit=limit, before_id=before_id)


async def all_orders(
    db: AsyncEngine,
    *,
    user_id: int | None = None,
    open_only: bool | None = None,
    symbol: str | None = None,
    status: str | Sequence[str] | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Orders of every user (or of ``user_id``), newest first, with the filters of
    :func:`orders_of_user`. Raises ``ValueError`` for an unknown status or a limit
    below 1."""
    query = select(_orders)
    if user_id is not None:
        query = query.where(_orders.c.user_id == user_id)
    if open_only is not None:
        statuses = schema.OPEN_STATUSES if open_only else schema.CLOSED_STATUSES
        query = query.where(_orders.c.status.in_(statuses))
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        unknown = set(wanted) - set(schema.ORDER_STATUSES)
        if unknown:
            raise ValueError(f"unknown order status {sorted(unknown)}")
        query = query.where(_orders.c.status.in_(wanted))
    if symbol is not None:
        query = query.where(_orders.c.symbol == symbol)
    if before_id is not None:
        query = query.where(_orders.c.order_id < before_id)
    return await _all(db, query.order_by(_orders.c.order_id.desc()).limit(_limit(limit)))


async def open_orders(db: AsyncEngine, user_id: int, *, symbol: str | None = None,
                      limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """The user's open orders (resting and pending stops), newest first."""
    return await orders_of_user(db, user_id, open_only=True, symbol=symbol, limit=limit,
                                before_id=before_id)


async def closed_orders(db: AsyncEngine, user_id: int, *, symbol: str | None = None,
                        status: str | Sequence[str] | None = None, limit: int = 100,
                        before_id: int | None = None) -> list[dict[str, Any]]:
    """The user's filled, cancelled and expired orders, newest first."""
    return await orders_of_user(db, user_id, open_only=False, symbol=symbol, status=status,
                                limit=limit, before_id=before_id)


async def order(db: AsyncEngine, order_id: int,
                user_id: int | None = None) -> dict[str, Any] | None:
    """One order, or ``None`` (also when ``user_id`` is given and is not the owner)."""
    query = select(_orders).where(_orders.c.order_id == order_id)
    if user_id is not None:
        query = query.where(_orders.c.user_id == user_id)
    rows = await _all(db, query)
    return rows[0] if rows else None


async def order_history(db: AsyncEngine, order_id: int) -> list[dict[str, Any]]:
    """The order's status history (accepted, fills, amendments, cancel...), oldest first."""
    events = schema.order_events
    return await _all(db, select(events).where(events.c.order_id == order_id)
                      .order_by(events.c.seq, events.c.event_index))


# -- trades ------------------------------------------------------------------------------


async def fills(db: AsyncEngine, user_id: int, *, symbol: str | None = None,
                limit: int = 100, before_trade_id: int | None = None) -> list[dict[str, Any]]:
    """The user's trades, newest first, each with the user's ``role`` (maker/taker),
    ``side`` (buy/sell), ``order_id`` and ``fee_minor``."""
    limit = _limit(limit)
    found: list[dict[str, Any]] = []
    for role, user_col in (("maker", _trades.c.maker_user_id),
                           ("taker", _trades.c.taker_user_id)):
        query = select(_trades).where(user_col == user_id)
        if symbol is not None:
            query = query.where(_trades.c.symbol == symbol)
        if before_trade_id is not None:
            query = query.where(_trades.c.trade_id < before_trade_id)
        for row in await _all(db, query.order_by(_trades.c.trade_id.desc()).limit(limit)):
            aggressor = row["aggressor_side"]
            taker = role == "taker"
            row["role"] = role
            row["side"] = aggressor if taker else ("sell" if aggressor == "buy" else "buy")
            row["order_id"] = row["taker_order_id"] if taker else row["maker_order_id"]
            row["fee_minor"] = row["taker_fee_minor"] if taker else row["maker_fee_minor"]
            found.append(row)
    found.sort(key=lambda r: (r["trade_id"], r["role"]), reverse=True)
    return found[:limit]


async def all_trades(db: AsyncEngine, *, user_id: int | None = None,
                     symbol: str | None = None, limit: int = 100,
                     before_trade_id: int | None = None) -> list[dict[str, Any]]:
    """Trades of every market (or of ``symbol``), newest first; with ``user_id``, those
    where that user was the maker or the taker (a self-trade once). Raises
    ``ValueError`` for a limit below 1."""
    query = select(_trades)
    if user_id is not None:
        query = query.where(or_(_trades.c.maker_user_id == user_id,
                                _trades.c.taker_user_id == user_id))
    if symbol is not None:
        query = query.where(_trades.c.symbol == symbol)
    if before_trade_id is not None:
        query = query.where(_trades.c.trade_id < before_trade_id)
    return await _all(db, query.order_by(_trades.c.trade_id.desc()).limit(_limit(limit)))


async def recent_trades(db: AsyncEngine, symbol: str, *, limit: int = 100,
                        before_trade_id: int | None = None) -> list[dict[str, Any]]:
    """The symbol's trades, newest first."""
    query = select(_trades).where(_trades.c.symbol == symbol)
    if before_trade_id is not None:
        query = query.where(_trades.c.trade_id < before_trade_id)
    return await _all(db, query.order_by(_trades.c.trade_id.desc()).limit(_limit(limit)))


async def candles(db: AsyncEngine, symbol: str, interval: str, start_ns: int,
                  end_ns: int) -> list[dict[str, Any]]:
    """OHLCV candles of ``symbol`` from its trades with ``start_ns <= ts_ns < end_ns``,
    oldest first; intervals without trades are absent.

    Each candle: ``start_ns``, ``open``/``high``/``low``/``close`` (ticks),
    ``volume_lots``, ``quote_volume_minor`` and ``trades``. Open and close are the first
    and last trade by trade id. Raises ``ValueError`` for an interval not in
    :data:`INTERVALS`.
    """
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; expected one of {list(INTERVALS)}")
    length = literal_column(str(INTERVALS[interval]), BigInteger)  # an int from INTERVALS
    bucket = (_trades.c.ts_ns - _trades.c.ts_ns % length).label("start_ns")
    agg = (
        select(
            bucket,
            func.min(_trades.c.trade_id).label("first_id"),
            func.max(_trades.c.trade_id).label("last_id"),
            func.max(_trades.c.price_ticks).label("high"),
            func.min(_trades.c.price_ticks).label("low"),
            func.sum(_trades.c.qty_lots).label("volume_lots"),
            func.sum(_trades.c.notional_minor).label("quote_volume_minor"),
            func.count().label("trades"),
        )
        .where(_trades.c.symbol == symbol, _trades.c.ts_ns >= start_ns, _trades.c.ts_ns < end_ns)
        .group_by(literal_column("start_ns"))
        .subquery()
    )
    first = _trades.alias("first_trade")
    last = _trades.alias("last_trade")
    query = (
        select(agg.c.start_ns, first.c.price_ticks.label("open"), agg.c.high, agg.c.low,
               last.c.price_ticks.label("close"), agg.c.volume_lots,
               agg.c.quote_volume_minor, agg.c.trades)
        .join_from(agg, first, first.c.trade_id == agg.c.first_id)
        .join(last, last.c.trade_id == agg.c.last_id)
        .order_by(agg.c.start_ns)
    )
    rows = await _all(db, query)
    for row in rows:
        for key in ("start_ns", "high", "low", "volume_lots", "quote_volume_minor", "trades"):
            row[key] = int(row[key])
    return rows


# -- money -------------------------------------------------------------------------------


async def balances(db: AsyncEngine, user_id: int) -> list[dict[str, Any]]:
    """The user's balances per asset (``available_minor``, ``held_minor``,
    ``total_minor``), by asset."""
    b = schema.balances
    rows = await _all(db, select(b.c.asset, b.c.available_minor, b.c.held_minor,
                                 b.c.updated_seq)
                      .where(b.c.user_id == user_id).order_by(b.c.asset))
    for row in rows:
        row["total_minor"] = row["available_minor"] + row["held_minor"]
    return rows


async def ledger(db: AsyncEngine, user_id: int, *, asset: str | None = None,
                 limit: int = 100,
                 before: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """The user's ledger entries, newest first, paged by ``before=(seq, index)``.

    Each entry has the ledger's fields plus what it did to the user:
    ``available_delta_minor`` and ``held_delta_minor`` (signed).
    """
    limit = _limit(limit)
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for user_col in (_ledger.c.debit_user_id, _ledger.c.credit_user_id):
        query = select(_ledger).where(user_col == user_id)
        if asset is not None:
            query = query.where(_ledger.c.asset == asset)
        if before is not None:
            seq, index = before
            query = query.where(or_(_ledger.c.seq < seq,
                                    and_(_ledger.c.seq == seq, _ledger.c.index < index)))
        query = query.order_by(_ledger.c.seq.desc(), _ledger.c.index.desc()).limit(limit)
        for row in await _all(db, query):
            found[(row["seq"], row["index"])] = row
    rows = [found[k] for k in sorted(found, reverse=True)[:limit]]
    free, hold = available(user_id), held(user_id)
    for row in rows:
        amount = row["amount_minor"]
        delta = {free: 0, hold: 0}
        if row["debit"] in delta:
            delta[row["debit"]] -= amount
        if row["credit"] in delta:
            delta[row["credit"]] += amount
        row["available_delta_minor"], row["held_delta_minor"] = delta[free], delta[hold]
    return rows


async def withdrawals(db: AsyncEngine, user_id: int, *, status: str | None = None,
                      limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """The user's withdrawals, newest first."""
    w = schema.withdrawals
    query = select(w).where(w.c.user_id == user_id)
    if status is not None:
        query = query.where(w.c.status == status)
    if before_id is not None:
        query = query.where(w.c.withdrawal_id < before_id)
    return await _all(db, query.order_by(w.c.withdrawal_id.desc()).limit(_limit(limit)))


async def wallet_addresses(db: AsyncEngine, user_id: int) -> list[dict[str, Any]]:
    """The user's deposit addresses, by asset."""
    a = schema.wallet_addresses
    return await _all(db, select(a).where(a.c.user_id == user_id).order_by(a.c.asset))


# -- operations --------------------------------------------------------------------------


async def audit_log(db: AsyncEngine, *, user_id: int | None = None,
                    command_type: str | None = None, rejected_only: bool = False,
                    limit: int = 100, before_seq: int | None = None) -> list[dict[str, Any]]:
    """Commands as sequenced, newest first (``command`` is a JSON object text)."""
    a = schema.audit_log
    query = select(a)
    if user_id is not None:
        query = query.where(a.c.user_id == user_id)
    if command_type is not None:
        query = query.where(a.c.command_type == command_type)
    if rejected_only:
        query = query.where(a.c.result_code != 0)
    if before_seq is not None:
        query = query.where(a.c.seq < before_seq)
    return await _all(db, query.order_by(a.c.seq.desc()).limit(_limit(limit)))


async def last_projected_seq(db: AsyncEngine, name: str = schema.DEFAULT_PROJECTION) -> int:
    """The sequence number the projection ``name`` has written up to (0: nothing)."""
    state = schema.projection_state
    async with db.connect() as conn:
        value = (await conn.execute(select(state.c.last_seq)
                                    .where(state.c.name == name))).scalar()
    return int(value or 0)


async def projection_lag(db: AsyncEngine, engine_last_seq: int,
                         name: str = schema.DEFAULT_PROJECTION) -> int:
    """How many sequenced commands the read model is behind ``engine_last_seq``."""
    return max(0, engine_last_seq - await last_projected_seq(db, name))


__all__ = [
    "INTERVALS",
    "MAX_LIMIT",
    "audit_log",
    "balances",
    "candles",
    "closed_orders",
    "fills",
    "last_projected_seq",
    "ledger",
    "open_orders",
    "order",
    "order_history",
    "orders_of_user",
    "projection_lag",
    "recent_trades",
    "wallet_addresses",
    "withdrawals",
]
