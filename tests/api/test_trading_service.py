"""The trading service's order command: every spelling of a symbol names the same one,
however often it is used, and an unknown one is refused every time."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from matchbook.api import trading
from matchbook.api.errors import ApiError
from matchbook.api.schemas import NewOrderFields
from matchbook.config import default_markets
from matchbook.core import Code

MARKETS = default_markets()


def _service() -> trading.Trading:
    exchange: Any = SimpleNamespace(markets=MARKETS)
    return trading.Trading(exchange, reads=None)  # type: ignore[arg-type]


def _order(symbol: str) -> NewOrderFields:
    return NewOrderFields(side="buy", symbol=symbol, price="100", quantity="0.1")


def test_every_spelling_names_the_symbol_each_time() -> None:
    service = _service()
    for _ in range(3):
        for spelling in ("BTC-USD", "btc/usd", "Btc_Usd", "ETH-USD", "eth/usd"):
            command = service.order_command(7, _order(spelling))
            assert command.symbol == MARKETS.symbol(spelling).name, spelling
            assert command.user_id == 7


def test_an_unknown_symbol_is_refused_every_time() -> None:
    service = _service()
    for _ in range(3):
        with pytest.raises(ApiError) as refused:
            service.order_command(7, _order("NOPE-USD"))
        assert refused.value.code == Code.UNKNOWN_SYMBOL


def test_the_spellings_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trading, "MAX_SPELLINGS", 4)
    service = _service()
    spellings = ["BTC-USD", "btc-usd", "BTC/USD", "btc/usd", "BTC_USD", "btc_usd", "Btc-Usd"]
    for spelling in spellings * 2:
        assert service.order_command(1, _order(spelling)).symbol == "BTC-USD"
    assert len(service._named) == 4
