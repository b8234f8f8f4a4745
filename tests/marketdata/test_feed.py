"""The public feed, driven by the real engine: candles of every interval and the rolling
24-hour ticker computed by hand, and book deltas that rebuild the engine's book and
resume from the kept window exactly."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from matchbook.config import default_markets
from matchbook.core import Deposit, Engine, PlaceOrder
from matchbook.core.commands import BUY, LIMIT, MARKET, SELL, CancelOrder
from matchbook.core.events import OrderAccepted
from matchbook.marketdata.feed import (
    DAY_NS,
    INTERVALS_NS,
    MINUTE_NS,
    Candle,
    Delta,
    MarketData,
    Trade,
)

MARKETS = default_markets()
SECOND = 10**9
HOUR = 60 * MINUTE_NS
D = 19_676 * DAY_NS  # a UTC midnight
P = 5_000_000  # 50,000.00 USD in ticks


class Market:
    """An engine and its feed, every command stamped with the next seq."""

    def __init__(self) -> None:
        self.engine = Engine(MARKETS)
        self.feed = MarketData(MARKETS)
        self.seq = 0
        self.published: list[tuple[str, str, Delta | Trade]] = []
        for user in (1, 2):
            self.apply(Deposit("USD", 10**15, user_id=user), D)
            self.apply(Deposit("BTC", 10**12, user_id=user), D)

    def apply(self, command: Any, ts_ns: int) -> list[Any]:
        self.seq += 1
        events = self.engine.apply(self.seq, ts_ns, command)
        self.published += self.feed.on_batch([(self.seq, ts_ns, command, events)])
        return events

    def trade(self, ts_ns: int, price: int, lots: int) -> None:
        """User 1 rests a sell of ``lots`` at ``price``, user 2 takes it all."""
        self.apply(PlaceOrder(1, "BTC-USD", SELL, LIMIT, qty_lots=lots, price_ticks=price),
                   ts_ns)
        self.apply(PlaceOrder(2, "BTC-USD", BUY, MARKET, qty_lots=lots), ts_ns)


def ohlcv(candles: list[Any]) -> list[tuple[int, ...]]:
    return [(c.start_ns - D, c.open, c.high, c.low, c.close, c.volume_lots, c.trades)
            for c in candles]


def test_candles_of_every_interval_and_the_rolling_ticker_by_hand() -> None:
    m = Market()
    feed = m.feed.feeds["BTC-USD"]
    for ts, price, lots in ((10 * SECOND, P + 100, 1), (50 * SECOND, P + 105, 2),
                            (70 * SECOND, P + 95, 1), (6 * MINUTE_NS, P + 110, 3)):
        m.trade(D + ts, price, lots)
    # the ticker is the last 24 hours of minutes
    assert feed.ticker(D + 7 * MINUTE_NS) == {"open": P + 100, "high": P + 110,
                                              "low": P + 95, "last": P + 110,
                                              "volume_lots": 7, "trades": 4}
    assert feed.ticker(D + 24 * HOUR + 30 * SECOND) == {  # the first minute is still in
        "open": P + 100, "high": P + 110, "low": P + 95, "last": P + 110, "volume_lots": 7,
        "trades": 4}
    assert feed.ticker(D + 24 * HOUR + 121 * SECOND) == {  # and now the second one is out
        "open": P + 110, "high": P + 110, "low": P + 110, "last": P + 110, "volume_lots": 3,
        "trades": 1}
    m.trade(D + 25 * HOUR, P + 90, 1)
    trades = [item for kind, _, item in m.published if kind == "trade"]
    assert [(t.price_ticks, t.qty_lots, t.aggressor_side) for t in trades] == [
        (P + 100, 1, BUY), (P + 105, 2, BUY), (P + 95, 1, BUY), (P + 110, 3, BUY),
        (P + 90, 1, BUY)]
    candles = {i: ohlcv(m.feed.candles("BTC-USD", i)) for i in ("1m", "5m", "1h", "1d")}
    assert candles["1m"] == [(0, P + 100, P + 105, P + 100, P + 105, 3, 2),
                             (MINUTE_NS, P + 95, P + 95, P + 95, P + 95, 1, 1),
                             (6 * MINUTE_NS, P + 110, P + 110, P + 110, P + 110, 3, 1),
                             (25 * HOUR, P + 90, P + 90, P + 90, P + 90, 1, 1)]
    assert candles["5m"] == [(0, P + 100, P + 105, P + 95, P + 95, 4, 3),
                             (5 * MINUTE_NS, P + 110, P + 110, P + 110, P + 110, 3, 1),
                             (25 * HOUR, P + 90, P + 90, P + 90, P + 90, 1, 1)]
    assert candles["1h"] == [(0, P + 100, P + 110, P + 95, P + 110, 7, 4),
                             (25 * HOUR, P + 90, P + 90, P + 90, P + 90, 1, 1)]
    assert candles["1d"] == [(0, P + 100, P + 110, P + 95, P + 110, 7, 4),
                             (DAY_NS, P + 90, P + 90, P + 90, P + 90, 1, 1)]
    assert ohlcv(m.feed.candles("BTC-USD", "1m", D + MINUTE_NS, D + 7 * MINUTE_NS)) == \
        candles["1m"][1:3]
    assert m.feed.kept_since("BTC-USD", "5m") == D
    assert feed.ticker(D + 25 * HOUR + SECOND) == {"open": P + 90, "high": P + 90,
                                                   "low": P + 90, "last": P + 90,
                                                   "volume_lots": 1, "trades": 1}
    assert feed.ticker(D + 50 * HOUR) == {"open": P + 90, "high": P + 90, "low": P + 90,
                                          "last": P + 90, "volume_lots": 0, "trades": 0}


def test_deltas_rebuild_the_engines_book_and_resume_from_the_kept_window() -> None:
    m = Market()
    rng = random.Random(3)
    resting: list[tuple[int, int]] = []  # (user, order id)
    book: dict[int, dict[int, int]] = {BUY: {}, SELL: {}}
    last_id = 0
    for i in range(5_000):  # more book changes than the 4,096 deltas kept
        before = len(m.published)
        if resting and rng.random() < 0.3:
            user, order_id = resting.pop(rng.randrange(len(resting)))
            m.apply(CancelOrder(user, order_id=order_id), D + i * SECOND)
        else:
            side = rng.choice((BUY, SELL))
            user = 1 if side == SELL else 2
            price = P + rng.randint(-30, 30) + (15 if side == SELL else -15)
            events = m.apply(PlaceOrder(user, "BTC-USD", side, LIMIT,
                                        qty_lots=rng.randint(1, 9), price_ticks=price),
                             D + i * SECOND)
            resting += [(user, e.order_id) for e in events if type(e) is OrderAccepted]
        deltas = [item for kind, _, item in m.published[before:] if kind == "book"]
        assert len(deltas) <= 1  # one delta per command, all its level changes
        for delta in deltas:
            assert isinstance(delta, Delta)
            assert delta.first_update_id == delta.last_update_id == last_id + 1
            last_id = delta.last_update_id
            for side, levels in ((BUY, delta.bids), (SELL, delta.asks)):
                for price, qty in levels:
                    if qty:
                        book[side][price] = qty
                    else:
                        book[side].pop(price)
        engine_book = m.engine.books["BTC-USD"]
        assert book[BUY] == {p: q for p, q, _ in engine_book.depth(BUY)}
        assert book[SELL] == {p: q for p, q, _ in engine_book.depth(SELL)}
    feed = m.feed.feeds["BTC-USD"]
    top = feed.update_id
    assert top == last_id > 4_096
    update_id, bids, asks = feed.depth(3)
    assert update_id == top and bids == sorted(book[BUY].items(), reverse=True)[:3]
    assert asks == sorted(book[SELL].items())[:3]
    # a client at update U gets every delta after U while U + 1 is kept, else a snapshot
    assert feed.deltas_since(top) == []
    assert [d.first_update_id for d in feed.deltas_since(top - 5) or []] == list(
        range(top - 4, top + 1))
    oldest = top - 4_096  # the window holds oldest + 1 .. top
    assert [d.first_update_id for d in feed.deltas_since(oldest) or []] == list(
        range(oldest + 1, top + 1))
    assert feed.deltas_since(oldest - 1) is None
    assert feed.deltas_since(top + 1) is None  # from a book this feed never had
    # a feed started from the engine (after a recovery) has the same book
    loaded = MarketData(MARKETS, m.engine).feeds["BTC-USD"]
    assert (loaded.bids, loaded.asks) == (book[BUY], book[SELL])


def _by_hand(trades: list[Trade], width: int) -> list[tuple[int, ...]]:
    """The candles of ``width`` computed from the trades alone: ``ohlcv``'s fields."""
    found: dict[int, list[int]] = {}
    for t in trades:
        start = t.ts_ns - t.ts_ns % width
        c = found.get(start)
        if c is None:
            found[start] = [t.price_ticks] * 4 + [t.qty_lots, 1]
        else:
            c[1], c[2], c[3] = max(c[1], t.price_ticks), min(c[2], t.price_ticks), t.price_ticks
            c[4] += t.qty_lots
            c[5] += 1
    return [(start - D, *c) for start, c in sorted(found.items())]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1, SECOND, 59 * SECOND, MINUTE_NS, 61 * SECOND,
                                           5 * MINUTE_NS, HOUR - SECOND, HOUR, 4 * HOUR,
                                           DAY_NS - 1, DAY_NS]),
                          st.integers(-50, 50), st.integers(1, 5)), min_size=1, max_size=40),
       st.integers(0, 40))
