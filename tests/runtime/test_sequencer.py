"""The sequencer: ordering, group commit, busy answers, draining on stop, market data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from matchbook.config import default_markets
from matchbook.core import Deposit, PlaceOrder
from matchbook.core.commands import BUY, LIMIT, SELL
from matchbook.core.events import Applied, OrderAccepted, TradeExecuted
from matchbook.journal.durable import DurabilityConfig, DurableEngine, recover
from matchbook.marketdata.feed import MarketData
from matchbook.runtime.consumer import Batch
from matchbook.runtime.sequencer import Busy, Result, Sequencer, Stopped


def _durable(tmp_path: Path, mode: str = "fsync") -> DurableEngine:
    return DurableEngine.open(tmp_path, default_markets(),
                              config=DurabilityConfig(mode=mode))  # type: ignore[arg-type]


def test_concurrent_submissions_are_sequenced_journaled_and_answered(tmp_path: Path) -> None:
    async def main() -> list[int]:
        seq = Sequencer(_durable(tmp_path))
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


def test_a_full_queue_answers_busy_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        seq = Sequencer(_durable(tmp_path, "none"), queue_size=2)  # not started: nothing drains
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


def test_stop_drains_and_snapshots(tmp_path: Path) -> None:
    async def main() -> None:
        seq = Sequencer(_durable(tmp_path))
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


def test_market_data_deltas_are_contiguous_and_rebuild_the_book(tmp_path: Path) -> None:
    async def main() -> None:
        durable = _durable(tmp_path, "none")
        seq = Sequencer(durable)
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


def test_an_unrecordable_command_is_refused_alone(tmp_path: Path) -> None:
    from matchbook.runtime.sequencer import Unencodable

    async def main() -> None:
        seq = Sequencer(_durable(tmp_path, "os"))
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


def test_a_completion_is_called_back_in_order(tmp_path: Path) -> None:
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
        seq = Sequencer(_durable(tmp_path, "os"), max_batch=7)
        seq.start()
        answers = Answers()
        for u in range(1, 31):
            seq.submit_nowait(Deposit("USD", u, user_id=u), answers)  # no await
        await seq.submit(Deposit("USD", 1, user_id=99))
        assert [r.seq for r in answers.results] == list(range(1, 31))
        await seq.stop(snapshot=False)

    asyncio.run(main())


def test_a_failed_journal_write_answers_every_waiting_caller(tmp_path: Path) -> None:
    async def main() -> None:
        durable = _durable(tmp_path, "os")
        write, writes = durable.write, []

        def failing(stamped: object) -> None:
            writes.append(stamped)
            if len(writes) == 3:
                raise OSError("the disk is gone")
            write(stamped)  # type: ignore[arg-type]

        durable.write = failing  # type: ignore[method-assign]
        seq = Sequencer(durable, max_batch=5)
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
