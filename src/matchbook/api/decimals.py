"""Decimal text and the core's integers for one symbol, remembered on the order path.

Parsing ``"50000.5"`` into ticks or formatting lots into ``"0.2500"`` is exact decimal
arithmetic (``Symbol.price_to_ticks``, ``Symbol.format_qty``...) and costs more than the
rest of a field; a market sees the same few prices and sizes over and over. Each symbol
remembers the last few thousand of each conversion (forgotten all at once when full, so
memory stays bounded). Only successes are remembered: a bad value raises ``GridError``
every time, as the symbol does.
"""

from __future__ import annotations

from matchbook.core import Symbol

MAX_REMEMBERED = 4096  # per symbol and conversion


class _Memo:
    __slots__ = ("lots", "prices", "qty_texts", "symbol", "ticks")

    def __init__(self, symbol: Symbol) -> None:
        self.symbol = symbol  # held: the id it is filed under is never reused meanwhile
        self.ticks: dict[str, int] = {}
        self.lots: dict[str, int] = {}
        self.prices: dict[int, str] = {}
        self.qty_texts: dict[int, str] = {}


_MEMOS: dict[int, _Memo] = {}


def _memo(sym: Symbol) -> _Memo:
    """``sym``'s memo, by identity: hashing a symbol hashes every field."""
    memo = _MEMOS.get(id(sym))
    if memo is None:
        memo = _MEMOS[id(sym)] = _Memo(sym)
    return memo


def price_ticks(sym: Symbol, text: str) -> int:
    """``sym.price_to_ticks(text)``; raises ``GridError`` as it does."""
    known = _memo(sym).ticks
    ticks = known.get(text)
    if ticks is None:
        ticks = sym.price_to_ticks(text)
        if len(known) >= MAX_REMEMBERED:
            known.clear()
        known[text] = ticks
    return ticks


def qty_lots(sym: Symbol, text: str) -> int:
    """``sym.qty_to_lots(text)``; raises ``GridError`` as it does."""
    known = _memo(sym).lots
    lots = known.get(text)
    if lots is None:
        lots = sym.qty_to_lots(text)
        if len(known) >= MAX_REMEMBERED:
            known.clear()
        known[text] = lots
    return lots


def price_text(sym: Symbol, ticks: int) -> str:
    """``sym.format_price(ticks)``."""
    known = _memo(sym).prices
    text = known.get(ticks)
    if text is None:
        text = sym.format_price(ticks)
        if len(known) >= MAX_REMEMBERED:
            known.clear()
        known[ticks] = text
    return text


def qty_text(sym: Symbol, lots: int) -> str:
    """``sym.format_qty(lots)``."""
    known = _memo(sym).qty_texts
    text = known.get(lots)
    if text is None:
        text = sym.format_qty(lots)
        if len(known) >= MAX_REMEMBERED:
            known.clear()
        known[lots] = text
    return text
