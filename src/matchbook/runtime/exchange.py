"""The exchange on one page: what runs, in what order, on which thread or process.

``await Exchange.start(settings)`` builds the pipeline in these steps; every gateway
(REST, WebSocket, FIX, the demo bot, the simulator over the network) and every tool
(the pipeline benchmark) starts it through this one call, and uses the same two calls
to trade: ``await exchange.submit(command)`` (or ``submit_nowait`` with a completion
to call back).

1. **Recover** (a worker thread, once): the newest valid snapshot plus the journal
   after it rebuild the engine (:class:`~matchbook.journal.durable.DurableEngine`).
   When the journal's last command is older than ``OUTAGE_AFTER_NS``, the downtime is
   journaled as ``RecordOutage(last, now)`` before anything else, so every running P2P
   deadline moves later by it (nobody loses a trade while the exchange was off).
2. **Sequencer** (the task ``sequencer`` on the event loop): takes queued commands in
   batches, stamps them, writes and fsyncs each batch to the journal (on the loop while
   writes are quick, else on the thread ``matchbook-journal``: ``Settings.journal_writes``),
   applies it to the engine on the loop, answers the callers, then hands the batch to
   the consumers below, in this order, on the loop. A periodic
   snapshot is copied by forking a child process that encodes, writes and fsyncs it
   (the thread ``matchbook-snapshot`` waits for it); without ``fork`` the state is
   copied on the loop and encoded and written on that thread.
3. **Market data** (in the sequencer's turn): L2 books and their deltas, trades,
   tickers, candles; it leaves the batch's deltas and trades on ``batch.published``.
4. **SQL projector**: migrate, bring the read model up to the journal, seed market
   data's history from it, then follow. By default (``Settings.projector = "process"``)
   it is a process of its own (:mod:`matchbook.store.process`): it follows the journal
   files with its own engine replica and writes the same database, so its work never
   holds this process's GIL; the exchange waits until it has projected
   ``engine.last_seq``, reads its figures from a shared array when asked, does nothing
   per batch, and starts it again after a growing pause if it dies (it exits when
   this process is gone). In journal mode
   ``none`` (no journal files), with an in-memory database, or with ``projector =
   "thread"``, it runs here: the task ``matchbook-sql-projector`` on the loop, fed by
   the consumer, which only queues the batch (on a SQLite file each write's rows are
   built and written on the thread ``matchbook-sql-writer``; on PostgreSQL they are
   built on the loop). Either way a batch it cannot write is dead-lettered, never
   retried forever (:mod:`matchbook.store.follow`).
5. **Metrics** (in the sequencer's turn): counters and the ack latency of every
   command; gauges read at scrape time (:mod:`matchbook.runtime.metrics`).
6. **Extra consumers** (in the sequencer's turn), in the order attached: the WebSocket
   hub, a test's probe.

``stop()`` undoes them in reverse: the extra consumers are stopped, the sequencer
stops taking commands and drains what was queued through every consumer, metrics are
unbound, the projector writes up to the last sequence number (the process is told it
and exits), and the last snapshot is written before the journal is closed.

A consumer must not block (see :mod:`matchbook.runtime.consumer`); one that fails is
logged and the next one still runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from prometheus_client.core import Metric
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.config import read_config, risk_limits
from matchbook.core import Engine, Markets, RiskLimits, load_markets
from matchbook.core.commands import AnyCommand, RecordOutage
from matchbook.journal.durable import DurabilityConfig, DurableEngine
from matchbook.marketdata.feed import MarketData
from matchbook.runtime.consumer import Batch, Consumer
from matchbook.runtime.history import seed_market_data
from matchbook.runtime.metrics import Metrics, counter, gauge
from matchbook.runtime.sequencer import Completion, Result, Sequencer
from matchbook.settings import Settings
from matchbook.store.db import create_engine, database_url
from matchbook.store.follow import ProjectorTask
from matchbook.store.migrate import upgrade_async
from matchbook.store.process import ChildConfig, ProjectorProcess
from matchbook.store.projector import Projector

logger = logging.getLogger(__name__)

OUTAGE_AFTER_NS = 1_000_000_000
"""A restart this long after the journal's last command records an outage."""


