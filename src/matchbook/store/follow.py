"""The SQL projector's task: the read model follows the live event stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matchbook.store.errors import ProjectionError, ProjectionGapError
from matchbook.store.projector import Projector
from matchbook.store.rows import Record

logger = logging.getLogger(__name__)


class ProjectorTask:
    """Runs a :class:`Projector` behind a bounded queue of batches.

    :meth:`offer` is called by the producer (on the event loop thread) after every
    applied batch and never blocks. The consumer takes a batch, and when it has fallen
    behind also whatever else is queued (up to ``max_coalesce`` records), and writes
    them in one transaction.

    When it writes: at least ``interval`` seconds apart, so that a lone command is
    written at once and a steady stream in few large transactions (a write costs about
    as much for ten records as for a thousand, and every commit rewrites the index
    pages its rows touched). Under load the spacing grows with the offered rate, up to
    ``max_interval`` at ``busy_rate``: at 1,000 records/s with the defaults a write
    every 0.25 s holds about 250 records instead of 100, and the read model lags at
    most that much more; below ``busy_rate * interval / max_interval`` (400/s) it stays
    ``interval``. During a burst, while records are offered
    faster than ``busy_rate`` per second, it does not write at all: the event loop, the
    CPU and the disk (whose fsyncs acknowledge orders) go to order entry, and the
    projection catches up in large transactions once the burst is over. The lag is
    bounded all the same: once the oldest waiting record is ``max_delay`` seconds old,
    ``max_lag`` records are waiting (about 1 KB each), or the queue is half full, it
    writes whatever the rate.

    A batch offered to a full queue is dropped: the task is then ``behind`` until the
    hole is filled from the journal, either by :meth:`catch_up` or, when ``data_dir`` is
    given, automatically by the consumer.

    It never wedges: a batch that cannot be written is split until the failing record is
    alone, and that record is dead-lettered and skipped (:meth:`Projector.follow`). A
    database that cannot be reached is retried with a growing pause (up to
    ``max_retry_seconds``; one log line with the traceback, then one line per retry);
    after ``max_attempts`` failures in a row the records are isolated the same way, so
    a write that keeps failing for any reason ends as a dead letter.
    """

    def __init__(self, projector: Projector, *, maxsize: int = 4096,
                 max_coalesce: int = 20_000, data_dir: str | Path | None = None,
                 accounts: bool = True, retry_seconds: float = 1.0, interval: float = 0.1,
                 max_interval: float = 0.5, busy_rate: float = 2_000.0,
                 max_delay: float = 5.0,
                 max_lag: int = 100_000, max_attempts: int = 3,
                 max_retry_seconds: float = 30.0) -> None:
        self.projector = projector
        # (time.monotonic() when offered, batch)
        self.queue: asyncio.Queue[tuple[float, Sequence[Record]]] = asyncio.Queue(maxsize)
        self.max_coalesce = max_coalesce
        self.interval = interval
        self.max_interval = max(interval, max_interval)
        self.busy_rate = busy_rate
        self.max_delay = max_delay
        self.max_lag = max_lag
        self.offered_records = 0
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.accounts = accounts
        self.retry_seconds = retry_seconds
        self.last_offered_seq = projector.last_seq
        self.offered_batches = 0
        self.dropped_batches = 0
        self.dropped_records = 0
        self.discarded_records = 0  # dequeued but not writable (behind a hole)
        self.behind = False
        self.errors = 0
        self.last_error: str | None = None
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.failures = 0  # failed writes in a row
        self._task: asyncio.Task[None] | None = None

    # -- producer side -------------------------------------------------------------------

    def offer(self, batch: Sequence[Record]) -> bool:
        """Queue ``batch`` for projection; never blocks. Returns False (and marks the
        projection behind) when the queue is full and the batch was dropped. Call it on
        the event loop's thread (``asyncio.Queue`` is not thread-safe)."""
        if not batch:
            return True
        last = batch[-1][0]
        if last > self.last_offered_seq:
            self.last_offered_seq = last
        self.offered_batches += 1
        self.offered_records += len(batch)
        try:
            self.queue.put_nowait((time.monotonic(), batch))
        except asyncio.QueueFull:
            self.dropped_batches += 1
            self.dropped_records += len(batch)
            self.behind = True
            return False
        return True

    @property
    def lag(self) -> int:
        """Records offered but not yet in the database."""
        return max(0, self.last_offered_seq - self.projector.last_seq)

    @property
    def rows_per_second(self) -> float:
        """Rows written per second of database work."""
        return self.projector.stats().rows_per_second

    @property
    def commands_per_second(self) -> float:
        return self.projector.stats().commands_per_second

    @property
    def dead_letters(self) -> int:
        """Records skipped because they could not be written (``projection_dead_letters``)."""
        return self.projector.dead_letters

    def stats(self) -> dict[str, Any]:
        s = self.projector.stats()
        letter = self.projector.last_dead_letter
        return {"last_seq": s.last_seq, "last_offered_seq": self.last_offered_seq,
                "lag": self.lag, "queued_batches": self.queue.qsize(),
                "offered_batches": self.offered_batches,
                "dropped_batches": self.dropped_batches,
                "dropped_records": self.dropped_records,
                "discarded_records": self.discarded_records, "behind": self.behind,
                "batches": s.batches, "commands": s.commands, "rows": s.rows,
                "rows_per_second": s.rows_per_second,
                "commands_per_second": s.commands_per_second, "errors": self.errors,
                "last_error": self.last_error, "dead_letters": self.dead_letters,
                "last_dead_letter": letter.as_dict() if letter is not None else None}

    # -- consumer side -------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="matchbook-sql-projector")

    async def stop(self, *, drain: bool = True, timeout: float | None = 30.0) -> None:
        """Stop the consumer, after writing what is queued when ``drain``."""
        task, self._task = self._task, None
        if task is None:
            return
        if drain and not task.done():
            try:
                await asyncio.wait_for(self.queue.join(), timeout)
            except TimeoutError:
                logger.warning("projector stopped with %d batches still queued",
                               self.queue.qsize())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def catch_up(self, data_dir: str | Path | None = None) -> int:
        """Fill the hole from the journal (see :meth:`Projector.catch_up`); clears
        ``behind`` when the projection reached what was offered."""
        directory = Path(data_dir) if data_dir is not None else self.data_dir
        if directory is None:
            raise ProjectionError("no data directory to catch up from")
        done = await self.projector.catch_up(
            directory, accounts=self.accounts,
            isolate_transient=self.failures >= self.max_attempts)
        if self.projector.last_seq >= self.last_offered_seq:
            self.behind = False
        return done

    async def catch_up_at_start(self, engine_seq: int) -> int:
        """:meth:`catch_up` before the exchange takes commands, never raising for what
        the read model holds or lacks: a record that cannot be written is dead-lettered,
        and any other failure (the database refuses, another journal) is logged and
        counted, the task marked ``behind`` (it tries again with the next batch), and
        the exchange starts all the same: the journal is the truth, the read model
        follows when it can. ``engine_seq`` is the engine's sequence number after
        recovery (what the projection must reach)."""
        self.last_offered_seq = max(self.last_offered_seq, engine_seq)
        if self.data_dir is None:
            return 0
        try:
            return await self.catch_up()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.behind = True
            logger.error("the read model could not catch up with the journal at start-up "
                         "(it stays at seq %d of %d; the exchange starts and the projector "
                         "tries again): %s", self.projector.last_seq, engine_seq,
                         self.last_error, exc_info=True)
            return 0

    async def _run(self) -> None:
        queue = self.queue
        loop = asyncio.get_running_loop()
        next_write = measured_at = cycle_at = loop.time()
        measured = self.offered_records  # the offered rate is measured from here
        at_cycle = measured  # and the rate over the last wait and write from here
        while True:
            offered_at, batch = await queue.get()
            taken = 1
            try:
                now = loop.time()
                cycle_rate = (self.offered_records - at_cycle) / max(now - cycle_at,
                                                                     self.interval)
                cycle_at, at_cycle = now, self.offered_records
                # the last write began a moment ago: let more join this one, unless the
                # queue is half full or the lag at its bound
                while (next_write > now and 2 * queue.qsize() < queue.maxsize
                       and self.lag < self.max_lag):
                    await asyncio.sleep(min(next_write - now, self.interval))
                    now = loop.time()
                # during a burst, wait until it is over (or the lag reaches its bounds,
                # or the queue is half full: many small batches fill it before the lag
                # in records is large, and a full queue drops what is offered)
                while (self.lag < self.max_lag and 2 * queue.qsize() < queue.maxsize
                       and time.monotonic() - offered_at < self.max_delay):
                    now, offered = loop.time(), self.offered_records
                    rate = (offered - measured) / max(now - measured_at, self.interval)
                    measured, measured_at = offered, now
                    if rate < self.busy_rate:
                        break
                    await asyncio.sleep(self.interval)
                next_write = loop.time() + self.spacing(cycle_rate)
                records = list(batch)
                while len(records) < self.max_coalesce and not queue.empty():
                    records.extend(queue.get_nowait()[1])
                    taken += 1
                await self._project(records)
            finally:
                for _ in range(taken):
                    queue.task_done()

    async def write(self, records: list[Record]) -> None:
        """Write ``records`` now, with the task's handling of failures (retries with a
        growing pause, dead letters, a hole filled from the journal): what a reader of
        the journal that is catching up calls instead of queuing them."""
        if records and records[-1][0] > self.last_offered_seq:
            self.last_offered_seq = records[-1][0]
        await self._project(records)

    def spacing(self, rate: float) -> float:
        """Seconds from one write to the next at ``rate`` records offered per second:
        ``interval``, growing in proportion to the rate above ``busy_rate * interval /
        max_interval`` up to ``max_interval`` at ``busy_rate``."""
        return min(self.max_interval,
                   max(self.interval, self.max_interval * rate / self.busy_rate))

    async def _project(self, records: list[Record]) -> None:
        projector = self.projector
        try:
            if self.behind and self.data_dir is not None:
                await self.catch_up()
            await projector.follow(records, isolate_transient=self.failures >= self.max_attempts)
            self.failures = 0
            if self.behind and projector.last_seq >= self.last_offered_seq:
                self.behind = False  # whatever was dropped has been written since
            return
        except ProjectionGapError:
            self.behind = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database went away: the journal has the records
            await self._failed(exc, records, "projecting seq %d..%d failed",
                               records[0][0], records[-1][0])
            return
        if self.data_dir is None:
            self.discarded_records += sum(1 for r in records if r[0] > projector.last_seq)
            return
        try:
            await self.catch_up()
            await projector.follow(records)  # what the journal had is skipped
            self.failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(exc, [], "catching up from %s failed", self.data_dir)

    async def _failed(self, exc: Exception, records: list[Record], message: str,
                      *args: object) -> None:
        """Count a failed write, log it (the traceback once per run of failures), mark
        the projection behind and pause before the next attempt (growing)."""
        self.errors += 1
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.behind = True
        last = self.projector.last_seq
        self.discarded_records += sum(1 for r in records if r[0] > last)
        if self.failures == 1:
            logger.exception(message, *args)
        else:
            logger.warning(message + " (attempt %d): %s", *args, self.failures,
                           self.last_error)
        await asyncio.sleep(min(self.retry_seconds * 2 ** (self.failures - 1),
                                self.max_retry_seconds))
