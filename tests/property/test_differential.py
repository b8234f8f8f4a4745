"""Differential tests: the engine and the naive reference engine, fed the same streams.

Every command's trades and rejection code must be equal; every ``CHECK_EVERY``
commands and at the end the full L3 book (every resting order in priority order, with
its leaves and visible quantity), the pending stops and, with accounts, every balance
and the fee account must be equal too. A divergence fails with the seed, the command
number and the recent commands, enough to replay it with ``run_differential``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from matchbook.config import default_markets
from matchbook.core import Engine, Markets
from matchbook.core.commands import AdvanceTime, AmendOrder, CancelOrder, Deposit, PlaceOrder
from matchbook.core.events import (
    CommandRejected,
    Event,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
)
from reference import BookRow, Reference, StopRow, Trade
from workload import Sequenced, Workload, reference_view

MARKETS = default_markets()
CHECK_EVERY = 500
COMMANDS_PER_SEED = 25_000
# (seed, users): 4 x 25,000 = 100,000 commands per mode; few users, many self-trades
SEEDS = ((11, 8), (22, 8), (33, 5), (44, 3))

# -- the engine, seen the way the reference reports ------------------------------------


def engine_result(events: list[Event]) -> tuple[list[Trade], int]:
    """The trades of one command and its rejection code (0 if not rejected)."""
    trades = [(e.trade_id, e.symbol, e.price_ticks, e.qty_lots, e.maker_order_id,
               e.taker_order_id, e.aggressor_side)
              for e in events if isinstance(e, TradeExecuted)]
    codes = [int(e.code) for e in events if isinstance(e, OrderRejected | CommandRejected)]
    assert len(codes) <= 1, f"more than one rejection in {events}"
    return trades, codes[0] if codes else 0


def engine_book_view(engine: Engine) -> dict[tuple[str, int], list[BookRow]]:
    return {(name, side): [(o.order_id, o.user_id, o.price, o.leaves, o.visible)
                           for o in book.iter_orders(side)]
            for name, book in engine.books.items() for side in (1, 2)}


def engine_stops_view(engine: Engine) -> list[StopRow]:
    return sorted((o.order_id, o.user_id, o.symbol, o.side, o.stop_price, o.leaves)
                  for o in engine.orders.values() if o.stop_price)


def engine_balances(engine: Engine) -> dict[tuple[int, str], tuple[int, int]]:
    result = {}
    for uid, account in engine.accounts.items():
        for asset in set(account.available) | set(account.held):
            pair = (account.available.get(asset, 0), account.held.get(asset, 0))
            if pair != (0, 0):
                result[(uid, asset)] = pair
    for asset, amount in engine.fee_balances.items():
        if amount:
            result[(0, asset)] = (amount, 0)
    return result


# -- the run ------------------------------------------------------------------------------


@dataclass
class Coverage:
    """What a run exercised, so a test can insist the stream was not trivial."""

    commands: int = 0
    trades: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    cancel_reasons: Counter[int] = field(default_factory=Counter)
    triggered: int = 0
    expired: int = 0
    iceberg_refills: int = 0
    decrements_kept_open: int = 0
    amends_accepted: int = 0
    quote_buys_accepted: int = 0
    max_resting: int = 0


class Divergence(AssertionError):
    pass


def _fail(what: str, seed: int, index: int, command: Sequenced, expected: object,
          actual: object, recent: deque[Sequenced]) -> None:
    history = "\n".join(f"  #{seq} t={ts}: {cmd!r}" for seq, ts, cmd in recent)
    raise Divergence(
        f"{what} diverged (seed {seed}, command {index}: seq {command[0]})\n"
        f"command: {command[2]!r}\nreference: {expected!r}\nengine:    {actual!r}\n"
        f"recent commands:\n{history}")


def _compare_state(engine: Engine, reference: Reference, accounts: bool, seed: int, index: int,
                   command: Sequenced, recent: deque[Sequenced]) -> int:
    book_engine, book_reference = engine_book_view(engine), reference.book_view()
    if book_engine != book_reference:
        diff = {k: (book_reference[k], book_engine[k]) for k in book_reference
                if book_reference[k] != book_engine.get(k)}
        _fail("book", seed, index, command, {k: v[0] for k, v in diff.items()},
              {k: v[1] for k, v in diff.items()}, recent)
    stops_engine, stops_reference = engine_stops_view(engine), reference.stops_view()
    if stops_engine != stops_reference:
        _fail("pending stops", seed, index, command, stops_reference, stops_engine, recent)
    if accounts:
        balances_engine, balances_reference = engine_balances(engine), reference.balances()
        if balances_engine != balances_reference:
            keys = set(balances_engine) | set(balances_reference)
            _fail("balances", seed, index, command,
                  {k: balances_reference.get(k) for k in sorted(keys)
                   if balances_reference.get(k) != balances_engine.get(k)},
                  {k: balances_engine.get(k) for k in sorted(keys)
                   if balances_reference.get(k) != balances_engine.get(k)}, recent)
    return sum(len(rows) for rows in book_reference.values())


def run_differential(seed: int, n: int, *, accounts: bool, users: int = 8,
                     markets: Markets = MARKETS, check_every: int = CHECK_EVERY) -> Coverage:
    """Apply ``n`` generated commands to a fresh engine and a fresh reference and fail at
    the first difference. Returns what the run covered."""
    engine = Engine(markets, accounts=accounts)
    reference = Reference(markets, accounts=accounts)
    workload = Workload(seed, markets, accounts=accounts, users=users)
    market = reference_view(reference)
    coverage = Coverage()
    recent: deque[Sequenced] = deque(maxlen=25)
    opening = workload.funding() if accounts else []
    last = len(opening) + n - 1

    def stream() -> Iterator[Sequenced]:
        yield from opening
        for _ in range(n):  # each command is aimed at the state the previous ones left
            yield workload.next_command(market)

    for index, command in enumerate(stream()):
        recent.append(command)
        seq, ts_ns, cmd = command
        events = engine.apply(seq, ts_ns, cmd)
        actual = engine_result(events)
        expected = reference.apply(seq, ts_ns, cmd)
        if actual != expected:
            _fail("trades or rejection code", seed, index, command, expected, actual, recent)
        coverage.commands += 1
        coverage.trades += len(actual[0])
        coverage.codes[actual[1]] += 1
        for e in events:
            if isinstance(e, OrderCancelled):
                coverage.cancel_reasons[int(e.reason)] += 1
                coverage.decrements_kept_open += e.leaves_lots > 0
            elif isinstance(e, OrderTriggered):
                coverage.triggered += 1
            elif isinstance(e, OrderExpired):
                coverage.expired += 1
        if isinstance(cmd, AmendOrder) and not actual[1]:
            coverage.amends_accepted += 1
        if isinstance(cmd, PlaceOrder) and cmd.quote_amount_minor and not actual[1]:
            coverage.quote_buys_accepted += 1
        if isinstance(cmd, PlaceOrder | AmendOrder):
            coverage.iceberg_refills += _iceberg_refills(events, engine)
        if index % check_every == 0 or index == last:
            resting = _compare_state(engine, reference, accounts, seed, index, command, recent)
            coverage.max_resting = max(coverage.max_resting, resting)
    return coverage


def _iceberg_refills(events: list[Event], engine: Engine) -> int:
    """Fills in which a maker iceberg's peak ran out while hidden quantity remained."""
    count = 0
    for e in events:
        if isinstance(e, TradeExecuted):
            maker = engine.orders.get(e.maker_order_id)
            if maker is not None and maker.display and e.qty_lots >= maker.display:
                count += 1
    return count