def test_every_intervals_candles_are_those_of_its_trades(
        steps: list[tuple[int, int, int]], seed_at: int) -> None:
    """Trades moving forward by steps that stay in a minute, cross a minute, an hour or a
    day: every interval's candles equal those computed from the trades by hand, also
    when a second feed is seeded, part way, with the first's trades and candles (as the
    read model seeds one at start-up) and continues from there."""
    feed, seeded = MarketData(MARKETS), MarketData(MARKETS)
    trades: list[Trade] = []
    ts = D
    for n, (step, move, lots) in enumerate(steps):
        ts += step
        trade = Trade(n + 1, "BTC-USD", P + move, lots, BUY, ts, n + 1)
        trades.append(trade)
        feed._add_trade(trade)
        if n == seed_at:
            seeded.seed("BTC-USD", trades, {
                interval: [Candle(*dataclasses.astuple(c)) for c in candles]
                for interval, candles in feed.feeds["BTC-USD"].candles.items()})
        elif n > seed_at:
            seeded._add_trade(trade)
    for interval, width in INTERVALS_NS.items():
        expected = _by_hand(trades, width)
        assert ohlcv(feed.candles("BTC-USD", interval)) == expected, interval
        if seed_at < len(steps):
            assert ohlcv(seeded.candles("BTC-USD", interval)) == expected, interval
