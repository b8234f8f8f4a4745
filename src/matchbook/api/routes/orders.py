"""Order entry and the caller's orders and fills: thin over the trading service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from matchbook.api import views
from matchbook.api.convert import symbol_of
from matchbook.api.deps import Reader, State, Trader
from matchbook.api.errors import ApiError
from matchbook.api.schemas import AmendOrderBody, NewOrder, OrderId, SymbolQuery
from matchbook.api.views import respond, schema
from matchbook.core import Code

router = APIRouter(tags=["trading"])
Limit = Annotated[int, Query(ge=1, le=1000)]


# A well-formed order is answered before it gets here, by matchbook.api.order_lane (the
# same checks and answer, without the framework's layers); this route answers the rest.
@router.post("/orders", status_code=201, response_model=schema(views.Order))
async def new_order(body: NewOrder, principal: Trader, state: State) -> views.ViewResponse:
    """Place an order; the answer is the order as this request left it (after
    matching), with the fills it made."""
    trading = state.trading
    order = await trading.place(trading.order_command(principal.user_id, body))
    return respond(order, 201)


@router.get("/orders", response_model=schema(list[views.Order]))
async def list_orders(principal: Reader, state: State,
                      status: Literal["open", "closed"] = "open",
                      symbol: SymbolQuery | None = None,
                      limit: Limit = 100) -> views.ViewResponse:
    """Your open orders (live, oldest first) or closed ones (from history, newest
    first)."""
    name = symbol_of(state.exchange.markets, symbol).name if symbol else ""
    if status == "open":
        symbols = state.exchange.markets.symbols
        return respond([views.order_of_live(symbols[o.symbol], o)
                        for o in state.reads.open_orders(principal.user_id, name)[-limit:]])
    return respond(await state.history.closed_orders(principal.user_id, name, limit))


@router.get("/orders/{order_id}", response_model=schema(views.Order))
async def get_order(order_id: OrderId, principal: Reader, state: State) -> views.ViewResponse:
    """One of your orders, open or closed, in the same shape either way."""
    uid = principal.user_id
    live = state.reads.open_order(uid, order_id)
    if live is not None:
        sym = state.exchange.markets.symbols[live.symbol]
        state_now = views.OrderState.of_order(live)  # before the read model's await
        row = await state.history.order_row(uid, order_id)
        return respond(views.order_of_state(sym, state_now, row))
    stored = await state.history.order(uid, order_id)
    if stored is None:
        raise ApiError(Code.UNKNOWN_ORDER, "No order of yours has this id.")
    return respond(stored)


@router.patch("/orders/{order_id}", response_model=schema(views.Order))
async def amend_order(order_id: OrderId, body: AmendOrderBody, principal: Trader,
                      state: State) -> views.ViewResponse:
    """New price and/or total quantity. Lowering the quantity keeps the order's place
    in the queue (``priority_kept``); a new price or a larger quantity loses it and may
    trade at once: the answer then has the fills (and status ``filled`` if it traded in
    full)."""
    return respond(await state.trading.amend(principal.user_id, order_id, body.price,
                                             body.quantity))


@router.delete("/orders/{order_id}", response_model=schema(views.Cancelled))
async def cancel_order(order_id: OrderId, principal: Trader,
                       state: State) -> views.ViewResponse:
    return respond(await state.trading.cancel(principal.user_id, order_id))


@router.delete("/orders", response_model=schema(views.CancelledAll))
async def cancel_all(principal: Trader, state: State,
                     symbol: SymbolQuery | None = None) -> views.ViewResponse:
    """Cancel your open orders on ``symbol``, or everywhere."""
    return respond(await state.trading.cancel_all(principal.user_id, symbol))


@router.get("/fills", response_model=schema(list[views.Fill]))
async def fills(principal: Reader, state: State, symbol: SymbolQuery | None = None,
                limit: Limit = 100) -> views.ViewResponse:
    """Your fills, newest first (from history)."""
    name = symbol_of(state.exchange.markets, symbol).name if symbol else ""
    return respond(await state.history.fills(principal.user_id, name, limit))
