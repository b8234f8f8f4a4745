"""Stateful property tests of the engine with accounts, plus determinism and snapshots.

``EngineMachine`` drives a real ``Engine(accounts=True)`` with a few funded users through
deposits (by user and by wallet address), withdrawals (requested, completed, rejected),
transfers by address, balance adjustments, orders of every type, cancels, cancel-all,
amends, time advances and snapshot/restore cycles. After every command it checks the
events against the state, and after every step the invariants:

* ``Engine._check()`` (conservation per asset, no negative balance, held == holds of
  open orders and pending withdrawals, indexes consistent);
* the book is never crossed;
* FIFO within a level: orders that stayed in a level keep their relative order and come
  before every order that entered (or re-entered) it during the command;
* for every order seen in events: fills never exceed the ordered quantity, leaves and
  filled quantities add up, and a closed order never appears again;
* traded quantity is conserved: each trade is followed by the maker's and the taker's
  fill for the same quantity, price and fees;
* ``BookLevelChanged`` events tell the truth: the last one per level equals the level's
  new state, and every level that changed has one;
* balances follow from the events: per user and asset, available + held equals what the
  deposits, transfers, withdrawals, adjustments and trades say; the fee account equals
  the sum of trade fees; the external account mirrors deposits and withdrawals;
* a rejected command emits only the rejection and changes nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from matchbook.config import default_markets
from matchbook.core import (
    AdjustBalance,
    AdvanceTime,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    Engine,
    PlaceOrder,
    RejectWithdrawal,
    RequestWithdrawal,
    Transfer,
)
from matchbook.core.events import (
    AddressCreated,
    BalanceAdjusted,
    BookLevelChanged,
    CommandRejected,
    Deposited,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
    Transferred,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)
from workload import Sequenced, Workload, engine_view

MARKETS = default_markets()
SYMBOLS = ("BTC-USD", "ETH-BTC")
ASSETS = ("BTC", "ETH", "USD")
USERS = (1, 2, 3)
START_TS_NS = 1_700_000_000_000_000_000
MS_NS = 1_000_000
MID_TICKS = {"BTC-USD": 5_000_000, "ETH-BTC": 5_000}
STEP_TICKS = {"BTC-USD": 1, "ETH-BTC": 4}
OPENING = {"USD": 3_000_000_000, "BTC": 20_000_000, "ETH": 2_000_000_000}  # $3000, .2, 20

BUY, SELL = 1, 2
LIMIT, MARKET, STOP_LIMIT, STOP_MARKET = 1, 2, 3, 4


LIMIT_ORDERS = st.tuples(
    st.sampled_from(USERS), st.sampled_from(SYMBOLS), st.sampled_from((BUY, SELL)),
    st.integers(-4, 6),  # price: steps on the passive side of the last price
    st.integers(1, 40),  # lots
    st.sampled_from((1, 1, 2, 3, 4)),  # time in force
    st.integers(0, 8),  # display
    st.booleans(),  # post-only
    st.integers(1, 4),  # self-trade prevention
    st.integers(1, 40),  # GTD expiry, ms ahead
    st.sampled_from(("", "", "a", "b")),  # client order id
)


@dataclass
class OrderModel:
    """An order as the events describe it."""

    qty: int
    leaves: int
    fills: int = 0
    pending: bool = False
    closed: bool = False


LevelKey = tuple[str, int, int]


def _levels(engine: Engine) -> dict[LevelKey, tuple[int, int]]:
    return {(name, side, price): (total, count)
            for name, book in engine.books.items() for side in (BUY, SELL)
            for price, total, count in book.depth(side)}


def _queues(engine: Engine) -> dict[LevelKey, list[tuple[int, int]]]:
    """Every level's queue as ``(order_id, visible)`` in time priority."""
    return {(name, side, price): [(o.order_id, o.visible) for o in book.orders_at(side, price)]
            for name, book in engine.books.items() for side in (BUY, SELL)
            for price, _, _ in book.depth(side)}


