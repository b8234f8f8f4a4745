"""The trading service: place, amend, cancel and cancel-all, for REST and WebSocket alike.

Each answer is built from the events of the command itself (``views.order_after``),
never from the live engine after the ``await``: the sequencer applies a whole batch
before any caller resumes, so by then the live order may show later commands' fills,
or be gone. What the answer needs that those events do not carry (an amended order's
side, type, time in force...) is read from the live order before the command is
submitted; those fields never change while the order lives.

Rejections are raised as ``ApiError`` with the engine's code and sentence.
"""

from __future__ import annotations

from matchbook.api import views
from matchbook.api.convert import SIDES, STPS, TIFS, TYPES, accepted, lots, minor, symbol_of, ticks
from matchbook.api.errors import ApiCode, ApiError
from matchbook.api.reads import Reads
from matchbook.api.schemas import NewOrder, NewOrderFields
from matchbook.core import AmendOrder, CancelAll, CancelOrder, Code, PlaceOrder, Symbol
from matchbook.core.events import Event, OrderAccepted, OrderAmended, OrderCancelled
from matchbook.runtime.exchange import Exchange
from matchbook.runtime.sequencer import Completion, Result

MAX_SPELLINGS = 1024  # spellings of symbol names remembered (``BTC-USD``, ``btc/usd``...)


class Trading:
    """Order entry on one running exchange."""

    def __init__(self, exchange: Exchange, reads: Reads) -> None:
        self.exchange = exchange
        self.reads = reads
        self.symbols = exchange.markets.symbols
        self._named: dict[str, Symbol] = {}  # symbols by the spellings orders used

    # -- place -----------------------------------------------------------------------

    def order_command(self, user_id: int, body: NewOrder | NewOrderFields) -> PlaceOrder:
        """The engine command for an order request; raises ``ApiError`` on bad decimals,
        an unknown symbol or a GTD order without its expiry."""
        markets = self.exchange.markets
        sym = self._named.get(body.symbol)
        if sym is None:
            sym = symbol_of(markets, body.symbol)
            if len(self._named) < MAX_SPELLINGS:
                self._named[body.symbol] = sym
        quote_amount = 0
        if body.quote_quantity is not None:
            quote_amount = minor(markets, sym.quote.code, body.quote_quantity, "quote_quantity")
        if body.time_in_force == "gtd" and body.expire_time_ns is None:
            raise ApiError(Code.INVALID_EXPIRY, "A GTD order needs expire_time_ns.")
        return PlaceOrder(
            user_id=user_id, symbol=sym.name, side=SIDES[body.side],
            order_type=TYPES[body.type], qty_lots=lots(sym, body.quantity, "quantity"),
            price_ticks=ticks(sym, body.price, "price"), tif=TIFS[body.time_in_force],
            post_only=body.post_only, stop_price_ticks=ticks(sym, body.stop_price, "stop_price"),
            display_lots=lots(sym, body.display_quantity, "display_quantity"),
            client_order_id=body.client_order_id or "", stp=STPS[body.self_trade_prevention],
            expire_ts_ns=body.expire_time_ns or 0, quote_amount_minor=quote_amount)

    async def place(self, command: PlaceOrder) -> views.Order:
        """Submit ``command``; the order as that command left it, with its fills."""
        return self.placed(command, await self.exchange.submit(command))

    def place_nowait(self, command: PlaceOrder, completion: Completion) -> None:
        """Queue ``command``; ``completion.set_result(result)`` follows (turn the
        result into the answer with ``placed``). No task or future per order."""
        self.exchange.submit_nowait(command, completion)

    def placed(self, command: PlaceOrder, result: Result) -> views.Order:
        """The answer to ``command`` from its ``result``; raises its rejection."""
        events = result.events
        first = events[0]  # a place's first event: accepted, or its rejection
        if type(first) is not OrderAccepted:
            accepted(events)  # raises the rejection
            first = _first(events, OrderAccepted)
        assert isinstance(first, OrderAccepted)
        state = views.OrderState.of_accepted(first, result.ts_ns)
        return views.order_after(self.symbols[command.symbol], state, events, result.ts_ns)

    # -- amend -----------------------------------------------------------------------

    async def amend(self, user_id: int, order_id: int, price: str | None,
                    quantity: str | None) -> views.Order:
        """New price and/or total quantity of an open order; the order as the amend
        left it (``filled`` when the amended order traded in full), with the fills the
        amend caused and ``priority_kept``."""
        live = self.reads.open_order(user_id, order_id)
        if live is None:
            raise ApiError(Code.UNKNOWN_ORDER, "No open order of yours has this id.")
        if price is None and quantity is None:
            raise ApiError(ApiCode.VALIDATION, "Give a new price, a new quantity or both.")
        sym = self.symbols[live.symbol]
        state = views.OrderState.of_order(live)  # now: nothing of it is read after the await
        command = AmendOrder(user_id, order_id, ticks(sym, price, "price"),
                             lots(sym, quantity, "quantity"))
        result = await self.exchange.submit(command)
        events = accepted(result.events)
        amended = _first(events, OrderAmended)
        assert isinstance(amended, OrderAmended)
        return views.order_after(sym, state, events, result.ts_ns, amended.priority_kept)

    # -- cancel ----------------------------------------------------------------------

    async def cancel(self, user_id: int, order_id: int) -> views.Cancelled:
        result = await self.exchange.submit(CancelOrder(user_id, order_id))
        cancelled = _first(accepted(result.events), OrderCancelled)
        assert isinstance(cancelled, OrderCancelled)
        sym = self.symbols[cancelled.symbol]
        return views.Cancelled(order_id=str(order_id), symbol=sym.name,
                               cancelled_quantity=sym.format_qty(cancelled.cancelled_lots))

    async def cancel_all(self, user_id: int, symbol: str | None) -> views.CancelledAll:
        """Cancel ``user_id``'s open orders on ``symbol`` (None: everywhere)."""
        name = symbol_of(self.exchange.markets, symbol).name if symbol else ""
        result = await self.exchange.submit(CancelAll(user_id, name))
        ids = [str(e.order_id) for e in accepted(result.events) if type(e) is OrderCancelled]
        return views.CancelledAll(cancelled=ids, count=len(ids))

    def symbol(self, name: str) -> Symbol:
        return symbol_of(self.exchange.markets, name)


def _first(events: list[Event], kind: type[Event]) -> Event:
    return next(e for e in events if type(e) is kind)
