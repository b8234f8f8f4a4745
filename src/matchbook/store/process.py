"""The SQL projector in a process of its own, following the journal files.

The server journals every command before it applies it; only commands are journaled,
their events are re-derived by an engine. The projector process keeps its own engine
replica: it restores it to the read model's ``last_seq`` (newest snapshot at or before
it, then the journal, as :func:`~matchbook.journal.durable.recover` does), reads the
journal's new records as they appear (:class:`~matchbook.journal.tail.JournalTail`,
every ``poll_seconds``), applies each command to the replica and hands the records
``(seq, ts_ns, command, events)`` to a :class:`~matchbook.store.follow.ProjectorTask`,
which writes them with the :class:`~matchbook.store.projector.Projector` into the same
database as the in-process projector would, with the same spacing of transactions, the
same retries and the same dead letters. The server's GIL never sees that work.

The server's side is :class:`ProjectorProcess`. It does nothing per batch: the child
publishes its figures in a shared array of int64 (and its last error text in a shared
buffer), which the API's stats and the metrics read when asked. It starts the child
(a ``forkserver`` context with this module preloaded, so a child costs a fork, never a
fork of the running server), waits until it has projected what the journal held, and
watches it: a child that dies is logged and started again after a growing pause. At
``stop`` the child is told the final sequence number, projects up to it and exits (a
bounded wait, then it is terminated). A child whose server is gone (killed, crashed)
sees its end of a pipe close and exits: no orphan is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, Final

from matchbook.core import Engine, Markets
from matchbook.journal.codec import decode_command
from matchbook.journal.tail import JournalTail
from matchbook.store.follow import ProjectorTask
from matchbook.store.projector import Projector
from matchbook.store.replay import restored_engine
from matchbook.store.rows import Record

logger = logging.getLogger(__name__)

# the shared array: what the child publishes (int64 each)
PID: Final = 0
STATE: Final = 1  # STARTING, FOLLOWING, STOPPED
LAST_SEQ: Final = 2  # in the read model
READ_SEQ: Final = 3  # read from the journal and applied to the replica
ERRORS: Final = 4
DEAD_LETTERS: Final = 5
BEHIND: Final = 6
BATCHES: Final = 7
COMMANDS: Final = 8
ROWS: Final = 9
BUSY_NS: Final = 10
LETTER_FIRST: Final = 11
LETTER_LAST: Final = 12
LETTER_NS: Final = 13
TEXT_VERSION: Final = 14  # odd while the texts are being written
_FIELDS: Final = 15
STARTING, FOLLOWING, STOPPED = 0, 1, 2

_TEXT: Final = 1024  # bytes of each text: the last error, then the last dead letter's
_CATCH_UP_CHUNK: Final = 2000
_READ_CHUNK: Final = 2000


@dataclass(frozen=True, slots=True)
class ChildConfig:
    """What the child needs (pickled to it)."""

    data_dir: str
    url: str
    markets: Markets
    accounts: bool = True
    interval: float = 0.1  # ProjectorTask's spacing of transactions
    poll_seconds: float = 0.01


_CONTEXT: BaseContext | None = None


def context() -> BaseContext:
    """``forkserver`` with this module (and so the core, SQLAlchemy and the projector)
    preloaded where the platform has it, else ``spawn``; never ``fork``."""
    global _CONTEXT
    if _CONTEXT is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([__name__])
            _CONTEXT = ctx
        else:
            _CONTEXT = multiprocessing.get_context("spawn")
    return _CONTEXT


# -- the server's side ---------------------------------------------------------------------


class ProjectorProcess:
    """Starts, watches and stops the projector process; reads what it publishes.

    ``engine_seq`` returns the live engine's last sequence number (the lag is measured
    against it). Use on the event loop's thread.
    """

    def __init__(self, config: ChildConfig, engine_seq: Callable[[], int], *,
                 restart_seconds: float = 0.5, max_restart_seconds: float = 30.0,
                 stop_timeout: float = 30.0) -> None:
        self.config = config
        self.engine_seq = engine_seq
        self.restart_seconds = restart_seconds
        self.max_restart_seconds = max_restart_seconds
        self.stop_timeout = stop_timeout
        ctx = context()
        self._ctx = ctx
        self.shared: Any = ctx.Array("q", _FIELDS, lock=False)
        self.text: Any = ctx.Array("c", 2 * _TEXT, lock=False)
        self.process: Any = None
        self._pipe: multiprocessing.connection.Connection | None = None
        self._exited: asyncio.Event | None = None
        self._restart: asyncio.Task[None] | None = None
        self._stopping = False
        self._started_at = 0.0
        self.restarts = 0
        self.failures = 0  # exits in a row of children that did not run long
        self.exits = 0  # children that ended other than by stop()
        self.last_exit: str | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, target_seq: int) -> None:
        """Start the child and wait until the read model holds ``target_seq``, or the
        child ended (it is started again) or read the journal but could not write it
        all (it retries): the exchange then starts all the same, as the in-process
        projector's ``catch_up_at_start`` does; the journal is the truth."""
        await self._spawn()
        shared = self.shared
        while shared[LAST_SEQ] < target_seq or shared[STATE] == STARTING:
            if self.process is None or not self.process.is_alive():
                logger.error("the projector process ended before the read model caught up "
                             "(at seq %d of %d); the exchange starts all the same",
                             shared[LAST_SEQ], target_seq)
                return
            if shared[STATE] != STARTING and shared[ERRORS]:
                logger.error("the read model could not catch up with the journal at "
                             "start-up (at seq %d of %d: %s); the exchange starts and the "
                             "projector tries again", shared[LAST_SEQ], target_seq,
                             self.texts()[0])
                return
            await asyncio.sleep(0.01)

    async def _spawn(self) -> None:
        for i in range(_FIELDS):
            self.shared[i] = 0
        reader, writer = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=run_child, args=(self.config, self.shared, self.text, reader),
            name="matchbook-projector", daemon=True)
        await asyncio.to_thread(process.start)
        reader.close()  # the child's end: it sees EOF once this process holds no writer
        self.process, self._pipe = process, writer
        self._started_at = time.monotonic()
        loop = asyncio.get_running_loop()
        exited = self._exited = asyncio.Event()
        loop.add_reader(process.sentinel, self._on_exit, process, exited)
        logger.info("projector process %d started", process.pid)

    def _on_exit(self, process: Any, exited: asyncio.Event) -> None:
        asyncio.get_running_loop().remove_reader(process.sentinel)
        process.join(0)
        exited.set()
        if self._stopping or process is not self.process:
            return
        self.exits += 1
        self.last_exit = (f"the projector process {process.pid} exited with code "
                          f"{process.exitcode}")
        if time.monotonic() - self._started_at > 60:
            self.failures = 0
        pause = min(self.restart_seconds * 2 ** self.failures, self.max_restart_seconds)
        self.failures += 1
        logger.error("%s; starting another in %.1f s", self.last_exit, pause)
        self._restart = asyncio.create_task(self._restart_after(pause),
                                            name="matchbook-projector-restart")

    async def _restart_after(self, pause: float) -> None:
        await asyncio.sleep(pause)
        if not self._stopping:
            self.restarts += 1
            await self._spawn()

    async def stop(self, final_seq: int) -> None:
        """Have the child project up to ``final_seq`` and exit (``stop_timeout`` at
        most, then it is terminated)."""
        self._stopping = True
        restart, self._restart = self._restart, None
        if restart is not None:
            restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await restart
        if self.process is None or not self.process.is_alive():
            if self.shared[LAST_SEQ] >= final_seq:
                return
            self._stopping = False  # a child to write what is missing, watched as usual
            await self._spawn()
            self._stopping = True
        process, pipe, exited = self.process, self._pipe, self._exited
        assert pipe is not None and exited is not None
        with contextlib.suppress(OSError):
            pipe.send(("stop", final_seq))
        try:
            await asyncio.wait_for(exited.wait(), self.stop_timeout)
        except TimeoutError:
            logger.error("the projector process did not finish within %.0f s (at seq %d "
                         "of %d): terminated", self.stop_timeout, self.shared[LAST_SEQ],
                         final_seq)
            process.terminate()
            await asyncio.to_thread(process.join, 5)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5)
        pipe.close()
        self._pipe = None
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(process.sentinel)

    # -- what the API reads ----------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def last_seq(self) -> int:
        return int(self.shared[LAST_SEQ])

    @property
    def lag(self) -> int:
        """Commands the live engine applied that are not yet in the read model."""
        return max(0, self.engine_seq() - int(self.shared[LAST_SEQ]))

    @property
    def dead_letters(self) -> int:
        return int(self.shared[DEAD_LETTERS])

    @property
    def errors(self) -> int:
        """Failed writes of the running child, plus every child that ended unasked."""
        return int(self.shared[ERRORS]) + self.exits

    def texts(self) -> tuple[str | None, str | None]:
        """The last error and the last dead letter's error, as the child wrote them."""
        for _ in range(100):
            version = self.shared[TEXT_VERSION]
            if version % 2:
                time.sleep(0)
                continue
            raw = bytes(self.text.raw)
            if self.shared[TEXT_VERSION] == version:
                error, letter = (raw[i:i + _TEXT].split(b"\0", 1)[0].decode(errors="replace")
                                 for i in (0, _TEXT))
                return error or None, letter or None
        return None, None

    def stats(self) -> dict[str, Any]:
        """The keys of :meth:`ProjectorTask.stats` that the API shows, and the child's."""
        s = self.shared
        error, letter_text = self.texts()
        if self.last_exit is not None and not error:
            error = self.last_exit
        letter = None
        if s[LETTER_LAST]:
            letter = {"first_seq": int(s[LETTER_FIRST]), "last_seq": int(s[LETTER_LAST]),
                      "error": letter_text or "", "recorded_ns": int(s[LETTER_NS])}
        busy = s[BUSY_NS] / 1e9
        return {"mode": "process", "pid": self.pid, "alive": bool(
                    self.process is not None and self.process.is_alive()),
                "following": s[STATE] == FOLLOWING, "restarts": self.restarts,
                "last_seq": int(s[LAST_SEQ]), "read_seq": int(s[READ_SEQ]),
                "lag": self.lag, "behind": bool(s[BEHIND]), "batches": int(s[BATCHES]),
                "commands": int(s[COMMANDS]), "rows": int(s[ROWS]),
                "rows_per_second": s[ROWS] / busy if busy else 0.0,
                "commands_per_second": s[COMMANDS] / busy if busy else 0.0,
                "errors": self.errors, "last_error": error,
                "dead_letters": self.dead_letters, "last_dead_letter": letter}


