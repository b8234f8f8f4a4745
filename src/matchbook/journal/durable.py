"""The engine behind its journal: write ahead, apply, snapshot; recover on open.

``DurableEngine`` is what a sequencer drives::

    engine = DurableEngine.open(data_dir, markets, mode="fsync")
    results = engine.submit([(cmd1, ts1), (cmd2, ts2)])   # one write + one fsync
    for seq, ts_ns, command, events in results: ...

``submit`` assigns the next sequence numbers, appends the whole batch to the journal
(group commit), and only then applies the commands, so every result handed back is
durable in mode ``fsync``. Snapshots are written every N commands or T seconds of
sequencer time, and at 00:00 UTC of every day (the state as of the last command
stamped before midnight); the last K are kept.

On open: a torn or corrupt journal tail is truncated (and reported), the newest valid
snapshot is loaded (falling back to older ones), and the journal after it is replayed.
A gap in sequence numbers stops start-up with ``JournalGapError``: recovery never
guesses.

Layout of ``data_dir``: ``journal/`` (segments) and ``snapshots/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import msgspec

from matchbook.core import Engine, Markets, RiskLimits
from matchbook.core.commands import AnyCommand, SetRiskLimits
from matchbook.core.events import Applied
from matchbook.journal.codec import (
    SnapshotMismatchError,
    decode_command,
    decode_snapshot,
    encode_command,
    encode_json_in_slices,
    encode_snapshot,
    snapshot_document,
)
from matchbook.journal.segments import (
    DEFAULT_SEGMENT_BYTES,
    DurabilityMode,
    JournalGapError,
    JournalWriter,
    Truncation,
    iter_records,
    recover_journal,
)
from matchbook.journal.snapshot import SnapshotPolicy, SnapshotStore, next_midnight_utc_ns

logger = logging.getLogger(__name__)


class Stamped(NamedTuple):
    """A batch with its sequence numbers and timestamps, encoded for the journal."""

    commands: list[tuple[int, int, AnyCommand]]
    records: list[tuple[int, int, bytes]]
    refused: list[tuple[int, Exception]]  # (index in the batch, why) when refusing


@dataclass(frozen=True, slots=True)
class RecoveryInfo:
    snapshot_seq: int  # 0 = started from an empty state
    replayed: int
    last_seq: int
    truncated: Truncation | None
    skipped_snapshots: tuple[str, ...]
    seconds: float


@dataclass(frozen=True, slots=True)
class DurabilityConfig:
    mode: DurabilityMode = "fsync"
    snapshot_every_commands: int = 1_000_000
    snapshot_every_seconds: float = 3600.0
    snapshot_daily: bool = True
    snapshots_kept: int = 3
    segment_bytes: int = DEFAULT_SEGMENT_BYTES
    # take periodic and daily snapshots off the caller's thread (what a runtime with an
    # event loop wants): the state is copied by forking a child process that encodes and
    # writes it (where the platform can fork and ``snapshot_fork``), else copied on the
    # caller's thread and encoded and written on a worker thread
    snapshot_in_background: bool = False
    snapshot_fork: bool = True


class DurableEngine:
    """An ``Engine`` whose every command is journaled before it is applied."""

    def __init__(self, data_dir: Path, markets: Markets, engine: Engine, recovery: RecoveryInfo,
                 config: DurabilityConfig) -> None:
        self.data_dir = data_dir
        self.markets = markets
        self.engine = engine
        self.recovery = recovery
        self.config = config
        self.writer = JournalWriter(data_dir / "journal", config.mode, config.segment_bytes)
        self.snapshots = SnapshotStore(data_dir / "snapshots", keep=config.snapshots_kept)
        self.policy = SnapshotPolicy(config.snapshot_every_commands,
                                     config.snapshot_every_seconds, daily_midnight_utc=False,
                                     last_seq=engine.last_seq,
                                     last_ts_ns=engine.last_ts or None)
        self._next_midnight = next_midnight_utc_ns(engine.last_ts) if engine.last_ts else 0
        self.last_snapshot_seq = recovery.snapshot_seq
        self._stamped_seq, self._stamped_ts = engine.last_seq, engine.last_ts
        self._lock_fd: int | None = None
        self.snapshot_seconds = 0.0
        self.snapshots_written = 0
        self.snapshot_failures = 0
        self.snapshot_copy_seconds = 0.0  # the last copy of the state (on the caller's thread)
        self._snapshot_thread: ThreadPoolExecutor | None = None
        self._snapshot_writes: list[Future[None]] = []  # background writes not yet done
        self.opened: list[Applied] = []  # what ``open`` applied before any caller's command

    # -- opening and recovery ----------------------------------------------------------

    @classmethod
    def open(cls, data_dir: str | Path, markets: Markets, *,
             config: DurabilityConfig | None = None, accounts: bool = True,
             limits: RiskLimits | None = None,
             progress: Callable[[int], None] | None = None) -> DurableEngine:
        """Recover the state in ``data_dir`` (creating it if empty) and open the journal.

        When ``limits`` differ from the recovered engine's, a ``SetRiskLimits`` command
        is journaled and applied before anything else: a configuration change takes
        effect at a sequence number, and replays see it there. What it produced is kept
        in ``opened``: a projector must be offered it (in mode ``"none"`` there is no
        journal to catch up from).

        Raises ``JournalGapError``/``JournalCorruptError`` when the journal cannot be
        trusted, and ``SnapshotMismatchError`` when no usable snapshot matches and the
        journal does not reach back to sequence 1.
        """
        config = config or DurabilityConfig()
        data_dir = Path(data_dir)
        (data_dir / "journal").mkdir(parents=True, exist_ok=True)
        lock = _lock(data_dir) if config.mode != "none" else None
        try:
            engine, info = recover(data_dir, markets, accounts=accounts, progress=progress)
            durable = cls(data_dir, markets, engine, info, config)
        except BaseException:
            if lock is not None:
                os.close(lock)
            raise
        durable._lock_fd = lock
        if limits is not None and limits != engine.limits:
            if not limits.valid_for(markets):  # refused before anything is journaled
                durable.close()
                raise ValueError(f"the configured risk limits are not valid: {limits}")
            positions = tuple(sorted(limits.position_limits_minor.items()))
            durable.opened = durable.submit(
                [(SetRiskLimits(limits.max_open_orders, positions), time.time_ns())])
        return durable

    # -- the write path ----------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self.engine.last_seq

    def submit(self, batch: Sequence[tuple[AnyCommand, int]]) -> list[Applied]:
        """Journal then apply ``(command, ts_ns)`` pairs; returns what each produced.

        The three steps are also available one by one (``stamp``, ``write``, ``apply``)
        for a sequencer that fsyncs off its event loop.
        """
        stamped = self.stamp(batch)
        self.write(stamped)
        return self.apply(stamped)

    def stamp(self, batch: Sequence[tuple[AnyCommand, int]], *,
              refuse_unencodable: bool = False) -> Stamped:
        """Assign the next sequence numbers and encode the batch (nothing is written).

        Timestamps must not go backwards (they are clamped to the previous one, so a
        stepping clock cannot reorder time inside the core). A command that cannot be
        encoded raises ``OverflowError`` (nothing is stamped), or with
        ``refuse_unencodable`` is left out, gets no sequence number and is listed in
        ``refused``. Batches must be written, and applied, in the order they were
        stamped; a batch may be stamped (and written) while the one before it is applied.
        """
        seq = self._stamped_seq
        last_ts = self._stamped_ts
        commands: list[tuple[int, int, AnyCommand]] = []
        records: list[tuple[int, int, bytes]] = []
        refused: list[tuple[int, Exception]] = []
        for index, (command, ts_ns) in enumerate(batch):
            last_ts = ts_ns if ts_ns > last_ts else last_ts
            try:
                payload = encode_command(command)
            except (OverflowError, TypeError, ValueError) as exc:
                if not refuse_unencodable:
                    raise
                refused.append((index, exc))
                continue
            seq += 1
            records.append((seq, last_ts, payload))
            commands.append((seq, last_ts, command))
        self._stamped_seq, self._stamped_ts = seq, last_ts
        return Stamped(commands, records, refused)

    def write(self, stamped: Stamped) -> None:
        """Append the batch to the journal: one write and, in mode fsync, one fsync."""
        if stamped.records:
            self.writer.append_batch(stamped.records)

    def apply(self, stamped: Stamped) -> list[Applied]:
        """Apply a written batch to the engine; snapshots when one is due."""
        engine = self.engine
        results: list[Applied] = []
        apply = engine.apply
        if stamped.commands and stamped.commands[0][0] != engine.last_seq + 1:
            raise RuntimeError(f"batch starts at seq {stamped.commands[0][0]} but the engine "
                               f"is at {engine.last_seq}: batches must be applied in order")
        for seq, ts_ns, command in stamped.commands:
            if self.config.snapshot_daily and ts_ns >= self._next_midnight:
                if engine.last_seq and self._next_midnight:
                    self._try_snapshot(daily=True)  # the state as of the last command before
                self._next_midnight = next_midnight_utc_ns(ts_ns)  # midnight
            results.append((seq, ts_ns, command, apply(seq, ts_ns, command)))
        if results and self.policy.due(engine.last_seq, engine.last_ts):
            self._try_snapshot()
        return results

    def _try_snapshot(self, daily: bool = False) -> None:
        """A snapshot on the write path: a failure is logged, never raised. The batch is
        already journaled, so it must be applied in full whatever happens to a snapshot
        (the journal stays the truth); a periodic snapshot is retried after the next
        batch, a missed daily one is not. With ``snapshot_in_background`` only the copy
        of the state is taken here; a periodic snapshot is skipped (and retried after
        the next batch) while the previous one is still being written."""
        if self.config.snapshot_in_background:
            if daily or not self.snapshot_pending:
                self.snapshot_in_background()
            return
        try:
            self.snapshot()
        except (OSError, ValueError):
            self.snapshot_failures += 1
            logger.exception("snapshot at seq %d failed; continuing without it",
                             self.engine.last_seq)

    @property
    def snapshot_pending(self) -> bool:
        """A background snapshot is still being encoded or written."""
        writes = self._snapshot_writes
        writes[:] = [w for w in writes if not w.done()]
        return bool(writes)

    def snapshot_in_background(self) -> Future[None]:
        """Take a consistent copy of the state now and write it as a snapshot off the
        caller's thread; returns once the copy is taken (the future is done when the
        file is).

        With ``snapshot_fork`` (and ``os.fork``), the copy is the memory of a forked
        child process (copy-on-write: the fork costs the caller a page-table copy, not a
        walk of the state): the child encodes, writes and fsyncs the state as of now and
        exits, while the caller moves on. Otherwise ``Engine.snapshot()`` (fresh
        containers of immutable values) is taken on the caller's thread and encoded and
        written on the thread ``matchbook-snapshot``, in short slices.

        Either way the file is only used by a recovery once it is complete: it is
        written under a temporary name, fsynced and renamed (``SnapshotStore.write``).
        ``last_snapshot_seq`` moves when it is done; a failure is logged and counted,
        never raised.
        """
        engine = self.engine
        started = time.perf_counter()
        seq, ts_ns = engine.last_seq, engine.last_ts
        if self._snapshot_thread is None:
            self._snapshot_thread = ThreadPoolExecutor(1, thread_name_prefix="matchbook-snapshot")
        if self.config.snapshot_fork and hasattr(os, "fork"):
            pid = self._fork_snapshot(seq, ts_ns)
            self.snapshot_copy_seconds = time.perf_counter() - started
            write = self._snapshot_thread.submit(self._reap_snapshot, pid, seq, started)
        else:
            document = snapshot_document(self.markets, engine.snapshot())
            self.snapshot_copy_seconds = time.perf_counter() - started
            write = self._snapshot_thread.submit(self._write_snapshot, seq, ts_ns, document,
                                                 started)
        self.policy.taken(seq, ts_ns)  # the next one is due an interval from now
        self._snapshot_writes.append(write)
        return write

    def _fork_snapshot(self, seq: int, ts_ns: int) -> int:
        """Fork a child that writes the snapshot of the state as of now and exits with
        status 0 once the file is complete (1 otherwise). Returns its pid."""
        pid = os.fork()
        if pid:
            return pid
        status = 1  # the child: the state is this process's memory, frozen at the fork
        try:
            # signals are the parent's business (a Ctrl-C reaches the whole group)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            gc.disable()  # nothing to collect in a short-lived copy; pages stay shared
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # the data directory is the parent's to hold
            document = snapshot_document(self.markets, self.engine.snapshot())
            self.snapshots.write(seq, ts_ns, msgspec.json.encode(document))
            status = 0
        except BaseException:
            with contextlib.suppress(BaseException):
                traceback.print_exc()
        finally:
            os._exit(status)  # no atexit, no buffers of the parent flushed twice

    def _reap_snapshot(self, pid: int, seq: int, started: float) -> None:
        """On the snapshot thread: wait for the child writing snapshot ``seq``."""
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            self.snapshot_failures += 1
            logger.error("snapshot at seq %d failed in process %d (exit status %d); "
                         "continuing without it", seq, pid, code)
            return
        self._snapshot_done(seq, started)

    def _write_snapshot(self, seq: int, ts_ns: int, document: dict[str, object],
                        started: float) -> None:
        """On the snapshot thread: encode in short slices (the event loop keeps the
        interpreter between them), write, fsync, rename."""
        try:
            self.snapshots.write(seq, ts_ns, encode_json_in_slices(document))
        except Exception:
            self.snapshot_failures += 1
            logger.exception("snapshot at seq %d failed; continuing without it", seq)
            return
        self._snapshot_done(seq, started)

    def _snapshot_done(self, seq: int, started: float) -> None:
        self.last_snapshot_seq = max(self.last_snapshot_seq, seq)
        self.snapshot_seconds = time.perf_counter() - started
        self.snapshots_written += 1
        logger.info("snapshot at seq %d written in %.3f s (state copied in %.3f s)", seq,
                    self.snapshot_seconds, self.snapshot_copy_seconds)

    def wait_for_snapshots(self) -> None:
        """Block until every background snapshot is written (or failed)."""
        for write in list(self._snapshot_writes):
            write.result()
        self._snapshot_writes.clear()

    def snapshot(self) -> Path:
        """Write a snapshot of the current state now (atomic; prunes old ones), after
        any background snapshot still being written."""
        self.wait_for_snapshots()
        started = time.perf_counter()
        engine = self.engine
        path = self.snapshots.write(engine.last_seq, engine.last_ts, encode_snapshot(engine))
        self.policy.taken(engine.last_seq, engine.last_ts)
        self.last_snapshot_seq = engine.last_seq
        self.snapshot_seconds = time.perf_counter() - started
        self.snapshots_written += 1
        logger.info("snapshot at seq %d written in %.3f s", engine.last_seq,
                    self.snapshot_seconds)
        return path

    def close(self) -> None:
        thread, self._snapshot_thread = self._snapshot_thread, None
        if thread is not None:
            thread.shutdown(wait=True)  # a snapshot being written is finished first
        self.writer.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the data directory
            self._lock_fd = None

    def __enter__(self) -> DurableEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DataDirLocked(RuntimeError):
    """Another process has this data directory open."""


def _lock(data_dir: Path) -> int:
    """An exclusive advisory lock on ``data_dir/LOCK`` for the life of the process.

    Two writers on one journal would interleave sequence numbers; the second one is
    refused at once. Raises ``DataDirLocked``.
    """
    fd = os.open(data_dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLocked(f"{data_dir} is in use by another matchbook process") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def recover(data_dir: Path, markets: Markets, *, accounts: bool = True,
            to_seq: int | None = None, progress: Callable[[int], None] | None = None,
            truncate: bool = True) -> tuple[Engine, RecoveryInfo]:
    """Newest usable snapshot (at or before ``to_seq``) + replay of the journal after it.

    Risk limits come from the state itself: a snapshot records those in force, and a
    replay from sequence 1 starts with the engine's defaults and meets every change as
    a journaled ``SetRiskLimits``, so each order is checked as it was when placed.

    With ``truncate`` a torn journal tail is cut first; without it (read-only tools)
    the journal is only read up to its last intact record.
    """
    started = time.perf_counter()
    journal = data_dir / "journal"
    store = SnapshotStore(data_dir / "snapshots")
    skipped: list[str] = []
    engine: Engine | None = None
    snapshot_seq = 0
    limit = to_seq
    while True:
        snap = store.load_latest(max_seq=limit)
        if snap is None:
            break
        try:
            engine = decode_snapshot(snap.payload, markets, accounts=accounts)
            snapshot_seq = snap.seq
            break
        except (SnapshotMismatchError, msgspec.DecodeError, KeyError, TypeError,
                ValueError) as exc:
            skipped.append(f"snapshot {snap.seq}: {exc}")
            logger.warning("skipping snapshot at seq %d: %s", snap.seq, exc)
            limit = snap.seq - 1
    if engine is None:
        engine = Engine(markets, accounts=accounts)
    # the journal is verified from the snapshot on: what came before it is not replayed
    report = recover_journal(journal, dry_run=not truncate, verify_from=snapshot_seq + 1)
    if report.truncated is not None:
        logger.warning("journal tail %s at %s offset %d (%d bytes): %s",
                       "cut" if truncate else "ignored (read-only recovery)",
                       report.truncated.path, report.truncated.offset,
                       report.truncated.bytes_removed, report.truncated.reason)
    last_journal_seq = report.last_seq or 0
    replayed = 0
    end = last_journal_seq if to_seq is None else min(to_seq, last_journal_seq)
    if snapshot_seq > last_journal_seq and last_journal_seq:
        raise JournalGapError(
            f"snapshot {snapshot_seq} is newer than the journal's last record "
            f"{last_journal_seq}: the journal lost acknowledged commands",
            path=journal, offset=None, expected_seq=snapshot_seq, found_seq=last_journal_seq)
    if end > snapshot_seq:
        expected = snapshot_seq + 1
        apply = engine.apply
        collecting = gc.isenabled()
        gc.disable()  # the core makes no reference cycles: the collector would only cost
        try:
            for seq, ts_ns, payload in _records(journal, expected, end):
                if seq != expected:
                    raise JournalGapError(
                        f"journal continues at seq {seq} but the state is at {expected - 1}",
                        path=journal, offset=None, expected_seq=expected, found_seq=seq)
                apply(seq, ts_ns, decode_command(payload))
                expected += 1
                replayed += 1
                if progress is not None and replayed % 65_536 == 0:
                    progress(replayed)
        finally:
            if collecting:
                gc.enable()
    info = RecoveryInfo(snapshot_seq, replayed, engine.last_seq, report.truncated,
                        tuple(skipped), time.perf_counter() - started)
    logger.info("recovered to seq %d from snapshot %d + %d journal records in %.3f s",
                info.last_seq, snapshot_seq, replayed, info.seconds)
    return engine, info


def _records(journal: Path, first: int, last: int) -> Iterable[tuple[int, int, bytes]]:
    """Records ``first..last``, never reading past ``last`` (a read-only recovery may
    leave a torn tail behind it)."""
    for seq, ts_ns, payload in iter_records(journal, from_seq=first):
        yield seq, ts_ns, payload
        if seq >= last:
            return
