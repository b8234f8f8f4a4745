"""DurableEngine: replay equivalence, torn tails, snapshot fallback, gaps, write-ahead,
the daily snapshot, and the ``matchbook journal`` / ``matchbook snapshot`` commands."""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from matchbook.cli import app
from matchbook.config import read_config
from matchbook.core import Deposit, Engine, PlaceOrder, RiskLimits, load_markets
from matchbook.journal import (
    DAY_NS,
    JournalGapError,
    SnapshotStore,
    encode_record,
    iter_records,
    list_segments,
)
from matchbook.journal.codec import (
    decode_command,
    decode_snapshot,
    encode_command,
    encode_json_in_slices,
    encode_snapshot,
)
from matchbook.journal.durable import DurabilityConfig, DurableEngine, recover
from matchbook.tools.crash import CommandStream, markets_and_limits, replay_from_start

MARKETS, LIMITS = markets_and_limits()
SECOND_NS = 1_000_000_000
MIDNIGHT_NS = int(datetime(2024, 3, 2, tzinfo=UTC).timestamp()) * SECOND_NS
NOON_NS = MIDNIGHT_NS - 12 * 3600 * SECOND_NS
QUIET = DurabilityConfig(mode="os", snapshot_every_commands=0, snapshot_every_seconds=0,
                         snapshot_daily=False)


def open_durable(data_dir: Path, config: DurabilityConfig = QUIET) -> DurableEngine:
    return DurableEngine.open(data_dir, MARKETS, config=config, limits=LIMITS)


def drive(durable: DurableEngine, seed: int, until_seq: int, *, max_batch: int = 64,
          start_ts_ns: int = NOON_NS) -> CommandStream:
    """Fund the users (on an empty engine), then random batches until ``until_seq``."""
    stream = CommandStream(seed, durable.engine, users=30, start_ts_ns=start_ts_ns)
    rng = random.Random(seed)
    funding = stream.stamp(stream.funding())
    for index in range(0, len(funding), max_batch):
        stream.observe(durable.submit(funding[index:index + max_batch]))
    while durable.last_seq < until_seq:
        stream.observe(durable.submit(stream.batch(rng.randint(1, max_batch))))
    return stream


def recover_state(data_dir: Path, **kwargs: Any) -> tuple[Engine, Any]:
    return recover(data_dir, MARKETS, truncate=False, **kwargs)


def isolated(data_dir: Path, target: Path, snapshot: Path | None) -> Path:
    """``target``: the journal of ``data_dir`` (hard links) and at most one snapshot."""
    (target / "journal").mkdir(parents=True)
    for segment in list_segments(data_dir / "journal"):
        os.link(segment.path, target / "journal" / segment.path.name)
    if snapshot is not None:
        (target / "snapshots").mkdir()
        shutil.copy(snapshot, target / "snapshots" / snapshot.name)
    return target


# --------------------------------------------------------------------------- replay


