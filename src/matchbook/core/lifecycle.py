"""An open order's life after it is placed: amend, cancel-all (the everyday cancel
and expiry are on the hot path, ``core/matching.py``)."""

from __future__ import annotations

from collections.abc import Iterable

from matchbook.core.book import Order
from matchbook.core.codes import Code, message
from matchbook.core.commands import (
    BUY,
    LIMIT,
    SELL,
    STOP_LIMIT,
    AmendOrder,
    CancelAll,
)
from matchbook.core.events import (
    BookLevelChanged,
    CancelReason,
    Event,
    OrderAmended,
    OrderRejected,
)
from matchbook.core.matching import MatchingCore
from matchbook.core.risk import MAX_TICKS, within_position_limit
from matchbook.core.symbols import PPM


class Lifecycle(MatchingCore):
    """Amend and cancel-all."""

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

    def _cancel_all(self, c: CancelAll, out: list[Event]) -> None:
        symbol = c.symbol
        if symbol and symbol not in self.books:
            out.append(OrderRejected(c.user_id, Code.UNKNOWN_SYMBOL,
                                     message(Code.UNKNOWN_SYMBOL), "", 0))
            return
        if c.user_id:
            pool: Iterable[Order] = self.user_orders.get(c.user_id, {}).values()
        else:
            pool = [o for mine in self.user_orders.values() for o in mine.values()]
        victims = sorted((o for o in pool if not symbol or o.symbol == symbol),
                         key=lambda o: o.order_id)
        for order in victims:
            self._remove_open(order, out, CancelReason.CANCEL_ALL)

    def _amend(self, c: AmendOrder, out: list[Event]) -> None:
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
                asset = book.quote_code
                notional = price * leaves * sym.quote_per_tick_lot
                hold = notional + notional * order.fees.hold_ppm // PPM
            else:
                asset = book.base_code
                hold = leaves * sym.base_per_lot
            delta = hold - order.hold
            code = Code.OK
            if delta > account.free(asset):
                code = Code.INSUFFICIENT_FUNDS
            elif delta and order.side == BUY and self._position_limits and (
                    not within_position_limit(
                        self._position_limits, self.books, self.user_orders.get(c.user_id),
                        account, sym, leaves - order.leaves)):
                code = Code.POSITION_LIMIT_EXCEEDED
            if code:
                out.append(OrderRejected(c.user_id, code, message(code), "", c.order_id))
                return
            account.hold(asset, delta)
        if price == order.price and qty < order.qty:  # keeps its place in the queue
            level = (book.bids if order.side == BUY else book.asks)[price]
            visible = min(order.visible, leaves)
            level.total -= order.visible - visible
            order.visible, order.leaves, order.qty, order.hold = visible, leaves, qty, hold
            out.append(OrderAmended(order.order_id, order.user_id, order.symbol, order.side,
                                    price, qty, leaves, True, delta))
            out.append(BookLevelChanged(order.symbol, order.side, price, level.total, level.count))
            return
        # loses priority: unlinked from its queue; a fresh order enters at the back
        level = book.unlink(order)
        self._unregister(order)
        out.append(BookLevelChanged(order.symbol, order.side, order.price, level.total,
                                    level.count))
        fresh = Order(order.order_id, order.user_id, order.symbol, order.side, price, qty,
                      leaves, leaves, order.display, hold, order.flags, 0, order.expire_ts,
                      order.client_order_id, order.fees)
        out.append(OrderAmended(order.order_id, order.user_id, order.symbol, order.side,
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
