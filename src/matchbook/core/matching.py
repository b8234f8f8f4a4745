"""The hot path: placing, matching and cancelling orders, and the bookkeeping of open
orders they share (indexes, holds, expiries). ``MatchingCore`` holds the state every
job of the engine works on; the other jobs are mixins over it (``core/engine.py``)."""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterator, Mapping
from heapq import heapify, heappop, heappush, nlargest, nsmallest
from typing import TYPE_CHECKING, Any

import cython  # type: ignore[import-untyped]
from msgspec import json as msgspec_json
from msgspec.structs import astuple

from matchbook.core.accounts import Account, Withdrawal
from matchbook.core.codes import Code, message
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
    AmendOrder,
    CancelAll,
    CancelOrder,
    PlaceOrder,
)
from matchbook.core.events import (
    BookLevelChanged,
    CancelReason,
    CommandRejected,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
)
from matchbook.core.risk import (
    MAX_TICKS,
    RiskLimits,
    band_price,
    check_shape,
    within_position_limit,
)
from matchbook.core.symbols import PPM, FeeSchedule, Markets, Symbol

if TYPE_CHECKING:
    from matchbook.core.p2p import P2PDesk

NO_FEES = FeeSchedule(0, 0)  # the rates of every order when accounts are off
NEVER = 2**63 - 1
_UNFILLED = int(CancelReason.UNFILLED)
_SELF_TRADE = int(CancelReason.SELF_TRADE)
_USER = int(CancelReason.USER)
_CANCEL_ALL = int(CancelReason.CANCEL_ALL)
_INT64_MAX = 2**63 - 1
_MAX_ID = 2**62  # user ids the everyday order reads as C integers (others: _place_any)
_ZERO = 0  # the default of a command's optional numbers (CPython's one small-int 0)
_EMPTY = ""  # the default of a command's optional strings (CPython's one empty str)


def _small(value: object, bound: int) -> int:
    """``value`` when it is an int (exactly) with ``0 <= value < bound``, else -1.
    Compiled, a C integer (matching.pxd), read without making a Python int."""
    if cython.compiled:
        return _c_small(value, bound)  # type: ignore[name-defined,no-any-return]  # noqa: F821
    return value if type(value) is int and 0 <= value < bound else -1


# Compiled, an account's balances are an ``array("q")`` (``accounts.Account``), and
# these helpers read and write its C int64s: no Python int is made. Every balance and every hold
# an account can cover stays within the assets' supply cap (10^18 minor units, enforced
# by deposits), so no sum here can overflow; an amount is converted to C once checked.


def _covers(balances: Any, slot: int, amount: int) -> bool:
    """Is ``amount`` (any int) at most what is available at ``slot``?"""
    if cython.compiled:
        if amount > _INT64_MAX:  # more than any balance can be
            return False
        a = amount
        return a <= balances.data.as_longlongs[slot]  # type: ignore[no-any-return]
    return bool(amount <= balances[slot])


def _move(balances: Any, src: int, dst: int, amount: int) -> None:
    """Move ``amount`` from ``balances[src]`` to ``balances[dst]``."""
    if cython.compiled:
        p = balances.data.as_longlongs
        p[src] -= amount
        p[dst] += amount
    else:
        balances[src] -= amount
        balances[dst] += amount


def _add(balances: Any, i: int, amount: int) -> None:
    """Add ``amount`` to ``balances[i]``."""
    if cython.compiled:
        balances.data.as_longlongs[i] += amount
    else:
        balances[i] += amount


def _sub(balances: Any, i: int, amount: int) -> None:
    """Take ``amount`` from ``balances[i]``."""
    if cython.compiled:
        balances.data.as_longlongs[i] -= amount
    else:
        balances[i] -= amount


def pack_flags(order_type: int, tif: int, stp: int, post_only: bool) -> int:
    """Order type, time in force, self-trade mode and post-only in 7 bits."""
    return (order_type - 1) | (tif - 1) << 2 | (stp - 1) << 4 | int(post_only) << 6


# by ``flags & 15`` (order type and time in force): does an open remainder rest? Limit
# and stop-limit orders that are GTC or GTD do; a table look-up costs less than the
# properties' calls on the matching path
RESTS: tuple[bool, ...] = tuple(
    (flags & 3) + 1 in (LIMIT, STOP_LIMIT) and (flags >> 2 & 3) + 1 in (GTC, GTD)
    for flags in range(16))


def _check_command_layout() -> bool:
    """Are the fields of the everyday commands, ``Account`` and ``FeeSchedule`` read
    right? Compiled, ``_place``, ``_cancel``, ``_amend`` and ``_match`` read these
    objects' fields straight from their layout (``matching.pxd``); this reads every
    field of one object of each kind that way and compares with
    ``msgspec.structs.astuple`` (with the values given, for the fee schedule).
    Interpreted it is an ordinary check. Raises ``ImportError`` on a mismatch (a
    msgspec or CPython that lays objects out otherwise), so the module is never used
    with a wrong layout."""
    place = PlaceOrder(101, "S", 102, 103, 104, 105, 106, True, 107, 108, "C", 109, 110, 111)
    cancel = CancelOrder(201, 202, "D")
    amend = AmendOrder(301, 302, 303, 304)
    account = Account(401, array("q", [402]), {"A": 0}, "T")
    fees = FeeSchedule(501, 502)
    read = (
        (place.user_id, place.symbol, place.side, place.order_type, place.qty_lots,
         place.price_ticks, place.tif, place.post_only, place.stop_price_ticks,
         place.display_lots, place.client_order_id, place.stp, place.expire_ts_ns,
         place.quote_amount_minor),
        (cancel.user_id, cancel.order_id, cancel.client_order_id),
        (amend.user_id, amend.order_id, amend.price_ticks, amend.qty_lots),
        (account.user_id, account.balances, account.slots, account.tier),
        (fees.maker_ppm, fees.taker_ppm, fees.hold_ppm))
    if read != (astuple(place), astuple(cancel), astuple(amend), astuple(account),
                (501, 502, 502)):
        raise ImportError("matchbook.core.matching: the structs' layout is not the one "
                          "matching.pxd declares (run the interpreted build)")
    return True


_check_command_layout()


# -- the hot path's events, built from their layout when compiled ----------------------
#
# Each function is the event class's own constructor, positionally. Compiled, it stores
# the values in the slots of a bare object of the type (``_evN`` in matching.pxd: the
# type's ``tp_alloc``, then one store per field at the offsets its member descriptors give),
# skipping the call's argument parsing; the object is the same as the class would build
# (type, fields, equality, hash, encoding), which ``_check_event_layout`` checks at import.
# Interpreted, the names are bound to the classes themselves (no extra call).

# kind index -> type, for ``_evN``
EVENT_KINDS = (OrderAccepted, TradeExecuted, OrderFilled, BookLevelChanged, OrderCancelled,
               OrderAmended)


def _accepted(order_id: int, user_id: int, symbol: str, side: int, order_type: int,
              price_ticks: int, qty_lots: int, tif: int, client_order_id: str,
              stop_price_ticks: int, display_lots: int, post_only: bool, expire_ts_ns: int,
              quote_amount_minor: int, hold_asset: str, hold_minor: int) -> OrderAccepted:
    if cython.compiled:
        return _ev16(0, order_id, user_id, symbol, side, order_type,  # type: ignore[name-defined,no-any-return]  # noqa: F821
                     price_ticks, qty_lots, tif, client_order_id, stop_price_ticks,
                     display_lots, post_only, expire_ts_ns, quote_amount_minor, hold_asset,
                     hold_minor)
    return OrderAccepted(order_id, user_id, symbol, side, order_type, price_ticks, qty_lots,
                         tif, client_order_id, stop_price_ticks, display_lots, post_only,
                         expire_ts_ns, quote_amount_minor, hold_asset, hold_minor)


def _traded(trade_id: int, symbol: str, price_ticks: int, qty_lots: int, aggressor_side: int,
            maker_order_id: int, taker_order_id: int, maker_user_id: int, taker_user_id: int,
            notional_minor: int, base_minor: int, maker_fee_minor: int,
            taker_fee_minor: int) -> TradeExecuted:
    if cython.compiled:
        return _ev13(1, trade_id, symbol, price_ticks, qty_lots,  # type: ignore[name-defined,no-any-return]  # noqa: F821
                     aggressor_side, maker_order_id, taker_order_id, maker_user_id,
                     taker_user_id, notional_minor, base_minor, maker_fee_minor,
                     taker_fee_minor)
    return TradeExecuted(trade_id, symbol, price_ticks, qty_lots, aggressor_side,
                         maker_order_id, taker_order_id, maker_user_id, taker_user_id,
                         notional_minor, base_minor, maker_fee_minor, taker_fee_minor)


