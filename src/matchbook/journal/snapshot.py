"""Snapshot files: atomic writes, retention, fallback loading, and when to take one.

Recovery is the newest valid snapshot plus the journal records after it. Snapshot
payloads are opaque bytes (the engine state, encoded elsewhere).

On-disk format
==============

One file per snapshot, named ``snapshot-<seq:020d>.snap`` where ``seq`` is the last
command sequence number the state includes. The file is a 40-byte little-endian
header followed by the payload::

    offset  size    field     type
    0       8       magic     b"MBSNAP1\\0"
    8       8       seq       u64   equal to the seq in the file name
    16      8       ts_ns     i64   sequencer time of command ``seq``
    24      8       length    u64   payload length; the file is exactly 40 + length bytes
    32      8       checksum  u64   xxh3_64 of bytes [8, 32) followed by the payload
    40      length  payload

A snapshot is written to a hidden temporary file in the same directory, fsynced,
renamed over the final name and the directory is fsynced, so a crash leaves either
the complete file or none (plus possibly a stray ``.snapshot-*.tmp`` file, which is
ignored).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

import xxhash

__all__ = [
    "DAY_NS",
    "SNAPSHOT_MAGIC",
    "Snapshot",
    "SnapshotInfo",
    "SnapshotPolicy",
    "SnapshotStore",
    "next_midnight_utc_ns",
]

logger = logging.getLogger(__name__)

SNAPSHOT_MAGIC: Final = b"MBSNAP1\0"
DAY_NS: Final = 86_400 * 10**9
"""Nanoseconds in a UTC day (POSIX time has no leap seconds)."""

_HEADER: Final = struct.Struct("<8sQqQQ")
_CHECKED: Final = slice(8, 32)
_NAME: Final = re.compile(r"snapshot-(\d{20})\.snap")


class Snapshot(NamedTuple):
    """A loaded snapshot: the state after command ``seq``, stamped ``ts_ns``."""

    seq: int
    ts_ns: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A snapshot file as found on disk.

    ``seq`` comes from the file name; ``ts_ns`` is ``None`` when the header is
    unreadable; ``problem`` says why an invalid file is invalid.
    """

    seq: int
    ts_ns: int | None
    path: Path
    size: int
    valid: bool
    problem: str | None = None


class _InvalidSnapshot(Exception):
    """A snapshot file that fails verification; the message says why."""


def _checksum(header: bytes, payload: bytes) -> int:
    hasher = xxhash.xxh3_64(header[_CHECKED])
    hasher.update(payload)
    return hasher.intdigest()


