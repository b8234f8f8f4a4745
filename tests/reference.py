"""A deliberately naive reference engine: the contract of ``docs/engine.md``, spelled out.

It exists to be obviously right, not fast. Every side of every book is a plain list of
orders; the best order is found by a linear scan on (price, arrival counter); an order
is found by scanning every list; nothing is cached, indexed or deleted lazily. The
differential tests feed it the same commands as ``matchbook.core.Engine`` and compare
what both say.

Covered: ``PlaceOrder`` (LIMIT, MARKET by quantity or by quote amount, STOP_LIMIT,
STOP_MARKET; GTC/IOC/FOK/GTD; post-only; iceberg; the four self-trade prevention modes),
``CancelOrder``, ``AmendOrder``, ``CancelAll``, ``AdvanceTime`` (GTD expiry) and, with
accounts, ``Deposit`` by user id, holds and fees in the quote asset. Not covered: fee
tiers, halts, suspensions, position limits, wallet addresses, withdrawals.

Public surface:

* ``apply(seq, ts_ns, command) -> (trades, code)``: the trades the command caused, as
  ``(trade_id, symbol, price_ticks, qty_lots, maker_order_id, taker_order_id,
  aggressor_side)``, and the rejection code (0 if the command was not rejected);
* ``book_view()``: per ``(symbol, side)`` the resting orders in priority order, as
  ``(order_id, user_id, price_ticks, leaves_lots, visible_lots)``;
* ``stops_view()``: pending stops, ``(order_id, user_id, symbol, side, stop, leaves)``;
* ``balances()``: ``{(user_id, asset): (available, held)}``, nonzero entries only; the
  fee account appears as user ``FEE_ACCOUNT`` (0) with its balance as ``available``;
* ``open_orders()``: every open order, for workload generators.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from matchbook.core import (
    AdvanceTime,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Deposit,
    Markets,
    PlaceOrder,
    Symbol,
)

Trade = tuple[int, str, int, int, int, int, int]
BookRow = tuple[int, int, int, int, int]
StopRow = tuple[int, int, str, int, int, int]

PPM = 1_000_000
FEE_ACCOUNT = 0

BUY, SELL = 1, 2
LIMIT, MARKET, STOP_LIMIT, STOP_MARKET = 1, 2, 3, 4
GTC, IOC, FOK, GTD = 1, 2, 3, 4
CANCEL_NEWEST, CANCEL_OLDEST, CANCEL_BOTH, DECREMENT = 1, 2, 3, 4

# result codes, written out from docs/engine.md and matchbook.core.codes
UNKNOWN_SYMBOL = 1001
INVALID_QUANTITY = 1002
INVALID_PRICE = 1003
INVALID_SIDE = 1004
INVALID_ORDER_TYPE = 1005
INVALID_TIME_IN_FORCE = 1006
INVALID_STOP_PRICE = 1007
INVALID_DISPLAY_QUANTITY = 1008
INVALID_EXPIRY = 1009
INVALID_STP_MODE = 1010
DUPLICATE_CLIENT_ORDER_ID = 1011
UNKNOWN_ORDER = 1012
ORDER_NOT_AMENDABLE = 1014
AMEND_NO_CHANGE = 1015
AMEND_BELOW_FILLED = 1016
INVALID_CLIENT_ORDER_ID = 1017
UNKNOWN_COMMAND = 1018
INVALID_USER = 1019
INVALID_QUOTE_QUANTITY = 1020
INSUFFICIENT_FUNDS = 2001
QUANTITY_TOO_SMALL = 2002
QUANTITY_TOO_LARGE = 2003
NOTIONAL_TOO_SMALL = 2004
PRICE_OUTSIDE_BAND = 2005
TOO_MANY_OPEN_ORDERS = 2006
POST_ONLY_WOULD_TAKE = 3001
FOK_NOT_FILLABLE = 3002
NO_LIQUIDITY = 3003
STOP_WOULD_TRIGGER = 3004
EXPIRED_ON_ARRIVAL = 3005
UNKNOWN_ASSET = 4001
INVALID_AMOUNT = 4002


@dataclass(slots=True, eq=False)
class RefOrder:
    """An open order. ``limit`` is the worst price it may trade at (for a market order,
    its protection band); ``arrival`` orders it within its price level. Orders compare
    by identity."""

    order_id: int
    user_id: int
    symbol: str
    side: int
    order_type: int
    limit: int
    qty: int
    leaves: int
    visible: int
    display: int
    tif: int
    stp: int
    post_only: bool
    stop: int  # > 0 while the stop waits for its trigger
    expire_ts_ns: int
    client_order_id: str
    hold: int
    arrival: int
    maker_ppm: int
    taker_ppm: int

    @property
    def filled(self) -> int:
        return self.qty - self.leaves


@dataclass(slots=True)
class RefBook:
    symbol: Symbol
    bids: list[RefOrder]
    asks: list[RefOrder]
    stops: list[RefOrder]
    last_price: int = 0


def _priority(order: RefOrder) -> tuple[int, int]:
    """Sort key: best price first (highest bid, lowest ask), then earliest arrival."""
    return (-order.limit if order.side == BUY else order.limit, order.arrival)


def _band_limit(price: int, side: int, bps: int) -> int:
    """The protection limit of a market order from ``price`` (docs: step 8)."""
    if side == BUY:
        return price * (10_000 + bps) // 10_000
    ceiling = (price * (10_000 - bps) + 9_999) // 10_000
    return max(1, ceiling)


def _fee(notional: int, rate_ppm: int) -> int:
    """``notional x rate / 10^6`` truncated toward zero (a negative rate is a rebate)."""
    if rate_ppm >= 0:
        return notional * rate_ppm // PPM
    return -(notional * -rate_ppm // PPM)


class Reference:
    """The naive engine. ``accounts=False`` is pure matching, as in ``Engine``."""

    def __init__(self, markets: Markets, *, accounts: bool = False,
                 max_open_orders: int = 1000) -> None:
        self.markets = markets
        self.accounts = accounts
        self.max_open_orders = max_open_orders
        self.books = {name: RefBook(sym, [], [], []) for name, sym in markets.symbols.items()}
        self.available: dict[tuple[int, str], int] = {}
        self.held: dict[tuple[int, str], int] = {}
        self.fees: dict[str, int] = {}
        self.next_order_id = 1
        self.next_trade_id = 1
        self.arrivals = 0
        self.now_ns = 0
        self.trades: list[Trade] = []

    # ------------------------------------------------------------------ entry point

    def apply(self, seq: int, ts_ns: int, command: object) -> tuple[list[Trade], int]:
        self.now_ns = ts_ns
        self.trades = []
        self._expire_due()
        if isinstance(command, PlaceOrder):
            code = self._place(command)
        elif isinstance(command, CancelOrder):
            code = self._cancel(command)
        elif isinstance(command, AmendOrder):
            code = self._amend(command)
        elif isinstance(command, CancelAll):
            code = self._cancel_all(command)
        elif isinstance(command, AdvanceTime):
            code = 0
        elif isinstance(command, Deposit):
            code = self._deposit(command)
        else:
            code = UNKNOWN_COMMAND
        return self.trades, code

    # ------------------------------------------------------------------ views

    def book_view(self) -> dict[tuple[str, int], list[BookRow]]:
        view = {}
        for name, book in self.books.items():
            for side, orders in ((BUY, book.bids), (SELL, book.asks)):
                view[(name, side)] = [
                    (o.order_id, o.user_id, o.limit, o.leaves, o.visible)
                    for o in sorted(orders, key=_priority)
                ]
        return view

    def stops_view(self) -> list[StopRow]:
        rows = [(o.order_id, o.user_id, o.symbol, o.side, o.stop, o.leaves)
                for book in self.books.values() for o in book.stops]
        return sorted(rows)

    def balances(self) -> dict[tuple[int, str], tuple[int, int]]:
        keys = set(self.available) | set(self.held)
        result = {}
        for key in keys:
            pair = (self.available.get(key, 0), self.held.get(key, 0))
            if pair != (0, 0):
                result[key] = pair
        for asset, amount in self.fees.items():
            if amount:
                result[(FEE_ACCOUNT, asset)] = (amount, 0)
        return result

    def open_orders(self) -> list[RefOrder]:
        return [o for book in self.books.values() for o in self._all_orders(book)]

    def last_price(self, symbol: str) -> int:
        return self.books[symbol].last_price

    # ------------------------------------------------------------------ small helpers

    @staticmethod
    def _all_orders(book: RefBook) -> Iterable[RefOrder]:
        yield from book.bids
        yield from book.asks
        yield from book.stops

    def _find(self, order_id: int) -> RefOrder | None:
        for book in self.books.values():
            for order in self._all_orders(book):
                if order.order_id == order_id:
                    return order
        return None

    def _find_by_client_id(self, user_id: int, client_order_id: str) -> RefOrder | None:
        for order in self.open_orders():
            if order.user_id == user_id and order.client_order_id == client_order_id:
                return order
        return None

    @staticmethod
    def _side_list(book: RefBook, side: int) -> list[RefOrder]:
        return book.bids if side == BUY else book.asks

    @staticmethod
    def _best(orders: list[RefOrder]) -> RefOrder | None:
        best = None
        for order in orders:
            if best is None or _priority(order) < _priority(best):
                best = order
        return best

    def _best_price(self, book: RefBook, side: int) -> int:
        best = self._best(self._side_list(book, side))
        return best.limit if best is not None else 0

    def _reference_price(self, book: RefBook) -> int:
        if book.last_price:
            return book.last_price
        bid, ask = self._best_price(book, BUY), self._best_price(book, SELL)
        if bid and ask:
            return (bid + ask) // 2
        return 0

    def _outside_band(self, book: RefBook, price: int) -> bool:
        ref = self._reference_price(book)
        return bool(ref) and abs(price - ref) * 10_000 > ref * book.symbol.price_band_bps

    def _enter_level(self, book: RefBook, order: RefOrder) -> None:
        """Put ``order`` at the back of its level (a fresh arrival number)."""
        self.arrivals += 1
        order.arrival = self.arrivals
        order.visible = min(order.display, order.leaves) if order.display else order.leaves
        self._side_list(book, order.side).append(order)

    def _hold_asset(self, sym: Symbol, side: int) -> str:
        return sym.quote.code if side == BUY else sym.base.code

    def _buy_hold(self, sym: Symbol, price: int, qty: int, maker_ppm: int, taker_ppm: int) -> int:
        notional = price * qty * sym.quote_per_tick_lot
        return notional + notional * max(maker_ppm, taker_ppm, 0) // PPM

    def _add(self, table: dict[tuple[int, str], int], key: tuple[int, str], amount: int) -> None:
        table[key] = table.get(key, 0) + amount

    def _release_rest(self, order: RefOrder) -> None:
        """The order is complete: whatever is left of its hold goes back to available."""
        if self.accounts and order.hold:
            key = (order.user_id, self._hold_asset(self.books[order.symbol].symbol, order.side))
            self._add(self.held, key, -order.hold)
            self._add(self.available, key, order.hold)
        order.hold = 0

    def _close(self, book: RefBook, order: RefOrder) -> None:
        """Remove an open order (resting or pending) and release its hold."""
        for orders in (book.bids, book.asks, book.stops):
            if order in orders:
                orders.remove(order)
        self._release_rest(order)

    # ------------------------------------------------------------------ expiry

    def _expire_due(self) -> None:
        now = self.now_ns
        due = [o for o in self.open_orders() if 0 < o.expire_ts_ns <= now]
        for order in sorted(due, key=lambda o: (o.expire_ts_ns, o.order_id)):
            self._close(self.books[order.symbol], order)

    # ------------------------------------------------------------------ place

    def _place(self, c: PlaceOrder) -> int:
        # 1.
        book = self.books.get(c.symbol)
        if book is None:
            return UNKNOWN_SYMBOL
        sym = book.symbol
        if c.user_id <= 0:
            return INVALID_USER
        if c.side not in (BUY, SELL):
            return INVALID_SIDE
        # 2.
        tif = c.tif
        if c.order_type in (LIMIT, STOP_LIMIT):
            if c.price_ticks <= 0:
                return INVALID_PRICE
            if tif not in (GTC, IOC, FOK, GTD):
                return INVALID_TIME_IN_FORCE
        elif c.order_type in (MARKET, STOP_MARKET):
            if c.price_ticks != 0:
                return INVALID_PRICE
            if tif == GTC:
                tif = IOC
            if tif not in (IOC, FOK):
                return INVALID_TIME_IN_FORCE
        else:
            return INVALID_ORDER_TYPE
        # 3.
        is_stop = c.order_type in (STOP_LIMIT, STOP_MARKET)
        if is_stop != (c.stop_price_ticks > 0):
            return INVALID_STOP_PRICE
        by_quote = c.quote_amount_minor != 0
        if by_quote:
            if not (c.order_type == MARKET and c.side == BUY and c.qty_lots == 0
                    and c.quote_amount_minor > 0):
                return INVALID_QUOTE_QUANTITY
            if c.quote_amount_minor < sym.min_notional_minor:
                return NOTIONAL_TOO_SMALL
        else:
            if c.qty_lots <= 0:
                return INVALID_QUANTITY
            if c.qty_lots < sym.min_qty_lots:
                return QUANTITY_TOO_SMALL
            if c.qty_lots > sym.max_qty_lots:
                return QUANTITY_TOO_LARGE
        # 4.
        if c.display_lots != 0 and not (
            c.order_type in (LIMIT, STOP_LIMIT) and tif in (GTC, GTD)
            and 0 < c.display_lots < c.qty_lots
        ):
            return INVALID_DISPLAY_QUANTITY
        if c.post_only and not (c.order_type == LIMIT and tif in (GTC, GTD)):
            return INVALID_ORDER_TYPE
        if (tif == GTD and c.expire_ts_ns <= 0) or (tif != GTD and c.expire_ts_ns != 0):
            return INVALID_EXPIRY
        if tif == GTD and c.expire_ts_ns <= self.now_ns:
            return EXPIRED_ON_ARRIVAL
        if c.stp not in (CANCEL_NEWEST, CANCEL_OLDEST, CANCEL_BOTH, DECREMENT):
            return INVALID_STP_MODE
        if len(c.client_order_id) > 64 or not all(ch.isprintable() for ch in c.client_order_id):
            return INVALID_CLIENT_ORDER_ID
        # 5.
        mine = [o for o in self.open_orders() if o.user_id == c.user_id]
        if c.client_order_id and any(o.client_order_id == c.client_order_id for o in mine):
            return DUPLICATE_CLIENT_ORDER_ID
        if len(mine) >= self.max_open_orders:
            return TOO_MANY_OPEN_ORDERS
        # 6.
        if c.order_type in (LIMIT, STOP_LIMIT):
            if c.price_ticks * c.qty_lots * sym.quote_per_tick_lot < sym.min_notional_minor:
                return NOTIONAL_TOO_SMALL
            if self._outside_band(book, c.price_ticks):
                return PRICE_OUTSIDE_BAND
        # 7.
        if is_stop and book.last_price:
            reached = (book.last_price >= c.stop_price_ticks if c.side == BUY
                       else book.last_price <= c.stop_price_ticks)
            if reached:
                return STOP_WOULD_TRIGGER
        # 8.
        limit = c.price_ticks
        opposite = SELL if c.side == BUY else BUY
        if c.order_type == MARKET:
            best = self._best_price(book, opposite)
            if not best:
                return NO_LIQUIDITY
            limit = _band_limit(best, c.side, sym.market_protection_bps)
        elif c.order_type == STOP_MARKET:
            limit = _band_limit(c.stop_price_ticks, c.side, sym.market_protection_bps)
        # 9.
        if c.post_only:
            best = self._best_price(book, opposite)
            if best and (c.price_ticks >= best if c.side == BUY else c.price_ticks <= best):
                return POST_ONLY_WOULD_TAKE
        maker_ppm = sym.fees.maker_ppm if self.accounts else 0
        taker_ppm = sym.fees.taker_ppm if self.accounts else 0
        # 10.
        qty = c.qty_lots
        if by_quote:
            qty = self._lots_for_budget(book, c.user_id, limit, c.quote_amount_minor, taker_ppm)
            if qty == 0:
                return NO_LIQUIDITY
        # 11.
        if tif == FOK and not is_stop and not self._fillable(book, c.user_id, c.side, limit,
                                                              qty, c.stp):
            return FOK_NOT_FILLABLE
        # 12.
        hold = 0
        hold_key = (c.user_id, self._hold_asset(sym, c.side))
        if self.accounts:
            if by_quote:
                hold = c.quote_amount_minor
            elif c.side == BUY:
                hold = self._buy_hold(sym, limit, qty, maker_ppm, taker_ppm)
            else:
                hold = qty * sym.base_per_lot
            if hold > self.available.get(hold_key, 0):
                return INSUFFICIENT_FUNDS
            self._add(self.available, hold_key, -hold)
            self._add(self.held, hold_key, hold)

        order = RefOrder(
            order_id=self.next_order_id, user_id=c.user_id, symbol=sym.name, side=c.side,
            order_type=c.order_type, limit=limit, qty=qty, leaves=qty, visible=0,
            display=c.display_lots, tif=tif, stp=c.stp, post_only=c.post_only,
            stop=c.stop_price_ticks, expire_ts_ns=c.expire_ts_ns,
            client_order_id=c.client_order_id, hold=hold, arrival=0,
            maker_ppm=maker_ppm, taker_ppm=taker_ppm,
        )
        self.next_order_id += 1
        if is_stop:
            book.stops.append(order)
            return 0
        traded = self._take(book, order)
        if traded:
            self._trigger_stops(book)
        return 0

    def _lots_for_budget(self, book: RefBook, user_id: int, limit: int, budget: int,
                         taker_ppm: int) -> int:
        """Docs step 10: walk the asks up to ``limit``; at each level take as many lots
        of other users' orders as the remaining budget pays for, taker fee included."""
        sym = book.symbol
        prices = sorted({o.limit for o in book.asks if o.limit <= limit})
        lots = 0
        for price in prices:
            offered = sum(o.leaves for o in book.asks
                          if o.limit == price and o.user_id != user_id)
            per_lot = price * sym.quote_per_tick_lot

            def cost(k: int, per_lot: int = per_lot) -> int:
                notional = k * per_lot
                return notional + notional * taker_ppm // PPM

            k = budget // per_lot  # an upper bound: the fee is never negative
            while k > 0 and cost(k) > budget:
                k -= 1
            take = min(k, offered)
            budget -= cost(take)
            lots += take
            if take < offered:
                break
        return lots

    def _fillable(self, book: RefBook, user_id: int, side: int, limit: int, qty: int,
                  stp: int) -> bool:
        """Docs, FOK fillability."""
        opposite = self._side_list(book, SELL if side == BUY else BUY)
        in_reach = sorted((o for o in opposite
                           if (o.limit <= limit if side == BUY else o.limit >= limit)),
                          key=_priority)
        need = qty
        prices = []
        for order in in_reach:
            if order.limit not in prices:
                prices.append(order.limit)
        for price in prices:
            level = [o for o in in_reach if o.limit == price]
            own_here = stp != CANCEL_OLDEST and any(o.user_id == user_id for o in level)
            for order in level:
                if order.user_id == user_id:
                    if own_here:
                        return False
                    continue
                need -= order.visible if own_here else order.leaves
                if need <= 0:
                    return True
        return need <= 0

    # ------------------------------------------------------------------ matching

    def _take(self, book: RefBook, taker: RefOrder) -> bool:
        """Run ``taker`` against the book, then rest or cancel its remainder.
        Returns whether anything traded."""
        opposite = self._side_list(book, SELL if taker.side == BUY else BUY)
        traded = False
        taker_cancelled = False
        while taker.leaves > 0:
            maker = self._best(opposite)
            if maker is None:
                break
            if taker.side == BUY and maker.limit > taker.limit:
                break
            if taker.side == SELL and maker.limit < taker.limit:
                break
            if maker.user_id == taker.user_id:
                mode = taker.stp
                if mode == CANCEL_NEWEST:
                    taker_cancelled = True
                    break
                if mode == CANCEL_OLDEST:
                    self._close(book, maker)
                    continue
                if mode == CANCEL_BOTH:
                    self._close(book, maker)
                    taker_cancelled = True
                    break
                # both orders shrink by d: their quantities, not their fills
                d = min(taker.leaves, maker.leaves)
                taker.qty -= d
                taker.leaves -= d
                maker.qty -= d
                maker.leaves -= d
                maker.visible = min(maker.visible, maker.leaves)
                if maker.leaves == 0:
                    self._close(book, maker)
                if taker.leaves == 0:
                    taker_cancelled = True
                    break
                continue
            fill = min(taker.leaves, maker.visible)
            self._fill(book, maker, taker, fill)
            traded = True
            if maker.visible == 0:
                if maker.leaves > 0:  # iceberg: a new peak at the back of the level
                    opposite.remove(maker)
                    self._enter_level(book, maker)
                else:
                    opposite.remove(maker)
                    self._release_rest(maker)
        if taker_cancelled or taker.leaves == 0:
            self._release_rest(taker)
            return traded
        if taker.order_type in (LIMIT, STOP_LIMIT) and taker.tif in (GTC, GTD):
            self._enter_level(book, taker)
        else:
            self._release_rest(taker)
        return traded

    def _fill(self, book: RefBook, maker: RefOrder, taker: RefOrder, fill: int) -> None:
        sym = book.symbol
        price = maker.limit
        maker.visible -= fill
        maker.leaves -= fill
        taker.leaves -= fill
        book.last_price = price
        self.trades.append((self.next_trade_id, sym.name, price, fill, maker.order_id,
                            taker.order_id, taker.side))
        self.next_trade_id += 1
        if not self.accounts:
            return
        notional = price * fill * sym.quote_per_tick_lot
        base_amount = fill * sym.base_per_lot
        maker_fee = _fee(notional, maker.maker_ppm)
        taker_fee = _fee(notional, taker.taker_ppm)
        buyer, seller = (taker, maker) if taker.side == BUY else (maker, taker)
        buyer_fee, seller_fee = (taker_fee, maker_fee) if taker.side == BUY else (
            maker_fee, taker_fee)
        quote, base = sym.quote.code, sym.base.code
        # the buyer pays notional + fee out of the order's hold and receives the base
        buyer.hold -= notional + buyer_fee
        self._add(self.held, (buyer.user_id, quote), -(notional + buyer_fee))
        self._add(self.available, (buyer.user_id, base), base_amount)
        # the seller delivers the base out of the hold and receives notional - fee
        seller.hold -= base_amount
        self._add(self.held, (seller.user_id, base), -base_amount)
        self._add(self.available, (seller.user_id, quote), notional - seller_fee)
        self.fees[quote] = self.fees.get(quote, 0) + maker_fee + taker_fee

    def _trigger_stops(self, book: RefBook) -> None:
        while True:
            last = book.last_price
            buys = [o for o in book.stops if o.side == BUY and last >= o.stop]
            sells = [o for o in book.stops if o.side == SELL and last <= o.stop]
            buy = min(buys, key=lambda o: (o.stop, o.order_id)) if buys else None
            sell = min(sells, key=lambda o: (-o.stop, o.order_id)) if sells else None
            candidates = [o for o in (buy, sell) if o is not None]
            if not candidates:
                return
            order = min(candidates, key=lambda o: o.order_id)
            book.stops.remove(order)
            order.stop = 0
            if order.order_type == STOP_MARKET:
                best = self._best_price(book, SELL if order.side == BUY else BUY)
                if not best:
                    self._release_rest(order)
                    continue
                band = _band_limit(best, order.side, book.symbol.market_protection_bps)
                order.limit = min(order.limit, band) if order.side == BUY else max(
                    order.limit, band)
            if order.tif == FOK and not self._fillable(book, order.user_id, order.side,
                                                       order.limit, order.leaves, order.stp):
                self._release_rest(order)
                continue
            self._take(book, order)

    # ------------------------------------------------------------------ cancel

    def _cancel(self, c: CancelOrder) -> int:
        if c.order_id == 0:
            order = (self._find_by_client_id(c.user_id, c.client_order_id)
                     if c.client_order_id else None)
        else:
            order = self._find(c.order_id)
        if order is None:
            return UNKNOWN_ORDER
        if order.user_id != c.user_id:
            return UNKNOWN_ORDER  # found through the owner: another's order is unknown
        self._close(self.books[order.symbol], order)
        return 0

    def _cancel_all(self, c: CancelAll) -> int:
        if c.symbol and c.symbol not in self.books:
            return UNKNOWN_SYMBOL
        victims = [o for o in self.open_orders()
                   if (c.user_id == 0 or o.user_id == c.user_id)
                   and (not c.symbol or o.symbol == c.symbol)]
        for order in sorted(victims, key=lambda o: o.order_id):
            self._close(self.books[order.symbol], order)
        return 0

    # ------------------------------------------------------------------ amend

    def _amend(self, c: AmendOrder) -> int:
        order = self._find(c.order_id) if c.order_id > 0 else None
        if order is None:
            return UNKNOWN_ORDER
        if order.user_id != c.user_id:
            return UNKNOWN_ORDER
        if order.stop:
            return ORDER_NOT_AMENDABLE
        if c.price_ticks < 0:
            return INVALID_PRICE
        if c.qty_lots < 0:
            return INVALID_QUANTITY
        book = self.books[order.symbol]
        sym = book.symbol
        price = c.price_ticks or order.limit
        qty = c.qty_lots or order.qty
        if price == order.limit and qty == order.qty:
            return AMEND_NO_CHANGE
        if qty <= order.filled:
            return AMEND_BELOW_FILLED
        # the checks of a new order, in the same order
        if qty < sym.min_qty_lots:
            return QUANTITY_TOO_SMALL
        if qty > sym.max_qty_lots:
            return QUANTITY_TOO_LARGE
        if order.display and not order.display < qty:
            return INVALID_DISPLAY_QUANTITY
        if price * qty * sym.quote_per_tick_lot < sym.min_notional_minor:
            return NOTIONAL_TOO_SMALL
        if price != order.limit and self._outside_band(book, price):  # only a new price
            return PRICE_OUTSIDE_BAND
        if order.post_only:
            best = self._best_price(book, SELL if order.side == BUY else BUY)
            if best and (price >= best if order.side == BUY else price <= best):
                return POST_ONLY_WOULD_TAKE
        leaves = qty - order.filled
        if self.accounts:
            if order.side == BUY:
                hold = self._buy_hold(sym, price, leaves, order.maker_ppm, order.taker_ppm)
            else:
                hold = leaves * sym.base_per_lot
            key = (order.user_id, self._hold_asset(sym, order.side))
            delta = hold - order.hold
            if delta > self.available.get(key, 0):
                return INSUFFICIENT_FUNDS
            self._add(self.available, key, -delta)
            self._add(self.held, key, delta)
            order.hold = hold
        if price == order.limit and qty < order.qty:
            order.qty = qty
            order.leaves = leaves
            order.visible = min(order.visible, leaves)
            return 0
        self._side_list(book, order.side).remove(order)
        order.limit = price
        order.qty = qty
        order.leaves = leaves
        if self._take(book, order):
            self._trigger_stops(book)
        return 0

    # ------------------------------------------------------------------ wallets

    def _deposit(self, c: Deposit) -> int:
        if c.asset not in self.markets.assets:
            return UNKNOWN_ASSET
        if c.amount_minor <= 0:
            return INVALID_AMOUNT
        if c.user_id <= 0:
            return UNKNOWN_COMMAND  # deposits by wallet address are not modelled here
        self._add(self.available, (c.user_id, c.asset), c.amount_minor)
        return 0
