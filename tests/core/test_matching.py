"""Matching scenarios on BTC-USD: resting, fills, order types, STP, icebergs, stops,
expiry, amend, cancel, ids, book events and depth. Every step runs ``Engine._check()``."""

from __future__ import annotations

import pytest
from helpers import (
    Market,
    assert_rejected,
    events_of_type,
    fills,
    funded,
    level_totals,
    lots,
    names,
    one,
    ticks,
)

from matchbook.core import (
    AdvanceTime,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReason,
    Code,
    PlaceOrder,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from matchbook.core.events import (
    BookLevelChanged,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
)

BUY, SELL = Side.BUY, Side.SELL
IOC, FOK, GTD = TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTD
STP_MODES = list(SelfTradePrevention)


def trade_last(m: Market, price: str, buyer: int = 8, seller: int = 9) -> None:
    """Users 8 and 9 trade 0.01 BTC at ``price``, setting the last trade price."""
    m.fund(buyer, seller)
    m.rest(seller, SELL, "0.01", price)
    assert fills(m.place(buyer, BUY, "0.01", price, tif=IOC)), "the reference trade"


# --------------------------------------------------------------------------- limit orders


def test_limit_order_rests_when_nothing_crosses() -> None:
    m = funded(1)
    events = m.place(1, BUY, "1", "100.00", client_order_id="first")
    assert names(events) == ["OrderAccepted", "BookLevelChanged"]
    accepted = one(events, OrderAccepted)
    assert (accepted.order_id, accepted.price_ticks, accepted.qty_lots) == (1, 10_000, 10_000)
    assert accepted.client_order_id == "first"
    assert one(events, BookLevelChanged) == BookLevelChanged("BTC-USD", BUY, 10_000, 10_000, 1)
    assert m.depth(BUY) == [("100.00", "1.0000", 1)]
    assert m.depth(SELL) == []
    assert [o.order_id for o in m.engine.open_orders(1)] == [1]


def test_partial_fill_leaves_the_maker_resting_with_the_rest() -> None:
    m = funded(1, 2)
    maker = m.rest(2, SELL, "1", "100.00")
    events = m.place(1, BUY, "0.4", "100.00")
    assert names(events) == ["OrderAccepted", "TradeExecuted", "OrderFilled", "OrderFilled",
                             "BookLevelChanged"]
    trade = one(events, TradeExecuted)
    assert (trade.trade_id, trade.price_ticks, trade.qty_lots) == (1, 10_000, 4_000)
    assert (trade.maker_order_id, trade.taker_order_id, trade.aggressor_side) == (maker, 2, BUY)
    maker_fill, taker_fill = events_of_type(events, OrderFilled)
    assert (maker_fill.order_id, maker_fill.is_maker, maker_fill.filled_lots,
            maker_fill.leaves_lots) == (maker, True, 4_000, 6_000)
    assert (taker_fill.order_id, taker_fill.is_maker, taker_fill.filled_lots,
            taker_fill.leaves_lots) == (2, False, 4_000, 0)
    assert m.depth(SELL) == [("100.00", "0.6000", 1)]
    assert m.depth(BUY) == []


def test_taker_larger_than_the_book_rests_its_remainder() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00")
    events = m.place(1, BUY, "1.5", "100.00")
    assert fills(events) == [(10_000, 10_000, 1)]
    assert level_totals(events) == {(SELL, 10_000): (0, 0), (BUY, 10_000): (5_000, 1)}
    assert m.depth(SELL) == []
    assert m.depth(BUY) == [("100.00", "0.5000", 1)]
    assert m.engine.open_orders(1)[0].leaves == 5_000


def test_sweep_fills_levels_best_price_first_at_each_makers_price() -> None:
    m = funded(1, 2)
    a = m.rest(2, SELL, "0.5", "100.00")
    c = m.rest(2, SELL, "1", "102.00")
    b = m.rest(2, SELL, "0.5", "101.00")
    events = m.place(1, BUY, "1.5", "102.00")
    assert fills(events) == [(10_000, 5_000, a), (10_100, 5_000, b), (10_200, 5_000, c)]
    assert [t.trade_id for t in events_of_type(events, TradeExecuted)] == [1, 2, 3]
    assert level_totals(events) == {
        (SELL, 10_000): (0, 0), (SELL, 10_100): (0, 0), (SELL, 10_200): (5_000, 1)}
    assert m.depth(SELL) == [("102.00", "0.5000", 1)]
    assert m.last_price() == 102


def test_sell_sweep_fills_highest_bids_first() -> None:
    m = funded(1, 2)
    low = m.rest(2, BUY, "1", "99.00")
    high = m.rest(2, BUY, "1", "100.00")
    events = m.place(1, SELL, "1.5", "98.00")
    assert fills(events) == [(10_000, 10_000, high), (9_900, 5_000, low)]
    assert m.depth(BUY) == [("99.00", "0.5000", 1)]


def test_fifo_within_a_level() -> None:
    m = funded(1, 2, 3, 4)
    first = m.rest(2, SELL, "0.3", "100.00")
    second = m.rest(3, SELL, "0.3", "100.00")
    third = m.rest(4, SELL, "0.3", "100.00")
    assert m.queue(SELL, "100.00") == [first, second, third]
    events = m.place(1, BUY, "0.5", "100.00")
    assert fills(events) == [(10_000, 3_000, first), (10_000, 2_000, second)]
    assert m.queue(SELL, "100.00") == [second, third]
    assert m.depth(SELL) == [("100.00", "0.4000", 2)]


def test_taker_gets_the_makers_better_price() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00")
    events = m.place(1, BUY, "1", "105.00")
    assert fills(events) == [(10_000, 10_000, 1)]
    assert one(events, TradeExecuted).notional_minor == 100_000_000  # 100 USD, not 105


def test_limit_stops_at_its_price() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00")
    m.rest(2, SELL, "1", "100.02")
    events = m.place(1, BUY, "2", "100.01")
    assert fills(events) == [(10_000, 10_000, 1)]
    assert m.depth(BUY) == [("100.01", "1.0000", 1)]
    assert m.depth(SELL) == [("100.02", "1.0000", 1)]


# --------------------------------------------------------------------------- IOC, FOK


def test_ioc_remainder_is_cancelled_not_rested() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "0.5", "100.00")
    events = m.place(1, BUY, "1", "100.00", tif=IOC)
    assert names(events) == ["OrderAccepted", "TradeExecuted", "OrderFilled", "OrderFilled",
                             "BookLevelChanged", "OrderCancelled"]
    cancelled = one(events, OrderCancelled)
    assert (cancelled.order_id, cancelled.cancelled_lots, cancelled.leaves_lots,
            cancelled.reason) == (2, 5_000, 0, CancelReason.UNFILLED)
    assert m.depth(BUY) == [] and m.depth(SELL) == []
    assert m.engine.open_orders(1) == []


