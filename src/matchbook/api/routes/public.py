"""Public market data: no sign-in needed."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query

from matchbook.api import store_reads
from matchbook.api.convert import SIDE_NAMES, plain, symbol_of
from matchbook.api.deps import State
from matchbook.api.errors import ApiCode, ApiError
from matchbook.marketdata.feed import INTERVALS_NS

router = APIRouter(tags=["market data"])


@router.get("/health")
async def health(state: State) -> dict[str, Any]:
    exchange = state.exchange
    return {"status": "ok", "service": "matchbook", "seq": exchange.engine.last_seq,
            "queue_depth": exchange.sequencer.queue_depth}


@router.get("/symbols")
async def symbols(state: State) -> list[dict[str, Any]]:
    out = []
    for s in state.exchange.markets.symbols.values():
        book = state.exchange.engine.books[s.name]
        out.append({
            "symbol": s.name, "base": s.base.code, "quote": s.quote.code,
            "tick_size": f"{s.tick_size:f}", "lot_size": f"{s.lot_size:f}",
            "min_quantity": s.format_qty(s.min_qty_lots),
            "max_quantity": s.format_qty(s.max_qty_lots),
            "min_notional": s.quote.format(s.min_notional_minor),
            "price_band_bps": s.price_band_bps, "market_protection_bps": s.market_protection_bps,
            "maker_fee": plain(Decimal(s.fees.maker_ppm).scaleb(-6)),  # exact: no float
            "taker_fee": plain(Decimal(s.fees.taker_ppm).scaleb(-6)),
            "halted": book.halted or state.exchange.engine.halted,
        })
    return out


@router.get("/assets")
async def assets(state: State) -> list[dict[str, Any]]:
    return [{"asset": a.code, "decimals": a.decimals}
            for a in state.exchange.markets.assets.values()]


@router.get("/depth")
async def depth(state: State, symbol: str = "BTC-USD",
                limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
    sym = symbol_of(state.exchange.markets, symbol)
    update_id, bids, asks = state.exchange.marketdata.feeds[sym.name].depth(limit)
    return {"symbol": sym.name, "last_update_id": update_id,
            "bids": [[sym.format_price(p), sym.format_qty(q)] for p, q in bids],
            "asks": [[sym.format_price(p), sym.format_qty(q)] for p, q in asks]}


@router.get("/trades")
async def trades(state: State, symbol: str = "BTC-USD",
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    sym = symbol_of(state.exchange.markets, symbol)
    recent = list(state.exchange.marketdata.feeds[sym.name].trades)[-limit:]
    return [{"trade_id": str(t.trade_id), "price": sym.format_price(t.price_ticks),
             "quantity": sym.format_qty(t.qty_lots), "side": SIDE_NAMES[t.aggressor_side],
             "timestamp_ns": t.ts_ns} for t in reversed(recent)]


@router.get("/ticker")
async def ticker(state: State, symbol: str = "BTC-USD") -> dict[str, Any]:
    sym = symbol_of(state.exchange.markets, symbol)
    feed = state.exchange.marketdata.feeds[sym.name]
    t = feed.ticker(time.time_ns())
    _, bids, asks = feed.depth(1)

    def price(ticks: int) -> str | None:
        return sym.format_price(ticks) if ticks else None

    change = t["last"] - t["open"] if t["open"] else 0
    return {"symbol": sym.name, "open": price(t["open"]), "high": price(t["high"]),
            "low": price(t["low"]), "last": price(t["last"]),
            "volume": sym.format_qty(t["volume_lots"]), "trades": t["trades"],
            "change": sym.format_price(change) if t["open"] else None,
            "best_bid": price(bids[0][0]) if bids else None,
            "best_ask": price(asks[0][0]) if asks else None}


@router.get("/candles")
async def candles(state: State, symbol: str = "BTC-USD", interval: str = "1m",
                  start: Annotated[int, Query(ge=0, le=2**62)] = 0,
                  end: Annotated[int, Query(ge=0, le=2**62)] = 2**62,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> list[dict[str, Any]]:
    """OHLCV candles of the last ``limit`` intervals before ``end`` (default: up to now),
    from ``start`` at the earliest, oldest first; intervals without trades are absent.
    ``start``/``end`` are nanoseconds since the epoch. What memory no longer keeps comes
    from the read model, so a request reads at most ``limit`` intervals of trades."""
    sym = symbol_of(state.exchange.markets, symbol)
    if interval not in INTERVALS_NS:
        raise ApiError(ApiCode.VALIDATION, f"interval must be one of {', '.join(INTERVALS_NS)}")
    width = INTERVALS_NS[interval]
    end = min(end, (time.time_ns() // width + 1) * width)  # the current interval, at most
    start = max(start, end - limit * width)
    marketdata = state.exchange.marketdata
    kept_since = marketdata.kept_since(sym.name, interval)
    found = marketdata.candles(sym.name, interval, start, end)
    older_end = end if kept_since is None else min(end, kept_since)
    if start < older_end:  # older than memory: the read model
        found = [*await store_reads.stored_candles(state.db, sym.name, interval, start,
                                                  older_end), *found]
    return [{"start_ns": c.start_ns, "open": sym.format_price(c.open),
             "high": sym.format_price(c.high), "low": sym.format_price(c.low),
             "close": sym.format_price(c.close), "volume": sym.format_qty(c.volume_lots),
             "trades": c.trades}
            for c in found]
