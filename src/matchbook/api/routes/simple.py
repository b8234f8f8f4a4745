"""The simple endpoints on BTC/USD, kept in their original shape for simple clients."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from matchbook.api import convert
from matchbook.api.deps import State, Trader
from matchbook.api.errors import ApiError
from matchbook.api.routes.orders import place
from matchbook.api.schemas import SimpleOrder
from matchbook.core import PlaceOrder
from matchbook.core.commands import LIMIT

router = APIRouter(prefix="/api", tags=["simple"])
SYMBOL = "BTC-USD"


@router.get("/health")
async def health() -> dict[str, str]:
    return {"service": "matchbook", "status": "healthy"}


@router.post("/orders", response_model=None)
async def simple_order(body: SimpleOrder, principal: Trader,
                       state: State) -> dict[str, Any] | JSONResponse:
    sym = state.exchange.markets.symbols[SYMBOL]
    try:
        command = PlaceOrder(principal.user_id, SYMBOL, convert.SIDES[body.side], LIMIT,
                             qty_lots=convert.lots(sym, body.quantity, "quantity"),
                             price_ticks=convert.ticks(sym, body.price, "price"))
        view = await place(state.exchange, command)
    except ApiError as exc:
        return JSONResponse({"success": False, "order_id": None, "message": exc.message,
                             "code": exc.code}, status_code=exc.status)
    filled = view["filled_quantity"]
    return {"success": True, "order_id": view["order_id"],
            "message": f"Order {view['order_id']} {view['status']}: {filled} of "
                       f"{view['quantity']} filled.",
            "status": view["status"]}


@router.get("/orderbook")
async def orderbook(state: State, depth: int = 20) -> dict[str, Any]:
    sym = state.exchange.markets.symbols[SYMBOL]
    _, bids, asks = state.exchange.marketdata.feeds[SYMBOL].depth(max(1, min(depth, 500)))
    return book_message(sym, bids, asks) | {"symbol": "BTC/USD"}


def book_message(sym: Any, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
                 ) -> dict[str, Any]:
    best_bid = bids[0][0] if bids else 0
    best_ask = asks[0][0] if asks else 0
    return {
        "bids": [[sym.format_price(p), convert.plain(sym.lots_to_qty(q))] for p, q in bids],
        "asks": [[sym.format_price(p), convert.plain(sym.lots_to_qty(q))] for p, q in asks],
        "best_bid": sym.format_price(best_bid) if best_bid else None,
        "best_ask": sym.format_price(best_ask) if best_ask else None,
        "spread": sym.format_price(best_ask - best_bid) if best_bid and best_ask else None,
    }
