"""Prometheus metrics at ``/metrics``.

Counters and histograms are fed by the sequencer (commands, rejections by code, trades,
gateway-to-acknowledgement latency) and by ``HttpMetrics`` (HTTP requests by method and
status); gauges are read at scrape time (queue depth, journal fsyncs, projector lag,
WebSocket clients, dropped slow consumers).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matchbook.core.events import CommandRejected, OrderRejected, TradeExecuted
from matchbook.journal.durable import Applied

REGISTRY = CollectorRegistry(auto_describe=True)
COMMANDS = Counter("matchbook_commands_total", "Commands applied, by type", ["type"],
                   registry=REGISTRY)
REJECTS = Counter("matchbook_rejects_total", "Rejected commands, by result code", ["code"],
                  registry=REGISTRY)
TRADES = Counter("matchbook_trades_total", "Trades executed, by symbol", ["symbol"],
                 registry=REGISTRY)
LATENCY = Histogram("matchbook_command_latency_seconds",
                    "From the gateway's submit to the acknowledgement (journaled and applied)",
                    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                             0.1, 0.25, 0.5, 1.0), registry=REGISTRY)
HTTP = Histogram("matchbook_http_request_seconds", "HTTP requests", ["method", "status"],
                 buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0), registry=REGISTRY)


class _Live(Collector):
    """Gauges read from the running exchange at scrape time."""

    def __init__(self) -> None:
        self.state: Any = None
        self.projector: Any = None

    def collect(self) -> Iterator[Any]:
        state = self.state
        if state is None:
            return
        exchange = state.exchange
        writer = exchange.durable.writer.stats()
        yield GaugeMetricFamily("matchbook_queue_depth", "Commands waiting for the sequencer",
                                value=exchange.sequencer.queue_depth)
        yield GaugeMetricFamily("matchbook_last_seq", "Last applied sequence number",
                                value=exchange.engine.last_seq)
        yield CounterMetricFamily("matchbook_journal_fsyncs", "Journal fsyncs",
                                  value=writer.fsyncs)
        yield CounterMetricFamily("matchbook_journal_fsync_seconds", "Time spent in fsync",
                                  value=writer.fsync_seconds)
        yield CounterMetricFamily("matchbook_busy_rejections", "Commands refused: queue full",
                                  value=exchange.sequencer.stats.busy_rejections)
        if self.projector is not None:
            yield GaugeMetricFamily("matchbook_projector_lag", "Commands not yet in SQL",
                                    value=self.projector.lag)
        hub = getattr(state, "ws_hub", None)
        if hub is not None:
            yield GaugeMetricFamily("matchbook_websocket_clients", "Connected WebSocket clients",
                                    value=hub.client_count)
            yield CounterMetricFamily("matchbook_websocket_dropped", "Slow consumers dropped",
                                      value=hub.dropped)


_LIVE = _Live()
REGISTRY.register(_LIVE)


def bind(state: Any, projector: Any) -> None:
    """Point the scrape-time gauges at the running exchange and feed the counters."""
    _LIVE.state = state
    _LIVE.projector = projector
    state.exchange.sequencer.observe(lambda n, seconds: LATENCY.observe(seconds))
    state.exchange.listen(count_batch)


def count_batch(batch: Sequence[Applied]) -> None:
    """Count a batch's commands, trades and rejections: one increment per label."""
    commands: dict[str, int] = {}
    trades: dict[str, int] = {}
    rejects: dict[int, int] = {}
    for _, _, command, events in batch:
        name = type(command).__name__
        commands[name] = commands.get(name, 0) + 1
        for ev in events:
            t = type(ev)
            if t is TradeExecuted:
                symbol = ev.symbol  # type: ignore[attr-defined]
                trades[symbol] = trades.get(symbol, 0) + 1
            elif t is OrderRejected or t is CommandRejected:
                code = ev.code  # type: ignore[attr-defined]
                rejects[code] = rejects.get(code, 0) + 1
    for name, n in commands.items():
        COMMANDS.labels(name).inc(n)
    for symbol, n in trades.items():
        TRADES.labels(symbol).inc(n)
    for code, n in rejects.items():
        REJECTS.labels(str(code)).inc(n)


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


@functools.cache
def _http_timer(method: str, status: int) -> Callable[[float], None]:
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
            _http_timer(scope["method"], status)(time.perf_counter() - started)