def _filled(order_id: int, user_id: int, symbol: str, side: int, trade_id: int,
            price_ticks: int, qty_lots: int, filled_lots: int, leaves_lots: int,
            is_maker: bool, fee_minor: int, released_minor: int) -> OrderFilled:
    if cython.compiled:
        return _ev12(2, order_id, user_id, symbol, side, trade_id,  # type: ignore[name-defined,no-any-return]  # noqa: F821
                     price_ticks, qty_lots, filled_lots, leaves_lots, is_maker, fee_minor,
                     released_minor)
    return OrderFilled(order_id, user_id, symbol, side, trade_id, price_ticks, qty_lots,
                       filled_lots, leaves_lots, is_maker, fee_minor, released_minor)


def _level_changed(symbol: str, side: int, price_ticks: int, qty_lots: int,
                   order_count: int) -> BookLevelChanged:
    if cython.compiled:
        return _ev5(3, symbol, side, price_ticks, qty_lots, order_count)  # type: ignore[name-defined,no-any-return]  # noqa: F821
    return BookLevelChanged(symbol, side, price_ticks, qty_lots, order_count)


def _cancelled(order_id: int, user_id: int, symbol: str, side: int, cancelled_lots: int,
               leaves_lots: int, reason: int, released_minor: int) -> OrderCancelled:
    if cython.compiled:
        return _ev8(4, order_id, user_id, symbol, side, cancelled_lots,  # type: ignore[name-defined,no-any-return]  # noqa: F821
                    leaves_lots, reason, released_minor)
    return OrderCancelled(order_id, user_id, symbol, side, cancelled_lots, leaves_lots, reason,
                          released_minor)


def _amended(order_id: int, user_id: int, symbol: str, side: int, price_ticks: int,
             qty_lots: int, leaves_lots: int, priority_kept: bool,
             hold_delta_minor: int) -> OrderAmended:
    if cython.compiled:
        return _ev9(5, order_id, user_id, symbol, side, price_ticks,  # type: ignore[name-defined,no-any-return]  # noqa: F821
                    qty_lots, leaves_lots, priority_kept, hold_delta_minor)
    return OrderAmended(order_id, user_id, symbol, side, price_ticks, qty_lots, leaves_lots,
                        priority_kept, hold_delta_minor)


if cython.compiled:
    for _k, _type in enumerate(EVENT_KINDS):
        _event_layout(_k, _type)  # type: ignore[name-defined]  # noqa: F821
else:  # interpreted: the constructors themselves
    _accepted = OrderAccepted
    _traded = TradeExecuted
    _filled = OrderFilled
    _level_changed = BookLevelChanged
    _cancelled = OrderCancelled
    _amended = OrderAmended


def _built(k: int, v: list[Any]) -> Event:
    """The event of kind ``k`` (``EVENT_KINDS``) with the field values ``v``, from its
    builder above."""
    if k == 0:
        return _accepted(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                         v[11], v[12], v[13], v[14], v[15])
    if k == 1:
        return _traded(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                       v[11], v[12])
    if k == 2:
        return _filled(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                       v[11])
    if k == 3:
        return _level_changed(v[0], v[1], v[2], v[3], v[4])
    if k == 4:
        return _cancelled(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7])
    return _amended(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8])


def _check_event_layout() -> bool:
    """Does each builder above make the very event its class makes? Builds one event of
    each kind both ways, with a distinct value in every field, and compares type, fields
    (in order, by identity), equality, hash and encoding. Raises ``ImportError`` on a
    difference (compiled: a msgspec that lays events out otherwise)."""
    for k in range(len(EVENT_KINDS)):
        cls: Any = EVENT_KINDS[k]
        fields = cls.__struct_fields__
        values = [object() for _ in fields]
        built = _built(k, values)
        numbers = list(range(1, len(fields) + 1))
        rebuilt, reference = _built(k, numbers), cls(*numbers)
        if not (type(built) is cls
                and all(a is b for a, b in zip(astuple(built), values, strict=True))
                and all(getattr(built, f) is v for f, v in zip(fields, values, strict=True))
                and built == cls(*values) and type(rebuilt) is cls and rebuilt == reference
                and hash(rebuilt) == hash(reference)
                and msgspec_json.encode(rebuilt) == msgspec_json.encode(reference)):
            raise ImportError(f"matchbook.core.matching: {cls.__name__} built from its layout "
                              "differs from the class's own (run the interpreted build)")
    return True


_check_event_layout()


# Compiled, not tracked by the cyclic collector: 16 bytes less per order, and a million
# resting orders add nothing to a full collection. An order refers to no container; its
# one cycle, the links of a level's queue, is broken by ``Level.__dealloc__``.
@cython.no_gc
@cython.cclass
class Order:
    """A live order (resting, or a stop waiting for its trigger). Mutable, engine-owned.

    Compiled, a native object with C fields (``matching.pxd``); interpreted, a class
    with slots. ``leaves`` is the open quantity (visible + hidden); ``visible`` the
    quantity shown in the book (the iceberg peak, else ``leaves``); ``visible == 0``
    marks a closed order. ``hold`` is what is still held for the order in minor units of
    the quote asset (buys) or the base asset (sells). ``fees`` are the rates of the
    user's tier when the order was placed (a shared object). ``prev`` / ``next`` link
    the order into its level's FIFO queue (intrusive: a cancel unlinks in O(1)).

    Prices and quantities are C ``long long`` in the compiled build: every path that
    makes an order bounds them below ``risk.MAX_TICKS`` (10**15) first. The user id,
    the hold (money) and the expiry stay Python ints, as the commands leave them
    unbounded.
    """

    __slots__ = ("client_order_id", "display", "expire_ts", "fees", "flags", "hold", "leaves",
                 "next", "order_id", "prev", "price", "qty", "side", "stop_price", "symbol",
                 "user_id", "visible")

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
    prev: Order | None
    next: Order | None

    def __init__(self, order_id: int, user_id: int, symbol: str, side: int, price: int, qty: int,
                 leaves: int, visible: int, display: int, hold: int, flags: int,
                 stop_price: int, expire_ts: int, client_order_id: str,
                 fees: FeeSchedule) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.symbol = symbol
        self.side = side
        self.price = price
        self.qty = qty
        self.leaves = leaves
        self.visible = visible
        self.display = display
        self.hold = hold
        self.flags = flags
        self.stop_price = stop_price
        self.expire_ts = expire_ts
        self.client_order_id = client_order_id
        self.fees = fees
        self.prev = None
        self.next = None

    def __repr__(self) -> str:
        return (f"Order(order_id={self.order_id}, user_id={self.user_id}, "
                f"symbol={self.symbol!r}, side={self.side}, price={self.price}, qty={self.qty}, "
                f"leaves={self.leaves}, visible={self.visible}, display={self.display}, "
                f"hold={self.hold}, flags={self.flags}, stop_price={self.stop_price}, "
                f"expire_ts={self.expire_ts}, client_order_id={self.client_order_id!r})")

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


def _new_order(order_id: int, user_id: int, symbol: str, side: int, price: int, qty: int,
               leaves: int, visible: int, display: int, hold: int, flags: int,
               stop_price: int, expire_ts: int, client_order_id: str,
               fees: FeeSchedule) -> Order:
    """``Order(...)`` for the hot path: compiled, a C function that fills the C fields of
    a bare object (calling the class would parse its arguments as a Python call)."""
    order = Order.__new__(Order)
    order.order_id = order_id
    order.user_id = user_id
    order.symbol = symbol
    order.side = side
    order.price = price
    order.qty = qty
    order.leaves = leaves
    order.visible = visible
    order.display = display
    order.hold = hold
    order.flags = flags
    order.stop_price = stop_price
    order.expire_ts = expire_ts
    order.client_order_id = client_order_id
    order.fees = fees
    order.prev = None
    order.next = None
    return order


