"""One WebSocket connection: its bounded outbox and writer task, its subscriptions and
principal, and its incoming message budget (a token bucket).

While the writer task is idle (its outbox empty) and the connection's protocol takes
writes (``LeanWebSocket.writable_now``: attached, open, its transport not paused), a
message is written straight to the protocol instead of waking the writer; otherwise it
is queued in the outbox, which is bounded as before."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Protocol

import msgspec
from fastapi import WebSocket

from matchbook.api.auth import Principal
from matchbook.api.ws.lean import LeanWebSocket

PUBLIC_CHANNELS = ("book", "trades", "ticker", "candles")
PRIVATE_CHANNELS = ("orders", "balances", "p2p")
MAX_SUBSCRIPTIONS = 256
MAX_IN_FLIGHT = 64  # order requests of one connection waiting for the sequencer
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TRY_LATER = 1013  # dropped: too slow to keep up
CLOSE_RESTART = 1012

encode = msgspec.json.Encoder().encode  # views (msgspec structs) inside messages included
decode = msgspec.json.Decoder().decode


def text(message: dict[str, Any]) -> str:
    """One frame's text."""
    return encode(message).decode()


class Overflow(Protocol):
    """Who decides what happens to a connection whose outbox is full (the hub)."""

    def overflow(self, conn: Connection) -> None: ...


class Connection:
    """One socket: its outbox, writer, subscriptions, principal and message budget."""

    def __init__(self, hub: Overflow, websocket: WebSocket, queue_size: int, rate: float,
                 burst: int, *, simple: bool = False) -> None:
        self.hub = hub
        self.websocket = websocket
        self.simple = simple
        self.limit = queue_size
        self.outbox: deque[str] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closing = False
        self.close_code = CLOSE_GOING_AWAY
        self.close_reason = ""
        self.last_offered = time.monotonic()
        self.principal: Principal | None = None
        self.expires_at = 0.0  # access token expiry (time.time()); 0 for API keys
        self.subscriptions: set[tuple[str, ...]] = set()
        self.paused_books: set[str] = set()
        self.overflows: deque[float] = deque(maxlen=8)
        self.in_flight = 0
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._refilled = time.monotonic()
        self.writer: asyncio.Task[None] | None = None
        self.direct: LeanWebSocket | None = None  # the protocol, once attached

    # -- outgoing (called from listeners: never await, never block) --------------------

    def offer(self, text: str) -> None:
        """Queue ``text``; an overflowing outbox is the hub's business. O(1)."""
        if self.closing:
            return
        direct = self.direct
        if (direct is not None and self._waiter is not None and not self.outbox
                and direct.writable_now()):
            direct.write_text(text.encode())
            self.last_offered = time.monotonic()
            return
        if len(self.outbox) >= self.limit:
            self.hub.overflow(self)
            if self.closing or len(self.outbox) >= self.limit:
                return
        self.outbox.append(text)
        self.last_offered = time.monotonic()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def send(self, message: dict[str, Any]) -> None:
        data = encode(message)
        direct = self.direct
        if (direct is not None and self._waiter is not None and not self.outbox
                and not self.closing and direct.writable_now()):
            direct.write_text(data)
            self.last_offered = time.monotonic()
            return
        self.offer(data.decode())

    def error(self, code: int, message: str, request_id: Any = None, **extra: Any) -> None:
        self.send({"type": "error", "code": int(code), "message": message,
                   "request_id": request_id, **extra})

    def close(self, code: int, reason: str) -> None:
        """Stop sending; the endpoint closes the socket and forgets the connection."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        self.close_reason = reason
        self.outbox.clear()
        if self.direct is not None:
            self.direct.discard()
        if self.writer is not None:
            self.writer.cancel()

    async def write_loop(self) -> None:
        outbox = self.outbox
        send = self.websocket.send_text
        loop = asyncio.get_running_loop()
        while True:
            while outbox:
                await send(outbox.popleft())
            self._waiter = loop.create_future()
            await self._waiter

    # -- incoming ----------------------------------------------------------------------

    def allow(self) -> bool:
        """Spend one message from the connection's token bucket."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
