"""The API's reads of the SQL read model: closed orders, fills, ledger, audit, lag.

Live state (open orders, balances, books) is read from the engine; history comes from
the projection, which may lag the engine by a few milliseconds.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from matchbook.api.deps import ApiState
from matchbook.store.schema import audit_log, ledger_entries, orders, projection_state, trades

_ORDER_COLUMNS = ("order_id", "client_order_id", "symbol", "side", "type", "price_ticks",
                  "qty_lots", "filled_lots", "leaves_lots", "status", "time_in_force",
                  "stop_price_ticks", "display_lots", "post_only", "expire_ts_ns",
                  "created_ts_ns", "updated_ts_ns", "cancel_reason")


def _order_row(state: ApiState, row: Any) -> dict[str, Any]:
    sym = state.exchange.markets.symbols[row.symbol]
    return {
        "order_id": str(row.order_id), "client_order_id": row.client_order_id,
        "symbol": row.symbol, "side": row.side, "type": row.type,
        "price": sym.format_price(row.price_ticks) if row.price_ticks else None,
        "quantity": sym.format_qty(row.qty_lots),
        "filled_quantity": sym.format_qty(row.filled_lots),
        "remaining_quantity": sym.format_qty(row.leaves_lots), "status": row.status,
        "time_in_force": row.time_in_force, "post_only": bool(row.post_only),
        "stop_price": sym.format_price(row.stop_price_ticks) if row.stop_price_ticks else None,
        "display_quantity": sym.format_qty(row.display_lots) if row.display_lots else None,
        "expire_time_ns": row.expire_ts_ns or None, "created_ns": row.created_ts_ns,
        "updated_ns": row.updated_ts_ns, "cancel_reason": row.cancel_reason,
    }


async def closed_orders(state: ApiState, user_id: int, symbol: str,
                        limit: int) -> list[dict[str, Any]]:
    query = sa.select(*(orders.c[name] for name in _ORDER_COLUMNS)).where(
        orders.c.user_id == user_id,
        orders.c.status.in_(("filled", "cancelled", "expired", "rejected")))
    if symbol:
        query = query.where(orders.c.symbol == symbol)
    query = query.order_by(orders.c.order_id.desc()).limit(limit)
    async with state.db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_order_row(state, r) for r in rows]


async def find_order(state: ApiState, user_id: int, order_id: int) -> dict[str, Any] | None:
    query = sa.select(*(orders.c[name] for name in _ORDER_COLUMNS)).where(
        orders.c.user_id == user_id, orders.c.order_id == order_id)
    async with state.db.connect() as conn:
        row = (await conn.execute(query)).first()
    return _order_row(state, row) if row else None


async def user_fills(state: ApiState, user_id: int, symbol: str,
                     limit: int) -> list[dict[str, Any]]:
    query = sa.select(trades).where(sa.or_(trades.c.maker_user_id == user_id,
                                           trades.c.taker_user_id == user_id))
    if symbol:
        query = query.where(trades.c.symbol == symbol)
    query = query.order_by(trades.c.trade_id.desc()).limit(limit)
    async with state.db.connect() as conn:
        rows = (await conn.execute(query)).all()
    out = []
    for r in rows:
        sym = state.exchange.markets.symbols[r.symbol]
        maker = r.maker_user_id == user_id and r.taker_user_id != user_id
        aggressor_buys = r.aggressor_side == "buy"
        side = ("sell" if aggressor_buys else "buy") if maker else r.aggressor_side
        fee = int(r.maker_fee_minor if maker else r.taker_fee_minor)
        out.append({
            "trade_id": str(r.trade_id), "order_id": str(r.maker_order_id if maker
                                                         else r.taker_order_id),
            "symbol": r.symbol, "side": side, "price": sym.format_price(r.price_ticks),
            "quantity": sym.format_qty(r.qty_lots), "is_maker": maker,
            "fee": sym.quote.format(fee), "fee_asset": sym.quote.code, "timestamp_ns": r.ts_ns})
    return out


async def user_ledger(state: ApiState, user_id: int, asset: str | None, limit: int,
                      before_seq: int | None) -> list[dict[str, Any]]:
    query = sa.select(ledger_entries).where(sa.or_(ledger_entries.c.debit_user_id == user_id,
                                                   ledger_entries.c.credit_user_id == user_id))
    if asset:
        query = query.where(ledger_entries.c.asset == asset)
    if before_seq:
        query = query.where(ledger_entries.c.seq < before_seq)
    query = query.order_by(ledger_entries.c.seq.desc(), ledger_entries.c.index.desc()).limit(limit)
    async with state.db.connect() as conn:
        rows = (await conn.execute(query)).all()
    assets = state.exchange.markets.assets
    mine = (f"user:{user_id}:available", f"user:{user_id}:held")
    return [{"seq": r.seq, "index": r.index, "asset": r.asset,
             "amount": assets[r.asset].format(int(r.amount_minor)),
             "direction": "credit" if r.credit in mine and r.debit not in mine else (
                 "debit" if r.debit in mine and r.credit not in mine else "internal"),
             "debit": r.debit, "credit": r.credit, "reason": r.reason,
             "reference": r.reference, "timestamp_ns": r.ts_ns} for r in rows]


async def audit_page(state: ApiState, limit: int, before_seq: int | None) -> list[dict[str, Any]]:
    query = sa.select(audit_log)
    if before_seq:
        query = query.where(audit_log.c.seq < before_seq)
    query = query.order_by(audit_log.c.seq.desc()).limit(limit)
    async with state.db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [{"seq": r.seq, "timestamp_ns": r.ts_ns, "user_id": r.user_id,
             "command_type": r.command_type, "command": json.loads(r.command),
             "result_code": r.result_code, "event_count": r.event_count} for r in rows]


async def projection_lag(state: ApiState) -> int:
    async with state.db.connect() as conn:
        last = await conn.scalar(sa.select(sa.func.max(projection_state.c.last_seq)))
    return state.exchange.engine.last_seq - int(last or 0)
