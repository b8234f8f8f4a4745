"""WebSocket endpoints: ``/ws`` (market data, private streams, order entry) and
``/ws/market`` (the simple BTC/USD feed).

Every frame is one JSON text object; fields are snake_case, decimals are strings.

Client to server (``/ws``), each may carry a ``request_id`` echoed in the answer::

    {"op": "subscribe", "channel": "book", "symbol": "BTC-USD", "since": 41, "epoch": "..."}
    {"op": "subscribe", "channel": "trades" | "ticker", "symbol": "BTC-USD"}
    {"op": "subscribe", "channel": "candles", "symbol": "BTC-USD", "interval": "1m"}
    {"op": "subscribe", "channel": "orders" | "balances"}          (after auth)
    {"op": "unsubscribe", "channel": ..., "symbol": ..., "interval": ...}
    {"op": "auth", "token": "<access token or API key>"}
    {"op": "place", ...the fields of POST /api/v1/orders...}        (scope ``trade``)
    {"op": "amend", "order_id": "7", "price": "...", "quantity": "..."}
    {"op": "cancel", "order_id": "7"}
    {"op": "cancel_all", "symbol": "BTC-USD"}                        (symbol optional)
    {"op": "ping"}

Server to client: ``subscribed``/``unsubscribed``/``authenticated``/``result``/``pong``
answers; ``book_snapshot`` then ``book_delta`` (contiguous ``first_update_id ..
last_update_id``; a level with quantity ``"0"`` is removed), ``trade``, ``ticker``,
``candle``, ``orders_snapshot`` then ``order`` (one per state change, with the fill),
``balances``, ``heartbeat`` after 10 s without traffic, ``resync`` and ``error``
(``{"type": "error", "code", "message", "request_id"}``, codes as in the REST API).

``since`` asks for every book delta after that update id, served from the feed's
window if it still holds them (and the ``epoch`` matches: update ids restart with the
server), else a fresh snapshot.

Authentication lasts for the connection; order entry needs the ``trade`` scope and,
with an access token, a token that has not expired (send ``auth`` again with a fresh
one). Incoming messages are rate limited per connection (token bucket); order requests
also spend the user's (or API key's) REST budget, and at most 64 may be in flight.

Publishing never waits: each connection has a bounded outbox filled with
``put``-without-wait from the sequencer's listeners and drained by its own writer task.
A connection whose outbox overflows is, if it only follows public channels and it has
not happened too often, emptied and sent ``resync`` for each channel (book channels are
paused until subscribed again); otherwise it is disconnected (``Hub.dropped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from prometheus_client.core import Metric
from pydantic import ValidationError

from matchbook.api import convert
from matchbook.api.auth import Principal
from matchbook.api.deps import ApiState
from matchbook.api.errors import ApiCode, ApiError, runtime_refusal
from matchbook.api.routes import orders as order_routes
from matchbook.api.routes import public
from matchbook.api.routes.simple import book_message
from matchbook.api.schemas import AmendOrderBody, NewOrder
from matchbook.core import Code, Symbol
from matchbook.core.book import Order
from matchbook.core.commands import MARKET, STOP_MARKET
from matchbook.core.events import (
    Applied,
    BalanceAdjusted,
    Deposited,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    Transferred,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)
from matchbook.marketdata.feed import INTERVALS_NS, Delta, Trade
from matchbook.runtime.consumer import Batch
from matchbook.runtime.metrics import counter, gauge
from matchbook.runtime.sequencer import Result

logger = logging.getLogger(__name__)
router = APIRouter()

SIMPLE_SYMBOL = "BTC-USD"
SIMPLE_DEPTH = 20
PUBLIC_CHANNELS = ("book", "trades", "ticker", "candles")
PRIVATE_CHANNELS = ("orders", "balances")
MAX_SUBSCRIPTIONS = 256
MAX_IN_FLIGHT = 64  # order requests of one connection waiting for the sequencer
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TRY_LATER = 1013  # dropped: too slow to keep up
CLOSE_RESTART = 1012

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _text(message: dict[str, Any]) -> str:
    return _encode(message).decode()


# -- messages ----------------------------------------------------------------------------


def _levels(sym: Symbol, levels: Sequence[tuple[int, int]]) -> list[list[str]]:
    fp, fq = sym.format_price, sym.format_qty
    return [[fp(p), fq(q) if q else "0"] for p, q in levels]


def delta_message(sym: Symbol, first: int, last: int, bids: Sequence[tuple[int, int]],
                  asks: Sequence[tuple[int, int]]) -> dict[str, Any]:
    return {"type": "book_delta", "symbol": sym.name, "first_update_id": first,
            "last_update_id": last, "bids": _levels(sym, bids), "asks": _levels(sym, asks)}


def merge_deltas(deltas: Sequence[Delta]) -> tuple[int, int, list[tuple[int, int]],
                                                  list[tuple[int, int]]]:
    """Contiguous deltas as one: ``(first, last, bids, asks)``; a level's last change wins."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for d in deltas:
        bids.update(d.bids)
        asks.update(d.asks)
    return (deltas[0].first_update_id, deltas[-1].last_update_id, sorted(bids.items()),
            sorted(asks.items()))


