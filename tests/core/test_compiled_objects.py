"""The objects the compiled core makes its own way: events built from their layout, and
orders and levels the cyclic collector does not track.

The event tests run on both builds (interpreted, the builders are the classes
themselves); the collector tests only mean something compiled, and are skipped
interpreted, where orders and levels are ordinary tracked objects.
"""

from __future__ import annotations

import gc

import msgspec
import pytest

from matchbook import build_info
from matchbook.config import default_markets
from matchbook.core import Engine, RiskLimits
from matchbook.core.commands import (
    BUY,
    GTC,
    IOC,
    LIMIT,
    SELL,
    AmendOrder,
    CancelOrder,
    Deposit,
    PlaceOrder,
)
from matchbook.core.events import AnyEvent, Event
from matchbook.core.matching import EVENT_KINDS, Level, Order, _check_event_layout
from matchbook.core.symbols import FeeSchedule

COMPILED = build_info()["modules"].get("matchbook.core.matching") == "compiled"
compiled_only = pytest.mark.skipif(not COMPILED, reason="the interpreted build uses the "
                                   "collector for orders and levels")


def _events_of_a_session() -> list[Event]:
    """Every kind of the hot path's events: accept, rest, fill (partly and in full),
    amend (keeping and losing priority), cancel by the user and of an IOC remainder."""
    engine = Engine(default_markets(), limits=RiskLimits(max_open_orders=100))
    commands = [Deposit("USD", 10**12, user_id=1), Deposit("BTC", 10**10, user_id=1),
                Deposit("USD", 10**12, user_id=2), Deposit("BTC", 10**10, user_id=2)]

    def place(uid: int, side: int, price: int, qty: int, tif: int = GTC) -> PlaceOrder:
        return PlaceOrder(uid, "BTC-USD", side, LIMIT, qty, price, tif)

    commands += [place(1, SELL, 5_000_000, 10), place(1, SELL, 5_000_100, 10),
                 place(2, BUY, 5_000_000, 4), place(2, BUY, 5_000_100, 30, IOC),
                 place(2, BUY, 4_999_000, 10), AmendOrder(2, 5, 0, 8),
                 AmendOrder(2, 5, 4_999_500, 0), CancelOrder(2, 5)]
    events: list[Event] = []
    for seq, command in enumerate(commands, 1):
        events += engine.apply(seq, seq, command)
    return events


def test_the_import_time_check_of_the_event_builders_passes() -> None:
    assert _check_event_layout()


def test_hot_path_events_are_the_classes_own_objects() -> None:
    events = _events_of_a_session()
    kinds = {type(e) for e in events}
    assert kinds >= set(EVENT_KINDS), kinds
    encoder, decoder = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(AnyEvent)
    for event in events:
        fields = msgspec.structs.astuple(event)
        twin = type(event)(*fields)
        assert event == twin and hash(event) == hash(twin)
        assert encoder.encode(event) == encoder.encode(twin)
        assert decoder.decode(encoder.encode(event)) == event
        assert repr(event) == repr(twin)
        assert not gc.is_tracked(event)  # gc=False, as the class builds it
        assert all(getattr(event, f) is v
                   for f, v in zip(event.__struct_fields__, fields, strict=True))


def _order(oid: int) -> Order:
    return Order(oid, 1, "BTC-USD", BUY, 100, 5, 5, 5, 0, 0, 0, 0, 0, "", FeeSchedule(0, 0))


@compiled_only
def test_orders_and_levels_are_not_tracked_by_the_collector() -> None:
    level = Level(100)
    order = _order(1)
    level.append(order)
    assert not gc.is_tracked(order)
    assert not gc.is_tracked(level)


@compiled_only
def test_a_level_that_goes_unlinks_its_queue() -> None:
    # the queue's links are the one cycle among orders; untracked, nothing but the
    # level's deallocation breaks it
    orders = [_order(i) for i in range(1, 4)]
    level = Level(100)
    for order in orders:
        level.append(order)
    assert orders[1].prev is orders[0] and orders[1].next is orders[2]
    del level
    assert all(o.prev is None and o.next is None for o in orders)


@compiled_only
def test_an_engine_dropped_with_resting_orders_frees_them() -> None:
    engine = Engine(default_markets(), accounts=False)
    for seq in range(1, 11):
        price = 5_000_000 + seq % 2
        engine.apply(seq, seq, PlaceOrder(seq % 3 + 1, "BTC-USD", BUY, LIMIT, 5, price, GTC))
    kept = next(iter(next(iter(engine.user_orders.values())).values()))
    assert kept.prev is not None or kept.next is not None
    del engine
    gc.collect()  # the engine itself is in a cycle (its handler table)
    assert kept.prev is None and kept.next is None