class Exchange:
    """Owns every running component; create with ``await Exchange.start(settings)``."""

    def __init__(self, settings: Settings, markets: Markets, durable: DurableEngine,
                 limits: RiskLimits | None = None) -> None:
        self.settings = settings
        self.markets = markets
        self.limits = limits
        self.durable = durable
        self.started_ns = time.time_ns()
        self.sequencer = Sequencer(durable, queue_size=settings.queue_size,
                                   max_batch=settings.max_batch,
                                   journal_writes=settings.journal_writes)
        self.consumers: list[Consumer] = self.sequencer.consumers  # called in this order
        self.marketdata = MarketData(markets, durable.engine)
        self.projector: ProjectorProcess | ProjectorTask | None = None
        self.db: AsyncEngine | None = None  # the read model, for the API's history reads
        self.metrics = Metrics(durable, self.sequencer, self.consumers)
        # step 6: extra consumers and what stops them
        self._attached: list[tuple[Consumer, Callable[[], Awaitable[None]] | None]] = []

    @property
    def engine(self) -> Engine:
        """The live engine: read it on the event loop only, never mutate it."""
        return self.durable.engine

    @classmethod
    async def start(cls, settings: Settings, *, markets: Markets | None = None,
                    limits: RiskLimits | None = None, read_model: bool = True) -> Exchange:
        """Recover and start the pipeline (steps 1 to 5; attach step 6 with ``attach``).

        ``markets`` and ``limits`` default to the configuration's (``settings``'
        markets file); ``read_model=False`` runs without the SQL projector.
        """
        if markets is None:
            config = read_config(settings.markets_file or None)
            markets = load_markets(config)
            limits = limits if limits is not None else risk_limits(markets, config)
        # 1. recover (worker thread)
        durable = await asyncio.to_thread(
            DurableEngine.open, Path(settings.data_dir), markets,
            config=DurabilityConfig(mode=settings.journal_mode,  # type: ignore[arg-type]
                                    snapshot_every_commands=settings.snapshot_every_commands,
                                    snapshot_every_seconds=settings.snapshot_every_seconds,
                                    snapshot_in_background=True),
            limits=limits)
        info = durable.recovery
        logger.info("recovered: snapshot %d + %d journal records -> seq %d in %.3f s",
                    info.snapshot_seq, info.replayed, info.last_seq, info.seconds)
        await asyncio.to_thread(record_outage, durable, time.time_ns())
        exchange = cls(settings, markets, durable, limits)
        try:
            await exchange._start_consumers(read_model)
        except BaseException:
            await exchange._close_read_model()
            durable.close()
            raise
        # 2. the sequencer takes commands from now on
        exchange.sequencer.start()
        return exchange

    async def _start_consumers(self, read_model: bool) -> None:
        consumers = self.consumers
        # 3. market data
        consumers.append(_MarketDataStep(self.marketdata))
        # 4. SQL projector: caught up before any new command, so that history is seeded
        # from a read model that holds everything the journal does
        if read_model:
            settings = self.settings
            url = settings.database_url or database_url(settings.data_dir)
            await upgrade_async(url)
            start = self._projector_process if follows_journal(settings, url) else self._task
            self.projector = await start(url)
            self.db = create_engine(url)
            try:
                await seed_market_data(self.db, self.marketdata, time.time_ns())
            except Exception:  # history is a convenience: the exchange runs without it
                logger.exception("could not seed market data's history from the read model")
        # 5. metrics
        self.metrics.start()
        consumers.append(self.metrics)

    async def _projector_process(self, url: str) -> ProjectorProcess:
        """4. in a process of its own, following the journal files."""
        settings = self.settings
        process = ProjectorProcess(
            ChildConfig(str(settings.data_dir), url, self.markets,
                        interval=settings.projector_interval_seconds),
            lambda: self.engine.last_seq)
        await process.start(self.engine.last_seq)
        self.metrics.sources.append(_ProjectorGauges(process))
        return process

    async def _task(self, url: str) -> ProjectorTask:
        """4. in this process, fed by the sequencer (the consumer queues each batch)."""
        settings = self.settings
        projection = Projector(url, self.markets, migrate=False)
        await projection.start()
        task = ProjectorTask(projection, data_dir=settings.data_dir,
                             interval=settings.projector_interval_seconds)
        await task.catch_up_at_start(self.engine.last_seq)  # never fails for the read model
        await task.start()
        task.offer(self.durable.opened)  # beyond the journal in mode "none"
        self.consumers.append(_ProjectorStep(task))
        return task

    def attach(self, consumer: Consumer,
               stop: Callable[[], Awaitable[None]] | None = None) -> None:
        """6. Add ``consumer`` after every other; ``stop()`` awaits ``stop`` first (while
        the exchange still trades) and then takes the consumer off the list."""
        self.consumers.append(consumer)
        self._attached.append((consumer, stop))

    async def stop(self) -> None:
        """The steps in reverse: extra consumers, drain the sequencer, metrics, the
        projector (writes what it was offered), the last snapshot and the journal."""
        for consumer, stop in reversed(self._attached):  # 6.
            if stop is not None:
                try:
                    await stop()
                except Exception:
                    logger.exception("stopping %s failed", type(consumer).__name__)
            self.consumers.remove(consumer)
        self._attached.clear()
        await self.sequencer.stop(snapshot=False, close=False)  # 2. drained through every consumer
        self.metrics.stop()  # 5.
        await self._close_read_model()  # 4.
        durable = self.durable  # 1.
        await asyncio.to_thread(durable.wait_for_snapshots)
        if self.engine.last_seq > durable.last_snapshot_seq:
            await asyncio.to_thread(durable.snapshot)
        durable.close()

    async def _close_read_model(self) -> None:
        task, self.projector = self.projector, None
        if isinstance(task, ProjectorProcess):
            await task.stop(self.engine.last_seq)
        elif task is not None:
            await task.stop()
            await task.projector.stop()
        db, self.db = self.db, None
        if db is not None:
            await db.dispose()

    # -- trading ---------------------------------------------------------------------------

    async def submit(self, command: AnyCommand) -> Result:
        return await self.sequencer.submit(command)

    def submit_nowait(self, command: AnyCommand, completion: Completion) -> None:
        """Queue ``command``; ``completion`` is called back with its ``Result``."""
        self.sequencer.submit_nowait(command, completion)