def _without_clock(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "last"}


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(MARKETS, accounts=True)
        self.seq = 0
        self.ts_ns = START_TS_NS
        self.orders: dict[int, OrderModel] = {}
        self.next_trade_id = 1
        self.totals: Counter[tuple[int, str]] = Counter()  # available + held, per events
        self.fees: Counter[str] = Counter()
        self.external: Counter[str] = Counter()
        self.withdrawals: list[int] = []
        self.addresses: dict[tuple[int, str], str] = {}

    # ------------------------------------------------------------------ applying

    def apply(self, command: object, advance_ns: int = 100_000) -> list[Event]:
        engine = self.engine
        self.seq += 1
        self.ts_ns += advance_ns
        expiring = any(o.expire_ts and o.expire_ts <= self.ts_ns for o in engine.orders.values())
        before_state = None if expiring else _without_clock(engine.snapshot())
        before_levels = _levels(engine)
        before_queues = _queues(engine)
        events = engine.apply(self.seq, self.ts_ns, command)
        self._check_rejection(events, before_state)
        moved, maker_fills = self._check_orders(events)
        self._check_trades(events)
        self._check_levels(events, before_levels)
        self._check_fifo(before_queues, moved, maker_fills)
        self._follow_money(events)
        return events

    def _check_rejection(self, events: list[Event], before: dict[str, Any] | None) -> None:
        rejections = [e for e in events if isinstance(e, OrderRejected | CommandRejected)]
        if not rejections:
            return
        assert len(rejections) == 1 and events[-1] is rejections[0], events
        assert all(isinstance(e, OrderExpired | BookLevelChanged) for e in events[:-1]), events
        if before is not None:
            assert _without_clock(self.engine.snapshot()) == before, "a rejection changed state"

    def _check_orders(self, events: list[Event]) -> tuple[set[int], Counter[int]]:
        """Follow every order through its events. Returns the ids that entered a level
        anew by amendment or trigger, and each maker's filled lots in this command."""
        orders = self.orders
        moved: set[int] = set()
        maker_fills: Counter[int] = Counter()
        for e in events:
            if isinstance(e, OrderAccepted):
                assert e.order_id not in orders, f"order id {e.order_id} reused"
                assert e.order_id == max(orders, default=0) + 1, "order ids are consecutive"
                orders[e.order_id] = OrderModel(e.qty_lots, e.qty_lots,
                                                pending=e.order_type in (STOP_LIMIT, STOP_MARKET))
                continue
            oid = getattr(e, "order_id", None)
            if oid is None or isinstance(e, OrderRejected):
                continue
            model = orders.get(oid)
            assert model is not None, f"event for an order never accepted: {e}"
            assert not model.closed, f"event for closed order {oid}: {e}"
            if isinstance(e, OrderFilled):
                assert not model.pending
                assert e.leaves_lots == model.leaves - e.qty_lots, e
                model.fills += e.qty_lots
                model.leaves = e.leaves_lots
                assert e.qty_lots > 0 and model.fills <= model.qty, "filled more than ordered"
                assert e.filled_lots == model.fills, e
                assert e.filled_lots + e.leaves_lots == model.qty, e
                if e.is_maker:
                    maker_fills[oid] += e.qty_lots
                model.closed = e.leaves_lots == 0
            elif isinstance(e, OrderCancelled):
                assert e.cancelled_lots > 0 and e.cancelled_lots + e.leaves_lots == model.leaves, e
                model.leaves = e.leaves_lots
                model.closed = e.leaves_lots == 0
                if not model.closed:  # self-trade decrement: the order itself shrinks
                    model.qty -= e.cancelled_lots
            elif isinstance(e, OrderExpired):
                assert e.leaves_lots == model.leaves > 0, e
                model.closed = True
            elif isinstance(e, OrderTriggered):
                assert model.pending, f"order {oid} triggered twice or is not a stop"
                model.pending = False
                moved.add(oid)
            elif isinstance(e, OrderAmended):
                assert not model.pending
                assert e.leaves_lots == e.qty_lots - (model.qty - model.leaves), e
                model.qty, model.leaves = e.qty_lots, e.leaves_lots
                if not e.priority_kept:
                    moved.add(oid)
        open_ids = {oid for oid, m in orders.items() if not m.closed}
        assert open_ids == set(self.engine.orders), (
            f"events say open {sorted(open_ids ^ set(self.engine.orders))} differently")
        for oid in open_ids:
            live = self.engine.orders[oid]
            assert (live.qty, live.leaves) == (orders[oid].qty, orders[oid].leaves)
            assert bool(live.stop_price) == orders[oid].pending
        return moved, maker_fills

    def _check_trades(self, events: list[Event]) -> None:
        maker_total = taker_total = traded = 0
        for i, e in enumerate(events):
            if not isinstance(e, TradeExecuted):
                continue
            assert e.trade_id == self.next_trade_id, "trade ids are consecutive"
            self.next_trade_id += 1
            maker, taker = events[i + 1], events[i + 2]
            assert isinstance(maker, OrderFilled) and isinstance(taker, OrderFilled)
            assert maker.is_maker and not taker.is_maker
            assert (maker.order_id, taker.order_id) == (e.maker_order_id, e.taker_order_id)
            assert (maker.user_id, taker.user_id) == (e.maker_user_id, e.taker_user_id)
            assert maker.trade_id == taker.trade_id == e.trade_id
            assert maker.price_ticks == taker.price_ticks == e.price_ticks
            assert (maker.fee_minor, taker.fee_minor) == (e.maker_fee_minor, e.taker_fee_minor)
            sym = MARKETS.symbols[e.symbol]
            assert e.notional_minor == e.price_ticks * e.qty_lots * sym.quote_per_tick_lot
            assert e.base_minor == e.qty_lots * sym.base_per_lot
            assert e.taker_fee_minor == e.notional_minor * sym.fees.taker_ppm // 1_000_000
            assert e.maker_fee_minor == e.notional_minor * sym.fees.maker_ppm // 1_000_000
            traded += e.qty_lots
            maker_total += maker.qty_lots
            taker_total += taker.qty_lots
        fills = [e for e in events if isinstance(e, OrderFilled)]
        assert sum(f.qty_lots for f in fills if f.is_maker) == maker_total == traded
        assert sum(f.qty_lots for f in fills if not f.is_maker) == taker_total == traded

    def _check_levels(self, events: list[Event], before: dict[LevelKey, tuple[int, int]]) -> None:
        after = _levels(self.engine)
        reported: dict[LevelKey, tuple[int, int]] = {}
        for e in events:
            if isinstance(e, BookLevelChanged):
                reported[(e.symbol, e.side, e.price_ticks)] = (e.qty_lots, e.order_count)
        for key, state in reported.items():
            assert after.get(key, (0, 0)) == state, f"level {key} is {after.get(key)}, said {state}"
        for key in set(before) | set(after):
            if before.get(key) != after.get(key):
                assert key in reported, f"level {key} changed without BookLevelChanged"

    def _check_fifo(self, before: dict[LevelKey, list[tuple[int, int]]], moved: set[int],
                    maker_fills: Counter[int]) -> None:
        # an iceberg whose whole peak was taken got a new peak at the back of its level
        visible_before = {oid: visible for queue in before.values() for oid, visible in queue}
        refilled = {oid for oid, qty in maker_fills.items() if qty >= visible_before.get(oid, 0)}
        for key, queue in _queues(self.engine).items():
            earlier = [oid for oid, _ in before.get(key, [])]
            stayed = [oid for oid, _ in queue
                      if oid in earlier and oid not in moved and oid not in refilled]
            assert [oid for oid, _ in queue[:len(stayed)]] == stayed, (
                f"level {key}: orders {[o for o, _ in queue]} jumped ahead of {stayed}")
            assert stayed == [oid for oid in earlier if oid in stayed], (
                f"level {key}: queue order changed {earlier} -> {[o for o, _ in queue]}")

    def _follow_money(self, events: list[Event]) -> None:
        totals, fees, external = self.totals, self.fees, self.external
        for e in events:
            if isinstance(e, Deposited | BalanceAdjusted):
                totals[(e.user_id, e.asset)] += e.amount_minor
                external[e.asset] -= e.amount_minor
            elif isinstance(e, WithdrawalRequested):
                self.withdrawals.append(e.withdrawal_id)
            elif isinstance(e, WithdrawalCompleted):
                totals[(e.user_id, e.asset)] -= e.amount_minor
                external[e.asset] += e.amount_minor
                self.withdrawals.remove(e.withdrawal_id)
            elif isinstance(e, WithdrawalRejected):
                self.withdrawals.remove(e.withdrawal_id)
            elif isinstance(e, Transferred):
                totals[(e.from_user_id, e.asset)] -= e.amount_minor
                totals[(e.to_user_id, e.asset)] += e.amount_minor
            elif isinstance(e, AddressCreated):
                self.addresses[(e.user_id, e.asset)] = e.address
            elif isinstance(e, TradeExecuted):
                sym = MARKETS.symbols[e.symbol]
                quote, base = sym.quote.code, sym.base.code
                if e.aggressor_side == BUY:
                    buyer, seller = e.taker_user_id, e.maker_user_id
                    buyer_fee, seller_fee = e.taker_fee_minor, e.maker_fee_minor
                else:
                    buyer, seller = e.maker_user_id, e.taker_user_id
                    buyer_fee, seller_fee = e.maker_fee_minor, e.taker_fee_minor
                totals[(buyer, quote)] -= e.notional_minor + buyer_fee
                totals[(buyer, base)] += e.base_minor
                totals[(seller, quote)] += e.notional_minor - seller_fee
                totals[(seller, base)] -= e.base_minor
                fees[quote] += e.maker_fee_minor + e.taker_fee_minor

    # ------------------------------------------------------------------ helpers

    def _price(self, symbol: str, side: int, offset: int) -> int:
        """``offset`` steps on the passive side of the last price (negative: crossing)."""
        ref = self.engine.books[symbol].last_price or MID_TICKS[symbol]
        step = STEP_TICKS[symbol]
        return max(1, ref - offset * step if side == BUY else ref + offset * step)

    def _pick(self, index: int, *, resting: bool = False) -> tuple[int, int]:
        """An open order ``(order_id, user_id)``, or an unknown id."""
        candidates = sorted((o.order_id, o.user_id) for o in self.engine.orders.values()
                            if not resting or not o.stop_price)
        if not candidates:
            return 10**9, USERS[0]
        return candidates[index % len(candidates)]

    def _available(self, user: int, asset: str) -> int:
        return self.engine.balance(user, asset)[0]

    # ------------------------------------------------------------------ wallets

    @initialize()
    def fund_and_quote(self) -> None:
        """Every user is funded; the last one quotes a ladder on both sides of each book."""
        for user in USERS:
            for asset, amount in OPENING.items():
                events = self.apply(Deposit(asset, amount, user_id=user, reference="opening"))
                assert isinstance(events[0], Deposited)
        maker = USERS[-1]
        for symbol in SYMBOLS:
            for level in range(1, 6):
                for side in (BUY, SELL):
                    events = self.apply(PlaceOrder(
                        maker, symbol, side, LIMIT, qty_lots=8,
                        price_ticks=self._price(symbol, side, 2 * level)))
                    assert isinstance(events[0], OrderAccepted), events

    @rule(op=st.sampled_from(("deposit", "address", "withdraw", "settle", "transfer",
                              "adjust")),
          user=st.sampled_from(USERS), other=st.sampled_from(USERS),
          asset=st.sampled_from(ASSETS), amount=st.integers(1, 10**9),
          share=st.sampled_from(("all", "some", "more", "zero")), flag=st.booleans(),
          index=st.integers(0, 100))
    def wallet(self, op: str, user: int, other: int, asset: str, amount: int, share: str,
               flag: bool, index: int) -> None:
        """One wallet operation; ``flag`` picks a variant (by address, complete, ...)."""
        available = self._available(user, asset)
        part = {"all": available, "some": available // 3 + 1, "more": available + 1,
                "zero": 0}[share]
        if op == "deposit":
            address = self.addresses.get((user, asset))
            if flag and address is not None:
                events = self.apply(Deposit(asset, amount, address=address, reference="tx"))
            else:
                events = self.apply(Deposit(asset, amount, user_id=user, reference="wire"))
            assert isinstance(events[-1], Deposited) and events[-1].user_id == user
        elif op == "address":
            existed = (user, asset) in self.addresses
            events = self.apply(CreateAddress(user, asset))
            if existed:
                assert isinstance(events[-1], CommandRejected) and events[-1].code == 4007
            else:
                assert isinstance(events[-1], AddressCreated)
        elif op == "withdraw":
            events = self.apply(RequestWithdrawal(user, asset, part, destination="ext"))
            if 0 < part <= available:
                assert isinstance(events[-1], WithdrawalRequested)
                assert self._available(user, asset) == available - part
            else:
                assert isinstance(events[-1], CommandRejected)
        elif op == "settle":
            known = bool(self.withdrawals) and share != "zero"
            wid = self.withdrawals[index % len(self.withdrawals)] if known else 10**9
            events = self.apply(CompleteWithdrawal(wid) if flag else RejectWithdrawal(wid, "no"))
            if known:
                expected = WithdrawalCompleted if flag else WithdrawalRejected
                assert isinstance(events[-1], expected), events
            else:
                assert isinstance(events[-1], CommandRejected) and events[-1].code == 4005
        elif op == "transfer":
            if flag and (other, asset) not in self.addresses:
                self.apply(CreateAddress(other, asset))
            address = self.addresses[(other, asset)] if flag else "mb1nowhere"
            events = self.apply(Transfer(user, address, asset, part))
            ok = flag and other != user and 0 < part <= available
            assert isinstance(events[-1], Transferred if ok else CommandRejected), events
        else:
            self.apply(AdjustBalance(user, asset, part if flag else -part, "correction"))

    # ------------------------------------------------------------------ orders

    @rule(orders=st.lists(LIMIT_ORDERS, min_size=1, max_size=5))
    def place_limits(self, orders: list[tuple[Any, ...]]) -> None:
        """A few limit orders in a row, so that books build up queues."""
        for user, symbol, side, offset, qty, tif, display, post_only, stp, expire_ms, client in (
                orders):
            rests = tif in (1, 4)
            self.apply(PlaceOrder(
                user, symbol, side, LIMIT, qty_lots=qty,
                price_ticks=self._price(symbol, side, offset), tif=tif,
                display_lots=display if rests and display < qty else 0,
                post_only=post_only and rests, stp=stp, client_order_id=client,
                expire_ts_ns=self.ts_ns + expire_ms * MS_NS if tif == 4 else 0,
            ))

    @rule(user=st.sampled_from(USERS), symbol=st.sampled_from(SYMBOLS),
          side=st.sampled_from((BUY, SELL)), qty=st.integers(1, 60),
          tif=st.sampled_from((1, 2, 3)), stp=st.integers(1, 4),
          quote_amount=st.one_of(st.just(0), st.integers(10**6, 3 * 10**8)))
    def place_market(self, user: int, symbol: str, side: int, qty: int, tif: int, stp: int,
                     quote_amount: int) -> None:
        if quote_amount and side == BUY and symbol == "BTC-USD":
            self.apply(PlaceOrder(user, symbol, side, MARKET, tif=tif, stp=stp,
                                  quote_amount_minor=quote_amount))
        else:
            self.apply(PlaceOrder(user, symbol, side, MARKET, qty_lots=qty, tif=tif, stp=stp))

    @rule(user=st.sampled_from(USERS), symbol=st.sampled_from(SYMBOLS),
          side=st.sampled_from((BUY, SELL)), distance=st.integers(-1, 6),
          slip=st.integers(-2, 4), qty=st.integers(2, 30), market=st.booleans(),
          tif=st.sampled_from((1, 2, 3, 4)), stp=st.integers(1, 4))
    def place_stop(self, user: int, symbol: str, side: int, distance: int, slip: int, qty: int,
                   market: bool, tif: int, stp: int) -> None:
        # a buy stop above the last price, a sell stop below
        stop = self._price(symbol, SELL if side == BUY else BUY, distance)
        if market:
            self.apply(PlaceOrder(user, symbol, side, STOP_MARKET, qty_lots=qty,
                                  tif=tif if tif != 4 else 2, stop_price_ticks=stop, stp=stp))
            return
        price = max(1, stop + slip * STEP_TICKS[symbol] * (1 if side == BUY else -1))
        self.apply(PlaceOrder(user, symbol, side, STOP_LIMIT, qty_lots=qty, price_ticks=price,
                              tif=tif, stop_price_ticks=stop, stp=stp,
                              expire_ts_ns=self.ts_ns + 20 * MS_NS if tif == 4 else 0))

    @rule(index=st.integers(0, 10**6),
          how=st.sampled_from(("id", "id", "id", "id", "id", "client id", "as other user",
                               "all of user", "all of user in symbol", "all users in symbol")))
    def cancel(self, index: int, how: str) -> None:
        oid, user = self._pick(index)
        order = self.engine.orders.get(oid)
        if how.startswith("all"):
            symbol = order.symbol if order is not None and how.endswith("symbol") else ""
            user = 0 if how.startswith("all users") else user
            self.apply(CancelAll(user, symbol))
            assert not [o for o in self.engine.orders.values()
                        if (user == 0 or o.user_id == user) and (not symbol or o.symbol == symbol)]
            return
        if how == "as other user":
            user = USERS[(USERS.index(user) + 1) % len(USERS)]
        if how == "client id" and order is not None and order.client_order_id:
            events = self.apply(CancelOrder(user, 0, order.client_order_id))
        else:
            events = self.apply(CancelOrder(user, oid))
        if order is None:
            assert isinstance(events[-1], OrderRejected) and events[-1].code == 1012
        elif how == "as other user":
            assert isinstance(events[-1], OrderRejected) and events[-1].code == 1012
            assert oid in self.engine.orders
        else:
            assert isinstance(events[-1], OrderCancelled) and oid not in self.engine.orders

    @rule(index=st.integers(0, 10**6), offset=st.one_of(st.none(), st.integers(-4, 6)),
          qty_change=st.integers(-20, 20))
    def amend(self, index: int, offset: int | None, qty_change: int) -> None:
        oid, user = self._pick(index, resting=True)
        order = self.engine.orders.get(oid)
        if order is None:
            self.apply(AmendOrder(user, oid, qty_lots=5))
            return
        price = 0 if offset is None else self._price(order.symbol, order.side, offset)
        qty = max(1, order.qty + qty_change) if qty_change else 0
        self.apply(AmendOrder(user, oid, price_ticks=price, qty_lots=qty))

    @rule(ms=st.integers(1, 60))
    def advance_time(self, ms: int) -> None:
        self.apply(AdvanceTime(), advance_ns=ms * MS_NS)
        assert all(not o.expire_ts or o.expire_ts > self.ts_ns for o in self.engine.orders.values())

    # ------------------------------------------------------------------ snapshots

    @rule(through_msgpack=st.booleans())
    def snapshot_and_restore(self, through_msgpack: bool) -> None:
        state = self.engine.snapshot()
        if through_msgpack:
            state = msgspec.msgpack.decode(msgspec.msgpack.encode(state))
        restored = Engine.restore(MARKETS, state, accounts=True)
        assert restored.state_hash() == self.engine.state_hash()
        restored._check()
        self.engine = restored

    # ------------------------------------------------------------------ invariants

    @invariant()
    def engine_invariants_hold(self) -> None:
        self.engine._check()

    @invariant()
    def book_is_not_crossed(self) -> None:
        for book in self.engine.books.values():
            bids, asks = book.depth(BUY, 1), book.depth(SELL, 1)
            if bids and asks:
                assert bids[0][0] < asks[0][0], f"{book.symbol.name} crossed: {bids} {asks}"

    @invariant()
    def balances_follow_from_events(self) -> None:
        engine = self.engine
        for (user, asset), total in self.totals.items():
            available, held = engine.balance(user, asset)
            assert available + held == total, f"user {user} {asset}: {available}+{held}"
        for asset in ASSETS:
            assert engine.fee_balances[asset] == self.fees[asset], asset
            assert engine.external_balances[asset] == self.external[asset], asset


