"""The exchange's Prometheus metrics: one registry for the process, served at ``/metrics``.

:class:`Metrics` is the pipeline's metrics step (a consumer): it counts every batch's
commands, trades and rejections and observes each command's gateway-to-acknowledgement
latency. At scrape time it reads the running exchange's gauges (queue depth, last
sequence number, journal fsyncs, snapshots) and those of every consumer with a
``metrics()`` method (the SQL projector's lag and dead letters, the WebSocket hub's
clients).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from matchbook.core.events import CommandRejected, OrderRejected, TradeExecuted
from matchbook.journal.durable import DurableEngine
from matchbook.runtime.consumer import Batch, Consumer
from matchbook.runtime.sequencer import Sequencer

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


class _Scrape(Collector):
    """The gauges of the exchange running in this process (the last one started)."""

    def __init__(self) -> None:
        self.metrics: Metrics | None = None

    def collect(self) -> Iterator[Metric]:
        metrics = self.metrics
        if metrics is None:
            return
        durable, sequencer = metrics.durable, metrics.sequencer
        writer = durable.writer.stats()
        yield GaugeMetricFamily("matchbook_queue_depth", "Commands waiting for the sequencer",
                                value=sequencer.queue_depth)
        yield GaugeMetricFamily("matchbook_last_seq", "Last applied sequence number",
                                value=durable.engine.last_seq)
        yield CounterMetricFamily("matchbook_journal_fsyncs", "Journal fsyncs",
                                  value=writer.fsyncs)
        yield CounterMetricFamily("matchbook_journal_fsync_seconds", "Time spent in fsync",
                                  value=writer.fsync_seconds)
        yield CounterMetricFamily("matchbook_busy_rejections", "Commands refused: queue full",
                                  value=sequencer.stats.busy_rejections)
        yield CounterMetricFamily("matchbook_snapshots", "Snapshots written",
                                  value=durable.snapshots_written)
        yield CounterMetricFamily("matchbook_snapshot_failures", "Snapshots that failed",
                                  value=durable.snapshot_failures)
        for consumer in [*metrics.consumers, *metrics.sources]:
            gauges = getattr(consumer, "metrics", None)
            if gauges is not None:
                yield from gauges()


_SCRAPE = _Scrape()
REGISTRY.register(_SCRAPE)


class Metrics:
    """Step 5 of the pipeline: counters per batch, ack latency per command."""

    def __init__(self, durable: DurableEngine, sequencer: Sequencer,
                 consumers: Sequence[Consumer]) -> None:
        self.durable = durable
        self.sequencer = sequencer
        self.consumers = consumers  # those with a ``metrics()`` method add their gauges
        self.sources: list[Any] = []  # and these (a component that is not a consumer)
        # each counter's children by label value, found once (``labels`` validates and
        # locks on every call)
        self._children: dict[Counter, dict[str | int, Any]] = {
            COMMANDS: {}, TRADES: {}, REJECTS: {}}

    def _inc(self, counter: Counter, counts: dict[str, int] | dict[int, int]) -> None:
        children = self._children[counter]
        for value, n in counts.items():
            child = children.get(value)
            if child is None:
                child = children[value] = counter.labels(str(value))
            child.inc(n)

    def start(self) -> None:
        """Serve this exchange's gauges at scrape time."""
        _SCRAPE.metrics = self

    def stop(self) -> None:
        if _SCRAPE.metrics is self:
            _SCRAPE.metrics = None

    def consume(self, batch: Batch) -> None:
        """Count a batch's commands, trades and rejections (one increment per label) and
        observe each command's latency."""
        commands: dict[str, int] = {}
        trades: dict[str, int] = {}
        rejects: dict[int, int] = {}
        ev: Any  # dispatched on its exact type
        for _, _, command, events in batch.records:
            name = type(command).__name__
            commands[name] = commands.get(name, 0) + 1
            for ev in events:
                t = type(ev)
                if t is TradeExecuted:
                    trades[ev.symbol] = trades.get(ev.symbol, 0) + 1
                elif t is OrderRejected or t is CommandRejected:
                    rejects[ev.code] = rejects.get(ev.code, 0) + 1
        self._inc(COMMANDS, commands)
        self._inc(TRADES, trades)
        self._inc(REJECTS, rejects)
        observe_all(LATENCY, [(batch.acked_ns - q) / 1e9 for q in batch.queued_ns])


def observe_all(histogram: Histogram, amounts: list[float]) -> None:
    """``histogram.observe(a)`` for each of ``amounts``, with one increment per bucket
    touched and one of the sum rather than two locked increments per value: each value
    goes to the first bucket whose bound is ``>=`` it, as ``observe`` puts it.
    prometheus-client has no call for many values, so this adds to the histogram's own
    values (``_buckets``, ``_sum``); a histogram without them observes one by one."""
    bounds: list[float] | None = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(buckets) != len(bounds):
        for amount in amounts:
            histogram.observe(amount)
        return
    counts = [0] * len(bounds)
    for amount in amounts:
        counts[bisect_left(bounds, amount)] += 1
    total.inc(sum(amounts))
    for index, count in enumerate(counts):
        if count:
            buckets[index].inc(count)


def counter(name: str, documentation: str, value: float) -> Metric:
    return CounterMetricFamily(name, documentation, value=value)


def gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(name, documentation, value=value)


__all__ = ["COMMANDS", "LATENCY", "REGISTRY", "REJECTS", "TRADES", "Metrics", "counter",
           "gauge"]
