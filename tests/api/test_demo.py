"""The demo market maker (``serve --demo``): a UI opened at any moment sees a two-sided
book, because the maker moves its resting quotes in place instead of cancelling its
ladder and quoting it again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from matchbook.api.demo import FUNDING, market_maker, taker
from matchbook.core import Deposit
from matchbook.core.events import CancelReason, OrderAmended, OrderCancelled, TradeExecuted
from matchbook.runtime.consumer import Batch
from matchbook.runtime.exchange import Exchange
from matchbook.settings import Settings

MAKER, TAKER = 1, 2
SYMBOL = "BTC-USD"
BATCHES = 1_500  # about 90 re-quotes of the 8-level ladder, with the taker's orders


class BookWatch:
    """After every applied batch: both sides of the book hold orders and do not cross."""

    def __init__(self, exchange: Exchange) -> None:
        self.book = exchange.engine.books[SYMBOL]
        self.armed = False  # from the first moment both sides were quoted
        self.batches = 0
        self.one_sided: list[tuple[int, int, int]] = []  # (seq, best bid, best ask)
        self.best_bids: set[int] = set()
        self.moved = self.trades = self.self_trade_cancels = 0
        self.done = asyncio.Event()

    def consume(self, batch: Batch) -> None:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        for _seq, _ts, _command, events in batch.records:
            for e in events:
                if isinstance(e, OrderAmended) and e.user_id == MAKER and not e.priority_kept:
                    self.moved += 1
                elif isinstance(e, TradeExecuted):
                    self.trades += 1
                elif isinstance(e, OrderCancelled) and e.reason == CancelReason.SELF_TRADE:
                    self.self_trade_cancels += 1
        if not self.armed:
            self.armed = bool(bid and ask)
            return
        self.batches += 1
        self.best_bids.add(bid)
        if not bid or not ask or bid >= ask:
            self.one_sided.append((batch.records[-1][0], bid, ask))
        if self.batches >= BATCHES:
            self.done.set()


def test_the_maker_keeps_both_sides_quoted_through_every_requote(tmp_path: Path) -> None:
    async def main() -> BookWatch:
        exchange = await Exchange.start(Settings(data_dir=tmp_path / "data", journal_mode="os"),
                                        read_model=False)
        for uid in (MAKER, TAKER):
            for asset, amount in FUNDING.items():
                minor = exchange.markets.assets[asset].to_minor(amount)
                await exchange.submit(Deposit(asset, minor, user_id=uid))
        watch = BookWatch(exchange)
        exchange.attach(watch)
        # no pause between re-quotes; the taker trades the ladder away in between
        bots = [asyncio.create_task(market_maker(exchange, MAKER, SYMBOL, interval=0)),
                asyncio.create_task(taker(exchange, TAKER, interval=0))]
        try:
            await asyncio.wait_for(watch.done.wait(), timeout=120)
        finally:
            for bot in bots:
                bot.cancel()
            await asyncio.gather(*bots, return_exceptions=True)
            await exchange.stop()
        return watch

    watch = asyncio.run(main())
    assert watch.batches >= BATCHES
    assert watch.one_sided == [], f"a side was empty or the book crossed: {watch.one_sided[:5]}"
    # the ladder did move (price changes, not only size changes), the taker traded with
    # it, and no amended quote ever met the maker's own on the other side
    assert len(watch.best_bids) > 5 and watch.moved > 100 and watch.trades > 10
    assert watch.self_trade_cancels == 0
