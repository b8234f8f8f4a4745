"""Snapshots: atomic files, retention, fallback loading, and the snapshot policy."""

from __future__ import annotations

import logging
import os
import stat
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import xxhash

from matchbook.journal import (
    DAY_NS,
    SNAPSHOT_MAGIC,
    Snapshot,
    SnapshotPolicy,
    SnapshotStore,
    next_midnight_utc_ns,
)

SECOND_NS = 1_000_000_000
MIDNIGHT_NS = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp()) * SECOND_NS


# --------------------------------------------------------------------------- store


def test_write_then_load_round_trip_and_file_layout(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snaps", keep=2)
    path = store.write(42, 1_234, b"engine state")
    assert path == tmp_path / "snaps" / f"snapshot-{42:020d}.snap"
    data = path.read_bytes()
    magic, seq, ts_ns, length, checksum = struct.unpack_from("<8sQqQQ", data)
    assert (magic, seq, ts_ns, length) == (SNAPSHOT_MAGIC, 42, 1_234, 12)
    assert data[40:] == b"engine state" and len(data) == 52
    assert checksum == xxhash.xxh3_64_intdigest(data[8:32] + data[40:])
    assert store.load_latest() == Snapshot(42, 1_234, b"engine state")
    [info] = store.list()
    assert (info.seq, info.ts_ns, info.path, info.size, info.valid) == (42, 1_234, path, 52, True)


def test_store_does_no_io_until_used(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "later")
    assert not (tmp_path / "later").exists()
    assert store.load_latest() is None
    assert store.list() == []
    assert not (tmp_path / "later").exists()


def test_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep"):
        SnapshotStore(tmp_path, keep=0)


def test_out_of_range_seq_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="out of range"):
        SnapshotStore(tmp_path).write(-1, 0, b"x")
    assert list(tmp_path.iterdir()) == []


def test_leftover_temporary_files_are_ignored(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=1)
    store.write(10, 100, b"good")
    (tmp_path / f".snapshot-{20:020d}.abc123.tmp").write_bytes(b"half a snaps")
    (tmp_path / f"snapshot-{30:020d}.snap.tmp").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_text("not a snapshot")
    assert [info.seq for info in store.list()] == [10]
    assert store.load_latest() == Snapshot(10, 100, b"good")
    store.write(11, 110, b"newer")  # pruning leaves foreign files alone
    assert (tmp_path / "notes.txt").exists()
    assert [info.seq for info in store.list()] == [11]


def test_crash_before_rename_leaves_previous_snapshot_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SnapshotStore(tmp_path, keep=3)
    store.write(1, 10, b"old")

    def crash(src: str, dst: str) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        store.write(2, 20, b"new")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"snapshot-{1:020d}.snap"]
    assert store.load_latest() == Snapshot(1, 10, b"old")


def test_write_fsyncs_file_and_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    SnapshotStore(tmp_path).write(1, 1, b"x")
    assert synced == [False, True]  # the file, then the directory after the rename


