"""Rebuilding the read model from a real journal, catching up after a hole, and the
queue in front of the projector."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from store_checks import assert_read_model, fetch
from store_stream import MARKETS, Stream

from matchbook.core import Engine
from matchbook.journal import list_segments
from matchbook.journal.durable import DurabilityConfig, DurableEngine
from matchbook.store.follow import ProjectorTask
from matchbook.store.projector import JournalNotFromStartError, Projector, rebuild

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run

BATCH = 100


@dataclass
class Journaled:
    data_dir: Path
    results: list[Any]  # (seq, ts_ns, command, events) as DurableEngine.submit gave them
    engine: Engine

    def batches(self, size: int = BATCH) -> list[list[Any]]:
        return [self.results[i:i + size] for i in range(0, len(self.results), size)]


@pytest.fixture(scope="module")
def journaled(tmp_path_factory: pytest.TempPathFactory, stream: Stream) -> Journaled:
    """The stream written through a ``DurableEngine`` (mode "os"): small segments, a
    snapshot every 1,000 commands."""
    data_dir = tmp_path_factory.mktemp("durable")
    config = DurabilityConfig(mode="os", snapshot_every_commands=1000, snapshot_daily=False,
                              segment_bytes=64 * 1024)
    results: list[Any] = []
    with DurableEngine.open(data_dir, MARKETS, config=config) as durable:
        for start in range(0, len(stream.commands), BATCH):
            results += durable.submit(stream.commands[start:start + BATCH])
        engine = durable.engine
    # the journaled run is the same run as the in-memory one
    assert [r[3] for r in results] == [r[3] for r in stream.records]
    assert engine.state_hash() == stream.engine.state_hash()
    assert len(list_segments(data_dir / "journal")) > 2
    assert list((data_dir / "snapshots").iterdir())
    return Journaled(data_dir, results, engine)


def test_rebuild_projects_the_whole_journal(db_url: str, journaled: Journaled) -> None:
    async def main() -> None:
        async with Projector(db_url, MARKETS) as projector:  # an older read model
            for batch in journaled.batches()[:7]:
                await projector.project(batch)
            async with projector.db.begin() as conn:  # and a table that is not its own
                await conn.execute(text("CREATE TABLE keep_me (note VARCHAR(20))"))
                await conn.execute(text("INSERT INTO keep_me VALUES ('still here')"))
        seen: list[int] = []
        stats = await rebuild(journaled.data_dir, MARKETS, db_url, batch_size=700,
                              progress=seen.append)
        assert stats.last_seq == len(journaled.results) == stats.commands
        assert seen[-1] == stats.last_seq and len(seen) == -(-stats.commands // 700)
        await assert_read_model(db_url, journaled.results, journaled.engine)
        assert await fetch(db_url, text("SELECT note FROM keep_me")) == [("still here",)]

    asyncio.run(main())


def test_rebuild_needs_the_journal_from_seq_1(sqlite_url: str, journaled: Journaled,
                                              tmp_path: Path) -> None:
    data_dir = tmp_path / "pruned"
    (data_dir / "journal").mkdir(parents=True)
    for segment in list_segments(journaled.data_dir / "journal")[1:]:
        (data_dir / "journal" / segment.path.name).write_bytes(segment.path.read_bytes())
    with pytest.raises(JournalNotFromStartError, match="starts at seq"):
        asyncio.run(rebuild(data_dir, MARKETS, sqlite_url))


def test_catch_up_after_a_hole_from_snapshot_and_journal(db_url: str,
                                                         journaled: Journaled) -> None:
    async def main() -> None:
        async with Projector(db_url, MARKETS) as projector:
            for batch in journaled.batches()[:15]:  # then the projector stopped
                await projector.project(batch)
        async with Projector(db_url, MARKETS) as projector:
            assert projector.last_seq == 1500
            done = await projector.catch_up(journaled.data_dir, batch_size=999)
            assert done == len(journaled.results) - 1500
            assert projector.last_seq == len(journaled.results)
            assert await projector.catch_up(journaled.data_dir) == 0
        await assert_read_model(db_url, journaled.results, journaled.engine)

    asyncio.run(main())


async def _wait_caught_up(task: ProjectorTask, timeout: float = 20.0) -> None:
    async def until() -> None:
        while task.lag or not task.queue.empty():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(until(), timeout)


def test_a_full_queue_drops_without_blocking_and_the_journal_fills_the_hole(
    sqlite_url: str, journaled: Journaled
) -> None:
    async def main() -> None:
        async with Projector(sqlite_url, MARKETS) as projector:
            task = ProjectorTask(projector, maxsize=3, data_dir=journaled.data_dir)
            await task.start()
            accepted = [task.offer(batch) for batch in journaled.batches()]  # no await
            assert accepted[:3] == [True] * 3 and not all(accepted)
            assert task.behind and task.dropped_batches == accepted.count(False)
            assert task.lag == len(journaled.results)
            await _wait_caught_up(task)
            await task.stop()
            assert task.lag == 0 and not task.behind and task.errors == 0
            stats = task.stats()
            assert stats["rows_per_second"] > 0 and stats["commands"] == len(journaled.results)
        await assert_read_model(sqlite_url, journaled.results, journaled.engine)

    asyncio.run(main())


def test_without_a_journal_the_task_stays_behind_until_caught_up(
    sqlite_url: str, journaled: Journaled
) -> None:
    async def main() -> None:
        async with Projector(sqlite_url, MARKETS) as projector:
            task = ProjectorTask(projector, maxsize=1)
            await task.start()
            first, second, third = journaled.batches()[:3]
            assert [task.offer(first), task.offer(second)] == [True, False]
            await task.stop()  # drains: the first batch is written
            assert projector.last_seq == len(first) and task.behind
            await task.start()
            assert task.offer(third)
            await task.stop()  # the third batch cannot follow the hole: discarded
            assert projector.last_seq == len(first) and task.discarded_records == len(third)
            assert task.lag == len(first) + len(second) + len(third) - projector.last_seq
            await task.catch_up(journaled.data_dir)
            assert not task.behind and task.lag == 0
            assert projector.last_seq == len(journaled.results)
        await assert_read_model(sqlite_url, journaled.results, journaled.engine)

    asyncio.run(main())


def test_a_lagging_consumer_coalesces_queued_batches(sqlite_url: str,
                                                     journaled: Journaled) -> None:
    async def main() -> None:
        async with Projector(sqlite_url, MARKETS) as projector:
            task = ProjectorTask(projector, maxsize=1000, max_coalesce=1500)
            for batch in journaled.batches():
                assert task.offer(batch)
            await task.start()  # the consumer starts behind by the whole stream
            await _wait_caught_up(task)
            await task.stop()
            assert projector.batches == -(-len(journaled.results) // 1500)
            assert task.lag == 0 and not task.behind
        await assert_read_model(sqlite_url, journaled.results, journaled.engine)

    asyncio.run(main())


def test_a_burst_of_small_batches_writes_before_the_queue_is_full(
        sqlite_url: str, journaled: Journaled) -> None:
    """Batches of one record each, faster than ``busy_rate``: the lag in records stays
    far below ``max_lag`` and the oldest record young, yet nothing is dropped."""
    async def main() -> None:
        async with Projector(sqlite_url, MARKETS) as projector:
            batches = journaled.batches(1)
            task = ProjectorTask(projector, maxsize=200, interval=0.05, busy_rate=200.0,
                                 max_delay=60.0, max_lag=10**9)
            await task.start()
            for batch in batches:
                assert task.offer(batch)
                await asyncio.sleep(0.0005)
            await _wait_caught_up(task)
            await task.stop()
            assert task.dropped_batches == 0 and not task.behind
        await assert_read_model(sqlite_url, journaled.results, journaled.engine)

    asyncio.run(main())


def test_a_burst_is_projected_once_it_is_over_and_within_the_bounds(
        sqlite_url: str, journaled: Journaled) -> None:
    async def main() -> None:
        async with Projector(sqlite_url, MARKETS) as projector:
            batches = journaled.batches(10)
            quarter = len(batches) // 4
            task = ProjectorTask(projector, interval=0.05, busy_rate=200.0, max_delay=60.0,
                                 max_lag=15 * quarter)
            await task.start()
            for batch in batches[:quarter]:  # a burst: thousands of records a second
                task.offer(batch)
                await asyncio.sleep(0.0005)
            assert projector.last_seq <= 10  # at most the first batch, before the burst
            offered = quarter
            while projector.last_seq <= 10 and offered < len(batches):
                task.offer(batches[offered])
                offered += 1
                await asyncio.sleep(0.0005)
            assert offered < len(batches)  # past max_lag it wrote during the burst
            for batch in batches[offered:]:
                task.offer(batch)
            await _wait_caught_up(task)  # and it catches up once the burst is over
            await task.stop()
            assert task.dropped_batches == 0 and not task.behind
        await assert_read_model(sqlite_url, journaled.results, journaled.engine)

    asyncio.run(main())


def test_the_write_spacing_grows_with_the_offered_rate_only_under_load(
        sqlite_url: str) -> None:
    """A steady stream is written every ``interval`` until the offered rate makes
    transactions worth enlarging; then the spacing grows with the rate, never past
    ``max_interval``."""
    task = ProjectorTask(Projector(sqlite_url, MARKETS), interval=0.1, max_interval=0.5,
                         busy_rate=2000)
    assert [task.spacing(rate) for rate in (0, 50, 400)] == [0.1, 0.1, 0.1]
    assert task.spacing(1000) == pytest.approx(0.25)  # 250 records a transaction
    assert task.spacing(2000) == task.spacing(50_000) == 0.5
    assert ProjectorTask(Projector(sqlite_url, MARKETS), interval=0.1,
                         max_interval=0.1).spacing(1500) == 0.1
