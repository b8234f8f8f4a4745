"""The sequencer: the one owner of the engine, behind a bounded queue.

Gateways (REST, WebSocket, FIX, the demo bot) call ``await runtime.submit(command)``,
or ``submit_nowait(command, completion)`` to be called back instead of awaiting. The
sequencer takes what is queued in batches, stamps each command with its sequence number
and time, journals the batch (one write, one fsync), applies it to the engine, completes
every caller's future (or completion) with its events, and then hands the batch to its
consumers, in order (market data, the SQL projector, metrics, the WebSocket hub: see
:mod:`matchbook.runtime.consumer`). Nothing is answered or published before its own
write is done.

**Where a batch is written** (``journal_writes``):

* ``"loop"``: on the event loop, then the batch is applied at once. While the fsync
  runs, the loop serves nothing else; what arrives meanwhile waits in the sockets and
  becomes the next batch, read in fewer, larger reads. No other thread is woken.
* ``"thread"``: on the thread ``matchbook-journal``, while the loop applies and
  answers the batch before; the loop keeps serving reads during every fsync, at the
  price of two wake-ups between threads (and the GIL changing hands) per batch.
* ``"auto"`` (the default): on the loop while the recent writes, fsync included, took
  less than ``LOOP_WRITE_SECONDS`` on average, else on the thread, so a slow disk (or
  a slow spell of one) never holds the event loop for long.

On a two-core machine, with the load generator and the SQL projector's process beside
the server, writing on the loop took about a third off the server's CPU per WebSocket
order and halved its p99 (``docs/performance.md``, seventh round).

A full queue raises ``Busy`` at once (the gateway answers 503): the sequencer never
buffers without bound. Consumers and completions must not block: each is called
synchronously and queues its own work.

Reads of engine state (books, balances, open orders) happen on the event loop between
batches, so they always see a consistent state; the engine is only ever mutated by the
sequencer task on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from matchbook.core.commands import AnyCommand
from matchbook.core.events import Event
from matchbook.journal.durable import DurableEngine, Stamped
from matchbook.runtime.consumer import Batch, Consumer
from matchbook.settings import JOURNAL_WRITES, JournalWrites

__all__ = ["JOURNAL_WRITES", "LOOP_WRITE_SECONDS", "Busy", "Completion", "JournalWrites",
           "Result", "Sequencer", "SequencerStats", "Stopped", "Unencodable"]

logger = logging.getLogger(__name__)


LOOP_WRITE_SECONDS: Final = 0.001
"""In ``auto``, batches are written on the event loop while the recent writes (write and
fsync) took less than this on average (a moving average over about ten batches)."""
_RECENT_WEIGHT: Final = 0.1  # each write's weight in that average


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


class Completion(Protocol):
    """What waits for a command's outcome: an ``asyncio.Future[Result]``, or any object
    with these methods. The sequencer calls ``set_result`` or ``set_exception`` once, on
    the event loop, right after the command's batch is applied; they must not block."""

    def done(self) -> bool: ...

    def set_result(self, result: Result, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


_Item = tuple[AnyCommand, Completion, int]  # command, completion, perf_counter_ns queued


@dataclass(slots=True)
class _Stamped:
    """A stamped batch and who waits for each of its commands."""

    items: list[_Item]
    stamped: Stamped


@dataclass(slots=True)
class _Journaling(_Stamped):
    """A stamped batch being written on the journal's thread (the future gives the
    write's seconds)."""

    seconds: asyncio.Future[float]


def _timed_write(durable: DurableEngine, stamped: Stamped) -> float:
    started = time.perf_counter()
    durable.write(stamped)
    return time.perf_counter() - started


class _JournalThread:
    """The thread ``matchbook-journal``: writes the stamped batches in the order given,
    one at a time, and resolves each one's future on the event loop with the seconds the
    write took (or its exception).

    Per batch, one queue put on the loop and one ``call_soon_threadsafe`` back: at low
    rates, when a batch holds one or two orders, ``loop.run_in_executor`` cost more (a
    concurrent future chained to an asyncio one, the executor's idle semaphore on both
    threads)."""

    def __init__(self, durable: DurableEngine) -> None:
        self.durable = durable
        self._queue: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, Stamped, asyncio.Future[float]] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None

    def submit(self, loop: asyncio.AbstractEventLoop, stamped: Stamped) -> asyncio.Future[float]:
        if self._thread is None:
            # a daemon: a write cut short when the interpreter exits without ``stop`` is
            # a crash, which the journal's recovery handles (nobody was answered)
            self._thread = threading.Thread(target=self._run, name="matchbook-journal_0",
                                            daemon=True)
            self._thread.start()
        future: asyncio.Future[float] = loop.create_future()
        self._queue.put((loop, stamped, future))
        return future

    def shutdown(self) -> None:
        """Finish the writes queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        durable = self.durable
        take = self._queue.get
        while (item := take()) is not None:
            loop, stamped, future = item
            try:
                seconds = _timed_write(durable, stamped)
            except BaseException as exc:  # handed to the sequencer
                _call_soon(loop, _fail, future, exc)
            else:
                _call_soon(loop, _resolve, future, seconds)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None],
               *args: object) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
        loop.call_soon_threadsafe(callback, *args)


def _resolve(future: asyncio.Future[float], seconds: float) -> None:
    if not future.done():
        future.set_result(seconds)


def _fail(future: asyncio.Future[float], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


@dataclass
class SequencerStats:
    commands: int = 0
    batches: int = 0
    busy_rejections: int = 0
    last_batch_size: int = 0
    write_seconds: float = 0.0  # total time in journal writes (fsync included)
    loop_writes: int = 0  # batches written on the event loop (the rest on the thread)
    apply_seconds: float = 0.0


class Sequencer:
    """Owns a ``DurableEngine``; ``submit`` is the only way to change its state."""

    def __init__(self, durable: DurableEngine, *, queue_size: int = 10_000,
                 max_batch: int = 1024, clock: Callable[[], int] = time.time_ns,
                 consumers: Sequence[Consumer] = (),
                 journal_writes: JournalWrites = "auto") -> None:
        if journal_writes not in JOURNAL_WRITES:
            raise ValueError(f"journal_writes must be one of {', '.join(JOURNAL_WRITES)}, "
                             f"got {journal_writes!r}")
        self.durable = durable
        self.journal_writes: JournalWrites = journal_writes
        self._recent_write = 0.0  # moving average of the seconds a write took
        self.engine = durable.engine
        self.max_batch = max_batch
        self.clock = clock
        self.stats = SequencerStats()
        self.queue_size = queue_size
        self._queue: deque[_Item] = deque()
        self._wakeup: asyncio.Future[None] | None = None  # the loop waits for a command
        # called in this order after every applied batch; the exchange owns the list
        self.consumers: list[Consumer] = list(consumers)
        self._journal_thread = _JournalThread(durable)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sequencer")

    async def stop(self, snapshot: bool = True, close: bool = True) -> None:
        """Stop taking commands, finish what is queued, write a snapshot, close (the
        journal stays open for the caller to close when ``close`` is false)."""
        self._stopping = True
        if self._task is not None:
            self._wake()
            await self._task
            self._task = None
        self._journal_thread.shutdown()
        if snapshot and self.engine.last_seq > self.durable.last_snapshot_seq:
            self.durable.snapshot()
        if close:
            self.durable.close()

    # -- submission --------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    async def submit(self, command: AnyCommand) -> Result:
        """Sequence, journal and apply ``command``; returns its events.

        Raises ``Busy`` at once if the queue is full and ``Stopped`` when stopping.
        """
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.submit_nowait(command, future)
        return await future

    def submit_nowait(self, command: AnyCommand, completion: Completion) -> None:
        """Queue ``command``; ``completion`` gets its ``Result`` once it is journaled and
        applied (``Stopped`` or ``Unencodable`` if it never is). O(1).

        Raises ``Busy`` at once if the queue is full and ``Stopped`` when stopping.
        """
        if self._stopping:
            raise Stopped("the exchange is shutting down")
        queue = self._queue
        if len(queue) >= self.queue_size:
            self.stats.busy_rejections += 1
            raise Busy("the order queue is full")
        queue.append((command, completion, time.perf_counter_ns()))
        if self._wakeup is not None:
            self._wake()

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        """Journal and apply queued commands, up to ``max_batch`` at a time, until stopped
        and drained. A batch written on the loop is applied at once; while one written
        on the journal's thread is being written, the batch before it is applied and
        answered. Writes reach the journal one at a time and in order, and a batch is
        applied only once its write is done."""
        queue = self._queue
        loop = asyncio.get_running_loop()
        taken: list[_Item] = []  # the commands last taken from the queue
        written: _Stamped | None = None  # the batch being applied
        writing: _Journaling | None = None  # the batch being written on the thread
        try:
            while writing is not None or queue or not self._stopping:
                if writing is None:
                    if not queue:
                        self._wakeup = loop.create_future()
                        await self._wakeup
                        continue
                    taken = self._take()
                    if not self._on_loop():
                        writing = self._journal(taken, loop)
                        continue
                    written = self._write_here(taken)
                    taken = []
                    if written is not None:
                        self._apply(written)
                        written = None
                    if queue:  # let the loop read and answer before the next batch
                        await asyncio.sleep(0)
                    continue
                journaled, writing = writing, None
                written = journaled
                self._wrote(await journaled.seconds)
                if queue and not self._on_loop():
                    taken = self._take()
                    writing = self._journal(taken, loop)
                self._apply(written)
                written = None
        except Exception:  # the journal (or the engine) failed: nothing more is answered
            logger.exception("sequencer failed; stopping")
            self._stopping = True
            if writing is not None:  # its write ends before the journal may be closed
                await asyncio.wait([writing.seconds])
            for items in (written.items if written else [], taken):
                for _, completion, _ in items:
                    if not completion.done():
                        completion.set_exception(Stopped("the journal failed"))
            self._fail_queued()

    def _take(self) -> list[_Item]:
        take = self._queue.popleft
        return [take() for _ in range(min(len(self._queue), self.max_batch))]

    def _on_loop(self) -> bool:
        """Is the next batch written on the event loop?"""
        writes = self.journal_writes
        if writes == "loop" or self.durable.config.mode == "none":
            return True
        return writes == "auto" and self._recent_write < LOOP_WRITE_SECONDS

    def _wrote(self, seconds: float) -> None:
        self.stats.write_seconds += seconds
        self._recent_write += _RECENT_WEIGHT * (seconds - self._recent_write)

    def _stamp(self, items: list[_Item]) -> tuple[list[_Item], Stamped] | None:
        """Stamp ``items`` for the journal; the items left and their stamped batch,
        ``None`` if every one was refused (each refused one is answered here)."""
        durable = self.durable
        now = self.clock()
        stamped = durable.stamp([(command, now) for command, _, _ in items],
                                refuse_unencodable=True)
        if stamped.refused:  # refused one by one: a bad command never fails its batch
            for index, exc in stamped.refused:
                completion = items[index][1]
                if not completion.done():
                    completion.set_exception(
                        Unencodable(f"the command cannot be recorded: {exc}"))
            bad = {index for index, _ in stamped.refused}
            items = [item for index, item in enumerate(items) if index not in bad]
            if not items:
                return None
        return items, stamped

    def _write_here(self, items: list[_Item]) -> _Stamped | None:
        """Stamp ``items`` and write them now, on this thread (the event loop's)."""
        stamping = self._stamp(items)
        if stamping is None:
            return None
        items, stamped = stamping
        seconds = _timed_write(self.durable, stamped)  # raises: the sequencer stops
        self._wrote(seconds)
        self.stats.loop_writes += 1
        return _Stamped(items, stamped)

    def _journal(self, items: list[_Item],
                 loop: asyncio.AbstractEventLoop) -> _Journaling | None:
        """Stamp ``items`` and hand their write to the journal's thread; ``None`` if
        every one was refused."""
        stamping = self._stamp(items)
        if stamping is None:
            return None
        items, stamped = stamping
        return _Journaling(items, stamped, self._journal_thread.submit(loop, stamped))

    def _apply(self, batch: _Stamped) -> None:
        """Apply a journaled batch, answer its callers, hand it to the consumers."""
        started = time.perf_counter()
        applied = self.durable.apply(batch.stamped)
        stats = self.stats
        stats.apply_seconds += time.perf_counter() - started
        stats.commands += len(applied)
        stats.batches += 1
        stats.last_batch_size = len(applied)
        items = batch.items
        for (seq, ts_ns, _, events), (_, completion, _) in zip(applied, items, strict=True):
            if not completion.done():
                completion.set_result(Result(seq, ts_ns, events))
        done = Batch(applied, [enqueued for _, _, enqueued in items], time.perf_counter_ns())
        for consumer in self.consumers:
            try:
                consumer.consume(done)
            except Exception:  # a broken consumer must not stop the exchange
                logger.exception("consumer %s failed", type(consumer).__name__)

    def _fail_queued(self) -> None:
        queue = self._queue
        while queue:
            _, completion, _ = queue.popleft()
            if not completion.done():
                completion.set_exception(Stopped("the exchange is shutting down"))
