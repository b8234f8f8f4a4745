"""The pipeline of ``Exchange.start``: consumers in their order, a failing consumer never
stops the others, and ``stop()`` undoes the steps in reverse."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from matchbook.core import Deposit, PlaceOrder
from matchbook.core.commands import BUY, LIMIT, SELL
from matchbook.runtime.consumer import Batch
from matchbook.runtime.exchange import Exchange
from matchbook.runtime.metrics import COMMANDS
from matchbook.settings import Settings


class Probe:
    """An extra consumer: records what the steps before it had done to each batch."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.seen: list[dict[str, Any]] = []

    def consume(self, batch: Batch) -> None:
        last = batch.records[-1][0]
        task = self.exchange.projector
        self.seen.append({
            "last_seq": last,
            "published": [kind for kind, _, _ in batch.published],
            "offered_to_projector": task is not None and task.last_offered_seq >= last,
            "acked_after_queued": all(batch.acked_ns >= q for q in batch.queued_ns),
        })


class Broken:
    def consume(self, batch: Batch) -> None:
        raise RuntimeError("a broken consumer")


def settings(tmp_path: Path) -> Settings:
    # the projector in this process: it is a consumer of the pipeline (in a process of
    # its own it follows the journal instead: tests/runtime/test_projector_process.py)
    return Settings(data_dir=tmp_path / "data", journal_mode="os", projector="thread")


def test_consumers_run_in_the_order_of_the_page_and_stop_runs_in_reverse(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stops: list[str] = []

    async def main() -> list[dict[str, Any]]:
        exchange = await Exchange.start(settings(tmp_path))
        steps = [type(c).__name__ for c in exchange.consumers]
        assert steps == ["_MarketDataStep", "_ProjectorStep", "Metrics"]
        broken, probe = Broken(), Probe(exchange)

        async def stop_probe() -> None:  # extras stop first: the exchange still trades
            result = await exchange.submit(Deposit("USD", 1, user_id=3))
            stops.append(f"traded seq {result.seq} while the probe stopped")

        exchange.attach(broken)
        exchange.attach(probe, stop=stop_probe)
        placed = COMMANDS.labels("PlaceOrder")._value.get()
        await exchange.submit(Deposit("BTC", 10**9, user_id=1))
        await exchange.submit(Deposit("USD", 10**12, user_id=2))
        await exchange.submit(PlaceOrder(1, "BTC-USD", SELL, LIMIT, qty_lots=1,
                                         price_ticks=5_000_000))
        await exchange.submit(PlaceOrder(2, "BTC-USD", BUY, LIMIT, qty_lots=1,
                                         price_ticks=5_000_000))
        assert COMMANDS.labels("PlaceOrder")._value.get() == placed + 2  # metrics ran
        await exchange.stop()
        return probe.seen

    with caplog.at_level(logging.ERROR):
        seen = asyncio.run(main())
    # the probe ran after market data (deltas and the trade published) and after the
    # projector was offered the batch, although the consumer before it raised
    assert [s["published"] for s in seen][-3:] == [["book"], ["trade", "book"], []]
    assert all(s["offered_to_projector"] and s["acked_after_queued"] for s in seen)
    assert "consumer Broken failed" in caplog.text
    assert stops == [f"traded seq {seen[-1]['last_seq']} while the probe stopped"]
    # the last snapshot was written on stop: a restart replays nothing
    async def restart() -> tuple[int, int]:
        exchange = await Exchange.start(settings(tmp_path))
        try:
            info = exchange.durable.recovery
            return info.replayed, exchange.engine.last_seq
        finally:
            await exchange.stop()

    replayed, last_seq = asyncio.run(restart())
    assert replayed == 0 and last_seq == seen[-1]["last_seq"]
