"""Ticks, lots and minor units written straight from the integer (``decimals.Texts``)
write what the core's ``Decimal`` arithmetic writes, and an order's answer is built from
them byte for byte as the core would write each amount."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matchbook.api import decimals, views
from matchbook.config import read_config
from matchbook.core import Asset, load_markets
from matchbook.core.commands import BUY, GTC, LIMIT, SELL
from matchbook.core.events import OrderAccepted, OrderFilled

MARKETS = load_markets(read_config(None))

# -- formatting straight from the integer ------------------------------------------------

# what a tick, a lot or an asset's minor unit may be: a positive decimal of a few digits
# at any exponent (0.01, 0.05, 0.0001, 25, 1E+1, 0.000000000000000001...)
units = st.builds(lambda digits, exponent: Decimal(digits).scaleb(exponent),
                  st.integers(1, 10**6), st.integers(-18, 4))
# zero, negatives (fees: a rebate), everyday values and the largest a store holds
amounts = st.one_of(st.integers(-(10**18), 10**18), st.sampled_from(
    [0, 1, -1, 9, 10, 99, 100, 10**18 - 1, 10**18, -(10**18), 2**63 - 1, -(2**63)]))


def _decimal_way(n: int, unit: Decimal) -> str:
    """How the core writes ``n`` units: ``Decimal`` arithmetic, then ``:f``."""
    exponent = unit.as_tuple().exponent
    assert isinstance(exponent, int)
    quantum = Decimal(1).scaleb(min(exponent, 0))
    value = (Decimal(n) * unit).quantize(quantum, context=_WIDE)
    return f"{value:f}"


_WIDE = decimal.Context(prec=200)


@given(units, st.lists(amounts, min_size=1, max_size=20))
def test_formatter_writes_what_decimal_arithmetic_writes(unit: Decimal,
                                                         values: list[int]) -> None:
    text = decimals.formatter(unit)
    for n in values:
        assert text(n) == _decimal_way(n, unit), (n, unit)


@given(st.integers(0, 18), st.lists(amounts, min_size=1, max_size=20))
def test_asset_formatter_is_asset_format(places: int, values: list[int]) -> None:
    asset = Asset("X", places)
    text = decimals.asset_formatter(asset)
    for n in values:
        assert text(n) == asset.format(n)


@given(st.lists(amounts, min_size=1, max_size=20))
def test_every_shipped_symbol_is_written_as_the_core_writes_it(values: list[int]) -> None:
    for sym in MARKETS.symbols.values():
        tx = decimals.texts(sym)
        assert (tx.zero_qty, tx.zero_fee) == (sym.format_qty(0), sym.quote.format(0))
        for n in values:
            assert tx.price(n) == sym.format_price(n)
            assert tx.qty(n) == sym.format_qty(n)
            assert tx.fee(n) == sym.quote.format(n)


def test_edge_values_by_hand() -> None:
    cases = [("0.01", 0, "0.00"), ("0.01", 5, "0.05"), ("0.01", -5, "-0.05"),
             ("0.01", 123456, "1234.56"), ("0.05", 3, "0.15"), ("0.05", -3, "-0.15"),
             ("25", 3, "75"), ("1E+1", 3, "30"), ("1", -7, "-7"), ("0.5", 1, "0.5"),
             ("0.000000000000000001", 10**18, "1.000000000000000000"),
             ("0.000000000000000001", -1, "-0.000000000000000001"),
             ("0.0001", 10**22 + 1, "1000000000000000000.0001")]
    for unit, n, expected in cases:
        assert decimals.formatter(Decimal(unit))(n) == expected == _decimal_way(n, Decimal(unit))
    for bad in ("0", "-0.01"):
        with pytest.raises(ValueError):
            decimals.formatter(Decimal(bad))


@given(st.sampled_from(sorted(MARKETS.symbols)), st.integers(1, 10**9), st.integers(1, 10**6),
       st.integers(0, 10**6), st.integers(-(10**9), 10**9), st.sampled_from([BUY, SELL]))
def test_an_answer_writes_each_amount_as_the_core_does(name: str, price: int, qty: int,
                                                       filled: int, fee: int,
                                                       side: int) -> None:
    sym = MARKETS.symbols[name]
    filled = min(filled, qty)
    accepted = OrderAccepted(order_id=7, user_id=1, symbol=name, side=side, order_type=LIMIT,
                             price_ticks=price, qty_lots=qty, tif=GTC, client_order_id="c",
                             stop_price_ticks=0, display_lots=0, post_only=False,
                             expire_ts_ns=0, quote_amount_minor=0, hold_asset="X",
                             hold_minor=1)
    events: list[object] = [accepted]
    if filled:
        events.append(OrderFilled(order_id=7, user_id=1, symbol=name, side=side, trade_id=3,
                                  price_ticks=price, qty_lots=filled, filled_lots=filled,
                                  leaves_lots=qty - filled, is_maker=False, fee_minor=fee,
                                  released_minor=0))
    state = views.OrderState.of_accepted(accepted, 5)
    order = views.order_after(sym, state, events, 5)  # type: ignore[arg-type]
    assert (order.price, order.quantity) == (sym.format_price(price), sym.format_qty(qty))
    assert order.filled_quantity == sym.format_qty(filled)
    assert order.remaining_quantity == sym.format_qty(qty - filled)
    assert order.fee == sym.quote.format(fee if filled else 0)
    assert order.fee_asset == sym.quote.code and order.symbol == name
    for fill in order.fills:
        assert (fill.price, fill.quantity, fill.fee) == (
            sym.format_price(price), sym.format_qty(filled), sym.quote.format(fee))
    assert len(order.fills) == (1 if filled else 0)