def test_ioc_with_nothing_to_fill_is_accepted_then_cancelled() -> None:
    m = funded(1)
    events = m.place(1, BUY, "1", "100.00", tif=IOC)
    assert names(events) == ["OrderAccepted", "OrderCancelled"]
    assert one(events, OrderCancelled).cancelled_lots == 10_000


def test_fok_that_cannot_fill_is_rejected_and_changes_nothing() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "0.5", "100.00")
    m.rest(2, SELL, "0.5", "101.00")
    events = m.apply_unchanged(PlaceOrder(1, "BTC-USD", BUY, 1, lots("1"), ticks("100.50"),
                                          tif=FOK))
    assert_rejected(events, Code.FOK_NOT_FILLABLE)
    assert m.depth(SELL) == [("100.00", "0.5000", 1), ("101.00", "0.5000", 1)]
    assert m.engine.next_order_id == 3


def test_fok_fills_in_full_across_levels() -> None:
    m = funded(1, 2)
    a = m.rest(2, SELL, "0.5", "100.00")
    b = m.rest(2, SELL, "0.7", "101.00")
    events = m.place(1, BUY, "1", "101.00", tif=FOK)
    assert fills(events) == [(10_000, 5_000, a), (10_100, 5_000, b)]
    assert not events_of_type(events, OrderCancelled)
    assert m.depth(SELL) == [("101.00", "0.2000", 1)]


def test_fok_counts_the_hidden_part_of_an_iceberg() -> None:
    m = funded(1, 2)
    ice = m.rest(2, SELL, "1", "100.00", display="0.1")
    events = m.place(1, BUY, "0.35", "100.00", tif=FOK)
    assert fills(events) == [(10_000, 1_000, ice)] * 3 + [(10_000, 500, ice)]


@pytest.mark.parametrize("stp", STP_MODES, ids=lambda s: s.name)
def test_fok_with_an_own_order_in_the_level(stp: SelfTradePrevention) -> None:
    """Asks at 100: another user's 0.5, then the taker's own 0.5, then another 0.5."""
    m = funded(1, 2, 3)
    other = m.rest(2, SELL, "0.5", "100.00")
    own = m.rest(1, SELL, "0.5", "100.00")
    later = m.rest(3, SELL, "0.5", "100.00")
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("1"), ticks("100.00"), tif=FOK, stp=stp)
    if stp == SelfTradePrevention.CANCEL_OLDEST:
        events = m.apply(command)  # the own order is cancelled, the others fill it
        assert fills(events) == [(10_000, 5_000, other), (10_000, 5_000, later)]
        cancelled = one(events, OrderCancelled)
        assert (cancelled.order_id, cancelled.reason) == (own, CancelReason.SELF_TRADE)
        assert m.depth(SELL) == []
    else:  # only what is ahead of the own order counts: 0.5 < 1
        assert_rejected(m.apply_unchanged(command), Code.FOK_NOT_FILLABLE)
        assert m.queue(SELL, "100.00") == [other, own, later]


@pytest.mark.parametrize("stp", STP_MODES, ids=lambda s: s.name)
def test_fok_fillable_ahead_of_an_own_order_fills_without_touching_it(
    stp: SelfTradePrevention,
) -> None:
    m = funded(1, 2)
    other = m.rest(2, SELL, "0.5", "100.00")
    own = m.rest(1, SELL, "0.5", "100.00")
    events = m.place(1, BUY, "0.5", "100.00", tif=FOK, stp=stp)
    assert fills(events) == [(10_000, 5_000, other)]
    assert not events_of_type(events, OrderCancelled)
    assert m.queue(SELL, "100.00") == [own]


def test_fok_ahead_of_an_own_iceberg_level_counts_only_visible_quantity() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00", display="0.1")
    m.rest(1, SELL, "0.5", "100.00")
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("0.2"), ticks("100.00"), tif=FOK)
    assert_rejected(m.apply_unchanged(command), Code.FOK_NOT_FILLABLE)


# --------------------------------------------------------------------------- post-only


@pytest.mark.parametrize(
    ("side", "price"), [(BUY, "100.00"), (BUY, "100.50"), (SELL, "99.00"), (SELL, "98.00")]
)
def test_post_only_that_would_take_is_rejected(side: Side, price: str) -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00")
    m.rest(2, BUY, "1", "99.00")
    command = PlaceOrder(1, "BTC-USD", side, 1, lots("1"), ticks(price), post_only=True)
    assert_rejected(m.apply_unchanged(command), Code.POST_ONLY_WOULD_TAKE)


@pytest.mark.parametrize(("side", "price"), [(BUY, "99.99"), (SELL, "99.01")])
def test_post_only_that_does_not_cross_rests(side: Side, price: str) -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00")
    m.rest(2, BUY, "1", "99.00")
    order_id = m.rest(1, side, "1", price, post_only=True)
    assert m.queue(side, price) == [order_id]


# --------------------------------------------------------------------------- market orders


def test_market_buy_sweeps_up_to_the_protection_band_and_cancels_the_rest() -> None:
    m = funded(1, 2)
    a = m.rest(2, SELL, "0.5", "100.00")
    b = m.rest(2, SELL, "0.5", "105.00")  # exactly at the band: 100 x 1.05
    m.rest(2, SELL, "0.5", "105.01")
    events = m.place(1, BUY, "2")
    assert fills(events) == [(10_000, 5_000, a), (10_500, 5_000, b)]
    cancelled = one(events, OrderCancelled)
    assert (cancelled.cancelled_lots, cancelled.reason) == (10_000, CancelReason.UNFILLED)
    assert m.depth(SELL) == [("105.01", "0.5000", 1)]
    assert m.engine.open_orders(1) == []


def test_market_sell_sweeps_down_to_the_protection_band() -> None:
    m = funded(1, 2)
    a = m.rest(2, BUY, "0.5", "100.00")
    b = m.rest(2, BUY, "0.5", "95.00")  # exactly at the band: 100 x 0.95
    m.rest(2, BUY, "0.5", "94.99")
    events = m.place(1, SELL, "2")
    assert fills(events) == [(10_000, 5_000, a), (9_500, 5_000, b)]
    assert one(events, OrderCancelled).cancelled_lots == 10_000
    assert m.depth(BUY) == [("94.99", "0.5000", 1)]


def test_market_order_filled_in_full_has_no_cancel() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00")
    events = m.place(1, BUY, "0.25")
    assert names(events) == ["OrderAccepted", "TradeExecuted", "OrderFilled", "OrderFilled",
                             "BookLevelChanged"]
    assert one(events, OrderAccepted).tif == IOC  # a market order never rests


@pytest.mark.parametrize("side", [BUY, SELL], ids=lambda s: s.name)
def test_market_order_into_an_empty_book_is_rejected(side: Side) -> None:
    m = funded(1, 2)
    m.rest(2, side, "1", "100.00")  # only the taker's own side has orders
    command = PlaceOrder(1, "BTC-USD", side, 2, lots("1"))
    assert_rejected(m.apply_unchanged(command), Code.NO_LIQUIDITY)


