"""Prototype of a compiled hot path: place (limit GTC / IOC, market), match, cancel.

Plain Python that Cython compiles in pure-Python mode: native classes (cclass) with
C-typed fields, an intrusive doubly linked FIFO per level (O(1) cancel, no dead
entries), typed locals. Emits the production msgspec events (or, with
``tuples=True``, plain tuples, to see what the events cost).
"""

from __future__ import annotations

import heapq

import cython

from matchbook.core.commands import PlaceOrder
from matchbook.core.events import (
    BookLevelChanged,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    TradeExecuted,
)

BUY = 1
SELL = 2


@cython.cclass
class Order:
    order_id: cython.longlong
    user_id: cython.longlong
    side: cython.int
    price: cython.longlong
    qty: cython.longlong
    leaves: cython.longlong
    prev: Order | None
    next: Order | None
    level: Level | None

    def __init__(self, order_id: cython.longlong, user_id: cython.longlong, side: cython.int,
                 price: cython.longlong, qty: cython.longlong) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.side = side
        self.price = price
        self.qty = qty
        self.leaves = qty
        self.prev = None
        self.next = None
        self.level = None


@cython.cclass
class Level:
    price: cython.longlong
    total: cython.longlong
    count: cython.longlong
    head: Order | None
    tail: Order | None

    def __init__(self, price: cython.longlong) -> None:
        self.price = price
        self.total = 0
        self.count = 0
        self.head = None
        self.tail = None


