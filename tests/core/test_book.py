"""The order book's compact encodings agree with the readable ones."""

import itertools

from matchbook.core.book import RESTS, Order, pack_flags
from matchbook.core.commands import (
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    STOP_LIMIT,
    STOP_MARKET,
    STP_CANCEL_NEWEST,
    STP_DECREMENT,
)
from matchbook.core.symbols import FeeSchedule


def _order(flags: int) -> Order:
    return Order(1, 1, "BTC-USD", 1, 100, 5, 5, 5, 0, 0, flags, 0, 0, "", FeeSchedule(0, 0))


def test_flags_round_trip_through_the_properties() -> None:
    shapes = itertools.product((LIMIT, MARKET, STOP_LIMIT, STOP_MARKET), (GTC, IOC, FOK, GTD),
                               range(STP_CANCEL_NEWEST, STP_DECREMENT + 1), (False, True))
    for otype, tif, stp, post_only in shapes:
        order = _order(pack_flags(otype, tif, stp, post_only))
        assert (order.order_type, order.tif, order.stp, order.post_only) == (
            otype, tif, stp, post_only)


def test_rests_table_matches_type_and_time_in_force() -> None:
    for otype, tif in itertools.product((LIMIT, MARKET, STOP_LIMIT, STOP_MARKET),
                                        (GTC, IOC, FOK, GTD)):
        for stp, post_only in ((STP_CANCEL_NEWEST, False), (STP_DECREMENT, True)):
            flags = pack_flags(otype, tif, stp, post_only)
            expected = otype in (LIMIT, STOP_LIMIT) and tif in (GTC, GTD)
            assert RESTS[flags & 15] is expected, (otype, tif)