# -- what every run must have exercised ---------------------------------------------------

EXPECTED_CODES = {
    0, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012,
    1014, 1015, 1016, 1017, 1019, 1020, 2003, 2004, 2005, 3001, 3002, 3003, 3004, 3005,
}


def _assert_rich(coverage: Coverage, accounts: bool) -> None:
    missing = EXPECTED_CODES - set(coverage.codes)
    if accounts:
        missing |= {2001} - set(coverage.codes)
    assert not missing, f"the stream never produced codes {sorted(missing)}"
    assert coverage.trades > coverage.commands // 8
    assert {1, 2, 3, 4} <= set(coverage.cancel_reasons), coverage.cancel_reasons
    assert coverage.triggered > 50
    assert coverage.expired > 50
    assert coverage.iceberg_refills > 20
    assert coverage.decrements_kept_open > 20
    assert coverage.amends_accepted > 500
    assert coverage.quote_buys_accepted > (50 if accounts else -1)
    assert 20 < coverage.max_resting < 2_000


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "users"), SEEDS)
def test_engine_matches_reference_without_accounts(seed: int, users: int) -> None:
    coverage = run_differential(seed, COMMANDS_PER_SEED, accounts=False, users=users)
    _assert_rich(coverage, accounts=False)


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "users"), SEEDS)
def test_engine_matches_reference_with_accounts(seed: int, users: int) -> None:
    coverage = run_differential(seed, COMMANDS_PER_SEED, accounts=True, users=users)
    _assert_rich(coverage, accounts=True)