def _read_snapshot(path: Path, name_seq: int) -> tuple[Snapshot | None, int | None, str | None]:
    """Read and verify one file: ``(snapshot, ts_ns, None)`` or ``(None, ts_ns?, problem)``.

    Time O(file size). ``OSError`` while reading is reported as a problem.
    """
    ts_ns: int | None = None
    try:
        with path.open("rb") as file:
            header = file.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise _InvalidSnapshot(f"short header ({len(header)} of {_HEADER.size} bytes)")
            magic, seq, ts_ns, length, stored = _HEADER.unpack(header)
            if magic != SNAPSHOT_MAGIC:
                raise _InvalidSnapshot(f"bad magic {magic!r}")
            if seq != name_seq:
                raise _InvalidSnapshot(f"header seq {seq} does not match the file name")
            payload = file.read(length)
            if len(payload) < length:
                raise _InvalidSnapshot(f"short payload ({len(payload)} of {length} bytes)")
            if file.read(1):
                raise _InvalidSnapshot(f"trailing bytes after the {length}-byte payload")
        if _checksum(header, payload) != stored:
            raise _InvalidSnapshot("bad checksum")
    except _InvalidSnapshot as exc:
        return None, ts_ns, str(exc)
    except OSError as exc:
        return None, ts_ns, f"unreadable: {exc}"
    return Snapshot(seq, ts_ns, payload), ts_ns, None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotStore:
    """Snapshot files in one directory, keeping the newest ``keep`` after each write.

    Nothing touches the disk until a method is called; the directory is created by the
    first :meth:`write`. Raises ``ValueError`` if ``keep`` < 1. One writer per directory.
    """

    __slots__ = ("_directory", "_keep")

    def __init__(self, directory: str | os.PathLike[str], keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self._directory = Path(directory)
        self._keep = keep

    @property
    def directory(self) -> Path:
        """The snapshot directory."""
        return self._directory

    def path_for(self, seq: int) -> Path:
        """File name of the snapshot covering commands up to ``seq``."""
        return self._directory / f"snapshot-{seq:020d}.snap"

    def _files(self) -> list[tuple[int, Path]]:
        """``(seq, path)`` of files named like snapshots, sorted by seq. O(directory)."""
        if not self._directory.is_dir():
            return []
        found = []
        for entry in self._directory.iterdir():
            match = _NAME.fullmatch(entry.name)
            if match is not None and entry.is_file():
                found.append((int(match.group(1)), entry))
        found.sort()
        return found

    def write(self, seq: int, ts_ns: int, payload: bytes) -> Path:
        """Atomically write the snapshot of the state after command ``seq``; return its path.

        Writes a temporary file in the same directory, fsyncs it, renames it over the
        final name (replacing a snapshot of the same ``seq``) and fsyncs the directory.
        Then keeps the file just written and the newest ``keep - 1`` other snapshot
        files (by seq) and deletes the rest. Time O(len(payload) + files in directory).

        Raises ``ValueError`` if ``seq`` or ``ts_ns`` is out of range (u64 / i64) and
        ``OSError`` from the file system (the temporary file is removed, existing
        snapshots are untouched).
        """
        try:
            header = _HEADER.pack(SNAPSHOT_MAGIC, seq, ts_ns, len(payload), 0)
        except struct.error as exc:
            raise ValueError(f"snapshot seq {seq} or ts_ns {ts_ns} out of range: {exc}") from exc
        header = header[:32] + struct.pack("<Q", _checksum(header, payload))
        self._directory.mkdir(parents=True, exist_ok=True)
        final = self.path_for(seq)
        fd, temporary = tempfile.mkstemp(
            prefix=f".snapshot-{seq:020d}.", suffix=".tmp", dir=self._directory
        )
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(header)
                file.write(payload)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(self._directory)
        self._prune(final)
        return final

    def _prune(self, just_written: Path) -> None:
        others = [path for _, path in self._files() if path != just_written]
        for path in others[: max(0, len(others) - (self._keep - 1))]:
            path.unlink(missing_ok=True)

    def list(self) -> list[SnapshotInfo]:
        """All snapshot files sorted by seq, each verified. Time O(total bytes)."""
        infos = []
        for seq, path in self._files():
            _, ts_ns, problem = _read_snapshot(path, seq)
            infos.append(
                SnapshotInfo(
                    seq=seq,
                    ts_ns=ts_ns,
                    path=path,
                    size=path.stat().st_size,
                    valid=problem is None,
                    problem=problem,
                )
            )
        return infos

    def load_latest(self, max_seq: int | None = None) -> Snapshot | None:
        """The newest valid snapshot with ``seq <= max_seq`` (any seq if ``None``).

        Invalid files (bad magic, short, bad checksum, name/header mismatch, unreadable)
        are skipped with a warning on this module's logger, falling back to older ones.
        Returns ``None`` if there is no valid snapshot. Time O(bytes of the files read).
        """
        for seq, path in reversed(self._files()):
            if max_seq is not None and seq > max_seq:
                continue
            snapshot, _, problem = _read_snapshot(path, seq)
            if snapshot is not None:
                return snapshot
            logger.warning("skipping invalid snapshot %s: %s", path, problem)
        return None


def next_midnight_utc_ns(ts_ns: int) -> int:
    """The first 00:00 UTC strictly after ``ts_ns`` (ns since the Unix epoch). O(1).

    Exact integer arithmetic; works for negative timestamps (before 1970).
    """
    return (ts_ns // DAY_NS + 1) * DAY_NS


class SnapshotPolicy:
    """Decides when to snapshot, by sequencer time and command count, never the wall clock.

    A snapshot is due when, since the last one, at least ``every_commands`` commands
    were applied, or at least ``every_seconds`` of sequencer time passed, or (with
    ``daily_midnight_utc``) a 00:00 UTC boundary was reached. A zero ``every_commands``
    or ``every_seconds`` disables that rule.

    ``last_seq``/``last_ts_ns`` describe the snapshot the engine started from (or the
    start of the journal). Without ``last_ts_ns``, the first :meth:`due` call anchors
    the time rules at its ``ts_ns``.

    Call :meth:`due` with the seq and ts_ns of the command just applied, and
    :meth:`taken` after a snapshot of that state was written. For the daily snapshot
    the first command stamped at or after midnight makes it due; a runtime that wants
    the state exactly as of midnight asks before applying that command and snapshots
    the state at the previous seq.

    Raises ``ValueError`` for negative intervals.
    """

    __slots__ = (
        "_daily",
        "_every_commands",
        "_every_ns",
        "_last_seq",
        "_last_ts_ns",
        "_next_midnight_ns",
    )

    def __init__(
        self,
        every_commands: int,
        every_seconds: float,
        daily_midnight_utc: bool = True,
        *,
        last_seq: int = 0,
        last_ts_ns: int | None = None,
    ) -> None:
        if every_commands < 0:
            raise ValueError(f"every_commands must be >= 0, got {every_commands}")
        if every_seconds < 0:
            raise ValueError(f"every_seconds must be >= 0, got {every_seconds}")
        self._every_commands = every_commands
        self._every_ns = round(every_seconds * 1_000_000_000)
        self._daily = daily_midnight_utc
        self._last_seq = last_seq
        self._last_ts_ns: int | None = None
        self._next_midnight_ns = 0
        if last_ts_ns is not None:
            self._anchor(last_ts_ns)

    def _anchor(self, ts_ns: int) -> None:
        self._last_ts_ns = ts_ns
        self._next_midnight_ns = next_midnight_utc_ns(ts_ns)

    @property
    def last_seq(self) -> int:
        """Seq of the last snapshot taken (or the starting point)."""
        return self._last_seq

    @property
    def last_ts_ns(self) -> int | None:
        """Sequencer time of the last snapshot, ``None`` before the time rules are anchored."""
        return self._last_ts_ns

    def due(self, seq: int, ts_ns: int) -> bool:
        """Whether a snapshot of the state after command ``seq`` (stamped ``ts_ns``) is due.

        O(1); no I/O, no clock.
        """
        last_ts_ns = self._last_ts_ns
        if last_ts_ns is None:
            self._anchor(ts_ns)
            last_ts_ns = ts_ns
        if self._every_commands and seq - self._last_seq >= self._every_commands:
            return True
        if self._every_ns and ts_ns - last_ts_ns >= self._every_ns:
            return True
        return self._daily and ts_ns >= self._next_midnight_ns

    def taken(self, seq: int, ts_ns: int) -> None:
        """Record that a snapshot of the state after command ``seq`` was written. O(1)."""
        self._last_seq = seq
        self._anchor(ts_ns)