def test_market_fok_beyond_the_band_is_rejected() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "0.5", "100.00")
    m.rest(2, SELL, "0.5", "106.00")
    command = PlaceOrder(1, "BTC-USD", BUY, 2, lots("1"), tif=FOK)
    assert_rejected(m.apply_unchanged(command), Code.FOK_NOT_FILLABLE)


def test_market_protection_band_rounds_toward_the_best_price() -> None:
    """Buy limit: 100.01 x 1.05 = 105.0105 -> 105.01; sell: 100.01 x 0.95 = 95.0095 -> 95.01."""
    m = funded(1, 2)
    m.rest(2, SELL, "0.1", "100.01")
    m.rest(2, SELL, "0.1", "105.01")
    m.rest(2, SELL, "0.1", "105.02")
    assert [p for p, _, _ in fills(m.place(1, BUY, "1"))] == [10_001, 10_501]
    m = funded(1, 2)
    m.rest(2, BUY, "0.1", "100.01")
    m.rest(2, BUY, "0.1", "95.01")
    m.rest(2, BUY, "0.1", "95.00")
    assert [p for p, _, _ in fills(m.place(1, SELL, "1"))] == [10_001, 9_501]


def test_stop_market_sweep_is_capped_by_the_band_from_its_stop_price() -> None:
    m = funded(1, 2, 3)
    trade_last(m, "100.00")
    stop = one(m.place(1, BUY, "0.5", stop="101.00"), OrderAccepted).order_id
    m.rest(2, SELL, "0.1", "101.00")
    capped = m.rest(2, SELL, "0.2", "106.05")  # 101 x 1.05
    m.rest(2, SELL, "1", "106.06")
    events = m.place(3, BUY, "0.1", "101.00")  # best ask is then 106.05: its band is wider
    triggered_at = events.index(one(events, OrderTriggered))
    assert fills(events[triggered_at:]) == [(10_605, 2_000, capped)]
    cancelled = one(events[triggered_at:], OrderCancelled)
    assert (cancelled.order_id, cancelled.cancelled_lots) == (stop, 3_000)


# --------------------------------------------------------------------------- price band


@pytest.mark.parametrize(
    ("side", "price", "accepted"),
    [(BUY, "110.00", True), (BUY, "110.01", False), (SELL, "90.00", True),
     (SELL, "89.99", False)],
)
def test_price_band_around_the_last_trade_is_inclusive(
    side: Side, price: str, accepted: bool
) -> None:
    m = funded(1)
    trade_last(m, "100.00")
    command = PlaceOrder(1, "BTC-USD", side, 1, lots("0.1"), ticks(price))
    if accepted:
        assert one(m.apply(command), OrderAccepted)
    else:
        assert_rejected(m.apply_unchanged(command), Code.PRICE_OUTSIDE_BAND)


def test_price_band_uses_the_mid_without_a_trade_and_nothing_with_one_side() -> None:
    m = funded(1, 2)
    m.rest(2, BUY, "0.1", "100.00")
    m.rest(2, SELL, "0.1", "300.00")  # one side only so far: no band
    # mid (100 + 300) // 2 = 200: 10% is 180..220
    m.rest(1, BUY, "0.1", "180.00")
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("0.1"), ticks("179.99"))
    assert_rejected(m.apply_unchanged(command), Code.PRICE_OUTSIDE_BAND)


# --------------------------------------------------------------------------- self-trade


def stp_book() -> tuple[Market, int, int]:
    """Asks at 100: user 1's own 1 BTC first, then user 2's 1 BTC."""
    m = funded(1, 2)
    own = m.rest(1, SELL, "1", "100.00")
    other = m.rest(2, SELL, "1", "100.00")
    return m, own, other


def test_stp_cancel_newest_cancels_the_taker_and_keeps_the_book() -> None:
    m, own, other = stp_book()
    events = m.place(1, BUY, "1.5", "100.00", stp=SelfTradePrevention.CANCEL_NEWEST)
    assert fills(events) == []
    cancelled = one(events, OrderCancelled)
    assert (cancelled.order_id, cancelled.cancelled_lots, cancelled.leaves_lots,
            cancelled.reason) == (3, 15_000, 0, CancelReason.SELF_TRADE)
    assert m.queue(SELL, "100.00") == [own, other]
    assert m.depth(BUY) == []


def test_stp_cancel_oldest_cancels_the_resting_order_and_keeps_matching() -> None:
    m, own, other = stp_book()
    events = m.place(1, BUY, "1.5", "100.00", stp=SelfTradePrevention.CANCEL_OLDEST)
    cancelled = one(events, OrderCancelled)
    assert (cancelled.order_id, cancelled.cancelled_lots, cancelled.reason) == (
        own, 10_000, CancelReason.SELF_TRADE)
    assert fills(events) == [(10_000, 10_000, other)]
    assert m.depth(SELL) == []
    assert m.depth(BUY) == [("100.00", "0.5000", 1)]  # the taker's remainder rests


def test_stp_cancel_both_cancels_taker_and_resting_order() -> None:
    m, own, other = stp_book()
    events = m.place(1, BUY, "1.5", "100.00", stp=SelfTradePrevention.CANCEL_BOTH)
    assert fills(events) == []
    cancels = {(c.order_id, c.cancelled_lots, c.leaves_lots, c.reason)
               for c in events_of_type(events, OrderCancelled)}
    assert cancels == {(own, 10_000, 0, CancelReason.SELF_TRADE),
                       (3, 15_000, 0, CancelReason.SELF_TRADE)}
    assert m.queue(SELL, "100.00") == [other]
    assert m.depth(BUY) == []


def test_stp_decrement_shrinks_both_then_matches_the_next_order() -> None:
    m, own, other = stp_book()
    events = m.place(1, BUY, "1.5", "100.00", stp=SelfTradePrevention.DECREMENT_AND_CANCEL)
    maker_cancel, taker_cancel = events_of_type(events, OrderCancelled)
    # d = min(1.5, 1) = 1: the resting order reaches 0, the taker keeps 0.5
    assert (maker_cancel.order_id, maker_cancel.cancelled_lots, maker_cancel.leaves_lots) == (
        own, 10_000, 0)
    assert (taker_cancel.order_id, taker_cancel.cancelled_lots, taker_cancel.leaves_lots) == (
        3, 10_000, 5_000)
    assert {maker_cancel.reason, taker_cancel.reason} == {CancelReason.SELF_TRADE}
    assert fills(events) == [(10_000, 5_000, other)]
    assert m.depth(SELL) == [("100.00", "0.5000", 1)]
    assert m.depth(BUY) == []


