"""Prometheus metrics at ``/metrics``: the exchange's (commands, rejections by code,
trades, gateway-to-acknowledgement latency, queue depth, journal, projector, WebSocket
clients: :mod:`matchbook.runtime.metrics`) and the HTTP requests by method and status,
timed by ``HttpMetrics``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from prometheus_client import Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matchbook.runtime.metrics import REGISTRY

HTTP = Histogram("matchbook_http_request_seconds", "HTTP requests", ["method", "status"],
                 buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0), registry=REGISTRY)


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


@functools.cache
def http_timer(method: str, status: int) -> Callable[[float], None]:
    """``observe`` of the ``matchbook_http_request_seconds`` child for (method, status)."""
    return HTTP.labels(method, str(status)).observe


class HttpMetrics:
    """Times every HTTP request into ``matchbook_http_request_seconds`` (method, status).

    Plain ASGI: Starlette's ``BaseHTTPMiddleware`` runs each request through a task group
    and memory streams, which cost about a third of the server's CPU per order.
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
            http_timer(scope["method"], status)(time.perf_counter() - started)
