"""Journal segments: framing, group commit, rotation, reading and crash recovery."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from matchbook.bench.journal import bench_journal_append
from matchbook.journal import (
    HEADER_SIZE,
    JournalCorruptError,
    JournalError,
    JournalGapError,
    JournalWriter,
    encode_record,
    iter_records,
    list_segments,
    recover_journal,
    segment_path,
)

Record = tuple[int, int, bytes]


def make_records(first_seq: int, count: int, size: int = 20) -> list[Record]:
    """Deterministic records whose payloads differ in content and length."""
    return [
        (seq, 1_700_000_000_000_000_000 + seq * 1_000, bytes([seq % 251]) * (size + seq % 7))
        for seq in range(first_seq, first_seq + count)
    ]


def write_journal(directory: Path, batches: list[list[Record]], **kwargs: int) -> None:
    with JournalWriter(directory, "os", **kwargs) as writer:
        for batch in batches:
            writer.append_batch(batch)


def segment_bytes_of(directory: Path) -> list[bytes]:
    return [segment.path.read_bytes() for segment in list_segments(directory)]


# --------------------------------------------------------------------------- format


def test_encode_record_matches_documented_layout() -> None:
    raw = encode_record(7, -5, b"hello")
    length, checksum, seq, ts_ns = struct.unpack_from("<IIQq", raw)
    assert (length, seq, ts_ns) == (5, 7, -5)
    assert len(raw) == HEADER_SIZE + 5 == 29
    assert raw[HEADER_SIZE:] == b"hello"
    assert checksum == xxhash.xxh32_intdigest(raw[8:])


def test_written_segment_is_the_concatenation_of_encoded_records(tmp_path: Path) -> None:
    records = make_records(1, 5)
    write_journal(tmp_path, [records[:2], records[2:]])
    assert [s.path.name for s in list_segments(tmp_path)] == [f"journal-{1:020d}.seg"]
    assert segment_bytes_of(tmp_path) == [b"".join(encode_record(*r) for r in records)]


# --------------------------------------------------------------------------- writing


def test_round_trip_across_batches_and_reopen(tmp_path: Path) -> None:
    records = make_records(1, 50)
    write_journal(tmp_path, [records[:1], records[1:30]])
    with JournalWriter(tmp_path, "os") as writer:
        assert writer.last_seq == 30
        writer.append_batch(records[30:])
        assert writer.last_seq == 50
    assert list(iter_records(tmp_path)) == records
    assert list(iter_records(tmp_path, from_seq=42)) == records[41:]
    assert list(iter_records(tmp_path, from_seq=51)) == []
    assert len(list_segments(tmp_path)) == 1


def test_journal_may_start_at_any_seq_and_empty_payloads_are_kept(tmp_path: Path) -> None:
    records = [(1_000, 5, b""), (1_001, 6, b"x"), (1_002, 7, b"")]
    write_journal(tmp_path, [records])
    assert list(iter_records(tmp_path)) == records
    assert list_segments(tmp_path)[0].first_seq == 1_000


def test_fsync_mode_does_one_write_and_one_fsync_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"write": 0, "fsync": 0}
    real_write, real_fsync = os.write, os.fsync

    def counting_write(fd: int, data: bytes) -> int:
        calls["write"] += 1
        return real_write(fd, data)

    def counting_fsync(fd: int) -> None:
        calls["fsync"] += 1
        real_fsync(fd)

    monkeypatch.setattr(os, "write", counting_write)
    monkeypatch.setattr(os, "fsync", counting_fsync)
    records = make_records(1, 100)
    with JournalWriter(tmp_path, "fsync") as writer:
        writer.append_batch(records[:64])
        writer.append_batch(records[64:])
        stats = writer.stats()
    assert calls == {"write": 2, "fsync": 3}  # one per batch + the new segment's directory
    assert (stats.batches, stats.records, stats.fsyncs, stats.directory_fsyncs) == (2, 100, 2, 1)
    assert stats.bytes_written == sum(len(encode_record(*r)) for r in records)
    assert stats.fsync_ns > 0
    assert stats.fsync_seconds == stats.fsync_ns / 1e9
    assert list(iter_records(tmp_path)) == records


def test_os_mode_writes_without_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fsync(fd: int) -> None:
        raise AssertionError("fsync called in mode os")

    monkeypatch.setattr(os, "fsync", no_fsync)
    records = make_records(1, 10)
    with JournalWriter(tmp_path, "os") as writer:
        writer.append_batch(records)
        assert writer.stats().fsyncs == 0
    assert list(iter_records(tmp_path)) == records


def test_mode_none_writes_nothing_but_checks_sequence(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    with JournalWriter(directory, "none") as writer:
        writer.append_batch(make_records(1, 10))
        writer.append_batch(make_records(11, 5))
        with pytest.raises(ValueError, match="non-contiguous"):
            writer.append_batch(make_records(17, 1))
        stats = writer.stats()
    assert not directory.exists()
    assert (stats.last_seq, stats.records, stats.batches) == (15, 15, 2)
    assert (stats.bytes_written, stats.fsyncs) == (0, 0)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([(12, 0, b"a")], "last seq is 10, batch starts at 12"),
        ([(10, 0, b"a")], "last seq is 10, batch starts at 10"),
        ([(11, 0, b"a"), (13, 0, b"b")], "expected seq 12, found 13"),
        ([(11, 0, b"a"), (11, 0, b"b")], "expected seq 12, found 11"),
    ],
)
def test_non_contiguous_append_is_refused_and_writes_nothing(
    tmp_path: Path, batch: list[Record], message: str
) -> None:
    with JournalWriter(tmp_path, "fsync") as writer:
        writer.append_batch(make_records(1, 10))
        before = segment_bytes_of(tmp_path)
        with pytest.raises(ValueError, match=message):
            writer.append_batch(batch)
        assert segment_bytes_of(tmp_path) == before
        assert writer.last_seq == 10
        writer.append_batch([(11, 0, b"ok")])  # still usable
    assert list(iter_records(tmp_path))[-1] == (11, 0, b"ok")


@pytest.mark.parametrize("record", [(11, 2**63, b"ts too big"), (11, -(2**63) - 1, b"ts small")])
def test_out_of_range_fields_are_refused(tmp_path: Path, record: Record) -> None:
    with JournalWriter(tmp_path, "os") as writer:
        writer.append_batch(make_records(1, 10))
        with pytest.raises(ValueError, match="out of range"):
            writer.append_batch([record])
        assert writer.last_seq == 10
    assert [seq for seq, _, _ in iter_records(tmp_path)] == list(range(1, 11))


def test_closed_writer_refuses_appends(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, "os")
    writer.append_batch(make_records(1, 1))
    writer.close()
    writer.close()
    with pytest.raises(JournalError, match="closed"):
        writer.append_batch(make_records(2, 1))
    writer.append_batch([])  # an empty batch is a no-op even when closed


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="durability mode"):
        JournalWriter("unused", "sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="segment_bytes"):
        JournalWriter("unused", "none", segment_bytes=0)


# --------------------------------------------------------------------------- rotation


def test_rotation_at_batch_boundaries(tmp_path: Path) -> None:
    limit = 300
    records = make_records(1, 60)
    batches = [records[i : i + 4] for i in range(0, 60, 4)]
    write_journal(tmp_path, batches, segment_bytes=limit)
    segments = list_segments(tmp_path)
    assert len(segments) > 3
    batch_firsts = {batch[0][0] for batch in batches}
    largest_batch = max(sum(len(encode_record(*r)) for r in batch) for batch in batches)
    for index, segment in enumerate(segments):
        data = segment.path.read_bytes()
        assert segment.first_seq in batch_firsts
        assert struct.unpack_from("<Q", data, 8)[0] == segment.first_seq
        if index < len(segments) - 1:
            assert limit <= len(data) < limit + largest_batch
    assert list(iter_records(tmp_path)) == records
    assert list(iter_records(tmp_path, from_seq=33)) == records[32:]
    assert recover_journal(tmp_path).clean


def test_reopen_rotates_when_newest_segment_is_full(tmp_path: Path) -> None:
    write_journal(tmp_path, [make_records(1, 10)], segment_bytes=100)
    assert len(list_segments(tmp_path)) == 1
    write_journal(tmp_path, [make_records(11, 2)], segment_bytes=100)
    assert [s.first_seq for s in list_segments(tmp_path)] == [1, 11]
    assert [seq for seq, _, _ in iter_records(tmp_path)] == list(range(1, 13))


# --------------------------------------------------------------------------- recovery


def test_recovery_of_a_clean_journal_reports_it(tmp_path: Path) -> None:
    records = make_records(5, 20)
    write_journal(tmp_path, [records[i : i + 4] for i in range(0, 20, 4)], segment_bytes=200)
    report = recover_journal(tmp_path)
    assert report.clean and report.truncated is None
    assert (report.records, report.first_seq, report.last_seq) == (20, 5, 24)
    assert report.segments == len(list_segments(tmp_path)) > 1


@pytest.mark.parametrize("own_segment", [False, True], ids=["shared", "own-segment"])
@pytest.mark.slow
def test_torn_write_at_every_offset_of_the_last_record(tmp_path: Path, own_segment: bool) -> None:
    earlier = make_records(1, 6)
    last = (7, 77, b"the last record, torn anywhere")
    source = tmp_path / "source"
    # segment_bytes=1 puts every batch in its own segment.
    write_journal(
        source, [earlier[:3], earlier[3:], [last]], segment_bytes=1 if own_segment else 1 << 20
    )
    last_path = list_segments(source)[-1].path
    full = last_path.read_bytes()
    record_size = len(encode_record(*last))
    prefix = len(full) - record_size
    for cut in range(record_size):
        journal = tmp_path / f"cut-{cut}"
        shutil.copytree(source, journal)
        (journal / last_path.name).write_bytes(full[: prefix + cut])

        report = recover_journal(journal)

        if cut == 0 and own_segment:
            assert report.truncated is None
            assert report.removed_empty_segments == (journal / last_path.name,)
        elif cut == 0:
            assert report.clean
        else:
            assert report.truncated is not None
            assert report.truncated.path == journal / last_path.name
            assert report.truncated.offset == prefix
            assert report.truncated.bytes_removed == cut
            assert report.truncated.first_lost_seq == 7
            assert report.truncated.reason in {"partial header", "partial payload"}
            expected_removed = (journal / last_path.name,) if own_segment else ()
            assert report.removed_empty_segments == expected_removed
        assert report.last_seq == 6
        assert list(iter_records(journal)) == earlier
        assert recover_journal(journal).clean
        with JournalWriter(journal, "fsync") as writer:
            assert writer.last_seq == 6
            writer.append_batch([(7, 70, b"new"), (8, 80, b"newer")])
        assert list(iter_records(journal)) == [*earlier, (7, 70, b"new"), (8, 80, b"newer")]


def test_trailing_zeros_are_truncated(tmp_path: Path) -> None:
    records = make_records(1, 5)
    write_journal(tmp_path, [records])
    path = list_segments(tmp_path)[0].path
    size = path.stat().st_size
    with path.open("ab") as file:
        file.write(bytes(4096))
    report = recover_journal(tmp_path)
    assert report.truncated is not None
    assert (report.truncated.reason, report.truncated.offset) == ("trailing zeros", size)
    assert report.truncated.bytes_removed == 4096
    assert path.stat().st_size == size
    assert list(iter_records(tmp_path)) == records


def test_bit_flip_anywhere_in_the_last_record_truncates_it(tmp_path: Path) -> None:
    earlier = make_records(1, 4)
    last = (5, 55, b"payload of the last record")
    source = tmp_path / "source"
    write_journal(source, [earlier, [last]])
    full = list_segments(source)[0].path.read_bytes()
    prefix = len(full) - len(encode_record(*last))
    for position in range(prefix, len(full)):
        journal = tmp_path / f"flip-{position}"
        shutil.copytree(source, journal)
        damaged = bytearray(full)
        damaged[position] ^= 1 << (position % 8)
        list_segments(journal)[0].path.write_bytes(bytes(damaged))

        report = recover_journal(journal)

        assert report.truncated is not None, position
        assert report.truncated.offset == prefix
        assert report.truncated.reason in {"bad checksum", "partial payload"}
        assert list(iter_records(journal)) == earlier


@pytest.mark.parametrize("field_offset", [0, 4, 8, 16, HEADER_SIZE + 3], ids=lambda o: f"+{o}")
def test_damage_followed_by_intact_records_in_last_segment_is_an_error(
    tmp_path: Path, field_offset: int
) -> None:
    records = make_records(1, 6)
    write_journal(tmp_path, [records])
    path = list_segments(tmp_path)[0].path
    original = path.read_bytes()
    damaged_at = sum(len(encode_record(*r)) for r in records[:2])  # record seq 3
    damaged = bytearray(original)
    damaged[damaged_at + field_offset] ^= 0x10
    path.write_bytes(bytes(damaged))
    with pytest.raises(JournalCorruptError, match="not a torn tail") as caught:
        recover_journal(tmp_path)
    assert caught.value.path == path
    assert caught.value.offset == damaged_at
    assert f"offset {damaged_at}" in str(caught.value)
    assert "after seq 2" in str(caught.value) and path.name in str(caught.value)
    assert path.read_bytes() == bytes(damaged)  # nothing was cut


def test_bit_flip_in_an_earlier_segment_is_an_error(tmp_path: Path) -> None:
    records = make_records(1, 30)
    write_journal(tmp_path, [records[i : i + 5] for i in range(0, 30, 5)], segment_bytes=150)
    segments = list_segments(tmp_path)
    assert len(segments) >= 3
    first = segments[0].path
    data = bytearray(first.read_bytes())
    data[-3] ^= 0x01  # payload of that segment's last record
    first.write_bytes(bytes(data))
    snapshot = segment_bytes_of(tmp_path)
    with pytest.raises(JournalCorruptError, match="not the last one") as caught:
        recover_journal(tmp_path)
    assert caught.value.path == first
    assert first.name in str(caught.value)
    assert segment_bytes_of(tmp_path) == snapshot
    with pytest.raises(JournalCorruptError, match="bad checksum"):
        list(iter_records(tmp_path))


def test_missing_middle_segment_is_a_gap(tmp_path: Path) -> None:
    records = make_records(1, 30)
    write_journal(tmp_path, [records[i : i + 5] for i in range(0, 30, 5)], segment_bytes=150)
    segments = list_segments(tmp_path)
    assert len(segments) >= 3
    segments[1].path.unlink()
    with pytest.raises(JournalGapError) as caught:
        recover_journal(tmp_path)
    error = caught.value
    assert error.path == segments[2].path
    assert (error.expected_seq, error.found_seq) == (segments[1].first_seq, segments[2].first_seq)
    assert f"starts at seq {segments[2].first_seq}" in str(error)
    assert segments[2].path.name in str(error) and "missing" in str(error)
    with pytest.raises(JournalGapError):
        list(iter_records(tmp_path))


@pytest.mark.parametrize(
    ("seqs", "expected", "found"), [([1, 2, 4, 5], 3, 4), ([1, 2, 2, 3], 3, 2)], ids=["gap", "dup"]
)
def test_sequence_gap_or_duplicate_inside_a_segment(
    tmp_path: Path, seqs: list[int], expected: int, found: int
) -> None:
    data = b"".join(encode_record(seq, seq, b"payload") for seq in seqs)
    segment_path(tmp_path, 1).write_bytes(data)
    with pytest.raises(JournalGapError) as caught:
        recover_journal(tmp_path)
    assert (caught.value.expected_seq, caught.value.found_seq) == (expected, found)
    assert caught.value.offset == 2 * len(encode_record(1, 1, b"payload"))
    assert segment_path(tmp_path, 1).read_bytes() == data
    with pytest.raises(JournalGapError):
        JournalWriter(tmp_path, "os")


def test_segment_whose_name_disagrees_with_its_first_record(tmp_path: Path) -> None:
    segment_path(tmp_path, 5).write_bytes(encode_record(1, 0, b"x"))
    with pytest.raises(JournalGapError, match="file name declares"):
        recover_journal(tmp_path)


def test_overlapping_segments_are_an_error(tmp_path: Path) -> None:
    segment_path(tmp_path, 1).write_bytes(b"".join(encode_record(s, 0, b"x") for s in (1, 2, 3)))
    segment_path(tmp_path, 3).write_bytes(encode_record(3, 0, b"x"))
    with pytest.raises(JournalGapError, match="overlapping"):
        recover_journal(tmp_path)


def test_readers_and_writer_refuse_a_torn_tail_until_recovered(tmp_path: Path) -> None:
    write_journal(tmp_path, [make_records(1, 3)])
    with list_segments(tmp_path)[0].path.open("ab") as file:
        file.write(encode_record(4, 0, b"torn")[:-1])
    with pytest.raises(JournalCorruptError, match="recover_journal"):
        list(iter_records(tmp_path))
    with pytest.raises(JournalCorruptError, match="recover_journal"):
        JournalWriter(tmp_path, "os")
    dry = recover_journal(tmp_path, dry_run=True)
    assert dry.truncated is not None and dry.dry_run
    with pytest.raises(JournalCorruptError):
        list(iter_records(tmp_path))  # a dry run changes nothing
    assert recover_journal(tmp_path).truncated == dry.truncated
    assert [seq for seq, _, _ in iter_records(tmp_path)] == [1, 2, 3]


# --------------------------------------------------------------------------- empty files


def test_empty_and_missing_directory(tmp_path: Path) -> None:
    assert list(iter_records(tmp_path / "nowhere")) == []
    report = recover_journal(tmp_path)
    assert report.clean and (report.records, report.last_seq, report.segments) == (0, None, 0)


def test_empty_segment_files_are_ignored_then_removed(tmp_path: Path) -> None:
    records = make_records(1, 10)
    write_journal(tmp_path, [records[:5], records[5:]], segment_bytes=50)
    stray = segment_path(tmp_path, 999)
    stray.touch()
    trailing = segment_path(tmp_path, 11)
    trailing.touch()
    assert list(iter_records(tmp_path)) == records
    report = recover_journal(tmp_path)
    assert set(report.removed_empty_segments) == {stray, trailing}
    assert not stray.exists() and not trailing.exists()
    assert (report.last_seq, report.truncated) == (10, None)


def test_writer_reuses_an_empty_segment_of_the_right_name(tmp_path: Path) -> None:
    only = segment_path(tmp_path, 1)
    only.touch()
    with JournalWriter(tmp_path, "fsync") as writer:
        assert writer.last_seq is None
        writer.append_batch(make_records(1, 2))
    assert list_segments(tmp_path) == [(1, only)]
    assert [seq for seq, _, _ in iter_records(tmp_path)] == [1, 2]


# --------------------------------------------------------------------------- property


@settings(max_examples=30, deadline=None)
@given(
    batches=st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=8), max_size=12),
    segment_bytes=st.integers(min_value=1, max_value=400),
    first_seq=st.integers(min_value=0, max_value=2**40),
)
def test_any_batching_round_trips_and_recovers_clean(
    batches: list[list[bytes]], segment_bytes: int, first_seq: int
) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        expected: list[Record] = []
        seq = first_seq
        with JournalWriter(directory, "os", segment_bytes=segment_bytes) as writer:
            for payloads in batches:
                batch = [(seq + i, -(seq + i), p) for i, p in enumerate(payloads)]
                writer.append_batch(batch)
                expected.extend(batch)
                seq += len(payloads)
        assert list(iter_records(directory)) == expected
        report = recover_journal(directory)
        assert report.clean and report.records == len(expected)
        for segment in list_segments(directory)[:-1]:
            assert segment.path.stat().st_size >= segment_bytes


# --------------------------------------------------------------------------- bench


def test_bench_journal_append_counts_what_it_did(tmp_path: Path) -> None:
    result = bench_journal_append(tmp_path, "fsync", batch_size=4, records=10, payload_size=8)
    assert (result["records"], result["fsyncs"]) == (10, 3)
    assert result["bytes_written"] == 10 * (HEADER_SIZE + 8)
    assert [seq for seq, _, _ in iter_records(tmp_path)] == list(range(1, 11))
    p50, p99 = result["batch_latency_us_p50"], result["batch_latency_us_p99"]
    assert isinstance(p50, float) and isinstance(p99, float) and p50 <= p99
    none = bench_journal_append(tmp_path / "none", "none", batch_size=256, records=1000)
    assert (none["fsyncs"], none["bytes_written"]) == (0, 0)
    assert not (tmp_path / "none").exists()
    with pytest.raises(ValueError):
        bench_journal_append(tmp_path, "os", batch_size=0, records=1)
