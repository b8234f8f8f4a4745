"""Public market data: no sign-in needed. Thin over the market-data service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from matchbook.api import views
from matchbook.api.deps import State
from matchbook.api.schemas import Interval, SymbolQuery
from matchbook.api.views import respond, schema

router = APIRouter(tags=["market data"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Nanoseconds = Annotated[int, Query(ge=0, le=2**62)]


@router.get("/health", response_model=schema(views.Health))
async def health(state: State) -> views.ViewResponse:
    return respond(state.market.health())


@router.get("/symbols", response_model=schema(list[views.SymbolInfo]))
async def symbols(state: State) -> views.ViewResponse:
    return respond(state.market.symbols())


@router.get("/assets", response_model=schema(list[views.AssetInfo]))
async def assets(state: State) -> views.ViewResponse:
    return respond(state.market.assets())


@router.get("/depth", response_model=schema(views.Depth))
async def depth(state: State, symbol: SymbolQuery = "BTC-USD",
                limit: Limit = 50) -> views.ViewResponse:
    return respond(state.market.depth(symbol, limit))


@router.get("/trades", response_model=schema(list[views.Trade]))
async def trades(state: State, symbol: SymbolQuery = "BTC-USD",
                 limit: Limit = 100) -> views.ViewResponse:
    """Recent public trades, newest first."""
    return respond(state.market.trades(symbol, limit))


@router.get("/ticker", response_model=schema(views.Ticker))
async def ticker(state: State, symbol: SymbolQuery = "BTC-USD") -> views.ViewResponse:
    return respond(state.market.ticker(symbol))


@router.get("/candles", response_model=schema(list[views.Candle]))
async def candles(state: State, symbol: SymbolQuery = "BTC-USD", interval: Interval = "1m",
                  start: Nanoseconds = 0, end: Nanoseconds = 2**62,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> views.ViewResponse:
    """OHLCV candles of the last ``limit`` intervals before ``end`` (default: up to now),
    from ``start`` at the earliest, oldest first; intervals without trades are absent.
    ``start``/``end`` are nanoseconds since the epoch. What memory no longer keeps comes
    from the read model, so a request reads at most ``limit`` intervals of trades."""
    return respond(await state.market.candles(symbol, interval, start, end, limit))
