"""Append-only journal segments: record framing, group-commit writer, reader and recovery.

The journal is the write-ahead log of sequenced commands. This module is only about
bytes: payloads are opaque (they are encoded elsewhere); here they are framed,
checksummed, written in batches, read back in order and repaired after a crash.

On-disk format
==============

A journal is a directory of *segment* files named ``journal-<first_seq:020d>.seg``,
where ``first_seq`` is the sequence number of the first record in the file. Other
files in the directory are ignored. A segment is a plain concatenation of records;
there is no file header. Every record is a fixed 24-byte little-endian header
followed by the payload::

    offset  size    field     type  meaning
    0       4       length    u32   payload length in bytes
    4       4       checksum  u32   xxh32 (seed 0) of bytes [8, 24 + length) of the
                                    record, i.e. of seq, ts_ns and the payload
    8       8       seq       u64   sequence number
    16      8       ts_ns     i64   sequencer timestamp, ns since the Unix epoch
    24      length  payload   -     opaque bytes

Invariants of a healthy journal:

* sequence numbers are contiguous (each record's ``seq`` is the previous one plus 1),
  within a segment and across segments;
* each non-empty segment's first record has ``seq == first_seq`` from its name, so the
  names alone show a missing segment;
* only the newest segment is ever appended to; a new segment is started at a batch
  boundary once the current one has reached ``segment_bytes``.

Empty segment files hold no records: readers and the writer ignore them and
:func:`recover_journal` deletes them.

Crash recovery
==============

A crash can only damage the end of the newest segment (a batch that was being
written). :func:`recover_journal` truncates such a *tail* (partial header, partial
payload, bad checksum, zero fill) at the end of the last intact record. Damage is a
tail only if no intact record continuing the sequence follows it in that segment: an
intact later record proves the damage is not an interrupted append, so truncating
would discard written data and recovery raises instead. Damage anywhere else, a
missing segment or a gap or duplicate in sequence numbers raises
:class:`JournalCorruptError` or :class:`JournalGapError`. Recovery never guesses.
"""

from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, NamedTuple, get_args

import xxhash

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "HEADER_SIZE",
    "DurabilityMode",
    "JournalCorruptError",
    "JournalError",
    "JournalGapError",
    "JournalWriter",
    "RecoveryReport",
    "SegmentFile",
    "Truncation",
    "WriterStats",
    "encode_record",
    "iter_records",
    "list_segments",
    "recover_journal",
    "segment_path",
]

DurabilityMode = Literal["fsync", "os", "none"]
"""``fsync``: write and fsync each batch; ``os``: write only; ``none``: write nothing."""

_MODES: Final = frozenset(get_args(DurabilityMode))

_HEADER: Final = struct.Struct("<IIQq")
_LENGTH_CHECKSUM: Final = struct.Struct("<II")
_SEQ_TS: Final = struct.Struct("<Qq")
HEADER_SIZE: Final = _HEADER.size
"""Size in bytes of the fixed record header (24)."""
_CHECKED_FROM: Final = 8
"""Offset in a record where the checksummed bytes start (seq, ts_ns, payload)."""

DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
_SEGMENT_NAME: Final = re.compile(r"journal-(\d{20})\.seg")
_NONZERO: Final = re.compile(rb"[^\x00]")
_checksum: Final = xxhash.xxh32_intdigest


# --------------------------------------------------------------------------- errors


class JournalError(Exception):
    """Base class of the journal's errors."""


