"""The sequencer: the one owner of the engine, behind a bounded queue.

Gateways (REST, WebSocket, FIX, the demo bot) call ``await runtime.submit(command)``.
The sequencer takes what is queued in batches, stamps each command with its sequence
number and time, journals the batch (one write, one fsync, off the event loop), applies
it to the engine, resolves every caller's future with its events, and then hands the
batch to subscribers (market data, the SQL projector, private user streams).

A full queue raises ``Busy`` at once (the gateway answers 503): the sequencer never
buffers without bound. Subscribers must not block: each gets the batch synchronously
and queues its own work.

Reads of engine state (books, balances, open orders) happen on the event loop between
batches, so they always see a consistent state; the engine is only ever mutated by the
sequencer task on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matchbook.core.commands import AnyCommand
from matchbook.core.events import Event
from matchbook.journal.durable import Applied, DurableEngine

logger = logging.getLogger(__name__)

Subscriber = Callable[[Sequence[Applied]], None]


class Busy(Exception):
    """The command queue is full; try again later."""


class Stopped(Exception):
    """The sequencer is stopping or stopped."""


class Unencodable(ValueError):
    """The command holds a value the journal cannot record (e.g. an int beyond 64 bits);
    it was refused before anything was written."""


@dataclass(slots=True)
class Result:
    seq: int
    ts_ns: int
    events: list[Event]


@dataclass
class SequencerStats:
    commands: int = 0
    batches: int = 0
    busy_rejections: int = 0
    last_batch_size: int = 0
    write_seconds: float = 0.0  # total time in journal writes (fsync included)
    apply_seconds: float = 0.0


class Sequencer:
    """Owns a ``DurableEngine``; ``submit`` is the only way to change its state."""

    def __init__(self, durable: DurableEngine, *, queue_size: int = 10_000,
                 max_batch: int = 1024, clock: Callable[[], int] = time.time_ns) -> None:
        self.durable = durable
        self.engine = durable.engine
        self.max_batch = max_batch
        self.clock = clock
        self.stats = SequencerStats()
        self._queue: asyncio.Queue[tuple[AnyCommand, asyncio.Future[Result], int]] = (
            asyncio.Queue(maxsize=queue_size))
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._observers: list[Callable[[int, float], None]] = []

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sequencer")

    async def stop(self, snapshot: bool = True) -> None:
        """Stop taking commands, finish what is queued, write a snapshot, close."""
        self._stopping = True
        if self._task is not None:
            await self._queue.put(_STOP)  # type: ignore[arg-type]
            await self._task
            self._task = None
        if snapshot and self.engine.last_seq > self.durable.last_snapshot_seq:
            self.durable.snapshot()
        self.durable.close()

    # -- submission --------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(batch)`` after every applied batch, in sequence order."""
        self._subscribers.append(subscriber)

    def observe(self, observer: Callable[[int, float], None]) -> None:
        """``observer(commands, latency_seconds)`` per acknowledged command (metrics)."""
        self._observers.append(observer)

    async def submit(self, command: AnyCommand) -> Result:
        """Sequence, journal and apply ``command``; returns its events.

        Raises ``Busy`` at once if the queue is full and ``Stopped`` when stopping.
        """
        if self._stopping:
            raise Stopped("the exchange is shutting down")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((command, future, time.perf_counter_ns()))
        except asyncio.QueueFull:
            self.stats.busy_rejections += 1
            raise Busy("the order queue is full") from None
        return await future

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        durable = self.durable
        while True:
            first = await queue.get()
            batch = [first]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            stop = any(item is _STOP for item in batch)
            items = [item for item in batch if item is not _STOP]
            if items:
                try:
                    await self._process(durable, items)
                except Exception:  # a journal failure: nothing more can be acknowledged
                    logger.exception("sequencer failed; stopping")
                    self._stopping = True
                    for _, future, _ in items:
                        if not future.done():
                            future.set_exception(Stopped("the journal failed"))
                    self._fail_queued()
                    return
            if stop:
                self._fail_queued()
                return

    async def _process(self, durable: DurableEngine,
                       items: list[tuple[AnyCommand, asyncio.Future[Result], int]]) -> None:
        now = self.clock()
        stamped = durable.stamp([(command, now) for command, _, _ in items],
                                refuse_unencodable=True)
        if stamped.refused:  # refused one by one: a bad command never fails its batch
            for index, exc in stamped.refused:
                future = items[index][1]
                if not future.done():
                    future.set_exception(Unencodable(f"the command cannot be recorded: {exc}"))
            bad = {index for index, _ in stamped.refused}
            items = [item for index, item in enumerate(items) if index not in bad]
            if not items:
                return
        started = time.perf_counter()
        if durable.config.mode == "none":
            durable.write(stamped)
        else:
            await asyncio.to_thread(durable.write, stamped)  # fsync off the event loop
        written = time.perf_counter()
        applied = durable.apply(stamped)
        done = time.perf_counter()
        stats = self.stats
        stats.write_seconds += written - started
        stats.apply_seconds += done - written
        stats.commands += len(applied)
        stats.batches += 1
        stats.last_batch_size = len(applied)
        ack = time.perf_counter_ns()
        for (seq, ts_ns, _, events), (_, future, enqueued) in zip(applied, items, strict=True):
            if not future.done():
                future.set_result(Result(seq, ts_ns, events))
            latency = (ack - enqueued) / 1e9
            for observer in self._observers:
                observer(1, latency)
        for subscriber in self._subscribers:
            try:
                subscriber(applied)
            except Exception:  # a broken consumer must not stop the exchange
                logger.exception("event subscriber failed")

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _STOP and not item[1].done():
                item[1].set_exception(Stopped("the exchange is shutting down"))


_STOP = object()
