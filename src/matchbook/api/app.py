"""The FastAPI application: REST under ``/api/v1``, WebSocket under ``/ws``, ``/metrics``.

``create_app(settings)`` builds the app; its lifespan recovers the exchange from the
data directory, migrates the SQL store, starts the sequencer and the projector, and on
shutdown drains the queue, writes a snapshot and closes everything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matchbook.api import errors, metrics
from matchbook.api.auth import LoginThrottle, RateLimiter, Tokens
from matchbook.api.deps import ApiState
from matchbook.api.routes import admin, auth, orders, public, simple, wallet
from matchbook.api.users import UserStore
from matchbook.api.ws import Hub
from matchbook.api.ws import router as ws_router
from matchbook.runtime.exchange import Exchange
from matchbook.settings import Settings
from matchbook.store.db import create_engine, database_url
from matchbook.store.migrate import upgrade_async
from matchbook.store.projector import Projector, ProjectorTask

logger = logging.getLogger(__name__)


class _HttpMetrics:
    """Times every HTTP request into ``matchbook_http_request_seconds`` (method, status).

    Plain ASGI: Starlette's ``BaseHTTPMiddleware`` (``app.middleware("http")``) runs each
    request through a task group and memory streams, which cost about a third of the
    server's CPU per order.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            metrics.HTTP.labels(scope["method"], str(status)).observe(
                time.perf_counter() - started)


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
        projector = ProjectorTask(projection, data_dir=settings.data_dir,
                                  limits=exchange.limits)
        await projector.catch_up()  # whatever the journal holds beyond the read model
        await projector.start()
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

    app = FastAPI(title="Matchbook", version="0.1.0", lifespan=lifespan,
                  description="A price-time priority exchange. Decimals are strings; "
                              "errors are {\"code\": int, \"message\": str}.")
    errors.install(app)
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                       allow_credentials=True, allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(_HttpMetrics)
    for module in (public, auth, orders, wallet, admin):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(simple.router)
    app.include_router(ws_router)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return app
