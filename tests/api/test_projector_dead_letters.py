"""A record the read model cannot hold never wedges the server: it is dead-lettered
(a row in ``projection_dead_letters``, a counter in ``/metrics``, a field in the admin
stats), the projector moves on, and the server starts again, whatever the journal holds.

The failing write is injected: the SQL writer refuses any batch that touches the balance
of one user, as SQLite refuses an amount beyond 64 bits (``OverflowError``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_helpers import Api, eventually
from sqlalchemy import select

from matchbook.config import read_config, risk_limits
from matchbook.core import Deposit, load_markets
from matchbook.journal.durable import DurabilityConfig, DurableEngine
from matchbook.store import schema
from matchbook.store.db import create_engine, database_url
from matchbook.store.projector import rebuild
from matchbook.store.rows import RowBatch
from matchbook.store.sql import SqlWriter, Steps
from server import running_server

pytestmark = pytest.mark.slow

POISON = 4242  # the user whose balance the database "cannot hold"
THREAD = "thread"  # the failure is injected in this process: the projector runs here


@pytest.fixture
def poisoned_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    write_ops = SqlWriter.write_ops

    def refusing(self: SqlWriter, b: RowBatch, *args: Any) -> Steps:
        if any(uid == POISON for uid, _ in b.balances):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return (yield from write_ops(self, b, *args))

    monkeypatch.setattr(SqlWriter, "write_ops", refusing)


def journal_without_read_model(data_dir: Path) -> int:
    """Journal deposits (one of them poisoned) with no read model following; returns
    the seq of the poisoned one."""
    config = read_config(None)
    markets = load_markets(config)
    durable = DurableEngine.open(data_dir, markets, config=DurabilityConfig(mode="os"),
                                 limits=risk_limits(markets, config))
    try:
        durable.submit([(Deposit("USD", 10**8, user_id=1, reference="a"), 1)])
        poisoned = durable.submit([(Deposit("USD", 10**8, user_id=POISON,
                                            reference="b"), 2)])[0][0]
        durable.submit([(Deposit("USD", 10**8, user_id=2, reference="c"), 3)])
    finally:
        durable.close()
    return poisoned


def dead_letters(data_dir: Path) -> list[tuple[int, int, str]]:
    async def read() -> list[tuple[int, int, str]]:
        db = create_engine(database_url(data_dir))
        try:
            async with db.connect() as conn:
                dead = schema.projection_dead_letters
                rows = await conn.execute(select(dead.c.first_seq, dead.c.last_seq,
                                                 dead.c.error).order_by(dead.c.id))
                return [(int(a), int(b), str(e)) for a, b, e in rows]
        finally:
            await db.dispose()

    return asyncio.run(read())


def projector_stats(server: Any) -> dict[str, Any]:
    admin = Api(server, server.make_admin())
    try:
        stats: dict[str, Any] = admin.ok("GET", "/admin/stats")["projector"]
        return stats
    finally:
        admin.close()


def test_a_record_that_cannot_be_written_is_dead_lettered_and_the_server_starts(
        tmp_path: Path, poisoned_writer: None) -> None:
    data_dir = tmp_path / "data"
    poisoned = journal_without_read_model(data_dir)
    # start-up catches the read model up from the journal: it meets the poisoned record
    with running_server(tmp_path, projector=THREAD) as server:
        engine_seq = server.state.exchange.engine.last_seq
        stats = projector_stats(server)
        assert stats["dead_letters"] == 1
        assert stats["last_dead_letter"]["first_seq"] == poisoned
        assert "OverflowError" in stats["last_dead_letter"]["error"]
        assert stats["last_seq"] == engine_seq and stats["lag"] == 0  # it moved on
        # and it follows the live stream: a later good command, then a poisoned one
        server.deposit(3, "USD", "5")
        server.deposit(POISON, "USD", "5")
        server.deposit(3, "USD", "6")

        def followed() -> dict[str, Any]:
            stats = projector_stats(server)
            assert stats["lag"] == 0 and stats["dead_letters"] == 2
            return stats


        eventually(followed)
        metrics = httpx.get(server.base_url + "/metrics").text
        assert "matchbook_projector_dead_letters_total 2.0" in metrics
    letters = dead_letters(data_dir)
    assert [first for first, _, _ in letters] == [poisoned, engine_seq + 2]
    assert all(first == last for first, last, _ in letters)

    # a restart with the read model holding its dead letters: it starts, nothing twice
    with running_server(tmp_path, projector=THREAD) as server:
        stats = projector_stats(server)
        assert stats["dead_letters"] == 2 and stats["lag"] == 0
        # a restart more than a second after the last command journals the downtime
        # (RecordOutage) first, so the journal may be one record longer
        final_seq = server.state.exchange.engine.last_seq
        assert final_seq in (engine_seq + 3, engine_seq + 4)

    # and a rebuild from the journal completes, dead-lettering the same records
    markets = load_markets(read_config(None))
    result = asyncio.run(rebuild(data_dir, markets, database_url(data_dir)))
    assert result.last_seq == final_seq
    assert [first for first, _, _ in dead_letters(data_dir)] == [poisoned, engine_seq + 2]


def test_without_the_fault_the_same_journal_has_no_dead_letter(tmp_path: Path) -> None:
    """The control: the dead letters above come from the injected fault only."""
    journal_without_read_model(tmp_path / "data")
    with running_server(tmp_path, projector=THREAD) as server:
        stats = projector_stats(server)
        assert stats["dead_letters"] == 0 and stats["lag"] == 0