@pytest.mark.slow
def test_recovery_from_every_snapshot_and_from_seq_1_gives_the_live_state(
        tmp_path: Path) -> None:
    """110,000 random commands, a snapshot every 20,000: recovering from each snapshot
    plus the journal after it, from no snapshot at all, and to intermediate sequence
    numbers, always gives the state hash the live engine had at that point."""
    data = tmp_path / "data"
    config = DurabilityConfig(mode="os", snapshot_every_commands=20_000,
                              snapshot_every_seconds=0, snapshots_kept=1_000,
                              segment_bytes=1 << 20)
    rng = random.Random(2024)
    hashes: dict[int, str] = {}  # live state hash at snapshots and some batch ends
    with open_durable(data, config) as durable:
        stream = CommandStream(7, durable.engine, users=40, start_ts_ns=NOON_NS)
        funding = stream.stamp(stream.funding())
        stream.observe(durable.submit(funding))
        while durable.last_seq < 110_000:
            before = durable.last_snapshot_seq
            stream.observe(durable.submit(stream.batch(rng.randint(1, 256))))
            if durable.last_snapshot_seq != before or rng.random() < 0.004:
                hashes[durable.last_seq] = durable.engine.state_hash()
        durable.engine._check()
        last_seq, live_hash = durable.last_seq, durable.engine.state_hash()
    assert len(durable.engine.orders) > 100  # a real book, not an empty one

    snapshots = SnapshotStore(data / "snapshots").list()
    assert len(snapshots) >= 5 and all(s.valid for s in snapshots)
    assert all(s.seq in hashes for s in snapshots)
    assert len(list_segments(data / "journal")) > 3

    # from each snapshot alone + the journal tail
    for snap in snapshots:
        alone = isolated(data, tmp_path / f"from-{snap.seq}", snap.path)
        engine, info = recover_state(alone)
        assert (info.snapshot_seq, info.replayed) == (snap.seq, last_seq - snap.seq)
        assert (engine.last_seq, engine.state_hash()) == (last_seq, live_hash)
        restored = decode_snapshot(SnapshotStore(alone / "snapshots").load_latest().payload,
                                   MARKETS)
        assert restored.state_hash() == hashes[snap.seq]

    # from seq 1 without any snapshot
    engine, info = recover_state(isolated(data, tmp_path / "no-snapshot", None))
    assert (info.snapshot_seq, info.replayed) == (0, last_seq)
    assert engine.state_hash() == live_hash
    engine._check()

    # with every snapshot present: the newest one, and to_seq for points in between
    engine, info = recover_state(data)
    assert info.snapshot_seq == snapshots[-1].seq and engine.state_hash() == live_hash
    for seq, expected in hashes.items():
        engine, info = recover_state(data, to_seq=seq)
        assert info.snapshot_seq == max((s.seq for s in snapshots if s.seq <= seq), default=0)
        assert (engine.last_seq, engine.state_hash()) == (seq, expected)


# --------------------------------------------------------------------------- torn tails


def _tear(record: bytes, how: str) -> bytes:
    if how == "partial header":
        return record[:13]
    if how == "partial payload":
        return record[:-3]
    if how == "bad checksum":
        return record[:-1] + bytes([record[-1] ^ 0x40])
    return bytes(len(record))  # zero fill


@pytest.mark.parametrize("how", ["partial header", "partial payload", "bad checksum", "zeros"])
def test_torn_tail_is_truncated_on_open_and_the_engine_continues(
        tmp_path: Path, how: str) -> None:
    with open_durable(tmp_path) as durable:
        stream = drive(durable, seed=3, until_seq=600)
        last_seq, ts_ns = durable.last_seq, durable.engine.last_ts
        live_hash = durable.engine.state_hash()
    newest = list_segments(tmp_path / "journal")[-1].path
    size = newest.stat().st_size
    record = encode_record(last_seq + 1, ts_ns + 1, encode_command(Deposit("USD", 5, 1)))
    with newest.open("ab") as file:
        file.write(_tear(record, how))

    with open_durable(tmp_path) as durable:
        cut = durable.recovery.truncated
        assert cut is not None and cut.first_lost_seq == last_seq + 1
        assert cut.offset == size and newest.stat().st_size == size
        assert durable.last_seq == last_seq and durable.engine.state_hash() == live_hash
        stream.engine = durable.engine
        applied = durable.submit(stream.batch(20))
        assert [seq for seq, *_ in applied] == list(range(last_seq + 1, last_seq + 21))
        live_hash = durable.engine.state_hash()

    with open_durable(tmp_path) as durable:
        assert durable.recovery.truncated is None
        assert (durable.last_seq, durable.engine.state_hash()) == (last_seq + 20, live_hash)
    assert replay_from_start(tmp_path / "journal", MARKETS).state_hash() == live_hash


# --------------------------------------------------------------------------- snapshots