TestEngineMachine = EngineMachine.TestCase
TestEngineMachine.pytestmark = [pytest.mark.slow]
TestEngineMachine.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    report_multiple_bugs=False,
)


# -- determinism and snapshots over seeded streams ------------------------------------------


def seeded_stream(seed: int, n: int) -> list[Sequenced]:
    """Funding plus ``n`` generated commands, aimed at the market of a scratch engine."""
    scratch = Engine(MARKETS, accounts=True)
    workload = Workload(seed, MARKETS, accounts=True, users=5)
    stream = workload.funding()
    for seq, ts_ns, command in stream:
        scratch.apply(seq, ts_ns, command)
    market = engine_view(scratch)
    for _ in range(n):
        seq, ts_ns, command = workload.next_command(market)
        scratch.apply(seq, ts_ns, command)
        stream.append((seq, ts_ns, command))
    return stream


def _run(engine: Engine, stream: list[Sequenced]) -> list[list[Event]]:
    return [engine.apply(seq, ts_ns, command) for seq, ts_ns, command in stream]


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
@pytest.mark.slow
def test_same_stream_gives_same_events_and_state_hash(seed: int) -> None:
    stream = seeded_stream(seed, 2_500)
    first, second = Engine(MARKETS, accounts=True), Engine(MARKETS, accounts=True)
    events_first, events_second = _run(first, stream), _run(second, stream)
    assert events_first == events_second
    assert msgspec.msgpack.encode(events_first) == msgspec.msgpack.encode(events_second)
    assert sum(isinstance(e, TradeExecuted) for es in events_first for e in es) > 300
    assert first.state_hash() == second.state_hash()
    first._check()


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), split=st.integers(1, 1_500), msgpack=st.booleans())
@pytest.mark.slow
def test_restored_snapshot_has_same_hash_and_continues_identically(
        seed: int, split: int, msgpack: bool) -> None:
    stream = seeded_stream(seed, 1_500)
    original = Engine(MARKETS, accounts=True)
    _run(original, stream[:split])
    state = original.snapshot()
    if msgpack:
        state = msgspec.msgpack.decode(msgspec.msgpack.encode(state))
    restored = Engine.restore(MARKETS, state, accounts=True)
    assert restored.state_hash() == original.state_hash()
    restored._check()
    assert _run(restored, stream[split:]) == _run(original, stream[split:])
    assert restored.state_hash() == original.state_hash()
    restored._check()


