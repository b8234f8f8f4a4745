"""Assertions that a read model equals what the event stream and the engine say.

``expected_from(records)`` derives, from the events alone, what every table must hold;
``assert_read_model(url, records, engine)`` compares the database with it and with the
engine's own state (balances, open orders, fee and external accounts, withdrawals).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, union_all
from store_stream import MARKETS

from matchbook.core import Engine
from matchbook.core.commands import STOP_LIMIT, STOP_MARKET
from matchbook.core.events import (
    AddressCreated,
    CommandRejected,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)
from matchbook.core.ledger import EXTERNAL, FEES, available, entries, held
from matchbook.store import schema
from matchbook.store.db import create_engine

ORDER_EVENTS = (OrderAccepted, OrderFilled, OrderCancelled, OrderExpired, OrderTriggered,
                OrderAmended)
EVENT_TYPES = {OrderAccepted: "accepted", OrderFilled: "filled", OrderCancelled: "cancelled",
               OrderExpired: "expired", OrderTriggered: "triggered", OrderAmended: "amended"}


@dataclass
class Expected:
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)  # status, filled_lots
    trades: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 5))
    trade_ids: list[int] = field(default_factory=list)
    audit: list[tuple[int, int, str, int, int]] = field(default_factory=list)
    ledger_rows: int = 0
    order_events: dict[tuple[int, int], tuple[int, str, str, int, int]] = field(
        default_factory=dict)
    withdrawals: dict[int, str] = field(default_factory=dict)
    addresses: dict[str, tuple[int, str]] = field(default_factory=dict)
    rich: bool = True


def expected_from(records: Sequence[tuple[int, int, Any, Sequence[Any]]]) -> Expected:
    """What the read model must hold, derived from the events (not from the projector)."""
    x = Expected()
    for seq, ts, command, events in records:
        code = 0
        for index, ev in enumerate(events):
            t = type(ev)
            if t is OrderAccepted:
                stop = ev.order_type in (STOP_LIMIT, STOP_MARKET)
                x.orders[ev.order_id] = {"status": "pending_trigger" if stop else "new",
                                         "filled_lots": 0, "fills": 0, "fee": 0,
                                         "notional": 0, "leaves_lots": ev.qty_lots}
            elif t is OrderFilled:
                o = x.orders[ev.order_id]
                o["filled_lots"] = ev.filled_lots
                o["leaves_lots"] = ev.leaves_lots
                o["fills"] += ev.qty_lots
                o["fee"] += ev.fee_minor
                o["notional"] += ev.price_ticks * ev.qty_lots * MARKETS.symbols[
                    ev.symbol].quote_per_tick_lot
                o["status"] = "filled" if ev.leaves_lots == 0 else "partially_filled"
            elif t is OrderCancelled:
                o = x.orders[ev.order_id]
                o["leaves_lots"] = ev.leaves_lots
                if ev.leaves_lots == 0:
                    o["status"] = "cancelled"
            elif t is OrderExpired:
                x.orders[ev.order_id].update(status="expired", leaves_lots=0)
            elif t is OrderTriggered:
                x.orders[ev.order_id]["status"] = "new"
            elif t is OrderAmended:
                x.orders[ev.order_id]["leaves_lots"] = ev.leaves_lots
            elif t is TradeExecuted:
                sums = x.trades[ev.symbol]
                sums[0] += 1
                sums[1] += ev.qty_lots
                sums[2] += ev.notional_minor
                sums[3] += ev.maker_fee_minor
                sums[4] += ev.taker_fee_minor
                x.trade_ids.append(ev.trade_id)
            elif t is OrderRejected or t is CommandRejected:
                code = ev.code
            elif t is WithdrawalRequested:
                x.withdrawals[ev.withdrawal_id] = "pending"
            elif t is WithdrawalCompleted:
                x.withdrawals[ev.withdrawal_id] = "completed"
            elif t is WithdrawalRejected:
                x.withdrawals[ev.withdrawal_id] = "rejected"
            elif t is AddressCreated:
                x.addresses[ev.address] = (ev.user_id, ev.asset)
            if isinstance(ev, ORDER_EVENTS):  # the history row: the order after the event
                o = x.orders[ev.order_id]
                x.order_events[(seq, index)] = (ev.order_id, EVENT_TYPES[t], o["status"],
                                                o["filled_lots"], o["leaves_lots"])
        x.ledger_rows += len(entries(seq, events, MARKETS))
        x.audit.append((seq, ts, type(command).__name__, code, len(events)))
    return x


async def fetch(url: str, query: Any) -> list[Any]:
    db = create_engine(url)
    try:
        async with db.connect() as conn:
            return list((await conn.execute(query)).all())
    finally:
        await db.dispose()


async def assert_read_model(url: str, records: Sequence[Any], engine: Engine, *,
                            rich: bool = True) -> None:
    """The database at ``url`` holds exactly what ``records`` say, and agrees with
    ``engine`` (the engine that produced them). ``rich``: also check that the stream
    exercised every order status, withdrawal outcome and some rejections."""
    x = expected_from(records)
    x.rich = rich
    db = create_engine(url)
    try:
        async with db.connect() as conn:
            async def rows(query: Any) -> list[Any]:
                return list((await conn.execute(query)).all())

            await _check_progress(rows, records)
            await _check_audit(rows, x)
            await _check_trades(rows, x)
            await _check_orders(rows, x, engine)
            await _check_money(rows, x, engine)
            await _check_wallets(rows, x, engine)
    finally:
        await db.dispose()


async def _check_progress(rows: Any, records: Sequence[Any]) -> None:
    state = schema.projection_state
    assert await rows(select(state.c.last_seq, state.c.last_ts_ns)) == [
        (records[-1][0], records[-1][1])]


async def _check_audit(rows: Any, x: Expected) -> None:
    a = schema.audit_log
    got = await rows(select(a.c.seq, a.c.ts_ns, a.c.command_type, a.c.result_code,
                            a.c.event_count).order_by(a.c.seq))
    assert [tuple(r) for r in got] == x.audit  # one row per command, no gap, no duplicate
    if x.rich:
        codes = [code for *_, code, _ in x.audit]
        assert any(codes) and not all(codes)


async def _check_trades(rows: Any, x: Expected) -> None:
    t = schema.trades
    got = await rows(select(t.c.symbol, func.count(), func.sum(t.c.qty_lots),
                            func.sum(t.c.notional_minor), func.sum(t.c.maker_fee_minor),
                            func.sum(t.c.taker_fee_minor)).group_by(t.c.symbol))
    assert {r[0]: [int(v) for v in r[1:]] for r in got} == dict(x.trades)
    ids = [r[0] for r in await rows(select(t.c.trade_id).order_by(t.c.trade_id))]
    assert ids == sorted(x.trade_ids) == list(range(1, len(x.trade_ids) + 1))
    if x.rich:
        assert len(x.trades) >= 2 and sum(v[0] for v in x.trades.values()) > 100


async def _check_orders(rows: Any, x: Expected, engine: Engine) -> None:
    o = schema.orders
    got = {r.order_id: r for r in await rows(select(o))}
    assert set(got) == set(x.orders) == set(range(1, engine.next_order_id))
    statuses = Counter(r.status for r in got.values())
    for status in ("new", "partially_filled", "filled", "cancelled", "expired",
                   "pending_trigger"):
        assert statuses[status] or not x.rich, f"the stream left no order {status}"
    for oid, want in x.orders.items():
        row = got[oid]
        assert (row.status, row.filled_lots) == (want["status"], want["filled_lots"]), oid
        assert row.filled_lots == want["fills"], oid
        assert (row.fee_minor, row.filled_notional_minor) == (want["fee"], want["notional"])
        if row.status in schema.CLOSED_STATUSES:
            assert row.leaves_lots == 0, oid
        if row.status == "filled":
            assert row.filled_lots == row.qty_lots, oid
    # open orders: exactly the engine's, with its quantities and prices
    open_rows = {oid: r for oid, r in got.items() if r.status in schema.OPEN_STATUSES}
    assert set(open_rows) == set(engine.orders)
    for oid, order in engine.orders.items():
        row = open_rows[oid]
        assert (row.qty_lots, row.leaves_lots, row.filled_lots) == (
            order.qty, order.leaves, order.qty - order.leaves), oid
        assert (row.status == "pending_trigger") == bool(order.stop_price), oid
        if row.type != "stop_market":
            assert row.price_ticks == order.price, oid
    # each order's filled quantity is what the trades table says it traded
    t = schema.trades
    traded: Counter[int] = Counter()
    for column in (t.c.maker_order_id, t.c.taker_order_id):
        for oid, qty in await rows(select(column, func.sum(t.c.qty_lots)).group_by(column)):
            traded[oid] += int(qty)
    assert {oid: r.filled_lots for oid, r in got.items() if r.filled_lots} == dict(traded)
    e = schema.order_events
    history = {(r.seq, r.event_index): (r.order_id, r.event_type, r.status, r.filled_lots,
                                        r.leaves_lots) for r in await rows(select(e))}
    assert history == x.order_events
    for oid, want in x.orders.items():
        assert got[oid].leaves_lots == want["leaves_lots"], oid


async def _check_money(rows: Any, x: Expected, engine: Engine) -> None:
    b, s, le = schema.balances, schema.system_balances, schema.ledger_entries
    db_balances = {(r.user_id, r.asset): (r.available_minor, r.held_minor)
                   for r in await rows(select(b))}
    keys = set(db_balances) | {(uid, asset) for uid, acct in engine.accounts.items()
                               for asset in (*acct.available, *acct.held)}
    for uid, asset in keys:
        assert db_balances.get((uid, asset), (0, 0)) == engine.balance(uid, asset), (uid, asset)
    system = {(r.account, r.asset): r.balance_minor for r in await rows(select(s))}
    for asset in MARKETS.assets:
        assert system.get((FEES, asset), 0) == engine.fee_balances[asset], asset
        assert system.get((EXTERNAL, asset), 0) == engine.external_balances[asset], asset
    # per asset, every account together is zero
    totals: Counter[str] = Counter()
    for (_, asset), (free, hold) in db_balances.items():
        totals[asset] += free + hold
    for (_, asset), amount in system.items():
        totals[asset] += amount
    assert all(v == 0 for v in totals.values())
    assert totals.keys() == set(MARKETS.assets) or not x.rich
    # the ledger, summed per account in SQL, is the balances table
    moves = union_all(
        select(le.c.credit.label("account"), le.c.asset, le.c.amount_minor.label("amount")),
        select(le.c.debit, le.c.asset, (-le.c.amount_minor).label("amount")),
    ).subquery()
    net = {(r[0], r[1]): int(r[2]) for r in await rows(
        select(moves.c.account, moves.c.asset, func.sum(moves.c.amount))
        .group_by(moves.c.account, moves.c.asset))}
    want = {(available(uid), asset): free for (uid, asset), (free, _) in db_balances.items()}
    want.update({(held(uid), asset): hold for (uid, asset), (_, hold) in db_balances.items()})
    want.update(system)
    assert {k: v for k, v in net.items() if v} == {k: v for k, v in want.items() if v}
    per_asset = await rows(select(le.c.asset, func.count(), func.sum(le.c.amount_minor))
                           .group_by(le.c.asset))
    assert sum(r[1] for r in per_asset) == x.ledger_rows
    assert all(int(r[2]) > 0 for r in per_asset)


async def _check_wallets(rows: Any, x: Expected, engine: Engine) -> None:
    w, a = schema.withdrawals, schema.wallet_addresses
    got = {r.withdrawal_id: r.status for r in await rows(select(w))}
    assert got == x.withdrawals
    assert {wid for wid, status in got.items() if status == "pending"} == set(engine.withdrawals)
    assert {wid for wid, status in got.items() if status != "pending"} == (
        engine.settled_withdrawals)
    assert set(got.values()) == {"pending", "completed", "rejected"} or not x.rich
    addresses = {r.address: (r.user_id, r.asset) for r in await rows(select(a))}
    assert addresses == x.addresses == engine.addresses
