"""The read helpers answer what the engine and the event stream say."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from store_db import asyncpg_url, create_pg_database, drop_pg_database
from store_stream import MARKETS, Stream

from matchbook.core.events import OrderAccepted, TradeExecuted
from matchbook.core.ledger import available, held
from matchbook.store import queries
from matchbook.store.db import create_engine
from matchbook.store.projector import Projector

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        stream: Stream) -> Iterator[str]:
    """A read model holding the whole stream, once per database kind."""
    name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('queries') / 'matchbook.db'}"
    else:
        name = create_pg_database()
        url = asyncpg_url(name)

    async def project() -> None:
        async with Projector(url, MARKETS) as projector:
            for start in range(0, len(stream.records), 1000):
                await projector.project(stream.records[start:start + 1000])

    try:
        asyncio.run(project())
        yield url
    finally:
        if name is not None:
            drop_pg_database(name)


def run(url: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    async def main() -> Any:
        db = create_engine(url)
        try:
            return await fn(db, *args, **kwargs)
        finally:
            await db.dispose()

    return asyncio.run(main())


def owners(stream: Stream) -> dict[int, int]:
    return {ev.order_id: ev.user_id for r in stream.records for ev in r[3]
            if type(ev) is OrderAccepted}


def all_pages(url: str, fn: Any, key: str, *args: Any, size: int = 50,
              **kwargs: Any) -> list[dict[str, Any]]:
    """Every row, fetched ``size`` at a time by keyset paging on ``key`` (``before_id``,
    ``before_trade_id`` or ``before`` for the ledger's (seq, index))."""
    cursor = {"before_id": lambda r: r["order_id"],
              "before_trade_id": lambda r: r["trade_id"],
              "before": lambda r: (r["seq"], r["index"])}[key]
    rows: list[dict[str, Any]] = []
    before = None
    while True:
        page = run(url, fn, *args, limit=size, **kwargs, **({key: before} if before else {}))
        rows += page
        if len(page) < size:
            return rows
        before = cursor(page[-1])


USERS = (1, 3, 8)


def test_open_and_closed_orders_of_a_user(url: str, stream: Stream) -> None:
    owner = owners(stream)
    for uid in sorted(stream.engine.user_orders)[:3]:  # users with open orders
        want_open = [o.order_id for o in reversed(stream.engine.open_orders(uid))]
        rows = all_pages(url, queries.open_orders, "before_id", uid)
        assert [r["order_id"] for r in rows] == want_open and want_open
        assert all(r["status"] in ("new", "partially_filled", "pending_trigger") for r in rows)
        closed = all_pages(url, queries.closed_orders, "before_id", uid, size=25)
        want_closed = sorted((oid for oid, u in owner.items()
                              if u == uid and oid not in stream.engine.orders), reverse=True)
        assert [r["order_id"] for r in closed] == want_closed
        btc = run(url, queries.open_orders, uid, symbol="BTC-USD", limit=1000)
        assert [r["order_id"] for r in btc] == [
            o.order_id for o in reversed(stream.engine.open_orders(uid, "BTC-USD"))]
        filled = run(url, queries.closed_orders, uid, status="filled", limit=1000)
        assert filled and all(r["filled_lots"] == r["qty_lots"] for r in filled)
    with pytest.raises(ValueError, match="unknown order status"):
        run(url, queries.orders_of_user, 1, status="lost")


def test_one_order_and_its_history(url: str, stream: Stream) -> None:
    owner = owners(stream)
    oid = next(o for o in stream.engine.orders.values() if o.qty != o.leaves).order_id
    row = run(url, queries.order, oid)
    assert row is not None and row["status"] == "partially_filled"
    assert run(url, queries.order, oid, user_id=owner[oid]) == row
    assert run(url, queries.order, oid, user_id=owner[oid] + 1) is None
    assert run(url, queries.order, 10**9) is None
    history = run(url, queries.order_history, oid)
    want = [type(ev).__name__ for r in stream.records for ev in r[3]
            if getattr(ev, "order_id", None) == oid and type(ev).__name__ in (
                "OrderAccepted", "OrderFilled", "OrderCancelled", "OrderAmended",
                "OrderExpired", "OrderTriggered")]
    names = {"accepted": "OrderAccepted", "filled": "OrderFilled",
             "cancelled": "OrderCancelled", "amended": "OrderAmended",
             "expired": "OrderExpired", "triggered": "OrderTriggered"}
    assert [names[h["event_type"]] for h in history] == want
    assert history[0]["status"] == "new" and history[-1]["status"] == "partially_filled"


def test_fills_of_a_user(url: str, stream: Stream) -> None:
    trades = [ev for r in stream.records for ev in r[3] if type(ev) is TradeExecuted]
    for uid in USERS:
        want = {}
        for t in trades:
            for role, user in (("maker", t.maker_user_id), ("taker", t.taker_user_id)):
                if user == uid:
                    side = t.aggressor_side if role == "taker" else 3 - t.aggressor_side
                    fee = t.taker_fee_minor if role == "taker" else t.maker_fee_minor
                    order_id = t.taker_order_id if role == "taker" else t.maker_order_id
                    want[t.trade_id] = (role, "buy" if side == 1 else "sell", fee, order_id)
        rows = all_pages(url, queries.fills, "before_trade_id", uid, size=40)
        assert [r["trade_id"] for r in rows] == sorted(want, reverse=True) and want
        assert {r["trade_id"]: (r["role"], r["side"], r["fee_minor"], r["order_id"])
                for r in rows} == want


def test_ledger_and_balances_of_a_user(url: str, stream: Stream) -> None:
    for uid in USERS:
        rows = all_pages(url, queries.ledger, "before", uid, size=400)
        keys = [(r["seq"], r["index"]) for r in rows]
        assert keys == sorted(set(keys), reverse=True)
        assert all(available(uid) in (r["debit"], r["credit"]) or held(uid) in (
            r["debit"], r["credit"]) for r in rows)
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in rows:
            totals[r["asset"]][0] += r["available_delta_minor"]
            totals[r["asset"]][1] += r["held_delta_minor"]
        balances = run(url, queries.balances, uid)
        assert {b["asset"]: (b["available_minor"], b["held_minor"]) for b in balances} == {
            asset: tuple(v) for asset, v in totals.items()}
        for b in balances:
            assert (b["available_minor"], b["held_minor"]) == stream.engine.balance(
                uid, b["asset"])
            assert b["total_minor"] == b["available_minor"] + b["held_minor"]
        usd = run(url, queries.ledger, uid, asset="USD", limit=1000)
        assert usd and all(r["asset"] == "USD" for r in usd)


def test_ledger_pages_by_seq_and_index(url: str) -> None:
    first = run(url, queries.ledger, 2, limit=3)
    rest = run(url, queries.ledger, 2, limit=3,
               before=(first[-1]["seq"], first[-1]["index"]))
    both = run(url, queries.ledger, 2, limit=6)
    assert first + rest == both


def test_recent_trades_and_candles(url: str, stream: Stream) -> None:
    trades = [(ev, r[1]) for r in stream.records for ev in r[3] if type(ev) is TradeExecuted]
    btc = [(t, ts) for t, ts in trades if t.symbol == "BTC-USD"]
    recent = run(url, queries.recent_trades, "BTC-USD", limit=50)
    assert [r["trade_id"] for r in recent] == [t.trade_id for t, _ in btc[-50:]][::-1]
    older = run(url, queries.recent_trades, "BTC-USD", limit=5,
                before_trade_id=recent[-1]["trade_id"])
    assert [r["trade_id"] for r in older] == [t.trade_id for t, _ in btc[-55:-50]][::-1]

    start, end = btc[0][1], btc[-1][1] + 1
    for interval, length in queries.INTERVALS.items():
        want: dict[int, dict[str, int]] = {}
        for t, ts in btc:
            bucket = ts - ts % length
            c = want.get(bucket)
            if c is None:
                c = want[bucket] = {"start_ns": bucket, "open": t.price_ticks,
                                    "high": t.price_ticks, "low": t.price_ticks,
                                    "volume_lots": 0, "quote_volume_minor": 0, "trades": 0}
            c["high"] = max(c["high"], t.price_ticks)
            c["low"] = min(c["low"], t.price_ticks)
            c["close"] = t.price_ticks
            c["volume_lots"] += t.qty_lots
            c["quote_volume_minor"] += t.notional_minor
            c["trades"] += 1
        got = run(url, queries.candles, "BTC-USD", interval, start, end)
        assert got == [want[k] for k in sorted(want)], interval
    assert len(run(url, queries.candles, "BTC-USD", "1m", start, end)) > 1
    assert run(url, queries.candles, "BTC-USD", "1m", end, end + 10**12) == []
    with pytest.raises(ValueError, match="unknown interval"):
        run(url, queries.candles, "BTC-USD", "7m", start, end)


def test_audit_log_wallets_and_lag(url: str, stream: Stream) -> None:
    n = len(stream.records)
    page = run(url, queries.audit_log, limit=10)
    assert [r["seq"] for r in page] == list(range(n, n - 10, -1))
    assert all(r["command"].startswith('{"type":"') for r in page)
    rejected = run(url, queries.audit_log, rejected_only=True, limit=1000)
    assert rejected and all(r["result_code"] for r in rejected)
    mine = run(url, queries.audit_log, user_id=3, command_type="Transfer", limit=1000)
    assert mine and all(r["user_id"] == 3 and r["command_type"] == "Transfer" for r in mine)
    for uid in USERS:
        pending = {w.withdrawal_id for w in stream.engine.withdrawals.values()
                   if w.user_id == uid}
        rows = run(url, queries.withdrawals, uid, status="pending", limit=1000)
        assert {r["withdrawal_id"] for r in rows} == pending
        addresses = run(url, queries.wallet_addresses, uid)
        assert {r["address"] for r in addresses} == {
            a for a, (u, _) in stream.engine.addresses.items() if u == uid}
    assert run(url, queries.last_projected_seq) == n
    assert run(url, queries.projection_lag, n) == 0
    assert run(url, queries.projection_lag, n + 5) == 5
    with pytest.raises(ValueError, match="limit"):
        run(url, queries.audit_log, limit=0)


def test_market_data_seeded_from_the_read_model_equals_the_live_feed(
        url: str, stream: Stream) -> None:
    """What a restarted exchange shows (trade tape, 24h ticker, candles) is what the
    exchange that made the trades showed."""
    from matchbook.marketdata.feed import INTERVALS_NS, MarketData
    from matchbook.runtime.history import seed_market_data, stored_candles

    live = MarketData(MARKETS)
    live.on_batch(stream.records)
    now = stream.records[-1][1] + 1
    seeded = MarketData(MARKETS)
    loaded = run(url, seed_market_data, seeded, now)
    assert loaded == sum(len(feed.trades) for feed in live.feeds.values()) > 0
    for name, feed in live.feeds.items():
        assert list(seeded.feeds[name].trades) == list(feed.trades)
        assert seeded.feeds[name].ticker(now) == feed.ticker(now)
        for interval in INTERVALS_NS:
            assert seeded.candles(name, interval) == live.candles(name, interval)
            assert run(url, stored_candles, name, interval, 0, now) == live.candles(
                name, interval)
