"""The market-data frames of the WebSocket, built on the same views as the REST API
(a book level, a trade, a ticker, a candle has one shape in both)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from matchbook.api import views
from matchbook.core import Symbol
from matchbook.marketdata.feed import Delta, Trade


def message(kind: str, view: views.View) -> dict[str, Any]:
    """``{"type": kind, ...the view's fields}``."""
    return {"type": kind, **msgspec.structs.asdict(view)}


def delta_message(sym: Symbol, first: int, last: int, bids: Sequence[tuple[int, int]],
                  asks: Sequence[tuple[int, int]]) -> dict[str, Any]:
    return {"type": "book_delta", "symbol": sym.name, "first_update_id": first,
            "last_update_id": last, "bids": views.levels(sym, bids),
            "asks": views.levels(sym, asks)}


def snapshot_message(sym: Symbol, update_id: int, epoch: str, bids: Sequence[tuple[int, int]],
                     asks: Sequence[tuple[int, int]]) -> dict[str, Any]:
    return {"type": "book_snapshot", "symbol": sym.name, "update_id": update_id,
            "epoch": epoch, "bids": views.levels(sym, bids), "asks": views.levels(sym, asks)}


def merge_deltas(deltas: Sequence[Delta]) -> tuple[int, int, list[tuple[int, int]],
                                                  list[tuple[int, int]]]:
    """Contiguous deltas as one: ``(first, last, bids, asks)``; a level's last change wins."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for d in deltas:
        bids.update(d.bids)
        asks.update(d.asks)
    return (deltas[0].first_update_id, deltas[-1].last_update_id, sorted(bids.items()),
            sorted(asks.items()))


def simple_trade_message(sym: Symbol, trade: Trade) -> dict[str, Any]:
    """A trade on ``/ws/market``, in the simple shape (ISO time, plain quantity)."""
    stamp = datetime.fromtimestamp(trade.ts_ns / 1e9, UTC)
    return {"type": "trade", "timestamp": stamp.isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "price": sym.format_price(trade.price_ticks),
            "quantity": views.plain(sym.lots_to_qty(trade.qty_lots)),
            "side": views.SIDE_NAMES[trade.aggressor_side]}


def simple_book_message(book: views.SimpleBook) -> dict[str, Any]:
    return message("order_book", book)
