"""The sequencer: ordering, group commit, busy answers, draining on stop, market data,
with batches written on the event loop and on the journal's thread."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from matchbook.config import default_markets
from matchbook.core import Deposit, PlaceOrder
from matchbook.core.commands import BUY, LIMIT, SELL
from matchbook.core.events import Applied, OrderAccepted, TradeExecuted
from matchbook.journal.durable import DurabilityConfig, DurableEngine, recover
from matchbook.marketdata.feed import MarketData
from matchbook.runtime.consumer import Batch
from matchbook.runtime.sequencer import (
    LOOP_WRITE_SECONDS,
    Busy,
    JournalWrites,
    Result,
    Sequencer,
    Stopped,
)


@pytest.fixture(params=["loop", "thread", "auto"])
def writes(request: pytest.FixtureRequest) -> JournalWrites:
    """Every test below runs with each place a batch can be written."""
    return request.param  # type: ignore[no-any-return]


def _durable(tmp_path: Path, mode: str = "fsync") -> DurableEngine:
    return DurableEngine.open(tmp_path, default_markets(),
                              config=DurabilityConfig(mode=mode))  # type: ignore[arg-type]


def test_concurrent_submissions_are_sequenced_journaled_and_answered(tmp_path: Path,
                                                                     writes: JournalWrites) -> None:
    async def main() -> list[int]:
        seq = Sequencer(_durable(tmp_path), journal_writes=writes)
        seq.start()
        deposits = [seq.submit(Deposit("USD", 10**12, user_id=u)) for u in range(1, 51)]
        results = await asyncio.gather(*deposits)
        orders = [seq.submit(PlaceOrder(u, "BTC-USD", BUY, LIMIT, qty_lots=1,
                                        price_ticks=5_000_000 - u)) for u in range(1, 51)]
        placed = await asyncio.gather(*orders)
        assert all(type(r.events[0]) is OrderAccepted for r in placed)
        assert seq.stats.batches < 100  # several commands per batch: group commit
        await seq.stop()
        return [r.seq for r in results + placed]

    seqs = asyncio.run(main())
    assert seqs == list(range(1, 101))
    engine, info = recover(tmp_path, default_markets())
    assert info.last_seq == 100
    assert len(engine.orders) == 50


def test_a_full_queue_answers_busy_at_once(tmp_path: Path, writes: JournalWrites) -> None:
    async def main() -> None:
        # not started: nothing drains
        seq = Sequencer(_durable(tmp_path, "none"), queue_size=2, journal_writes=writes)
        first = asyncio.ensure_future(seq.submit(Deposit("USD", 1, user_id=1)))
        second = asyncio.ensure_future(seq.submit(Deposit("USD", 1, user_id=1)))
        await asyncio.sleep(0)
        with pytest.raises(Busy):
            await seq.submit(Deposit("USD", 1, user_id=1))
        assert seq.stats.busy_rejections == 1
        seq.start()
        assert (await first).seq == 1 and (await second).seq == 2
        await seq.stop(snapshot=False)

    asyncio.run(main())


def test_stop_drains_and_snapshots(tmp_path: Path, writes: JournalWrites) -> None:
    async def main() -> None:
        seq = Sequencer(_durable(tmp_path), journal_writes=writes)
        seq.start()
        pending = [asyncio.ensure_future(seq.submit(Deposit("BTC", 5, user_id=u)))
                   for u in range(1, 20)]
        await asyncio.sleep(0)
        await seq.stop()
        assert all(p.done() and not p.exception() for p in pending)

    asyncio.run(main())
    snapshots = list((tmp_path / "snapshots").glob("snapshot-*.snap"))
    assert len(snapshots) == 1
    engine, info = recover(tmp_path, default_markets())
    assert info.snapshot_seq == 19 and info.replayed == 0
    assert engine.balance(7, "BTC") == (5, 0)


def test_market_data_deltas_are_contiguous_and_rebuild_the_book(tmp_path: Path,
                                                                writes: JournalWrites) -> None:
    async def main() -> None:
        durable = _durable(tmp_path, "none")
        seq = Sequencer(durable, journal_writes=writes)
        md = MarketData(durable.markets)
        book: dict[int, dict[int, int]] = {BUY: {}, SELL: {}}
        last_id = 0
        trades = 0

        class Probe:
            def consume(self, batch: Batch) -> None:
                on_batch(batch.records)

        def on_batch(batch: list[Applied]) -> None:
            nonlocal last_id, trades
            for kind, _, item in md.on_batch(batch):
                if kind == "book":
                    assert item.first_update_id == last_id + 1  # type: ignore[union-attr]
                    last_id = item.last_update_id  # type: ignore[union-attr]
                    for side, levels in ((BUY, item.bids), (SELL, item.asks)):  # type: ignore[union-attr]
                        for price, qty in levels:
                            if qty:
                                book[side][price] = qty
                            else:
                                book[side].pop(price, None)
                else:
                    trades += 1

        seq.consumers.append(Probe())
        seq.start()
        for u in (1, 2):
            await seq.submit(Deposit("USD", 10**12, user_id=u))
            await seq.submit(Deposit("BTC", 10**10, user_id=u))
        for i in range(40):
            await seq.submit(PlaceOrder(1, "BTC-USD", SELL, LIMIT, qty_lots=3,
                                        price_ticks=5_000_000 + i % 7))
        result = await seq.submit(PlaceOrder(2, "BTC-USD", BUY, LIMIT, qty_lots=50,
                                             price_ticks=5_000_003))
        assert any(type(e) is TradeExecuted for e in result.events)
        engine_book = durable.engine.books["BTC-USD"]
        assert book[SELL] == {p: q for p, q, _ in engine_book.depth(SELL)}
        assert book[BUY] == {p: q for p, q, _ in engine_book.depth(BUY)}
        update_id, _, asks = md.feeds["BTC-USD"].depth()
        assert update_id == last_id and dict(asks) == book[SELL]
        assert trades > 0
        assert md.feeds["BTC-USD"].deltas_since(last_id - 3) is not None
        await seq.stop(snapshot=False)

    asyncio.run(main())


def test_an_unrecordable_command_is_refused_alone(tmp_path: Path, writes: JournalWrites) -> None:
    from matchbook.runtime.sequencer import Unencodable

    async def main() -> None:
        seq = Sequencer(_durable(tmp_path, "os"), journal_writes=writes)
        seq.start()
        good = asyncio.ensure_future(seq.submit(Deposit("USD", 5, user_id=1)))
        bad = asyncio.ensure_future(seq.submit(Deposit("USD", 2**70, user_id=1)))
        after = asyncio.ensure_future(seq.submit(Deposit("USD", 7, user_id=1)))
        assert (await good).seq == 1
        with pytest.raises(Unencodable):
            await bad
        assert (await after).seq == 2  # the sequencer goes on; no number was spent
        assert (await seq.submit(Deposit("USD", 1, user_id=2))).seq == 3
        await seq.stop(snapshot=False)

    asyncio.run(main())


def test_a_completion_is_called_back_in_order(tmp_path: Path, writes: JournalWrites) -> None:
    class Answers:
        def __init__(self) -> None:
            self.results: list[Result] = []

        def done(self) -> bool:
            return False

        def set_result(self, result: Result) -> None:
            self.results.append(result)

        def set_exception(self, exception: BaseException) -> None:
            raise AssertionError(exception)

    async def main() -> None:
        seq = Sequencer(_durable(tmp_path, "os"), max_batch=7, journal_writes=writes)
        seq.start()
        answers = Answers()
        for u in range(1, 31):
            seq.submit_nowait(Deposit("USD", u, user_id=u), answers)  # no await
        await seq.submit(Deposit("USD", 1, user_id=99))
        assert [r.seq for r in answers.results] == list(range(1, 31))
        await seq.stop(snapshot=False)

    asyncio.run(main())


def test_a_failed_journal_write_answers_every_waiting_caller(tmp_path: Path,
                                                             writes: JournalWrites) -> None:
    async def main() -> None:
        durable = _durable(tmp_path, "os")
        write, calls = durable.write, []

        def failing(stamped: object) -> None:
            calls.append(stamped)
            if len(calls) == 3:
                raise OSError("the disk is gone")
            write(stamped)  # type: ignore[arg-type]

        durable.write = failing  # type: ignore[method-assign]
        seq = Sequencer(durable, max_batch=5, journal_writes=writes)
        seq.start()
        pending = [asyncio.ensure_future(seq.submit(Deposit("USD", 1, user_id=1)))
                   for _ in range(40)]
        answers = await asyncio.gather(*pending, return_exceptions=True)
        applied = [a for a in answers if isinstance(a, Result)]
        assert [r.seq for r in applied] == list(range(1, 11))  # two batches of five
        assert all(isinstance(a, Stopped) for a in answers[10:])
        assert durable.engine.last_seq == 10
        with pytest.raises(Stopped):
            await seq.submit(Deposit("USD", 1, user_id=1))
        await seq.stop(snapshot=False)

    asyncio.run(main())


def _where_written(durable: DurableEngine, delay: list[float]) -> list[str]:
    """Record the thread of every journal write of ``durable``; each write first sleeps
    ``delay[0]`` seconds (a slow disk)."""
    names: list[str] = []
    write = durable.write

    def recorded(stamped: object) -> None:
        names.append(threading.current_thread().name)
        time.sleep(delay[0])
        write(stamped)  # type: ignore[arg-type]

    durable.write = recorded  # type: ignore[method-assign]
    return names


def test_writes_go_where_configured(tmp_path: Path, writes: JournalWrites) -> None:
    async def main() -> list[str]:
        durable = _durable(tmp_path, "os")
        names = _where_written(durable, [0.0])
        seq = Sequencer(durable, journal_writes=writes)
        seq.start()
        for u in range(1, 6):
            await seq.submit(Deposit("USD", 1, user_id=u))
        assert seq.stats.loop_writes == (0 if writes == "thread" else 5)
        await seq.stop(snapshot=False)
        return names

    names = asyncio.run(main())
    on_loop = writes != "thread"  # "auto": these writes are quick
    assert names == [threading.main_thread().name if on_loop else "matchbook-journal_0"] * 5


def test_auto_moves_writes_off_the_loop_while_they_are_slow(tmp_path: Path) -> None:
    async def main() -> None:
        durable = _durable(tmp_path, "os")
        delay = [LOOP_WRITE_SECONDS * 3]
        names = _where_written(durable, delay)
        seq = Sequencer(durable, journal_writes="auto")
        seq.start()
        loop_thread = threading.current_thread().name

        async def deposits(n: int) -> None:
            for _ in range(n):
                await seq.submit(Deposit("USD", 1, user_id=1))

        await deposits(40)  # slow: the first writes on the loop, then on the thread
        assert names[0] == loop_thread and names[-1] == "matchbook-journal_0"
        assert seq.stats.loop_writes < 10
        delay[0] = 0.0
        slow = len(names)
        await deposits(60)  # quick again: back on the loop
        assert names[-1] == loop_thread
        assert seq.stats.loop_writes > 10
        assert len(names) > slow
        await seq.stop(snapshot=False)

    asyncio.run(main())
    # the journal holds every command once, in order, wherever it was written
    engine, info = recover(tmp_path, default_markets())
    assert info.last_seq == 100 and engine.balance(1, "USD") == (100, 0)


def test_the_loop_gets_a_turn_between_batches_written_on_it(tmp_path: Path) -> None:
    """A consumer that submits after every batch keeps the queue from ever being empty;
    the loop still runs other tasks between two batches."""

    async def main() -> tuple[int, int]:
        seq = Sequencer(_durable(tmp_path, "os"), journal_writes="loop")
        ticks = 0
        left = 100

        class Chain:
            def consume(self, batch: Batch) -> None:
                nonlocal left
                if left:
                    left -= 1
                    seq.submit_nowait(Deposit("USD", 1, user_id=1), done)

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        done = asyncio.get_running_loop().create_future()  # never awaited: answers ignored
        seq.consumers.append(Chain())
        task = asyncio.get_running_loop().create_task(ticker())
        seq.start()
        await seq.submit(Deposit("USD", 1, user_id=1))
        while left:
            await asyncio.sleep(0)
        task.cancel()
        batches = seq.stats.batches
        await seq.stop(snapshot=False)
        return ticks, batches

    ticks, batches = asyncio.run(main())
    assert batches >= 100 and ticks >= 90


def test_an_unknown_place_to_write_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="journal_writes must be one of auto, loop, thread"):
        Sequencer(_durable(tmp_path, "none"), journal_writes="disk")  # type: ignore[arg-type]
