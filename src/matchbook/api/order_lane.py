"""``POST /api/v1/orders`` without the framework's per-request layers.

Order entry is the busiest route, and most of its cost was the framework around it:
exception middleware, routing, the request object, dependency solving, body parsing
twice over (JSON, then pydantic). ``OrderLane`` is a pure ASGI middleware, inside the
guard (so the caller is already verified, the anonymous throttles applied and the body
bounded), that answers a well-formed order itself:

1. the body is read and decoded by msgspec straight into ``NewOrderFields``;
2. the caller's rate limit and ``trade`` scope are checked (``deps.admit``, as the
   route's ``Trader`` dependency does);
3. the order goes through the trading service (``Trading.place``), and its view is
   encoded by msgspec, as the route answers.

Everything else, and every request the fast decoder does not take (a body that is not
JSON, not an object, with a wrong or missing field, or a value ``NewOrder`` would coerce
or strip first), is passed on unchanged, its body replayed, to the documented route
(``routes/orders.py``), which answers it as before: the same validation errors, in the
same order. Errors raised here are rendered by the same functions as the app's
exception handlers, so a client cannot tell which of the two answered.

``OrderFront`` goes one step further for an API client (a request without ``Origin``,
which CORS leaves alone): it takes the order before the framework's application, its
error and telemetry middlewares, the HTTP metrics, CORS and the guard, and does itself,
inline, the little of theirs an order needs: the guard's limits and credentials, its
bounded body read, the ``Vary: Origin`` CORS adds, the request's timing in
``matchbook_http_request_seconds``, the structured 500 of an unexpected failure. A
request it does not take whole (a URL or headers beyond the limits, no declared length
or one beyond the limit, a body other than JSON, credentials the guard would refuse, a
body the fast decoder does not take, a client that leaves) goes the long way, through
every layer, with what was read replayed; the guard then refuses it, or ``OrderLane`` or
the route answers it, as they would have.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from matchbook.api import views
from matchbook.api.auth import PRINCIPAL, Principal
from matchbook.api.deps import ApiState, admit, authenticate
from matchbook.api.errors import (
    ApiCode,
    ApiError,
    api_error_response,
    runtime_response,
    unexpected_response,
)
from matchbook.api.guard import HeaderView, refuse
from matchbook.api.metrics import http_timer
from matchbook.api.schemas import NewOrderFields, new_order_fields
from matchbook.settings import Settings

PATH = "/api/v1/orders"
_JSON = b"application/json"


class OrderLane:
    """Answers ``POST /api/v1/orders`` when the fast decoder takes the body; counts the
    orders it ``answered`` and those it ``passed`` on to the route."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        self.answered = 0
        self.passed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        principal: Principal | None = scope.get(PRINCIPAL)  # verified by the guard
        state: ApiState | None = getattr(self.fastapi.state, "api", None)
        if principal is None or state is None or not _is_json(scope["headers"]):
            self.passed += 1
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        body = b""
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":  # the client left: the route answers
                self.passed += 1
                await self.app(scope, _replay(received, receive), send)
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        fields = new_order_fields(body)
        if fields is None:  # the route validates it and words the error
            self.passed += 1
            await self.app(scope, _replay(_whole(body), receive), send)
            return
        self.answered += 1
        try:
            content = await _place(state, principal, fields)
        except ApiError as exc:
            await api_error_response(exc)(scope, receive, send)
            return
        except Exception as exc:
            refused = runtime_response(exc)
            if refused is None:
                raise  # the app's handler of unexpected errors answers
            await refused(scope, receive, send)
            return
        await _created(send, content)


