"""Following a journal as it is written: only complete records, resumed where the last
read stopped, a torn tail left for the next read, new segments picked up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from matchbook.journal import (
    JournalCorruptError,
    JournalGapError,
    JournalWriter,
    encode_record,
    iter_records,
    list_segments,
    segment_path,
)
from matchbook.journal.tail import JournalTail

Record = tuple[int, int, bytes]


def records(first: int, count: int) -> list[Record]:
    return [(seq, 1_700_000_000_000_000_000 + seq, bytes([seq % 251]) * (10 + seq % 13))
            for seq in range(first, first + count)]


def test_reads_what_was_written_since_the_last_read(tmp_path: Path) -> None:
    with JournalWriter(tmp_path, "os") as writer, JournalTail(tmp_path) as tail:
        assert tail.read() == []  # nothing written yet: not an error
        writer.append_batch(records(1, 5))
        assert tail.read() == records(1, 5)
        assert tail.read() == []
        writer.append_batch(records(6, 3))
        writer.append_batch(records(9, 1))
        assert tail.read() == records(6, 4)
        assert tail.next_seq == 10


def test_starts_in_the_middle_and_honours_max_records(tmp_path: Path) -> None:
    with JournalWriter(tmp_path, "os", segment_bytes=200) as writer:
        for first in range(1, 40, 3):
            writer.append_batch(records(first, 3))
    assert len(list_segments(tmp_path)) > 3
    with JournalTail(tmp_path, from_seq=17) as tail:
        got = tail.read(max_records=4)
        assert [r[0] for r in got] == [17, 18, 19, 20]
        rest = tail.read()
    assert got + rest == records(17, 39 - 16)


def test_a_torn_tail_is_left_for_the_next_read(tmp_path: Path) -> None:
    """Every prefix of a record being appended: the reader returns the records before
    it, nothing of it, and the whole record once it is complete."""
    with JournalWriter(tmp_path, "os") as writer:
        writer.append_batch(records(1, 2))
    path = list_segments(tmp_path)[0].path
    record = records(3, 1)[0]
    raw = encode_record(*record)
    with JournalTail(tmp_path) as tail:
        assert tail.read() == records(1, 2)
        for cut in range(1, len(raw)):
            with path.open("ab") as f:
                f.write(raw[cut - 1:cut])
            assert tail.read() == [], cut
        with path.open("ab") as f:
            f.write(raw[-1:])
        assert tail.read() == [record]


def test_bytes_that_do_not_checksum_yet_are_read_again(tmp_path: Path) -> None:
    """A record whose length is there but whose bytes are not yet what was written (a
    page not yet filled) is not returned, and is returned once it is right."""
    with JournalWriter(tmp_path, "os") as writer:
        writer.append_batch(records(1, 1))
    path = list_segments(tmp_path)[0].path
    raw = encode_record(*records(2, 1)[0])
    with path.open("ab") as f:
        f.write(raw[:-4] + b"\0\0\0\0")
    with JournalTail(tmp_path) as tail:
        assert tail.read() == records(1, 1)
        assert tail.read() == []
        with path.open("r+b") as f:
            f.seek(-4, os.SEEK_END)
            f.write(raw[-4:])
        assert tail.read() == records(2, 1)


def test_a_new_segment_is_picked_up(tmp_path: Path) -> None:
    with JournalWriter(tmp_path, "os", segment_bytes=60) as writer, \
            JournalTail(tmp_path) as tail:
        writer.append_batch(records(1, 4))  # fills the first segment: the next is new
        assert tail.read() == records(1, 4)
        first = tail.segment
        writer.append_batch(records(5, 2))
        writer.append_batch(records(7, 2))
        assert tail.read() == records(5, 4)
        assert tail.segment != first
    assert len(list_segments(tmp_path)) >= 3
    assert [r[0] for r in iter_records(tmp_path)] == list(range(1, 9))


def test_resumes_where_it_stopped_after_a_restart(tmp_path: Path) -> None:
    """A new reader from the next seq (what a restarted projector does) gets exactly
    the records the first one had not."""
    with JournalWriter(tmp_path, "os", segment_bytes=150) as writer:
        writer.append_batch(records(1, 6))
        with JournalTail(tmp_path) as tail:
            seen = tail.read()
        writer.append_batch(records(7, 6))
        with JournalTail(tmp_path, from_seq=tail.next_seq) as again:
            assert seen + again.read() == records(1, 12)


def test_damage_before_a_newer_segment_is_corruption(tmp_path: Path) -> None:
    with JournalWriter(tmp_path, "os") as writer:
        writer.append_batch(records(1, 2))
    with list_segments(tmp_path)[0].path.open("ab") as f:
        f.write(b"\x07" * 30)  # not a record, and never will be
    with JournalTail(tmp_path) as tail:
        assert tail.read() == records(1, 2)
        segment_path(tmp_path, 3).write_bytes(encode_record(*records(3, 1)[0]))
        with pytest.raises(JournalCorruptError):
            tail.read()


def test_a_journal_that_starts_later_is_a_gap(tmp_path: Path) -> None:
    with JournalWriter(tmp_path, "os") as writer:
        writer.append_batch(records(10, 3))
    with JournalTail(tmp_path, from_seq=4) as tail, pytest.raises(JournalGapError):
        tail.read()
