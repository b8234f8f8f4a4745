"""Following a journal that is being written: the complete records that appeared since
the last read, in order, for a reader in another process (the SQL projector's).

:class:`JournalTail` keeps its place (the segment, the offset after the last complete
record, the next sequence number) and each :meth:`JournalTail.read` returns the records
written since. A record still being written (a partial header or payload, or bytes whose
checksum does not match yet) is left for the next read, never returned; a new segment is
picked up once the current one holds nothing more. The reader never writes, truncates or
repairs anything (the writer's :func:`~matchbook.journal.segments.recover_journal` does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from matchbook.journal.segments import (
    _CHECKED_FROM,
    _HEADER,
    HEADER_SIZE,
    JournalCorruptError,
    JournalGapError,
    _checksum,
    list_segments,
    segment_path,
)

__all__ = ["JournalTail"]

_READ_BYTES: Final = 4 * 1024 * 1024
"""At most this many bytes are read from a segment in one call of ``read``."""


class JournalTail:
    """The records of ``directory`` from sequence number ``from_seq`` on, as they appear.

    ``read()`` returns ``(seq, ts_ns, payload)`` for every complete record after the
    previous call (at most ``max_records``), and an empty list when nothing new is there.
    A torn or unfinished tail is not an error: it is read again next time. Raises
    :class:`JournalGapError` when the journal does not hold ``from_seq`` (older segments
    removed) or skips a sequence number, and :class:`JournalCorruptError` when a segment
    that a newer one follows ends with bytes that are not a complete record. Not
    thread-safe; one reader per instance.
    """

    def __init__(self, directory: str | os.PathLike[str], from_seq: int = 1) -> None:
        self.directory = Path(directory)
        self.next_seq = max(1, from_seq)
        self._path: Path | None = None
        self._fd: int | None = None
        self._offset = 0  # after the last complete record read from ``_path``
        self._expected = 0  # sequence number expected at ``_offset``

    @property
    def segment(self) -> Path | None:
        """The segment being followed (``None`` before the first record is found)."""
        return self._path

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> JournalTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, max_records: int = 10_000) -> list[tuple[int, int, bytes]]:
        """The complete records written since the last call, ``next_seq`` onwards."""
        out: list[tuple[int, int, bytes]] = []
        if self._fd is None and not self._open_first():
            return out
        while len(out) < max_records:
            self._read_segment(out, max_records)
            if len(out) >= max_records:
                break
            following = segment_path(self.directory, self._expected)
            if following == self._path or not following.exists():
                break
            # the writer starts a segment only after its last write to this one: what
            # this segment holds now is all it will ever hold
            self._read_segment(out, max_records)
            if len(out) >= max_records:
                break
            if self._size() > self._offset:
                raise JournalCorruptError(
                    f"{self._path}: damaged record at offset {self._offset} after seq "
                    f"{self._expected - 1}, and {following.name} follows",
                    path=self._path or following, offset=self._offset)
            self._switch(following, self._expected)
        return out

    # -- internals -------------------------------------------------------------------------

    def _open_first(self) -> bool:
        """Find the segment holding ``next_seq``; False when it is not there yet."""
        segments = [s for s in list_segments(self.directory) if s.path.stat().st_size > 0]
        holding = [s for s in segments if s.first_seq <= self.next_seq]
        if not holding:
            if segments:  # the journal starts after what is asked for
                raise JournalGapError(
                    f"{segments[0].path}: the journal starts at seq {segments[0].first_seq}"
                    f", the reader needs seq {self.next_seq}", path=segments[0].path,
                    offset=0, expected_seq=self.next_seq, found_seq=segments[0].first_seq)
            return False
        first = holding[-1]
        self._switch(first.path, first.first_seq)
        return True

    def _switch(self, path: Path, first_seq: int) -> None:
        self.close()
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._path = path
        self._offset = 0
        self._expected = first_seq

    def _size(self) -> int:
        assert self._fd is not None
        return os.fstat(self._fd).st_size

    def _read_segment(self, out: list[tuple[int, int, bytes]], max_records: int) -> None:
        """Append the complete records of the current segment after ``_offset`` (bytes
        of an unfinished record are read again next time, never kept)."""
        fd = self._fd
        assert fd is not None
        want = _READ_BYTES
        while len(out) < max_records:
            data = os.pread(fd, want, self._offset)
            used = self._parse(data, out, max_records)
            self._offset += used
            if len(data) < want:  # the end of what is written
                return
            if used == 0:  # one record larger than what was read: read all of it
                needed = HEADER_SIZE + _HEADER.unpack_from(data, 0)[0]
                if needed <= len(data) or self._offset + needed > self._size():
                    return  # being written
                want = needed
            else:
                want = _READ_BYTES

    def _parse(self, data: bytes, out: list[tuple[int, int, bytes]], max_records: int) -> int:
        """Records complete in ``data`` (which starts at ``_offset``); returns the bytes
        they take. Stops at the first incomplete or not yet checksummed record."""
        size = len(data)
        offset = 0
        expected = self._expected
        unpack_from = _HEADER.unpack_from
        with memoryview(data) as view:
            while size - offset >= HEADER_SIZE and len(out) < max_records:
                length, stored, seq, ts_ns = unpack_from(data, offset)
                stop = offset + HEADER_SIZE + length
                if stop > size or _checksum(view[offset + _CHECKED_FROM:stop]) != stored:
                    break  # being written: read again next time
                if seq != expected:
                    assert self._path is not None
                    raise JournalGapError(
                        f"{self._path}: expected seq {expected} at offset "
                        f"{self._offset + offset}, found seq {seq}", path=self._path,
                        offset=self._offset + offset, expected_seq=expected, found_seq=seq)
                if seq >= self.next_seq:
                    out.append((seq, ts_ns, data[offset + HEADER_SIZE:stop]))
                    self.next_seq = seq + 1
                expected = seq + 1
                offset = stop
        self._expected = expected
        return offset
