"""The P2P desk through the journal: every command round-trips the codec, a journal of
P2P trading replays (from sequence 1 and from a snapshot) to the same state hash, and a
restart in the middle of a trade records the outage and moves its deadlines."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from p2p_helpers import Desk, fiat, minor
from test_p2p_machine import MACHINE_MARKETS, random_walk

from matchbook.config import default_markets
from matchbook.core import Deposit, Engine
from matchbook.core.commands import (
    AddPaymentMethod,
    AnyP2PCommand,
    CancelAd,
    CancelTrade,
    LeaveFeedback,
    MarkPaid,
    OpenDispute,
    P2PSide,
    PauseAd,
    PostAd,
    PostTradeMessage,
    RecordOutage,
    ReleaseEscrow,
    RemovePaymentMethod,
    ResolveDispute,
    ResumeAd,
    TakeAd,
    TradeState,
    WithdrawDispute,
)
from matchbook.core.events import AnyEvent, AnyP2PEvent, DeadlinesExtended, P2PTradeChanged
from matchbook.core.p2p import PAID, PENDING, S
from matchbook.journal.codec import decode_command, decode_snapshot, encode_command, encode_snapshot
from matchbook.journal.durable import DurabilityConfig, DurableEngine, recover
from matchbook.runtime.exchange import OUTAGE_AFTER_NS, record_outage

MARKETS = default_markets()
P2P_EVENT_KINDS = tuple(AnyP2PEvent.__args__)  # type: ignore[attr-defined]
QUIET = DurabilityConfig(mode="os", snapshot_every_commands=0, snapshot_every_seconds=0,
                         snapshot_daily=False)

EVERY_P2P_COMMAND = [
    AddPaymentMethod(1, "SEPA", "DE89 3704 0044 0532 0130 00"),
    RemovePaymentMethod(1, 7),
    PostAd(1, P2PSide.BUY, "BTC", "EUR", 0, -150, "BTC-USD", 10**8, 10**6, 5 * 10**7, (1, 2),
           3600, "only SEPA instant\nno third parties"),
    PauseAd(1, 2),
    ResumeAd(1, 2),
    CancelAd(0, 2, admin_id=9, reason="moderation"),
    TakeAd(2, 3, 12_345, 4, "take-key"),
    MarkPaid(2, 5, TradeState.PENDING_PAYMENT, "k1"),
    ReleaseEscrow(1, 5, TradeState.DISPUTED, "k2"),
    CancelTrade(2, 5, TradeState.PAID, True, "k3"),
    OpenDispute(1, 5, TradeState.PAID, "not received", "nothing on my statement", "k4"),
    WithdrawDispute(1, 5, TradeState.DISPUTED, "k5"),
    ResolveDispute(9, 5, 2, "statement checked", TradeState.DISPUTED, "k6"),
    PostTradeMessage(9, 5, "please upload the receipt", True),
    LeaveFeedback(2, 5, False, "slow"),
    RecordOutage(1_000, 2_000),
]


def test_every_p2p_command_kind_is_in_the_round_trip_list() -> None:
    kinds = set(AnyP2PCommand.__args__)  # type: ignore[attr-defined]
    assert {type(c) for c in EVERY_P2P_COMMAND} == kinds


@pytest.mark.parametrize("command", EVERY_P2P_COMMAND, ids=lambda c: type(c).__name__)
def test_the_journal_codec_round_trips_every_p2p_command(command: object) -> None:
    decoded = decode_command(encode_command(command))  # type: ignore[arg-type]
    assert decoded == command and type(decoded) is type(command)


def _replay(journal: list[tuple[object, int]], data_dir: Path, *,
            snapshot_at: int = 0) -> DurableEngine:
    durable = DurableEngine.open(data_dir, MACHINE_MARKETS, config=QUIET)
    for index, (command, ts_ns) in enumerate(journal, 1):
        durable.submit([(command, ts_ns)])  # type: ignore[list-item]
        if index == snapshot_at:
            durable.snapshot()
    return durable


def test_a_journal_of_p2p_trading_replays_to_the_same_state_hash(tmp_path: Path) -> None:
    machine = random_walk(seed=5, steps=400)
    live = machine.market.engine
    assert len(live.p2p.trades) > 10 and any(
        isinstance(e, P2PTradeChanged) for evs in machine.all_events for e in evs)
    durable = _replay(machine.journal, tmp_path / "data", snapshot_at=len(machine.journal) // 2)
    assert durable.engine.state_hash() == live.state_hash()
    durable.close()
    # from the snapshot + the journal after it
    engine, info = recover(tmp_path / "data", MACHINE_MARKETS, truncate=False)
    assert info.snapshot_seq == len(machine.journal) // 2
    assert engine.state_hash() == live.state_hash()
    engine._check()
    # from sequence 1
    (tmp_path / "data" / "snapshots").rename(tmp_path / "elsewhere")
    engine, info = recover(tmp_path / "data", MACHINE_MARKETS, truncate=False)
    assert info.snapshot_seq == 0 and engine.state_hash() == live.state_hash()
    # the snapshot's JSON round trip keeps the whole P2P state
    restored = decode_snapshot(encode_snapshot(live), MACHINE_MARKETS)
    assert restored.state_hash() == live.state_hash()
    def plain(e: Engine) -> object:
        return msgspec.json.decode(msgspec.json.encode(e.snapshot()))
    assert plain(restored)["p2p"] == plain(live)["p2p"]  # type: ignore[index]
    restored._check()


def test_the_state_hash_covers_the_p2p_state() -> None:
    machine = random_walk(seed=8, steps=120)
    engine = machine.market.engine
    before = engine.state_hash()
    trade = next(iter(engine.p2p.trades.values()))
    trade.price_minor += 1
    assert engine.state_hash() != before


T0 = 1_700_000_000 * S  # the journal's time before the outage


def _trade_on_disk(data_dir: Path) -> tuple[int, int]:
    """A journal on disk whose last command opened a trade at ``T0``; its id and
    ``pay_by``."""
    with DurableEngine.open(data_dir, MARKETS, config=QUIET) as durable:
        commands = [
            Deposit("BTC", minor("2"), user_id=1),
            AddPaymentMethod(1, "SEPA", "DE89"),
            PostAd(1, P2PSide.SELL, "BTC", "USD", fiat("50000.00"), 0, "", minor("1"),
                   minor("0.1"), minor("1"), (1,), 900, ""),
            TakeAd(2, 1, minor("0.5"), 0),
        ]
        durable.submit([(c, T0 - len(commands) + i) for i, c in enumerate(commands, 1)])
        trade = durable.engine.p2p.trades[1]
        assert trade.state == PENDING and durable.engine.last_ts == T0
        return trade.trade_id, trade.pay_by_ns


def test_a_restart_in_the_middle_of_a_trade_extends_its_deadline_by_the_downtime(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    tid, pay_by = _trade_on_disk(data)
    downtime = 2 * 3600 * S  # down for two hours: well past the 15-minute window
    with DurableEngine.open(data, MARKETS, config=QUIET) as durable:
        record_outage(durable, T0 + downtime)
        engine = durable.engine
        trade = engine.p2p.trades[tid]
        assert trade.state == PENDING, "the outage did not expire the trade"
        assert trade.pay_by_ns == pay_by + downtime
        # the buyer still has the window they had left when the exchange went down
        [(_, _, _, events)] = durable.submit([(MarkPaid(2, tid, PENDING), T0 + downtime + S)])
        assert [type(e) for e in events] == [P2PTradeChanged]
        assert engine.p2p.trades[tid].state == PAID
        live = engine.state_hash()
    engine2, info = recover(data, MARKETS, truncate=False)  # the outage is in the journal
    assert engine2.state_hash() == live
    assert info.replayed == 6


def test_without_the_outage_the_same_restart_would_have_expired_the_trade(
        tmp_path: Path) -> None:
    """The control: the deadline really passed during the downtime."""
    data = tmp_path / "data"
    tid, _ = _trade_on_disk(data)
    with DurableEngine.open(data, MARKETS, config=QUIET) as durable:
        durable.submit([(MarkPaid(2, tid, PENDING), T0 + 2 * 3600 * S)])
        assert durable.engine.p2p.trades[tid].state == TradeState.EXPIRED


def test_a_quick_restart_records_no_outage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _trade_on_disk(data)
    with DurableEngine.open(data, MARKETS, config=QUIET) as durable:
        record_outage(durable, T0 + OUTAGE_AFTER_NS)
        assert durable.engine.last_seq == 4


def test_an_outage_moves_paid_deadlines_and_never_expires_or_escalates() -> None:
    engine = Engine(MARKETS)
    seq = 0

    def apply(command: object, ts_ns: int) -> list[object]:
        nonlocal seq
        seq += 1
        events = engine.apply(seq, ts_ns, command)
        engine._check()
        return list(events)

    apply(Deposit("BTC", minor("2"), user_id=1), T0)
    apply(AddPaymentMethod(1, "SEPA", "x"), T0)
    apply(PostAd(1, P2PSide.SELL, "BTC", "USD", fiat("50000.00"), 0, "", minor("1"),
                 minor("0.1"), minor("1"), (1,), 900, ""), T0)
    apply(TakeAd(2, 1, minor("0.1"), 0), T0)
    apply(TakeAd(3, 1, minor("0.1"), 0), T0)
    apply(MarkPaid(3, 2, PENDING), T0)
    paid = engine.p2p.trades[2]
    appeal, escalate = paid.appeal_after_ns, paid.escalate_at_ns
    end = T0 + 2 * 86_400 * S  # past pay_by and escalate_at
    events = apply(RecordOutage(T0, end), end)
    assert [type(e) for e in events] == [DeadlinesExtended]
    assert events[0] == DeadlinesExtended(T0, end, end - T0, 2)
    assert engine.p2p.trades[1].state == PENDING
    assert (paid.state, paid.appeal_after_ns, paid.escalate_at_ns) == (
        PAID, appeal + end - T0, escalate + end - T0)
    # after the outage the clock runs again from where the trades were
    apply(ReleaseEscrow(1, 2, PAID), end + S)
    apply(OpenDispute(3, 2, PAID, "x", "y"), end + S)  # refused: completed
    assert engine.p2p.trades[2].state == TradeState.COMPLETED


def test_every_p2p_event_kind_round_trips_msgpack_and_json() -> None:
    desk = Desk()
    desk.apply(RemovePaymentMethod(1, desk.method(1)))
    tid = desk.disputed("2", qty="5", max_qty="5")  # over the second-approval amount
    desk.apply(ResolveDispute(90, tid, 1, "paid"))  # a proposal
    desk.apply(ReleaseEscrow(1, tid, TradeState.DISPUTED, "key"))
    desk.apply(ReleaseEscrow(1, tid, TradeState.DISPUTED, "key"))  # repeated
    desk.apply(LeaveFeedback(2, tid, True, "quick"))
    desk.apply(PostTradeMessage(2, tid, "thanks"))
    desk.apply(MarkPaid(2, tid, TradeState.PAID))  # refused
    ad_id = desk.post(1, qty="5", max_qty="1")
    for _ in range(3):  # banned at the third
        desk.apply(CancelTrade(2, desk.take(2, ad_id), TradeState.PENDING_PAYMENT))
    desk.apply(RecordOutage(desk.ts_ns, desk.ts_ns + S), ts_ns=desk.ts_ns + S)
    seen = {type(e): e for e in desk.log if isinstance(e, P2P_EVENT_KINDS)}
    assert set(seen) == set(P2P_EVENT_KINDS), set(P2P_EVENT_KINDS) - set(seen)
    for event in seen.values():
        for encode, decoder in ((msgspec.msgpack.encode, msgspec.msgpack.Decoder(AnyEvent)),
                                (msgspec.json.encode, msgspec.json.Decoder(AnyEvent))):
            assert decoder.decode(encode(event)) == event
