"""Public market data built from the event stream: L2 books with sequenced deltas,
trades, 24-hour tickers and OHLCV candles.

Update ids: each symbol has its own counter; every command that changes the symbol's
visible book increments it by one and produces one delta carrying all the level changes
of that command (``first_update_id == last_update_id``). Deltas published together may
be merged (``first..last``). A client holding a snapshot at ``update_id = U`` applies
deltas with ``first_update_id == U + 1`` and so on: any other number is a gap.

The last ``window`` deltas per symbol are kept, so a client that resubscribes with
``since=U`` gets every delta after ``U`` if ``U`` is still in the window, else a fresh
snapshot.

Everything here is in integers (ticks, lots, ns); formatting to decimal strings is the
API's business.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from matchbook.core import Engine, Markets
from matchbook.core.commands import BUY, SELL
from matchbook.core.events import Applied, BookLevelChanged, TradeExecuted

MINUTE_NS = 60 * 10**9
INTERVALS_NS = {"1m": MINUTE_NS, "5m": 5 * MINUTE_NS, "15m": 15 * MINUTE_NS,
                "1h": 60 * MINUTE_NS, "4h": 240 * MINUTE_NS, "1d": 1440 * MINUTE_NS}
DAY_NS = 1440 * MINUTE_NS


class Delta(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    first_update_id: int
    last_update_id: int
    bids: tuple[tuple[int, int], ...]  # (price_ticks, qty_lots), qty 0 = level removed
    asks: tuple[tuple[int, int], ...]
    ts_ns: int


class Trade(msgspec.Struct, frozen=True, gc=False):
    trade_id: int
    symbol: str
    price_ticks: int
    qty_lots: int
    aggressor_side: int
    ts_ns: int
    seq: int


@dataclass(slots=True)
class Candle:
    start_ns: int
    open: int
    high: int
    low: int
    close: int
    volume_lots: int
    trades: int

    def add(self, price: int, qty: int) -> None:
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume_lots += qty
        self.trades += 1


@dataclass(slots=True)
class SymbolFeed:
    """Everything public about one symbol."""

    symbol: str
    update_id: int = 0
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    deltas: deque[Delta] = field(default_factory=lambda: deque(maxlen=4096))
    trades: deque[Trade] = field(default_factory=lambda: deque(maxlen=1000))
    minutes: deque[Candle] = field(default_factory=lambda: deque(maxlen=1440))  # a day
    candles: dict[str, deque[Candle]] = field(default_factory=dict)

    def depth(self, limit: int = 0) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """``(update_id, bids best first, asks best first)``, at most ``limit`` levels."""
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        if limit:
            bids, asks = bids[:limit], asks[:limit]
        return self.update_id, bids, asks

    def deltas_since(self, update_id: int) -> list[Delta] | None:
        """Every delta after ``update_id``, or ``None`` if they are no longer all kept."""
        if update_id == self.update_id:
            return []
        if not self.deltas or update_id < self.deltas[0].first_update_id - 1 or (
                update_id > self.update_id):
            return None
        ids = [d.first_update_id for d in self.deltas]
        return list(self.deltas)[bisect.bisect_left(ids, update_id + 1):]

    def ticker(self, now_ns: int) -> dict[str, int]:
        """Rolling 24 hours from one-minute candles: open, high, low, last, volume."""
        since = now_ns - DAY_NS
        window = [c for c in self.minutes if c.start_ns + MINUTE_NS > since]
        last = self.trades[-1].price_ticks if self.trades else 0
        if not window:
            return {"open": last, "high": last, "low": last, "last": last, "volume_lots": 0,
                    "trades": 0}
        return {"open": window[0].open, "high": max(c.high for c in window),
                "low": min(c.low for c in window), "last": window[-1].close,
                "volume_lots": sum(c.volume_lots for c in window),
                "trades": sum(c.trades for c in window)}


class MarketData:
    """The public feed of every symbol, kept from the sequencer's batches.

    ``on_batch`` returns what each batch published, ``(kind, symbol, item)`` in order
    (kind ``"book"`` with a ``Delta``, ``"trade"`` with a ``Trade``): the exchange's
    pipeline hands it to the consumers after this one (the WebSocket hub).
    """

    def __init__(self, markets: Markets, engine: Engine | None = None) -> None:
        self.markets = markets
        self.feeds = {name: SymbolFeed(name) for name in markets.symbols}
        self._series: dict[str, list[tuple[int, deque[Candle]]]] = {}  # with their widths
        # per symbol, the minute of the last trade, whose candle is the last of every
        # series (until ``seed`` changes the series)
        self._minute: dict[str, int] = {}
        for name, feed in self.feeds.items():
            # the one-minute series is the day of minutes the ticker reads
            feed.candles = {interval: feed.minutes if interval == "1m" else deque(maxlen=1000)
                            for interval in INTERVALS_NS}
            self._series[name] = [
                (INTERVALS_NS[interval], series) for interval, series in feed.candles.items()]
        if engine is not None:
            self.load(engine)

    def load(self, engine: Engine) -> None:
        """Start from the engine's current book (after recovery)."""
        for name, book in engine.books.items():
            feed = self.feeds[name]
            feed.bids = {p: q for p, q, _ in book.depth(BUY)}
            feed.asks = {p: q for p, q, _ in book.depth(SELL)}

    def on_batch(self, batch: Sequence[Applied]) -> list[tuple[str, str, Delta | Trade]]:
        """Fold one applied batch in; returns the published items in order."""
        published: list[tuple[str, str, Delta | Trade]] = []
        append = published.append
        for seq, ts_ns, _, events in batch:
            changes: dict[str, list[BookLevelChanged]] | None = None
            ev: Any  # dispatched on its exact type below
            for ev in events:
                t = type(ev)
                if t is BookLevelChanged:
                    if changes is None:
                        changes = {ev.symbol: [ev]}
                    else:
                        changes.setdefault(ev.symbol, []).append(ev)
                elif t is TradeExecuted:
                    trade = Trade(ev.trade_id, ev.symbol, ev.price_ticks, ev.qty_lots,
                                  ev.aggressor_side, ts_ns, seq)
                    self._add_trade(trade)
                    append(("trade", ev.symbol, trade))
            if changes is not None:
                for symbol, levels in changes.items():
                    append(("book", symbol, self._apply_levels(symbol, levels, ts_ns)))
        return published

    def _apply_levels(self, symbol: str, levels: Sequence[BookLevelChanged],
                      ts_ns: int) -> Delta:
        feed = self.feeds[symbol]
        book_bids, book_asks = feed.bids, feed.asks
        if len(levels) == 1:  # the everyday command changes one level
            ev = levels[0]
            price, qty = ev.price_ticks, ev.qty_lots
            book = book_bids if ev.side == BUY else book_asks
            if qty:
                book[price] = qty
            else:
                book.pop(price, None)
            update_id = feed.update_id = feed.update_id + 1
            change = ((price, qty),)
            delta = (Delta(symbol, update_id, update_id, change, (), ts_ns) if ev.side == BUY
                     else Delta(symbol, update_id, update_id, (), change, ts_ns))
            feed.deltas.append(delta)
            return delta
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for ev in levels:  # the last change of a level in a command wins
            price, qty = ev.price_ticks, ev.qty_lots
            book, changed = (book_bids, bids) if ev.side == BUY else (book_asks, asks)
            if qty:
                book[price] = qty
            else:
                book.pop(price, None)
            changed[price] = qty
        update_id = feed.update_id = feed.update_id + 1
        delta = Delta(symbol, update_id, update_id,
                      tuple(sorted(bids.items())) if bids else (),
                      tuple(sorted(asks.items())) if asks else (), ts_ns)
        feed.deltas.append(delta)
        return delta

    def _add_trade(self, trade: Trade) -> None:
        """Into the trade window, the one-minute candles and every interval's candles.
        O(intervals)."""
        feed = self.feeds[trade.symbol]
        feed.trades.append(trade)
        price, qty, ts = trade.price_ticks, trade.qty_lots, trade.ts_ns
        every = self._series[trade.symbol]
        if 0 <= ts - self._minute.get(trade.symbol, -MINUTE_NS) < MINUTE_NS:
            # the minute the last trade added to every interval's candle: its candles
            # are still the last of each series (intervals are whole minutes, aligned
            # to the epoch as the minutes are)
            for _, series in every:
                series[-1].add(price, qty)
            return
        for width, series in every:
            start = ts - ts % width
            if series and series[-1].start_ns == start:
                series[-1].add(price, qty)
            else:
                series.append(Candle(start, price, price, price, price, qty, 1))
        self._minute[trade.symbol] = ts - ts % MINUTE_NS

    def seed(self, symbol: str, trades: Iterable[Trade],
             candles: Mapping[str, Sequence[Candle]]) -> None:
        """Start the symbol's trade window and candles from history (the read model, at
        start-up, before any new trade): ``trades`` oldest first, and per interval its
        latest candles, oldest first. The one-minute candles of the last day also feed
        the 24-hour ticker."""
        feed = self.feeds[symbol]
        feed.trades.extend(trades)
        self._minute.pop(symbol, None)
        for interval, series in feed.candles.items():
            series.extend(candles.get(interval, ()))

    def candles(self, symbol: str, interval: str, start_ns: int = 0,
                end_ns: int = 2**63) -> list[Candle]:
        """Kept candles of ``interval`` starting in ``[start_ns, end_ns)``."""
        return [c for c in self.feeds[symbol].candles[interval]
                if start_ns <= c.start_ns < end_ns]

    def kept_since(self, symbol: str, interval: str) -> int | None:
        """Start of the oldest candle of ``interval`` kept in memory (every later one is
        kept too), ``None`` if none is."""
        series = self.feeds[symbol].candles[interval]
        return series[0].start_ns if series else None
