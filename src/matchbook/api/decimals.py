"""Decimal text and the core's integers for one symbol, remembered on the order path.

Parsing ``"50000.5"`` into ticks or formatting lots into ``"0.2500"`` is exact decimal
arithmetic (``Symbol.price_to_ticks``, ``Symbol.format_qty``...) and costs more than the
rest of a field; a market sees the same few prices and sizes over and over. Each symbol
remembers the last few thousand of each conversion (forgotten all at once when full, so
memory stays bounded). Only successes are remembered: a bad value raises ``GridError``
every time, as the symbol does.

The memories are filed by the symbol's identity (hashing a ``Symbol`` hashes every
field). Each holds its symbol, so the identity it is filed under cannot be reused by
another object while it is filed, and a look-up checks that the symbol it holds *is* the
one asked about. At most ``MAX_SYMBOLS`` symbols are remembered at once (forgotten all at
once when full): symbols of a markets file that was reloaded, or of a test's throw-away
markets, are let go.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from matchbook.core import Symbol

MAX_REMEMBERED = 4096  # per symbol and conversion
MAX_SYMBOLS = 256  # symbols remembered at once

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# the conversions, each a slot of a symbol's memory
_TICKS, _LOTS, _PRICE_TEXT, _QTY_TEXT = range(4)


class _Memory:
    """One symbol's remembered conversions (one dict per conversion)."""

    __slots__ = ("symbol", "tables")

    def __init__(self, symbol: Symbol) -> None:
        self.symbol = symbol  # held: its identity is never reused while it is filed
        self.tables: tuple[dict[Any, Any], ...] = ({}, {}, {}, {})


_MEMORIES: dict[int, _Memory] = {}


def _memory(sym: Symbol) -> _Memory:
    """``sym``'s memory, by identity, checked against the symbol it holds. O(1)."""
    memory = _MEMORIES.get(id(sym))
    if memory is None or memory.symbol is not sym:
        if len(_MEMORIES) >= MAX_SYMBOLS:
            _MEMORIES.clear()
        memory = _MEMORIES[id(sym)] = _Memory(sym)
    return memory


def _remembered(sym: Symbol, slot: int, key: K, convert: Callable[[Symbol, K], V]) -> V:
    """``convert(sym, key)``, from ``sym``'s memory of conversion ``slot`` when it was
    done before. A failure raises as ``convert`` does and is not remembered."""
    known: dict[K, V] = _memory(sym).tables[slot]
    value = known.get(key)
    if value is None:
        value = convert(sym, key)
        if len(known) >= MAX_REMEMBERED:
            known.clear()
        known[key] = value
    return value


def price_ticks(sym: Symbol, text: str) -> int:
    """``sym.price_to_ticks(text)``; raises ``GridError`` as it does."""
    return _remembered(sym, _TICKS, text, Symbol.price_to_ticks)


def qty_lots(sym: Symbol, text: str) -> int:
    """``sym.qty_to_lots(text)``; raises ``GridError`` as it does."""
    return _remembered(sym, _LOTS, text, Symbol.qty_to_lots)


def price_text(sym: Symbol, ticks: int) -> str:
    """``sym.format_price(ticks)``."""
    return _remembered(sym, _PRICE_TEXT, ticks, Symbol.format_price)


def qty_text(sym: Symbol, lots: int) -> str:
    """``sym.format_qty(lots)``."""
    return _remembered(sym, _QTY_TEXT, lots, Symbol.format_qty)