def trade_message(sym: Symbol, trade: Trade) -> dict[str, Any]:
    return {"type": "trade", "symbol": sym.name, "trade_id": str(trade.trade_id),
            "price": sym.format_price(trade.price_ticks),
            "quantity": sym.format_qty(trade.qty_lots),
            "side": convert.SIDE_NAMES[trade.aggressor_side], "timestamp_ns": trade.ts_ns}


def simple_trade_message(sym: Symbol, trade: Trade) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(trade.ts_ns / 1e9, UTC)
    return {"type": "trade", "timestamp": stamp.isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "price": sym.format_price(trade.price_ticks),
            "quantity": convert.plain(sym.lots_to_qty(trade.qty_lots)),
            "side": convert.SIDE_NAMES[trade.aggressor_side]}


class _OrderState:
    """What the ``orders`` channel knows of one open order of a followed user."""

    __slots__ = ("client_order_id", "display", "expire_ts", "filled", "leaves", "order_id",
                 "order_type", "pending", "post_only", "price", "qty", "side", "stop_price",
                 "symbol", "tif")

    def __init__(self, order_id: int, symbol: str, side: int, order_type: int, price: int,
                 qty: int, filled: int, leaves: int, tif: int, post_only: bool,
                 stop_price: int, pending: bool, display: int, expire_ts: int,
                 client_order_id: str) -> None:
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.price = price
        self.qty = qty
        self.filled = filled
        self.leaves = leaves
        self.tif = tif
        self.post_only = post_only
        self.stop_price = stop_price
        self.pending = pending
        self.display = display
        self.expire_ts = expire_ts
        self.client_order_id = client_order_id

    @classmethod
    def of_order(cls, o: Order) -> _OrderState:
        return cls(o.order_id, o.symbol, o.side, o.order_type, o.price, o.qty, o.qty - o.leaves,
                   o.leaves, o.tif, o.post_only, o.stop_price, o.stop_price > 0, o.display,
                   o.expire_ts, o.client_order_id)

    @classmethod
    def of_accepted(cls, e: OrderAccepted) -> _OrderState:
        return cls(e.order_id, e.symbol, e.side, e.order_type, e.price_ticks, e.qty_lots, 0,
                   e.qty_lots, e.tif, e.post_only, e.stop_price_ticks, e.stop_price_ticks > 0,
                   e.display_lots, e.expire_ts_ns, e.client_order_id)

    def view(self, sym: Symbol, status: str) -> dict[str, Any]:
        """The order as ``GET /api/v1/orders/{id}`` shows it."""
        has_price = self.order_type != MARKET and self.order_type != STOP_MARKET
        return {
            "order_id": str(self.order_id), "client_order_id": self.client_order_id or None,
            "symbol": sym.name, "side": convert.SIDE_NAMES[self.side],
            "type": convert.TYPE_NAMES[self.order_type],
            "price": sym.format_price(self.price) if has_price and self.price else None,
            "quantity": sym.format_qty(self.qty), "filled_quantity": sym.format_qty(self.filled),
            "remaining_quantity": sym.format_qty(self.leaves), "status": status,
            "time_in_force": convert.TIF_NAMES[self.tif], "post_only": self.post_only,
            "stop_price": sym.format_price(self.stop_price) if self.stop_price else None,
            "display_quantity": sym.format_qty(self.display) if self.display else None,
            "expire_time_ns": self.expire_ts or None,
        }

    def open_status(self) -> str:
        if self.pending:
            return "pending_trigger"
        return "partially_filled" if self.filled else "new"


