"""The order book of one symbol: price levels of FIFO queues, with O(1) best prices.

Layout (chosen for CPython speed; see ``docs/engine.md``):

* ``bids`` / ``asks``: ``dict[price_ticks, Level]``, the live levels;
* ``bid_heap`` / ``ask_heap``: binary heaps of level prices (bids negated). The top of
  each heap is always a live level, so the best price is ``heap[0]``: O(1). Emptied
  levels deeper in a heap are removed lazily (skipped when they surface, and the heap
  is rebuilt when more than half of it is stale);
* ``Level.orders``: a ``deque`` in time priority. Cancelling marks the order dead
  (``visible == 0``) and adjusts the level's totals in O(1); dead entries are dropped
  when they reach the front, or by compacting the deque when they outnumber the live.

Complexities (L = levels on a side, n = orders in a level):

=========================  =========================================
best bid / ask             O(1)
rest an order              O(1) on an existing level, O(log L) new level
cancel by id               O(1) amortised (lookup is the engine's dict)
match one fill             O(1) amortised
L2 depth, top N            O(L log N)
L3 (every order)           O(L log L + orders)
=========================  =========================================
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from operator import attrgetter

import msgspec

from matchbook.core.commands import BUY, GTC, GTD, LIMIT, SELL, STOP_LIMIT
from matchbook.core.symbols import FeeSchedule, Symbol


def pack_flags(order_type: int, tif: int, stp: int, post_only: bool) -> int:
    """Order type, time in force, self-trade mode and post-only in 7 bits: always one of
    CPython's cached small ints, so a resting order spends no memory on them."""
    return (order_type - 1) | (tif - 1) << 2 | (stp - 1) << 4 | int(post_only) << 6


# by ``flags & 15`` (order type and time in force): does an open remainder rest? Limit
# and stop-limit orders that are GTC or GTD do; a table look-up costs less than the
# properties' calls on the matching path
RESTS: tuple[bool, ...] = tuple(
    (flags & 3) + 1 in (LIMIT, STOP_LIMIT) and (flags >> 2 & 3) + 1 in (GTC, GTD)
    for flags in range(16))


class Order(msgspec.Struct, gc=False):
    """A live order (resting, or a stop waiting for its trigger). Mutable, engine-owned.

    ``leaves`` is the open quantity (visible + hidden); ``visible`` the quantity shown in
    the book (the iceberg peak, else ``leaves``); ``visible == 0`` marks a dead entry in
    a level's queue. ``hold`` is what is still held for the order in minor units of the
    quote asset (buys) or the base asset (sells). ``fees`` are the rates of the user's
    tier when the order was placed (a shared object). Fifteen fields, no GC header: 136
    bytes; the engine's share of a resting order is under 300 bytes in all.
    """

    order_id: int
    user_id: int
    symbol: str
    side: int
    price: int  # limit price in ticks (for a market order: its protection limit)
    qty: int  # total ordered lots
    leaves: int
    visible: int
    display: int  # iceberg peak size, 0 = not an iceberg
    hold: int
    flags: int  # see pack_flags
    stop_price: int  # > 0 while a stop waits for its trigger
    expire_ts: int  # GTD expiry (sequencer ns), 0 = none
    client_order_id: str
    fees: FeeSchedule

    @property
    def filled(self) -> int:
        return self.qty - self.leaves

    @property
    def order_type(self) -> int:
        return (self.flags & 3) + 1

    @property
    def tif(self) -> int:
        return (self.flags >> 2 & 3) + 1

    @property
    def stp(self) -> int:
        return (self.flags >> 4 & 3) + 1

    @property
    def post_only(self) -> bool:
        return bool(self.flags >> 6 & 1)

    @property
    def fee_maker(self) -> int:
        return self.fees.maker_ppm

    @property
    def fee_taker(self) -> int:
        return self.fees.taker_ppm


_visible = attrgetter("visible")


class Level(msgspec.Struct, gc=False):
    """One price level: live order count and visible total, and the FIFO queue."""

    price: int
    orders: deque[Order]
    total: int = 0
    count: int = 0


