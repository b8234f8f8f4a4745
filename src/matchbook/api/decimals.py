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

Answers are written by ``Texts``, one per symbol (filed in the same memory): ticks, lots
and minor units straight from the integer (one multiplication, one ``divmod`` by the
grid's precomputed scale, one ``%``), the same text as the ``Decimal`` way
(``Symbol.format_price``, ``format_qty``, ``Asset.format``) in a fifth to a tenth of its
time, and each writer remembers its last few thousand texts as well.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from decimal import Decimal
from typing import Any, TypeVar

from matchbook.core import Asset, Symbol

MAX_REMEMBERED = 4096  # per symbol and conversion
MAX_SYMBOLS = 256  # symbols remembered at once

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# the conversions, each a slot of a symbol's memory
_TICKS, _LOTS, _PRICE_TEXT, _QTY_TEXT = range(4)


def formatter(unit: Decimal) -> Callable[[int], str]:
    """The function writing ``n`` units of ``unit`` as ``_from_units`` and ``:f`` do: a
    plain decimal with the unit's places (none for a unit of 1 or more), ``-`` before a
    negative value, never exponent form. Exact: integers only.

    The value is ``n * mult`` in units of ``10**-places``, where ``mult`` is the unit
    in those units (``unit`` 0.05 with 2 places: 5)."""
    exponent = unit.as_tuple().exponent
    assert isinstance(exponent, int)
    places = -exponent if exponent < 0 else 0
    mult = int(unit.scaleb(places))
    if mult <= 0 or Decimal(mult).scaleb(-places) != unit:
        raise ValueError(f"not a positive unit: {unit}")
    if not places:
        if mult == 1:
            return str
        return lambda n: str(n * mult)
    scale = 10**places
    pattern = f"%d.%0{places}d"
    if mult == 1:
        def text(n: int) -> str:
            written: str = ("-" + pattern % divmod(-n, scale) if n < 0
                            else pattern % divmod(n, scale))
            return written
    else:
        def text(n: int) -> str:
            n *= mult
            written: str = ("-" + pattern % divmod(-n, scale) if n < 0
                            else pattern % divmod(n, scale))
            return written
    return text


class Texts:
    """One symbol's integers as text: ``price`` (ticks), ``qty`` (lots), ``fee`` (minor
    units of the quote asset, signed: a rebate is negative), and the zeros every new
    order shows, written once."""

    __slots__ = ("fee", "fee_asset", "name", "price", "qty", "zero_fee", "zero_qty")

    def __init__(self, symbol: Symbol, prices: dict[int, str] | None = None,
                 sizes: dict[int, str] | None = None) -> None:
        self.name = symbol.name
        self.fee_asset = symbol.quote.code
        self.price = _remembering(formatter(symbol.tick_size), {} if prices is None else prices)
        self.qty = _remembering(formatter(symbol.lot_size), {} if sizes is None else sizes)
        self.fee = _remembering(asset_formatter(symbol.quote), {})
        self.zero_qty = self.qty(0)
        self.zero_fee = self.fee(0)


def _remembering(write: Callable[[int], str], known: dict[int, str]) -> Callable[[int], str]:
    """``write``, remembering the last few thousand texts in ``known``: a market answers
    the same few prices, sizes and fees over and over, and a look-up costs half a
    formatting."""

    def text(n: int) -> str:
        found = known.get(n)
        if found is None:
            found = write(n)
            if len(known) >= MAX_REMEMBERED:
                known.clear()
            known[n] = found
        return found
    return text


def asset_formatter(asset: Asset) -> Callable[[int], str]:
    """``asset.format`` from the integer: minor units with the asset's decimals."""
    return formatter(Decimal(1).scaleb(-asset.decimals))


class _Memory:
    """One symbol's remembered conversions (one dict per conversion) and its ``Texts``."""

    __slots__ = ("symbol", "tables", "texts")

    def __init__(self, symbol: Symbol) -> None:
        self.symbol = symbol  # held: its identity is never reused while it is filed
        self.tables: tuple[dict[Any, Any], ...] = ({}, {}, {}, {})
        # the texts of prices and sizes are remembered in this memory's tables
        self.texts = Texts(symbol, self.tables[_PRICE_TEXT], self.tables[_QTY_TEXT])


_MEMORIES: dict[int, _Memory] = {}


def _memory(sym: Symbol) -> _Memory:
    """``sym``'s memory, by identity, checked against the symbol it holds. O(1)."""
    memory = _MEMORIES.get(id(sym))
    if memory is None or memory.symbol is not sym:
        if len(_MEMORIES) >= MAX_SYMBOLS:
            _MEMORIES.clear()
        memory = _MEMORIES[id(sym)] = _Memory(sym)
    return memory


def texts(sym: Symbol) -> Texts:
    """``sym``'s formatting (``Texts``), found by identity. O(1)."""
    memory = _MEMORIES.get(id(sym))
    if memory is None or memory.symbol is not sym:
        memory = _memory(sym)
    return memory.texts


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
    return texts(sym).price(ticks)


def qty_text(sym: Symbol, lots: int) -> str:
    """``sym.format_qty(lots)``."""
    return texts(sym).qty(lots)