class JournalCorruptError(JournalError):
    """The journal holds bytes that cannot be trusted and recovery must not repair.

    ``path`` and ``offset`` locate the problem (``offset`` is ``None`` when it concerns
    a whole file).
    """

    def __init__(self, message: str, *, path: Path, offset: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset


class JournalGapError(JournalCorruptError):
    """Sequence numbers are not contiguous: a missing segment, a gap or a duplicate.

    ``expected_seq`` is the number continuity requires at ``path``/``offset`` and
    ``found_seq`` the number actually there.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path,
        offset: int | None,
        expected_seq: int,
        found_seq: int,
    ) -> None:
        super().__init__(message, path=path, offset=offset)
        self.expected_seq = expected_seq
        self.found_seq = found_seq


# --------------------------------------------------------------------------- records


def encode_record(seq: int, ts_ns: int, payload: bytes) -> bytes:
    """Return the framed bytes of one record (header + payload).

    Raises ``struct.error`` when ``seq``, ``ts_ns`` or the payload length is out of
    range for its field. O(len(payload)).
    """
    body = _SEQ_TS.pack(seq, ts_ns) + payload
    return _LENGTH_CHECKSUM.pack(len(payload), _checksum(body)) + body


class SegmentFile(NamedTuple):
    """A segment file and the first sequence number its name declares."""

    first_seq: int
    path: Path


def segment_path(directory: str | os.PathLike[str], first_seq: int) -> Path:
    """Path of the segment whose first record has sequence number ``first_seq``."""
    return Path(directory) / f"journal-{first_seq:020d}.seg"


def list_segments(directory: str | os.PathLike[str]) -> list[SegmentFile]:
    """Segment files in ``directory`` sorted by first sequence number, empty ones included.

    Returns an empty list when the directory does not exist. O(files in directory).
    """
    root = Path(directory)
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        match = _SEGMENT_NAME.fullmatch(entry.name)
        if match is not None and entry.is_file():
            found.append(SegmentFile(int(match.group(1)), entry))
    found.sort()
    return found


class _Walk:
    """Iterate over the intact records of one segment's bytes, then tell where it stopped.

    Iteration yields ``(offset, seq, ts_ns, payload_start, payload_end)`` and stops at
    the end of the data or at the first record that is not intact (``damage`` is then
    set to the reason and ``end`` to that record's offset). An intact record whose
    sequence number breaks continuity raises :class:`JournalGapError`.
    """

    __slots__ = ("_data", "_expected", "_path", "damage", "end", "last_seq", "records")

    def __init__(self, data: bytes, path: Path, first_seq: int) -> None:
        self._data = data
        self._path = path
        self._expected = first_seq
        self.end = 0
        self.damage: str | None = None
        self.last_seq: int | None = None
        self.records = 0

    def __iter__(self) -> Iterator[tuple[int, int, int, int, int]]:
        data = self._data
        view = memoryview(data)
        size = len(data)
        unpack_from = _HEADER.unpack_from
        checksum = _checksum
        expected = self._expected
        offset = 0
        try:
            while offset < size:
                if size - offset < HEADER_SIZE:
                    self.damage = "partial header"
                    break
                length, stored, seq, ts_ns = unpack_from(data, offset)
                stop = offset + HEADER_SIZE + length
                if stop > size:
                    self.damage = "partial payload"
                    break
                if checksum(view[offset + _CHECKED_FROM : stop]) != stored:
                    self.damage = "bad checksum"
                    break
                if seq != expected:
                    raise _gap_error(self._path, offset, expected, seq, self.records == 0)
                self.end = stop
                self.last_seq = seq
                self.records += 1
                yield offset, seq, ts_ns, offset + HEADER_SIZE, stop
                expected = seq + 1
                offset = stop
        finally:
            view.release()
        if self.damage is not None and data.count(0, offset) == size - offset:
            self.damage = "trailing zeros"


def _gap_error(path: Path, offset: int, expected: int, found: int, first: bool) -> JournalGapError:
    kind = "duplicate or out-of-order" if found < expected else "gap in"
    where = " (first record; the file name declares its first seq)" if first else ""
    return JournalGapError(
        f"{path}: {kind} sequence numbers at offset {offset}{where}: "
        f"expected seq {expected}, found seq {found}",
        path=path,
        offset=offset,
        expected_seq=expected,
        found_seq=found,
    )


def _check_segment_start(segment: SegmentFile, previous_last: int | None) -> None:
    """Raise :class:`JournalGapError` if ``segment`` does not continue ``previous_last``."""
    if previous_last is None or segment.first_seq == previous_last + 1:
        return
    expected = previous_last + 1
    if segment.first_seq > expected:
        message = (
            f"{segment.path}: missing journal records: the previous segment ends at seq "
            f"{previous_last} but this segment starts at seq {segment.first_seq} "
            f"(seqs {expected}..{segment.first_seq - 1} are missing, "
            f"expected segment {segment_path(segment.path.parent, expected).name})"
        )
    else:
        message = (
            f"{segment.path}: overlapping segments: the previous segment ends at seq "
            f"{previous_last} but this segment starts at seq {segment.first_seq}"
        )
    raise JournalGapError(
        message, path=segment.path, offset=0, expected_seq=expected, found_seq=segment.first_seq
    )


def _find_later_record(data: bytes, start: int, after_seq: int) -> tuple[int, int] | None:
    """First intact record at an offset in ``(start, len(data))`` with ``seq > after_seq``.

    Returns ``(offset, seq)`` or ``None``. Zero-filled stretches are skipped in C;
    elsewhere every byte offset is tried: O(len(data) - start) header probes.
    """
    size = len(data)
    highest = after_seq + (size - start) // HEADER_SIZE + 1
    unpack_from = _HEADER.unpack_from
    find_nonzero = _NONZERO.search
    offset = start + 1
    with memoryview(data) as view:
        while offset + HEADER_SIZE <= size:
            length, stored, seq, _ = unpack_from(data, offset)
            if after_seq < seq <= highest:
                stop = offset + HEADER_SIZE + length
                if stop <= size and _checksum(view[offset + _CHECKED_FROM : stop]) == stored:
                    return offset, seq
                offset += 1
            elif seq == 0 and after_seq >= 0:
                # The 8 seq bytes are zero, so no record can start before the next
                # non-zero byte moves into a seq field: jump there.
                match = find_nonzero(data, offset + 8)
                if match is None:
                    return None
                offset = max(offset + 1, match.start() - 15)
            else:
                offset += 1
    return None


# --------------------------------------------------------------------------- reading


def iter_records(
    directory: str | os.PathLike[str], from_seq: int = 0
) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(seq, ts_ns, payload)`` for every record with ``seq >= from_seq``, in order.

    Segments before the one holding ``from_seq`` are not read. Every record read is
    verified (checksum and sequence continuity, within and across segments); the
    reader never skips or repairs anything.

    Raises :class:`JournalGapError` on a missing segment or a sequence gap/duplicate and
    :class:`JournalCorruptError` on a damaged record, including a torn tail of the last
    segment (run :func:`recover_journal` first). Time O(bytes read), memory O(one
    segment).
    """
    segments = [s for s in list_segments(directory) if s.path.stat().st_size > 0]
    start = 0
    for index, segment in enumerate(segments):
        if segment.first_seq <= from_seq:
            start = index
    previous_last: int | None = None
    for index in range(start, len(segments)):
        segment = segments[index]
        _check_segment_start(segment, previous_last)
        data = segment.path.read_bytes()
        walk = _Walk(data, segment.path, segment.first_seq)
        for _, seq, ts_ns, payload_start, payload_end in walk:
            if seq >= from_seq:
                yield seq, ts_ns, data[payload_start:payload_end]
        if walk.damage is not None:
            hint = "; run recover_journal()" if index == len(segments) - 1 else ""
            raise JournalCorruptError(
                f"{segment.path}: damaged record at offset {walk.end} ({walk.damage}) "
                f"after seq {walk.last_seq}{hint}",
                path=segment.path,
                offset=walk.end,
            )
        previous_last = walk.last_seq


# --------------------------------------------------------------------------- recovery


@dataclass(frozen=True, slots=True)
class Truncation:
    """What recovery cut from the tail of the last segment.

    ``offset`` is the file's new size (the end of the last intact record),
    ``bytes_removed`` how many bytes followed it, ``reason`` what was wrong with the
    first removed record and ``first_lost_seq`` the sequence number it would have had.
    """

    path: Path
    offset: int
    bytes_removed: int
    reason: str
    first_lost_seq: int


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """Outcome of :func:`recover_journal`.

    ``segments`` and ``records`` count what remains; ``first_seq``/``last_seq`` are
    ``None`` for an empty journal. ``truncated`` is ``None`` when nothing was cut.
    """

    directory: Path
    segments: int
    records: int
    first_seq: int | None
    last_seq: int | None
    truncated: Truncation | None
    removed_empty_segments: tuple[Path, ...]
    dry_run: bool = False

    @property
    def clean(self) -> bool:
        """True when recovery found nothing to cut or remove."""
        return self.truncated is None and not self.removed_empty_segments


def recover_journal(directory: str | os.PathLike[str], *, dry_run: bool = False,
                    verify_from: int = 0) -> RecoveryReport:
    """Verify every segment and repair a torn or corrupt tail of the last one.

    With ``verify_from`` (start-up after a snapshot at ``verify_from - 1``), segments
    that end before that seq are taken by their names and not read: start-up costs the
    journal after the snapshot, not the whole history. ``matchbook journal verify``
    still reads everything.

    Checks all checksums, that each segment's first record matches its name, and that
    sequence numbers are contiguous across the whole journal. A damaged tail of the last
    non-empty segment is truncated at the end of the last intact record (see the module
    docstring for what counts as a tail) and the file is fsynced; empty segment files
    are deleted. With ``dry_run`` nothing is modified and the report says what would be.

    Raises :class:`JournalGapError` for a missing segment, overlapping segments or a
    sequence gap/duplicate, and :class:`JournalCorruptError` for damage in a non-last
    segment or damage followed by intact records in the last one; the message names
    the file, offset and sequence numbers. Time O(journal bytes), memory O(one segment).
    """
    root = Path(directory)
    all_segments = list_segments(root)
    empty = tuple(s.path for s in all_segments if s.path.stat().st_size == 0)
    segments = [s for s in all_segments if s.path not in empty]
    removed = list(empty)
    records = 0
    kept = 0
    first_seq: int | None = None
    previous_last: int | None = None
    truncated: Truncation | None = None
    for index, segment in enumerate(segments):
        is_last = index == len(segments) - 1
        _check_segment_start(segment, previous_last)
        if not is_last and segments[index + 1].first_seq <= verify_from:
            # wholly before what will be replayed: taken by its name (the next segment
            # starts where this one ends); ``journal verify`` reads it
            records += segments[index + 1].first_seq - segment.first_seq
            kept += 1
            previous_last = segments[index + 1].first_seq - 1
            if first_seq is None:
                first_seq = segment.first_seq
            continue
        data = segment.path.read_bytes()
        walk = _Walk(data, segment.path, segment.first_seq)
        for _ in walk:
            pass
        if walk.damage is not None:
            after = walk.last_seq if walk.last_seq is not None else segment.first_seq - 1
            if not is_last:
                raise JournalCorruptError(
                    f"{segment.path}: damaged record at offset {walk.end} ({walk.damage}) "
                    f"after seq {after}, in a segment that is not the last one",
                    path=segment.path,
                    offset=walk.end,
                )
            if walk.damage != "trailing zeros":
                later = _find_later_record(data, walk.end, after)
                if later is not None:
                    raise JournalCorruptError(
                        f"{segment.path}: damaged record at offset {walk.end} "
                        f"({walk.damage}) after seq {after}, but an intact record with "
                        f"seq {later[1]} follows at offset {later[0]}: not a torn tail",
                        path=segment.path,
                        offset=walk.end,
                    )
            truncated = Truncation(
                path=segment.path,
                offset=walk.end,
                bytes_removed=len(data) - walk.end,
                reason=walk.damage,
                first_lost_seq=after + 1,
            )
            if not dry_run:
                _truncate(segment.path, walk.end)
            if walk.end == 0:
                removed.append(segment.path)
        if walk.records:
            kept += 1
            records += walk.records
            previous_last = walk.last_seq
            if first_seq is None:
                first_seq = segment.first_seq
    if not dry_run:
        for path in removed:
            path.unlink()
        if removed:
            _fsync_directory(root)
    return RecoveryReport(
        directory=root,
        segments=kept,
        records=records,
        first_seq=first_seq,
        last_seq=previous_last,
        truncated=truncated,
        removed_empty_segments=tuple(removed),
        dry_run=dry_run,
    )


def _truncate(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of a :class:`JournalWriter`, for metrics.

    ``records``/``batches`` count accepted appends (in every mode); ``bytes_written``,
    ``fsyncs`` and ``fsync_ns`` count actual I/O (zero in mode ``none``);
    ``directory_fsyncs`` counts the fsyncs that make new segment files durable.
    """

    last_seq: int | None
    records: int
    batches: int
    bytes_written: int
    fsyncs: int
    fsync_ns: int
    directory_fsyncs: int
    segments_created: int

    @property
    def fsync_seconds(self) -> float:
        """Total time spent in per-batch fsyncs, in seconds."""
        return self.fsync_ns / 1e9


class JournalWriter:
    """Appends batches of records to the newest segment, one write (and fsync) per batch.

    ``mode`` is ``"fsync"`` (write, then fsync: a batch is durable when
    :meth:`append_batch` returns), ``"os"`` (write only: survives a process crash, not a
    power loss) or ``"none"`` (nothing is read or written; sequence numbers are still
    checked). In the writing modes the directory is created if needed, and the newest
    non-empty segment is read once to find the last sequence number and continued. Run
    :func:`recover_journal` before opening a writer after a crash.

    A new segment is started at a batch boundary once the current one holds at least
    ``segment_bytes`` bytes, so a segment exceeds the limit by less than one batch.

    After an I/O error the writer is unusable (the file may end with part of a batch
    and, after a failed fsync, the page cache state is unknown): close it and run
    recovery. One writer per directory; not thread-safe.

    Raises ``ValueError`` for an unknown mode or a non-positive ``segment_bytes``, and
    :class:`JournalCorruptError` / :class:`JournalGapError` if the newest segment has a
    damaged tail or a broken sequence.
    """

    __slots__ = (
        "_batches",
        "_bytes",
        "_closed",
        "_directory",
        "_directory_fsyncs",
        "_failed",
        "_fd",
        "_fsync",
        "_fsync_ns",
        "_fsyncs",
        "_last_seq",
        "_mode",
        "_records",
        "_segment_bytes",
        "_segment_size",
        "_segments_created",
    )

    def __init__(
        self,
        directory: str | os.PathLike[str],
        mode: DurabilityMode = "fsync",
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"unknown durability mode {mode!r}; expected one of {sorted(_MODES)}")
        if segment_bytes <= 0:
            raise ValueError(f"segment_bytes must be positive, got {segment_bytes}")
        self._directory = Path(directory)
        self._mode = mode
        self._fsync = mode == "fsync"
        self._segment_bytes = segment_bytes
        self._fd: int | None = None
        self._segment_size = 0
        self._last_seq: int | None = None
        self._closed = False
        self._failed = False
        self._records = 0
        self._batches = 0
        self._bytes = 0
        self._fsyncs = 0
        self._fsync_ns = 0
        self._directory_fsyncs = 0
        self._segments_created = 0
        if mode != "none":
            self._open_newest()

    def _open_newest(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        segments = [s for s in list_segments(self._directory) if s.path.stat().st_size > 0]
        if not segments:
            return
        newest = segments[-1]
        data = newest.path.read_bytes()
        walk = _Walk(data, newest.path, newest.first_seq)
        for _ in walk:
            pass
        if walk.damage is not None:
            raise JournalCorruptError(
                f"{newest.path}: damaged record at offset {walk.end} ({walk.damage}) "
                f"after seq {walk.last_seq}; run recover_journal() before writing",
                path=newest.path,
                offset=walk.end,
            )
        self._last_seq = walk.last_seq
        self._segment_size = len(data)
        if self._segment_size < self._segment_bytes:
            self._fd = os.open(newest.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)

    @property
    def directory(self) -> Path:
        """The journal directory."""
        return self._directory

    @property
    def mode(self) -> DurabilityMode:
        """The durability mode."""
        return self._mode

    @property
    def last_seq(self) -> int | None:
        """Sequence number of the last record appended (or found on open), else ``None``."""
        return self._last_seq

    def stats(self) -> WriterStats:
        """A consistent copy of the counters. O(1)."""
        return WriterStats(
            last_seq=self._last_seq,
            records=self._records,
            batches=self._batches,
            bytes_written=self._bytes,
            fsyncs=self._fsyncs,
            fsync_ns=self._fsync_ns,
            directory_fsyncs=self._directory_fsyncs,
            segments_created=self._segments_created,
        )

    def append_batch(self, records: Sequence[tuple[int, int, bytes]]) -> None:
        """Append ``(seq, ts_ns, payload)`` records as one batch (group commit).

        The batch is framed into one buffer and written with one ``os.write`` (repeated
        only if the kernel writes short) and, in mode ``fsync``, made durable with one
        ``os.fsync``. Sequence numbers must be contiguous with :attr:`last_seq` and
        within the batch; the first batch of an empty journal may start at any number.
        An empty batch does nothing. Time O(total payload bytes).

        Raises ``ValueError`` (nothing is written) for non-contiguous sequence numbers
        or a ``seq``/``ts_ns``/length out of range of its field, :class:`JournalError`
        if the writer is closed or failed, and ``OSError`` from the file system (the
        writer then fails).
        """
        if not records:
            return
        if self._closed or self._failed:
            raise JournalError(f"journal writer for {self._directory} is closed or failed")
        expected = records[0][0]
        if self._last_seq is not None and expected != self._last_seq + 1:
            raise ValueError(
                f"non-contiguous append: last seq is {self._last_seq}, batch starts at {expected}"
            )
        first = expected
        if self._mode == "none":
            for record in records:
                if record[0] != expected:
                    raise ValueError(_batch_gap_message(expected, record[0]))
                expected += 1
        else:
            parts: list[bytes] = []
            append = parts.append
            pack_seq_ts = _SEQ_TS.pack
            pack_length_checksum = _LENGTH_CHECKSUM.pack
            checksum = _checksum
            try:
                for seq, ts_ns, payload in records:
                    if seq != expected:
                        raise ValueError(_batch_gap_message(expected, seq))
                    expected = seq + 1
                    body = pack_seq_ts(seq, ts_ns) + payload
                    append(pack_length_checksum(len(payload), checksum(body)))
                    append(body)
            except struct.error as exc:
                raise ValueError(f"record out of range near seq {expected}: {exc}") from exc
            self._write(b"".join(parts), first)
        self._last_seq = expected - 1
        self._records += expected - first
        self._batches += 1

    def _write(self, buffer: bytes, first_seq: int) -> None:
        fd = self._fd
        if fd is None:
            fd = self._start_segment(first_seq)
        size = len(buffer)
        try:
            written = os.write(fd, buffer)
            if written != size:
                with memoryview(buffer) as view:
                    while written < size:
                        written += os.write(fd, view[written:])
            if self._fsync:
                started = time.perf_counter_ns()
                os.fsync(fd)
                self._fsync_ns += time.perf_counter_ns() - started
                self._fsyncs += 1
        except BaseException:
            self._failed = True
            raise
        self._bytes += size
        self._segment_size += size
        if self._segment_size >= self._segment_bytes:
            self._fd = None
            os.close(fd)

    def _start_segment(self, first_seq: int) -> int:
        path = segment_path(self._directory, first_seq)
        try:
            # An empty file of that name (left by recovery or a crash) holds nothing
            # and is reused; a non-empty one means the journal is inconsistent.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if os.fstat(fd).st_size != 0:
                os.close(fd)
                raise JournalCorruptError(
                    f"{path}: cannot start a segment at seq {first_seq}: the file exists "
                    f"and is not empty",
                    path=path,
                )
            if self._fsync:
                _fsync_directory(self._directory)
                self._directory_fsyncs += 1
        except BaseException:
            self._failed = True
            raise
        self._fd = fd
        self._segment_size = 0
        self._segments_created += 1
        return fd

    def close(self) -> None:
        """Close the current segment file. Idempotent; appending afterwards raises."""
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _batch_gap_message(expected: int, found: int) -> str:
    return f"non-contiguous sequence numbers in batch: expected seq {expected}, found {found}"
