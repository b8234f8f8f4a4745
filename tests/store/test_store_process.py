"""The SQL projector in a process of its own, following the journal files of a running
exchange: killed mid-run it is started again and the read model ends equal to a rebuild
from the journal; ``stop()`` leaves it complete; its figures are published to the
server without a message per batch."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from store_stream import MARKETS, Stream

from matchbook.core import Deposit
from matchbook.runtime.exchange import Exchange
from matchbook.settings import Settings
from matchbook.store import schema
from matchbook.store.db import create_engine
from matchbook.store.follow import ProjectorTask
from matchbook.store.process import ChildConfig, ProjectorProcess, _Follower
from matchbook.store.projector import DeadLetter, Projector, rebuild

pytestmark = pytest.mark.slow  # a child process per exchange


def settings(tmp_path: Path, url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", journal_mode="os", database_url=url,
                    snapshot_every_commands=1500, snapshot_every_seconds=1e9)


async def submit_all(exchange: Exchange, commands: list[Any], batch: int = 200) -> None:
    for start in range(0, len(commands), batch):
        await asyncio.gather(*(exchange.submit(c) for c in commands[start:start + batch]))


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


# a balance row's ``updated_seq`` is the last seq of the transaction that wrote it:
# where the transactions end depends on timing, so it is left out of the comparison
PER_TRANSACTION = {("balances", "updated_seq"), ("system_balances", "updated_seq")}


async def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = create_engine(url)
    try:
        async with db.connect() as conn:
            found = {}
            for table in schema.metadata.sorted_tables:
                key = list(table.primary_key.columns) or list(table.columns)
                columns = [c for c in table.columns if (table.name, c.name)
                           not in PER_TRANSACTION]
                rows = await conn.execute(select(*columns).order_by(*key))
                found[table.name] = [tuple(r) for r in rows]
            return found
    finally:
        await db.dispose()


def test_a_killed_projector_is_started_again_and_the_read_model_equals_a_rebuild(
        tmp_path: Path, sqlite_url: str, stream: Stream) -> None:
    commands = [command for command, _ in stream.commands]
    half = len(commands) // 2

    async def main() -> tuple[int, dict[str, Any]]:
        exchange = await Exchange.start(settings(tmp_path, sqlite_url), markets=MARKETS)
        process = exchange.projector
        assert isinstance(process, ProjectorProcess)
        assert [type(c).__name__ for c in exchange.consumers] == ["_MarketDataStep",
                                                                  "Metrics"]
        try:
            process.restart_seconds = 0.2
            await submit_all(exchange, commands[:half])
            first = process.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)  # mid-run: orders keep coming
            await submit_all(exchange, commands[half:])
            await until(lambda: process.pid != first and process.lag == 0)
            stats = process.stats()
            last = exchange.engine.last_seq
        finally:
            await exchange.stop()
        return last, stats

    last, stats = asyncio.run(main())
    assert stats["restarts"] == 1 and stats["alive"] and stats["following"]
    assert stats["errors"] == 1 and "exited with code -9" in stats["last_error"]
    assert stats["last_seq"] == stats["read_seq"] == last >= len(commands)
    rebuilt = f"sqlite+aiosqlite:///{tmp_path / 'rebuilt.db'}"
    asyncio.run(rebuild(tmp_path / "data", MARKETS, rebuilt))
    followed, expected = asyncio.run(tables(sqlite_url)), asyncio.run(tables(rebuilt))
    assert followed["projection_state"] == expected["projection_state"]
    assert expected["projection_state"][0][1] == last
    assert len(expected["orders"]) > 100 and len(expected["trades"]) > 10
    assert followed == expected


def test_stop_leaves_the_read_model_complete_and_a_restart_resumes(
        tmp_path: Path, sqlite_url: str, stream: Stream) -> None:
    """Commands answered just before ``stop()`` are in the read model when it returns
    (the projector defers writes during a burst: the stop makes it write them), and
    the next start's projector goes on from there."""
    commands = [command for command, _ in stream.commands][:1500]

    async def run(part: list[Any]) -> tuple[int, int]:
        exchange = await Exchange.start(settings(tmp_path, sqlite_url), markets=MARKETS)
        process = exchange.projector
        assert isinstance(process, ProjectorProcess)
        try:
            await submit_all(exchange, part)
        finally:
            await exchange.stop()
        assert process.process is not None and not process.process.is_alive()
        assert process.process.exitcode == 0
        state = (await tables(sqlite_url))["projection_state"]
        return exchange.engine.last_seq, int(state[0][1])

    engine_seq, projected = asyncio.run(run(commands[:1000]))
    assert projected == engine_seq
    engine_seq, projected = asyncio.run(run(commands[1000:]))
    assert projected == engine_seq >= 1500


