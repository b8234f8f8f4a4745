"""The order book's data model: ``Order``, ``Level`` and ``OrderBook`` live in
``core/matching.py`` (one module, so the compiled build sees every type of the hot
path); this module keeps their import path."""

from matchbook.core.matching import RESTS, Level, Order, OrderBook, pack_flags

__all__ = ["RESTS", "Level", "Order", "OrderBook", "pack_flags"]
