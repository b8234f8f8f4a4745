"""An L3 book rebuilt from messages: orders by id, levels by price, the top 10 levels.

Used by the generic L3 importer (whose files carry no book) and by the tests that check
a capture's messages against the engine's own book. Orders that rested before the
stream began are unknown here: a cancel or execution naming one changes the level at
its price and side only (``reduce_level``), never below zero.

Complexities (L = levels on a side): add, reduce, delete O(1) on an existing level,
O(L) when a level appears or disappears (a sorted list insert, a memmove in C); top-k
O(k).
"""

from __future__ import annotations

from bisect import bisect_left, insort

BUY, SELL = 1, -1


class L3Book:
    __slots__ = ("ask_prices", "asks", "bid_prices", "bids", "orders")

    def __init__(self) -> None:
        self.orders: dict[int, list[int]] = {}  # id -> [side, price_ticks, qty_lots]
        self.bids: dict[int, int] = {}  # price -> visible lots
        self.asks: dict[int, int] = {}
        self.bid_prices: list[int] = []  # ascending
        self.ask_prices: list[int] = []

    # -- levels -----------------------------------------------------------------------

    def _level_add(self, side: int, price: int, qty: int) -> None:
        levels, prices = (self.bids, self.bid_prices) if side == BUY else (
            self.asks, self.ask_prices)
        old = levels.get(price)
        if old is None:
            if qty <= 0:
                return
            levels[price] = qty
            insort(prices, price)
            return
        new = old + qty
        if new > 0:
            levels[price] = new
        else:
            del levels[price]
            del prices[bisect_left(prices, price)]

    def set_level(self, side: int, price: int, qty: int) -> None:
        """The level's visible total is now ``qty`` (0 removes it): an L2 update."""
        levels = self.bids if side == BUY else self.asks
        self._level_add(side, price, qty - levels.get(price, 0))

    def reduce_level(self, side: int, price: int, qty: int) -> int:
        """Take up to ``qty`` from the level (an order this book never saw). Returns what
        was taken."""
        have = (self.bids if side == BUY else self.asks).get(price, 0)
        taken = min(have, qty)
        if taken:
            self._level_add(side, price, -taken)
        return taken

    # -- orders -----------------------------------------------------------------------

    def add(self, order_id: int, side: int, price: int, qty: int) -> None:
        """A new order (an existing id is replaced: it goes to the back at its new price)."""
        if order_id in self.orders:
            self.delete(order_id)
        self.orders[order_id] = [side, price, qty]
        self._level_add(side, price, qty)

    def reduce(self, order_id: int, qty: int) -> int:
        """Cancel or execute ``qty`` of a known order (removed when nothing is left).
        Returns the lots actually removed (at most what the order had)."""
        order = self.orders[order_id]
        taken = min(qty, order[2])
        order[2] -= taken
        self._level_add(order[0], order[1], -taken)
        if order[2] == 0:
            del self.orders[order_id]
        return taken

    def delete(self, order_id: int) -> int:
        """Remove a known order; returns its remaining lots."""
        side, price, qty = self.orders.pop(order_id)
        self._level_add(side, price, -qty)
        return qty

    # -- queries ----------------------------------------------------------------------

    def best_bid(self) -> int:
        return self.bid_prices[-1] if self.bid_prices else 0

    def best_ask(self) -> int:
        return self.ask_prices[0] if self.ask_prices else 0

    def top(self, levels: int = 10) -> list[int]:
        """``[bid_px_1, bid_qty_1, ask_px_1, ask_qty_1, bid_px_2, ...]`` (0 for absent
        levels): the layout of ``schema.level_columns``."""
        bp, ap, bids, asks = self.bid_prices, self.ask_prices, self.bids, self.asks
        out: list[int] = []
        nb, na = len(bp), len(ap)
        for i in range(levels):
            if i < nb:
                p = bp[nb - 1 - i]
                out += (p, bids[p])
            else:
                out += (0, 0)
            if i < na:
                p = ap[i]
                out += (p, asks[p])
            else:
                out += (0, 0)
        return out