def test_lag_and_health_come_from_the_child(tmp_path: Path, sqlite_url: str) -> None:
    async def main() -> None:
        exchange = await Exchange.start(settings(tmp_path, sqlite_url), markets=MARKETS)
        process = exchange.projector
        assert isinstance(process, ProjectorProcess)
        try:
            await until(lambda: process.stats()["following"])
            assert process.lag == 0 and process.pid != os.getpid()
            os.kill(process.pid or 0, signal.SIGSTOP)  # the child stops reading
            try:
                for i in range(5):
                    await exchange.submit(Deposit("USD", 100, user_id=1 + i))
                await asyncio.sleep(0.1)
                assert process.lag == 5  # measured against the live engine
            finally:
                os.kill(process.pid or 0, signal.SIGCONT)
            await until(lambda: process.lag == 0)
            stats = process.stats()
            assert stats["last_seq"] == exchange.engine.last_seq
            assert stats["commands"] >= 5 and stats["rows"] > 0
            assert (stats["errors"], stats["dead_letters"], stats["behind"]) == (0, 0, False)
            gauges = {m.name: m.samples[0].value for source in exchange.metrics.sources
                      for m in source.metrics()}
            assert gauges["matchbook_projector_lag"] == 0
            assert gauges["matchbook_projector_errors"] == 0
        finally:
            await exchange.stop()

    asyncio.run(main())


def test_journal_mode_none_and_the_thread_setting_keep_the_projector_in_process(
        tmp_path: Path, sqlite_url: str) -> None:
    async def kind(**overrides: Any) -> str:
        s = settings(tmp_path, sqlite_url)
        exchange = await Exchange.start(Settings(**{**_fields(s), **overrides}),
                                        markets=MARKETS)
        try:
            return type(exchange.projector).__name__
        finally:
            await exchange.stop()

    assert asyncio.run(kind()) == "ProjectorProcess"
    assert asyncio.run(kind(journal_mode="none")) == "ProjectorTask"
    assert asyncio.run(kind(projector="thread")) == "ProjectorTask"


def _fields(s: Settings) -> dict[str, Any]:
    return {name: getattr(s, name) for name in s.__dataclass_fields__}


def test_errors_and_dead_letters_reach_the_server_through_shared_memory(
        tmp_path: Path, sqlite_url: str, stream: Stream) -> None:
    """What the child publishes (a dead letter, failed writes, the last error) is what
    the server's stats read, with no message between them."""

    async def main() -> tuple[dict[str, Any], DeadLetter]:
        projector = Projector(sqlite_url, MARKETS)
        await projector.start()
        task = ProjectorTask(projector)
        try:
            await projector.follow(stream.records[:1])
            letter = await projector.dead_letter(stream.records[1:2],
                                                 OverflowError("too large"))
            task.errors, task.last_error = 2, "OperationalError: database is locked"
            process = ProjectorProcess(ChildConfig(str(tmp_path), sqlite_url, MARKETS),
                                       lambda: 5)
            reader, writer = multiprocessing.Pipe(duplex=False)
            try:
                _Follower(process.config, process.shared, process.text, reader).publish(
                    task, None)
            finally:
                reader.close()
                writer.close()
            return process.stats(), letter
        finally:
            await projector.stop()

    stats, letter = asyncio.run(main())
    assert (stats["last_seq"], stats["lag"]) == (2, 3)
    assert (stats["errors"], stats["dead_letters"]) == (2, 1)
    assert stats["last_error"] == "OperationalError: database is locked"
    assert stats["last_dead_letter"] == {"first_seq": 2, "last_seq": 2,
                                         "error": "OverflowError: too large",
                                         "recorded_ns": letter.recorded_ns}
