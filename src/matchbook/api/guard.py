"""The gate every HTTP request passes before the framework reads it.

``Guard`` is a pure ASGI middleware, outermost but for CORS, that does in this order:

1. **The client address.** The peer's address, or, when the peer is one of the
   configured ``trusted_proxies``, the nearest untrusted address of
   ``X-Forwarded-For``; it replaces ``scope["client"]``, so every throttle keyed by
   address sees the same one. Nothing else may rewrite it (uvicorn's own proxy-header
   handling is off).
2. **Size limits on the request line and headers**: a URL beyond ``max_url_bytes`` is a
   414, headers beyond ``max_header_bytes`` in all a 431.
3. **Credentials, before any body is read.** For an operation that needs a signed-in
   caller, the bearer token or API key is verified here (``deps.authenticate``) and the
   principal left in the scope for the route; without one, or with a bad one, the answer
   is a 401 at once, so an anonymous client cannot make the server read, let alone
   parse, a large body. (The route then applies the per-user or per-key rate limit.)
4. **Anonymous throttles**: every call to a public operation under ``/api`` or ``/ws``
   is limited per client address (``anon_rate_per_second`` / ``anon_rate_burst``),
   whatever headers it carries; sign-ups more tightly (``signup_per_hour`` /
   ``signup_burst``): a 429 with ``Retry-After``.
5. **The body, bounded while it streams**: a declared ``Content-Length`` beyond the
   limit is a 413 before a byte is read; a body that grows beyond it (chunked, or lying
   about its length) is cut off with a 413 when it crosses it; a body that stalls for
   ``body_timeout_seconds`` is a 408. The limit is ``max_body_bytes``, or
   ``max_admin_body_bytes`` under ``/api/v1/admin/``.

Every refusal is the API's structured error ``{"code", "message"}``.

An API client's ``POST /api/v1/orders`` is taken before this middleware by
``matchbook.api.order_lane.OrderFront``, which applies the same limits, credentials and
body bounds inline and sends anything it does not take whole through here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matchbook.api.auth import PRINCIPAL, RateLimiter
from matchbook.api.deps import authenticate
from matchbook.api.errors import ApiCode, ApiError, error_body
from matchbook.api.routing import operations
from matchbook.settings import Settings

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SIGNUP = "/api/v1/auth/signup"


class _BodyRefused(Exception):
    """Raised from ``receive`` when the body crosses its limit or stalls."""


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings, fastapi: FastAPI) -> None:
        self.app = app
        self.settings = settings
        self.fastapi = fastapi
        self.trusted = _networks(settings.trusted_proxies)
        self.anonymous = RateLimiter(settings.anon_rate_per_second, settings.anon_rate_burst)
        self.signups = RateLimiter(settings.signup_per_hour / 3600.0, settings.signup_burst)
        self._secured_paths: dict[tuple[str, str], bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        settings = self.settings
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if self.trusted:
            scope["client"] = self._client(scope, headers)
        path: str = scope["path"]
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) > (
                settings.max_url_bytes):
            await refuse(send, kind, 414, ApiCode.URL_TOO_LONG,
                          f"The URL is longer than {settings.max_url_bytes} bytes.")
            return
        if sum(len(name) + len(value) for name, value in headers) > settings.max_header_bytes:
            await refuse(send, kind, 431, ApiCode.HEADERS_TOO_LARGE,
                          f"The headers are larger than {settings.max_header_bytes} bytes.")
            return
        length = -1
        for name, value in headers:
            if name == b"content-length":
                length = int(value) if value.isdigit() else -1
                break
        method: str = scope.get("method", "GET")
        if path.startswith("/api") or path.startswith("/ws"):
            try:
                if self._needs_credentials(method, path):
                    await self._authenticate(scope)
                else:  # public: limited per address, whatever headers it carries
                    address = _address(scope)
                    self.anonymous.check(("addr", address))
                    if path == _SIGNUP and method == "POST":
                        self.signups.check(("addr", address))
            except ApiError as exc:
                extra = exc.headers
                if method in _BODY_METHODS:  # its body is never read: no keep-alive
                    extra = {**(extra or {}), "Connection": "close"}
                await refuse(send, kind, exc.status, exc.code, exc.message, extra)
                return
        if kind == "websocket" or method not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = (settings.max_admin_body_bytes if path.startswith("/api/v1/admin/")
                 else settings.max_body_bytes)
        if length > limit:
            await refuse(send, kind, 413, ApiCode.BODY_TOO_LARGE,
                          f"The request body is larger than {limit} bytes.",
                          {"Connection": "close"})
            return
        await self._bounded(scope, receive, send, limit)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app with a ``receive`` that counts the body and times out a stall.

        The framework turns any failure while it reads a body into its own 400, so the
        refusal is remembered here and sent in place of whatever the app answers."""
        received = 0
        timeout = self.settings.body_timeout_seconds
        refusal: tuple[int, int, str] | None = None
        started = False

        async def counted() -> Message:
            nonlocal received, refusal
            try:
                async with asyncio.timeout(timeout):  # no task per read, as wait_for makes
                    message = await receive()
            except TimeoutError:
                refusal = (408, ApiCode.REQUEST_TIMEOUT,
                           "The request body did not arrive in time.")
                raise _BodyRefused from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refusal = (413, ApiCode.BODY_TOO_LARGE,
                               f"The request body is larger than {limit} bytes.")
                    raise _BodyRefused
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                if started:
                    return
                started = True
                if refusal is not None:
                    await refuse(send, "http", *refusal, {"Connection": "close"})
                    return
            elif refusal is not None:
                return  # the app's own answer to the failed read is dropped
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _BodyRefused:
            if not started and refusal is not None:
                await refuse(send, "http", *refusal, {"Connection": "close"})

    async def _authenticate(self, scope: Scope) -> None:
        state = getattr(self.fastapi.state, "api", None)
        if state is None:  # not started yet: the route will answer
            return
        scope[PRINCIPAL] = await authenticate(state, HeaderView(scope["headers"]))

    def _needs_credentials(self, method: str, path: str) -> bool:
        """Does the operation at ``method path`` take a signed-in caller? O(1) for a path
        seen before, else O(routes)."""
        known = self._secured_paths.get((method, path))
        if known is not None:
            return known
        known = any(method in secured and pattern.match(path)
                    for pattern, _, secured in operations(self.fastapi))
        if len(self._secured_paths) >= 10_000:  # order ids make paths many; forget them all
            self._secured_paths.clear()
        self._secured_paths[(method, path)] = known
        return known

    def _client(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> tuple[str, int]:
        peer = scope.get("client") or ("unknown", 0)
        if not _trusted(peer[0], self.trusted):
            return tuple(peer)
        forwarded = [part.strip() for name, value in headers if name == b"x-forwarded-for"
                     for part in value.decode("latin-1").split(",")]
        for address in reversed(forwarded):  # the nearest hop first
            if address and not _trusted(address, self.trusted):
                return address, 0
        return tuple(peer)


class HeaderView:
    """``headers.get(name)`` over raw ASGI headers (lower-case names)."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def get(self, name: str) -> str | None:
        key = name.encode("latin-1")
        for header, value in self.raw:
            if header == key:
                return value.decode("latin-1")
        return None


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _networks(entries: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries
                 if entry.strip())


def _trusted(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


async def refuse(send: Send, kind: str, status: int, code: int, message: str,
                  headers: dict[str, str] | None = None) -> None:
    """Answer with the structured error (a WebSocket handshake is refused with the same
    HTTP response: uvicorn supports the ASGI denial-response extension)."""
    body = json.dumps(error_body(code, message)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    prefix = "websocket.http" if kind == "websocket" else "http"
    await send({"type": f"{prefix}.response.start", "status": status, "headers": raw})
    await send({"type": f"{prefix}.response.body", "body": body})