# -- scripted cases: the contract spelled out, each checked against both engines ------------

P = 5_000_000  # BTC-USD, 50,000.00
START_TS_NS = 1_700_000_000_000_000_000
LIMIT, MARKET, STOP_LIMIT, STOP_MARKET = 1, 2, 3, 4
BUY, SELL = 1, 2
GTC, IOC, FOK, GTD = 1, 2, 3, 4


class Pair:
    """The engine and the reference side by side; every command must agree."""

    def __init__(self, *, accounts: bool = False) -> None:
        self.engine = Engine(MARKETS, accounts=accounts)
        self.reference = Reference(MARKETS, accounts=accounts)
        self.accounts = accounts
        self.seq = 0
        self.ts_ns = START_TS_NS
        self.events: list[Event] = []

    def apply(self, command: object, advance_ns: int = 1_000) -> tuple[list[Trade], int]:
        self.seq += 1
        self.ts_ns += advance_ns
        expected = self.reference.apply(self.seq, self.ts_ns, command)
        self.events = self.engine.apply(self.seq, self.ts_ns, command)
        actual = engine_result(self.events)
        assert actual == expected, f"{command!r}\nreference: {expected}\nengine:    {actual}"
        self.engine._check()
        return expected

    def book(self, side: int, symbol: str = "BTC-USD") -> list[BookRow]:
        expected = self.reference.book_view()[(symbol, side)]
        assert engine_book_view(self.engine)[(symbol, side)] == expected
        return expected

    def balances(self) -> dict[tuple[int, str], tuple[int, int]]:
        expected = self.reference.balances()
        assert engine_balances(self.engine) == expected
        return expected


def limit(user: int, side: int, qty: int, price: int = P, **fields: Any) -> PlaceOrder:
    return PlaceOrder(user, "BTC-USD", side, LIMIT, qty_lots=qty, price_ticks=price, **fields)


def test_iceberg_refill_goes_to_the_back_of_its_level() -> None:
    pair = Pair()
    pair.apply(limit(1, SELL, 10, display_lots=3))  # order 1: peak 3
    pair.apply(limit(2, SELL, 2))  # order 2
    trades, code = pair.apply(limit(3, BUY, 7, tif=IOC))  # order 3
    assert code == 0
    assert trades == [(1, "BTC-USD", P, 3, 1, 3, BUY),  # the peak
                      (2, "BTC-USD", P, 2, 2, 3, BUY),  # order 2, now ahead of the refill
                      (3, "BTC-USD", P, 2, 1, 3, BUY)]  # the refilled peak
    assert pair.book(SELL) == [(1, 1, P, 5, 1)]