class OrderBook:
    """Bids and asks of one symbol plus its pending stops and last trade price."""

    __slots__ = (
        "ask_heap",
        "asks",
        "base_code",
        "base_slot",
        "bid_heap",
        "bids",
        "halted",
        "last_price",
        "quote_code",
        "quote_slot",
        "stops_buy",
        "stops_sell",
        "symbol",
    )

    def __init__(self, symbol: Symbol) -> None:
        self.symbol = symbol
        self.base_code = symbol.base.code  # held by sell orders
        self.quote_code = symbol.quote.code  # held by buy orders
        # where the engine's accounts keep these assets (see ``engine.Account``)
        self.base_slot = 0
        self.quote_slot = 0
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.bid_heap: list[int] = []  # negated prices
        self.ask_heap: list[int] = []
        # pending stops: (stop_price, order_id, order) for buys, (-stop_price, ...) sells
        self.stops_buy: list[tuple[int, int, Order]] = []
        self.stops_sell: list[tuple[int, int, Order]] = []
        self.last_price = 0
        self.halted = False

    # -- queries ---------------------------------------------------------------------

    def best_bid(self) -> int:
        """Best bid in ticks, 0 if none. O(1)."""
        return -self.bid_heap[0] if self.bid_heap else 0

    def best_ask(self) -> int:
        """Best ask in ticks, 0 if none. O(1)."""
        return self.ask_heap[0] if self.ask_heap else 0

    def reference_price(self) -> int:
        """Last trade price, else the mid (rounded down to a tick), else 0. O(1)."""
        if self.last_price:
            return self.last_price
        if self.bid_heap and self.ask_heap:
            return (self.ask_heap[0] - self.bid_heap[0]) // 2
        return 0

    def depth(self, side: int, limit: int = 0) -> list[tuple[int, int, int]]:
        """L2: ``(price_ticks, visible_lots, order_count)`` best first, at most ``limit``
        levels (0 = all). O(L log N)."""
        levels = self.bids if side == BUY else self.asks
        if side == BUY:
            prices = heapq.nlargest(limit, levels) if limit else sorted(levels, reverse=True)
        else:
            prices = heapq.nsmallest(limit, levels) if limit else sorted(levels)
        return [(p, levels[p].total, levels[p].count) for p in prices]

    def orders_at(self, side: int, price_ticks: int) -> list[Order]:
        """L3 of one level: live orders in time priority. O(n)."""
        level = (self.bids if side == BUY else self.asks).get(price_ticks)
        return [o for o in level.orders if o.visible] if level else []

    def iter_orders(self, side: int) -> Iterator[Order]:
        """L3: every live order of a side, best price first, FIFO within a level."""
        for price, _, _ in self.depth(side):
            yield from self.orders_at(side, price)

    # -- mutation (engine-only) ------------------------------------------------------

    def rest(self, order: Order) -> Level:
        """Append ``order`` to the back of its level, creating the level if needed.
        O(1), or O(log L) for a new level. Returns the level."""
        price = order.price
        if order.side == BUY:
            levels, heap, key = self.bids, self.bid_heap, -price
        else:
            levels, heap, key = self.asks, self.ask_heap, price
        level = levels.get(price)
        if level is None:
            level = levels[price] = Level(price, deque())
            heapq.heappush(heap, key)
        else:
            order.price = level.price  # share the level's int: 32 bytes less per order
        level.orders.append(order)
        level.total += order.visible
        level.count += 1
        return level

    def unlink(self, order: Order) -> Level:
        """Remove a resting order from its level (lazily: it is marked dead). O(1)
        amortised. Drops the level if it empties. Returns the level."""
        levels = self.bids if order.side == BUY else self.asks
        level = levels[order.price]
        level.total -= order.visible
        level.count -= 1
        order.visible = 0
        if level.count == 0:
            self.drop_level(order.side, order.price)
        elif len(level.orders) > 2 * level.count + 16:
            self.compact(level)
        return level

    @staticmethod
    def compact(level: Level) -> None:
        """Drop dead entries from a level's queue, in place (a running match may hold
        this deque). O(n); called when dead entries outnumber live ones two to one."""
        queue = level.orders
        live = list(filter(_visible, queue))  # C-level walk: compaction is a latency tail
        queue.clear()
        queue.extend(live)

    def drop_level(self, side: int, price: int) -> None:
        """Forget an empty level and restore the live-top invariant of the heap."""
        if side == BUY:
            levels, heap = self.bids, self.bid_heap
        else:
            levels, heap = self.asks, self.ask_heap
        del levels[price]
        heappop = heapq.heappop
        while heap and (-heap[0] if side == BUY else heap[0]) not in levels:
            heappop(heap)
        if len(heap) > 2 * len(levels) + 64:
            heap[:] = [-p for p in levels] if side == BUY else list(levels)
            heapq.heapify(heap)

    # -- invariants -------------------------------------------------------------------

    def _check(self) -> None:
        """Assert every structural invariant of the book (tests call this after each step)."""
        sides = ((BUY, self.bids, self.bid_heap), (SELL, self.asks, self.ask_heap))
        for side, levels, heap in sides:
            live_keys = {-p if side == BUY else p for p in levels}
            assert set(heap) >= live_keys, "every live level is in the heap"
            if heap:
                top = -heap[0] if side == BUY else heap[0]
                assert top in levels, "heap top is a live level"
            for price, level in levels.items():
                assert level.price == price
                live = [o for o in level.orders if o.visible]
                assert live, "no empty level is kept"
                assert len(live) == level.count
                assert sum(o.visible for o in live) == level.total
                for o in live:
                    assert o.side == side and o.price == price and o.symbol == self.symbol.name
                    assert 0 < o.visible <= o.leaves <= o.qty
                    assert (o.display == 0 and o.visible == o.leaves) or (
                        o.display > 0 and o.visible <= o.display
                    )
                    assert o.stop_price == 0
        bid, ask = self.best_bid(), self.best_ask()
        if bid and ask:
            assert bid < ask, f"book crossed: bid {bid} >= ask {ask}"
        if self.bids:
            assert bid == max(self.bids)
        if self.asks:
            assert ask == min(self.asks)
