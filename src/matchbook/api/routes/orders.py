"""Order entry and the caller's orders and fills."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from matchbook.api import convert
from matchbook.api.convert import TIFS, TYPES, lots, symbol_of, ticks
from matchbook.api.deps import Reader, State, Trader
from matchbook.api.errors import ApiCode, ApiError
from matchbook.api.schemas import AmendOrderBody, NewOrder, OrderId
from matchbook.api.store_reads import closed_orders, find_order, user_fills
from matchbook.core import AmendOrder, CancelAll, CancelOrder, Code, PlaceOrder
from matchbook.core.events import OrderAmended, OrderCancelled
from matchbook.runtime.exchange import Exchange

router = APIRouter(tags=["trading"])


def build_order(exchange: Exchange, user_id: int, body: NewOrder) -> PlaceOrder:
    """The engine command for an order request; raises ``ApiError`` on bad decimals."""
    sym = symbol_of(exchange.markets, body.symbol)
    quote_amount = 0
    if body.quote_quantity is not None:
        quote_amount = convert.minor(exchange.markets, sym.quote.code, body.quote_quantity,
                                     "quote_quantity")
    if body.time_in_force == "gtd" and body.expire_time_ns is None:
        raise ApiError(Code.INVALID_EXPIRY, "A GTD order needs expire_time_ns.")
    return PlaceOrder(
        user_id=user_id, symbol=sym.name, side=convert.SIDES[body.side],
        order_type=TYPES[body.type], qty_lots=lots(sym, body.quantity, "quantity"),
        price_ticks=ticks(sym, body.price, "price"), tif=TIFS[body.time_in_force],
        post_only=body.post_only, stop_price_ticks=ticks(sym, body.stop_price, "stop_price"),
        display_lots=lots(sym, body.display_quantity, "display_quantity"),
        client_order_id=body.client_order_id or "", stp=convert.STPS[body.self_trade_prevention],
        expire_ts_ns=body.expire_time_ns or 0, quote_amount_minor=quote_amount)


async def place(exchange: Exchange, command: PlaceOrder) -> dict[str, Any]:
    result = await exchange.submit(command)
    return convert.placed_view(exchange.markets.symbols[command.symbol], result.events)


@router.post("/orders", status_code=201)
async def new_order(body: NewOrder, principal: Trader, state: State) -> dict[str, Any]:
    return await place(state.exchange, build_order(state.exchange, principal.user_id, body))


@router.get("/orders")
async def list_orders(principal: Reader, state: State,
                      status: Literal["open", "closed"] = "open", symbol: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    exchange = state.exchange
    name = symbol_of(exchange.markets, symbol).name if symbol else ""
    if status == "open":
        orders = exchange.engine.open_orders(principal.user_id, name)[-limit:]
        return [convert.order_view(exchange.markets.symbols[o.symbol], o) for o in orders]
    return await closed_orders(state, principal.user_id, name, limit)


@router.get("/orders/{order_id}")
async def get_order(order_id: OrderId, principal: Reader, state: State) -> dict[str, Any]:
    exchange = state.exchange
    live = exchange.engine.user_orders.get(principal.user_id, {}).get(order_id)
    if live is not None:
        return convert.order_view(exchange.markets.symbols[live.symbol], live)
    stored = await find_order(state, principal.user_id, order_id)
    if stored is None:
        raise ApiError(Code.UNKNOWN_ORDER, "No order of yours has this id.")
    return stored


@router.patch("/orders/{order_id}")
async def amend_order(order_id: OrderId, body: AmendOrderBody, principal: Trader,
                      state: State) -> dict[str, Any]:
    exchange = state.exchange
    live = exchange.engine.user_orders.get(principal.user_id, {}).get(order_id)
    if live is None:
        raise ApiError(Code.UNKNOWN_ORDER, "No open order of yours has this id.")
    if body.price is None and body.quantity is None:
        raise ApiError(ApiCode.VALIDATION, "Give a new price, a new quantity or both.")
    sym = exchange.markets.symbols[live.symbol]
    result = await exchange.submit(AmendOrder(principal.user_id, order_id,
                                              ticks(sym, body.price, "price"),
                                              lots(sym, body.quantity, "quantity")))
    convert.accepted(result.events)
    amended = next(e for e in result.events if type(e) is OrderAmended)
    assert isinstance(amended, OrderAmended)
    now = exchange.engine.user_orders.get(principal.user_id, {}).get(order_id)
    view = convert.order_view(sym, now) if now is not None else {
        "order_id": str(order_id), "status": "filled"}
    view["priority_kept"] = amended.priority_kept
    return view


@router.delete("/orders/{order_id}")
async def cancel_order(order_id: OrderId, principal: Trader, state: State) -> dict[str, Any]:
    result = await state.exchange.submit(CancelOrder(principal.user_id, order_id))
    convert.accepted(result.events)
    cancelled = next(e for e in result.events if type(e) is OrderCancelled)
    assert isinstance(cancelled, OrderCancelled)
    sym = state.exchange.markets.symbols[cancelled.symbol]
    return {"order_id": str(order_id), "status": "cancelled",
            "cancelled_quantity": sym.format_qty(cancelled.cancelled_lots)}


@router.delete("/orders")
async def cancel_all(principal: Trader, state: State,
                     symbol: str | None = None) -> dict[str, Any]:
    name = symbol_of(state.exchange.markets, symbol).name if symbol else ""
    result = await state.exchange.submit(CancelAll(principal.user_id, name))
    convert.accepted(result.events)
    ids = [str(e.order_id) for e in result.events if type(e) is OrderCancelled]
    return {"cancelled": ids, "count": len(ids)}


@router.get("/fills")
async def fills(principal: Reader, state: State, symbol: str | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    name = symbol_of(state.exchange.markets, symbol).name if symbol else ""
    return await user_fills(state, principal.user_id, name, limit)
