"""The FastAPI application: REST under ``/api/v1``, WebSocket under ``/ws``, ``/metrics``.

``create_app(settings)`` builds the app; its lifespan starts the exchange's pipeline
(:mod:`matchbook.runtime.exchange`: recovery, sequencer, market data, SQL projector,
metrics), attaches the WebSocket hub to it, and on shutdown stops it in reverse.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from matchbook.api import errors, metrics, static
from matchbook.api.auth import LoginThrottle, RateLimiter, Tokens
from matchbook.api.deps import ApiState
from matchbook.api.guard import Guard
from matchbook.api.order_lane import PATH as ORDERS_PATH
from matchbook.api.order_lane import OrderFront, OrderLane
from matchbook.api.p2p_clock import DeadlineClock
from matchbook.api.routes import (
    admin,
    admin_health,
    admin_p2p,
    auth,
    notifications,
    orders,
    p2p,
    public,
    simple,
    simulation,
    wallet,
)
from matchbook.api.routing import operations
from matchbook.api.users import UserStore
from matchbook.api.ws import Hub
from matchbook.api.ws import router as ws_router
from matchbook.runtime.exchange import Exchange
from matchbook.settings import Settings

logger = logging.getLogger(__name__)


class _Cors(CORSMiddleware):
    """Starlette's CORS, with a short cut for a request without ``Origin`` (an API
    client, not a browser): its response gains ``Vary: Origin`` as Starlette adds it,
    without both sides' headers being parsed into header objects first."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def vary_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if any(name == b"vary" for name, _ in headers):
                    await self.send(message, send, _NO_HEADERS)  # Starlette merges them
                    return
                headers.append((b"vary", b"Origin"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, vary_origin)


_NO_HEADERS = Headers()


class _Matchbook(FastAPI):
    """The application, with ``POST /api/v1/orders`` offered to ``order_front`` first
    (``matchbook.api.order_lane``): an API client's order skips the framework's layers,
    everything else goes through them."""

    order_front: OrderFront | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.order_front
        if (front is not None and scope["type"] == "http" and scope["path"] == ORDERS_PATH
                and scope["method"] == "POST"):
            await front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


@contextmanager
def _long_lived_collector() -> Iterator[None]:
    """Tune the cyclic garbage collector while the server runs.

    What startup built (the recovered exchange, the libraries) lives as long as the
    server: it is frozen out of every collection. The young generation is collected
    after 10,000 net allocations rather than 700: at 700 the objects of the requests in
    flight are traversed, and promoted, every few requests, for no garbage (requests
    free theirs by reference counting), and the collector took a sixth of the CPU.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        exchange = await Exchange.start(settings)  # the pipeline: runtime/exchange.py
        assert exchange.db is not None
        state = ApiState(settings, exchange, exchange.db, UserStore(exchange.db),
                         Tokens(settings.secret(), settings.access_token_seconds),
                         RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
                         LoginThrottle(settings.login_max_failures,
                                       settings.login_lockout_seconds))
        hub = state.ws_hub = Hub(state)
        hub.start()
        clock = DeadlineClock(exchange, float(settings.extra.get("p2p_clock_seconds", 0.5)))
        clock.start()  # P2P deadlines fire on time on a quiet exchange
        exchange.attach(hub, stop=hub.stop)  # step 6: after market data and metrics
        app.state.api = state
        operations(app)  # the guard's table of operations, built before the first request
        bots: list[asyncio.Task[None]] = []
        if settings.demo:
            from matchbook.api.demo import start_demo

            bots = await start_demo(state)
        logger.info("matchbook ready on seq %d", exchange.engine.last_seq)
        try:
            with _long_lived_collector():
                yield
        finally:
            await clock.stop()
            await simulation.stop(app)  # a performance run still going ends with the server
            for bot in bots:
                bot.cancel()
            await asyncio.gather(*bots, return_exceptions=True)
            await exchange.stop()
            logger.info("matchbook stopped at seq %d", exchange.engine.last_seq)

    # the tags in documentation order; routers are included busiest first, as a request
    # is matched against the routes in inclusion order
    tags = [{"name": str(module.router.tags[0])}
            for module in (public, auth, orders, wallet, p2p, notifications, admin, admin_p2p,
                           simple, simulation)]
    # FastAPI's native OpenTelemetry is off: nothing exports it, and looking for its
    # providers would cost every request
    app = _Matchbook(title="Matchbook", version="0.1.0", lifespan=lifespan, openapi_tags=tags,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="A price-time priority exchange. Decimals are strings; "
                              "errors are {\"code\": int, \"message\": str}.")
    errors.install(app)
    # an API client's order, before every layer below (the long way is the whole app)
    app.order_front = OrderFront(app, functools.partial(FastAPI.__call__, app), settings)
    # the busiest route answered inside the guard, without the framework's layers
    app.add_middleware(OrderLane, fastapi=app)
    # the guard sits inside CORS, so that a browser can read its refusals too
    app.add_middleware(Guard, settings=settings, fastapi=app)
    app.add_middleware(_Cors, allow_origins=list(settings.cors_origins),
                       allow_credentials=True, allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(metrics.HttpMetrics)
    app.include_router(orders.router, prefix="/api/v1")
    app.include_router(simple.router)
    for module in (public, auth, wallet, p2p, notifications, admin, admin_health, admin_p2p):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(simulation.router)
    app.include_router(ws_router)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    static.mount(app)  # the web UI at /, after every route
    return app
