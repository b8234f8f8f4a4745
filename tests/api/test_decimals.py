"""The order path's remembered decimal conversions answer as the symbol does."""

from __future__ import annotations

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
    assert len(decimals._memo(SYMBOL).prices) <= decimals.MAX_REMEMBERED
    assert decimals.price_text(SYMBOL, 7) == SYMBOL.format_price(7)