@cython.cclass
class Book:
    name: str
    bids: dict
    asks: dict
    bid_heap: list
    ask_heap: list
    orders: dict
    next_order_id = cython.declare(cython.longlong, visibility='readonly')
    next_trade_id = cython.declare(cython.longlong, visibility='readonly')
    last_price: cython.longlong
    tuples: cython.bint

    def __init__(self, name: str, tuples: bool = False) -> None:
        self.name = name
        self.bids = {}
        self.asks = {}
        self.bid_heap = []
        self.ask_heap = []
        self.orders = {}
        self.next_order_id = 1
        self.next_trade_id = 1
        self.last_price = 0
        self.tuples = tuples

    @cython.ccall
    def place(self, user_id: cython.longlong, side: cython.int, price: cython.longlong,
              qty: cython.longlong, gtc: cython.bint, out: list) -> cython.void:
        oid: cython.longlong = self.next_order_id
        self.next_order_id = oid + 1
        order: Order = Order(oid, user_id, side, price, qty)
        if self.tuples:
            out.append((1, oid, user_id, side, price, qty))
        else:
            out.append(OrderAccepted(oid, user_id, self.name, side, 1, price, qty, 1 if gtc else 2,
                                     "", 0, 0, False, 0, 0, "", 0))
        if side == BUY:
            if self.ask_heap and self.ask_heap[0] <= price:
                self._match(order, out)
        elif self.bid_heap and -self.bid_heap[0] >= price:
            self._match(order, out)
        if order.leaves:
            if gtc:
                self._rest(order, out)
            elif self.tuples:
                out.append((4, oid, order.leaves))
            else:
                out.append(OrderCancelled(oid, user_id, self.name, side, order.leaves, 2, 0, 0))

    @cython.cfunc
    def _rest(self, order: Order, out: list) -> cython.void:
        price: cython.longlong = order.price
        levels: dict = self.bids if order.side == BUY else self.asks
        level: Level
        obj = levels.get(price)
        if obj is None:
            level = Level(price)
            levels[price] = level
            heapq.heappush(self.bid_heap if order.side == BUY else self.ask_heap,
                           -price if order.side == BUY else price)
        else:
            level = obj
        order.level = level
        if level.tail is None:
            level.head = order
        else:
            level.tail.next = order
            order.prev = level.tail
        level.tail = order
        level.total += order.leaves
        level.count += 1
        self.orders[order.order_id] = order
        if self.tuples:
            out.append((5, order.side, price, level.total, level.count))
        else:
            out.append(BookLevelChanged(self.name, order.side, price, level.total, level.count))

    @cython.cfunc
    def _match(self, taker: Order, out: list) -> cython.void:
        name: str = self.name
        tside: cython.int = taker.side
        mside: cython.int
        sign: cython.longlong
        levels: dict
        heap: list
        if tside == BUY:
            levels, heap, mside, sign = self.asks, self.ask_heap, SELL, 1
        else:
            levels, heap, mside, sign = self.bids, self.bid_heap, BUY, -1
        limit_key: cython.longlong = taker.price * sign
        rem: cython.longlong = taker.leaves
        filled: cython.longlong = taker.qty - rem
        tid: cython.longlong = taker.order_id
        uid: cython.longlong = taker.user_id
        trade: cython.longlong = self.next_trade_id
        price: cython.longlong = 0
        fill: cython.longlong
        level: Level
        maker: Order
        tuples: cython.bint = self.tuples
        key: cython.longlong
        while rem and heap:
            key = heap[0]
            if key > limit_key:
                break
            price = key * sign
            obj = levels.get(price)
            if obj is None:  # a stale key left by a cancel
                heapq.heappop(heap)
                continue
            level = obj
            while rem and level.head is not None:
                maker = level.head
                fill = rem if rem < maker.leaves else maker.leaves
                rem -= fill
                filled += fill
                maker.leaves -= fill
                level.total -= fill
                if tuples:
                    out.append((2, trade, price, fill, maker.order_id, tid))
                    out.append((3, maker.order_id, fill, maker.leaves))
                    out.append((3, tid, fill, rem))
                else:
                    out.append(TradeExecuted(trade, name, price, fill, tside, maker.order_id, tid,
                                             maker.user_id, uid, 0, 0, 0, 0))
                    out.append(OrderFilled(maker.order_id, maker.user_id, name, mside, trade,
                                           price, fill, maker.qty - maker.leaves, maker.leaves,
                                           True, 0, 0))
                    out.append(OrderFilled(tid, uid, name, tside, trade, price, fill, filled,
                                           rem, False, 0, 0))
                trade += 1
                if not maker.leaves:
                    level.head = maker.next
                    if maker.next is not None:
                        maker.next.prev = None
                    else:
                        level.tail = None
                    maker.next = None
                    maker.level = None
                    level.count -= 1
                    del self.orders[maker.order_id]
            if tuples:
                out.append((5, mside, price, level.total, level.count))
            else:
                out.append(BookLevelChanged(name, mside, price, level.total, level.count))
            if level.head is None:
                del levels[price]
                heapq.heappop(heap)
        taker.leaves = rem
        self.next_trade_id = trade
        self.last_price = price

    @cython.ccall
    def cancel(self, user_id: cython.longlong, order_id: cython.longlong, out: list) -> cython.void:
        obj = self.orders.get(order_id)
        if obj is None:
            out.append(("rejected", order_id))
            return
        order: Order = obj
        if order.user_id != user_id:
            out.append(("rejected", order_id))
            return
        level: Level = order.level
        if order.prev is None:
            level.head = order.next
        else:
            order.prev.next = order.next
        if order.next is None:
            level.tail = order.prev
        else:
            order.next.prev = order.prev
        order.prev = order.next = None
        order.level = None
        level.total -= order.leaves
        level.count -= 1
        del self.orders[order_id]
        if self.tuples:
            out.append((4, order_id, order.leaves))
            out.append((5, order.side, order.price, level.total, level.count))
        else:
            out.append(OrderCancelled(order_id, user_id, self.name, order.side, order.leaves,
                                      1, 0, 0))
            out.append(BookLevelChanged(self.name, order.side, order.price, level.total,
                                        level.count))
        if level.count == 0:
            levels: dict = self.bids if order.side == BUY else self.asks
            del levels[order.price]
            heap: list = self.bid_heap if order.side == BUY else self.ask_heap
            # lazy: drop stale tops only
            while heap and (-heap[0] if order.side == BUY else heap[0]) not in levels:
                heapq.heappop(heap)


def run(book: Book, commands: list) -> int:
    """Apply PlaceOrder / CancelOrder commands; returns the number of events."""
    n: cython.longlong = 0
    out: list
    for c in commands:
        out = []
        if type(c) is PlaceOrder:
            if c.order_type == 2:  # market: up to 5% through the best price, as the engine
                if c.side == BUY:
                    if not book.ask_heap:
                        out.append(("rejected", 0))
                    else:
                        book.place(c.user_id, BUY, book.ask_heap[0] * 10_500 // 10_000,
                                   c.qty_lots, False, out)
                elif not book.bid_heap:
                    out.append(("rejected", 0))
                else:
                    book.place(c.user_id, SELL, -(-(-book.bid_heap[0]) * 9_500 // 10_000),
                               c.qty_lots, False, out)
            else:
                book.place(c.user_id, c.side, c.price_ticks, c.qty_lots, c.tif == 1, out)
        else:
            book.cancel(c.user_id, c.order_id, out)
        n += len(out)
    return n
