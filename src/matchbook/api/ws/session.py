"""The ``/ws`` protocol, one ``Session`` per connection, and both WebSocket endpoints.

Order entry goes through the trading service (``matchbook.api.trading``), as REST
order entry does: the same validation, the same answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from matchbook.api.auth import Principal
from matchbook.api.convert import symbol_of
from matchbook.api.deps import ApiState
from matchbook.api.errors import ApiCode, ApiError, runtime_refusal
from matchbook.api.schemas import (
    AmendOrderBody,
    NewOrder,
    NewOrderFields,
    PlaceMessage,
    decode_place,
    new_order_fields,
    texts_as_given,
)
from matchbook.api.trading import Trading
from matchbook.api.ws import frames
from matchbook.api.ws.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_POLICY,
    CLOSE_TRY_LATER,
    MAX_IN_FLIGHT,
    MAX_SUBSCRIPTIONS,
    PRIVATE_CHANNELS,
    PUBLIC_CHANNELS,
    Connection,
    decode,
)
from matchbook.api.ws.hub import Hub
from matchbook.api.ws.lean import Lane, LeanWebSocket
from matchbook.core import Code, PlaceOrder
from matchbook.marketdata.feed import INTERVALS_NS
from matchbook.runtime.sequencer import Result

logger = logging.getLogger(__name__)
router = APIRouter()


class _Session:
    """The request handling of one ``/ws`` connection."""

    def __init__(self, hub: Hub, conn: Connection) -> None:
        self.hub = hub
        self.conn = conn
        self.state = hub.state
        self.tasks: set[asyncio.Task[None]] = set()
        self.waiting = False  # an op that waits for I/O is being answered (``handle``)
        self.ops: dict[str, Callable[[dict[str, Any], Any], Awaitable[None] | None]] = {
            "subscribe": self.subscribe, "unsubscribe": self.unsubscribe, "auth": self.auth,
            "ping": self.ping, "place": self.order_op, "amend": self.order_op,
            "cancel": self.order_op, "cancel_all": self.order_op}

    def handle(self, raw: str) -> Awaitable[None] | None:
        """Answer one message. What it returns (ops that wait for I/O: ``auth``,
        ``subscribe``) is awaited before the connection's next message is read.

        A well-formed ``place`` is decoded in one step into ``PlaceMessage`` and goes
        through the same checks, in the same order, as any other message; every other
        frame (and a ``place`` the one-step decoder refuses) is decoded into a dict."""
        if self.take(raw):
            return None
        conn = self.conn
        try:
            message = decode(raw)
        except msgspec.DecodeError:
            conn.error(ApiCode.VALIDATION, "Each message must be one JSON object.")
            return None
        if not isinstance(message, dict):
            conn.error(ApiCode.VALIDATION, "Each message must be one JSON object.")
            return None
        request_id = message.get("request_id")
        if not conn.allow():
            conn.error(ApiCode.RATE_LIMITED, "Too many messages; slow down.", request_id)
            return None
        op = message.get("op")
        handler = self.ops.get(op) if isinstance(op, str) else None
        if handler is None:
            conn.error(ApiCode.VALIDATION, f"op must be one of {', '.join(self.ops)}.",
                       request_id)
            return None
        try:
            pending = handler(message, request_id)
        except ApiError as exc:
            conn.error(exc.code, exc.message, request_id)
            return None
        if pending is None:
            return None
        self.waiting = True
        return self._finish(pending, request_id)

    def take(self, raw: str) -> bool:
        """Answer ``raw`` now if it is a ``place`` the one-step decoder takes (the
        answer follows when the order is applied); False, having done nothing, for any
        other message. ``handle`` tries it first; ``LeanWebSocket`` calls it for each
        message it reads while the session is not ``waiting``."""
        if '"place"' not in raw or self.conn.closing:
            return False
        try:
            place = decode_place(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return False
        if not texts_as_given(place):
            return False
        self.hub.places_decoded_once += 1
        self._place_message(place)
        return True

    async def _finish(self, pending: Awaitable[None], request_id: Any) -> None:
        try:
            await pending
        except ApiError as exc:
            self.conn.error(exc.code, exc.message, request_id)
        finally:
            self.waiting = False

    # -- subscriptions -------------------------------------------------------------------

    def _key(self, message: dict[str, Any]) -> tuple[Any, ...]:
        channel = message.get("channel")
        if channel in PRIVATE_CHANNELS:
            principal = self.conn.principal
            if principal is None:
                raise ApiError(ApiCode.UNAUTHENTICATED,
                               f"Authenticate first ({{\"op\": \"auth\"}}) to follow {channel}.")
            if "read" not in principal.scopes:
                raise ApiError(ApiCode.SCOPE_MISSING, "This API key lacks the 'read' scope.")
            return (channel, principal.user_id)
        if channel not in PUBLIC_CHANNELS:
            raise ApiError(ApiCode.VALIDATION, "channel must be one of "
                           f"{', '.join(PUBLIC_CHANNELS + PRIVATE_CHANNELS)}.")
        symbol = message.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise ApiError(ApiCode.VALIDATION, f"The {channel} channel needs a symbol.")
        name = symbol_of(self.hub.markets, symbol).name
        if channel == "candles":
            interval = message.get("interval", "1m")
            if interval not in INTERVALS_NS:
                raise ApiError(ApiCode.VALIDATION,
                               f"interval must be one of {', '.join(INTERVALS_NS)}.")
            return (channel, name, interval)
        return (channel, name)

    async def subscribe(self, message: dict[str, Any], request_id: Any) -> None:
        conn, hub = self.conn, self.hub
        key = self._key(message)
        since = message.get("since")
        if since is not None and (type(since) is not int or since < 0):
            raise ApiError(ApiCode.VALIDATION, "since must be a non-negative update id.")
        if key not in conn.subscriptions and len(conn.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise ApiError(ApiCode.VALIDATION,
                           f"At most {MAX_SUBSCRIPTIONS} subscriptions per connection.")
        channel = key[0]
        ack: dict[str, Any] = {"type": "subscribed", "channel": channel,
                               "request_id": request_id}
        if channel in PUBLIC_CHANNELS:
            ack["symbol"] = key[1]
        if channel == "candles":
            ack["interval"] = key[2]
        first: dict[str, Any] | None = None
        if channel == "ticker":
            first = hub.ticker(key[1])
        elif channel == "candles":
            first = hub.candle(key[1], key[2])
        # nothing here awaits: the initial state and the stream join up
        hub._subscribe(conn, key)
        if channel == "book":
            conn.paused_books.discard(key[1])
            self._book_start(key[1], since, message.get("epoch"), ack)
        elif channel == "orders":
            conn.send(ack)
            conn.send({"type": "orders_snapshot", "seq": self.state.reads.last_seq,
                       "orders": hub.private.open_orders(key[1])})
        elif channel == "balances":
            conn.send(ack)
            conn.send({"type": "balances", "seq": self.state.reads.last_seq,
                       "balances": hub.private.balances_of(key[1])})
        elif channel == "p2p":
            conn.send(ack)
            conn.send(hub.p2p.snapshot(key[1]))
        else:
            conn.send(ack)
            if first is not None:
                conn.send(first)

    def _book_start(self, name: str, since: int | None, epoch: Any,
                    ack: dict[str, Any]) -> None:
        """Ack, then the deltas after ``since`` if the feed still has them, else a snapshot."""
        hub, conn = self.hub, self.conn
        feed = hub.exchange.marketdata.feeds[name]
        sym = hub.markets.symbols[name]
        ack["epoch"] = hub.epoch
        ack["update_id"] = feed.update_id
        if since is not None and (epoch is None or str(epoch) == hub.epoch):
            deltas = feed.deltas_since(since)
            if deltas is not None:
                ack["resumed"] = True
                conn.send(ack)
                if deltas:
                    conn.send(frames.delta_message(sym, *frames.merge_deltas(deltas)))
                return
        ack["resumed"] = False
        conn.send(ack)
        update_id, bids, asks = feed.depth()
        conn.send(frames.snapshot_message(sym, update_id, hub.epoch, bids, asks))

    def unsubscribe(self, message: dict[str, Any], request_id: Any) -> None:
        key = self._key(message)
        found = self.hub._unsubscribe(self.conn, key)
        answer: dict[str, Any] = {"type": "unsubscribed", "channel": key[0],
                                  "request_id": request_id, "was_subscribed": found}
        if key[0] in PUBLIC_CHANNELS:
            answer["symbol"] = key[1]
        if key[0] == "candles":
            answer["interval"] = key[2]
        self.conn.send(answer)

    def ping(self, message: dict[str, Any], request_id: Any) -> None:
        self.conn.send({"type": "pong", "request_id": request_id, "time_ns": time.time_ns()})

    # -- authentication ------------------------------------------------------------------

    async def auth(self, message: dict[str, Any], request_id: Any) -> None:
        token = message.get("token") or message.get("api_key")
        if not isinstance(token, str) or not token:
            raise ApiError(ApiCode.UNAUTHENTICATED, "Give an access token or an API key.")
        state = self.state
        expires_at = 0.0
        if token.startswith("mbk_"):
            found = await state.users.principal_for_key(token)
            if found is None:
                raise ApiError(ApiCode.UNAUTHENTICATED, "Unknown or revoked API key.")
            principal = found
        else:
            principal, expires = state.tokens.verify_until(token)
            expires_at = float(expires)
        current = self.conn.principal
        if current is not None and current.user_id != principal.user_id:
            raise ApiError(ApiCode.FORBIDDEN, "This connection is signed in as another user; "
                                              "open a new connection.")
        self.conn.principal = principal
        self.conn.expires_at = expires_at
        self.conn.send({"type": "authenticated", "request_id": request_id,
                        "user_id": principal.user_id, "role": principal.role,
                        "scopes": list(principal.scopes),
                        "expires_ns": int(expires_at * 1e9) if expires_at else None})

    # -- order entry ---------------------------------------------------------------------

    def _place_message(self, place: PlaceMessage) -> None:
        """``handle`` and ``order_op`` for a ``place`` already decoded and validated."""
        conn = self.conn
        request_id = place.request_id
        if not conn.allow():
            conn.error(ApiCode.RATE_LIMITED, "Too many messages; slow down.", request_id)
            return
        try:
            principal = self._admit_order()
        except ApiError as exc:
            conn.error(exc.code, exc.message, request_id)
            return
        conn.in_flight += 1
        self._place(principal, place, request_id)

    def order_op(self, message: dict[str, Any], request_id: Any) -> None:
        principal = self._admit_order()
        conn = self.conn
        # requests are submitted in arrival order and answered when applied
        conn.in_flight += 1
        if message["op"] == "place":
            fields = {k: v for k, v in message.items() if k != "op" and k != "request_id"}
            self._place(principal, fields, request_id)
            return
        task = asyncio.get_running_loop().create_task(
            self._run_order_op(principal, message, request_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _admit_order(self) -> Principal:
        """The caller of an order request, once signed in, with the ``trade`` scope, a
        free in-flight slot and its rate limit's leave; raises ``ApiError`` otherwise."""
        conn, state = self.conn, self.state
        principal = conn.principal
        if principal is None:
            raise ApiError(ApiCode.UNAUTHENTICATED, "Authenticate first ({\"op\": \"auth\"}).")
        if conn.expires_at and time.time() >= conn.expires_at:
            raise ApiError(ApiCode.TOKEN_EXPIRED,
                           "The access token has expired; send auth with a new one.")
        if "trade" not in principal.scopes:
            raise ApiError(ApiCode.SCOPE_MISSING, "This API key lacks the 'trade' scope.")
        if conn.in_flight >= MAX_IN_FLIGHT:
            raise ApiError(ApiCode.RATE_LIMITED,
                           f"At most {MAX_IN_FLIGHT} order requests in flight per connection.")
        state.limiter.check(("key", principal.key_id) if principal.key_id
                            else ("user", principal.user_id))
        return principal

    def _place(self, principal: Principal, fields: dict[str, Any] | NewOrderFields,
               request_id: Any) -> None:
        """Validate as ``POST /api/v1/orders`` does (``fields`` is the message's order,
        or that order already decoded) and queue the order; ``_Placed`` answers when it
        is applied (no task or future per order: this is the busy path)."""
        conn, trading = self.conn, self.state.trading
        try:
            if isinstance(fields, NewOrderFields):
                body: NewOrderFields | NewOrder = fields
            else:  # NewOrder words the error of what the fast decoder refuses
                body = new_order_fields(fields) or NewOrder.model_validate(fields)
            command = trading.order_command(principal.user_id, body)
            trading.place_nowait(command, _Placed(conn, request_id, trading, command))
        except Exception as exc:
            conn.in_flight -= 1
            _refuse(conn, "place", exc, request_id)

    async def _run_order_op(self, principal: Principal, message: dict[str, Any],
                            request_id: Any) -> None:
        """``amend``, ``cancel`` and ``cancel_all``, through the trading service as their
        REST endpoints."""
        conn, trading = self.conn, self.state.trading
        uid = principal.user_id
        data: Any
        op = message["op"]
        fields = {k: v for k, v in message.items() if k not in ("op", "request_id")}
        try:
            if op == "amend":
                order_id = _order_id(fields.pop("order_id", None))
                body = AmendOrderBody.model_validate(fields)
                data = await trading.amend(uid, order_id, body.price, body.quantity)
            elif op == "cancel":
                data = await trading.cancel(uid, _order_id(fields.get("order_id")))
            else:
                symbol = fields.get("symbol")
                if symbol is not None and not isinstance(symbol, str):
                    raise ApiError(ApiCode.VALIDATION, "symbol must be a string.")
                data = await trading.cancel_all(uid, symbol or None)
            conn.send({"type": "result", "op": op, "request_id": request_id, "data": data})
        except Exception as exc:
            _refuse(conn, op, exc, request_id)
        finally:
            conn.in_flight -= 1


