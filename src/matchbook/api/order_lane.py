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
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matchbook.api import views
from matchbook.api.auth import PRINCIPAL, Principal
from matchbook.api.deps import ApiState, admit
from matchbook.api.errors import ApiError, api_error_response, runtime_response
from matchbook.api.schemas import new_order_fields

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
            replay: list[Message] = [{"type": "http.request", "body": body,
                                      "more_body": False}]
            await self.app(scope, _replay(replay, receive), send)
            return
        self.answered += 1
        try:
            admit(state, principal, "trade")
            trading = state.trading
            order = await trading.place(trading.order_command(principal.user_id, fields))
        except ApiError as exc:
            await api_error_response(exc)(scope, receive, send)
            return
        except Exception as exc:
            refused = runtime_response(exc)
            if refused is None:
                raise  # the app's handler of unexpected errors answers
            await refused(scope, receive, send)
            return
        content = views.encode(order)
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"content-length", str(len(content)).encode("latin-1")),
                                (b"content-type", _JSON)]})
        await send({"type": "http.response.body", "body": content})


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