def _other_markets_snapshot() -> bytes:
    config = copy.deepcopy(read_config())
    del config["symbols"]["SOL-USD"]
    return encode_snapshot(Engine(load_markets(config)))


@pytest.mark.parametrize("damage", ["bit flip", "not json", "other markets"])
def test_corrupt_newest_snapshot_falls_back_to_the_previous_one(
        tmp_path: Path, damage: str) -> None:
    config = DurabilityConfig(mode="os", snapshot_every_commands=300, snapshot_every_seconds=0,
                              snapshots_kept=10)
    with open_durable(tmp_path, config) as durable:
        drive(durable, seed=5, until_seq=1_500)
        last_seq, live_hash = durable.last_seq, durable.engine.state_hash()
        engine = durable.engine
    store = SnapshotStore(tmp_path / "snapshots", keep=10)
    *_, previous, newest = store.list()
    if damage == "bit flip":
        data = bytearray(newest.path.read_bytes())
        data[len(data) // 2] ^= 0x01
        newest.path.write_bytes(bytes(data))
    else:  # intact file, unusable content
        payload = b"not json" if damage == "not json" else _other_markets_snapshot()
        store.write(newest.seq, newest.ts_ns or 0, payload)

    engine, info = recover(tmp_path, MARKETS)
    assert info.snapshot_seq == previous.seq
    assert info.replayed == last_seq - previous.seq
    assert engine.state_hash() == live_hash
    assert bool(info.skipped_snapshots) == (damage != "bit flip")  # the store skips bad files
    with open_durable(tmp_path, config) as durable:  # and the engine opens on it
        assert durable.engine.state_hash() == live_hash


def test_every_snapshot_corrupt_replays_from_seq_1(tmp_path: Path) -> None:
    config = DurabilityConfig(mode="os", snapshot_every_commands=200, snapshot_every_seconds=0)
    with open_durable(tmp_path, config) as durable:
        drive(durable, seed=6, until_seq=900)
        live_hash = durable.engine.state_hash()
    for snap in SnapshotStore(tmp_path / "snapshots").list():
        snap.path.write_bytes(snap.path.read_bytes()[:-1])
    engine, info = recover(tmp_path, MARKETS)
    assert info.snapshot_seq == 0 and engine.state_hash() == live_hash


# --------------------------------------------------------------------------- gaps


def test_missing_middle_segment_stops_recovery(tmp_path: Path) -> None:
    config = DurabilityConfig(mode="os", snapshot_every_commands=0, snapshot_every_seconds=0,
                              snapshot_daily=False, segment_bytes=8 * 1024)
    with open_durable(tmp_path, config) as durable:
        drive(durable, seed=8, until_seq=1_200)
    segments = list_segments(tmp_path / "journal")
    assert len(segments) >= 4
    segments[2].path.unlink()
    with pytest.raises(JournalGapError) as caught:
        open_durable(tmp_path, config)
    assert caught.value.expected_seq < caught.value.found_seq
    with pytest.raises(JournalGapError):
        recover_state(tmp_path)


def test_journal_not_reaching_back_to_the_snapshot_stops_recovery(tmp_path: Path) -> None:
    """The only snapshot is at seq S but the journal after it starts later than S + 1."""
    config = DurabilityConfig(mode="os", snapshot_every_commands=400, snapshot_every_seconds=0,
                              snapshots_kept=10, segment_bytes=8 * 1024)
    with open_durable(tmp_path, config) as durable:
        drive(durable, seed=9, until_seq=2_000)
    oldest, *newer = SnapshotStore(tmp_path / "snapshots").list()
    for snap in newer:
        snap.path.unlink()
    segments = list_segments(tmp_path / "journal")
    dropped = [s for s in segments if s.first_seq <= oldest.seq + 1]
    keep_from = segments[len(dropped)].first_seq
    assert keep_from > oldest.seq + 1
    for segment in dropped:
        segment.path.unlink()
    with pytest.raises(JournalGapError) as caught:
        open_durable(tmp_path, config)
    assert (caught.value.expected_seq, caught.value.found_seq) == (oldest.seq + 1, keep_from)


# --------------------------------------------------------------------------- write-ahead


def test_submit_journals_the_batch_before_applying_any_of_it(tmp_path: Path) -> None:
    with open_durable(tmp_path) as durable:
        stream = drive(durable, seed=10, until_seq=300)
        journal = tmp_path / "journal"
        batch = stream.batch(40)
        first = durable.last_seq + 1
        engine = durable.engine
        real_apply = engine.apply
        seen: list[int] = []

        def apply(seq: int, ts_ns: int, command: Any) -> Any:
            # by the time the first command is applied, the whole batch is on disk
            on_disk = {s: (t, p) for s, t, p in iter_records(journal, from_seq=first)}
            assert sorted(on_disk) == list(range(first, first + len(batch)))
            assert on_disk[seq][0] == ts_ns and decode_command(on_disk[seq][1]) == command
            seen.append(seq)
            return real_apply(seq, ts_ns, command)

        engine.apply = apply  # type: ignore[method-assign]
        applied = durable.submit(batch)
        del engine.apply
        assert seen == [seq for seq, *_ in applied] == list(range(first, first + len(batch)))
        assert [cmd for _, _, cmd, _ in applied] == [cmd for cmd, _ in batch]


def test_a_batch_that_cannot_be_journaled_is_not_applied(tmp_path: Path) -> None:
    class BrokenDisk:
        def append_batch(self, records: Any) -> None:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

    with open_durable(tmp_path) as durable:
        stream = drive(durable, seed=11, until_seq=200)
        before = (durable.last_seq, durable.engine.state_hash())
        durable.writer = BrokenDisk()  # type: ignore[assignment]
        with pytest.raises(OSError, match="No space"):
            durable.submit(stream.batch(10))
        assert (durable.last_seq, durable.engine.state_hash()) == before


def test_a_command_that_cannot_be_encoded_writes_nothing(tmp_path: Path) -> None:
    with open_durable(tmp_path) as durable:
        drive(durable, seed=12, until_seq=100)
        before = durable.last_seq
        too_big = PlaceOrder(1, "BTC-USD", 1, 1, qty_lots=2**70, price_ticks=5_000_000)
        with pytest.raises(OverflowError):
            durable.submit([(Deposit("USD", 1, 1), NOON_NS), (too_big, NOON_NS)])
        assert durable.last_seq == before
    assert max(seq for seq, _, _ in iter_records(tmp_path / "journal")) == before


def test_a_failing_snapshot_never_stops_a_journaled_batch(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The batch is on disk before any snapshot is tried, so it is applied in full even
    when the snapshot cannot be written; the engine stays in step with its journal."""

    class FullDisk:
        writes = 0

        def write(self, seq: int, ts_ns: int, payload: bytes) -> Path:
            FullDisk.writes += 1
            raise OSError(28, "No space left on device")

    config = DurabilityConfig(mode="os", snapshot_every_commands=10, snapshot_every_seconds=0,
                              snapshot_daily=True)
    deposit = Deposit("USD", 7, user_id=1)
    with open_durable(tmp_path, config) as durable:
        durable.submit([(deposit, MIDNIGHT_NS - 5)])
        durable.snapshots = FullDisk()  # type: ignore[assignment]
        applied = durable.submit([(deposit, MIDNIGHT_NS - 1), (deposit, MIDNIGHT_NS + 1),
                                  (deposit, MIDNIGHT_NS + 2)])  # daily snapshot fails
        assert [seq for seq, *_ in applied] == [2, 3, 4] and durable.last_seq == 4
        durable.submit([(deposit, MIDNIGHT_NS + 3)] * 8)  # periodic snapshot fails, retried
        durable.submit([(deposit, MIDNIGHT_NS + 4)])
        assert FullDisk.writes == 3
        assert durable.engine.balance(1, "USD") == (7 * 13, 0)
        live_hash = durable.engine.state_hash()
    assert "snapshot at seq" in caplog.text
    assert replay_from_start(tmp_path / "journal", MARKETS).state_hash() == live_hash


# --------------------------------------------------------------------------- daily snapshot


def test_daily_snapshot_is_the_state_of_the_last_command_before_midnight(
        tmp_path: Path) -> None:
    config = DurabilityConfig(mode="os", snapshot_every_commands=0, snapshot_every_seconds=0,
                              snapshot_daily=True, snapshots_kept=10)
    store = SnapshotStore(tmp_path / "snapshots")
    deposit = Deposit("USD", 1_000, user_id=1)
    with open_durable(tmp_path, config) as durable:
        durable.submit([(deposit, MIDNIGHT_NS - 3 * SECOND_NS)] * 3)
        assert store.list() == []
        # one batch straddling midnight: the snapshot is taken between seq 4 and 5
        durable.submit([(deposit, MIDNIGHT_NS - 1), (deposit, MIDNIGHT_NS),
                        (deposit, MIDNIGHT_NS + 1)])
        [snap] = store.list()
        assert (snap.seq, snap.ts_ns) == (4, MIDNIGHT_NS - 1)
        assert durable.engine.last_seq == 6
        durable.submit([(deposit, MIDNIGHT_NS + 3600 * SECOND_NS)])  # same day: none
        assert len(store.list()) == 1
        hash_at_4 = recover_state(tmp_path, to_seq=4)[0].state_hash()
    restored = decode_snapshot(store.load_latest().payload, MARKETS)
    assert restored.state_hash() == hash_at_4 and restored.balance(1, "USD") == (4_000, 0)

    # across a restart: the first command of the next day snapshots the recovered state
    with open_durable(tmp_path, config) as durable:
        durable.submit([(deposit, MIDNIGHT_NS + DAY_NS + 5)])
    assert [(s.seq, s.ts_ns) for s in store.list()] == [
        (4, MIDNIGHT_NS - 1), (7, MIDNIGHT_NS + 3600 * SECOND_NS)]

    # a jump over several days takes one snapshot, not one per day
    with open_durable(tmp_path, config) as durable:
        durable.submit([(deposit, MIDNIGHT_NS + 5 * DAY_NS)])
    assert [s.seq for s in store.list()] == [4, 7, 8]


def test_the_random_stream_crossing_midnight_takes_a_snapshot(tmp_path: Path) -> None:
    config = DurabilityConfig(mode="os", snapshot_every_commands=0, snapshot_every_seconds=0,
                              snapshot_daily=True)
    with open_durable(tmp_path, config) as durable:
        drive(durable, seed=13, until_seq=3_000, start_ts_ns=MIDNIGHT_NS - 2 * SECOND_NS)
        assert durable.engine.last_ts > MIDNIGHT_NS
        live_hash = durable.engine.state_hash()
    [snap] = SnapshotStore(tmp_path / "snapshots").list()
    assert snap.ts_ns is not None and snap.ts_ns < MIDNIGHT_NS
    after = next(t for s, t, _ in iter_records(tmp_path / "journal", snap.seq + 1))
    assert after >= MIDNIGHT_NS
    assert recover_state(tmp_path)[0].state_hash() == live_hash


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    config = DurabilityConfig(mode="os", snapshot_every_commands=250, snapshot_every_seconds=0,
                              snapshots_kept=3, segment_bytes=16 * 1024)
    with open_durable(tmp_path, config) as durable:
        drive(durable, seed=14, until_seq=1_000)
    return tmp_path


def cli(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_verify_passes_on_a_healthy_journal(data_dir: Path) -> None:
    result = cli("journal", "verify", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "snapshots checked against it" in result.output


@pytest.mark.parametrize("damage", ["torn tail", "corrupt snapshot", "missing segment"])
@pytest.mark.slow
def test_cli_verify_fails_on_damage(data_dir: Path, damage: str) -> None:
    segments = list_segments(data_dir / "journal")
    if damage == "torn tail":
        with segments[-1].path.open("ab") as file:
            file.write(b"\x05\x00\x00")
    elif damage == "corrupt snapshot":
        snap = SnapshotStore(data_dir / "snapshots").list()[0].path
        snap.write_bytes(snap.read_bytes()[:-2] + b"!!")
    else:
        segments[1].path.unlink()
    result = cli("journal", "verify", "--data-dir", data_dir)
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output


def test_cli_inspect_shows_records_in_order(data_dir: Path) -> None:
    result = cli("journal", "inspect", "--data-dir", data_dir, "--from", "5", "--limit", "3",
                 "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["seq"] for r in rows] == [5, 6, 7]
    assert rows[0]["command"] == "Deposit" and rows[0]["time"].endswith("Z")
    text = cli("journal", "inspect", "--data-dir", data_dir, "--limit", "2").output
    assert "deposit" in text and "2024-03-01T12:00:00" in text


@pytest.mark.slow
def test_cli_replay_matches_recovery_to_that_seq(data_dir: Path) -> None:
    result = cli("journal", "replay", "--data-dir", data_dir, "--to", "700", "--json")
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    engine, _ = recover_state(data_dir, to_seq=700)
    assert (state["seq"], state["state_hash"]) == (700, engine.state_hash())
    assert len(state["open_orders"]) == len(engine.orders)
    available, held = engine.balance(1, "USD")
    assert state["balances"]["1"]["balances"]["USD"] == {
        "available": MARKETS.assets["USD"].format(available),
        "held": MARKETS.assets["USD"].format(held)}
    assert cli("journal", "replay", "--data-dir", data_dir, "--to", "700").exit_code == 0


def test_cli_snapshot_create_and_list(data_dir: Path) -> None:
    result = cli("snapshot", "create", "--data-dir", data_dir, "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    listed = json.loads(cli("snapshot", "list", "--data-dir", data_dir, "--json").stdout)
    assert listed[-1]["seq"] == created["seq"] == recover_state(data_dir)[0].last_seq
    assert listed[-1]["valid"] and len(listed) == 3
    assert cli("journal", "verify", "--data-dir", data_dir).exit_code == 0


@pytest.mark.parametrize("args", [("journal", "inspect", "--limit", "-1"),
                                  ("journal", "replay", "--to", "5", "--depth", "-1"),
                                  ("journal", "replay", "--to", "5", "--orders", "-2")])
def test_cli_refuses_a_negative_count(data_dir: Path, args: tuple[str, ...]) -> None:
    """A negative count used to slice from the end (--limit -1 showed one record, --orders
    -2 all but two): it is a usage error naming the option."""
    result = cli(*args, "--data-dir", data_dir)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"Invalid value for '{args[-2]}'" in text and "greater than or equal to 0" in text


def test_cli_reports_a_missing_data_dir(tmp_path: Path) -> None:
    result = cli("journal", "verify", "--data-dir", tmp_path / "nowhere")
    assert result.exit_code == 1 and "no journal" in result.output


@pytest.mark.parametrize("command", [("journal", "verify"), ("journal", "inspect"),
                                     ("journal", "replay", "--to", "5"),
                                     ("snapshot", "create")])
def test_cli_reports_a_bad_markets_file_in_one_line(data_dir: Path, command: tuple[str, ...]
                                                    ) -> None:
    broken = data_dir / "broken.toml"
    broken.write_text("[symbols\n")
    missing = data_dir / "missing.toml"
    for path, problem in ((missing, "No such file"), (broken, "")):
        result = cli(*command, "--data-dir", data_dir, "--markets", path)
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert "error:" in result.output and str(path) in result.output
        assert problem in result.output


def test_changed_risk_limits_are_journaled_and_replay_as_they_were(tmp_path: Path) -> None:
    """Orders placed under the old limits replay under the old limits: the change is a
    journaled command at the sequence number where the new configuration took effect."""
    config = DurabilityConfig(mode="os", snapshot_every_commands=0, snapshot_every_seconds=0,
                              snapshot_daily=False)

    def place(durable: DurableEngine, price: str) -> Any:
        ticks = MARKETS.symbol("BTC-USD").price_to_ticks(price)
        command = PlaceOrder(1, "BTC-USD", 1, 1, qty_lots=10_000, price_ticks=ticks)
        return durable.submit([(command, NOON_NS)])[0][3][0]

    tight = RiskLimits(max_open_orders=1)
    with DurableEngine.open(tmp_path, MARKETS, config=config, limits=tight) as durable:
        assert durable.last_seq == 1  # the change from the defaults, journaled first
        assert [(seq, type(cmd).__name__, [type(e).__name__ for e in events])
                for seq, _, cmd, events in durable.opened] == [
                    (1, "SetRiskLimits", ["RiskLimitsSet"])]  # for the projector
        durable.submit([(Deposit("USD", 10**12, user_id=1), NOON_NS)])
        assert type(place(durable, "100.00")).__name__ == "OrderAccepted"
        assert type(place(durable, "99.00")).__name__ == "OrderRejected"  # one open order
    loose = RiskLimits(max_open_orders=5)
    with DurableEngine.open(tmp_path, MARKETS, config=config, limits=loose) as durable:
        assert durable.engine.limits == loose
        assert type(place(durable, "98.00")).__name__ == "OrderAccepted"
        live = durable.engine.state_hash()
    commands = [type(decode_command(payload)).__name__
                for _, _, payload in iter_records(tmp_path / "journal", from_seq=1)]
    assert commands.count("SetRiskLimits") == 2 and commands[0] == "SetRiskLimits"
    replayed = replay_from_start(tmp_path / "journal", MARKETS)
    assert replayed.state_hash() == live and len(replayed.orders) == 2
    with DurableEngine.open(tmp_path, MARKETS, config=config, limits=loose) as durable:
        assert durable.last_seq == len(commands)  # the same limits: nothing journaled
        assert durable.opened == []
    for bad in (RiskLimits(max_open_orders=0), RiskLimits(position_limits_minor={"XYZ": 1}),
                RiskLimits(position_limits_minor={"BTC": -1})):
        with pytest.raises(ValueError, match="not valid"):  # refused, and nothing journaled
            DurableEngine.open(tmp_path, MARKETS, config=config, limits=bad)
    with DurableEngine.open(tmp_path, MARKETS, config=config) as durable:
        assert durable.last_seq == len(commands) and durable.engine.limits == loose


def test_start_up_reads_the_journal_from_the_snapshot_on(data_dir: Path) -> None:
    """Damage in a segment wholly before the newest snapshot does not stop start-up (that
    part is not replayed, so it is not read); ``journal verify`` still finds it."""
    live, _ = recover_state(data_dir)
    newest = SnapshotStore(data_dir / "snapshots").list()[-1]
    segments = list_segments(data_dir / "journal")
    early = segments[0]
    assert segments[1].first_seq <= newest.seq  # the first segment ends before it
    data = bytearray(early.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    early.path.write_bytes(bytes(data))
    with open_durable(data_dir) as durable:
        assert durable.engine.state_hash() == live.state_hash()
        assert durable.recovery.snapshot_seq == newest.seq
    result = cli("journal", "verify", "--data-dir", data_dir)
    assert result.exit_code == 1 and "FAILED" in result.output


# --------------------------------------------------------------------------- background


BACKGROUND = DurabilityConfig(mode="os", snapshot_every_commands=40, snapshot_every_seconds=0,
                              snapshot_daily=False, snapshot_in_background=True)
WAYS = {"fork": BACKGROUND, "thread": replace(BACKGROUND, snapshot_fork=False)}


@pytest.mark.parametrize("way", sorted(WAYS))
def test_background_snapshots_hold_the_state_when_they_were_copied(
        tmp_path: Path, way: str) -> None:
    """The engine moves on while a snapshot is encoded and written by a forked child or
    on another thread; each file still holds exactly the state at its own seq (a replay
    of the journal to that seq), and recovery from the newest gives the live state."""
    with open_durable(tmp_path, WAYS[way]) as durable:
        drive(durable, seed=11, until_seq=400, max_batch=16)
        durable.wait_for_snapshots()
        assert durable.snapshots_written >= 1 and durable.snapshot_failures == 0
        live_hash = durable.engine.state_hash()
        last_seq = durable.last_seq
    files = SnapshotStore(tmp_path / "snapshots").list()
    assert files
    store = SnapshotStore(tmp_path / "snapshots")
    for info in files:
        snap = store.load_latest(max_seq=info.seq)
        assert info.valid and snap is not None and snap.seq == info.seq
        restored = decode_snapshot(snap.payload, MARKETS)
        replayed, _ = recover_state(isolated(tmp_path, tmp_path / f"only-{info.seq}", None),
                                    to_seq=info.seq)
        assert restored.state_hash() == replayed.state_hash(), info.seq
    engine, recovery = recover_state(tmp_path)
    assert recovery.snapshot_seq == max(info.seq for info in files)
    assert engine.last_seq == last_seq and engine.state_hash() == live_hash


@pytest.mark.parametrize("way", sorted(WAYS))
def test_background_snapshots_are_written_off_the_callers_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    import threading

    seen = tmp_path / "writers.txt"
    write = SnapshotStore.write

    def recording(self: SnapshotStore, seq: int, ts_ns: int, payload: bytes) -> Path:
        with seen.open("a") as log:  # a file: a forked child's memory is its own
            log.write(f"{os.getpid()} {threading.current_thread().name}\n")
        return write(self, seq, ts_ns, payload)

    monkeypatch.setattr(SnapshotStore, "write", recording)
    with open_durable(tmp_path / "data", WAYS[way]) as durable:
        drive(durable, seed=5, until_seq=100, max_batch=16)
        durable.wait_for_snapshots()
    writers = [line.split(" ", 1) for line in seen.read_text().splitlines()]
    assert writers
    if way == "fork":
        assert all(int(pid) != os.getpid() for pid, _ in writers)
    else:
        assert all(int(pid) == os.getpid() and name.startswith("matchbook-snapshot")
                   for pid, name in writers)


@pytest.mark.parametrize("way", sorted(WAYS))
def test_a_failing_background_snapshot_is_counted_and_never_used(
        tmp_path: Path, way: str) -> None:
    class FullDisk:
        def write(self, seq: int, ts_ns: int, payload: bytes) -> Path:
            raise OSError(28, "No space left on device")

    with open_durable(tmp_path, WAYS[way]) as durable:
        durable.snapshots = FullDisk()  # type: ignore[assignment]
        drive(durable, seed=3, until_seq=100, max_batch=16)
        durable.wait_for_snapshots()
        assert durable.snapshot_failures >= 1 and durable.snapshots_written == 0
        assert durable.last_snapshot_seq == 0
        live_hash = durable.engine.state_hash()
    engine, recovery = recover_state(tmp_path)
    assert recovery.snapshot_seq == 0 and engine.state_hash() == live_hash


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=12) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=6),
    max_leaves=60)


@settings(max_examples=60, deadline=None)
@given(json_values, st.integers(min_value=1, max_value=5))
def test_encoding_in_slices_gives_the_same_bytes(value: Any, rows: int) -> None:
    assert encode_json_in_slices(value, rows) == msgspec.json.encode(value)