class OrderFront:
    """``POST /api/v1/orders`` from an API client, before the framework (the module's
    docstring); ``long_way`` is the whole application. Counts the orders it
    ``answered`` and those it ``passed`` the long way."""

    def __init__(self, fastapi: FastAPI, long_way: ASGIApp, settings: Settings) -> None:
        self.fastapi = fastapi
        self.long_way = long_way
        self.settings = settings
        self.answered = 0
        self.passed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        settings = self.settings
        state: ApiState | None = getattr(self.fastapi.state, "api", None)
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        length = _plain_length(headers, settings.max_header_bytes)
        if (state is None or length < 0 or length > settings.max_body_bytes
                or settings.trusted_proxies
                or len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
                > settings.max_url_bytes):
            self.passed += 1
            await self.long_way(scope, receive, send)
            return
        try:
            principal = await authenticate(state, HeaderView(headers))
        except ApiError:  # the guard refuses it, in its own words
            self.passed += 1
            await self.long_way(scope, receive, send)
            return
        scope[PRINCIPAL] = principal
        received: list[Message] = []
        body = b""
        while True:
            try:
                if _arrived(receive):  # nothing to wait for: no timer to arm
                    message = await receive()
                else:
                    async with asyncio.timeout(settings.body_timeout_seconds):
                        message = await receive()
            except TimeoutError:  # the guard's answer to a stalled body
                await _answer(send, refuse, "http", 408, ApiCode.REQUEST_TIMEOUT,
                              "The request body did not arrive in time.",
                              {"Connection": "close"})
                http_timer("POST", 408)(time.perf_counter() - started)
                return
            received.append(message)
            if message["type"] == "http.request":
                body += message.get("body", b"")
            if message["type"] != "http.request" or len(body) > settings.max_body_bytes:
                self.passed += 1  # the client left (or sent more than it declared)
                await self.long_way(scope, _replay(received, receive), send)
                return
            if not message.get("more_body", False):
                break
        fields = new_order_fields(body)
        if fields is None:  # the route validates it and words the error
            self.passed += 1
            await self.long_way(scope, _replay(_whole(body), receive), send)
            return
        self.answered += 1
        status = 201
        try:
            try:
                content = await _place(state, principal, fields)
            except ApiError as exc:
                response = api_error_response(exc)
            except Exception as exc:
                refused = runtime_response(exc)
                if refused is None:  # as the application's handler answers it
                    status = 500
                    await unexpected_response("POST", PATH, exc)(scope, receive, send)
                    raise
                response = refused
            else:
                await _created(send, content, _VARY)
                return
            response.raw_headers.append(_VARY)
            status = response.status_code
            await response(scope, receive, send)
        finally:
            http_timer("POST", status)(time.perf_counter() - started)


def _whole(body: bytes) -> list[Message]:
    """The messages of a request ``body`` read whole, to replay it."""
    return [{"type": "http.request", "body": body, "more_body": False}]


_VARY = (b"vary", b"Origin")  # what CORS adds to an answer to a request without Origin


async def _place(state: ApiState, principal: Principal, fields: NewOrderFields) -> bytes:
    """The order of a verified caller, as the route's ``Trader`` dependency and handler
    take it: the rate limit and ``trade`` scope, the trading service, the order's view
    encoded. Raises what they raise."""
    admit(state, principal, "trade")
    trading = state.trading
    order = await trading.place(trading.order_command(principal.user_id, fields))
    return views.encode(order)


async def _created(send: Send, content: bytes, *headers: tuple[bytes, bytes]) -> None:
    """Answer 201 with the order's view ``content``."""
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-length", str(len(content)).encode("latin-1")),
                            (b"content-type", _JSON), *headers]})
    await send({"type": "http.response.body", "body": content})


async def _answer(send: Send, answer: Any, *args: Any) -> None:
    """``answer(send, *args)``, with ``Vary: Origin`` added to its head."""

    async def vary(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), _VARY]
        await send(message)

    await answer(vary, *args)


def _arrived(receive: Receive) -> bool:
    """Has uvicorn already parsed the whole body that ``receive`` gives? Then reading it
    cannot stall. (An order's body usually arrives in its headers' segment.) ``False``
    under any other server."""
    cycle = getattr(receive, "__self__", None)
    return type(cycle) is RequestResponseCycle and cycle.more_body is False


def _plain_length(headers: list[tuple[bytes, bytes]], max_header_bytes: int) -> int:
    """The declared length of a JSON body sent without ``Origin``, its headers within
    ``max_header_bytes``, no header of these three repeated; else -1."""
    size = 0
    length = -1
    json = False
    seen = 0
    for name, value in headers:
        size += len(name) + len(value)
        if name == b"content-length":
            seen += 1
            length = int(value) if value.isdigit() else -1
        elif name == b"content-type":
            seen += 4
            json = value.split(b";", 1)[0].strip().lower() == _JSON
        elif name == b"origin":
            return -1
    if size > max_header_bytes or seen != 5 or not json:
        return -1
    return length


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """Is the body declared ``application/json`` (parameters aside)? Any other type, or
    none, is the route's to judge."""
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == _JSON
    return False


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that gives ``messages`` first, then reads on."""
    pending = list(messages)

    async def replayed() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
