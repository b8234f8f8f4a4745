"""The P2P read model: a seeded stream of desk commands (ads, takes, payments, releases,
cancels, expiries, disputes, resolutions, chat, feedback) projected into SQLite and
PostgreSQL holds what the engine holds (every ad's and trade's state and quantities,
one transition per state change), whatever the batches: a row created and changed in
one batch and a row changed by a later batch end the same."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from matchbook.config import default_markets
from matchbook.core import Engine
from matchbook.core.commands import (
    AddPaymentMethod,
    CancelAd,
    CancelTrade,
    Deposit,
    LeaveFeedback,
    MarkPaid,
    OpenDispute,
    PauseAd,
    PostAd,
    PostTradeMessage,
    ReleaseEscrow,
    ResolveDispute,
    ResumeAd,
    SuspendUser,
    TakeAd,
    TradeState,
    WithdrawDispute,
)
from matchbook.core.events import DisputeResolutionProposed, P2PTradeChanged, P2PTradeOpened
from matchbook.store import schema
from matchbook.store.db import create_engine
from matchbook.store.p2p_rows import AD_STATES, OUTCOMES, TRADE_STATES, notifications_of
from matchbook.store.projector import Projector

S = 1_000_000_000
TABLES = (schema.p2p_payment_methods, schema.p2p_ads, schema.p2p_trades,
          schema.p2p_transitions, schema.p2p_messages, schema.p2p_feedback,
          schema.notifications)


def p2p_stream(seed: int, n: int) -> tuple[list[Any], Engine]:
    """``n`` seeded desk commands after the opening deposits, applied to a fresh engine:
    the records ``(seq, ts, command, events)`` and the engine."""
    rng = random.Random(seed)
    markets = default_markets()
    # a dispute over 0.05 BTC needs a second admin: the first decision is only proposed
    markets = dataclasses.replace(markets, p2p=dataclasses.replace(
        markets.p2p, second_approval_minor={"BTC": 5 * 10**6}))
    engine = Engine(markets)
    records: list[Any] = []
    ts = 1_800_000_000 * S

    def apply(command: Any, advance: int = 1_000_000) -> list[Any]:
        nonlocal ts
        ts += advance
        seq = len(records) + 1
        events = engine.apply(seq, ts, command)
        records.append((seq, ts, command, events))
        return events

    users = list(range(1, 7))
    admins = (100, 101)
    methods: dict[int, int] = {}
    for uid in users:
        apply(Deposit("BTC", 5 * 10**8, user_id=uid, reference="seed"))
        methods[uid] = apply(AddPaymentMethod(uid, "SEPA", f"DE{uid:02d}"))[0].method_id
    desk = engine.p2p
    for _ in range(n):
        uid = rng.choice(users)
        trades = list(desk.trades.values())
        live = [t for t in trades if t.state in (1, 2, 3)]
        ads = list(desk.ads.values())
        roll = rng.random()
        advance = rng.choice((1_000_000, 1_000_000, 60 * S, 400 * S, 1000 * S))
        if roll < 0.15 or not ads:
            qty = rng.randint(1, 20) * 10**7
            apply(PostAd(uid, rng.choice((1, 2)), "BTC", "EUR", rng.randint(50, 70) * 10**5,
                         0, "", qty, 10**6, qty, (methods[uid],), 300, "terms"), advance)
        elif roll < 0.22:
            ad = rng.choice(ads)
            kind = rng.choice((PauseAd, ResumeAd))
            apply(kind(ad.user_id, ad.ad_id), advance)
        elif roll < 0.26:
            ad = rng.choice(ads)
            if rng.random() < 0.3:
                apply(CancelAd(ad.user_id, ad.ad_id, admin_id=admins[0], reason="spam"))
            else:
                apply(CancelAd(ad.user_id, ad.ad_id), advance)
        elif roll < 0.5 or not live:
            ad = rng.choice(ads)
            apply(TakeAd(uid, ad.ad_id, rng.randint(1, 5) * 10**7, 0,
                         rng.choice(("", "", f"k{rng.randint(1, 5)}"))), advance)
        else:
            t = rng.choice(live)
            party = rng.choice((t.buyer_id, t.seller_id))
            state = t.state if rng.random() < 0.9 else rng.randint(1, 8)
            action = rng.random()
            if action < 0.25:
                apply(MarkPaid(t.buyer_id, t.trade_id, state), advance)
            elif action < 0.45:
                apply(ReleaseEscrow(t.seller_id, t.trade_id, state), advance)
            elif action < 0.55:
                apply(CancelTrade(t.buyer_id, t.trade_id, state, rng.random() < 0.5), advance)
            elif action < 0.65:
                apply(OpenDispute(party, t.trade_id, state, "other", "see chat"), advance)
            elif action < 0.7:
                apply(WithdrawDispute(party, t.trade_id, state), advance)
            elif action < 0.8:
                apply(ResolveDispute(rng.choice(admins), t.trade_id, rng.choice((1, 2)),
                                     "decided", state), advance)
            elif action < 0.9:
                apply(PostTradeMessage(party, t.trade_id, f"line {len(records)}"), advance)
            else:
                done = [x for x in trades if x.state == 4] or trades
                pick = rng.choice(done)
                apply(LeaveFeedback(rng.choice((pick.buyer_id, pick.seller_id)),
                                    pick.trade_id, rng.random() < 0.8, "ok"), advance)
    return records, engine


async def _project(url: str, records: list[Any], sizes: list[int]) -> None:
    projector = Projector(url, default_markets())
    await projector.start()
    try:
        start = 0
        i = 0
        while start < len(records):
            size = sizes[i % len(sizes)]
            await projector.project(records[start:start + size])
            start += size
            i += 1
        assert projector.dead_letters == 0, projector.last_dead_letter
    finally:
        await projector.stop()


async def _tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = create_engine(url)
    try:
        async with db.connect() as conn:
            found = {}
            for table in TABLES:
                key = list(table.primary_key.columns)
                rows = await conn.execute(select(table).order_by(*key))
                found[table.name] = [tuple(r) for r in rows]
            return found
    finally:
        await db.dispose()


def _check_against_engine(tables: dict[str, list[tuple[Any, ...]]], engine: Engine,
                          records: list[Any]) -> None:
    trade_cols = [c.name for c in schema.p2p_trades.columns]
    ad_cols = [c.name for c in schema.p2p_ads.columns]
    trades = {r[0]: dict(zip(trade_cols, r, strict=True)) for r in tables["p2p_trades"]}
    ads = {r[0]: dict(zip(ad_cols, r, strict=True)) for r in tables["p2p_ads"]}
    desk = engine.p2p
    assert set(trades) == set(desk.trades) and set(ads) == set(desk.ads)
    for tid, trade in desk.trades.items():
        row = trades[tid]
        assert row["state"] == TRADE_STATES[trade.state], tid
        assert (row["qty_minor"], row["price_minor"], row["fiat_amount_minor"]) == (
            trade.qty_minor, trade.price_minor, trade.fiat_amount_minor)
        assert (row["buyer_id"], row["seller_id"]) == (trade.buyer_id, trade.seller_id)
        deadlines = trade.deadlines()
        assert (row["pay_by_ns"], row["appeal_after_ns"], row["escalate_at_ns"]) == deadlines
        if trade.proposal is not None:  # an admin's decision waiting for a second admin
            assert (row["proposed_by"], row["proposed_outcome"]) == (
                trade.proposal[0], OUTCOMES[trade.proposal[1]]), tid
    for aid, ad in desk.ads.items():
        assert (ads[aid]["state"], ads[aid]["remaining_minor"]) == (
            AD_STATES[ad.state], ad.remaining_minor), aid
    steps = sum(1 for _, _, _, events in records for ev in events
                if type(ev) in (P2PTradeChanged, P2PTradeOpened))
    assert len(tables["p2p_transitions"]) == steps
    reached = {r[4] for r in tables["p2p_transitions"]}  # to_state
    assert {"paid", "completed", "cancelled", "expired", "disputed"} <= reached, reached


@pytest.mark.slow  # a thousand single-record transactions
def test_batches_of_any_size_give_the_same_p2p_read_model(tmp_path: Path) -> None:
    records, engine = p2p_stream(seed=5, n=1500)
    one = f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"
    mixed = f"sqlite+aiosqlite:///{tmp_path / 'mixed.db'}"
    asyncio.run(_project(one, records, [1]))
    asyncio.run(_project(mixed, records, [7, 200, 1, 64, 3000]))
    a, b = asyncio.run(_tables(one)), asyncio.run(_tables(mixed))
    assert a == b
    _check_against_engine(a, engine, records)
    states = Counter(r[15] for r in a["p2p_trades"])
    assert {"completed", "cancelled", "expired"} <= set(states), states
    ids = [r[0] for r in a["notifications"]]
    assert len(ids) == len(set(ids)) and ids


def test_the_p2p_read_model_on_each_database(db_url: str) -> None:
    records, engine = p2p_stream(seed=11, n=600)
    asyncio.run(_project(db_url, records, [50]))
    tables = asyncio.run(_tables(db_url))
    _check_against_engine(tables, engine, records)


def test_a_proposal_waiting_for_a_second_admin_is_projected(tmp_path: Path) -> None:
    """A dispute over the second-approval amount: the first admin's decision updates a
    trade row written by an earlier batch (it once failed the state column's NOT NULL
    and went to the dead letters), then the second admin's carries it out."""
    engine = Engine(default_markets())  # BTC: a dispute over 1 BTC needs a second admin
    records: list[Any] = []

    def apply(command: Any, advance_s: int = 1) -> list[Any]:
        ts = (records[-1][1] if records else 1_800_000_000 * S) + advance_s * S
        events = engine.apply(len(records) + 1, ts, command)
        records.append((len(records) + 1, ts, command, events))
        return events

    seller, buyer = 1, 2
    apply(Deposit("BTC", 3 * 10**8, user_id=seller, reference="seed"))
    method = apply(AddPaymentMethod(seller, "SEPA", "DE89"))[-1].method_id
    ad = apply(PostAd(seller, 1, "BTC", "EUR", 60_000_00, 0, "", 2 * 10**8, 10**6, 2 * 10**8,
                      (method,), 300, "terms"))[-1].ad_id
    opened = apply(TakeAd(buyer, ad, 15 * 10**7, method))
    trade = next(e.trade_id for e in opened if type(e) is P2PTradeOpened)
    apply(MarkPaid(buyer, trade, 1))
    apply(OpenDispute(seller, trade, 2, "payment_not_received", "nothing came"), 901)
    first = apply(ResolveDispute(100, trade, 1, "the bank statement shows it"))
    assert [type(e) for e in first] == [DisputeResolutionProposed]
    url = f"sqlite+aiosqlite:///{tmp_path / 'read.db'}"
    asyncio.run(_project(url, records, [1]))  # asserts no dead letter
    waiting = asyncio.run(_tables(url))
    _check_against_engine_rows(waiting, engine)
    done = apply(ResolveDispute(101, trade, 1, "agreed"))
    assert any(type(e) is P2PTradeChanged for e in done)
    asyncio.run(_project(url, records[-1:], [1]))
    _check_against_engine_rows(asyncio.run(_tables(url)), engine)