def test_stp_decrement_with_a_smaller_taker_reduces_the_resting_order() -> None:
    m, own, other = stp_book()
    events = m.place(1, BUY, "0.4", "100.00", stp=SelfTradePrevention.DECREMENT_AND_CANCEL)
    assert fills(events) == []
    cancels = {c.order_id: (c.cancelled_lots, c.leaves_lots)
               for c in events_of_type(events, OrderCancelled)}
    assert cancels == {own: (4_000, 6_000), 3: (4_000, 0)}
    assert m.queue(SELL, "100.00") == [own, other]  # the reduced order keeps its place
    assert m.depth(SELL) == [("100.00", "1.6000", 2)]
    assert level_totals(events)[(SELL, 10_000)] == (16_000, 2)


def test_stp_decrement_is_not_reported_as_filled_later() -> None:
    m = funded(1, 3)
    resting = m.rest(1, SELL, "1", "100.00")
    m.place(1, BUY, "0.4", "100.00", stp=SelfTradePrevention.DECREMENT_AND_CANCEL)
    events = m.place(3, BUY, "0.6", "100.00")
    [fill] = [f for f in events_of_type(events, OrderFilled) if f.order_id == resting]
    # 0.4 were cancelled by self-trade prevention, only 0.6 ever traded
    assert (fill.qty_lots, fill.filled_lots, fill.leaves_lots) == (6_000, 6_000, 0)


def test_amend_after_stp_decrement_compares_with_what_really_filled() -> None:
    m = funded(1)
    resting = m.rest(1, SELL, "1", "100.00")
    m.place(1, BUY, "0.4", "100.00", stp=SelfTradePrevention.DECREMENT_AND_CANCEL)
    events = m.apply(AmendOrder(1, resting, qty_lots=lots("0.3")))  # nothing has filled
    amended = one(events, OrderAmended)
    assert (amended.qty_lots, amended.leaves_lots) == (3_000, 3_000)


def test_stp_only_applies_to_the_same_user() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00")
    events = m.place(1, BUY, "1", "100.00", stp=SelfTradePrevention.CANCEL_BOTH)
    assert fills(events) == [(10_000, 10_000, 1)]


def test_last_price_is_the_last_trade_even_when_stp_stops_at_a_deeper_level() -> None:
    m = funded(1, 2, 3)
    m.place(3, BUY, "0.1", "95.00", stop="100.50")  # reached only by a trade at >= 100.50
    m.rest(2, SELL, "1", "100.00")
    m.rest(1, SELL, "1", "101.00")
    events = m.place(1, BUY, "2", "101.00", stp=SelfTradePrevention.CANCEL_NEWEST)
    assert fills(events) == [(10_000, 10_000, 2)]
    assert not events_of_type(events, OrderTriggered), "the buy stop at 100.50 was not reached"
    assert m.last_price() == 100  # no trade happened at 101


def test_last_price_after_stp_cancel_oldest_empties_a_deeper_level() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00")
    m.rest(1, SELL, "1", "101.00")
    events = m.place(1, BUY, "2", "101.00", tif=IOC, stp=SelfTradePrevention.CANCEL_OLDEST)
    assert fills(events) == [(10_000, 10_000, 1)]
    assert m.last_price() == 100


# --------------------------------------------------------------------------- icebergs


def test_iceberg_shows_only_its_peak() -> None:
    m = funded(1, 2)
    ice = m.rest(2, SELL, "1", "100.00", display="0.1")
    m.rest(2, SELL, "0.2", "100.00")
    assert m.depth(SELL) == [("100.00", "0.3000", 2)]
    [order, _] = m.engine.books["BTC-USD"].orders_at(SELL, 10_000)
    assert (order.order_id, order.visible, order.leaves, order.display) == (
        ice, 1_000, 10_000, 1_000)


def test_refilled_iceberg_peak_goes_behind_later_orders() -> None:
    m = funded(1, 2, 3)
    ice = m.rest(2, SELL, "0.3", "100.00", display="0.1")
    plain = m.rest(3, SELL, "0.1", "100.00")
    events = m.place(1, BUY, "0.1", "100.00")
    assert fills(events) == [(10_000, 1_000, ice)]
    assert m.queue(SELL, "100.00") == [plain, ice]
    assert level_totals(events)[(SELL, 10_000)] == (2_000, 2)  # the refilled peak counts
    assert fills(m.place(1, BUY, "0.1", "100.00")) == [(10_000, 1_000, plain)]


def test_big_taker_consumes_an_iceberg_across_refills() -> None:
    m = funded(1, 2, 3)
    ice = m.rest(2, SELL, "0.3", "100.00", display="0.1")
    plain = m.rest(3, SELL, "0.05", "100.00")
    events = m.place(1, BUY, "0.4", "100.00")
    assert fills(events) == [(10_000, 1_000, ice), (10_000, 500, plain),
                             (10_000, 1_000, ice), (10_000, 1_000, ice)]
    ice_fills = [f for f in events_of_type(events, OrderFilled) if f.order_id == ice]
    assert [f.leaves_lots for f in ice_fills] == [2_000, 1_000, 0]
    assert level_totals(events) == {(SELL, 10_000): (0, 0), (BUY, 10_000): (500, 1)}
    assert m.depth(BUY) == [("100.00", "0.0500", 1)]


def test_iceberg_last_peak_is_what_is_left() -> None:
    m = funded(1, 2)
    ice = m.rest(2, SELL, "0.25", "100.00", display="0.1")
    m.place(1, BUY, "0.2", "100.00")
    [order] = m.engine.books["BTC-USD"].orders_at(SELL, 10_000)
    assert (order.order_id, order.visible, order.leaves) == (ice, 500, 500)
    assert m.depth(SELL) == [("100.00", "0.0500", 1)]


# --------------------------------------------------------------------------- stops


def test_stop_market_buy_triggers_when_the_last_price_reaches_the_stop() -> None:
    m = funded(1, 2, 3)
    trade_last(m, "100.00")
    stop = one(m.place(1, BUY, "0.5", stop="101.00"), OrderAccepted)
    assert m.engine.open_orders(1)[0].stop_price == 10_100
    a = m.rest(2, SELL, "0.3", "101.00")
    b = m.rest(2, SELL, "1", "102.00")
    assert m.depth(BUY) == []  # a pending stop is not in the book
    events = m.place(3, BUY, "0.1", "101.00")  # trades at 101: the stop is reached
    triggered = one(events, OrderTriggered)
    assert (triggered.order_id, triggered.stop_price_ticks, triggered.last_price_ticks) == (
        stop.order_id, 10_100, 10_100)
    after = events[events.index(triggered):]
    assert fills(after) == [(10_100, 2_000, a), (10_200, 3_000, b)]
    assert m.engine.open_orders(1) == []
    assert m.last_price() == 102


