"""The simple endpoints on BTC/USD, kept in their original shape for simple clients."""

from __future__ import annotations

from fastapi import APIRouter

from matchbook.api import convert, views
from matchbook.api.deps import State, Trader
from matchbook.api.errors import ApiError
from matchbook.api.schemas import SimpleOrder
from matchbook.api.views import respond, schema
from matchbook.core import PlaceOrder
from matchbook.core.commands import LIMIT

router = APIRouter(prefix="/api", tags=["simple"])
SYMBOL = "BTC-USD"


@router.get("/health", response_model=schema(views.SimpleHealth))
async def health() -> views.ViewResponse:
    return respond(views.SimpleHealth(service="matchbook", status="healthy"))


@router.post("/orders", response_model=schema(views.SimpleOrderResult))
async def simple_order(body: SimpleOrder, principal: Trader,
                       state: State) -> views.ViewResponse:
    """A GTC limit order on BTC/USD. A refused order is answered in the same shape
    (``success`` false, the error's ``code``) with the error's HTTP status."""
    sym = state.exchange.markets.symbols[SYMBOL]
    try:
        command = PlaceOrder(principal.user_id, SYMBOL, convert.SIDES[body.side], LIMIT,
                             qty_lots=convert.lots(sym, body.quantity, "quantity"),
                             price_ticks=convert.ticks(sym, body.price, "price"))
        order = await state.trading.place(command)
    except ApiError as exc:
        return respond(views.SimpleOrderResult(success=False, order_id=None,
                                               message=exc.message, code=exc.code),
                       exc.status)
    return respond(views.SimpleOrderResult(
        success=True, order_id=order.order_id,
        message=f"Order {order.order_id} {order.status}: {order.filled_quantity} of "
                f"{order.quantity} filled.", status=order.status))


@router.get("/orderbook", response_model=schema(views.SimpleBook))
async def orderbook(state: State, depth: int = 20) -> views.ViewResponse:
    return respond(state.market.simple_book(SYMBOL, max(1, min(depth, 500))))
