"""A Hypothesis state machine over the P2P desk: buyers, sellers, admins and the clock,
interleaved with deposits, orders, cancels, withdrawals and transfers.

After every step it checks P2P.md's ten invariants (the engine's ``_check`` asserts the
state ones: conservation with escrow, escrow = open sell ads + live trades, ...); this
file checks the ones about history, from the events:

1. conservation, and the ledger derived from the events equals the engine's balances;
2. escrow is never spent by an order, a withdrawal or a transfer (a command with no P2P
   event leaves every escrow balance as it was);
3. release or refund exactly once: a trade's money leaves escrow in one transition,
   all of it; a stale ``expected_state`` is refused and changes nothing;
4. terminal states absorb;
5. roles: the actor of each transition is the one the table allows;
6. no timer moves money after ``paid``;
7. a dispute freezes the trade: it leaves ``disputed`` only by the seller's release, a
   withdrawal by its opener or an admin's resolution;
8. price and quantity are fixed at take;
9. deadlines are sequencer time and an outage extends them by the downtime;
10. every transition is an event (the state the events tell is the engine's state).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from functools import partial

import pytest
from helpers import MARKETS, Market
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from p2p_helpers import fiat, minor

from matchbook.config import read_config
from matchbook.core import (
    AdvanceTime,
    CancelOrder,
    CreateAddress,
    Deposit,
    Markets,
    OrderType,
    PlaceOrder,
    ReinstateUser,
    RequestWithdrawal,
    Side,
    SuspendUser,
    Transfer,
    load_markets,
)
from matchbook.core.codes import Code
from matchbook.core.commands import (
    AddPaymentMethod,
    AdState,
    CancelAd,
    CancelTrade,
    DisputeOutcome,
    LeaveFeedback,
    MarkPaid,
    OpenDispute,
    P2PSide,
    PauseAd,
    PostAd,
    PostTradeMessage,
    RecordOutage,
    ReleaseEscrow,
    ResolveDispute,
    ResumeAd,
    TakeAd,
    WithdrawDispute,
)
from matchbook.core.events import (
    AdChanged,
    AddressCreated,
    AdPosted,
    AnyP2PEvent,
    DeadlinesExtended,
    Event,
    OrderAccepted,
    P2PRejected,
    P2PRepeated,
    P2PTradeChanged,
    P2PTradeOpened,
    PaymentMethodAdded,
)
from matchbook.core.ledger import balances, engine_balances, entries
from matchbook.core.p2p import (
    CANCELLED,
    COMPLETED,
    DISPUTED,
    EXPIRED,
    PAID,
    PENDING,
    RESOLVED_REFUND,
    RESOLVED_RELEASE,
    S,
)

USERS = (1, 2, 3, 4)
ADMINS_OF_ADS = (90, 91)  # the admins of the ``manage_ad`` rule


def _machine_markets() -> Markets:
    """The shipped markets with a low second-approval amount (0.2 BTC), so that both
    kinds of resolution happen often."""
    config = read_config()
    config["p2p"]["second_approval"] = {"BTC": "0.2"}
    return load_markets(config)


MACHINE_MARKETS = _machine_markets()
ADMINS = (90, 91)
TERMINAL = {COMPLETED, CANCELLED, EXPIRED, RESOLVED_RELEASE, RESOLVED_REFUND}
P2P_EVENTS = tuple(AnyP2PEvent.__args__)  # type: ignore[attr-defined]

users = st.sampled_from(USERS)
QTYS = ["0.01", "0.05", "0.1", "0.3", "1", "2"]
qtys = st.sampled_from(QTYS)
picks = st.integers(min_value=0, max_value=50)
keys = st.sampled_from(["", "", "new", "again"])
honest = st.sampled_from([True, True, True, False])  # the expected state is the real one


def has_trades(machine: P2PMachine) -> bool:
    return bool(machine.trades)


class P2PMachine(RuleBasedStateMachine):
    """The engine under test, and what the events said happened."""

    @initialize()
    def start(self) -> None:
        self.market = Market(markets=MACHINE_MARKETS)
        self.journal: list[tuple[object, int]] = []  # every command and its time
        self.all_events: list[list[Event]] = []
        self.addresses: dict[int, str] = {}
        self.methods: dict[int, list[int]] = {u: [] for u in USERS}
        self.orders: list[tuple[int, int]] = []
        self.ads: list[int] = []
        self.trades: list[int] = []
        self.told: dict[int, int] = {}  # trade id -> state, from the events only
        self.fixed: dict[int, tuple[int, int, int, int, int]] = {}  # what take fixed
        self.paid_out: dict[int, int] = {}  # trade id -> money out of escrow
        self.last_key, self.key_count = "", 0
        for user in USERS:
            self.do(Deposit("BTC", minor("5"), user_id=user))
            self.do(Deposit("USD", MARKETS.assets["USD"].to_minor("500000"), user_id=user))
            created = self.do(CreateAddress(user, "BTC"))
            self.addresses[user] = next(e.address for e in created
                                        if isinstance(e, AddressCreated))
            self.add_method(user, "SEPA")
        # a sell ad and a buy ad to take from the first step
        self.do(PostAd(1, P2PSide.SELL, "BTC", "USD", fiat("50000.00"), 0, "", minor("3"),
                       minor("0.01"), minor("1"), tuple(self.methods[1]), 300, ""))
        self.do(PostAd(3, P2PSide.BUY, "BTC", "USD", 0, 100, "BTC-USD", minor("3"),
                       minor("0.01"), minor("1"), tuple(self.methods[3]), 900, ""))
        self.do(PlaceOrder(4, "BTC-USD", Side.BUY, OrderType.LIMIT, 10, 4_990_000))
        self.do(PlaceOrder(4, "BTC-USD", Side.SELL, OrderType.LIMIT, 10, 5_010_000))

    # -- the sequencer --------------------------------------------------------------

    def do(self, command: object, ts_ns: int | None = None) -> list[Event]:
        engine = self.market.engine
        self.journal.append((command, ts_ns if ts_ns is not None else self.market.ts_ns + 1))
        escrow_before = dict(engine.escrow_balances)
        user_escrow_before = {u: dict(v) for u, v in engine.p2p.user_escrow.items()}
        events = self.market.apply(command, ts_ns=ts_ns)  # runs Engine._check()
        self.all_events.append(events)
        if not any(isinstance(e, P2P_EVENTS) for e in events):  # invariant 2
            assert engine.escrow_balances == escrow_before, (command, events)
            assert engine.p2p.user_escrow == user_escrow_before
        self.follow(events)
        return events

    def follow(self, events: list[Event]) -> None:
        """Fold the events into what they tell, checking the table's rules."""
        engine = self.market.engine
        for e in events:
            if isinstance(e, P2PTradeOpened):
                assert e.trade_id not in self.told
                self.told[e.trade_id] = PENDING
                self.fixed[e.trade_id] = (e.qty_minor, e.price_minor, e.fiat_amount_minor,
                                          e.buyer_id, e.seller_id)
                self.trades.append(e.trade_id)
            elif isinstance(e, P2PTradeChanged):
                tid, before, after, actor = e.trade_id, e.from_state, e.to_state, e.actor_id
                assert self.told[tid] == before, "a transition the events did not tell"
                assert before not in TERMINAL, "terminal states absorb"  # 4
                qty, _, _, buyer, seller = self.fixed[tid]
                money = e.to_buyer_minor + e.fee_minor + e.to_seller_minor + e.to_ad_minor
                # 3: all of the escrow, exactly once, and only when the trade ends
                if after in TERMINAL:
                    assert money == qty and tid not in self.paid_out
                    self.paid_out[tid] = money
                else:
                    assert money == 0
                # 5: roles
                expected_actors = {
                    PAID: {buyer} if before == PENDING else {buyer, seller},  # or withdrawn
                    COMPLETED: {seller},
                    CANCELLED: {buyer},
                    EXPIRED: {0},
                    DISPUTED: {buyer, seller, 0},
                }
                if after in (RESOLVED_RELEASE, RESOLVED_REFUND):
                    assert actor in ADMINS
                else:
                    assert actor in expected_actors[after], (before, after, actor)
                # 6: after paid, a timer only escalates
                if actor == 0:
                    assert (before, after) in {(PENDING, EXPIRED), (PAID, DISPUTED)}
                # 7: a dispute freezes the trade
                if before == DISPUTED:
                    assert after in (COMPLETED, PAID, RESOLVED_RELEASE, RESOLVED_REFUND) and actor
                if after == COMPLETED or after == RESOLVED_RELEASE:
                    assert e.to_buyer_minor + e.fee_minor == qty
                    assert e.fee_minor == qty * MARKETS.p2p.fee_bps // 10_000
                self.told[tid] = after
            elif isinstance(e, AdPosted):
                self.ads.append(e.ad_id)
        # 10: the state the events tell is the engine's; 8: fixed at take
        for tid, state in self.told.items():
            trade = engine.p2p.trades[tid]
            assert trade.state == state
            assert (trade.qty_minor, trade.price_minor, trade.fiat_amount_minor,
                    trade.buyer_id, trade.seller_id) == self.fixed[tid]

    def add_method(self, user: int, name: str) -> None:
        for e in self.do(AddPaymentMethod(user, name, f"{name} account of {user}")):
            if isinstance(e, PaymentMethodAdded):
                self.methods[user].append(e.method_id)

    def pick(self, items: list[int], index: int) -> int:
        return items[index % len(items)] if items else index + 1

    def trade_state(self, tid: int) -> int:
        trades = self.market.engine.p2p.trades
        return int(trades[tid].state) if tid in trades else 0

    # -- accounts and the order book -------------------------------------------------

    @rule(user=users, to=users, amount=qtys,
          action=st.sampled_from(["deposit", "withdraw", "transfer"]))
    def wallet(self, user: int, to: int, amount: str, action: str) -> None:
        if action == "deposit":
            self.do(Deposit("BTC", minor(amount), user_id=user))
        elif action == "withdraw":
            self.do(RequestWithdrawal(user, "BTC", minor(amount), "bc1q-out"))
        else:
            self.do(Transfer(user, self.addresses[to], "BTC", minor(amount)))

    @rule(user=users, side=st.sampled_from([Side.BUY, Side.SELL]),
          lots=st.integers(1, 40_000), offset=st.integers(-300, 300), index=picks,
          cancel=st.booleans())
    def book(self, user: int, side: int, lots: int, offset: int, index: int,
             cancel: bool) -> None:
        if cancel and self.orders:
            owner, oid = self.orders.pop(index % len(self.orders))
            self.do(CancelOrder(owner, oid))
            return
        price = 5_000_000 + offset * 100  # around 50,000.00 USD
        for e in self.do(PlaceOrder(user, "BTC-USD", side, OrderType.LIMIT, lots, price)):
            if isinstance(e, OrderAccepted):
                self.orders.append((user, e.order_id))

    # -- makers ------------------------------------------------------------------------

    @rule(user=users, name=st.sampled_from(["SEPA", "Revolut"]))
    def payment_method(self, user: int, name: str) -> None:
        self.add_method(user, name)

    @rule(user=users, side=st.sampled_from(list(P2PSide)), qty=qtys,
          price=st.sampled_from(["49000.00", "50000.00", "0.50"]),
          margin=st.sampled_from([None, -200, 0, 150]), window=st.sampled_from([300, 900]))
    def post_ad(self, user: int, side: int, qty: str, price: str, margin: int | None,
                window: int) -> None:
        methods = tuple(self.methods[user][-2:]) or (999,)
        total = minor(qty)
        price_minor, symbol, bps = fiat(price), "", 0
        if margin is not None:
            price_minor, symbol, bps = 0, "BTC-USD", margin
        self.do(PostAd(user, side, "BTC", "USD", price_minor, bps, symbol, total,
                       min(total, minor("0.01")), total, methods, window, "terms"))

    @rule(user=users, index=picks, action=st.sampled_from(
        ["pause", "resume", "resume", "cancel", "moderate", "admin-pause", "admin-resume"]))
    def manage_ad(self, user: int, index: int, action: str) -> None:
        ad_id = self.pick(self.ads, index)
        desk = self.market.engine.p2p
        ads = desk.ads
        owner = ads[ad_id].user_id if ad_id in ads and user % 2 else user
        locked = ad_id in desk.admin_paused
        command = {"pause": PauseAd(owner, ad_id), "resume": ResumeAd(owner, ad_id),
                   "cancel": CancelAd(owner, ad_id),
                   "moderate": CancelAd(0, ad_id, admin_id=90, reason="moderation"),
                   "admin-pause": PauseAd(0, ad_id, admin_id=91, reason="review"),
                   "admin-resume": ResumeAd(0, ad_id, admin_id=90)}[action]
        events = self.do(command)
        if action == "resume" and locked:  # only an admin lifts an admin's pause
            assert any(isinstance(e, P2PRejected) for e in events), events
            assert ads[ad_id].state == AdState.PAUSED and ad_id in desk.admin_paused

    @rule(user=users, reinstate=st.booleans())
    def suspension(self, user: int, reinstate: bool) -> None:
        """An operator suspends a user: their ads end, no trade of theirs changes; a
        reinstatement reopens nothing."""
        engine = self.market.engine
        if reinstate:
            states = {aid: ad.state for aid, ad in engine.p2p.ads.items()}
            self.do(ReinstateUser(user))
            assert {aid: ad.state for aid, ad in engine.p2p.ads.items()} == states
            return
        events = self.do(SuspendUser(user, end_p2p_ads=True))
        # no trade changes, but for a deadline the clock fired before the command
        assert all((e.from_state, e.to_state, e.actor_id) in {(PENDING, EXPIRED, 0),
                                                              (PAID, DISPUTED, 0)}
                   for e in events if isinstance(e, P2PTradeChanged))
        assert not any(isinstance(e, P2PTradeOpened) for e in events)
        # the ads the suspension ended, oldest first (a deadline the clock fired before the
        # command may change another ad first: its trade expired and gave back quantity)
        ended = [e.ad_id for e in events
                 if isinstance(e, AdChanged) and e.reason == "user suspended"]
        assert ended == sorted(ended)
        assert all(e.user_id == user and e.state == AdState.CANCELLED
                   for e in events if isinstance(e, AdChanged) and e.reason == "user suspended")
        assert all(ad.state == AdState.CANCELLED for ad in engine.p2p.ads.values()
                   if ad.user_id == user)

    # -- takers, buyers, sellers, admins --------------------------------------------------

    @rule(user=users, index=picks, share=st.sampled_from([0, 1, 10, 50, 100, 101]),
          key=keys, pay=st.booleans())
    def take(self, user: int, index: int, share: int, key: str, pay: bool) -> None:
        """``share``: percent of what the ad still offers per take (101: too much)."""
        ads = self.market.engine.p2p.ads
        open_ads = [a for a in self.ads if ads[a].state == AdState.OPEN]
        ad_id = self.pick(open_ads if open_ads and index % 4 else self.ads, index)
        ad = ads.get(ad_id)
        qty = minor("0.1")
        if ad is not None:
            most = min(ad.max_qty_minor, ad.remaining_minor)
            qty = max(ad.min_qty_minor, most * share // 100) if share <= 100 else most + 1
            if user == ad.user_id and user % 2:
                user = USERS[user % len(USERS)]  # mostly someone else's ad
        events = self.keyed(TakeAd(user, ad_id, qty, 0, self.key(key)))
        opened = [e for e in events if isinstance(e, P2PTradeOpened)]
        if pay and opened:  # the buyer pays at once (more trades reach the later states)
            self.do(MarkPaid(opened[0].buyer_id, opened[0].trade_id, PENDING))

    def key(self, choice: str) -> str:
        """An idempotency key: none, a fresh one, or the last one again."""
        if choice == "new" or (choice == "again" and not self.last_key):
            self.key_count += 1
            self.last_key = f"key-{self.key_count}"
        return self.last_key if choice else ""

    def keyed(self, command: object) -> list[Event]:
        """Apply; a repeated key must answer the first answer and change nothing (but
        what time does first: deadlines, and forgetting keys older than a day)."""
        key = getattr(command, "idempotency_key", "")
        engine = self.market.engine
        twin = copy.deepcopy(engine) if key else None
        events = self.do(command)
        if twin is not None and events and isinstance(events[-1], P2PRepeated):
            twin.apply(self.market.seq, self.market.ts_ns, AdvanceTime())
            twin.p2p._forget_old_keys()  # what a command with a key does first
            assert engine.state_hash() == twin.state_hash(), "a repeat changed the state"
        return events

    def trade_command(self, index: int, truthful: bool, build: type, role: str,
                      key: str = "", **fields: object) -> list[Event]:
        tid = self.pick(self.trades, index)
        trades = self.market.engine.p2p.trades
        state = self.trade_state(tid)
        user = 1
        if tid in trades:
            trade = trades[tid]
            user = {"buyer": trade.buyer_id, "seller": trade.seller_id,
                    "other": next(u for u in USERS if u not in (trade.buyer_id,
                                                                  trade.seller_id))}[role]
        expected = state if truthful else (state % 8) + 1
        command = build(user, tid, expected, **fields, idempotency_key=self.key(key))
        events = self.keyed(command)
        moves = [e for e in events if isinstance(e, P2PTradeChanged)]
        if not truthful and state and not any(e.actor_id == 0 for e in moves):
            # 3: a stale state is refused, never becomes another transition
            assert not moves, (command, events)
            refused = [e for e in events if isinstance(e, P2PRejected)]
            assert not refused or refused[0].code in (
                Code.STATE_MISMATCH, Code.NOT_YOUR_ROLE, Code.PAYMENT_WINDOW_PASSED,
                Code.UNKNOWN_P2P_TRADE)
        return events

    @precondition(has_trades)
    @rule(index=picks, choice=st.integers(0, 5), admin=st.sampled_from(ADMINS))
    def progress(self, index: int, choice: int, admin: int) -> None:
        """A live trade's next step, taken by the party allowed to take it."""
        trades = self.market.engine.p2p.trades
        live = [t for t in self.trades if trades[t].state in (PENDING, PAID, DISPUTED)]
        if not live:
            return
        trade = trades[self.pick(live, index)]
        tid, state, buyer, seller = trade.trade_id, trade.state, trade.buyer_id, trade.seller_id
        if state == PENDING:
            self.do(CancelTrade(buyer, tid, PENDING) if choice >= 4
                    else MarkPaid(buyer, tid, PENDING))
        elif state == PAID:
            if choice < 2:
                self.do(ReleaseEscrow(seller, tid, PAID))
            elif choice == 2:
                self.do(CancelTrade(buyer, tid, PAID, confirm=True))
            else:
                if trade.appeal_after_ns > self.market.ts_ns:
                    self.do(AdvanceTime(), ts_ns=trade.appeal_after_ns)
                self.do(OpenDispute(seller if choice == 3 else buyer, tid, PAID, "no", "no"))
        elif choice < 3:
            outcome = DisputeOutcome.RELEASE if choice < 2 else DisputeOutcome.REFUND
            self.do(ResolveDispute(admin, tid, outcome, "checked"))
        elif choice == 3:
            self.do(ReleaseEscrow(seller, tid, DISPUTED))
        else:
            self.do(WithdrawDispute(trade.dispute_opener or buyer, tid, DISPUTED))

    @precondition(has_trades)
    @rule(index=picks, truthful=honest, role=st.sampled_from(["buyer", "seller"]),
          key=keys)
    def mark_paid(self, index: int, truthful: bool, role: str, key: str) -> None:
        self.trade_command(index, truthful, MarkPaid, role, key)

    @precondition(has_trades)
    @rule(index=picks, truthful=honest, role=st.sampled_from(["seller", "buyer"]),
          key=keys)
    def release(self, index: int, truthful: bool, role: str, key: str) -> None:
        self.trade_command(index, truthful, ReleaseEscrow, role, key)

    @precondition(has_trades)
    @rule(index=picks, truthful=honest, role=st.sampled_from(["buyer", "seller"]),
          confirm=st.booleans())
    def cancel_trade(self, index: int, truthful: bool, role: str, confirm: bool) -> None:
        self.trade_command(index, truthful, CancelTrade, role, confirm=confirm)

    @precondition(has_trades)
    @rule(index=picks, truthful=honest, role=st.sampled_from(["buyer", "seller",
                                                                     "other"]),
          wait=st.booleans())
    def dispute(self, index: int, truthful: bool, role: str, wait: bool) -> None:
        """``wait``: the clock first reaches the trade's appeal time (if paid)."""
        trade = self.market.engine.p2p.trades.get(self.pick(self.trades, index))
        if wait and trade is not None and trade.state == PAID and (
                trade.appeal_after_ns > self.market.ts_ns):
            self.do(AdvanceTime(), ts_ns=trade.appeal_after_ns)
        self.trade_command(index, truthful, OpenDispute, role, reason="not received",
                           text="no money")

    @precondition(has_trades)
    @rule(index=picks, truthful=honest, role=st.sampled_from(["buyer", "seller"]))
    def withdraw_dispute(self, index: int, truthful: bool, role: str) -> None:
        self.trade_command(index, truthful, WithdrawDispute, role)

    @precondition(has_trades)
    @rule(index=picks, admin=st.sampled_from(ADMINS), outcome=st.sampled_from(
        list(DisputeOutcome)), truthful=honest)
    def resolve(self, index: int, admin: int, outcome: int, truthful: bool) -> None:
        tid = self.pick(self.trades, index)
        state = self.trade_state(tid)
        expected = state if truthful else (state % 8) + 1
        self.do(ResolveDispute(admin, tid, outcome, "decided", expected))

    @precondition(has_trades)
    @rule(index=picks, user=users, positive=st.booleans(), chat=st.booleans())
    def feedback_or_chat(self, index: int, user: int, positive: bool, chat: bool) -> None:
        tid = self.pick(self.trades, index)
        self.do(PostTradeMessage(user, tid, "hello") if chat
                else LeaveFeedback(user, tid, positive))

    # -- the clock ---------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 60, 299, 300, 901, 3600, 86_400, 90_000]))
    def tick(self, seconds: int) -> None:
        self.do(PlaceOrder(1, "BTC-USD", Side.BUY, OrderType.LIMIT, 1, 1),
                ts_ns=self.market.ts_ns + seconds * S)  # an order path command lands late

    @precondition(has_trades)
    @rule(index=picks, which=st.sampled_from(["pay_by", "appeal", "escalate"]),
          delta=st.sampled_from([-1, 0, 1]))
    def to_a_deadline(self, index: int, which: str, delta: int) -> None:
        trade = self.market.engine.p2p.trades[self.pick(self.trades, index)]
        target = {"pay_by": trade.pay_by_ns, "appeal": trade.appeal_after_ns,
                  "escalate": trade.escalate_at_ns}[which] + delta
        if target > self.market.ts_ns:
            self.do(AdvanceTime(), ts_ns=target)

    @rule(seconds=st.sampled_from([30, 600, 7200, 100_000]))
    def outage(self, seconds: int) -> None:
        """The exchange was down: the restart records it before any other command."""
        engine = self.market.engine
        start = self.market.ts_ns
        end = start + seconds * S
        before = {tid: t.deadlines() for tid, t in engine.p2p.trades.items()}
        events = self.do(RecordOutage(start, end), ts_ns=end)
        extended = [e for e in events if isinstance(e, DeadlinesExtended)]
        assert len(extended) == 1 and extended[0].downtime_ns == seconds * S
        for tid, (pay_by, appeal, escalate) in before.items():  # 9
            after = engine.p2p.trades[tid].deadlines()
            if engine.p2p.trades[tid].state in (PENDING, PAID, DISPUTED):
                shift = seconds * S
                assert after == tuple(d + shift if d else 0 for d in (pay_by, appeal,
                                                                      escalate))

    # -- after every step ---------------------------------------------------------------

    @invariant()
    def ledger_matches_the_engine(self) -> None:
        if not hasattr(self, "market"):
            return
        engine = self.market.engine
        got = balances(e for seq, evs in enumerate(self.all_events, 1)
                       for e in entries(seq, evs, MACHINE_MARKETS))
        want = engine_balances({u: (a.available, a.held) for u, a in engine.accounts.items()},
                               engine.fee_balances, engine.external_balances,
                               engine.escrow_balances)
        assert got == want

    def teardown(self) -> None:
        if hasattr(self, "market"):
            self.market.engine._check()


def locked_ad(machine: P2PMachine, index: int) -> int:
    """The index in ``machine.ads`` of an ad an admin paused, else ``index``."""
    locked = machine.market.engine.p2p.admin_paused
    return next((i for i, ad_id in enumerate(machine.ads) if ad_id in locked), index)


def suspend_or_reinstate(machine: P2PMachine, rng: random.Random) -> None:
    """Reinstate the suspended user, else suspend one: one at a time, so the walk keeps
    its traders."""
    suspended = sorted(machine.market.engine.suspended)
    if suspended:
        machine.suspension(rng.choice(suspended), True)
    else:
        machine.suspension(rng.choice(USERS), False)


def random_walk(seed: int, steps: int, *, moderation: bool = False) -> P2PMachine:
    """The machine's rules in a seeded random order with random arguments (the same
    checks after every step), for long deterministic runs and a journal to replay."""
    rng = random.Random(seed)
    machine = P2PMachine()
    machine.start()
    c = rng.choice
    pick = partial(rng.randint, 0, 50)
    key = partial(c, ["", "", "new", "again"])
    honest = partial(c, [True, True, True, False])
    two = partial(c, ["buyer", "seller"])
    m = machine
    actions: list[Callable[[], None]] = [
        lambda: m.wallet(c(USERS), c(USERS), c(QTYS), c(["deposit", "withdraw", "transfer"])),
        lambda: m.book(c(USERS), c([Side.BUY, Side.SELL]), rng.randint(1, 40_000),
                       rng.randint(-300, 300), pick(), rng.random() < 0.3),
        lambda: m.payment_method(c(USERS), c(["SEPA", "Revolut"])),
        lambda: m.post_ad(c(USERS), c(list(P2PSide)), c(QTYS), c(["50000.00", "0.50"]),
                          c([None, -200, 150]), c([300, 900])),
        lambda: m.manage_ad(c(USERS), pick(), c(["pause", "resume", "resume", "cancel",
                                                  "moderate"])),
        lambda: m.take(c(USERS), pick(), c([0, 1, 10, 50, 100, 101]), key(), c([True, False])),
        lambda: m.take(c(USERS), pick(), c([1, 10, 50]), key(), c([True, False])),
        lambda: m.tick(c([1, 60, 299, 300, 901, 3600, 86_400, 90_000])),
        lambda: m.outage(c([30, 600, 7200, 100_000])),
        lambda: m.feedback_or_chat(pick(), c(USERS), c([True, False]), c([True, False])),
    ]
    with_trades: list[Callable[[], None]] = [
        lambda: m.progress(pick(), rng.randint(0, 5), c(ADMINS)),
        lambda: m.progress(pick(), rng.randint(0, 5), c(ADMINS)),
        lambda: m.progress(pick(), rng.randint(0, 5), c(ADMINS)),
        lambda: m.mark_paid(pick(), honest(), two(), key()),
        lambda: m.release(pick(), honest(), two(), key()),
        lambda: m.cancel_trade(pick(), honest(), two(), c([True, False])),
        lambda: m.dispute(pick(), honest(), c(["buyer", "seller", "other"]), c([True, False])),
        lambda: m.withdraw_dispute(pick(), honest(), two()),
        lambda: m.resolve(pick(), c(ADMINS), c(list(DisputeOutcome)), honest()),
        lambda: m.to_a_deadline(pick(), c(["pay_by", "appeal", "escalate"]), c([-1, 0, 1])),
    ]
    if moderation:  # admins pause and resume ads, operators suspend and reinstate users
        actions += [
            lambda: m.manage_ad(c(USERS), pick(), c(["admin-pause", "admin-resume"])),
            lambda: m.manage_ad(c(USERS), locked_ad(m, pick()), "admin-resume"),
            lambda: m.manage_ad(1, locked_ad(m, pick()), "resume"),  # by its maker (user odd)
            lambda: suspend_or_reinstate(m, rng),
        ]
    for _ in range(steps):
        rng.choice(actions + with_trades if machine.trades else actions)()
        machine.ledger_matches_the_engine()
    machine.teardown()
    return machine


def test_a_long_random_walk_reaches_every_transition_and_keeps_every_invariant() -> None:
    machine = random_walk(seed=13, steps=600)
    seen = {(e.from_state, e.to_state, bool(e.actor_id)) for evs in machine.all_events
            for e in evs if isinstance(e, P2PTradeChanged)}
    table = {(PENDING, PAID, True), (PENDING, CANCELLED, True), (PENDING, EXPIRED, False),
             (PAID, COMPLETED, True), (PAID, CANCELLED, True), (PAID, DISPUTED, True),
             (PAID, DISPUTED, False), (DISPUTED, COMPLETED, True), (DISPUTED, PAID, True),
             (DISPUTED, RESOLVED_RELEASE, True), (DISPUTED, RESOLVED_REFUND, True)}
    assert seen == table, table - seen


def test_a_random_walk_with_moderation_and_suspensions_keeps_every_invariant() -> None:
    machine = random_walk(seed=13, steps=600, moderation=True)
    changes = [e for evs in machine.all_events for e in evs if isinstance(e, AdChanged)]
    assert any(e.actor_id in ADMINS_OF_ADS and e.state == AdState.PAUSED for e in changes)
    assert any(e.actor_id in ADMINS_OF_ADS and e.state == AdState.OPEN for e in changes)
    assert any(e.reason == "user suspended" and e.escrow_returned_minor for e in changes)
    refused = [e for evs in machine.all_events for e in evs if isinstance(e, P2PRejected)]
    assert any(e.code == Code.AD_PAUSED_BY_ADMIN for e in refused)


TestP2PMachine = P2PMachine.TestCase
TestP2PMachine.settings = settings(max_examples=25, stateful_step_count=40, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
def test_p2p_machine_deep() -> None:
    """The same machine, longer runs and many more of them."""
    from hypothesis.stateful import run_state_machine_as_test
    run_state_machine_as_test(P2PMachine, settings=settings(
        max_examples=200, stateful_step_count=60, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_random_walks(seed: int) -> None:
    random_walk(seed=seed, steps=3000, moderation=seed == 3)