def test_stop_limit_sell_triggers_and_rests_its_remainder() -> None:
    m = funded(1, 2, 3)
    trade_last(m, "100.00")
    stop = one(m.place(1, SELL, "1", "98.50", stop="99.00"), OrderAccepted).order_id
    bid = m.rest(2, BUY, "0.4", "99.00")
    assert m.depth(SELL) == []
    events = m.place(3, SELL, "0.1", "99.00")  # last 99 <= stop 99
    assert one(events, OrderTriggered).order_id == stop
    after = events[events.index(one(events, OrderTriggered)):]
    assert fills(after) == [(9_900, 3_000, bid)]
    assert m.depth(SELL) == [("98.50", "0.7000", 1)]
    assert m.queue(SELL, "98.50") == [stop]


def test_stop_not_reached_stays_pending() -> None:
    m = funded(1, 2, 3)
    trade_last(m, "100.00")
    m.place(1, BUY, "0.5", stop="101.00")
    m.rest(2, SELL, "1", "100.99")
    events = m.place(3, BUY, "0.1", "100.99")
    assert not events_of_type(events, OrderTriggered)
    assert m.engine.open_orders(1)[0].stop_price == 10_100


@pytest.mark.parametrize(
    ("side", "stop"), [(BUY, "100.00"), (BUY, "99.00"), (SELL, "100.00"), (SELL, "101.00")]
)
def test_stop_that_would_trigger_at_once_is_rejected(side: Side, stop: str) -> None:
    m = funded(1)
    trade_last(m, "100.00")
    command = PlaceOrder(1, "BTC-USD", side, 4, lots("0.5"), stop_price_ticks=ticks(stop))
    assert_rejected(m.apply_unchanged(command), Code.STOP_WOULD_TRIGGER)


def test_stop_cascade_each_trigger_sees_the_price_the_previous_one_made() -> None:
    m = funded(1, 2, 3, 4)
    trade_last(m, "100.00")
    first = one(m.place(1, BUY, "0.5", stop="101.00"), OrderAccepted).order_id
    second = one(m.place(3, BUY, "0.5", stop="102.00"), OrderAccepted).order_id
    a = m.rest(2, SELL, "0.4", "101.00")
    b = m.rest(2, SELL, "1", "102.00")
    events = m.place(4, BUY, "0.1", "101.00")  # last 101: only the first stop is reached
    first_at, second_at = (events.index(t) for t in events_of_type(events, OrderTriggered))
    assert fills(events[:first_at]) == [(10_100, 1_000, a)]
    assert one(events[first_at:second_at], OrderTriggered).order_id == first
    assert fills(events[first_at:second_at]) == [(10_100, 3_000, a), (10_200, 2_000, b)]
    triggered = one(events[second_at:], OrderTriggered)  # the first stop moved last to 102
    assert (triggered.order_id, triggered.last_price_ticks) == (second, 10_200)
    assert fills(events[second_at:]) == [(10_200, 5_000, b)]
    assert m.depth(SELL) == [("102.00", "0.3000", 1)]
    assert m.engine.open_orders(1) == [] and m.engine.open_orders(3) == []


def test_stops_reached_together_trigger_in_the_documented_order() -> None:
    """Buy side: lowest stop first; sell side: highest first; between sides: lower id.

    With no trade yet no stop can be rejected as already reached, so all four wait for
    the first trade at 100, which reaches every one of them."""
    m = funded(1, 2, 3)
    sell_101 = one(m.place(1, SELL, "0.1", "105.00", stop="101.00"), OrderAccepted).order_id
    buy_100 = one(m.place(1, BUY, "0.1", "95.00", stop="100.00"), OrderAccepted).order_id
    buy_99 = one(m.place(1, BUY, "0.1", "95.00", stop="99.00"), OrderAccepted).order_id
    sell_100_50 = one(m.place(1, SELL, "0.1", "105.00", stop="100.50"), OrderAccepted).order_id
    m.rest(2, SELL, "0.1", "100.00")
    events = m.place(3, BUY, "0.1", "100.00")
    assert [t.order_id for t in events_of_type(events, OrderTriggered)] == [
        sell_101, buy_99, buy_100, sell_100_50]
    assert m.queue(BUY, "95.00") == [buy_99, buy_100]  # priority from the trigger time
    assert m.queue(SELL, "105.00") == [sell_101, sell_100_50]


def test_triggered_stop_market_with_an_empty_opposite_side_is_cancelled() -> None:
    m = funded(1, 2, 3)
    trade_last(m, "100.00")
    stop = one(m.place(1, SELL, "0.5", stop="99.00"), OrderAccepted).order_id
    m.rest(2, BUY, "0.1", "99.00")
    events = m.place(3, SELL, "0.1", "99.00")  # takes the only bid: last 99, no bids left
    triggered_at = events.index(one(events, OrderTriggered))
    cancelled = one(events[triggered_at:], OrderCancelled)
    assert (cancelled.order_id, cancelled.cancelled_lots, cancelled.reason) == (
        stop, 5_000, CancelReason.UNFILLED)
    assert m.engine.open_orders(1) == []


def test_triggered_stop_limit_fok_that_cannot_fill_is_cancelled() -> None:
    m = funded(1, 2, 3)
    trade_last(m, "100.00")
    stop = one(m.place(1, BUY, "1", "101.00", stop="101.00", tif=FOK), OrderAccepted).order_id
    m.rest(2, SELL, "0.5", "101.00")
    events = m.place(3, BUY, "0.1", "101.00")  # last 101; only 0.4 left for the stop
    triggered_at = events.index(one(events, OrderTriggered))
    cancelled = one(events[triggered_at:], OrderCancelled)
    assert (cancelled.order_id, cancelled.cancelled_lots, cancelled.reason) == (
        stop, 10_000, CancelReason.UNFILLED)
    assert fills(events[triggered_at:]) == []
    assert m.depth(SELL) == [("101.00", "0.4000", 1)]


def test_triggered_stop_limit_rests_at_the_back_of_its_level() -> None:
    m = funded(1, 2, 3, 4)
    trade_last(m, "100.00")
    stop = one(m.place(1, SELL, "0.5", "100.50", stop="99.00"), OrderAccepted).order_id
    earlier = m.rest(2, SELL, "0.5", "100.50")  # placed after the stop, rests before it
    m.rest(3, BUY, "0.1", "99.00")
    m.place(4, SELL, "0.1", "99.00")  # last 99 triggers the stop
    assert m.queue(SELL, "100.50") == [earlier, stop]


# --------------------------------------------------------------------------- expiry


def test_gtd_order_expires_at_exactly_its_expiry_time_and_not_one_ns_before() -> None:
    m = funded(1)
    expire = m.ts_ns + 1_000
    order_id = m.rest(1, BUY, "1", "100.00", tif=GTD, expire_ts_ns=expire)
    held = m.balance(1, "USD")[1]
    assert held > 0
    assert m.advance(expire - 1) == []
    assert m.queue(BUY, "100.00") == [order_id]
    events = m.advance(expire)
    assert names(events) == ["BookLevelChanged", "OrderExpired"]
    assert one(events, OrderExpired) == OrderExpired(order_id, 1, "BTC-USD", BUY, 10_000, held)
    assert one(events, BookLevelChanged) == BookLevelChanged("BTC-USD", BUY, 10_000, 0, 0)
    assert m.depth(BUY) == [] and m.engine.open_orders(1) == []
    assert m.balance(1, "USD")[1] == 0


