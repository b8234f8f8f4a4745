"""The market-data service: symbols, books, trades, tickers and candles as views, for the
REST routes and the WebSocket hub alike.

Live data comes from the in-memory feed (``matchbook.marketdata``); candles older than
the feed keeps come from the read model.
"""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook import build_info
from matchbook.api import views
from matchbook.api.convert import symbol_of
from matchbook.api.errors import ApiCode, ApiError
from matchbook.api.reads import Reads
from matchbook.core import Symbol
from matchbook.marketdata.feed import INTERVALS_NS, Candle, Trade
from matchbook.runtime.exchange import Exchange
from matchbook.runtime.history import stored_candles

CORE_BUILD: str = build_info()["label"]  # which build of the core this process runs


class MarketService:
    def __init__(self, exchange: Exchange, reads: Reads, db: AsyncEngine) -> None:
        self.exchange = exchange
        self.reads = reads
        self.db = db
        self.markets = exchange.markets
        self.marketdata = exchange.marketdata

    def symbol(self, name: str) -> Symbol:
        """The symbol called ``name``; ``ApiError`` (unknown symbol) otherwise."""
        return symbol_of(self.markets, name)

    def health(self) -> views.Health:
        return views.Health(status="ok", service="matchbook", seq=self.reads.last_seq,
                            queue_depth=self.reads.queue_depth(), core_build=CORE_BUILD)

    def symbols(self) -> list[views.SymbolInfo]:
        return [views.symbol_info(s, self.reads.is_halted(s.name))
                for s in self.markets.symbols.values()]

    def assets(self) -> list[views.AssetInfo]:
        return [views.AssetInfo(asset=a.code, decimals=a.decimals)
                for a in self.markets.assets.values()]

    def depth(self, symbol: str, limit: int) -> views.Depth:
        sym = self.symbol(symbol)
        update_id, bids, asks = self.marketdata.feeds[sym.name].depth(limit)
        return views.Depth(symbol=sym.name, last_update_id=update_id,
                           bids=views.levels(sym, bids), asks=views.levels(sym, asks))

    def trade(self, sym: Symbol, trade: Trade) -> views.Trade:
        return views.Trade(trade_id=str(trade.trade_id), symbol=sym.name,
                           price=sym.format_price(trade.price_ticks),
                           quantity=sym.format_qty(trade.qty_lots),
                           side=views.SIDE_NAMES[trade.aggressor_side],  # type: ignore[arg-type]
                           timestamp_ns=trade.ts_ns)

    def trades(self, symbol: str, limit: int) -> list[views.Trade]:
        """The last ``limit`` trades, newest first."""
        sym = self.symbol(symbol)
        recent = list(self.marketdata.feeds[sym.name].trades)[-limit:]
        return [self.trade(sym, t) for t in reversed(recent)]

    def ticker(self, symbol: str) -> views.Ticker:
        sym = self.symbol(symbol)
        feed = self.marketdata.feeds[sym.name]
        t = feed.ticker(time.time_ns())
        _, bids, asks = feed.depth(1)

        def price(ticks: int) -> str | None:
            return sym.format_price(ticks) if ticks else None

        change = t["last"] - t["open"] if t["open"] else 0
        return views.Ticker(symbol=sym.name, open=price(t["open"]), high=price(t["high"]),
                            low=price(t["low"]), last=price(t["last"]),
                            volume=sym.format_qty(t["volume_lots"]), trades=t["trades"],
                            change=sym.format_price(change) if t["open"] else None,
                            best_bid=price(bids[0][0]) if bids else None,
                            best_ask=price(asks[0][0]) if asks else None)

    def candle(self, sym: Symbol, interval: str, c: Candle) -> views.Candle:
        fp = sym.format_price
        return views.Candle(symbol=sym.name, interval=interval, start_ns=c.start_ns,
                            open=fp(c.open), high=fp(c.high), low=fp(c.low), close=fp(c.close),
                            volume=sym.format_qty(c.volume_lots), trades=c.trades)

    async def candles(self, symbol: str, interval: str, start: int = 0, end: int = 2**62,
                      limit: int = 500) -> list[views.Candle]:
        """Candles of the last ``limit`` intervals before ``end`` (at most up to now),
        from ``start`` at the earliest, oldest first; intervals without trades are
        absent. What memory no longer keeps comes from the read model."""
        sym = self.symbol(symbol)
        if interval not in INTERVALS_NS:
            raise ApiError(ApiCode.VALIDATION,
                           f"interval must be one of {', '.join(INTERVALS_NS)}")
        width = INTERVALS_NS[interval]
        end = min(end, (time.time_ns() // width + 1) * width)  # the current interval, at most
        start = max(start, end - limit * width)
        kept_since = self.marketdata.kept_since(sym.name, interval)
        found = self.marketdata.candles(sym.name, interval, start, end)
        older_end = end if kept_since is None else min(end, kept_since)
        if start < older_end:  # older than memory: the read model
            found = [*await stored_candles(self.db, sym.name, interval, start,
                                                      older_end), *found]
        return [self.candle(sym, interval, c) for c in found]

    def last_candle(self, name: str, interval: str) -> views.Candle | None:
        """The newest candle of ``name`` for ``interval`` in memory, if any."""
        series = self.marketdata.feeds[name].candles[interval]
        if not series:
            return None
        return self.candle(self.markets.symbols[name], interval, series[-1])

    def simple_book(self, name: str, depth: int) -> views.SimpleBook:
        sym = self.markets.symbols[name]
        _, bids, asks = self.marketdata.feeds[name].depth(depth)
        return views.simple_book(sym, bids, asks)
