"""The order views agree across their sources: over seeded random streams of orders,
amends and cancels on the real engine, the order folded from events (as the trading
service answers and the private stream follows it) equals the live engine's order
after every command, and a command's answer equals the live order when nothing else
ran in its batch."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

from matchbook.api import views
from matchbook.config import default_markets
from matchbook.core import AmendOrder, CancelOrder, Deposit, Engine, PlaceOrder
from matchbook.core.commands import (
    BUY,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STP_CANCEL_NEWEST,
    STP_DECREMENT,
)
from matchbook.core.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderTriggered,
)

MARKETS = default_markets()
SYM = MARKETS.symbols["BTC-USD"]
USERS = (1, 2, 3)
# what the live engine cannot know: times, fees, and what only an answer carries
UNKNOWN_LIVE = ("created_ns", "updated_ns", "fee", "fills", "priority_kept")
ORDER_EVENTS = (OrderAccepted, OrderFilled, OrderCancelled, OrderExpired, OrderTriggered,
                OrderAmended)


def comparable(order: views.Order) -> dict[str, Any]:
    found: dict[str, Any] = msgspec.structs.asdict(order)
    for key in UNKNOWN_LIVE:
        found.pop(key)
    if order.type in ("stop_limit", "stop_market") and order.status != "pending_trigger":
        found.pop("stop_price")  # the engine forgets it once the stop triggers
    return found


def command(rng: random.Random, engine: Engine) -> object:
    uid = rng.choice(USERS)
    mine = engine.open_orders(uid, "BTC-USD")
    roll = rng.random()
    price = SYM.price_to_ticks("50000") + rng.randint(-20, 20) * 100
    qty = rng.randint(1, 40) * SYM.qty_to_lots("0.01")
    if mine and roll < 0.2:
        order = rng.choice(mine)
        if rng.random() < 0.5:
            return AmendOrder(uid, order.order_id, price, 0)
        return AmendOrder(uid, order.order_id, 0, max(1, order.qty - rng.randint(0, order.leaves)))
    if mine and roll < 0.3:
        return CancelOrder(uid, rng.choice(mine).order_id)
    side = rng.choice((BUY, SELL))
    if roll < 0.4:
        return PlaceOrder(uid, "BTC-USD", side, MARKET, qty)
    if roll < 0.45:
        stop = price + (500 if side == BUY else -500)
        return PlaceOrder(uid, "BTC-USD", side, STOP_LIMIT, qty, price, stop_price_ticks=stop)
    return PlaceOrder(uid, "BTC-USD", side, LIMIT, qty, price,
                      tif=IOC if roll > 0.9 else GTC,
                      display_lots=qty // 4 if roll > 0.85 and qty >= 8 else 0,
                      stp=STP_DECREMENT if rng.random() < 0.3 else STP_CANCEL_NEWEST)


@pytest.mark.parametrize("seed", [1, 2])
def test_events_and_the_live_engine_give_the_same_order(seed: int) -> None:
    rng = random.Random(seed)
    engine = Engine(MARKETS)
    seq = 0
    for uid in USERS:
        for asset, amount in (("USD", "100000000"), ("BTC", "10000")):
            seq += 1
            engine.apply(seq, seq, Deposit(asset, MARKETS.assets[asset].to_minor(amount),
                                           user_id=uid))
    followed: dict[int, views.OrderState] = {}  # as the private stream follows them
    statuses: set[str] = set()
    answered = 0
    for _ in range(600):
        seq += 1
        c = command(rng, engine)
        before = None
        if isinstance(c, AmendOrder):
            live = engine.user_orders.get(c.user_id, {}).get(c.order_id)
            before = views.OrderState.of_order(live) if live is not None else None
        events = engine.apply(seq, seq * 1000, c)
        for e in events:
            if type(e) is OrderAccepted:
                followed[e.order_id] = views.OrderState.of_accepted(e, seq)
            elif isinstance(e, ORDER_EVENTS) and e.order_id in followed:
                followed[e.order_id].apply(e, seq)
        # the answer to this command, from its own events
        answer = None
        accepted = [e for e in events if type(e) is OrderAccepted]
        if isinstance(c, PlaceOrder) and accepted:
            answer = views.order_after(SYM, views.OrderState.of_accepted(accepted[0], seq),
                                       events, seq)
        elif before is not None and any(type(e) is OrderAmended for e in events):
            answer = views.order_after(SYM, before, events, seq)
        if answer is not None:
            answered += 1
            statuses.add(answer.status)
            live = engine.user_orders.get(c.user_id, {}).get(int(answer.order_id))  # type: ignore[union-attr]
            if live is not None:
                assert comparable(answer) == comparable(views.order_of_live(SYM, live))
                assert answer.status == ("pending_trigger" if live.stop_price else
                                         "partially_filled" if live.qty > live.leaves else "new")
            else:  # closed by this command: filled in full, or what its last event says
                last = [e for e in events if isinstance(e, ORDER_EVENTS)
                        and e.order_id == int(answer.order_id)][-1]
                assert answer.status == {OrderFilled: "filled", OrderCancelled: "cancelled",
                                         OrderExpired: "expired"}[type(last)]
            assert sum(int(f.trade_id) > 0 for f in answer.fills) == sum(
                type(e) is OrderFilled and e.order_id == int(answer.order_id) for e in events)
        # every open order, as followed from its events, is the live order
        for uid in USERS:
            for live in engine.open_orders(uid):
                state = followed[live.order_id]
                assert state.is_open
                assert comparable(state.view(SYM)) == comparable(views.order_of_live(SYM, live))
        for oid in [oid for oid, st in followed.items() if not st.is_open]:
            assert engine.orders.get(oid) is None
            del followed[oid]
    assert answered > 200
    assert statuses >= {"new", "partially_filled", "filled", "cancelled", "pending_trigger"}
