"""Differential tests: the engine and the naive reference engine, fed the same streams.

Every command's trades and rejection code must be equal; every ``CHECK_EVERY``
commands and at the end the full L3 book (every resting order in priority order, with
its leaves and visible quantity), the pending stops and, with accounts, every balance
and the fee account must be equal too. A divergence fails with the seed, the command
number and the recent commands, enough to replay it with ``run_differential``.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import pytest

from matchbook.config import default_markets
from matchbook.core import Engine, Markets
from matchbook.core.commands import AmendOrder, PlaceOrder
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
from workload import Sequenced, Workload, reference_open_orders

MARKETS = default_markets()
CHECK_EVERY = 500
COMMANDS_PER_SEED = 25_000
SEEDS = (11, 22, 33, 44)  # 4 x 25,000 = 100,000 commands per mode

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
    open_orders = reference_open_orders(reference)
    coverage = Coverage()
    recent: deque[Sequenced] = deque(maxlen=25)
    opening = workload.funding() if accounts else []
    stream = [*opening]
    for index in range(len(opening) + n):
        command = stream[index] if index < len(opening) else workload.next_command(open_orders)
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
        if index % check_every == 0 or index == len(opening) + n - 1:
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
    0, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
    1014, 1015, 1016, 1017, 1019, 1020, 2003, 2004, 2005, 3001, 3002, 3003, 3004, 3005,
}


def _assert_rich(coverage: Coverage, accounts: bool) -> None:
    missing = EXPECTED_CODES - set(coverage.codes)
    if accounts:
        missing |= {2001} - set(coverage.codes)
    assert not missing, f"the stream never produced codes {sorted(missing)}"
    assert coverage.trades > coverage.commands // 5
    assert {1, 2, 3, 4} <= set(coverage.cancel_reasons), coverage.cancel_reasons
    assert coverage.triggered > 50
    assert coverage.expired > 50
    assert coverage.iceberg_refills > 20
    assert coverage.decrements_kept_open > 20
    assert coverage.amends_accepted > 500
    assert coverage.quote_buys_accepted > (50 if accounts else -1)
    assert 20 < coverage.max_resting < 2_000


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_engine_matches_reference_without_accounts(seed: int) -> None:
    coverage = run_differential(seed, COMMANDS_PER_SEED, accounts=False)
    _assert_rich(coverage, accounts=False)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_engine_matches_reference_with_accounts(seed: int) -> None:
    coverage = run_differential(seed, COMMANDS_PER_SEED, accounts=True)
    _assert_rich(coverage, accounts=True)
