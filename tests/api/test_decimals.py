"""The order path's remembered decimal conversions answer as the symbol does."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matchbook.api import decimals
from matchbook.config import read_config
from matchbook.core import GridError, Symbol, load_markets

SYMBOL: Symbol = load_markets(read_config(None)).symbols["BTC-USD"]


@given(st.lists(st.integers(1, 10**12), max_size=30))
def test_texts_are_the_symbols_own(values: list[int]) -> None:
    for value in values + values:  # the second time from memory
        assert decimals.price_text(SYMBOL, value) == SYMBOL.format_price(value)
        assert decimals.qty_text(SYMBOL, value) == SYMBOL.format_qty(value)
        price, qty = SYMBOL.format_price(value), SYMBOL.format_qty(value)
        assert decimals.price_ticks(SYMBOL, price) == value
        assert decimals.qty_lots(SYMBOL, qty) == value


def test_a_bad_value_is_refused_every_time_and_memory_is_bounded() -> None:
    off_grid = "0.000000000001"
    for _ in range(2):
        with pytest.raises(GridError):
            decimals.price_ticks(SYMBOL, off_grid)
        with pytest.raises(GridError):
            decimals.qty_lots(SYMBOL, "-1")
    for ticks in range(1, decimals.MAX_REMEMBERED * 2):
        decimals.price_text(SYMBOL, ticks)
    assert len(decimals._memory(SYMBOL).tables[decimals._PRICE_TEXT]) <= decimals.MAX_REMEMBERED
    assert decimals.price_text(SYMBOL, 7) == SYMBOL.format_price(7)


class _Dropped(Symbol):
    """A symbol that can be watched with a weak reference (``Symbol`` has slots only)."""


def _copy(tick_size: str, cls: type[Symbol] = Symbol) -> Symbol:
    """A new symbol object like ``SYMBOL``, with another tick size."""
    values = {f.name: getattr(SYMBOL, f.name) for f in dataclasses.fields(Symbol) if f.init}
    values["tick_size"] = Decimal(tick_size)
    return cls(**values)


def test_a_new_symbol_never_gets_the_conversions_of_a_freed_one() -> None:
    # symbols made and dropped one after the other: CPython hands the next one the freed
    # one's address (its id) over and over, with another grid each time
    for round_ in range(500):
        tick = ("0.01", "0.5", "10")[round_ % 3]
        sym = _copy(tick)
        assert decimals.price_text(sym, 3) == sym.format_price(3)
        assert decimals.price_ticks(sym, "10") == sym.price_to_ticks("10")
        assert decimals.qty_text(sym, 3) == sym.format_qty(3)
        del sym


def test_symbols_no_longer_used_are_let_go() -> None:
    first = _copy("0.01", _Dropped)
    decimals.price_text(first, 1)
    watch = weakref.ref(first)
    del first
    for _ in range(1000):  # other markets come and go
        decimals.price_text(_copy("0.5"), 1)
    gc.collect()
    assert watch() is None, "the decimal memory still holds a symbol nobody uses"
    held = sum(isinstance(o, Symbol) for o in gc.get_objects())
    assert held < 1000
