"""The WebSocket stream: subscriptions, local order books, private updates and order
entry, with automatic reconnect, re-authentication and resubscription.

>>> async with AsyncClient(url, api_key=key) as mb, mb.stream() as stream:
...     await stream.subscribe("book", "BTC-USD")
...     await stream.subscribe("orders")
...     async for message in stream:
...         print(message, stream.book("BTC-USD").best_bid)

Book channels are kept as :class:`LocalOrderBook` objects (``stream.book(symbol)``).
A missed delta (a gap) or a server ``resync`` makes the stream resubscribe with
``since`` = the book's update id; the server answers with the missing deltas, or a fresh
snapshot when it no longer has them. After a reconnect every subscription is sent again
(books with ``since``), after authenticating again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Protocol

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from matchbook.client import _api
from matchbook.client.book import BookGap, LocalOrderBook
from matchbook.client.errors import TOKEN_EXPIRED, ConnectionLost, MatchbookError
from matchbook.client.messages import (
    AnyMessage,
    Authenticated,
    BookDelta,
    BookSnapshot,
    ErrorMessage,
    Heartbeat,
    Pong,
    Result,
    Resync,
    StreamStatus,
    Subscribed,
    Unsubscribed,
    decode_message,
)
from matchbook.client.models import Cancelled, CancelledAll, Order

logger = logging.getLogger(__name__)
P = ParamSpec("P")


class StreamClient(Protocol):
    """What a stream needs of the client that opened it (``AsyncClient``): where to
    connect, the credentials to authenticate with, and a way to refresh them."""

    @property
    def ws_url(self) -> str: ...

    @property
    def credential(self) -> str | None: ...

    api_key: str | None
    refresh_token: str | None

    async def refresh(self) -> Any: ...

_ANSWERS = (Subscribed, Unsubscribed, Authenticated, Result, Pong, ErrorMessage)
_CLOSED = object()
_encode = msgspec.json.Encoder().encode


def normalize_symbol(name: str) -> str:
    """``btc/usd`` -> ``BTC-USD``, as the server spells symbols."""
    return name.strip().upper().replace("/", "-").replace("_", "-")


def _place(build: Callable[P, dict[str, Any]]
           ) -> Callable[Concatenate[Stream, P], Coroutine[Any, Any, Order]]:
    async def place_order(self: Stream, /, *args: P.args, **kwargs: P.kwargs) -> Order:
        data = await self.order_request("place", build(*args, **kwargs))
        return msgspec.convert(data, Order, strict=False)

    place_order.__doc__ = """Place an order over the socket (same arguments as
    ``Client.place_order``); returns the order after matching, with its fills."""
    return place_order


class Stream:
    """One logical WebSocket session that survives reconnects. Use as ``async with``."""

    def __init__(self, client: StreamClient, *, authenticate: bool | None = None,
                 reconnect: bool = True, url: str | None = None, events: bool = True,
                 queue_size: int = 10_000, request_timeout: float = 10.0,
                 idle_timeout: float = 30.0, backoff_initial: float = 0.1,
                 backoff_max: float = 5.0, connect_timeout: float = 10.0,
                 max_in_flight: int = 32) -> None:
        self.client = client
        self.url = url or client.ws_url
        self.authenticate = authenticate
        self.reconnect = reconnect
        self.events = events
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self.books: dict[str, LocalOrderBook] = {}
        self.user_id: int | None = None
        self.connects = 0  # successful connections (1 + reconnects)
        self.resubscribes = 0  # book resubscriptions after a gap or a resync
        self.dropped = 0  # messages dropped because nobody read them
        self.last_error: BaseException | None = None
        self._order_slots = asyncio.Semaphore(max_in_flight)  # the server allows 64
        self._subscriptions: dict[tuple[str, ...], dict[str, Any]] = {}
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._resyncing: set[str] = set()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._finished = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Stream:
        """Connect (and authenticate); raises if the first connection cannot be made
        within ``connect_timeout`` or authentication fails."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mb-stream")
        connected = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait((connected, self._task), timeout=self.connect_timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            connected.cancel()
        if self._connected.is_set():
            return self
        if self._task.done():
            exc = None if self._task.cancelled() else self._task.exception()
            exc = exc or self.last_error
            raise exc or ConnectionLost("The stream stopped.")
        await self.close()
        raise ConnectionLost(f"Could not connect to {self.url}: {self.last_error}")

    async def close(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for task in list(self._tasks):
            task.cancel()
        self._finish()

    async def __aenter__(self) -> Stream:
        return await self.start()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    # -- reading -----------------------------------------------------------------------

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> AnyMessage | dict[str, Any]:
        if self._finished and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _CLOSED:
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    def book(self, symbol: str) -> LocalOrderBook:
        """The local book of ``symbol`` (empty until its channel is subscribed)."""
        name = normalize_symbol(symbol)
        book = self.books.get(name)
        if book is None:
            book = self.books[name] = LocalOrderBook(name)
        return book

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; it is checked after every message.
        Raises ``TimeoutError``."""
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    # -- subscriptions -----------------------------------------------------------------

    async def subscribe(self, channel: str, symbol: str | None = None, *,
                        interval: str | None = None) -> Subscribed | None:
        """Follow a channel: ``book``, ``trades``, ``ticker``, ``candles`` (with a symbol;
        candles with an ``interval``, default ``1m``), ``orders``, ``balances`` or ``p2p``
        (your P2P trades, chat, ads and notifications).

        Kept across reconnects. Returns the server's acknowledgement, or None when not
        connected right now (it is sent on the next connection).
        """
        key, message = self._subscription(channel, symbol, interval)
        if channel == "book":  # deltas before the new snapshot are not gaps
            self.book(key[1]).clear()
            self._resyncing.add(key[1])
        self._subscriptions[key] = message
        if not self.connected:
            return None
        try:
            answer = await self._request(dict(message))
        except MatchbookError as exc:
            if not isinstance(exc, ConnectionLost):
                self._subscriptions.pop(key, None)
            raise
        return answer  # type: ignore[no-any-return]

    async def unsubscribe(self, channel: str, symbol: str | None = None, *,
                          interval: str | None = None) -> None:
        key, message = self._subscription(channel, symbol, interval)
        self._subscriptions.pop(key, None)
        if self.connected:
            message["op"] = "unsubscribe"
            await self._request(message)

    @staticmethod
    def _subscription(channel: str, symbol: str | None, interval: str | None
                      ) -> tuple[tuple[str, ...], dict[str, Any]]:
        message: dict[str, Any] = {"op": "subscribe", "channel": channel}
        key: tuple[str, ...] = (channel,)
        if symbol is not None:
            name = normalize_symbol(symbol)
            message["symbol"] = name
            key += (name,)
        if channel == "candles":
            message["interval"] = interval or "1m"
            key += (message["interval"],)
        return key, message

    # -- requests ----------------------------------------------------------------------

    async def ping(self) -> float:
        """Round trip to the server, in seconds."""
        started = time.perf_counter()
        await self._request({"op": "ping"})
        return time.perf_counter() - started

    place_order = _place(_api.order_body)

    async def amend_order(self, order_id: str | int, *, price: _api.Num | None = None,
                          quantity: _api.Num | None = None) -> Order:
        fields = {"order_id": str(order_id), "price": _api.decimal_text(price, "price"),
                  "quantity": _api.decimal_text(quantity, "quantity")}
        data = await self.order_request("amend", {k: v for k, v in fields.items()
                                                  if v is not None})
        return msgspec.convert(data, Order, strict=False)

    async def cancel_order(self, order_id: str | int) -> Cancelled:
        data = await self.order_request("cancel", {"order_id": str(order_id)})
        return msgspec.convert(data, Cancelled, strict=False)

    async def cancel_all(self, symbol: str | None = None) -> CancelledAll:
        data = await self.order_request("cancel_all", {"symbol": symbol} if symbol else {})
        return msgspec.convert(data, CancelledAll, strict=False)

    async def order_request(self, op: str, fields: dict[str, Any]) -> Any:
        """Send an order operation; returns the result's ``data``. Raises
        :class:`MatchbookError` (``ConnectionLost`` if the answer cannot come)."""
        for attempt in range(2):
            try:
                async with self._order_slots:
                    answer = await self._request({"op": op, **fields})
                return answer.data
            except MatchbookError as exc:
                if attempt or exc.code != TOKEN_EXPIRED or not self.client.refresh_token:
                    raise
                await self.client.refresh()
                await self._auth()
        raise AssertionError("unreachable")

    async def _request(self, message: dict[str, Any]) -> Any:
        ws = self._ws
        if ws is None:
            raise ConnectionLost("Not connected.")
        request_id = next(self._ids)
        message["request_id"] = request_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await ws.send(_encode(message).decode())
            return await asyncio.wait_for(future, self.request_timeout)
        except WebSocketException as exc:
            raise ConnectionLost(f"The connection closed: {exc}") from exc
        except TimeoutError:
            raise ConnectionLost(f"No answer within {self.request_timeout} s.") from None
        finally:
            self._pending.pop(request_id, None)

    # -- the connection loop -----------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        try:
            while not self._closing:
                reason = ""
                try:
                    # no per-message compression: small JSON frames gain little and the
                    # server would compress every frame once per subscriber
                    async with connect(self.url, open_timeout=self.connect_timeout,
                                       max_size=1 << 24, close_timeout=2, compression=None,
                                       ping_interval=20, ping_timeout=20) as ws:
                        self._ws = ws
                        reader = asyncio.get_running_loop().create_task(self._read(ws))
                        try:
                            await self._setup()
                        except BaseException:
                            reader.cancel()
                            raise
                        self.connects += 1
                        self._connected.set()
                        attempt = 0
                        self._emit(StreamStatus(status="connected" if self.connects == 1
                                                else "reconnected", attempt=self.connects - 1))
                        await reader
                        reason = "closed"
                except ConnectionLost as exc:
                    reason = exc.message
                    self.last_error = exc
                except MatchbookError as exc:  # authentication refused: retrying won't help
                    self.last_error = exc
                    self._emit(ErrorMessage(code=exc.code, message=exc.message))
                    raise
                except (OSError, TimeoutError, WebSocketException) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                    self.last_error = exc
                finally:
                    self._ws = None
                    self._connected.clear()
                    self._fail_pending()
                if self._closing or not self.reconnect:
                    break
                self._emit(StreamStatus(status="disconnected", reason=reason, attempt=attempt))
                delay = min(self.backoff_max, self.backoff_initial * 2 ** attempt)
                attempt += 1
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        finally:
            self._finish()

    async def _read(self, ws: ClientConnection) -> None:
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), self.idle_timeout)
            except TimeoutError:
                await ws.close(1011, "idle")
                raise ConnectionLost(f"Nothing received for {self.idle_timeout} s.") from None
            try:
                self._dispatch(frame)
            except Exception:  # one bad frame must not end the stream
                logger.exception("cannot handle a WebSocket message")

    async def _setup(self) -> None:
        """After connecting: authenticate, then subscribe again to everything."""
        if self.authenticate or (self.authenticate is None and self.client.credential):
            await self._auth()
        requests = []
        keys = list(self._subscriptions)
        for key, message in list(self._subscriptions.items()):
            message = dict(message)
            if key[0] == "book":
                book = self.book(key[1])
                if book.ready:
                    message["since"] = book.update_id
                    message["epoch"] = book.epoch
                    self._resyncing.add(key[1])
            requests.append(self._request(message))
        for key, outcome in zip(keys, await asyncio.gather(
                *requests, return_exceptions=True), strict=True):
            if isinstance(outcome, ConnectionLost):
                raise outcome
            if isinstance(outcome, MatchbookError):
                self._subscriptions.pop(key, None)
                self._emit(ErrorMessage(code=outcome.code, message=outcome.message))

    async def _auth(self) -> None:
        for attempt in range(2):
            credential = self.client.credential
            if not credential:
                raise MatchbookError(5001, "No credentials to authenticate the stream with.")
            try:
                answer: Authenticated = await self._request({"op": "auth", "token": credential})
                self.user_id = answer.user_id
                return
            except MatchbookError as exc:
                if attempt or exc.code != TOKEN_EXPIRED or not self.client.refresh_token or (
                        self.client.api_key):
                    raise
                await self.client.refresh()

    # -- incoming messages -------------------------------------------------------------

    def _dispatch(self, frame: str | bytes) -> None:
        message = decode_message(frame)
        kind = type(message)
        if kind is BookDelta:
            self._on_delta(message)  # type: ignore[arg-type]
        elif kind is BookSnapshot:
            assert isinstance(message, BookSnapshot)
            self.book(message.symbol).load(message)
            self._resyncing.discard(message.symbol)
            self._emit(message)
        elif kind in _ANSWERS and getattr(message, "request_id", None) in self._pending:
            if kind is Subscribed and message.channel == "book":  # type: ignore[union-attr]
                self._resyncing.discard(message.symbol or "")  # type: ignore[union-attr]
            future = self._pending.pop(message.request_id)  # type: ignore[union-attr]
            if not future.done():
                if kind is ErrorMessage:
                    assert isinstance(message, ErrorMessage)
                    future.set_exception(MatchbookError(message.code, message.message))
                else:
                    future.set_result(message)
        elif kind is Heartbeat:
            pass
        elif kind is Resync:
            assert isinstance(message, Resync)
            if message.channel == "book" and message.symbol:
                self._resync_book(message.symbol)
            self._emit(message)
        else:
            self._emit(message)
        if self._waiters:
            self._check_waiters()

    def _check_waiters(self) -> None:
        for predicate, future in list(self._waiters):
            if not future.done() and predicate():
                future.set_result(None)

    def _on_delta(self, delta: BookDelta) -> None:
        book = self.books.get(delta.symbol)
        if book is None or ("book", delta.symbol) not in self._subscriptions:
            return
        if delta.symbol in self._resyncing and book.ready and (
                delta.first_update_id > book.update_id + 1):
            return  # the resubscription will fill the hole: not a new gap
        try:
            if book.apply(delta):
                self._emit(delta)
        except BookGap:
            self._resync_book(delta.symbol)

    def _resync_book(self, symbol: str) -> None:
        """Resubscribe ``symbol``'s book with ``since`` (once at a time)."""
        if symbol in self._resyncing or self._ws is None:
            return
        self._resyncing.add(symbol)
        self.resubscribes += 1
        book = self.book(symbol)
        message: dict[str, Any] = {"op": "subscribe", "channel": "book", "symbol": symbol}
        if book.ready:
            message["since"] = book.update_id
            message["epoch"] = book.epoch
        task = asyncio.get_running_loop().create_task(self._resubscribe(symbol, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resubscribe(self, symbol: str, message: dict[str, Any]) -> None:
        try:
            await self._request(message)  # the answer clears the resync (in _dispatch)
        except MatchbookError as exc:  # a reconnect subscribes again anyway
            logger.debug("resubscribing %s failed: %s", symbol, exc)
            self._resyncing.discard(symbol)

    def _emit(self, message: AnyMessage | dict[str, Any]) -> None:
        if type(message) is StreamStatus and self._waiters:
            self._check_waiters()
        if not self.events:
            return
        queue = self._queue
        if queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            self.dropped += 1
        queue.put_nowait(message)

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionLost())

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._fail_pending()
        queue = self._queue
        if queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
        queue.put_nowait(_CLOSED)