# Compiled, not tracked either: a level refers to orders only, so it is in no cycle the
# collector could see, and is freed when its book lets it go; then ``__dealloc__`` breaks
# its queue's links (a collector's clear would have emptied ``head`` first).
@cython.no_gc
@cython.cclass
class Level:
    """One price level: the live orders' count and visible total, and the FIFO queue as
    an intrusive doubly linked list (``head`` first in time priority)."""

    __slots__ = ("count", "head", "price", "tail", "total")

    price: int
    total: int
    count: int
    head: Order | None
    tail: Order | None

    def __init__(self, price: int) -> None:
        self.price = price
        self.total = 0
        self.count = 0
        self.head = None
        self.tail = None

    def append(self, order: Order) -> None:
        """Link ``order`` at the back of the queue (totals are the caller's). O(1)."""
        tail = self.tail
        order.prev = tail
        order.next = None
        if tail is None:
            self.head = order
        else:
            tail.next = order
        self.tail = order

    def remove(self, order: Order) -> None:
        """Unlink ``order`` from the queue (totals are the caller's). O(1)."""
        prev, nxt = order.prev, order.next
        if prev is None:
            self.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            self.tail = prev
        else:
            nxt.prev = prev
        order.prev = None
        order.next = None

    def _unlink_all(self) -> None:
        """Unlink every order of the queue (when the level itself goes). O(n)."""
        order = self.head
        self.head = self.tail = None
        while order is not None:
            nxt = order.next
            order.prev = order.next = None
            order = nxt

    def __dealloc__(self) -> None:
        """Compiled: break the queue's links, the one cycle among orders, which the cyclic
        collector no longer sees (``Order`` is not tracked, matching.pxd). Interpreted,
        never called: the collector handles the cycle."""
        self._unlink_all()

    def orders(self) -> list[Order]:
        """The queue in time priority. O(n)."""
        result = []
        order = self.head
        while order is not None:
            result.append(order)
            order = order.next
        return result


class OrderBook:
    """Bids and asks of one symbol plus its pending stops and last trade price.

    * ``bids`` / ``asks``: ``dict[price_ticks, Level]``, the live levels;
    * ``bid_heap`` / ``ask_heap``: binary heaps of level prices (bids negated). The top
      of each heap is always a live level, so the best price is ``heap[0]``: O(1).
      Emptied levels deeper in a heap are removed lazily (skipped when they surface,
      and the heap is rebuilt when more than half of it is stale).

    Complexities (L = levels on a side, n = orders in a level): best bid / ask O(1);
    rest an order O(1) on an existing level, O(log L) for a new level; unlink O(1)
    (O(log L) amortised when the level empties); L2 top N O(L log N); L3 O(L log L + n).
    """

    __slots__ = ("ask_heap", "asks", "base_code", "base_per_lot", "base_slot", "bid_heap",
                 "bids", "fees", "halted", "last_price", "market_protection_bps", "max_qty",
                 "max_qty_lots", "min_notional_minor", "min_qty", "min_qty_lots", "name",
                 "price_band_bps",
                 "quote_code", "quote_per_tick_lot", "quote_slot", "stops_buy", "stops_sell",
                 "symbol", "tier_fees")

    symbol: Symbol
    name: str
    min_qty_lots: int
    max_qty_lots: int
    min_qty: int
    max_qty: int
    min_notional_minor: int
    quote_per_tick_lot: int
    base_per_lot: int
    price_band_bps: int
    market_protection_bps: int
    fees: FeeSchedule
    tier_fees: Mapping[str, FeeSchedule]
    base_code: str
    quote_code: str
    base_slot: int
    quote_slot: int
    bids: dict[int, Level]
    asks: dict[int, Level]
    bid_heap: list[int]
    ask_heap: list[int]
    stops_buy: list[tuple[int, int, Order]]
    stops_sell: list[tuple[int, int, Order]]
    last_price: int
    halted: bool

    def __init__(self, symbol: Symbol) -> None:
        self.symbol = symbol
        # the symbol's figures the hot path reads, as the book's own (C) fields
        self.name = symbol.name
        self.min_qty_lots = symbol.min_qty_lots
        self.max_qty_lots = symbol.max_qty_lots
        # the same, clamped to [0, MAX_TICKS] for C comparisons with a quantity in
        # [1, MAX_TICKS): the comparisons' results do not change
        self.min_qty = min(max(symbol.min_qty_lots, 0), MAX_TICKS)
        self.max_qty = min(max(symbol.max_qty_lots, 0), MAX_TICKS)
        self.min_notional_minor = symbol.min_notional_minor
        self.quote_per_tick_lot = symbol.quote_per_tick_lot
        self.base_per_lot = symbol.base_per_lot
        self.price_band_bps = symbol.price_band_bps
        self.market_protection_bps = symbol.market_protection_bps
        self.fees = symbol.fees  # the default tier's rates, and the other tiers'
        self.tier_fees = symbol.tier_fees
        self.base_code = symbol.base.code  # held by sell orders
        self.quote_code = symbol.quote.code  # held by buy orders
        # where the engine's accounts keep these assets (see ``accounts.Account``)
        self.base_slot = 0
        self.quote_slot = 0
        self.bids = {}
        self.asks = {}
        self.bid_heap = []  # negated prices
        self.ask_heap = []
        # pending stops: (stop_price, order_id, order) for buys, (-stop_price, ...) sells
        self.stops_buy = []
        self.stops_sell = []
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
        """The reference price of the price band: the last trade price, else the mid
        (rounded down to a tick), else 0. O(1). The one definition of the rule."""
        if self.last_price:
            return self.last_price
        if self.bid_heap and self.ask_heap:
            return (self.ask_heap[0] - self.bid_heap[0]) // 2
        return 0

    def outside_band(self, price: int) -> bool:
        """Is ``price`` further from the reference price than the symbol's price band?
        (Never, without a reference price.) O(1).

        ``price`` is a checked price (``0 < price < MAX_TICKS``, as every caller has
        made sure). Compiled, the test is unsigned 64-bit arithmetic: with both prices
        below 10**15 and the band at most 10,000 bps neither product reaches 2**64."""
        ref = self.reference_price()
        if not ref:
            return False
        dev = price - ref if price >= ref else ref - price
        return dev * 10_000 > ref * self.price_band_bps

    def depth(self, side: int, limit: int = 0) -> list[tuple[int, int, int]]:
        """L2: ``(price_ticks, visible_lots, order_count)`` best first, at most ``limit``
        levels (0 = all). O(L log N)."""
        levels = self.bids if side == BUY else self.asks
        if side == BUY:
            prices = nlargest(limit, levels) if limit else sorted(levels, reverse=True)
        else:
            prices = nsmallest(limit, levels) if limit else sorted(levels)
        return [(p, levels[p].total, levels[p].count) for p in prices]

    def orders_at(self, side: int, price_ticks: int) -> list[Order]:
        """L3 of one level: live orders in time priority. O(n)."""
        level = (self.bids if side == BUY else self.asks).get(price_ticks)
        return level.orders() if level is not None else []

    def iter_orders(self, side: int) -> Iterator[Order]:
        """L3: every live order of a side, best price first, FIFO within a level."""
        for price, _, _ in self.depth(side):
            yield from self.orders_at(side, price)

    # -- mutation (engine-only) ------------------------------------------------------

    def rest(self, order: Order) -> Level:
        """Append ``order`` to the back of its level, creating the level if needed.
        O(1), or O(log L) for a new level. Returns the level."""
        price = order.price
        levels = self.bids if order.side == BUY else self.asks
        level = levels.get(price)
        if level is None:
            level = levels[price] = Level(price)
            heappush(self.bid_heap if order.side == BUY else self.ask_heap,
                           -price if order.side == BUY else price)
        level.append(order)
        level.total += order.visible
        level.count += 1
        return level

    def unlink(self, order: Order) -> Level:
        """Remove a resting order from its level and mark it closed (``visible = 0``).
        O(1); drops the level if it empties. Returns the level."""
        price = order.price
        level = (self.bids if order.side == BUY else self.asks)[price]
        level.remove(order)
        level.total -= order.visible
        level.count -= 1
        order.visible = 0
        if level.count == 0:
            self.drop_level(order.side, price)
        return level

    def drop_level(self, side: int, price: int) -> None:
        """Forget an empty level and restore the live-top invariant of the heap.
        O(log L) amortised."""
        if side == BUY:
            levels, heap = self.bids, self.bid_heap
        else:
            levels, heap = self.asks, self.ask_heap
        del levels[price]
        while heap and (-heap[0] if side == BUY else heap[0]) not in levels:
            heappop(heap)
        if len(heap) > 2 * len(levels) + 64:
            heap[:] = [-p for p in levels] if side == BUY else list(levels)
            heapify(heap)

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
                live = level.orders()
                assert live, "no empty level is kept"
                assert live[0].prev is None and level.tail is live[len(live) - 1]
                for a, b in itertools.pairwise(live):
                    assert a.next is b and b.prev is a, "the queue is linked both ways"
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


