"""Market data's history from the read model: what a restarted exchange shows at once
(the trade tape, the ticker, the charts) and the candles older than memory keeps."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.core.commands import BUY, SELL
from matchbook.marketdata.feed import DAY_NS, INTERVALS_NS, Candle, MarketData, Trade
from matchbook.store import queries

_SIDES = {"buy": BUY, "sell": SELL}


async def seed_market_data(db: AsyncEngine, marketdata: MarketData, now_ns: int) -> int:
    """Start the in-memory feed from the read model, once it has caught up with the
    journal (at start-up): each symbol's last 1,000 trades and, per candle interval, the
    candles of the last day (two for daily ones). Without this a restarted exchange
    would show an empty trade tape, ticker and chart. Returns the trades loaded."""
    loaded = 0
    for name in marketdata.feeds:
        rows = await queries.recent_trades(db, name, limit=1000)
        trades = [Trade(r["trade_id"], name, r["price_ticks"], r["qty_lots"],
                        _SIDES[r["aggressor_side"]], r["ts_ns"], r["seq"])
                  for r in reversed(rows)]
        series: dict[str, list[Candle]] = {}
        for interval, width in INTERVALS_NS.items():
            since = now_ns - max(DAY_NS, 2 * width)
            series[interval] = await stored_candles(db, name, interval, since - since % width,
                                                   2**62)
        marketdata.seed(name, trades, series)
        loaded += len(trades)
    return loaded


async def stored_candles(db: AsyncEngine, symbol: str, interval: str, start_ns: int,
                         end_ns: int) -> list[Candle]:
    """Candles starting in ``[start_ns, end_ns)`` from the read model, in market data's
    own form (to seed it, and for ranges older than it keeps)."""
    rows = await queries.candles(db, symbol, interval, start_ns, end_ns)
    return [Candle(c["start_ns"], c["open"], c["high"], c["low"], c["close"],
                   c["volume_lots"], c["trades"]) for c in rows]