def test_expiry_happens_before_the_command_that_reaches_it() -> None:
    m = funded(1, 2)
    expire = m.ts_ns + 100
    order_id = m.rest(1, BUY, "1", "100.00", tif=GTD, expire_ts_ns=expire)
    command = PlaceOrder(2, "BTC-USD", SELL, 1, lots("1"), ticks("100.00"))
    events = m.apply(command, ts_ns=expire)
    assert names(events) == ["BookLevelChanged", "OrderExpired", "OrderAccepted",
                             "BookLevelChanged"]
    assert one(events, OrderExpired).order_id == order_id
    assert fills(events) == []
    assert m.depth(SELL) == [("100.00", "1.0000", 1)]


def test_expiries_run_earliest_first_then_by_order_id() -> None:
    m = funded(1)
    t = m.ts_ns
    late = m.rest(1, BUY, "0.1", "100.00", tif=GTD, expire_ts_ns=t + 30)
    early = m.rest(1, BUY, "0.1", "100.00", tif=GTD, expire_ts_ns=t + 20)
    early_too = m.rest(1, BUY, "0.1", "99.00", tif=GTD, expire_ts_ns=t + 20)
    events = m.advance(t + 50)
    assert [e.order_id for e in events_of_type(events, OrderExpired)] == [
        early, early_too, late]


def test_gtd_stop_expires_while_pending() -> None:
    m = funded(1)
    trade_last(m, "100.00")
    expire = m.ts_ns + 10
    stop = one(m.place(1, BUY, "0.1", stop="101.00", tif=IOC), OrderAccepted).order_id
    gtd = one(m.place(1, BUY, "0.1", "102.00", stop="101.00", tif=GTD, expire_ts_ns=expire),
              OrderAccepted).order_id
    events = m.advance(expire)
    assert names(events) == ["OrderExpired"]
    assert one(events, OrderExpired).order_id == gtd
    assert [o.order_id for o in m.engine.open_orders(1)] == [stop]


def test_gtd_with_expiry_not_after_now_is_rejected() -> None:
    m = funded(1)
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("1"), ticks("100.00"), tif=GTD,
                         expire_ts_ns=m.ts_ns + 1)  # applied at exactly that time
    assert_rejected(m.apply_unchanged(command), Code.EXPIRED_ON_ARRIVAL)


def test_advance_time_does_nothing_else() -> None:
    m = funded(1)
    m.rest(1, BUY, "1", "100.00")
    before = m.engine.snapshot()
    assert m.apply(AdvanceTime(), ts_ns=m.ts_ns + 10**12) == []
    after = m.engine.snapshot()
    assert after.pop("last") != before.pop("last")
    assert after == before


# --------------------------------------------------------------------------- amend


def two_bids() -> tuple[Market, int, int]:
    m = funded(1, 2, 3)
    first = m.rest(1, BUY, "1", "100.00")
    second = m.rest(2, BUY, "1", "100.00")
    return m, first, second


def test_amend_quantity_down_keeps_time_priority() -> None:
    m, first, second = two_bids()
    events = m.apply(AmendOrder(1, first, qty_lots=lots("0.4")))
    amended = one(events, OrderAmended)
    assert (amended.order_id, amended.qty_lots, amended.leaves_lots, amended.priority_kept) == (
        first, 4_000, 4_000, True)
    assert level_totals(events) == {(BUY, 10_000): (14_000, 2)}
    assert m.queue(BUY, "100.00") == [first, second]
    assert fills(m.place(3, SELL, "0.4", "100.00")) == [(10_000, 4_000, first)]


def test_amend_quantity_up_loses_time_priority() -> None:
    m, first, second = two_bids()
    events = m.apply(AmendOrder(1, first, qty_lots=lots("1.5")))
    amended = one(events, OrderAmended)
    assert (amended.order_id, amended.qty_lots, amended.priority_kept) == (first, 15_000, False)
    assert level_totals(events) == {(BUY, 10_000): (25_000, 2)}
    assert m.queue(BUY, "100.00") == [second, first]  # same id, back of the queue
    assert fills(m.place(3, SELL, "1", "100.00")) == [(10_000, 10_000, second)]


def test_amend_price_loses_priority_at_the_new_level() -> None:
    m, first, second = two_bids()
    third = m.rest(3, BUY, "1", "99.00")
    events = m.apply(AmendOrder(2, second, price_ticks=ticks("99.00")))
    assert one(events, OrderAmended).priority_kept is False
    assert level_totals(events) == {(BUY, 10_000): (10_000, 1), (BUY, 9_900): (20_000, 2)}
    assert m.queue(BUY, "99.00") == [third, second]
    assert m.queue(BUY, "100.00") == [first]


def test_amend_price_that_crosses_trades_at_once() -> None:
    m = funded(1, 2)
    bid = m.rest(1, BUY, "1", "100.00")
    ask = m.rest(2, SELL, "0.6", "101.00")
    events = m.apply(AmendOrder(1, bid, price_ticks=ticks("101.00")))
    assert fills(events) == [(10_100, 6_000, ask)]
    assert one(events, TradeExecuted).taker_order_id == bid
    assert m.depth(SELL) == []
    assert m.depth(BUY) == [("101.00", "0.4000", 1)]
    assert m.queue(BUY, "101.00") == [bid]


def test_amend_down_of_a_partly_filled_order_counts_the_filled_part() -> None:
    m = funded(1, 2)
    bid = m.rest(1, BUY, "1", "100.00")
    m.place(2, SELL, "0.4", "100.00")
    events = m.apply(AmendOrder(1, bid, qty_lots=lots("0.5")))
    amended = one(events, OrderAmended)
    assert (amended.qty_lots, amended.leaves_lots, amended.priority_kept) == (5_000, 1_000, True)
    assert m.depth(BUY) == [("100.00", "0.1000", 1)]


@pytest.mark.parametrize("new_qty", ["0.4", "0.3"])
def test_amend_to_no_more_than_filled_is_rejected(new_qty: str) -> None:
    m = funded(1, 2)
    bid = m.rest(1, BUY, "1", "100.00")
    m.place(2, SELL, "0.4", "100.00")
    command = AmendOrder(1, bid, qty_lots=lots(new_qty))
    events = m.apply_unchanged(command)
    assert_rejected(events, Code.AMEND_BELOW_FILLED)
    assert one(events, OrderRejected).order_id == bid


@pytest.mark.parametrize(("price", "qty"), [("", ""), ("100.00", ""), ("", "1"), ("100.00", "1")])
def test_amend_that_changes_nothing_is_rejected(price: str, qty: str) -> None:
    m = funded(1)
    bid = m.rest(1, BUY, "1", "100.00")
    command = AmendOrder(1, bid, price_ticks=ticks(price) if price else 0,
                         qty_lots=lots(qty) if qty else 0)
    assert_rejected(m.apply_unchanged(command), Code.AMEND_NO_CHANGE)