class _Placed:
    """The sequencer's completion of one ``place`` request: answers it on its connection
    (``result`` with the order as ``POST /api/v1/orders`` shows it, or ``error``)."""

    __slots__ = ("answered", "command", "conn", "request_id", "trading")

    def __init__(self, conn: Connection, request_id: Any, trading: Trading,
                 command: PlaceOrder) -> None:
        self.conn = conn
        self.request_id = request_id
        self.trading = trading
        self.command = command
        self.answered = False

    def done(self) -> bool:
        return self.answered

    def set_result(self, result: Result) -> None:
        self.answered = True
        conn = self.conn
        conn.in_flight -= 1
        try:
            conn.send({"type": "result", "op": "place", "request_id": self.request_id,
                       "data": self.trading.placed(self.command, result)})
        except Exception as exc:  # a rejection; called by the sequencer: nothing escapes
            _refuse(conn, "place", exc, self.request_id)

    def set_exception(self, exception: BaseException) -> None:
        self.answered = True
        self.conn.in_flight -= 1
        _refuse(self.conn, "place", exception, self.request_id)


def _refuse(conn: Connection, op: str, exc: BaseException, request_id: Any) -> None:
    """Answer an order request that failed with ``exc`` by an ``error`` message."""
    if isinstance(exc, ApiError):
        conn.error(exc.code, exc.message, request_id)
    elif isinstance(exc, ValidationError):
        conn.error(ApiCode.VALIDATION, _validation_message(exc), request_id)
    elif (refusal := runtime_refusal(exc)) is not None:
        conn.error(refusal[0], refusal[1], request_id)
    else:
        logger.error("websocket %s failed", op, exc_info=exc)
        conn.error(ApiCode.INTERNAL, "Internal error.", request_id)


