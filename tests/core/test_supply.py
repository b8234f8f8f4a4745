"""Bounded money: what the exchange holds of an asset never passes its maximum supply,
so no balance, hold, fee account or total can pass what a signed 64-bit store holds.

The finding this guards: ten admin deposits of ``999999999999.999999`` USD (10^18 - 1
minor units each) were all accepted, and the read model could no longer store the
balance (SQLite's INTEGER is signed 64-bit), which stopped the server from starting.
"""

from __future__ import annotations

import copy

import pytest
from helpers import MARKETS, Market, assert_rejected
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from matchbook.config import read_config
from matchbook.core import (
    AdjustBalance,
    AmendOrder,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    OrderType,
    PlaceOrder,
    RejectWithdrawal,
    RequestWithdrawal,
    Side,
    Transfer,
    load_markets,
)
from matchbook.core.codes import Code
from matchbook.core.events import AddressCreated, Deposited, WithdrawalRequested
from matchbook.core.matching import MAX_TICKS
from matchbook.core.symbols import MAX_SUPPLY_MINOR, MAX_UNITS, ConfigError

INT64_MAX = 2**63 - 1
USD_MAX = MARKETS.assets["USD"].max_supply_minor


def test_the_default_supply_fits_a_signed_64_bit_integer_with_headroom() -> None:
    assert USD_MAX == MAX_SUPPLY_MINOR == 10**18
    assert 9 * MAX_SUPPLY_MINOR < INT64_MAX


def test_ten_maximal_deposits_stop_at_the_supply() -> None:
    market = Market()
    largest = MARKETS.assets["USD"].to_minor("999999999999.999999")
    [first] = market.apply(Deposit("USD", largest, user_id=1))
    assert isinstance(first, Deposited)
    for user_id in (1, 2, 3):  # to the same user or to another: the total is bounded
        assert_rejected(market.apply_unchanged(Deposit("USD", largest, user_id=user_id)),
                        Code.SUPPLY_LIMIT)
    assert market.balance(1, "USD") == (largest, 0)


def test_a_deposit_may_reach_the_supply_exactly_but_not_pass_it() -> None:
    market = Market()
    market.apply(Deposit("USD", USD_MAX - 10, user_id=1))
    assert_rejected(market.apply_unchanged(Deposit("USD", 11, user_id=2)), Code.SUPPLY_LIMIT)
    [event] = market.apply(Deposit("USD", 10, user_id=2))
    assert isinstance(event, Deposited)
    assert -market.engine.external_balances["USD"] == USD_MAX


def _fill_to_the_supply(market: Market) -> None:
    """User 1 holds the whole USD supply (one command moves less than 10^18 units)."""
    for amount in (USD_MAX - 1, 1):
        [event] = market.apply(Deposit("USD", amount, user_id=1))
        assert isinstance(event, Deposited)


def test_a_deposit_by_address_is_bounded_too() -> None:
    market = Market()
    _fill_to_the_supply(market)
    [created] = market.apply(CreateAddress(2, "USD"))
    assert isinstance(created, AddressCreated)
    assert_rejected(market.apply_unchanged(Deposit("USD", 1, address=created.address)),
                    Code.SUPPLY_LIMIT)


def test_a_positive_adjustment_is_bounded_and_a_negative_one_makes_room() -> None:
    market = Market()
    _fill_to_the_supply(market)
    assert_rejected(market.apply_unchanged(AdjustBalance(2, "USD", 1, "bonus")),
                    Code.SUPPLY_LIMIT)
    market.apply(AdjustBalance(1, "USD", -5, "correction"))
    market.apply(AdjustBalance(2, "USD", 5, "bonus"))
    assert market.balance(2, "USD") == (5, 0)


def test_a_completed_withdrawal_makes_room_and_a_rejected_one_does_not() -> None:
    market = Market()
    _fill_to_the_supply(market)
    [requested] = market.apply(RequestWithdrawal(1, "USD", 100, "bank"))
    assert isinstance(requested, WithdrawalRequested)
    market.apply(RejectWithdrawal(requested.withdrawal_id, "no"))  # back to the user
    assert_rejected(market.apply_unchanged(Deposit("USD", 1, user_id=2)), Code.SUPPLY_LIMIT)
    [again] = market.apply(RequestWithdrawal(1, "USD", 100, "bank"))
    assert isinstance(again, WithdrawalRequested)
    market.apply(CompleteWithdrawal(again.withdrawal_id))
    [event] = market.apply(Deposit("USD", 100, user_id=2))
    assert isinstance(event, Deposited)