def _check_against_engine_rows(tables: dict[str, list[tuple[Any, ...]]],
                               engine: Engine) -> None:
    trade_cols = [c.name for c in schema.p2p_trades.columns]
    for r in tables["p2p_trades"]:
        row = dict(zip(trade_cols, r, strict=True))
        trade = engine.p2p.trades[row["trade_id"]]
        assert row["state"] == TRADE_STATES[trade.state]
        if trade.proposal:  # (a resolved trade's row keeps who proposed what)
            assert (row["proposed_by"], row["proposed_outcome"]) == (
                trade.proposal[0], OUTCOMES[trade.proposal[1]])


def test_the_maker_is_told_of_an_admins_pause_and_resume_and_of_a_suspension_only() -> None:
    """Moderation and a suspension notify the maker; a trade's quantity coming back to a
    paused ad (an ``AdChanged`` by the buyer) is not an administrator's doing."""
    markets = default_markets()
    engine = Engine(markets)
    btc = markets.assets["BTC"]
    told: list[tuple[int, str, str]] = []
    seq = 0

    def run(command: object) -> None:
        nonlocal seq
        seq += 1
        events = engine.apply(seq, seq * 10**9, command)
        told.extend((row[1], row[2], row[5]) for row in notifications_of(
            seq, seq * 10**9, events, lambda tid: None, markets))

    run(Deposit("BTC", btc.to_minor("1"), user_id=1))
    run(AddPaymentMethod(1, "SEPA", "DE89"))
    run(PostAd(1, 1, "BTC", "USD", 5_000_000, 0, "", btc.to_minor("1"), btc.to_minor("0.1"),
               btc.to_minor("1"), (1,), 900, ""))
    run(TakeAd(2, 1, btc.to_minor("0.1"), 0))
    told.clear()
    run(PauseAd(1, 1, admin_id=9, reason="check the terms"))
    run(CancelTrade(2, 1, TradeState.PENDING_PAYMENT))  # back to the paused ad
    run(ResumeAd(1, 1, admin_id=9))
    run(SuspendUser(1, end_p2p_ads=True))
    assert [(user, kind, text) for user, kind, text in told if kind.startswith("ad_")] == [
        (1, "ad_paused", "Your ad #1 was paused by an administrator: check the terms"),
        (1, "ad_resumed", "Your ad #1 was resumed by an administrator."),
        (1, "ad_cancelled", "Your ad #1 was cancelled: user suspended."),
    ]
