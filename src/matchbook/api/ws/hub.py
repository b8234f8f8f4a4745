"""The hub: routes market data and private events to connections, drops or resyncs slow
consumers, and publishes tickers, candles and heartbeats periodically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import Metric

from matchbook.api.deps import ApiState
from matchbook.api.ws import frames
from matchbook.api.ws.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_POLICY,
    CLOSE_RESTART,
    CLOSE_TRY_LATER,
    PUBLIC_CHANNELS,
    Connection,
    text,
)
from matchbook.api.ws.p2p import P2PStreams
from matchbook.api.ws.private import PrivateStreams
from matchbook.core.events import Applied
from matchbook.marketdata.feed import INTERVALS_NS, Delta
from matchbook.runtime.consumer import Batch
from matchbook.runtime.metrics import counter, gauge

logger = logging.getLogger(__name__)

SIMPLE_SYMBOL = "BTC-USD"
SIMPLE_DEPTH = 20


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
        self.places_decoded_once = 0  # place requests decoded straight into PlaceMessage
        self._book: dict[str, set[Connection]] = {}
        self._trades: dict[str, set[Connection]] = {}
        self._ticker: dict[str, set[Connection]] = {}
        self._candles: dict[tuple[str, str], set[Connection]] = {}
        self.market = state.market
        self.private = PrivateStreams(state.reads)
        self.p2p = P2PStreams(state.p2p)
        self._simple: set[Connection] = set()
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
            return self.private.orders, key[1]
        if channel == "p2p":
            return self.p2p.subs, key[1]
        return self.private.balances, key[1]

    def _subscribe(self, conn: Connection, key: tuple[Any, ...]) -> bool:
        """Register; False if it was already there."""
        index, k = self._index(key)
        subs = index.setdefault(k, set())
        if conn in subs:
            return False
        subs.add(conn)
        conn.subscriptions.add(key)
        if key[0] == "orders":
            self.private.follow(k)
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
                self.private.forget(k)
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
            conn.outbox.append(text(message))

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
                    frame = text(frames.message("trade", self.market.trade(sym, item)))
                    for conn in subs:
                        conn.offer(frame)
                if name == SIMPLE_SYMBOL and self._simple:
                    frame = text(frames.simple_trade_message(sym, item))
                    for conn in self._simple:
                        conn.offer(frame)
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
                frame = text(frames.delta_message(sym, *frames.merge_deltas(deltas)))
                for conn in subs:
                    if name not in conn.paused_books:
                        conn.offer(frame)
            if name == SIMPLE_SYMBOL and self._simple:
                frame = text(self.simple_book())
                for conn in self._simple:
                    conn.offer(frame)

    def simple_book(self) -> dict[str, Any]:
        return frames.simple_book_message(self.market.simple_book(SIMPLE_SYMBOL, SIMPLE_DEPTH))

    def on_batch(self, batch: Sequence[Applied]) -> None:
        """The private streams' share of one applied batch; called by the sequencer."""
        if self._running:
            self.private.on_batch(batch)
            self.p2p.on_batch(batch)

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
                        frame = text(self.ticker(name))
                        for conn in list(subs):
                            conn.offer(frame)
                candles, self._dirty_candles = self._dirty_candles, set()
                for name, interval in candles:
                    subs = self._candles.get((name, interval))
                    if subs:
                        message = self.candle(name, interval)
                        if message is not None:
                            frame = text(message)
                            for conn in list(subs):
                                conn.offer(frame)
                now = time.monotonic()
                if now - last_heartbeat_check >= min(1.0, self.heartbeat_seconds / 2):
                    last_heartbeat_check = now
                    beat = text({"type": "heartbeat"})
                    for conn in list(self.connections):
                        if not conn.simple and now - conn.last_offered >= (
                                self.heartbeat_seconds):
                            conn.offer(beat)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("websocket periodic publishing failed")

    def ticker(self, name: str) -> dict[str, Any]:
        return frames.message("ticker", self.market.ticker(name))

    def candle(self, name: str, interval: str) -> dict[str, Any] | None:
        candle = self.market.last_candle(name, interval)
        return frames.message("candle", candle) if candle is not None else None
