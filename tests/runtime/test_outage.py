"""Start-up after downtime: ``Exchange.start`` journals ``RecordOutage`` before it takes
any command, so a P2P trade opened before the exchange went down keeps the payment
window it had left."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from matchbook.config import default_markets
from matchbook.core import Deposit
from matchbook.core.commands import AddPaymentMethod, MarkPaid, P2PSide, PostAd, TakeAd, TradeState
from matchbook.core.events import P2PTradeChanged
from matchbook.journal.durable import DurabilityConfig, DurableEngine, recover
from matchbook.runtime.exchange import Exchange
from matchbook.settings import Settings

S = 1_000_000_000
MARKETS = default_markets()


def test_a_restart_after_an_hour_down_extends_the_open_trade_and_journals_the_outage(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    went_down = time.time_ns() - 3600 * S  # the last command, an hour ago
    config = DurabilityConfig(mode="os", snapshot_every_commands=0, snapshot_every_seconds=0,
                              snapshot_daily=False)
    with DurableEngine.open(data, MARKETS, config=config) as durable:
        durable.submit([
            (Deposit("BTC", 10**8, user_id=1), went_down - 3),
            (AddPaymentMethod(1, "SEPA", "DE89"), went_down - 2),
            (PostAd(1, P2PSide.SELL, "BTC", "USD", 5_000_000, 0, "", 10**8, 10**6, 10**8,
                    (1,), 900, ""), went_down - 1),
            (TakeAd(2, 1, 10**7, 0), went_down),
        ])
        pay_by = durable.engine.p2p.trades[1].pay_by_ns
    assert pay_by < time.time_ns(), "the window passed while the exchange was down"

    async def main() -> tuple[int, list[object], str]:
        exchange = await Exchange.start(Settings(data_dir=data, journal_mode="os"),
                                        read_model=False)
        try:
            trade = exchange.engine.p2p.trades[1]
            assert trade.state == TradeState.PENDING_PAYMENT
            moved = trade.pay_by_ns
            result = await exchange.submit(MarkPaid(2, 1, TradeState.PENDING_PAYMENT))
            return moved, list(result.events), exchange.engine.state_hash()
        finally:
            await exchange.stop()

    moved, events, live = asyncio.run(main())
    downtime = moved - pay_by
    assert 3600 * S <= downtime < 3700 * S
    assert [type(e) for e in events] == [P2PTradeChanged]
    engine, _ = recover(data, MARKETS, truncate=False)
    assert engine.state_hash() == live  # the outage is a journaled command: replays agree
    assert engine.p2p.trades[1].state == TradeState.PAID
