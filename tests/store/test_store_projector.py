"""The projector writes what the event stream says, once, in batches, on SQLite and
PostgreSQL; a restart resumes without duplicates or gaps."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from store_checks import assert_read_model, fetch
from store_stream import MARKETS, Stream

from matchbook.core import (
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    Deposit,
    Engine,
    PlaceOrder,
    SelfTradePrevention,
    TimeInForce,
)
from matchbook.core.commands import BUY, LIMIT, SELL, STOP_LIMIT
from matchbook.store import queries, schema
from matchbook.store.projector import ProjectionGapError, Projector
from matchbook.store.rows import RowBuilder
from matchbook.store.sql import SqlWriter, Steps


def batches(records: Sequence[Any], seed: int, largest: int = 300) -> list[Sequence[Any]]:
    """``records`` cut into consecutive batches of random sizes 1..largest."""
    rng = random.Random(seed)
    out, start = [], 0
    while start < len(records):
        size = rng.randint(1, largest)
        out.append(records[start:start + size])
        start += size
    return out


async def count(url: str, table: Any) -> int:
    return (await fetch(url, select(func.count()).select_from(table)))[0][0]


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.slow
def test_projection_equals_the_event_stream(db_url: str, stream: Stream, copy: bool) -> None:
    """On PostgreSQL with ``COPY`` for the append-only tables, and without (SQLite has
    no ``COPY``: both runs write the same way there)."""
    async def main() -> None:
        async with Projector(db_url, MARKETS, copy=copy) as projector:
            assert projector.last_seq == 0
            for batch in batches(stream.records, seed=1):
                await projector.project(batch)
            assert projector.last_seq == len(stream.records)
            stats = projector.stats()
            assert stats.commands == len(stream.records) and stats.rows > stats.commands
        await assert_read_model(db_url, stream.records, stream.engine)

    asyncio.run(main())


@pytest.mark.slow
def test_restart_in_the_middle_neither_duplicates_nor_skips(db_url: str, stream: Stream) -> None:
    records = stream.records
    half = len(records) // 2

    async def main() -> None:
        async with Projector(db_url, MARKETS) as projector:
            for batch in batches(records[:half], seed=2):
                await projector.project(batch)
        audit_rows = await count(db_url, schema.audit_log)
        assert audit_rows == half

        async with Projector(db_url, MARKETS) as projector:
            assert projector.last_seq == half
            # a batch that would leave a hole is refused whole
            with pytest.raises(ProjectionGapError) as gap:
                await projector.project(records[half + 1:half + 50])
            assert (gap.value.expected_seq, gap.value.found_seq) == (half + 1, half + 2)
            assert projector.last_seq == half
            assert await count(db_url, schema.audit_log) == audit_rows
            # the producer offers the whole stream again: the first half is skipped,
            # the batch across the restart point is written from half + 1 on
            for batch in batches(records, seed=3, largest=500):
                await projector.project(batch)
            assert await projector.project(records[:100]) == 0
            assert await projector.project(records[-3:]) == 0
            assert projector.last_seq == len(records)
        await assert_read_model(db_url, records, stream.engine)

    asyncio.run(main())


def test_a_failed_batch_writes_nothing_and_can_be_retried(
    sqlite_url: str, stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = stream.records[:600]
    engine = Engine(MARKETS)
    for seq, ts, command, _ in records:
        engine.apply(seq, ts, command)

    async def main() -> None:
        async with Projector(sqlite_url, MARKETS) as projector:
            await projector.project(records[:300])
            write_ops = SqlWriter.write_ops

            def failing(self: SqlWriter, *args: Any) -> Steps:
                yield from write_ops(self, *args)  # every row is written, then it fails
                raise RuntimeError("the database went away")

            monkeypatch.setattr(SqlWriter, "write_ops", failing)
            with pytest.raises(RuntimeError):
                await projector.project(records[300:])
            assert projector.last_seq == 300
            assert await count(sqlite_url, schema.audit_log) == 300
            monkeypatch.undo()
            await projector.project(records[250:])
        await assert_read_model(sqlite_url, records, engine, rich=False)

    asyncio.run(main())


@pytest.mark.slow
def test_the_whole_supply_projects_exactly(db_url: str) -> None:
    """Balances can reach the asset's maximum supply (10**18 minor units) and no
    further: the engine refuses the deposit that would pass it, and both stores hold the
    largest balance and the external account's mirror of it exactly."""
    engine = Engine(MARKETS)
    records = []
    for seq in range(1, 13):
        command = Deposit("USD", 10**17, user_id=7, reference=f"big{seq}")
        records.append((seq, seq, command, engine.apply(seq, seq, command)))
    assert engine.balance(7, "USD")[0] == 10**18 == MARKETS.assets["USD"].max_supply_minor
    assert [type(e).__name__ for _, _, _, events in records[10:] for e in events] == [
        "CommandRejected", "CommandRejected"]

    async def main() -> None:
        async with Projector(db_url, MARKETS) as projector:
            await projector.project(records)
            b, s = schema.balances, schema.system_balances
            assert await fetch(db_url, select(b.c.available_minor, b.c.held_minor)) == [
                (10**18, 0)]
            assert await fetch(db_url, select(s.c.balance_minor)
                               .where(s.c.account == "external")) == [(-(10**18),)]

    asyncio.run(main())


