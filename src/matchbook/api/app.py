"""The FastAPI application: REST under ``/api/v1``, WebSocket under ``/ws``, ``/metrics``.

``create_app(settings)`` builds the app; its lifespan recovers the exchange from the
data directory, migrates the SQL store, starts the sequencer and the projector, and on
shutdown drains the queue, writes a snapshot and closes everything.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from matchbook.api import errors, metrics, static, store_reads
from matchbook.api.auth import LoginThrottle, RateLimiter, Tokens
from matchbook.api.deps import ApiState
from matchbook.api.routes import admin, admin_health, auth, orders, public, simple, wallet
from matchbook.api.users import UserStore
from matchbook.api.ws import Hub
from matchbook.api.ws import router as ws_router
from matchbook.runtime.exchange import Exchange
from matchbook.settings import Settings
from matchbook.store.db import create_engine, database_url
from matchbook.store.migrate import upgrade_async
from matchbook.store.projector import Projector, ProjectorTask

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
        url = settings.database_url or database_url(settings.data_dir)
        await upgrade_async(url)
        db = create_engine(url)
        exchange = await Exchange.start(settings)
        projection = Projector(url, exchange.markets)
        await projection.start()
        projector = ProjectorTask(projection, data_dir=settings.data_dir)
        await projector.catch_up()  # whatever the journal holds beyond the read model
        await store_reads.seed_market_data(db, exchange.marketdata, time.time_ns())
        await projector.start()
        projector.offer(exchange.durable.opened)  # beyond the journal in mode "none"
        exchange.listen(projector.offer)
        state = ApiState(settings, exchange, db, UserStore(db),
                         Tokens(settings.secret(), settings.access_token_seconds),
                         RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
                         LoginThrottle(settings.login_max_failures,
                                       settings.login_lockout_seconds))
        hub = state.ws_hub = Hub(state)
        hub.start()
        app.state.api = state
        metrics.bind(state, projector)
        bots: list[asyncio.Task[None]] = []
        if settings.demo:
            from matchbook.api.demo import start_demo

            bots = await start_demo(state)
        logger.info("matchbook ready on seq %d", exchange.engine.last_seq)
        try:
            with _long_lived_collector():
                yield
        finally:
            for bot in bots:
                bot.cancel()
            await asyncio.gather(*bots, return_exceptions=True)
            await hub.stop()
            await exchange.stop()
            await projector.stop()
            await projection.stop()
            await db.dispose()
            logger.info("matchbook stopped at seq %d", exchange.engine.last_seq)

    # the tags in documentation order; routers are included busiest first, as a request
    # is matched against the routes in inclusion order
    tags = [{"name": str(module.router.tags[0])}
            for module in (public, auth, orders, wallet, admin, simple)]
    # FastAPI's native OpenTelemetry is off: nothing exports it, and looking for its
    # providers would cost every request
    app = FastAPI(title="Matchbook", version="0.1.0", lifespan=lifespan, openapi_tags=tags,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="A price-time priority exchange. Decimals are strings; "
                              "errors are {\"code\": int, \"message\": str}.")
    errors.install(app)
    app.add_middleware(_Cors, allow_origins=list(settings.cors_origins),
                       allow_credentials=True, allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(metrics.HttpMetrics)
    app.include_router(orders.router, prefix="/api/v1")
    app.include_router(simple.router)
    for module in (public, auth, wallet, admin, admin_health):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(ws_router)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    static.mount(app)  # the web UI at /, after every route
    return app