class MatchingCore:
    """The engine's state and its hot path: ``apply``, the everyday order and cancel,
    the matching loop, stop triggers, expiries and the open-order indexes."""

    # set by ``Engine``: the command handlers of every job, and the P2P desk
    _handlers: dict[type, Callable[[Any, list[Event]], None]]
    p2p: P2PDesk

    def __init__(
        self,
        markets: Markets,
        *,
        accounts: bool = True,
        limits: RiskLimits | None = None,
    ) -> None:
        self.markets = markets
        self.accounts_enabled = accounts
        self.books: dict[str, OrderBook] = {
            name: OrderBook(s) for name, s in markets.symbols.items()}
        self.user_orders: dict[int, dict[int, Order]] = {}
        self.client_ids: dict[tuple[int, str], int] = {}
        self.expiries: list[tuple[int, int, int, Order]] = []  # (ts, order id, serial, order)
        self._expiry_serial = 0
        self.accounts: dict[int, Account] = {}
        self.fee_balances: dict[str, int] = dict.fromkeys(markets.assets, 0)
        self.external_balances: dict[str, int] = dict.fromkeys(markets.assets, 0)
        self.withdrawals: dict[int, Withdrawal] = {}  # pending
        self.settled_withdrawals: set[int] = set()
        self.addresses: dict[str, tuple[int, str]] = {}
        self.user_addresses: dict[tuple[int, str], str] = {}
        self.suspended: set[int] = set()
        self.halted = False
        self.next_order_id = 1
        self.next_trade_id = 1
        self.next_wallet_op_id = 1
        self.last_seq = 0
        self.last_ts = 0
        self._next_expiry = NEVER
        self._use_limits(limits or RiskLimits())
        self._tiers = {t for s in markets.symbols.values() for t in s.tier_fees}
        # an account's balances: available at 2 i, held at 2 i + 1 for the i-th asset
        self._slots = {code: 2 * i for i, code in enumerate(sorted(markets.assets))}
        for book in self.books.values():
            book.quote_slot = self._slots[book.quote_code]
            book.base_slot = self._slots[book.base_code]

    def apply(self, seq: int, ts_ns: int, command: object) -> list[Event]:
        """Apply one sequenced command and return the events it produced, in order.

        Expired GTD orders are removed and passed P2P deadlines fire first (their
        events lead the list). Values are fully validated (bad values are rejected with a code and
        change nothing); field *types* are trusted, as every gateway builds commands
        through ``msgspec`` validation.
        """
        self.last_seq = seq
        self.last_ts = ts_ns
        out: list[Event] = []
        if ts_ns >= self._next_expiry:  # a GTD order or a P2P deadline is due
            self._expire(ts_ns, out, command)
        kind = type(command)
        if kind is PlaceOrder:  # the everyday commands skip the table
            self._place(command, out)  # type: ignore[arg-type]
            return out
        if kind is CancelOrder:
            self._cancel(command, out)  # type: ignore[arg-type]
            return out
        if kind is AmendOrder:
            self._amend(command, out)  # type: ignore[arg-type]
            return out
        if kind is CancelAll:  # a market maker's every requote
            self._cancel_all(command, out)  # type: ignore[arg-type]
            return out
        handler = self._handlers.get(kind)
        if handler is None:
            out.append(CommandRejected(0, Code.UNKNOWN_COMMAND, message(Code.UNKNOWN_COMMAND),
                                       type(command).__name__))
        else:
            handler(command, out)
        return out

    def _reject(self, c: PlaceOrder, code: int, out: list[Event]) -> None:
        out.append(OrderRejected(c.user_id, code, message(code), c.client_order_id, 0))

    def _place(self, c: PlaceOrder, out: list[Event]) -> None:
        """The everyday order on a short path: a limit or market order, GTC or IOC, with
        none of stop, iceberg, client id, post-only, expiry or quote budget, that passes
        every check. Any other order, and every order this path would reject, goes to
        ``_place_any``, the full pipeline, which decides it from scratch (this path
        changes nothing before it hands over), so the two agree by construction.
        O(1) to rest (O(log L) for a new level), plus ``_match``'s cost when it crosses."""
        book = self.books.get(c.symbol)
        if cython.compiled:
            # the command's numbers as C integers, each an exact int in range or -1: every
            # test below is then a C comparison; anything else goes to _place_any, which
            # decides it by value
            side, otype = _small(c.side, 16), _small(c.order_type, 16)
            tif, stp = _small(c.tif, 16), _small(c.stp, 16)
            qty, price = _small(c.qty_lots, MAX_TICKS), _small(c.price_ticks, MAX_TICKS)
            if (book is None or side < 1 or otype < 1 or tif < 1 or stp < 1 or qty < 1
                    or price < 0 or _small(c.user_id, _MAX_ID) < 1):
                return self._place_any(c, out)
        else:
            # the enum fields' range tested on their objects (a value out of range goes to
            # _place_any, which rejects it with its code)
            side_o, otype_o, tif_o, stp_o = c.side, c.order_type, c.tif, c.stp
            if book is None or not (0 < side_o < 16 and 0 < otype_o < 16 and 0 < tif_o < 16
                                    and 0 < stp_o < 16):
                return self._place_any(c, out)
            side, otype, tif, stp = side_o, otype_o, tif_o, stp_o
            qty, price = c.qty_lots, c.price_ticks
            if not (c.user_id > 0 and 0 < qty < MAX_TICKS):
                return self._place_any(c, out)
        # the optional fields are tested by identity with their defaults (the command
        # types' own, shared objects); any other object goes to _place_any
        if (not (side == BUY or side == SELL)
                or not (otype == LIMIT or otype == MARKET) or not (tif == GTC or tif == IOC)
                or not 0 < stp <= STP_DECREMENT or c.stop_price_ticks is not _ZERO
                or c.display_lots is not _ZERO or c.client_order_id is not _EMPTY
                or c.post_only is not False or c.expire_ts_ns is not _ZERO
                or c.quote_amount_minor is not _ZERO or self.halted or book.halted):
            return self._place_any(c, out)
        # pack_flags, inlined (a market order is IOC even when sent as GTC)
        flags = (otype - 1) | ((IOC if otype == MARKET else tif) - 1) << 2 | (stp - 1) << 4
        sym = book.symbol
        uid = c.user_id
        if not (book.min_qty <= qty <= book.max_qty) or (
                self.suspended and uid in self.suspended):
            return self._place_any(c, out)
        mine = self.user_orders.get(uid)
        if mine is not None and len(mine) >= self._max_open_orders:
            return self._place_any(c, out)
        if otype == LIMIT:
            if not 0 < price < MAX_TICKS:
                return self._place_any(c, out)
            # Python ints (the command's own objects: the same values), never a C product
            notional = c.price_ticks * c.qty_lots * book.quote_per_tick_lot
            if notional < book.min_notional_minor:
                return self._place_any(c, out)
            if book.outside_band(price):
                return self._place_any(c, out)
        else:
            best = (book.ask_heap[0] if book.ask_heap else 0) if side == BUY else (
                -book.bid_heap[0] if book.bid_heap else 0)
            if price or not best:
                return self._place_any(c, out)
            tif = IOC  # a market order never rests
            # _band_price, inlined
            if side == BUY:
                price = best * (10_000 + book.market_protection_bps) // 10_000
            else:
                price = max(1, -(-best * (10_000 - book.market_protection_bps) // 10_000))
            notional = book.quote_per_tick_lot * price * c.qty_lots
        if side == BUY:
            hold_asset, slot = book.quote_code, book.quote_slot
        else:
            hold_asset, slot = book.base_code, book.base_slot
        if self.accounts_enabled:
            account = self.accounts.get(uid)
            if account is None:
                return self._place_any(c, out)
            uid = account.user_id  # the user's one int object: 32 bytes less per order
            fees = book.tier_fees.get(account.tier, book.fees) if account.tier else book.fees
            hold = notional + notional * fees.hold_ppm // PPM if side == BUY else (
                c.qty_lots * book.base_per_lot)
            balances = account.balances
            if not (_covers(balances, slot, hold) if cython.compiled
                    else hold <= balances[slot]) or (
                    side == BUY and self._position_limits
                    and not within_position_limit(
                        self._position_limits, self.books, mine, account, sym, qty)):
                return self._place_any(c, out)
            if cython.compiled:
                _move(balances, slot, slot + 1, hold)
            else:  # the same, without a call
                balances[slot] -= hold
                balances[slot + 1] += hold
        else:
            fees, hold = NO_FEES, 0

        # -- accept, match, then rest or cancel the remainder --------------------------
        oid = self.next_order_id
        self.next_order_id = oid + 1
        name = book.name
        order = _new_order(oid, uid, name, side, price, qty, qty, qty, 0, hold, flags, 0, 0, "",
                           fees)
        out.append(_accepted(oid, uid, name, side, otype, c.price_ticks, c.qty_lots, tif, "", 0,
                             0, False, 0, 0, hold_asset, hold))
        if side == BUY:
            crosses = book.ask_heap and book.ask_heap[0] <= price
        else:
            crosses = book.bid_heap and -book.bid_heap[0] >= price
        if crosses:
            last = book.last_price
            self._match(book, order, out)
            if order.leaves and order.visible:  # not closed by self-trade prevention
                self._rest_or_close(book, order, out)
            if book.last_price != last and (book.stops_buy or book.stops_sell):
                self._trigger_stops(book, out)
        elif tif == GTC:
            # book.rest + _register, inlined
            pkey = c.price_ticks  # a limit order's price, as the object the command holds
            level = (book.bids if side == BUY else book.asks).get(pkey)
            if level is None:
                level = Level(price)
                if side == BUY:
                    book.bids[pkey] = level
                    heappush(book.bid_heap, -pkey)
                else:
                    book.asks[pkey] = level
                    heappush(book.ask_heap, pkey)
            level.append(order)
            total = level.total = level.total + qty
            count = level.count = level.count + 1
            if mine is None:
                mine = self.user_orders[uid] = {}
            mine[oid] = order
            out.append(_level_changed(name, side, pkey, total, count))
        else:
            self._close(order, out, _UNFILLED)
        return None

    def _place_any(self, c: PlaceOrder, out: list[Event]) -> None:
        """Every order: validate shape -> risk checks -> hold -> accept -> match -> rest
        or cancel the remainder -> trigger stops. O(1) checks, plus: the user's open
        orders when a position limit applies, ``_fillable`` for FOK,
        ``_lots_for_budget`` for a quote budget, ``_match``, and the stops triggered."""
        book = self.books.get(c.symbol)
        if book is None:
            return self._reject(c, Code.UNKNOWN_SYMBOL, out)
        sym = book.symbol
        name = sym.name
        uid, qty, price = c.user_id, c.qty_lots, c.price_ticks
        # the enum fields as C ints (compiled), after one range test on their objects; a
        # value out of every enum's range fails check_shape, which gives its code
        side_o, otype_o, tif_o, stp_o = c.side, c.order_type, c.tif, c.stp
        if not (0 < side_o < 16 and 0 < otype_o < 16 and 0 < tif_o < 16 and 0 < stp_o < 16):
            return self._reject(c, check_shape(c, sym, self.last_ts), out)
        side, otype, tif, stp = side_o, otype_o, tif_o, stp_o
        stop, display, coid, post_only, expire, budget = (
            c.stop_price_ticks, c.display_lots, c.client_order_id, c.post_only, c.expire_ts_ns,
            c.quote_amount_minor)

        # -- shape: one test for the everyday order, the precise checks otherwise ----
        # ``plain``: none of stop, iceberg, client id, post-only, expiry or quote budget
        plain = not (stop or display or coid or post_only or expire or budget)
        if not (
            plain and uid > 0 and (side == BUY or side == SELL) and (tif == GTC or tif == IOC)
            and sym.min_qty_lots <= qty <= sym.max_qty_lots and 0 < stp <= STP_DECREMENT
            and ((otype == LIMIT and 0 < price < MAX_TICKS) or (otype == MARKET and price == 0))
        ):
            code = check_shape(c, sym, self.last_ts)
            if code:
                return self._reject(c, code, out)

        # -- risk (the order of the checks decides which code a bad order gets) -------
        if self.halted:
            return self._reject(c, Code.TRADING_HALTED, out)
        if book.halted:
            return self._reject(c, Code.SYMBOL_HALTED, out)
        if self.suspended and uid in self.suspended:
            return self._reject(c, Code.USER_SUSPENDED, out)
        if coid and (uid, coid) in self.client_ids:
            return self._reject(c, Code.DUPLICATE_CLIENT_ORDER_ID, out)
        mine = self.user_orders.get(uid)
        if mine is not None and len(mine) >= self._max_open_orders:
            return self._reject(c, Code.TOO_MANY_OPEN_ORDERS, out)
        notional = 0
        if price:
            notional = price * qty * sym.quote_per_tick_lot
            if notional < sym.min_notional_minor:
                return self._reject(c, Code.NOTIONAL_TOO_SMALL, out)
            if book.outside_band(price):
                return self._reject(c, Code.PRICE_OUTSIDE_BAND, out)
        if otype == MARKET:
            if tif == GTC:
                tif = IOC  # a market order never rests
            if side == BUY:
                best = book.ask_heap[0] if book.ask_heap else 0
            else:
                best = -book.bid_heap[0] if book.bid_heap else 0
            if not best:
                return self._reject(c, Code.NO_LIQUIDITY, out)
            price = band_price(best, side, sym.market_protection_bps)
            notional = price * qty * sym.quote_per_tick_lot
        elif not plain:
            if stop:
                last = book.last_price
                if last and (last >= stop if side == BUY else last <= stop):
                    return self._reject(c, Code.STOP_WOULD_TRIGGER, out)
                if otype == STOP_MARKET:
                    # the most a triggered stop-market may pay: the protection band from
                    # the stop
                    price = band_price(stop, side, sym.market_protection_bps)
                    notional = price * qty * sym.quote_per_tick_lot
            elif post_only and (
                (book.ask_heap and price >= book.ask_heap[0]) if side == BUY
                else (book.bid_heap and price <= -book.bid_heap[0])
            ):
                return self._reject(c, Code.POST_ONLY_WOULD_TAKE, out)

        account = None
        fees = NO_FEES
        accounts = self.accounts_enabled
        if accounts:
            account = self.accounts.get(uid)
            fees = book.fees
            if account is not None:
                uid = account.user_id  # the user's one int object: 32 bytes less per order
                if account.tier:
                    fees = book.tier_fees.get(account.tier, fees)
        if budget:
            qty = self._lots_for_budget(book, uid, stp, price, budget, fees.taker_ppm)
            if not qty:
                return self._reject(c, Code.NO_LIQUIDITY, out)
            qty = min(qty, sym.max_qty_lots)
        if tif == FOK and not stop and not self._fillable(book, uid, side, price, qty, stp):
            return self._reject(c, Code.FOK_NOT_FILLABLE, out)

        if side == BUY:
            hold_asset = book.quote_code
            # the notional at the limit plus the larger fee rate; a budget holds itself
            hold = budget or (notional + notional * fees.hold_ppm // PPM if accounts else 0)
        else:
            hold_asset = book.base_code
            hold = qty * sym.base_per_lot if accounts else 0
        if accounts:
            if account is None:
                return self._reject(c, Code.INSUFFICIENT_FUNDS, out)
            if hold > account.free(hold_asset):
                return self._reject(c, Code.INSUFFICIENT_FUNDS, out)
            if side == BUY and self._position_limits:
                if not within_position_limit(
                        self._position_limits, self.books, mine, account, sym, qty):
                    return self._reject(c, Code.POSITION_LIMIT_EXCEEDED, out)
            account.hold(hold_asset, hold)

        # -- accept -----------------------------------------------------------------
        oid = self.next_order_id
        self.next_order_id = oid + 1
        order = _new_order(oid, uid, name, side, price, qty, qty, display or qty, display, hold,
                           # pack_flags, inlined on the hot path (a call costs ~70 ns here)
                           (otype - 1) | (tif - 1) << 2 | (stp - 1) << 4
                           | (64 if post_only else 0),
                           stop, expire, coid, fees)
        out.append(_accepted(oid, uid, name, side, otype, c.price_ticks, qty, tif, coid,
                                 stop, display, post_only, expire, budget, hold_asset, hold))
        if stop:
            self._register(order)
            if side == BUY:
                heappush(book.stops_buy, (stop, oid, order))
            else:
                heappush(book.stops_sell, (-stop, oid, order))
            return None

        # -- match, then rest or cancel the remainder ---------------------------------
        self._execute_then_trigger(book, order, out)
        return None

    def _execute_then_trigger(self, book: OrderBook, order: Order, out: list[Event]) -> None:
        """``_execute``, then release the stops that a new last trade price reaches."""
        last = book.last_price
        self._execute(book, order, out)
        if book.last_price != last and (book.stops_buy or book.stops_sell):
            self._trigger_stops(book, out)

    def _execute(self, book: OrderBook, order: Order, out: list[Event]) -> None:
        """Match an accepted order (an amended or a triggered one), then rest its
        remainder or cancel it."""
        if order.side == BUY:
            if book.ask_heap and book.ask_heap[0] <= order.price:
                self._match(book, order, out)
        elif book.bid_heap and -book.bid_heap[0] >= order.price:
            self._match(book, order, out)
        if order.leaves and order.visible:
            self._rest_or_close(book, order, out)

    def _rest_or_close(self, book: OrderBook, order: Order, out: list[Event]) -> None:
        """An open remainder rests if the order is a GTC/GTD limit, else is cancelled."""
        if RESTS[order.flags & 15]:
            display, leaves = order.display, order.leaves
            order.visible = display if display and display < leaves else leaves
            level = book.rest(order)
            self._register(order)
            out.append(_level_changed(book.symbol.name, order.side, order.price, level.total,
                                        level.count))
        else:
            self._close(order, out, _UNFILLED)

    def _match(self, book: OrderBook, taker: Order, out: list[Event]) -> None:
        """Cross ``taker`` against the opposite side, best price first, FIFO within a
        level, up to its limit price. Each fill settles both sides in this command: the
        maker's balances at the fill, the taker's summed over the fills and written once
        (before a self-trade check may close the taker, and at the end).
        O(fills + levels touched)."""
        name = book.name
        taker_side = taker.side
        # the taker pays ``pay`` (its held asset) and receives ``recv``; a maker the reverse
        # (slots in the accounts' balances: available there, held at the next index)
        if taker_side == BUY:
            levels, heap, maker_side = book.asks, book.ask_heap, SELL
            limit_key, sign = taker.price, 1
            pay, recv = book.quote_slot, book.base_slot
        else:
            levels, heap, maker_side = book.bids, book.bid_heap, BUY
            limit_key, sign = -taker.price, -1
            pay, recv = book.base_slot, book.quote_slot
        uid = taker.user_id
        tid = taker.order_id
        rem = taker.leaves
        filled = taker.qty - rem
        next_trade = self.next_trade_id
        accounts = self.accounts if self.accounts_enabled else None
        if accounts is not None:
            qptl, bpl = book.quote_per_tick_lot, book.base_per_lot
            tacct = accounts[uid]
            tppm = taker.fees.taker_ppm
            thold = taker.hold
            paid = got = fee_total = 0
        traded = 0  # price of the last fill
        while rem and heap and heap[0] <= limit_key:
            # the level's price as a Python int once, for its key and the events, and as
            # a C integer (compiled, ``price``)
            top = heap[0]
            price_int: int = top if sign == 1 else -top
            price = price_int
            level = levels[price_int]
            stopped = dropped = touched = False
            while True:
                maker: Order = level.head  # type: ignore[assignment]  # never empty
                vis = maker.visible
                if maker.user_id == uid:
                    if accounts is not None:
                        self._settle_taker(taker, tacct, pay, recv, thold, paid, got, 0)
                        paid = got = 0
                    rem, stopped = self._self_trade(book, level, taker, maker, rem, out)
                    if accounts is not None:
                        thold = taker.hold
                    touched = touched or taker.stp == STP_DECREMENT
                    dropped = not level.count  # the level went with the cancelled order
                    if stopped or dropped or not rem:
                        break
                    continue
                fill = rem if rem < vis else vis
                traded = price
                touched = True
                rem -= fill
                filled += fill
                maker.visible = vis - fill
                mleaves = maker.leaves - fill
                maker.leaves = mleaves
                level.total -= fill
                mfee = tfee = mrel = trel = notional = base_amt = 0
                if accounts is not None:
                    notional = qptl * price * fill  # a Python int first: never a C product
                    base_amt = fill * bpl
                    rate = maker.fees.maker_ppm
                    mfee = notional * rate // PPM if rate >= 0 else -(notional * -rate // PPM)
                    tfee = notional * tppm // PPM
                    fee_total += mfee + tfee
                    if taker_side == BUY:
                        tpay, mpay = notional + tfee, base_amt
                        got += base_amt
                        mgot = notional - mfee
                    else:
                        tpay, mpay = base_amt, notional + mfee
                        got += notional - tfee
                        mgot = base_amt
                    paid += tpay
                    thold -= tpay
                    macct = accounts[maker.user_id]
                    mbal = macct.balances
                    if cython.compiled:
                        _sub(mbal, recv + 1, mpay)
                        _add(mbal, pay, mgot)
                    else:  # the same, without calls
                        mbal[recv + 1] -= mpay
                        mbal[pay] += mgot
                    mhold = maker.hold - mpay
                    if not mleaves and mhold:  # release what the filled maker did not use
                        mrel = mhold
                        _move(mbal, recv + 1, recv, mrel)
                        mhold = 0
                    maker.hold = mhold
                    if not rem and thold:
                        trel = thold
                trade_id: int = next_trade
                out.append(_traded(trade_id, name, price_int, fill, taker_side,
                                         maker.order_id, tid, maker.user_id, uid, notional,
                                         base_amt, mfee, tfee))
                out.append(_filled(maker.order_id, maker.user_id, name, maker_side, trade_id,
                                       price_int, fill, maker.qty - mleaves, mleaves, True, mfee,
                                       mrel))
                out.append(_filled(tid, uid, name, taker_side, trade_id, price_int, fill,
                                       filled, rem, False, tfee, trel))
                next_trade += 1
                if not maker.visible:
                    level.remove(maker)
                    if mleaves:  # iceberg: refill the peak at the back of the queue
                        maker.visible = maker.display if maker.display < mleaves else mleaves
                        level.total += maker.visible
                        level.append(maker)
                    else:
                        level.count -= 1
                        # _unregister, inlined (a call costs as much as the work)
                        mine = self.user_orders[maker.user_id]
                        del mine[maker.order_id]
                        if not mine:
                            del self.user_orders[maker.user_id]
                        if maker.client_order_id:
                            del self.client_ids[(maker.user_id, maker.client_order_id)]
                        if not level.count:
                            break
                if not rem:
                    break
            if dropped or not touched:
                pass  # unchanged, or reported when a self-trade cancel removed the level
            elif level.count:
                out.append(_level_changed(name, maker_side, price_int, level.total,
                                            level.count))
            else:
                out.append(_level_changed(name, maker_side, price_int, 0, 0))
                book.drop_level(maker_side, price)
            if stopped:
                break
        taker.leaves = rem
        if accounts is not None and (paid or got):  # a filled taker's unused hold goes back
            self._settle_taker(taker, tacct, pay, recv, thold, paid, got, 0 if rem else thold)
        if next_trade != self.next_trade_id:
            self.next_trade_id = next_trade
            book.last_price = traded
            if accounts is not None:
                self.fee_balances[book.quote_code] += fee_total

    def _settle_taker(self, taker: Order, account: Account, pay: int, recv: int, hold: int,
                      paid: int, got: int, release: int) -> None:
        """Write the taker's fills summed by ``_match``: ``paid`` out of its hold (now
        ``hold``), ``got`` in, and ``release`` of the rest of the hold back to available.
        ``pay`` and ``recv`` are balance slots."""
        balances = account.balances
        if cython.compiled:
            _sub(balances, pay + 1, paid)
            _move(balances, pay + 1, pay, release)
            _add(balances, recv, got)
        else:  # the same, without calls
            balances[pay + 1] -= paid + release
            balances[pay] += release
            balances[recv] += got
        taker.hold = hold - release

    def _self_trade(
        self, book: OrderBook, level: Level, taker: Order, maker: Order, rem: int, out: list[Event]
    ) -> tuple[int, bool]:
        """Apply the taker's self-trade prevention against its own resting ``maker``.

        Returns the taker's remaining quantity and whether matching must stop. A taker
        cancelled here is closed here (its ``visible`` is set to 0)."""
        mode = taker.stp
        if mode == STP_CANCEL_OLDEST or mode == STP_CANCEL_BOTH:
            self._remove_resting(book, maker, out, _SELF_TRADE)
            if mode == STP_CANCEL_OLDEST:
                return rem, False
            taker.leaves = rem
            self._close(taker, out, _SELF_TRADE)
            return 0, True
        if mode == STP_CANCEL_NEWEST:
            taker.leaves = rem
            self._close(taker, out, _SELF_TRADE)
            return 0, True
        # decrement and cancel: both shrink by the smaller quantity
        dec = rem if rem < maker.leaves else maker.leaves
        if dec == maker.leaves:
            self._remove_resting(book, maker, out, _SELF_TRADE)
        else:
            maker.leaves -= dec
            maker.qty -= dec  # a decrement is not a fill: the order itself shrinks
            if maker.visible > maker.leaves:
                level.total -= maker.visible - maker.leaves
                maker.visible = maker.leaves
            out.append(_cancelled(maker.order_id, maker.user_id, maker.symbol, maker.side, dec,
                                      maker.leaves, _SELF_TRADE, 0))
        rem -= dec
        taker.leaves = rem
        taker.qty -= dec
        if rem:
            out.append(_cancelled(taker.order_id, taker.user_id, taker.symbol, taker.side, dec,
                                      rem, _SELF_TRADE, 0))
            return rem, False
        taker.leaves = dec
        taker.qty += dec  # closed: the cancelled quantity is reported as cancelled
        self._close(taker, out, _SELF_TRADE)
        return 0, True

    def _fillable(
        self, book: OrderBook, uid: int, side: int, limit: int, qty: int, stp: int
    ) -> bool:
        """Would ``qty`` fill in full up to ``limit``? Mirrors ``_match`` without changing
        anything: own orders are skipped under cancel-oldest, otherwise they stop the
        walk (the taker would be cancelled or decremented there).
        O(L log L + n): it sorts the L levels of the opposite side up to ``limit`` and
        reads every order of each level it reaches (n) -- once more per level to look
        for an own order unless the mode is cancel-oldest -- not only the orders a
        fill would take."""
        if side == BUY:
            levels, prices = book.asks, sorted(p for p in book.asks if p <= limit)
        else:
            levels, prices = book.bids, sorted((p for p in book.bids if p >= limit), reverse=True)
        need = qty
        for price in prices:
            queue = levels[price].orders()
            has_own = stp != STP_CANCEL_OLDEST and any(
                o.visible and o.user_id == uid for o in queue)
            for o in queue:
                if not o.visible:
                    continue
                if o.user_id == uid:
                    if has_own:
                        return False  # the taker is cancelled or decremented here
                    continue  # cancel-oldest: the own order is cancelled, matching goes on
                # an iceberg's hidden part refills behind an own order: out of reach then
                need -= o.visible if has_own else o.leaves
                if need <= 0:
                    return True
        return False

    def _lots_for_budget(
        self, book: OrderBook, uid: int, stp: int, limit: int, budget: int, taker_ppm: int
    ) -> int:
        """How many lots a market buy can take with ``budget`` quote minor units, fees
        included, walking the asks up to ``limit`` (other users' orders only). The
        actual cost never exceeds this walk's, as per-fill fees truncate.
        O(L log L + n): the ask levels up to ``limit`` sorted, and their orders read."""
        sym = book.symbol
        unit = sym.quote_per_tick_lot
        lots = 0
        for price in sorted(p for p in book.asks if p <= limit):
            available = sum(o.leaves for o in book.asks[price].orders()
                            if o.user_id != uid)
            per_lot = price * unit
            can = budget * PPM // (per_lot * (PPM + taker_ppm))
            while True:  # truncated fees can leave room for one more lot
                notional = (can + 1) * per_lot
                if notional + notional * taker_ppm // PPM > budget:
                    break
                can += 1
            take = min(can, available)
            notional = take * per_lot
            budget -= notional + notional * taker_ppm // PPM
            lots += take
            if take < available:
                break
        return lots

    def _trigger_stops(self, book: OrderBook, out: list[Event]) -> None:
        """Release stops reached by the last trade price, one at a time, each executed
        before the next is considered (so cascades see the prices they cause).

        Order: on each side the stop the price crossed first (buys: lowest stop; sells:
        highest), then the earlier order; between the two sides, the earlier order.
        O(log S) per stop released (S pending stops), plus each one's execution."""
        is_open = self._is_open
        buys, sells = book.stops_buy, book.stops_sell
        while True:
            while buys and not (buys[0][2].stop_price and is_open(buys[0][2])):
                heappop(buys)
            while sells and not (sells[0][2].stop_price and is_open(sells[0][2])):
                heappop(sells)
            last = book.last_price
            buy = buys[0] if buys and buys[0][0] <= last else None
            sell = sells[0] if sells and -sells[0][0] >= last else None
            if buy is None and sell is None:
                return
            if buy is not None and (sell is None or buy[1] < sell[1]):
                order = heappop(buys)[2]
            else:
                order = heappop(sells)[2]
            out.append(OrderTriggered(order.order_id, order.user_id, order.symbol,
                                      order.stop_price, last))
            order.stop_price = 0
            self._unregister(order)
            if order.order_type == STOP_MARKET:
                best = (book.ask_heap[0] if book.ask_heap else 0) if order.side == BUY else (
                    -book.bid_heap[0] if book.bid_heap else 0)
                if not best:
                    self._close(order, out, _UNFILLED)
                    continue
                band = band_price(best, order.side, book.symbol.market_protection_bps)
                if order.side == BUY:
                    order.price = min(band, order.price)
                else:
                    order.price = max(band, order.price)
            if order.tif == FOK and not self._fillable(book, order.user_id, order.side,
                                                       order.price, order.leaves, order.stp):
                self._close(order, out, _UNFILLED)
                continue
            self._execute(book, order, out)

    def _cancel(self, c: CancelOrder, out: list[Event]) -> None:
        """Cancel one open order of the user, by id or client id. O(1) (O(log L)
        amortised when its level empties)."""
        uid = c.user_id
        oid = c.order_id
        if oid == 0 and c.client_order_id:
            oid = self.client_ids.get((uid, c.client_order_id), 0)
        mine = self.user_orders.get(uid)
        order = mine.get(oid) if mine is not None else None
        if mine is None or order is None:
            out.append(OrderRejected(uid, Code.UNKNOWN_ORDER, message(Code.UNKNOWN_ORDER),
                                     c.client_order_id, c.order_id))
            return
        if order.stop_price:
            self._remove_open(order, out, CancelReason.USER)
            return
        # the everyday cancel of a resting order, inlined: book.unlink + _unregister + _close
        book = self.books[order.symbol]
        side, price = order.side, order.price  # the price as a Python int once
        level = (book.bids if side == BUY else book.asks)[price]
        level.remove(order)
        level.total -= order.visible
        level.count -= 1
        order.visible = 0
        if not level.count:
            book.drop_level(side, price)
        del mine[oid]
        if not mine:
            del self.user_orders[uid]
        if order.client_order_id:
            del self.client_ids[(uid, order.client_order_id)]
        out.append(_level_changed(order.symbol, side, price, level.total, level.count))
        released = order.hold
        if released and self.accounts_enabled:
            slot = book.quote_slot if side == BUY else book.base_slot
            account = self.accounts[uid]
            _move(account.balances, slot + 1, slot, released)
            order.hold = 0
        out.append(_cancelled(oid, uid, order.symbol, side, order.leaves, 0, _USER, released))

    def _cancel_all(self, c: CancelAll, out: list[Event]) -> None:
        """Cancel every open order of a user (of everyone for user 0), optionally of one
        symbol, oldest first. O(k log k) for the k orders looked at (every open order
        for user 0)."""
        uid = c.user_id
        symbol = c.symbol
        if symbol and symbol not in self.books:
            out.append(OrderRejected(uid, Code.UNKNOWN_SYMBOL, message(Code.UNKNOWN_SYMBOL),
                                     "", 0))
            return
        if uid:
            pool = self.user_orders.get(uid)
            if pool is None:
                return
        else:
            pool = {oid: o for each in self.user_orders.values() for oid, o in each.items()}
        # oldest first: by order id (an amended order keeps its id but is indexed anew)
        victims = [pool[oid] for oid in sorted(pool)]
        for order in victims:
            if symbol and order.symbol != symbol:
                continue
            self._remove_open(order, out, _CANCEL_ALL)

    def _find(self, uid: int, order_id: int, coid: str) -> tuple[Order | None, int]:
        """The user's open order by id (or client id when the id is 0). Orders are found
        through their owner, so another user's order is simply unknown (1012)."""
        if order_id == 0:
            order_id = self.client_ids.get((uid, coid), 0) if coid else 0
        mine = self.user_orders.get(uid)
        order = mine.get(order_id) if mine is not None else None
        if order is None:
            return None, Code.UNKNOWN_ORDER
        return order, Code.OK

    def _amend(self, c: AmendOrder, out: list[Event]) -> None:
        """Change a resting limit order's price and/or quantity. A smaller quantity at the
        same price keeps its place: O(1). Otherwise it leaves its queue and enters as a
        fresh order: O(1) plus ``_match``'s cost if it crosses (and the user's open orders
        when a position limit applies)."""
        order, code = self._find(c.user_id, c.order_id, "")
        if order is not None:
            code = self._check_amend(order, c)
        if order is None or code:
            out.append(OrderRejected(c.user_id, code, message(code), "", c.order_id))
            return
        book = self.books[order.symbol]
        sym = book.symbol
        price = c.price_ticks or order.price
        qty = c.qty_lots or order.qty
        leaves = qty - order.filled
        account = self.accounts.get(order.user_id) if self.accounts_enabled else None
        hold, delta = order.hold, 0
        if account is not None:
            if order.side == BUY:
                slot = book.quote_slot
                notional = price * leaves * sym.quote_per_tick_lot
                hold = notional + notional * order.fees.hold_ppm // PPM
            else:
                slot = book.base_slot
                hold = leaves * sym.base_per_lot
            delta = hold - order.hold
            balances = account.balances
            code = Code.OK
            if not _covers(balances, slot, delta):
                code = Code.INSUFFICIENT_FUNDS
            elif delta and order.side == BUY and self._position_limits and (
                    not within_position_limit(
                        self._position_limits, self.books, self.user_orders.get(c.user_id),
                        account, sym, leaves - order.leaves)):
                code = Code.POSITION_LIMIT_EXCEEDED
            if code:
                out.append(OrderRejected(c.user_id, code, message(code), "", c.order_id))
                return
            _move(balances, slot, slot + 1, delta)  # Account.hold, inlined
        if price == order.price and qty < order.qty:  # keeps its place in the queue
            level = (book.bids if order.side == BUY else book.asks)[price]
            visible = min(order.visible, leaves)
            level.total -= order.visible - visible
            order.visible, order.leaves, order.qty, order.hold = visible, leaves, qty, hold
            out.append(_amended(order.order_id, order.user_id, order.symbol, order.side,
                                    price, qty, leaves, True, delta))
            out.append(_level_changed(order.symbol, order.side, price, level.total, level.count))
            return
        # loses priority: unlinked from its queue; a fresh order enters at the back
        level = book.unlink(order)
        self._unregister(order)
        out.append(_level_changed(order.symbol, order.side, order.price, level.total,
                                    level.count))
        fresh = _new_order(order.order_id, order.user_id, order.symbol, order.side, price, qty,
                           leaves, leaves, order.display, hold, order.flags, 0, order.expire_ts,
                           order.client_order_id, order.fees)
        out.append(_amended(order.order_id, order.user_id, order.symbol, order.side,
                                price, qty, leaves, False, delta))
        self._execute_then_trigger(book, fresh, out)

    def _check_amend(self, order: Order, c: AmendOrder) -> int:
        book = self.books[order.symbol]
        sym = book.symbol
        if order.stop_price or (order.order_type != LIMIT and order.order_type != STOP_LIMIT):
            return Code.ORDER_NOT_AMENDABLE
        if self.halted:
            return Code.TRADING_HALTED
        if book.halted:
            return Code.SYMBOL_HALTED
        if c.price_ticks < 0 or c.price_ticks >= MAX_TICKS:
            return Code.INVALID_PRICE
        if c.qty_lots < 0 or c.qty_lots >= MAX_TICKS:
            return Code.INVALID_QUANTITY
        price = c.price_ticks or order.price
        qty = c.qty_lots or order.qty
        if price == order.price and qty == order.qty:
            return Code.AMEND_NO_CHANGE
        if qty <= order.filled:
            return Code.AMEND_BELOW_FILLED
        if qty > sym.max_qty_lots:
            return Code.QUANTITY_TOO_LARGE
        if qty < sym.min_qty_lots:
            return Code.QUANTITY_TOO_SMALL
        if order.display and order.display >= qty:
            return Code.INVALID_DISPLAY_QUANTITY
        if price * qty * sym.quote_per_tick_lot < sym.min_notional_minor:
            return Code.NOTIONAL_TOO_SMALL
        if price != order.price:
            if book.outside_band(price):
                return Code.PRICE_OUTSIDE_BAND
            if order.post_only and (
                (order.side == BUY and book.ask_heap and price >= book.ask_heap[0])
                or (order.side == SELL and book.bid_heap and price <= -book.bid_heap[0])
            ):
                return Code.POST_ONLY_WOULD_TAKE
        return Code.OK

    def _remove_open(self, order: Order, out: list[Event], reason: int) -> None:
        """Cancel an open order (resting or pending stop) in full."""
        if order.stop_price:
            self._unregister(order)  # its stop-heap entry is dropped lazily
            self._close(order, out, reason)
        else:
            self._remove_resting(self.books[order.symbol], order, out, reason)

    def _remove_resting(self, book: OrderBook, order: Order, out: list[Event], reason: int) -> None:
        level = book.unlink(order)
        self._unregister(order)
        out.append(_level_changed(order.symbol, order.side, order.price, level.total,
                                    level.count))
        self._close(order, out, reason)

    def _expire(self, ts_ns: int, out: list[Event], command: object = None) -> None:
        """Expire every GTD order with ``expire_ts <= ts_ns``, earliest first, then fire
        the P2P deadlines due by then (those of an outage being recorded by ``command``
        are judged without its downtime: it extends them first). O(log E) per expired
        order (E scheduled expiries)."""
        heap = self.expiries
        while heap and heap[0][0] <= ts_ns:
            _, oid, _, order = heappop(heap)
            if not self._is_open(order):
                continue  # gone already, or replaced by an amendment
            if order.stop_price:
                self._unregister(order)
            else:
                book = self.books[order.symbol]
                level = book.unlink(order)
                self._unregister(order)
                out.append(_level_changed(order.symbol, order.side, order.price, level.total,
                                            level.count))
            released = self._release_all(order)
            out.append(OrderExpired(oid, order.user_id, order.symbol, order.side, order.leaves,
                                     released))
        desk = self.p2p
        if desk.next_deadline <= ts_ns:
            desk.fire(ts_ns - desk.outage_downtime(command), out)
        self._reschedule()

    def _reschedule(self) -> None:
        """``_next_expiry``: the earlier of the next GTD expiry and the next P2P deadline."""
        heap = self.expiries
        first = heap[0][0] if heap else NEVER
        deadline = self.p2p.next_deadline
        self._next_expiry = first if first < deadline else deadline

    def _register(self, order: Order) -> None:
        """Index an order that stays open (resting or pending stop). O(1)."""
        mine = self.user_orders.get(order.user_id)
        if mine is None:
            mine = self.user_orders[order.user_id] = {}
        mine[order.order_id] = order
        if order.client_order_id:
            self.client_ids[(order.user_id, order.client_order_id)] = order.order_id
        if order.expire_ts:
            self._push_expiry(order)

    def _push_expiry(self, order: Order) -> None:
        self._expiry_serial += 1  # an amended order is pushed again under the same id
        heappush(self.expiries, (order.expire_ts, order.order_id, self._expiry_serial, order))
        if order.expire_ts < self._next_expiry:
            self._next_expiry = order.expire_ts

    def _unregister(self, order: Order) -> None:
        """Drop an order from the indexes (not from the book). O(1)."""
        uid = order.user_id
        mine = self.user_orders[uid]
        del mine[order.order_id]
        if not mine:
            del self.user_orders[uid]
        if order.client_order_id:
            del self.client_ids[(uid, order.client_order_id)]

    def _is_open(self, order: Order) -> bool:
        """Is this very object still the open order under its id? O(1)."""
        mine = self.user_orders.get(order.user_id)
        return mine is not None and mine.get(order.order_id) is order

    def _close(self, order: Order, out: list[Event], reason: int) -> None:
        """The order's open quantity is cancelled; release its hold and report it."""
        released = self._release_all(order)
        out.append(_cancelled(order.order_id, order.user_id, order.symbol, order.side,
                                  order.leaves, 0,
                                  reason, released))
        order.visible = 0

    def _release_all(self, order: Order) -> int:
        amount = order.hold
        if amount and self.accounts_enabled:
            self._release(self.accounts[order.user_id], order, amount)
        return amount

    def _release(self, account: Account, order: Order, amount: int) -> None:
        """Move ``amount`` of the order's hold back to available, by balance slot."""
        book = self.books[order.symbol]
        slot = book.quote_slot if order.side == BUY else book.base_slot
        _move(account.balances, slot + 1, slot, amount)
        order.hold -= amount

    def _wallet_reject(self, uid: int, code: int, command: object, out: list[Event]) -> None:
        out.append(CommandRejected(uid, code, message(code), type(command).__name__))

    def _account(self, uid: int) -> Account:
        account = self.accounts.get(uid)
        if account is None:
            n = 2 * len(self._slots)
            # C int64s compiled; interpreted, a list indexes faster than an array
            balances = array("q", bytes(8 * n)) if cython.compiled else [0] * n
            account = self.accounts[uid] = Account(uid, balances, self._slots)
        return account

    def _use_limits(self, limits: RiskLimits) -> None:
        self.limits = limits
        # a C integer compiled: no limit a count of orders can reach is lost by the cap
        self._max_open_orders = min(limits.max_open_orders, 2**62)
        self._position_limits = limits.position_limits_minor

    @property
    def orders(self) -> dict[int, Order]:
        """Every open order by id: a new dict, O(open orders). Orders are indexed per user
        only (one index less per resting order); use ``user_orders`` on hot paths."""
        return {oid: o for mine in self.user_orders.values() for oid, o in mine.items()}

    @property
    def open_order_count(self) -> int:
        """O(users)."""
        return sum(len(mine) for mine in self.user_orders.values())