def test_amend_of_an_iceberg_caps_its_peak_at_the_new_leaves() -> None:
    m = funded(1)
    ice = m.rest(1, SELL, "1", "100.00", display="0.3")
    m.apply(AmendOrder(1, ice, qty_lots=lots("0.5")))
    [order] = m.engine.books["BTC-USD"].orders_at(SELL, 10_000)
    assert (order.visible, order.leaves) == (3_000, 5_000)
    m.apply(AmendOrder(1, ice, qty_lots=lots("0.4")))
    assert m.depth(SELL) == [("100.00", "0.3000", 1)]


def test_post_only_amended_across_the_spread_is_rejected() -> None:
    m = funded(1, 2)
    bid = m.rest(1, BUY, "1", "100.00", post_only=True)
    m.rest(2, SELL, "1", "101.00")
    command = AmendOrder(1, bid, price_ticks=ticks("101.00"))
    assert_rejected(m.apply_unchanged(command), Code.POST_ONLY_WOULD_TAKE)


def test_amend_that_trades_triggers_stops() -> None:
    m = funded(1, 2, 3)
    trade_last(m, "100.00")
    stop = one(m.place(3, BUY, "0.1", "103.00", stop="101.00"), OrderAccepted).order_id
    bid = m.rest(1, BUY, "0.2", "100.50")
    ask = m.rest(2, SELL, "0.2", "101.00")
    higher_ask = m.rest(2, SELL, "0.2", "102.00")
    events = m.apply(AmendOrder(1, bid, price_ticks=ticks("101.00")))  # takes 101: last 101
    assert one(events, OrderTriggered).order_id == stop
    assert fills(events) == [(10_100, 2_000, ask), (10_200, 1_000, higher_ask)]


def test_amended_gtd_order_keeps_its_expiry() -> None:
    m = funded(1)
    expire = m.ts_ns + 100
    order_id = m.rest(1, BUY, "1", "100.00", tif=GTD, expire_ts_ns=expire)
    events = m.apply(AmendOrder(1, order_id, price_ticks=ticks("99.00")))
    assert one(events, OrderAmended).priority_kept is False
    events = m.apply(AmendOrder(1, order_id, qty_lots=lots("2")))
    assert one(events, OrderAmended).priority_kept is False
    assert m.advance(expire - 1) == []
    events = m.advance(expire)
    assert one(events, OrderExpired) == OrderExpired(order_id, 1, "BTC-USD", BUY, 20_000,
                                                     99_000_000 * 2 + 99_000)
    assert m.balance(1, "USD")[1] == 0


def test_pending_stop_is_not_amendable() -> None:
    m = funded(1)
    trade_last(m, "100.00")
    stop = one(m.place(1, BUY, "0.1", "102.00", stop="101.00"), OrderAccepted).order_id
    command = AmendOrder(1, stop, qty_lots=lots("0.05"))
    assert_rejected(m.apply_unchanged(command), Code.ORDER_NOT_AMENDABLE)


# --------------------------------------------------------------------------- cancel


def test_cancel_by_order_id_releases_the_order() -> None:
    m = funded(1)
    order_id = m.rest(1, BUY, "1", "100.00")
    events = m.apply(CancelOrder(1, order_id))
    assert names(events) == ["BookLevelChanged", "OrderCancelled"]
    cancelled = one(events, OrderCancelled)
    assert (cancelled.order_id, cancelled.cancelled_lots, cancelled.reason) == (
        order_id, 10_000, CancelReason.USER)
    assert m.depth(BUY) == []


def test_cancel_by_client_order_id() -> None:
    m = funded(1, 2)
    m.rest(1, BUY, "1", "99.00", client_order_id="other")
    order_id = m.rest(1, BUY, "1", "100.00", client_order_id="abc-1")
    assert_rejected(m.apply_unchanged(CancelOrder(2, client_order_id="abc-1")),
                    Code.UNKNOWN_ORDER)  # client order ids are per user
    events = m.apply(CancelOrder(1, client_order_id="abc-1"))
    assert one(events, OrderCancelled).order_id == order_id
    assert m.depth(BUY) == [("99.00", "1.0000", 1)]


def cancel_all_book() -> tuple[Market, dict[str, int]]:
    """User 1: BTC bid, ETH bid, BTC stop; user 2: BTC ask, ETH ask."""
    m = funded(1, 2)
    m.deposit(2, "ETH", "10")
    ids = {
        "1 btc": m.rest(1, BUY, "1", "100.00"),
        "1 eth": m.rest(1, BUY, "0.01", "2000.00", symbol="ETH-USD"),
        "1 btc stop": one(m.place(1, BUY, "0.1", stop="120.00"), OrderAccepted).order_id,
        "2 btc": m.rest(2, SELL, "1", "101.00"),
        "2 eth": m.rest(2, SELL, "0.01", "2001.00", symbol="ETH-USD"),
    }
    return m, ids


def cancelled_ids(events: list[Event]) -> list[int]:
    found = events_of_type(events, OrderCancelled)
    assert {e.reason for e in found} <= {CancelReason.CANCEL_ALL}
    return [e.order_id for e in found]


def test_cancel_all_of_a_user_in_one_symbol_includes_stops() -> None:
    m, ids = cancel_all_book()
    events = m.apply(CancelAll(1, "BTC-USD"))
    assert cancelled_ids(events) == [ids["1 btc"], ids["1 btc stop"]]
    assert [o.order_id for o in m.engine.open_orders(1)] == [ids["1 eth"]]
    assert len(m.engine.open_orders(2)) == 2


def test_cancel_all_of_a_user_in_every_symbol() -> None:
    m, ids = cancel_all_book()
    events = m.apply(CancelAll(1))
    assert cancelled_ids(events) == [ids["1 btc"], ids["1 eth"], ids["1 btc stop"]]
    assert m.engine.open_orders(1) == []
    assert len(m.engine.open_orders(2)) == 2


def test_cancel_all_for_user_0_cancels_every_users_orders() -> None:
    m, ids = cancel_all_book()
    events = m.apply(CancelAll(0, "ETH-USD"))
    assert cancelled_ids(events) == [ids["1 eth"], ids["2 eth"]]
    events = m.apply(CancelAll(0))
    assert cancelled_ids(events) == [ids["1 btc"], ids["1 btc stop"], ids["2 btc"]]
    assert m.engine.orders == {}
    assert m.depth(BUY) == [] and m.depth(SELL) == []