@pytest.mark.slow
def test_order_lifecycle_step_by_step(db_url: str) -> None:
    """Statuses, quantities and history of hand-made orders after each command: a stop
    that triggers and rests, a self-trade decrement, an amendment, an iceberg that
    expires, IOC and cancel."""
    usd, btc = "USD", "BTC"
    commands: list[Any] = [Deposit(usd, 10**13, user_id=u) for u in (1, 2, 3)]
    commands += [Deposit(btc, 10**10, user_id=u) for u in (1, 2, 3)]
    commands += [
        PlaceOrder(1, "BTC-USD", SELL, LIMIT, qty_lots=10, price_ticks=5_000_000),  # 1
        PlaceOrder(2, "BTC-USD", BUY, LIMIT, qty_lots=4, price_ticks=5_000_000),  # 2
        PlaceOrder(3, "BTC-USD", BUY, STOP_LIMIT, qty_lots=5, price_ticks=5_000_100,
                   stop_price_ticks=5_000_050),  # 3
        PlaceOrder(1, "BTC-USD", SELL, LIMIT, qty_lots=2, price_ticks=5_000_060),  # 4
        PlaceOrder(2, "BTC-USD", BUY, LIMIT, qty_lots=8, price_ticks=5_000_060),  # 5: triggers 3
        PlaceOrder(3, "BTC-USD", SELL, LIMIT, qty_lots=2, price_ticks=5_000_100,
                   stp=SelfTradePrevention.DECREMENT_AND_CANCEL),  # 6: shrinks 3
        AmendOrder(3, 3, qty_lots=2),
        PlaceOrder(1, "BTC-USD", SELL, LIMIT, qty_lots=3, price_ticks=5_200_000, display_lots=1,
                   tif=TimeInForce.GTD, expire_ts_ns=10**6),  # 7
        PlaceOrder(2, "BTC-USD", BUY, LIMIT, qty_lots=1, price_ticks=5_200_000,
                   tif=TimeInForce.IOC),  # 8
        AdvanceTime(),  # 7 expires
        CancelOrder(3, 3),
    ]
    engine = Engine(MARKETS)
    records = []
    for seq, command in enumerate(commands, 1):
        ts = seq if seq < 16 else 10**6 + seq
        records.append((seq, ts, command, engine.apply(seq, ts, command)))

    def state(row: dict[str, Any] | None) -> tuple[Any, ...]:
        assert row is not None
        return (row["status"], row["qty_lots"], row["filled_lots"], row["leaves_lots"],
                row["cancel_reason"])

    after = {  # seq -> {order id: (status, qty, filled, leaves, cancel reason)}
        7: {1: ("new", 10, 0, 10, None)},
        8: {1: ("partially_filled", 10, 4, 6, None), 2: ("filled", 4, 4, 0, None)},
        9: {3: ("pending_trigger", 5, 0, 5, None)},
        11: {1: ("filled", 10, 10, 0, None), 3: ("new", 5, 0, 5, None),
             4: ("filled", 2, 2, 0, None), 5: ("filled", 8, 8, 0, None)},
        12: {3: ("new", 3, 0, 3, None), 6: ("cancelled", 2, 0, 0, "self_trade")},
        13: {3: ("new", 2, 0, 2, None)},
        15: {7: ("partially_filled", 3, 1, 2, None), 8: ("filled", 1, 1, 0, None)},
        16: {7: ("expired", 3, 1, 0, None)},
        17: {3: ("cancelled", 2, 0, 0, "user")},
    }

    async def main() -> None:
        async with Projector(db_url, MARKETS) as projector:
            for record in records:
                await projector.project([record])
                for oid, want in after.get(record[0], {}).items():
                    assert state(await queries.order(projector.db, oid)) == want, (
                        record[0], oid)
            five = await queries.order(projector.db, 5)
            assert five is not None
            assert five["filled_notional_minor"] == 6 * 5_000_000 + 2 * 5_000_060
            assert five["fee_minor"] == 15_000 + 5_000
            history = await queries.order_history(projector.db, 3)
            assert [(h["event_type"], h["status"], h["qty_lots"], h["leaves_lots"])
                    for h in history] == [
                ("accepted", "pending_trigger", 5, 5), ("triggered", "new", 0, 5),
                ("cancelled", "new", 2, 3), ("amended", "new", 2, 2),
                ("cancelled", "cancelled", 2, 0)]
        await assert_read_model(db_url, records, engine, rich=False)

    asyncio.run(main())