@pytest.mark.parametrize("msgpack", [False, True])
def test_restore_keeps_every_open_order_usable(msgpack: bool) -> None:
    """Every open order of a restored engine can be cancelled, with the same events as
    in the original, and both end in the same state."""
    stream = seeded_stream(3, 3_000)
    original = Engine(MARKETS, accounts=True)
    _run(original, stream)
    state = original.snapshot()
    if msgpack:
        state = msgspec.msgpack.decode(msgspec.msgpack.encode(state))
    restored = Engine.restore(MARKETS, state, accounts=True)
    seq, ts_ns = stream[-1][0], stream[-1][1]
    owners = defaultdict(list)
    for order in original.orders.values():
        owners[order.user_id].append(order.order_id)
    assert owners, "the stream left open orders"
    for user, ids in sorted(owners.items()):
        for oid in sorted(ids):
            seq += 1
            cancel = CancelOrder(user, oid)
            assert restored.apply(seq, ts_ns, cancel) == original.apply(seq, ts_ns, cancel)
    assert restored.state_hash() == original.state_hash()
    assert not restored.orders
    restored._check()


@pytest.mark.parametrize("msgpack", [False, True])
def test_restored_engine_settles_holds_that_were_all_a_user_had(msgpack: bool) -> None:
    """A user whose whole balance of an asset is held (an order, a withdrawal) has
    nothing available; after a restore, releasing the hold works as before it."""
    original = Engine(MARKETS, accounts=True)
    setup = [
        Deposit("BTC", 10**6, user_id=1),
        PlaceOrder(1, "BTC-USD", SELL, LIMIT, qty_lots=100, price_ticks=MID_TICKS["BTC-USD"]),
        Deposit("USD", 10**6, user_id=2),
        RequestWithdrawal(2, "USD", 10**6),
    ]
    ts_ns = START_TS_NS
    for seq, command in enumerate(setup, 1):
        events = original.apply(seq, ts_ns, command)
        assert not [e for e in events if isinstance(e, OrderRejected | CommandRejected)]
    assert original.balance(1, "BTC") == (0, 10**6) and original.balance(2, "USD") == (0, 10**6)
    [order_id] = original.orders
    [withdrawal_id] = original.withdrawals
    state = original.snapshot()
    if msgpack:
        state = msgspec.msgpack.decode(msgspec.msgpack.encode(state))
    restored = Engine.restore(MARKETS, state, accounts=True)
    for seq, command in enumerate([CancelOrder(1, order_id), RejectWithdrawal(withdrawal_id)],
                                  len(setup) + 1):
        assert restored.apply(seq, ts_ns, command) == original.apply(seq, ts_ns, command)
    assert restored.balance(1, "BTC") == (10**6, 0) and restored.balance(2, "USD") == (10**6, 0)
    assert restored.state_hash() == original.state_hash()
    restored._check()