def test_cancel_all_goes_by_order_id_after_an_amend_and_frees_holds_and_client_ids() -> None:
    """An amended order that lost its place is indexed again, after younger orders; it
    is still cancelled in the order of its id, its hold comes back and its client id
    can be used again."""
    m = funded(1)
    before = m.balance(1, "USD")
    first = m.rest(1, BUY, "1", "100.00", client_order_id="a")
    second = m.rest(1, BUY, "1", "99.00")
    stop = one(m.place(1, BUY, "0.1", stop="120.00"), OrderAccepted).order_id
    m.apply(AmendOrder(1, first, ticks("98.00")))
    events = m.apply(CancelAll(1, "BTC-USD"))
    assert cancelled_ids(events) == [first, second, stop]
    assert [(e.price_ticks, e.qty_lots, e.order_count)
            for e in events_of_type(events, BookLevelChanged)] == [
        (ticks("98.00"), 0, 0), (ticks("99.00"), 0, 0)]
    assert m.balance(1, "USD") == before
    assert m.engine.user_orders == {} and m.engine.client_ids == {}
    m.rest(1, BUY, "1", "100.00", client_order_id="a")


def test_cancel_all_with_nothing_open_does_nothing() -> None:
    m = funded(1)
    assert m.apply(CancelAll(1)) == []


# --------------------------------------------------------------------------- client order ids


def test_duplicate_client_order_id_is_rejected_while_the_first_is_open() -> None:
    m = funded(1, 2)
    first = m.rest(1, BUY, "1", "100.00", client_order_id="dup")
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("1"), ticks("99.00"),
                         client_order_id="dup")
    assert_rejected(m.apply_unchanged(command), Code.DUPLICATE_CLIENT_ORDER_ID)
    m.rest(2, BUY, "1", "99.00", client_order_id="dup")  # another user may use it
    m.apply(CancelOrder(1, first))
    assert one(m.apply(command), OrderAccepted).client_order_id == "dup"


def test_client_order_id_is_free_again_once_its_order_filled() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "2", "100.00")
    events = m.place(1, BUY, "1", "100.00", client_order_id="again")
    assert one(events, OrderAccepted).client_order_id == "again"
    assert events_of_type(events, OrderFilled)[-1].leaves_lots == 0
    events = m.place(1, BUY, "1", "100.00", client_order_id="again")
    assert fills(events) == [(10_000, 10_000, 1)]


# --------------------------------------------------------------------------- ids


def test_order_and_trade_ids_are_sequential_across_symbols_and_skip_rejections() -> None:
    m = funded(1, 2)
    m.deposit(2, "ETH", "10")
    assert m.rest(2, SELL, "1", "100.00") == 1
    rejected = m.apply(PlaceOrder(1, "BTC-USD", BUY, 1, 0, ticks("100.00")))
    assert_rejected(rejected, Code.INVALID_QUANTITY)
    assert m.rest(2, SELL, "1", "2000.00", symbol="ETH-USD") == 2
    btc_trade = one(m.place(1, BUY, "0.5", "100.00"), TradeExecuted)
    eth_trade = one(m.place(1, BUY, "0.5", "2000.00", symbol="ETH-USD"), TradeExecuted)
    assert (btc_trade.taker_order_id, btc_trade.trade_id) == (3, 1)
    assert (eth_trade.taker_order_id, eth_trade.trade_id) == (4, 2)
    events = m.place(1, BUY, "0.5", "100.00")
    assert one(events, TradeExecuted).trade_id == 3
    assert one(events, OrderAccepted).order_id == 5


def test_same_commands_give_the_same_events_and_state_hash() -> None:
    def run() -> tuple[list[list[Event]], str]:
        m = funded(1, 2, 3)
        log = [
            m.place(2, SELL, "0.3", "100.00", display="0.1"),
            m.place(3, SELL, "0.2", "100.50", client_order_id="c"),
            m.place(1, BUY, "0.5", stop="100.20"),
            m.place(1, BUY, "0.35", "100.00"),
            m.place(3, BUY, "0.1", "100.50", tif=IOC),
            m.apply(CancelAll(0)),
        ]
        return log, m.engine.state_hash()

    assert run() == run()


# --------------------------------------------------------------------------- book events, depth


def test_book_level_changed_carries_the_new_level_totals() -> None:
    m = funded(1, 2, 3)
    a = m.rest(1, SELL, "1", "100.00")
    events = m.place(2, SELL, "0.5", "100.00")
    assert one(events, BookLevelChanged) == BookLevelChanged("BTC-USD", SELL, 10_000, 15_000, 2)
    events = m.place(3, BUY, "0.25", "100.00")
    assert one(events, BookLevelChanged) == BookLevelChanged("BTC-USD", SELL, 10_000, 12_500, 2)
    events = m.apply(CancelOrder(1, a))
    assert one(events, BookLevelChanged) == BookLevelChanged("BTC-USD", SELL, 10_000, 5_000, 1)
    events = m.place(3, BUY, "0.5", "100.00")
    assert one(events, BookLevelChanged) == BookLevelChanged("BTC-USD", SELL, 10_000, 0, 0)


def test_l2_depth_aggregates_levels_best_first() -> None:
    m = funded(1, 2)
    for user, side, qty, price in [
        (1, BUY, "1", "99.00"), (2, BUY, "0.5", "99.00"), (1, BUY, "2", "98.50"),
        (2, BUY, "0.1", "97.00"), (1, SELL, "0.3", "101.00"), (2, SELL, "0.7", "101.00"),
        (1, SELL, "1", "100.50"), (2, SELL, "5", "105.00"),
    ]:
        m.rest(user, side, qty, price)
    assert m.depth(BUY) == [("99.00", "1.5000", 2), ("98.50", "2.0000", 1),
                            ("97.00", "0.1000", 1)]
    assert m.depth(SELL) == [("100.50", "1.0000", 1), ("101.00", "1.0000", 2),
                             ("105.00", "5.0000", 1)]
    book = m.engine.books["BTC-USD"]
    assert book.depth(BUY, 2) == [(9_900, 15_000, 2), (9_850, 20_000, 1)]
    assert book.depth(SELL, 1) == [(10_050, 10_000, 1)]
    assert (book.best_bid(), book.best_ask()) == (9_900, 10_050)


def test_l3_lists_every_order_best_price_first_then_by_time() -> None:
    m = funded(1, 2)
    a = m.rest(1, BUY, "1", "99.00")
    b = m.rest(2, BUY, "2", "100.00")
    c = m.rest(2, BUY, "0.5", "99.00")
    d = m.rest(1, BUY, "1", "100.00", display="0.2")
    book = m.engine.books["BTC-USD"]
    assert [(o.order_id, o.price, o.visible) for o in book.iter_orders(BUY)] == [
        (b, 10_000, 20_000), (d, 10_000, 2_000), (a, 9_900, 10_000), (c, 9_900, 5_000)]
    assert [o.order_id for o in book.orders_at(BUY, 9_900)] == [a, c]
    assert book.orders_at(BUY, 9_800) == []
    m.apply(CancelOrder(1, a))
    assert [o.order_id for o in book.iter_orders(BUY)] == [b, d, c]

