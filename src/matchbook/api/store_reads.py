"""The API's reads of the SQL read model (``matchbook.store.queries``), formatted.

Live state (open orders, balances, books) is read from the engine; history comes from
the projection, which may lag the engine by a few milliseconds.
"""

from __future__ import annotations

import json
from typing import Any

from matchbook.api.deps import ApiState
from matchbook.runtime.history import stored_candles as stored_candles  # for the routes
from matchbook.store import queries


def _order_row(state: ApiState, row: dict[str, Any]) -> dict[str, Any]:
    sym = state.exchange.markets.symbols[row["symbol"]]
    return {
        "order_id": str(row["order_id"]), "client_order_id": row["client_order_id"],
        "symbol": row["symbol"], "side": row["side"], "type": row["type"],
        "price": sym.format_price(row["price_ticks"]) if row["price_ticks"] else None,
        "quantity": sym.format_qty(row["qty_lots"]),
        "filled_quantity": sym.format_qty(row["filled_lots"]),
        "remaining_quantity": sym.format_qty(row["leaves_lots"]), "status": row["status"],
        "time_in_force": row["time_in_force"], "post_only": bool(row["post_only"]),
        "stop_price": sym.format_price(row["stop_price_ticks"])
        if row["stop_price_ticks"] else None,
        "display_quantity": sym.format_qty(row["display_lots"]) if row["display_lots"] else None,
        "expire_time_ns": row["expire_ts_ns"] or None, "created_ns": row["created_ts_ns"],
        "updated_ns": row["updated_ts_ns"], "cancel_reason": row["cancel_reason"],
        "fee": sym.quote.format(int(row["fee_minor"])), "fee_asset": sym.quote.code,
    }


async def closed_orders(state: ApiState, user_id: int, symbol: str,
                        limit: int) -> list[dict[str, Any]]:
    rows = await queries.closed_orders(state.db, user_id, symbol=symbol or None, limit=limit)
    return [_order_row(state, r) for r in rows]


async def find_order(state: ApiState, user_id: int, order_id: int) -> dict[str, Any] | None:
    row = await queries.order(state.db, order_id, user_id=user_id)
    return _order_row(state, row) if row else None


async def user_fills(state: ApiState, user_id: int, symbol: str,
                     limit: int) -> list[dict[str, Any]]:
    out = []
    for r in await queries.fills(state.db, user_id, symbol=symbol or None, limit=limit):
        sym = state.exchange.markets.symbols[r["symbol"]]
        out.append({
            "trade_id": str(r["trade_id"]), "order_id": str(r["order_id"]),
            "symbol": r["symbol"], "side": r["side"], "price": sym.format_price(r["price_ticks"]),
            "quantity": sym.format_qty(r["qty_lots"]), "is_maker": r["role"] == "maker",
            "fee": sym.quote.format(int(r["fee_minor"])), "fee_asset": sym.quote.code,
            "timestamp_ns": r["ts_ns"]})
    return out


async def user_ledger(state: ApiState, user_id: int, asset: str | None, limit: int,
                      before_seq: int | None) -> list[dict[str, Any]]:
    before = (before_seq, 0) if before_seq else None
    assets = state.exchange.markets.assets
    out = []
    for r in await queries.ledger(state.db, user_id, asset=asset, limit=limit, before=before):
        fmt = assets[r["asset"]].format
        out.append({"seq": r["seq"], "index": r["index"], "asset": r["asset"],
                    "amount": fmt(int(r["amount_minor"])),
                    "available_change": fmt(int(r["available_delta_minor"])),
                    "held_change": fmt(int(r["held_delta_minor"])),
                    "debit": r["debit"], "credit": r["credit"], "reason": r["reason"],
                    "reference": r["reference"], "timestamp_ns": r["ts_ns"]})
    return out


async def audit_page(state: ApiState, limit: int, before_seq: int | None) -> list[dict[str, Any]]:
    rows = await queries.audit_log(state.db, limit=limit, before_seq=before_seq)
    return [{"seq": r["seq"], "timestamp_ns": r["ts_ns"], "user_id": r["user_id"],
             "command_type": r["command_type"], "command": json.loads(r["command"]),
             "result_code": r["result_code"], "event_count": r["event_count"]} for r in rows]


async def projection_lag(state: ApiState) -> int:
    return await queries.projection_lag(state.db, state.exchange.engine.last_seq)