def test_the_projector_writes_every_column_of_every_table() -> None:
    """Rows are built by position in the projector's own column lists; a column added to
    (or renamed in) the schema must show up there, or it would silently stay NULL."""
    from matchbook.store.rows import COLUMNS as _COLUMNS
    from matchbook.store.sql import TABLES as _TABLES

    assert set(_COLUMNS) == set(_TABLES)
    for key, table in _TABLES.items():
        names = _COLUMNS[key]
        assert len(set(names)) == len(names), key
        assert set(names) == {c.name for c in table.columns}, key



def test_sqlite_batches_are_built_off_the_event_loop(
    sqlite_url: str, stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a SQLite file a batch's rows are built, and its statements run, on the
    projector's own thread: the event loop only hands the batch over."""
    records = stream.records[:400]
    threads: set[str] = set()
    build = RowBuilder.build

    def watched(self: RowBuilder, *args: Any) -> None:
        threads.add(threading.current_thread().name)
        build(self, *args)

    monkeypatch.setattr(RowBuilder, "build", watched)

    async def main() -> None:
        async with Projector(sqlite_url, MARKETS) as projector:
            await projector.project(records)
            assert projector.last_seq == len(records)

    asyncio.run(main())
    assert threads and all(name.startswith("matchbook-sql-writer") for name in threads)


def test_a_batch_cancelled_in_flight_keeps_the_projector_in_step(
    sqlite_url: str, stream: Stream
) -> None:
    """Cancelling ``project`` while its batch runs on the projector's thread: the batch
    commits there all the same, and the projector's memory follows it, so the next
    batch is written, not refused as written by another projector."""
    records = stream.records[:900]
    engine = Engine(MARKETS)
    for seq, ts, command, _ in records:
        engine.apply(seq, ts, command)

    async def main() -> None:
        async with Projector(sqlite_url, MARKETS) as projector:
            await projector.project(records[:300])
            task = asyncio.create_task(projector.project(records[300:600]))
            await asyncio.sleep(0)  # the batch is handed to the thread
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert projector.last_seq == 600
            assert await count(sqlite_url, schema.audit_log) == 600
            await projector.project(records[600:])
        await assert_read_model(sqlite_url, records, engine, rich=False)

    asyncio.run(main())