def test_same_seq_is_replaced(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.write(5, 1, b"first")
    store.write(5, 2, b"second")
    assert store.load_latest() == Snapshot(5, 2, b"second")
    assert len(store.list()) == 1


def test_keep_prunes_to_the_newest_k(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=2)
    for seq in (100, 200, 300, 400, 500):
        store.write(seq, seq, b"state %d" % seq)
        assert len(store.list()) == min(2, seq // 100)
    assert [info.seq for info in store.list()] == [400, 500]


def test_pruning_never_deletes_the_snapshot_just_written(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=2)
    store.write(400, 4, b"a")
    store.write(500, 5, b"b")
    path = store.write(100, 1, b"older state rewritten")
    assert path.exists()
    assert [info.seq for info in store.list()] == [100, 500]


def _corrupt_bad_magic(data: bytes) -> bytes:
    return b"XXSNAP1\0" + data[8:]


def _corrupt_short_header(data: bytes) -> bytes:
    return data[:20]


def _corrupt_short_payload(data: bytes) -> bytes:
    return data[:-1]


def _corrupt_payload_bit(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def _corrupt_ts_bit(data: bytes) -> bytes:
    return data[:16] + bytes([data[16] ^ 0x80]) + data[17:]


def _corrupt_trailing(data: bytes) -> bytes:
    return data + b"\0"


def _corrupt_empty(data: bytes) -> bytes:
    return b""


@pytest.mark.parametrize(
    ("corrupt", "problem"),
    [
        (_corrupt_bad_magic, "bad magic"),
        (_corrupt_short_header, "short header"),
        (_corrupt_empty, "short header"),
        (_corrupt_short_payload, "short payload"),
        (_corrupt_payload_bit, "bad checksum"),
        (_corrupt_ts_bit, "bad checksum"),
        (_corrupt_trailing, "trailing bytes"),
    ],
)
def test_corrupt_newest_snapshot_falls_back_to_previous(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    corrupt: Callable[[bytes], bytes],
    problem: str,
) -> None:
    store = SnapshotStore(tmp_path, keep=3)
    store.write(10, 100, b"older")
    newest = store.write(20, 200, b"newest state")
    newest.write_bytes(corrupt(newest.read_bytes()))
    with caplog.at_level(logging.WARNING, logger="matchbook.journal.snapshot"):
        assert store.load_latest() == Snapshot(10, 100, b"older")
    assert newest.name in caplog.text and problem in caplog.text
    infos = store.list()
    assert [(i.seq, i.valid) for i in infos] == [(10, True), (20, False)]
    assert infos[1].problem is not None and problem in infos[1].problem


def test_header_seq_must_match_file_name(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.write(10, 1, b"ten")
    store.path_for(10).rename(store.path_for(11))
    assert store.load_latest() is None
    assert store.list()[0].problem == "header seq 10 does not match the file name"


def test_load_latest_respects_max_seq(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=5)
    for seq in (10, 20, 30):
        store.write(seq, seq * 10, b"s%d" % seq)
    assert store.load_latest(max_seq=29) == Snapshot(20, 200, b"s20")
    assert store.load_latest(max_seq=30) == Snapshot(30, 300, b"s30")
    assert store.load_latest(max_seq=9) is None


def test_all_snapshots_corrupt_gives_none(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.write(1, 1, b"x").write_bytes(b"garbage")
    assert store.load_latest() is None


# --------------------------------------------------------------------------- midnight


def test_next_midnight_at_the_boundaries() -> None:
    assert next_midnight_utc_ns(MIDNIGHT_NS) == MIDNIGHT_NS + DAY_NS
    assert next_midnight_utc_ns(MIDNIGHT_NS - 1) == MIDNIGHT_NS
    assert next_midnight_utc_ns(MIDNIGHT_NS + 1) == MIDNIGHT_NS + DAY_NS
    assert next_midnight_utc_ns(MIDNIGHT_NS + DAY_NS - 1) == MIDNIGHT_NS + DAY_NS
    assert next_midnight_utc_ns(0) == DAY_NS
    assert next_midnight_utc_ns(-1) == 0
    assert next_midnight_utc_ns(-DAY_NS) == 0


def test_next_midnight_is_a_utc_midnight() -> None:
    ts_ns = MIDNIGHT_NS + 13 * 3_600 * SECOND_NS + 123_456_789  # 2024-03-01 13:00 UTC
    midnight = next_midnight_utc_ns(ts_ns)
    assert datetime.fromtimestamp(midnight // SECOND_NS, tz=UTC) == datetime(2024, 3, 2, tzinfo=UTC)
    assert midnight % SECOND_NS == 0


# --------------------------------------------------------------------------- policy


def test_policy_by_command_count() -> None:
    policy = SnapshotPolicy(every_commands=100, every_seconds=0, daily_midnight_utc=False)
    assert not policy.due(99, MIDNIGHT_NS + 5 * DAY_NS)
    assert policy.due(100, MIDNIGHT_NS)
    policy.taken(100, MIDNIGHT_NS)
    assert not policy.due(199, MIDNIGHT_NS)
    assert policy.due(200, MIDNIGHT_NS)


def test_policy_by_sequencer_time() -> None:
    start = MIDNIGHT_NS + 3_600 * SECOND_NS
    policy = SnapshotPolicy(every_commands=0, every_seconds=60, daily_midnight_utc=False)
    assert not policy.due(1, start)  # anchors the time rule
    assert not policy.due(2, start + 60 * SECOND_NS - 1)
    assert policy.due(3, start + 60 * SECOND_NS)
    policy.taken(3, start + 60 * SECOND_NS)
    assert not policy.due(10**6, start + 119 * SECOND_NS)
    assert policy.due(10**6, start + 120 * SECOND_NS)


def test_policy_fractional_seconds() -> None:
    policy = SnapshotPolicy(0, 0.5, daily_midnight_utc=False, last_ts_ns=0)
    assert not policy.due(1, 499_999_999)
    assert policy.due(1, 500_000_000)


def test_policy_daily_midnight() -> None:
    before = MIDNIGHT_NS - 1
    policy = SnapshotPolicy(
        every_commands=0, every_seconds=0, last_ts_ns=before - 3_600 * SECOND_NS
    )
    assert not policy.due(5, before)
    assert policy.due(6, MIDNIGHT_NS)
    assert policy.due(6, MIDNIGHT_NS + 7 * 3_600 * SECOND_NS)  # first command of a quiet night
    policy.taken(6, MIDNIGHT_NS)
    assert not policy.due(7, MIDNIGHT_NS + DAY_NS - 1)
    assert policy.due(8, MIDNIGHT_NS + DAY_NS)


def test_policy_daily_rule_can_be_disabled() -> None:
    policy = SnapshotPolicy(0, 0, daily_midnight_utc=False, last_seq=5, last_ts_ns=MIDNIGHT_NS - 1)
    assert not policy.due(6, MIDNIGHT_NS + 3 * DAY_NS)
    assert (policy.last_seq, policy.last_ts_ns) == (5, MIDNIGHT_NS - 1)


def test_policy_starting_from_a_snapshot_counts_from_its_seq() -> None:
    policy = SnapshotPolicy(1_000, 0, daily_midnight_utc=False, last_seq=5_000, last_ts_ns=0)
    assert not policy.due(5_999, 0)
    assert policy.due(6_000, 0)


def test_policy_never_reads_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_clock() -> float:
        raise AssertionError("wall clock read")

    for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter"):
        monkeypatch.setattr(time, name, no_clock)
    policy = SnapshotPolicy(10, 1.0)
    assert not policy.due(1, MIDNIGHT_NS - 1)
    assert policy.due(2, MIDNIGHT_NS)


def test_policy_rejects_negative_intervals() -> None:
    with pytest.raises(ValueError, match="every_commands"):
        SnapshotPolicy(-1, 0)
    with pytest.raises(ValueError, match="every_seconds"):
        SnapshotPolicy(0, -0.5)