def test_decrement_and_cancel_shrinks_both_orders() -> None:
    pair = Pair()
    pair.apply(limit(1, SELL, 5))  # order 1
    assert pair.apply(limit(1, BUY, 3, stp=4)) == ([], 0)  # order 2: decremented to nothing
    assert pair.book(SELL) == [(1, 1, P, 2, 2)] and pair.book(BUY) == []
    # order 1 is now an order for 2 lots, none filled: 3 lots is an increase
    assert pair.apply(AmendOrder(1, 1, qty_lots=3)) == ([], 0)
    assert pair.book(SELL) == [(1, 1, P, 3, 3)]


def test_fok_counts_only_what_is_ahead_of_an_own_order() -> None:
    pair = Pair()
    pair.apply(limit(2, SELL, 2))  # order 1
    pair.apply(limit(1, SELL, 2))  # order 2, own
    pair.apply(limit(3, SELL, 5))  # order 3
    assert pair.apply(limit(1, BUY, 4, tif=FOK)) == ([], 3002)
    trades, code = pair.apply(limit(1, BUY, 4, tif=FOK, stp=2))  # order 4: cancel-oldest
    assert (trades, code) == ([(1, "BTC-USD", P, 2, 1, 4, BUY), (2, "BTC-USD", P, 2, 3, 4, BUY)], 0)
    assert pair.book(SELL) == [(3, 3, P, 3, 3)]


def test_fees_are_truncated_and_paid_in_the_quote_asset() -> None:
    pair = Pair(accounts=True)
    pair.apply(Deposit("USD", 10**9, user_id=1))
    pair.apply(Deposit("BTC", 10**8, user_id=2))
    pair.apply(limit(2, SELL, 3, price=P + 1))  # maker, 2 bp
    trades, code = pair.apply(limit(1, BUY, 3, price=P + 1))  # taker, 5 bp
    assert code == 0 and len(trades) == 1
    notional = (P + 1) * 3  # 15,000,003 micro-USD
    maker_fee, taker_fee = notional * 200 // 10**6, notional * 500 // 10**6  # 3000, 7500
    assert pair.balances() == {
        (1, "USD"): (10**9 - notional - taker_fee, 0),
        (1, "BTC"): (3 * 10**4, 0),
        (2, "BTC"): (10**8 - 3 * 10**4, 0),
        (2, "USD"): (notional - maker_fee, 0),
        (0, "USD"): (maker_fee + taker_fee, 0),
    }


def test_a_market_buy_on_an_empty_book_is_rejected_for_liquidity() -> None:
    pair = Pair()
    assert pair.apply(PlaceOrder(1, "BTC-USD", BUY, MARKET, qty_lots=5)) == ([], 3003)
    assert pair.apply(PlaceOrder(1, "BTC-USD", SELL, MARKET, qty_lots=5)) == ([], 3003)


def test_amending_a_gtd_order_keeps_its_expiry() -> None:
    pair = Pair()
    expiry = pair.ts_ns + 10**9
    pair.apply(limit(1, BUY, 5, tif=GTD, expire_ts_ns=expiry))  # order 1
    assert pair.apply(AmendOrder(1, 1, qty_lots=6)) == ([], 0)  # loses priority
    assert pair.apply(AmendOrder(1, 1, price_ticks=P - 1)) == ([], 0)
    assert pair.book(BUY) == [(1, 1, P - 1, 6, 6)]
    pair.apply(AdvanceTime(), advance_ns=10**9)
    assert pair.book(BUY) == []
    assert any(isinstance(e, OrderExpired) and e.order_id == 1 for e in pair.events)