# -- the child -----------------------------------------------------------------------------


def run_child(config: ChildConfig, shared: Any, text: Any,
              pipe: multiprocessing.connection.Connection) -> None:
    """The projector process's main: follow the journal until told to stop or the
    server is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when it ends
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s [projector] %(name)s: "
                                   "%(message)s")
    shared[PID] = os.getpid()
    asyncio.run(_Follower(config, shared, text, pipe).run())


class _Follower:
    """The child's work: the replica, the journal's tail, the ``ProjectorTask``, and
    the figures it publishes after every poll."""

    def __init__(self, config: ChildConfig, shared: Any, text: Any,
                 pipe: multiprocessing.connection.Connection) -> None:
        self.config = config
        self.shared = shared
        self.text = text
        self.pipe = pipe
        self.stop_at: int | None = None
        self.parent_gone = False
        self._texts: tuple[str | None, str | None] = (None, None)

    def _message(self) -> None:
        try:
            while self.pipe.poll():
                kind, value = self.pipe.recv()
                if kind == "stop":
                    self.stop_at = int(value)
        except (EOFError, OSError):
            self.parent_gone = True
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())

    async def run(self) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        loop.add_reader(self.pipe.fileno(), self._message)
        projector = Projector(config.url, config.markets, migrate=False)
        await projector.start()
        task = ProjectorTask(projector, data_dir=config.data_dir, accounts=config.accounts,
                             interval=config.interval)
        try:
            start = projector.last_seq
            engine = await asyncio.to_thread(restored_engine, Path(config.data_dir),
                                             config.markets, config.accounts, start)
            with JournalTail(Path(config.data_dir) / "journal", start + 1) as tail:
                self.publish(task, engine)
                # catching up: what the journal holds now, written in large transactions
                while not self.parent_gone:
                    records = self.take(tail, engine, _CATCH_UP_CHUNK)
                    if not records:
                        break
                    await task.write(records)
                    self.publish(task, engine)
                self.shared[STATE] = FOLLOWING
                await task.start()
                await self.follow(tail, engine, task)
        finally:
            await task.stop(drain=not self.parent_gone)
            self.publish(task, None)
            self.shared[STATE] = STOPPED
            await projector.stop()

    async def follow(self, tail: JournalTail, engine: Engine, task: ProjectorTask) -> None:
        """Read, apply and offer what the journal holds every ``poll_seconds`` (twice
        that once nothing came for a while: an idle server costs less), until told to
        stop at a sequence number it has reached, or the server is gone."""
        poll = self.config.poll_seconds
        queue = task.queue
        idle = 0
        while not self.parent_gone:
            records: list[Record] = []
            if 2 * queue.qsize() < queue.maxsize:
                records = self.take(tail, engine, _READ_CHUNK)
                if records:
                    task.offer(records)
            idle = 0 if records else idle + 1
            self.publish(task, engine)
            if self.stop_at is not None and engine.last_seq >= self.stop_at:
                return
            await asyncio.sleep(poll if idle < 10 else 2 * poll)

    def take(self, tail: JournalTail, engine: Engine, limit: int) -> list[Record]:
        apply = engine.apply
        return [(seq, ts_ns, command, apply(seq, ts_ns, command))
                for seq, ts_ns, command in ((s, t, decode_command(p))
                                            for s, t, p in tail.read(limit))]

    def publish(self, task: ProjectorTask, engine: Engine | None) -> None:
        s = self.shared
        projector = task.projector
        stats = projector.stats()
        s[LAST_SEQ] = stats.last_seq
        if engine is not None:
            s[READ_SEQ] = engine.last_seq
        s[ERRORS] = task.errors
        s[DEAD_LETTERS] = projector.dead_letters
        s[BEHIND] = int(task.behind)
        s[BATCHES] = stats.batches
        s[COMMANDS] = stats.commands
        s[ROWS] = stats.rows
        s[BUSY_NS] = int(stats.busy_seconds * 1e9)
        letter = projector.last_dead_letter
        texts = (task.last_error, letter.error if letter is not None else None)
        if texts != self._texts:
            self._texts = texts
            s[TEXT_VERSION] += 1
            raw = b"".join((t or "").encode()[:_TEXT - 1].ljust(_TEXT, b"\0") for t in texts)
            self.text.raw = raw
            if letter is not None:
                s[LETTER_FIRST], s[LETTER_LAST] = letter.first_seq, letter.last_seq
                s[LETTER_NS] = letter.recorded_ns
            s[TEXT_VERSION] += 1


__all__ = ["ChildConfig", "ProjectorProcess", "context", "run_child"]