def _order_id(value: Any) -> int:
    try:
        order_id = int(value)
    except (TypeError, ValueError):
        raise ApiError(ApiCode.VALIDATION, "order_id must be an order id.") from None
    if not 0 < order_id < 2**63:
        raise ApiError(Code.UNKNOWN_ORDER, "No open order of yours has this id.")
    return order_id


def _validation_message(exc: ValidationError) -> str:
    """``field: what is wrong`` of the first error, as the REST API words it."""
    errors = exc.errors()
    if not errors:
        return "request: invalid value"
    field = ".".join(str(p) for p in errors[0]["loc"]) or "request"
    return f"{field}: {errors[0]['msg']}"


# -- endpoints -------------------------------------------------------------------------------


def _hub(websocket: WebSocket) -> Hub | None:
    state: ApiState | None = getattr(websocket.app.state, "api", None)
    return getattr(state, "ws_hub", None) if state is not None else None


async def _serve(hub: Hub, websocket: WebSocket, conn: Connection,
                 on_message: Callable[[str], Awaitable[None] | None],
                 lane: Lane | None = None) -> None:
    """Run ``conn`` until the peer leaves or the hub closes it. Under ``LeanWebSocket``
    the protocol writes ``conn``'s messages while its writer is idle, and ``lane`` (if
    given) takes the messages it can answer at once as they are read; everything else
    comes through ``on_message``."""
    lean = LeanWebSocket.of(websocket.scope)
    if lean is not None and lean.attach(lane):
        conn.direct = lean
    conn.writer = asyncio.get_running_loop().create_task(conn.write_loop())
    hub.add(conn)
    reader = asyncio.get_running_loop().create_task(_read(websocket, on_message))
    try:
        await asyncio.wait((reader, conn.writer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.remove(conn)
        conn.closing = True
        if lean is not None:
            lean.detach()
        conn.direct = None
        reader.cancel()
        conn.writer.cancel()
        for task in (reader, conn.writer):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if conn.close_reason or conn.close_code != CLOSE_GOING_AWAY:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(conn.close_code, conn.close_reason), 1.0)


async def _read(websocket: WebSocket,
                on_message: Callable[[str], Awaitable[None] | None]) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                data = message.get("bytes")
                text = data.decode("utf-8", "replace") if data else ""
            pending = on_message(text)
            if pending is not None:
                await pending


@router.websocket("/ws")
async def ws_endpoint(websocket: WebSocket) -> None:
    hub = _hub(websocket)
    if hub is None:
        await websocket.close(CLOSE_TRY_LATER, "not ready")
        return
    conn = Connection(hub, websocket, hub.queue_size, hub.rate, hub.burst)
    await websocket.accept()
    session = _Session(hub, conn)
    try:
        await _serve(hub, websocket, conn, session.handle, session)
    finally:
        for task in list(session.tasks):
            task.cancel()


@router.websocket("/ws/market")
async def ws_market(websocket: WebSocket) -> None:
    """The simple BTC/USD feed: ``order_book`` on connect and on every change, ``trade``
    per trade. Incoming messages are ignored, except ``{"op": "ping"}``."""
    hub = _hub(websocket)
    if hub is None:
        await websocket.close(CLOSE_TRY_LATER, "not ready")
        return
    conn = Connection(hub, websocket, hub.queue_size, hub.rate, hub.burst, simple=True)
    await websocket.accept()
    conn.send(hub.simple_book())

    def on_message(text: str) -> None:
        if not conn.allow():
            conn.close(CLOSE_POLICY, "too many messages")
            return
        with contextlib.suppress(msgspec.DecodeError):
            message = decode(text)
            if isinstance(message, dict) and message.get("op") == "ping":
                conn.send({"type": "pong", "time_ns": time.time_ns()})

    await _serve(hub, websocket, conn, on_message)