def test_last_price_is_the_last_fill_not_the_last_level_visited() -> None:
    pair = Pair()
    pair.apply(limit(2, SELL, 1))  # order 1
    pair.apply(limit(1, SELL, 1, price=P + 1))  # order 2, own
    pair.apply(PlaceOrder(3, "BTC-USD", BUY, STOP_MARKET, qty_lots=1,
                          stop_price_ticks=P + 1))  # order 3: waits for a trade at P + 1
    # trades at P, then meets its own order at P + 1 and is cancelled there
    trades, code = pair.apply(limit(1, BUY, 2, price=P + 1, tif=IOC))
    assert (trades, code) == ([(1, "BTC-USD", P, 1, 1, 4, BUY)], 0)
    assert not any(isinstance(e, OrderTriggered) for e in pair.events)
    assert pair.engine.books["BTC-USD"].last_price == P
    assert pair.reference.stops_view() == engine_stops_view(pair.engine) == [
        (3, 3, "BTC-USD", BUY, P + 1, 1)]


def test_only_gtd_orders_take_an_expiry_and_a_negative_one_is_rejected() -> None:
    pair = Pair()
    assert pair.apply(limit(1, BUY, 5, expire_ts_ns=pair.ts_ns + 10**9)) == ([], 1009)
    assert pair.apply(limit(1, BUY, 5, expire_ts_ns=-1)) == ([], 1009)
    assert pair.apply(limit(1, BUY, 5, tif=IOC, expire_ts_ns=-1)) == ([], 1009)
    assert pair.book(BUY) == []


def test_a_cancel_uses_the_client_order_id_only_when_the_order_id_is_zero() -> None:
    pair = Pair()
    pair.apply(limit(1, BUY, 5, client_order_id="a"))  # order 1
    assert pair.apply(CancelOrder(1, -1, "a")) == ([], 1012)
    assert pair.book(BUY) == [(1, 1, P, 5, 5)]
    assert pair.apply(CancelOrder(1, 0, "a")) == ([], 0)
    assert pair.book(BUY) == []


def test_fill_or_kill_is_checked_before_funds() -> None:
    """Docs, placing an order: FOK (step 11) comes before funds (step 12), also for a
    user who never deposited anything."""
    pair = Pair(accounts=True)
    pair.apply(Deposit("BTC", 10**8, user_id=2))
    pair.apply(limit(2, SELL, 3))  # order 1
    assert pair.apply(limit(1, BUY, 5, tif=FOK)) == ([], 3002)  # user 1 has no account
    assert pair.apply(limit(1, BUY, 3, tif=FOK)) == ([], 2001)
    pair.apply(Deposit("USD", 10**6, user_id=3))  # user 3 has an account, too little in it
    assert pair.apply(limit(3, BUY, 5, tif=FOK)) == ([], 3002)
    assert pair.apply(limit(3, BUY, 3, tif=FOK)) == ([], 2001)


def test_an_amend_is_band_checked_only_when_its_price_changes() -> None:
    """Docs, amend: the band (2005) applies "only when the price changes": a resting
    order the market moved away from may still shrink or grow at its own price."""
    pair = Pair()
    far = P * 109 // 100
    pair.apply(limit(1, SELL, 5, price=far))  # order 1, within 10% of nothing yet
    pair.apply(limit(2, SELL, 1))  # order 2
    pair.apply(limit(3, BUY, 1, tif=IOC))  # last price P: order 1 is 9% away, in band
    pair.apply(limit(2, SELL, 1, price=P - P // 50))  # order 4
    pair.apply(limit(3, BUY, 1, tif=IOC))  # last price P - 2%: order 1 is 11% away
    assert pair.apply(AmendOrder(1, 1, price_ticks=far + 1)) == ([], 2005)
    assert pair.book(SELL) == [(1, 1, far, 5, 5)]
    assert pair.apply(AmendOrder(1, 1, qty_lots=4)) == ([], 0)
    assert pair.book(SELL) == [(1, 1, far, 4, 4)]