def record_outage(durable: DurableEngine, now_ns: int) -> None:
    """Journal and apply ``RecordOutage`` when the last command is more than
    ``OUTAGE_AFTER_NS`` before ``now_ns`` (before the sequencer takes any command, and
    before the projector catches up from the journal, which then holds it)."""
    last = durable.engine.last_ts
    if last and now_ns - last > OUTAGE_AFTER_NS:
        [(_, _, _, events)] = durable.submit([(RecordOutage(last, now_ns), now_ns)])
        logger.info("recorded an outage of %.3f s: %s", (now_ns - last) / 1e9, events)


class _MarketDataStep:
    """3. Fold the batch into market data; leave what it published on the batch."""

    def __init__(self, marketdata: MarketData) -> None:
        self.marketdata = marketdata

    def consume(self, batch: Batch) -> None:
        batch.published = self.marketdata.on_batch(batch.records)


def follows_journal(settings: Settings, url: str) -> bool:
    """Whether the SQL projector can run in a process of its own: it reads the journal
    files (none in mode ``none``) and writes a database another process can open."""
    if settings.projector not in ("process", "thread"):
        raise ValueError(f"projector must be process or thread, got {settings.projector!r}")
    parsed = make_url(url)
    in_memory = parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory")
    return settings.projector == "process" and settings.journal_mode != "none" and not in_memory


class _ProjectorGauges:
    """4. The SQL projector's gauges, read at scrape time."""

    def __init__(self, task: ProjectorProcess | ProjectorTask) -> None:
        self.task = task

    def metrics(self) -> Iterator[Metric]:
        task = self.task
        yield gauge("matchbook_projector_lag", "Commands not yet in SQL", task.lag)
        yield counter("matchbook_projector_dead_letters",
                      "Records the projector could not write and skipped (see the "
                      "projection_dead_letters table)", task.dead_letters)
        yield counter("matchbook_projector_errors", "Failed projector writes", task.errors)


class _ProjectorStep(_ProjectorGauges):
    """4. Queue the batch for the SQL projector in this process (never blocks: a full
    queue drops it and the projector catches up from the journal)."""

    def __init__(self, task: ProjectorTask) -> None:
        super().__init__(task)
        self.queue = task

    def consume(self, batch: Batch) -> None:
        self.queue.offer(batch.records)