def _markets_with(**assets: dict[str, object]) -> object:
    config = copy.deepcopy(read_config())
    for code, spec in assets.items():
        config["assets"][code].update(spec)
    return load_markets(config)


def test_the_configuration_sets_a_smaller_supply() -> None:
    markets = _markets_with(USD={"max_supply": "1000000"})
    assert markets.assets["USD"].max_supply_minor == 10**12  # type: ignore[attr-defined]
    market = Market(markets=markets)  # type: ignore[arg-type]
    market.apply(Deposit("USD", 10**12, user_id=1))
    assert_rejected(market.apply_unchanged(Deposit("USD", 1, user_id=1)), Code.SUPPLY_LIMIT)


@pytest.mark.parametrize(("spec", "error"), [
    ({"max_supply": "1000000000001"}, "at most 1000000000000.000000"),  # 10^18 + 1 minor
    ({"max_supply": "0"}, "must be positive"),
    ({"max_supply": "-5"}, "must be positive"),
    ({"max_supply": "1.0000001"}, "finer than 6 decimals"),
    ({"max_supply": "lots"}, "must be a decimal number"),
    ({"max_supply": "Infinity"}, "finer than 6 decimals"),
])
def test_the_configuration_refuses_a_supply_that_cannot_fit(
        spec: dict[str, object], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        _markets_with(USD=spec)


def test_an_asset_of_18_decimals_holds_at_most_one_whole_unit_by_default() -> None:
    markets = _markets_with(SOL={"decimals": 18})
    assert markets.assets["SOL"].max_supply_minor == 10**18  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"at most 1\.000000000000000000"):
        _markets_with(SOL={"decimals": 18, "max_supply": "2"})


# -- driven to the edges -------------------------------------------------------------

SMALL = _markets_with(USD={"max_supply": "2000000"}, BTC={"max_supply": "50"})
SUPPLY = {code: asset.max_supply_minor for code, asset in SMALL.assets.items()}  # type: ignore[attr-defined]
BTC_USD = SMALL.symbol("BTC-USD")  # type: ignore[attr-defined]
USERS = (1, 2, 3)