# -- connections -------------------------------------------------------------------------


class Connection:
    """One socket: its outbox, writer, subscriptions, principal and message budget."""

    def __init__(self, hub: Hub, websocket: WebSocket, queue_size: int, rate: float,
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

    # -- outgoing (called from listeners: never await, never block) --------------------

    def offer(self, text: str) -> None:
        """Queue ``text``; an overflowing outbox is the hub's business. O(1)."""
        if self.closing:
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
        self.offer(_text(message))

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


# -- the hub -------------------------------------------------------------------------------


class Hub:
    """Routes market data and private events to connections; never blocks the engine.

    Subscriber indexes are sets keyed by symbol (public), ``(symbol, interval)``
    (candles) and user id (private). A published item is formatted and encoded once and
    offered to every subscriber, so fan-out costs one ``deque.append`` per connection.
    """

    def __init__(self, state: ApiState, *, queue_size: int | None = None,
                 heartbeat_seconds: float | None = None, ticker_seconds: float = 0.25,
                 max_resyncs: int = 3, resync_window_seconds: float = 60.0) -> None:
        settings = state.settings
        self.state = state
        self.exchange = state.exchange
        self.markets = state.exchange.markets
        self.queue_size = queue_size or settings.ws_queue_size
        self.heartbeat_seconds = float(heartbeat_seconds if heartbeat_seconds is not None
                                       else settings.extra.get("ws_heartbeat_seconds", 10.0))
        self.ticker_seconds = ticker_seconds
        self.max_resyncs = max_resyncs
        self.resync_window = resync_window_seconds
        self.rate = float(settings.extra.get("ws_messages_per_second",
                                             settings.rate_limit_per_second))
        self.burst = int(settings.extra.get("ws_message_burst", settings.rate_limit_burst))
        self.epoch = str(self.exchange.started_ns)
        self.connections: set[Connection] = set()
        self.dropped = 0
        self.resyncs = 0
        self._book: dict[str, set[Connection]] = {}
        self._trades: dict[str, set[Connection]] = {}
        self._ticker: dict[str, set[Connection]] = {}
        self._candles: dict[tuple[str, str], set[Connection]] = {}
        self._orders: dict[int, set[Connection]] = {}
        self._balances: dict[int, set[Connection]] = {}
        self._simple: set[Connection] = set()
        self._order_cache: dict[int, dict[int, _OrderState]] = {}
        self._dirty_tickers: set[str] = set()
        self._dirty_candles: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._running = False

    def revoke_api_key(self, key_id: int) -> int:
        """Close every connection signed in with API key ``key_id`` (it was just revoked:
        its streams and order entry end now, not at the next sign-in). Returns how many."""
        revoked = [conn for conn in self.connections
                   if conn.principal is not None and conn.principal.key_id == key_id]
        for conn in revoked:
            conn.close(CLOSE_POLICY, "API key revoked")
        return len(revoked)

    @property
    def client_count(self) -> int:
        return len(self.connections)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the periodic ticker and candle pushes; the exchange calls ``consume``
        once the hub is attached to it."""
        self._running = True
        self._task = asyncio.get_running_loop().create_task(self._periodic(), name="ws-hub")

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.close_all(CLOSE_GOING_AWAY, "server shutting down")

    def close_all(self, code: int = CLOSE_RESTART, reason: str = "") -> int:
        """Close every connection (clients reconnect); returns how many."""
        connections = list(self.connections)
        for conn in connections:
            conn.close(code, reason)
        return len(connections)

    # -- registration --------------------------------------------------------------------

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        if conn.simple:
            self._simple.add(conn)

    def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self._simple.discard(conn)
        for key in list(conn.subscriptions):
            self._unsubscribe(conn, key)

    def _index(self, key: tuple[Any, ...]) -> tuple[dict[Any, set[Connection]], Any]:
        channel = key[0]
        if channel == "book":
            return self._book, key[1]
        if channel == "trades":
            return self._trades, key[1]
        if channel == "ticker":
            return self._ticker, key[1]
        if channel == "candles":
            return self._candles, (key[1], key[2])
        if channel == "orders":
            return self._orders, key[1]
        return self._balances, key[1]

    def _subscribe(self, conn: Connection, key: tuple[Any, ...]) -> bool:
        """Register; False if it was already there."""
        index, k = self._index(key)
        subs = index.setdefault(k, set())
        if conn in subs:
            return False
        subs.add(conn)
        conn.subscriptions.add(key)
        if key[0] == "orders" and k not in self._order_cache:
            self._order_cache[k] = {o.order_id: _OrderState.of_order(o)
                                    for o in self.exchange.engine.open_orders(k)}
        return True

    def _unsubscribe(self, conn: Connection, key: tuple[Any, ...]) -> bool:
        index, k = self._index(key)
        subs = index.get(k)
        conn.subscriptions.discard(key)
        if key[0] == "book":
            conn.paused_books.discard(k)
        if not subs or conn not in subs:
            return False
        subs.discard(conn)
        if not subs:
            del index[k]
            if key[0] == "orders":
                self._order_cache.pop(k, None)
        return True

    # -- slow consumers ------------------------------------------------------------------

    def overflow(self, conn: Connection) -> None:
        """``conn``'s outbox is full: resync it (public only, rarely) or drop it."""
        now = time.monotonic()
        recent = sum(1 for t in conn.overflows if now - t < self.resync_window)
        public_only = all(key[0] in PUBLIC_CHANNELS for key in conn.subscriptions)
        if conn.simple or not public_only or not conn.subscriptions or (
                recent >= self.max_resyncs):
            self.dropped += 1
            conn.close(CLOSE_TRY_LATER, "too slow: messages could not be delivered")
            return
        conn.overflows.append(now)
        self.resyncs += 1
        conn.outbox.clear()
        for key in sorted(conn.subscriptions):
            channel, symbol = key[0], key[1]
            message: dict[str, Any] = {
                "type": "resync", "channel": channel, "symbol": symbol,
                "message": "Messages were dropped because the connection fell behind."}
            if channel == "book":
                conn.paused_books.add(symbol)
                message["update_id"] = self.exchange.marketdata.feeds[symbol].update_id
                message["message"] += " Subscribe again (with since) to resume the book."
            elif channel == "candles":
                message["interval"] = key[2]
            conn.outbox.append(_text(message))

    # -- market data (sequencer listener) ------------------------------------------------

    def consume(self, batch: Batch) -> None:
        """The pipeline's step for this hub: private streams first, then the public feed
        market data published for the batch."""
        self.on_batch(batch.records)
        self.on_market(batch.published)

    def metrics(self) -> Iterator[Metric]:
        """Gauges read at ``/metrics`` scrape time."""
        yield gauge("matchbook_websocket_clients", "Connected WebSocket clients",
                    self.client_count)
        yield counter("matchbook_websocket_dropped", "Slow consumers dropped", self.dropped)

    def on_market(self, published: Sequence[tuple[str, str, Any]]) -> None:
        """Fan out one batch of public items; called by the sequencer, never blocks."""
        if not self._running:
            return
        symbols = self.markets.symbols
        changed: dict[str, list[Delta]] = {}
        for kind, name, item in published:
            if kind == "book":
                if name in self._book or (name == SIMPLE_SYMBOL and self._simple):
                    changed.setdefault(name, []).append(item)
                if name in self._ticker:
                    self._dirty_tickers.add(name)
            elif kind == "trade":
                sym = symbols[name]
                subs = self._trades.get(name)
                if subs:
                    text = _text(trade_message(sym, item))
                    for conn in subs:
                        conn.offer(text)
                if name == SIMPLE_SYMBOL and self._simple:
                    text = _text(simple_trade_message(sym, item))
                    for conn in self._simple:
                        conn.offer(text)
                if name in self._ticker:
                    self._dirty_tickers.add(name)
                if self._candles:
                    for interval in INTERVALS_NS:
                        if (name, interval) in self._candles:
                            self._dirty_candles.add((name, interval))
        for name, deltas in changed.items():
            sym = symbols[name]
            subs = self._book.get(name)
            if subs:
                text = _text(delta_message(sym, *merge_deltas(deltas)))
                for conn in subs:
                    if name not in conn.paused_books:
                        conn.offer(text)
            if name == SIMPLE_SYMBOL and self._simple:
                text = _text(self.simple_book())
                for conn in self._simple:
                    conn.offer(text)

    def simple_book(self) -> dict[str, Any]:
        sym = self.markets.symbols[SIMPLE_SYMBOL]
        _, bids, asks = self.exchange.marketdata.feeds[SIMPLE_SYMBOL].depth(SIMPLE_DEPTH)
        return {"type": "order_book", **book_message(sym, bids, asks), "symbol": "BTC/USD"}

    # -- private streams (sequencer listener) --------------------------------------------

    def on_batch(self, batch: Sequence[Applied]) -> None:
        """Route the users' events of one applied batch; called by the sequencer."""
        if not self._running or (not self._orders and not self._balances):
            return
        orders, balances = self._orders, self._balances
        touched: dict[int, set[str]] = {}
        symbols = self.markets.symbols
        for seq, ts_ns, _, events in batch:
            for ev in events:
                t = type(ev)
                if t in _ORDER_EVENTS:
                    uid: int = ev.user_id  # type: ignore[attr-defined]
                    if uid in orders:
                        message = self._order_message(uid, ev, seq, ts_ns)
                        if message is not None:
                            text = _text(message)
                            for conn in orders[uid]:
                                conn.offer(text)
                    if uid in balances and t is not OrderTriggered and t is not OrderRejected:
                        sym = symbols[ev.symbol]  # type: ignore[attr-defined]
                        touched.setdefault(uid, set()).update((sym.base.code, sym.quote.code))
                elif t in _WALLET_EVENTS:
                    uid = ev.user_id  # type: ignore[attr-defined]
                    if uid in balances:
                        touched.setdefault(uid, set()).add(ev.asset)  # type: ignore[attr-defined]
                elif t is Transferred:
                    assert isinstance(ev, Transferred)
                    for uid in (ev.from_user_id, ev.to_user_id):
                        if uid in balances:
                            touched.setdefault(uid, set()).add(ev.asset)
        if touched:
            last_seq = batch[-1][0]
            for uid, assets in touched.items():
                text = _text({"type": "balances", "seq": last_seq,
                              "balances": self.balances(uid, sorted(assets))})
                for conn in balances[uid]:
                    conn.offer(text)

    def balances(self, uid: int, assets: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """As ``GET /api/v1/balances`` shows them."""
        engine = self.exchange.engine
        out = []
        for code in assets if assets is not None else self.markets.assets:
            asset = self.markets.assets[code]
            available, held = engine.balance(uid, code)
            out.append({"asset": code, "available": asset.format(available),
                        "held": asset.format(held), "total": asset.format(available + held),
                        "address": engine.user_addresses.get((uid, code))})
        return out

    def open_orders(self, uid: int) -> list[dict[str, Any]]:
        cache = self._order_cache.get(uid, {})
        return [st.view(self.markets.symbols[st.symbol], st.open_status())
                for _, st in sorted(cache.items())]

    def _order_message(self, uid: int, ev: Event, seq: int,
                       ts_ns: int) -> dict[str, Any] | None:
        cache = self._order_cache.setdefault(uid, {})
        t = type(ev)
        extra: dict[str, Any] = {}
        if t is OrderRejected:
            assert isinstance(ev, OrderRejected)
            return {"type": "order", "event": "rejected", "seq": seq, "timestamp_ns": ts_ns,
                    "order": None, "order_id": str(ev.order_id) if ev.order_id else None,
                    "client_order_id": ev.client_order_id or None, "code": ev.code,
                    "message": ev.message}
        if t is OrderAccepted:
            assert isinstance(ev, OrderAccepted)
            st = cache[ev.order_id] = _OrderState.of_accepted(ev)
            event, status = "accepted", st.open_status()
        else:
            oid: int = ev.order_id  # type: ignore[attr-defined]
            found = cache.get(oid)
            if found is None:  # not followed when it was placed (cannot happen once seeded)
                live = self.exchange.engine.user_orders.get(uid, {}).get(oid)
                if live is None:
                    return None
                found = cache[oid] = _OrderState.of_order(live)
            st = found
            if t is OrderFilled:
                assert isinstance(ev, OrderFilled)
                st.filled, st.leaves = ev.filled_lots, ev.leaves_lots
                st.qty = ev.filled_lots + ev.leaves_lots
                st.pending = False
                event, status = "filled", "filled" if not ev.leaves_lots else "partially_filled"
                sym = self.markets.symbols[st.symbol]
                extra["fill"] = convert.fill_view(sym, ev)
            elif t is OrderCancelled:
                assert isinstance(ev, OrderCancelled)
                st.leaves = ev.leaves_lots
                if ev.leaves_lots:  # reduced (self-trade decrement), still open
                    st.qty = st.filled + ev.leaves_lots
                event = "cancelled"
                status = "cancelled" if not ev.leaves_lots else st.open_status()
                extra["cancel_reason"] = convert.REASONS.get(ev.reason)
                extra["cancelled_quantity"] = self.markets.symbols[st.symbol].format_qty(
                    ev.cancelled_lots)
            elif t is OrderExpired:
                assert isinstance(ev, OrderExpired)
                st.leaves = 0
                event, status = "expired", "expired"
            elif t is OrderTriggered:
                st.pending = False
                event, status = "triggered", st.open_status()
            else:
                assert isinstance(ev, OrderAmended)
                st.price, st.qty, st.leaves = ev.price_ticks, ev.qty_lots, ev.leaves_lots
                st.filled = ev.qty_lots - ev.leaves_lots
                event, status = "amended", st.open_status()
                extra["priority_kept"] = ev.priority_kept
        sym = self.markets.symbols[st.symbol]
        message = {"type": "order", "event": event, "seq": seq, "timestamp_ns": ts_ns,
                   "order": st.view(sym, status), **extra}
        if status in ("filled", "cancelled", "expired"):
            cache.pop(st.order_id, None)
        return message

    # -- periodic: tickers, candles, heartbeats ------------------------------------------

    async def _periodic(self) -> None:
        last_heartbeat_check = time.monotonic()
        while True:
            await asyncio.sleep(self.ticker_seconds)
            try:
                tickers, self._dirty_tickers = self._dirty_tickers, set()
                for name in tickers:
                    subs = self._ticker.get(name)
                    if subs:
                        text = _text(await self.ticker(name))
                        for conn in list(subs):
                            conn.offer(text)
                candles, self._dirty_candles = self._dirty_candles, set()
                for name, interval in candles:
                    subs = self._candles.get((name, interval))
                    if subs:
                        message = await self.candle(name, interval)
                        if message is not None:
                            text = _text(message)
                            for conn in list(subs):
                                conn.offer(text)
                now = time.monotonic()
                if now - last_heartbeat_check >= min(1.0, self.heartbeat_seconds / 2):
                    last_heartbeat_check = now
                    beat = _text({"type": "heartbeat"})
                    for conn in list(self.connections):
                        if not conn.simple and now - conn.last_offered >= (
                                self.heartbeat_seconds):
                            conn.offer(beat)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("websocket periodic publishing failed")

    async def ticker(self, name: str) -> dict[str, Any]:
        return {"type": "ticker", **await public.ticker(self.state, name)}

    async def candle(self, name: str, interval: str) -> dict[str, Any] | None:
        series = self.exchange.marketdata.feeds[name].candles[interval]
        if not series:
            return None
        rows = await public.candles(self.state, name, interval, start=series[-1].start_ns)
        if not rows:
            return None
        return {"type": "candle", "symbol": name, "interval": interval, **rows[-1]}


_ORDER_EVENTS = frozenset({OrderAccepted, OrderFilled, OrderCancelled, OrderExpired,
                           OrderTriggered, OrderAmended, OrderRejected})
_WALLET_EVENTS = frozenset({Deposited, WithdrawalRequested, WithdrawalCompleted,
                            WithdrawalRejected, BalanceAdjusted})


# -- the /ws protocol ----------------------------------------------------------------------


class _Session:
    """The request handling of one ``/ws`` connection."""

    def __init__(self, hub: Hub, conn: Connection) -> None:
        self.hub = hub
        self.conn = conn
        self.state = hub.state
        self.tasks: set[asyncio.Task[None]] = set()
        self.ops: dict[str, Callable[[dict[str, Any], Any], Awaitable[None] | None]] = {
            "subscribe": self.subscribe, "unsubscribe": self.unsubscribe, "auth": self.auth,
            "ping": self.ping, "place": self.order_op, "amend": self.order_op,
            "cancel": self.order_op, "cancel_all": self.order_op}

    def handle(self, raw: str) -> Awaitable[None] | None:
        """Answer one message. What it returns (ops that wait for I/O: ``auth``,
        ``subscribe``) is awaited before the connection's next message is read."""
        conn = self.conn
        try:
            message = _decode(raw)
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
        return None if pending is None else self._finish(pending, request_id)

    async def _finish(self, pending: Awaitable[None], request_id: Any) -> None:
        try:
            await pending
        except ApiError as exc:
            self.conn.error(exc.code, exc.message, request_id)

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
        name = convert.symbol_of(self.hub.markets, symbol).name
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
        if channel in ("ticker", "candles"):  # read before registering: no await after it
            first = await (hub.ticker(key[1]) if channel == "ticker"
                           else hub.candle(key[1], key[2]))
        # from here to the end nothing awaits: the initial state and the stream join up
        hub._subscribe(conn, key)
        if channel == "book":
            conn.paused_books.discard(key[1])
            self._book_start(key[1], since, message.get("epoch"), ack)
        elif channel == "orders":
            conn.send(ack)
            conn.send({"type": "orders_snapshot", "seq": hub.exchange.engine.last_seq,
                       "orders": hub.open_orders(key[1])})
        elif channel == "balances":
            conn.send(ack)
            conn.send({"type": "balances", "seq": hub.exchange.engine.last_seq,
                       "balances": hub.balances(key[1])})
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
                    conn.send(delta_message(sym, *merge_deltas(deltas)))
                return
        ack["resumed"] = False
        conn.send(ack)
        update_id, bids, asks = feed.depth()
        conn.send({"type": "book_snapshot", "symbol": name, "update_id": update_id,
                   "epoch": hub.epoch, "bids": _levels(sym, bids), "asks": _levels(sym, asks)})

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

    def order_op(self, message: dict[str, Any], request_id: Any) -> None:
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
        # requests are submitted in arrival order and answered when applied
        conn.in_flight += 1
        if message["op"] == "place":
            self._place(principal, message, request_id)
            return
        task = asyncio.get_running_loop().create_task(
            self._run_order_op(principal, message, request_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _place(self, principal: Principal, message: dict[str, Any], request_id: Any) -> None:
        """Validate as ``POST /api/v1/orders`` does and queue the order; ``_Placed``
        answers when it is applied (no task or future per order: this is the busy path)."""
        conn, exchange = self.conn, self.state.exchange
        fields = {k: v for k, v in message.items() if k != "op" and k != "request_id"}
        try:
            command = order_routes.build_order(exchange, principal.user_id,
                                               NewOrder.model_validate(fields))
            exchange.submit_nowait(command, _Placed(
                conn, request_id, exchange.markets.symbols[command.symbol]))
        except Exception as exc:
            conn.in_flight -= 1
            _refuse(conn, "place", exc, request_id)

    async def _run_order_op(self, principal: Principal, message: dict[str, Any],
                            request_id: Any) -> None:
        """``amend``, ``cancel`` and ``cancel_all``, as their REST endpoints do them."""
        conn, state = self.conn, self.state
        op = message["op"]
        fields = {k: v for k, v in message.items() if k not in ("op", "request_id")}
        try:
            if op == "amend":
                order_id = _order_id(fields.pop("order_id", None))
                data = await order_routes.amend_order(
                    order_id, AmendOrderBody.model_validate(fields), principal, state)
            elif op == "cancel":
                data = await order_routes.cancel_order(
                    _order_id(fields.get("order_id")), principal, state)
            else:
                symbol = fields.get("symbol")
                if symbol is not None and not isinstance(symbol, str):
                    raise ApiError(ApiCode.VALIDATION, "symbol must be a string.")
                data = await order_routes.cancel_all(principal, state, symbol or None)
            conn.send({"type": "result", "op": op, "request_id": request_id, "data": data})
        except Exception as exc:
            _refuse(conn, op, exc, request_id)
        finally:
            conn.in_flight -= 1


class _Placed:
    """The sequencer's completion of one ``place`` request: answers it on its connection
    (``result`` with the order as ``POST /api/v1/orders`` shows it, or ``error``)."""

    __slots__ = ("answered", "conn", "request_id", "sym")

    def __init__(self, conn: Connection, request_id: Any, sym: Symbol) -> None:
        self.conn = conn
        self.request_id = request_id
        self.sym = sym
        self.answered = False

    def done(self) -> bool:
        return self.answered

    def set_result(self, result: Result) -> None:
        self.answered = True
        conn = self.conn
        conn.in_flight -= 1
        try:
            conn.send({"type": "result", "op": "place", "request_id": self.request_id,
                       "data": convert.placed_view(self.sym, result.events)})
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


async def _serve(websocket: WebSocket, conn: Connection,
                 on_message: Callable[[str], Awaitable[None] | None]) -> None:
    """Run ``conn`` until the peer leaves or the hub closes it."""
    hub = conn.hub
    conn.writer = asyncio.get_running_loop().create_task(conn.write_loop())
    hub.add(conn)
    reader = asyncio.get_running_loop().create_task(_read(websocket, on_message))
    try:
        await asyncio.wait((reader, conn.writer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.remove(conn)
        conn.closing = True
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
        await _serve(websocket, conn, session.handle)
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
            message = _decode(text)
            if isinstance(message, dict) and message.get("op") == "ping":
                conn.send({"type": "pong", "time_ns": time.time_ns()})

    await _serve(websocket, conn, on_message)
