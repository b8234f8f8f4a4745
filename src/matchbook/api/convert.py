"""Requests into the core: the API's words and decimal strings to the core's integers
and codes (answers go the other way in ``views``)."""

from __future__ import annotations

from matchbook.api.decimals import price_ticks, qty_lots
from matchbook.api.errors import ApiError
from matchbook.core import Code, GridError, Markets, Symbol
from matchbook.core.commands import (
    BUY,
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    STP_CANCEL_BOTH,
    STP_CANCEL_NEWEST,
    STP_CANCEL_OLDEST,
    STP_DECREMENT,
)
from matchbook.core.events import CommandRejected, Event, OrderRejected

SIDES = {"buy": BUY, "sell": SELL}
TYPES = {"limit": LIMIT, "market": MARKET, "stop_limit": STOP_LIMIT, "stop_market": STOP_MARKET}
TIFS = {"gtc": GTC, "ioc": IOC, "fok": FOK, "gtd": GTD}
STPS = {"cancel_newest": STP_CANCEL_NEWEST, "cancel_oldest": STP_CANCEL_OLDEST,
        "cancel_both": STP_CANCEL_BOTH, "decrement_and_cancel": STP_DECREMENT}


def symbol_of(markets: Markets, name: str) -> Symbol:
    try:
        return markets.symbol(name)
    except KeyError:
        raise ApiError(Code.UNKNOWN_SYMBOL, f"Unknown symbol {name!r}.") from None


def ticks(sym: Symbol, value: str | None, field: str) -> int:
    if value is None:
        return 0
    try:
        return price_ticks(sym, value)
    except GridError as exc:
        raise ApiError(Code.INVALID_PRICE, f"{field}: {exc}") from None


def lots(sym: Symbol, value: str | None, field: str) -> int:
    if value is None:
        return 0
    try:
        return qty_lots(sym, value)
    except GridError as exc:
        raise ApiError(Code.INVALID_QUANTITY, f"{field}: {exc}") from None


def minor(markets: Markets, asset: str, value: str, field: str = "amount") -> int:
    asset_ = markets.assets.get(asset.upper())
    if asset_ is None:
        raise ApiError(Code.UNKNOWN_ASSET, f"Unknown asset {asset!r}.")
    try:
        amount = asset_.to_minor(value)
    except GridError as exc:
        raise ApiError(Code.INVALID_AMOUNT, f"{field}: {exc}") from None
    if amount <= 0:
        raise ApiError(Code.INVALID_AMOUNT, f"{field} must be positive.")
    return amount


def accepted(events: list[Event]) -> list[Event]:
    """``events`` of a command the engine accepted; raises the API error (the engine's
    code and sentence) for one it rejected."""
    for ev in events:
        if type(ev) is OrderRejected or type(ev) is CommandRejected:
            assert isinstance(ev, OrderRejected | CommandRejected)
            raise ApiError(ev.code, ev.message)
    return events