def _edge_amounts(asset: str) -> st.SearchStrategy[int]:
    """Amounts at the edges: tiny, around the supply and its halves, and huge."""
    supply = SUPPLY[asset]
    return st.one_of(st.integers(1, 10), st.integers(supply - 3, supply + 3),
                     st.integers(supply // 2 - 2, supply // 2 + 2),
                     st.integers(1, MAX_UNITS - 1)).filter(lambda a: 0 < a < MAX_UNITS)


class SupplyMachine(RuleBasedStateMachine):
    """Deposits, adjustments, transfers, withdrawals and trades with amounts at the edges;
    after every step no total passes its supply and no balance leaves [0, 2^63)."""

    @initialize()
    def start(self) -> None:
        self.market = Market(markets=SMALL)  # type: ignore[arg-type]
        self.addresses: dict[tuple[int, str], str] = {}
        for user_id in USERS:
            for asset in ("USD", "BTC"):
                [event] = self.market.apply(CreateAddress(user_id, asset))
                assert isinstance(event, AddressCreated)
                self.addresses[(user_id, asset)] = event.address
        self.pending: list[int] = []

    def _apply(self, command: object) -> list[object]:
        before = {a: -self.market.engine.external_balances[a] for a in SUPPLY}
        events = self.market.apply(command)
        for event in events:
            if getattr(event, "code", 0) == Code.SUPPLY_LIMIT:
                assert len(events) == 1
                assert before == {a: -self.market.engine.external_balances[a] for a in SUPPLY}
        return list(events)

    @rule(user=st.sampled_from(USERS), asset=st.sampled_from(("USD", "BTC")), data=st.data())
    def deposit(self, user: int, asset: str, data: st.DataObject) -> None:
        amount = data.draw(_edge_amounts(asset))
        inside = -self.market.engine.external_balances[asset]
        events = self._apply(Deposit(asset, amount, user_id=user))
        assert (inside + amount > SUPPLY[asset]) == (
            getattr(events[0], "code", 0) == Code.SUPPLY_LIMIT)

    @rule(user=st.sampled_from(USERS), asset=st.sampled_from(("USD", "BTC")),
          sign=st.sampled_from((1, -1)), data=st.data())
    def adjust(self, user: int, asset: str, sign: int, data: st.DataObject) -> None:
        self._apply(AdjustBalance(user, asset, sign * data.draw(_edge_amounts(asset)), "edge"))

    @rule(user=st.sampled_from(USERS), to=st.sampled_from(USERS),
          asset=st.sampled_from(("USD", "BTC")), data=st.data())
    def transfer(self, user: int, to: int, asset: str, data: st.DataObject) -> None:
        self._apply(Transfer(user, self.addresses[(to, asset)], asset,
                             data.draw(_edge_amounts(asset))))

    @rule(user=st.sampled_from(USERS), asset=st.sampled_from(("USD", "BTC")), data=st.data())
    def withdraw(self, user: int, asset: str, data: st.DataObject) -> None:
        for event in self._apply(RequestWithdrawal(user, asset, data.draw(_edge_amounts(asset)),
                                                   "edge")):
            if isinstance(event, WithdrawalRequested):
                self.pending.append(event.withdrawal_id)

    @rule(complete=st.booleans())
    def settle_withdrawal(self, complete: bool) -> None:
        if self.pending:
            wid = self.pending.pop(0)
            self._apply(CompleteWithdrawal(wid) if complete else RejectWithdrawal(wid, "no"))

    @rule(user=st.sampled_from(USERS), side=st.sampled_from((Side.BUY, Side.SELL)),
          price=st.integers(4_900_000, 5_100_000), qty=st.integers(1, BTC_USD.max_qty_lots),
          market=st.booleans())
    def order(self, user: int, side: int, price: int, qty: int, market: bool) -> None:
        self._apply(PlaceOrder(user, "BTC-USD", side,
                               OrderType.MARKET if market else OrderType.LIMIT, qty_lots=qty,
                               price_ticks=0 if market else price))

    @invariant()
    def bounded(self) -> None:
        engine = self.market.engine
        for asset, supply in SUPPLY.items():
            assert 0 <= -engine.external_balances[asset] <= supply
            assert 0 <= engine.fee_balances[asset] <= supply
        for account in engine.accounts.values():
            assert all(0 <= amount <= INT64_MAX for amount in account.balances)


TestSupplyMachine = SupplyMachine.TestCase
TestSupplyMachine.settings = settings(max_examples=30, stateful_step_count=40, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])


def test_a_hold_beyond_64_bits_is_refused_as_insufficient_funds() -> None:
    """Balances are 64-bit; a hold computed from a huge order is compared exactly, never
    converted (the compiled core keeps balances as C int64s)."""
    market = Market()
    _fill_to_the_supply(market)
    btc_usd = MARKETS.symbols["BTC-USD"]
    price = MAX_TICKS - 1
    assert price * btc_usd.max_qty_lots * btc_usd.quote_per_tick_lot > INT64_MAX
    assert_rejected(market.apply_unchanged(
        PlaceOrder(1, "BTC-USD", Side.BUY, OrderType.LIMIT, qty_lots=btc_usd.max_qty_lots,
                   price_ticks=price)), Code.INSUFFICIENT_FUNDS)
    [accepted, *_] = market.apply(PlaceOrder(1, "BTC-USD", Side.BUY, OrderType.LIMIT,
                                         qty_lots=10, price_ticks=5_000_000))
    assert_rejected(market.apply_unchanged(
        AmendOrder(1, accepted.order_id, price_ticks=price, qty_lots=btc_usd.max_qty_lots)),
        Code.INSUFFICIENT_FUNDS)
    assert sum(market.balance(1, "USD")) == USD_MAX
