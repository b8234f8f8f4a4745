"""Balances, holds, fees, risk limits, halts, suspension and wallet operations.

BTC-USD: one lot (0.0001 BTC) at one tick (0.01 USD) is 1 USD minor unit, so the
notional of 1 BTC at 100 USD is 10_000 ticks x 10_000 lots = 100_000_000 (100 USD).
Default fees: maker 200 ppm, taker 500 ppm; a buy holds its notional plus 500 ppm.
"""

from __future__ import annotations

import pytest
from helpers import (
    Market,
    assert_rejected,
    btc,
    events_of_type,
    funded,
    lots,
    names,
    one,
    ticks,
    usd,
)

from matchbook.core import (
    AdjustBalance,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReason,
    Code,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    Engine,
    HaltTrading,
    PlaceOrder,
    ReinstateUser,
    RejectWithdrawal,
    RequestWithdrawal,
    ResumeTrading,
    RiskLimits,
    SelfTradePrevention,
    SetFeeTier,
    SetRiskLimits,
    Side,
    SuspendUser,
    TimeInForce,
    Transfer,
)
from matchbook.core.events import (
    AddressCreated,
    BalanceAdjusted,
    Deposited,
    FeeTierSet,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    RiskLimitsSet,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
    Transferred,
    UserReinstated,
    UserSuspended,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)

BUY, SELL = Side.BUY, Side.SELL
ONE_BTC_AT_100 = 100_000_000  # notional in USD minor units


def assert_conserved(m: Market) -> None:
    assert set(m.engine.asset_totals().values()) == {0}


def fee_account(m: Market, asset: str = "USD") -> int:
    return m.engine.fee_balances[asset]


# --------------------------------------------------------------------------- holds


def test_buy_holds_notional_plus_the_largest_fee() -> None:
    m = Market()
    m.deposit(1, "USD", "1000")
    accepted = one(m.place(1, BUY, "1", "100.00"), OrderAccepted)
    hold = ONE_BTC_AT_100 + ONE_BTC_AT_100 * 500 // 1_000_000
    assert (accepted.hold_asset, accepted.hold_minor) == ("USD", hold)
    assert m.balance(1, "USD") == (usd("1000") - hold, hold)


def test_buy_hold_fee_part_is_truncated() -> None:
    m = Market()
    m.deposit(1, "USD", "1000")
    accepted = one(m.place(1, BUY, "0.0137", "100.03"), OrderAccepted)
    notional = 10_003 * 137
    assert accepted.hold_minor == notional + notional * 500 // 1_000_000


def test_sell_holds_its_base_quantity() -> None:
    m = Market()
    m.deposit(1, "BTC", "2")
    accepted = one(m.place(1, SELL, "1.5", "100.00"), OrderAccepted)
    assert (accepted.hold_asset, accepted.hold_minor) == ("BTC", btc("1.5"))
    assert m.balance(1, "BTC") == (btc("0.5"), btc("1.5"))


@pytest.mark.parametrize(
    ("side", "stop", "price", "asset", "hold"),
    [
        # stop-limit buy: notional at its limit, 0.5 x 102 = 51 USD, plus 500 ppm
        (BUY, "101.00", "102.00", "USD", 51_000_000 + 25_500),
        # stop-market buy: at the protection band from the stop, 101 x 1.05 = 106.05
        (BUY, "101.00", "", "USD", 53_025_000 + 26_512),
        (SELL, "99.00", "98.00", "BTC", 50_000_000),
        (SELL, "99.00", "", "BTC", 50_000_000),
    ],
)
def test_stop_orders_hold_at_placement(
    side: Side, stop: str, price: str, asset: str, hold: int
) -> None:
    m = funded(1)
    before = m.balance(1, asset)
    accepted = one(m.place(1, side, "0.5", price, stop=stop), OrderAccepted)
    assert (accepted.hold_asset, accepted.hold_minor) == (asset, hold)
    assert m.balance(1, asset) == (before[0] - hold, hold)


# --------------------------------------------------------------------------- settlement


def test_settlement_taker_buys_from_maker_seller() -> None:
    m = Market()
    m.deposit(1, "USD", "1000")
    m.deposit(2, "BTC", "1")
    m.rest(2, SELL, "1", "100.00")
    events = m.place(1, BUY, "1", "100.00")
    trade = one(events, TradeExecuted)
    assert (trade.notional_minor, trade.base_minor) == (ONE_BTC_AT_100, btc("1"))
    assert (trade.maker_fee_minor, trade.taker_fee_minor) == (20_000, 50_000)
    maker_fill, taker_fill = events_of_type(events, OrderFilled)
    assert (maker_fill.fee_minor, taker_fill.fee_minor) == (20_000, 50_000)
    assert taker_fill.released_minor == 0  # the hold was exactly notional + taker fee
    assert m.balance(1, "USD") == (usd("1000") - ONE_BTC_AT_100 - 50_000, 0)
    assert m.balance(1, "BTC") == (btc("1"), 0)
    assert m.balance(2, "USD") == (ONE_BTC_AT_100 - 20_000, 0)
    assert m.balance(2, "BTC") == (0, 0)
    assert fee_account(m) == 70_000
    assert_conserved(m)


def test_settlement_taker_sells_to_maker_buyer_whose_unused_fee_hold_is_released() -> None:
    m = Market()
    m.deposit(1, "USD", "1000")
    m.deposit(2, "BTC", "1")
    m.rest(1, BUY, "1", "100.00")  # holds 100 USD + 500 ppm
    events = m.place(2, SELL, "1", "100.00")
    maker_fill, _ = events_of_type(events, OrderFilled)
    assert maker_fill.released_minor == 50_000 - 20_000  # held at 500 ppm, paid 200 ppm
    assert m.balance(1, "USD") == (usd("1000") - ONE_BTC_AT_100 - 20_000, 0)
    assert m.balance(1, "BTC") == (btc("1"), 0)
    assert m.balance(2, "USD") == (ONE_BTC_AT_100 - 50_000, 0)
    assert fee_account(m) == 70_000
    assert_conserved(m)


def test_rebate_tier_maker_is_paid_from_the_fee_account() -> None:
    m = Market()
    assert m.apply(SetFeeTier(2, "vip")) == [FeeTierSet(2, "vip")]
    m.deposit(1, "USD", "1000")
    m.deposit(2, "BTC", "1")
    m.rest(2, SELL, "1", "100.00")
    events = m.place(1, BUY, "1", "100.00")
    trade = one(events, TradeExecuted)
    assert (trade.maker_fee_minor, trade.taker_fee_minor) == (-10_000, 50_000)
    assert m.balance(2, "USD") == (ONE_BTC_AT_100 + 10_000, 0)  # notional plus the rebate
    assert fee_account(m) == 50_000 - 10_000
    assert_conserved(m)


def test_vip_taker_pays_the_tier_rate_and_holds_at_it() -> None:
    m = Market()
    m.apply(SetFeeTier(1, "vip"))
    m.deposit(1, "USD", "1000")
    m.deposit(2, "BTC", "1")
    m.rest(2, SELL, "1", "100.00")
    events = m.place(1, BUY, "1", "100.00")
    assert one(events, OrderAccepted).hold_minor == ONE_BTC_AT_100 + 30_000
    assert one(events, TradeExecuted).taker_fee_minor == 30_000


def test_an_order_keeps_the_rates_of_the_tier_it_was_placed_under() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "100.00")
    m.apply(SetFeeTier(2, "vip"))
    assert one(m.place(1, BUY, "1", "100.00"), TradeExecuted).maker_fee_minor == 20_000


def test_fee_tier_back_to_default() -> None:
    m = funded(2)
    m.apply(SetFeeTier(2, "vip"))
    assert m.apply(SetFeeTier(2, "")) == [FeeTierSet(2, "")]
    assert m.engine.accounts[2].tier == ""


@pytest.mark.parametrize("maker_tier", ["", "vip"])
def test_fee_truncation_never_creates_or_destroys_value(maker_tier: str) -> None:
    m = funded(1, 2)
    m.apply(SetFeeTier(2, maker_tier))
    expected_fees = 0
    for qty, price in [("0.0137", "100.03"), ("0.0101", "99.99"), ("0.0333", "100.07"),
                       ("0.0119", "100.01"), ("1.2345", "100.11")]:
        m.rest(2, SELL, qty, price)
        trade = one(m.place(1, BUY, qty, price), TradeExecuted)
        notional = ticks(price) * lots(qty)
        assert trade.notional_minor == notional
        taker_fee = notional * 500 // 1_000_000
        if maker_tier == "vip":  # a rebate, truncated toward zero
            maker_fee = -(notional * 100 // 1_000_000)
        else:
            maker_fee = notional * 200 // 1_000_000
        assert (trade.maker_fee_minor, trade.taker_fee_minor) == (maker_fee, taker_fee)
        expected_fees += maker_fee + taker_fee
        assert_conserved(m)
    assert fee_account(m) == expected_fees
    assert m.engine.asset_totals() == dict.fromkeys(m.engine.markets.assets, 0)


def test_buy_filled_below_its_limit_releases_the_unused_hold() -> None:
    m = funded(1, 2)
    usd_before = m.balance(1, "USD")[0]
    m.rest(2, SELL, "1", "100.00")
    events = m.place(1, BUY, "1", "101.00")
    hold = one(events, OrderAccepted).hold_minor
    assert hold == 101_000_000 + 50_500
    cost = ONE_BTC_AT_100 + 50_000
    assert events_of_type(events, OrderFilled)[-1].released_minor == hold - cost
    assert m.balance(1, "USD") == (usd_before - cost, 0)


def test_partly_filled_buy_keeps_the_hold_of_its_open_rest() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "0.4", "100.00")
    m.place(1, BUY, "1", "101.00")
    # 0.6 BTC rest at 101: hold = hold(1 @ 101) - cost of 0.4 @ 100 (with its taker fee)
    cost = 40_000_000 + 20_000
    assert m.balance(1, "USD")[1] == 101_000_000 + 50_500 - cost
    [order] = m.engine.open_orders(1)
    assert order.hold == 101_000_000 + 50_500 - cost


def test_cancel_releases_the_whole_remaining_hold() -> None:
    m = funded(1, 2)
    before = m.balance(1, "USD")
    order_id = m.rest(1, BUY, "1", "100.00")
    m.place(2, SELL, "0.25", "100.00")
    held = m.balance(1, "USD")[1]
    events = m.apply(CancelOrder(1, order_id))
    assert one(events, OrderCancelled).released_minor == held
    assert m.balance(1, "USD")[1] == 0
    paid = 25_000_000 + 25_000_000 * 200 // 1_000_000
    assert m.balance(1, "USD")[0] == before[0] - paid


def test_sell_cancel_returns_the_base() -> None:
    m = funded(1)
    order_id = m.rest(1, SELL, "2", "100.00")
    assert one(m.apply(CancelOrder(1, order_id)), OrderCancelled).released_minor == btc("2")
    assert m.balance(1, "BTC") == (btc("1000"), 0)


def test_expiry_releases_the_hold() -> None:
    m = funded(1)
    before = m.balance(1, "USD")
    expire = m.ts_ns + 10
    m.rest(1, BUY, "1", "100.00", tif=TimeInForce.GTD, expire_ts_ns=expire)
    events = m.advance(expire)
    assert one(events, OrderExpired).released_minor == ONE_BTC_AT_100 + 50_000
    assert m.balance(1, "USD") == before


@pytest.mark.parametrize("stp", list(SelfTradePrevention), ids=lambda s: s.name)
def test_self_trade_prevention_releases_the_holds_of_what_it_cancels(
    stp: SelfTradePrevention,
) -> None:
    m = funded(1)
    before = (m.balance(1, "USD"), m.balance(1, "BTC"))
    m.rest(1, SELL, "1", "100.00")
    m.place(1, BUY, "1", "100.00", stp=stp)
    m.apply(CancelAll(1))  # whatever self-trade prevention left open
    assert (m.balance(1, "USD"), m.balance(1, "BTC")) == before
    assert_conserved(m)


def test_stp_cancel_newest_releases_the_taker_hold_at_once() -> None:
    m = funded(1)
    usd_before = m.balance(1, "USD")
    m.rest(1, SELL, "1", "100.00")
    events = m.place(1, BUY, "1", "100.00", stp=SelfTradePrevention.CANCEL_NEWEST)
    cancelled = one(events, OrderCancelled)
    assert cancelled.released_minor == one(events, OrderAccepted).hold_minor
    assert m.balance(1, "USD") == usd_before


# --------------------------------------------------------------------------- market buy by quote


def test_market_buy_by_quote_amount_spends_at_most_the_amount_fees_included() -> None:
    m = funded(1, 2)
    usd_before = m.balance(1, "USD")[0]
    m.rest(2, SELL, "0.5", "100.00")
    m.rest(2, SELL, "1", "101.00")
    amount = usd("80")
    events = m.apply(PlaceOrder(1, "BTC-USD", BUY, 2, quote_amount_minor=amount))
    accepted = one(events, OrderAccepted)
    assert (accepted.quote_amount_minor, accepted.hold_minor) == (amount, amount)
    trades = events_of_type(events, TradeExecuted)
    spent = sum(t.notional_minor + t.taker_fee_minor for t in trades)
    assert spent <= amount
    assert m.balance(1, "USD") == (usd_before - spent, 0)
    # it bought all it could: one more lot at the last price would not have fitted
    assert [(t.price_ticks, t.qty_lots) for t in trades] == [(10_000, 5_000), (10_100, 2_966)]
    one_more = 10_100 + 10_100 * 500 // 1_000_000
    assert amount - spent < one_more
    assert m.balance(1, "BTC")[0] - btc("1000") == (5_000 + 2_966) * 10_000


def test_market_buy_by_quote_amount_smaller_than_one_lot_is_rejected() -> None:
    m = funded(1, 2)
    m.rest(2, SELL, "1", "60000.00")
    command = PlaceOrder(1, "BTC-USD", BUY, 2, quote_amount_minor=usd("5"))  # 1 lot = 6 USD
    assert_rejected(m.apply_unchanged(command), Code.NO_LIQUIDITY)


def test_market_buy_by_quote_amount_skips_the_buyers_own_asks() -> None:
    m = funded(1)
    m.rest(1, SELL, "1", "100.00")
    command = PlaceOrder(1, "BTC-USD", BUY, 2, quote_amount_minor=usd("50"))
    assert_rejected(m.apply_unchanged(command), Code.NO_LIQUIDITY)


# --------------------------------------------------------------------------- funds and limits


@pytest.mark.parametrize(
    ("side", "qty", "price"),
    [(BUY, "1", "100.00"), (BUY, "0.5", "100.00"), (SELL, "1.0001", "100.00")],
)
def test_insufficient_funds_is_rejected(side: Side, qty: str, price: str) -> None:
    m = Market()
    m.deposit(1, "USD", "50")  # 0.5 BTC at 100 needs 50 USD plus the fee hold
    m.deposit(1, "BTC", "1")
    command = PlaceOrder(1, "BTC-USD", side, 1, lots(qty), ticks(price))
    assert_rejected(m.apply_unchanged(command), Code.INSUFFICIENT_FUNDS)


def test_exactly_enough_funds_is_accepted() -> None:
    m = Market()
    m.deposit(1, "USD", "100.05")
    m.rest(1, BUY, "1", "100.00")
    assert m.balance(1, "USD") == (0, ONE_BTC_AT_100 + 50_000)


def test_user_without_any_balance_is_rejected_for_funds() -> None:
    m = Market()
    command = PlaceOrder(7, "BTC-USD", BUY, 1, lots("1"), ticks("100.00"))
    assert_rejected(m.apply_unchanged(command), Code.INSUFFICIENT_FUNDS)


def test_held_funds_are_not_available_twice() -> None:
    m = Market()
    m.deposit(1, "USD", "150")
    m.rest(1, BUY, "1", "100.00")
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("0.5"), ticks("100.00"))
    assert_rejected(m.apply_unchanged(command), Code.INSUFFICIENT_FUNDS)


def test_position_limit_counts_balance_and_open_buys() -> None:
    m = Market(limits=RiskLimits(position_limits_minor={"BTC": btc("2")}))
    m.deposit(1, "USD", "1000")
    m.deposit(1, "BTC", "1.5")
    m.rest(1, BUY, "0.3", "100.00")
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("0.2001"), ticks("100.00"))
    assert_rejected(m.apply_unchanged(command), Code.POSITION_LIMIT_EXCEEDED)
    m.rest(1, BUY, "0.2", "100.00")  # exactly at the limit: 1.5 + 0.3 + 0.2
    m.rest(1, SELL, "0.1", "101.00")  # sells are not limited
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("0.02"), ticks("99.00"))
    assert_rejected(m.apply_unchanged(command), Code.POSITION_LIMIT_EXCEEDED)


def test_position_limit_does_not_apply_to_other_assets() -> None:
    m = Market(limits=RiskLimits(position_limits_minor={"ETH": 1}))
    m.deposit(1, "USD", "1000")
    m.rest(1, BUY, "5", "100.00")


def test_max_open_orders() -> None:
    m = Market(limits=RiskLimits(max_open_orders=2))
    m.fund(1)
    first = m.rest(1, BUY, "0.1", "100.00")
    m.place(1, SELL, "0.1", "101.00", stop="90.00")  # pending stops count
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("0.1"), ticks("99.00"))
    assert_rejected(m.apply_unchanged(command), Code.TOO_MANY_OPEN_ORDERS)
    m.apply(CancelOrder(1, first))
    assert one(m.apply(command), OrderAccepted)


# --------------------------------------------------------------------------- halts


def test_halted_symbol_rejects_new_orders_until_resumed() -> None:
    m = funded(1)
    m.deposit(1, "ETH", "1")
    resting = m.rest(1, BUY, "1", "100.00")
    assert m.apply(HaltTrading("BTC-USD")) == [TradingHalted("BTC-USD")]
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("1"), ticks("99.00"))
    assert_rejected(m.apply_unchanged(command), Code.SYMBOL_HALTED)
    assert_rejected(m.apply_unchanged(AmendOrder(1, resting, qty_lots=lots("0.5"))),
                    Code.SYMBOL_HALTED)
    m.rest(1, SELL, "0.01", "2000.00", symbol="ETH-USD")  # other symbols trade on
    assert one(m.apply(CancelOrder(1, resting)), OrderCancelled)  # cancels are allowed
    assert m.apply(ResumeTrading("BTC-USD")) == [TradingResumed("BTC-USD")]
    assert one(m.apply(command), OrderAccepted)


def test_global_halt_rejects_every_symbol_until_resumed() -> None:
    m = funded(1)
    assert m.apply(HaltTrading()) == [TradingHalted("")]
    for symbol, price in [("BTC-USD", "100.00"), ("ETH-USD", "2000.00")]:
        command = PlaceOrder(1, symbol, BUY, 1, 10, ticks(price))
        assert_rejected(m.apply_unchanged(command), Code.TRADING_HALTED)
    assert m.apply(ResumeTrading()) == [TradingResumed("")]
    m.rest(1, BUY, "1", "100.00")


def test_halt_of_an_unknown_symbol_is_rejected() -> None:
    m = Market()
    assert_rejected(m.apply_unchanged(HaltTrading("DOGE-USD")), Code.UNKNOWN_SYMBOL)


# --------------------------------------------------------------------------- suspension


def test_suspend_cancels_every_open_order_and_releases_holds() -> None:
    m = funded(1, 2)
    before = (m.balance(1, "USD"), m.balance(1, "BTC"))
    bid = m.rest(1, BUY, "1", "100.00")
    ask = m.rest(1, SELL, "1", "101.00")
    stop = one(m.place(1, BUY, "0.1", stop="120.00"), OrderAccepted).order_id
    other = m.rest(2, BUY, "1", "99.00")
    events = m.apply(SuspendUser(1))
    assert events[0] == UserSuspended(1)
    cancels = events_of_type(events, OrderCancelled)
    assert [c.order_id for c in cancels] == [bid, ask, stop]
    assert {c.reason for c in cancels} == {CancelReason.SUSPENDED}
    assert (m.balance(1, "USD"), m.balance(1, "BTC")) == before
    assert [o.order_id for o in m.engine.open_orders(2)] == [other]
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("1"), ticks("100.00"))
    assert_rejected(m.apply_unchanged(command), Code.USER_SUSPENDED)
    assert_rejected(m.apply_unchanged(RequestWithdrawal(1, "USD", usd("1"))),
                    Code.USER_SUSPENDED)
    assert m.apply(ReinstateUser(1)) == [UserReinstated(1)]
    assert one(m.apply(command), OrderAccepted)


def test_reinstate_of_a_user_not_suspended_is_rejected_as_not_suspended() -> None:
    m = funded(1)
    assert_rejected(m.apply_unchanged(ReinstateUser(1)), Code.USER_NOT_SUSPENDED)
    assert_rejected(m.apply_unchanged(ReinstateUser(0)), Code.INVALID_USER)


# --------------------------------------------------------------------------- deposits, addresses


def test_deposit_by_user_credits_available_against_the_external_account() -> None:
    m = Market()
    events = m.apply(Deposit("USD", usd("250.5"), user_id=1, reference="wire 42"))
    assert events == [Deposited(1, 1, "USD", usd("250.5"), "", "wire 42")]
    assert m.balance(1, "USD") == (usd("250.5"), 0)
    assert m.engine.external_balances["USD"] == -usd("250.5")
    assert_conserved(m)


def test_deposit_to_a_wallet_address_credits_its_owner() -> None:
    m = Market()
    [created] = m.apply(CreateAddress(3, "BTC"))
    assert isinstance(created, AddressCreated)
    events = m.apply(Deposit("BTC", btc("0.25"), address=created.address, reference="tx-1"))
    assert events == [Deposited(1, 3, "BTC", btc("0.25"), created.address, "tx-1")]
    assert m.balance(3, "BTC") == (btc("0.25"), 0)


def test_deposit_to_an_address_of_another_asset_or_unknown_address_is_rejected() -> None:
    m = Market()
    [created] = m.apply(CreateAddress(3, "BTC"))
    assert isinstance(created, AddressCreated)
    for command in (Deposit("USD", usd("1"), address=created.address),
                    Deposit("BTC", btc("1"), address="mb1nowhere")):
        assert_rejected(m.apply_unchanged(command), Code.UNKNOWN_ADDRESS)


def test_created_addresses_are_deterministic_and_unique() -> None:
    first, second = Market(), Market()
    made = []
    for user_id, asset in [(1, "BTC"), (1, "USD"), (2, "BTC")]:
        [a] = first.apply(CreateAddress(user_id, asset))
        [b] = second.apply(CreateAddress(user_id, asset))
        assert a == b and isinstance(a, AddressCreated)
        made.append(a.address)
    assert len(set(made)) == 3
    assert first.engine.state_hash() == second.engine.state_hash()


def test_second_address_for_the_same_user_and_asset_is_rejected() -> None:
    m = Market()
    m.apply(CreateAddress(1, "BTC"))
    assert_rejected(m.apply_unchanged(CreateAddress(1, "BTC")), Code.ADDRESS_EXISTS)


# --------------------------------------------------------------------------- withdrawals


def test_withdrawal_to_an_over_long_destination_is_refused_for_its_destination() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    assert m.apply(RequestWithdrawal(1, "USD", usd("1"), destination="d" * 200))
    assert_rejected(m.apply_unchanged(RequestWithdrawal(1, "USD", usd("1"),
                                                        destination="d" * 201)),
                    Code.INVALID_DESTINATION)


def test_withdrawal_request_holds_and_completion_sends_it_out() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    events = m.apply(RequestWithdrawal(1, "USD", usd("30"), destination="bank 7"))
    assert events == [WithdrawalRequested(2, 1, "USD", usd("30"), "bank 7")]
    assert m.balance(1, "USD") == (usd("70"), usd("30"))
    assert m.apply(CompleteWithdrawal(2)) == [WithdrawalCompleted(2, 1, "USD", usd("30"))]
    assert m.balance(1, "USD") == (usd("70"), 0)
    assert m.engine.external_balances["USD"] == -usd("70")
    assert_conserved(m)


def test_rejected_withdrawal_returns_to_available() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    m.apply(RequestWithdrawal(1, "USD", usd("30")))
    events = m.apply(RejectWithdrawal(2, reason="sanctioned destination"))
    assert events == [WithdrawalRejected(2, 1, "USD", usd("30"), "sanctioned destination")]
    assert m.balance(1, "USD") == (usd("100"), 0)


def test_held_withdrawal_cannot_be_spent_on_an_order() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    m.apply(RequestWithdrawal(1, "USD", usd("60")))
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("0.5"), ticks("100.00"))
    assert_rejected(m.apply_unchanged(command), Code.INSUFFICIENT_FUNDS)


def test_withdrawal_settled_twice_is_rejected_as_no_longer_pending() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    m.apply(RequestWithdrawal(1, "USD", usd("30")))
    m.apply(CompleteWithdrawal(2))
    assert_rejected(m.apply_unchanged(CompleteWithdrawal(2)), Code.WITHDRAWAL_NOT_PENDING)
    assert_rejected(m.apply_unchanged(RejectWithdrawal(2)), Code.WITHDRAWAL_NOT_PENDING)


def test_unknown_withdrawal_is_rejected() -> None:
    m = Market()
    assert_rejected(m.apply_unchanged(CompleteWithdrawal(99)), Code.UNKNOWN_WITHDRAWAL)


# --------------------------------------------------------------------------- transfers


def address_of(m: Market, user_id: int, asset: str) -> str:
    [created] = m.apply(CreateAddress(user_id, asset))
    assert isinstance(created, AddressCreated)
    return created.address


def test_transfer_to_another_users_address() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    to = address_of(m, 2, "USD")
    events = m.apply(Transfer(1, to, "USD", usd("40")))
    assert events == [Transferred(2, 1, 2, to, "USD", usd("40"))]
    assert m.balance(1, "USD") == (usd("60"), 0)
    assert m.balance(2, "USD") == (usd("40"), 0)
    assert_conserved(m)


def test_transfer_to_an_unknown_address_or_of_another_asset_is_rejected() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    btc_address = address_of(m, 2, "BTC")
    for to in ("mb1usdunknown", btc_address):
        assert_rejected(m.apply_unchanged(Transfer(1, to, "USD", usd("1"))), Code.UNKNOWN_ADDRESS)


def test_transfer_to_self_is_rejected() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    own = address_of(m, 1, "USD")
    assert_rejected(m.apply_unchanged(Transfer(1, own, "USD", usd("1"))), Code.TRANSFER_TO_SELF)


def test_transfer_of_more_than_available_is_rejected() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    m.rest(1, BUY, "0.5", "100.00")  # holds 50.025 USD
    to = address_of(m, 2, "USD")
    command = Transfer(1, to, "USD", usd("50"))
    assert_rejected(m.apply_unchanged(command), Code.INSUFFICIENT_FUNDS)
    assert one(m.apply(Transfer(1, to, "USD", usd("49.975"))), Transferred)


# --------------------------------------------------------------------------- adjustments


def test_admin_adjustment_with_a_reason_moves_against_the_external_account() -> None:
    m = Market()
    events = m.apply(AdjustBalance(1, "BTC", btc("0.1"), "goodwill credit"))
    assert events == [BalanceAdjusted(1, 1, "BTC", btc("0.1"), "goodwill credit")]
    events = m.apply(AdjustBalance(1, "BTC", -btc("0.04"), "correction of ticket 12"))
    assert events == [BalanceAdjusted(2, 1, "BTC", -btc("0.04"), "correction of ticket 12")]
    assert m.balance(1, "BTC") == (btc("0.06"), 0)
    assert m.engine.external_balances["BTC"] == -btc("0.06")
    assert_conserved(m)


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_admin_adjustment_without_a_proper_reason_is_rejected(reason: str) -> None:
    m = Market()
    assert_rejected(m.apply_unchanged(AdjustBalance(1, "BTC", btc("0.1"), reason)),
                    Code.INVALID_REASON)


def test_negative_adjustment_beyond_available_is_rejected() -> None:
    m = Market()
    m.deposit(1, "BTC", "1")
    m.rest(1, SELL, "0.5", "100.00")
    command = AdjustBalance(1, "BTC", -btc("0.6"), "clawback")
    assert_rejected(m.apply_unchanged(command), Code.INSUFFICIENT_FUNDS)


def test_wallet_operation_ids_are_one_sequence() -> None:
    m = Market()
    m.deposit(1, "USD", "100")
    to = address_of(m, 2, "USD")
    ids = [
        one(m.apply(RequestWithdrawal(1, "USD", usd("1"))), WithdrawalRequested).withdrawal_id,
        one(m.apply(Transfer(1, to, "USD", usd("1"))), Transferred).transfer_id,
        one(m.apply(AdjustBalance(2, "USD", usd("1"), "promo")), BalanceAdjusted).adjustment_id,
        one(m.apply(Deposit("USD", usd("1"), user_id=3)), Deposited).deposit_id,
    ]
    assert ids == [2, 3, 4, 5]
    assert names(m.apply(CompleteWithdrawal(2))) == ["WithdrawalCompleted"]


# --------------------------------------------------------------------------- amend and holds


def test_amend_down_releases_part_of_the_hold() -> None:
    m = funded(1)
    order_id = m.rest(1, BUY, "1", "100.00")
    events = m.apply(AmendOrder(1, order_id, qty_lots=lots("0.5")))
    assert one(events, OrderAmended).hold_delta_minor == -(50_000_000 + 25_000)
    assert m.balance(1, "USD")[1] == 50_000_000 + 25_000


def test_amend_price_up_holds_the_difference() -> None:
    m = funded(1)
    order_id = m.rest(1, BUY, "1", "100.00")
    events = m.apply(AmendOrder(1, order_id, price_ticks=ticks("101.00")))
    assert one(events, OrderAmended).hold_delta_minor == 1_000_000 + 500
    assert m.balance(1, "USD")[1] == 101_000_000 + 50_500


def test_amend_beyond_available_funds_is_rejected() -> None:
    m = Market()
    m.deposit(1, "USD", "150")
    order_id = m.rest(1, BUY, "1", "100.00")
    command = AmendOrder(1, order_id, qty_lots=lots("1.5"))
    assert_rejected(m.apply_unchanged(command), Code.INSUFFICIENT_FUNDS)


def test_sell_amend_up_holds_more_base() -> None:
    m = Market()
    m.deposit(1, "BTC", "1")
    order_id = m.rest(1, SELL, "0.5", "100.00")
    events = m.apply(AmendOrder(1, order_id, qty_lots=lots("0.8")))
    assert one(events, OrderAmended).hold_delta_minor == btc("0.3")
    assert m.balance(1, "BTC") == (btc("0.2"), btc("0.8"))
    command = AmendOrder(1, order_id, qty_lots=lots("1.0001"))
    assert_rejected(m.apply_unchanged(command), Code.INSUFFICIENT_FUNDS)


# --------------------------------------------------------------------------- risk limits


def test_set_risk_limits_takes_effect_at_its_sequence_number() -> None:
    m = funded(1)
    m.rest(1, BUY, "0.1", "100.00")
    m.rest(1, BUY, "0.1", "99.00")
    event = one(m.apply(SetRiskLimits(2, (("BTC", btc("2")),))), RiskLimitsSet)
    assert (event.max_open_orders, event.position_limits) == (2, (("BTC", btc("2")),))
    command = PlaceOrder(1, "BTC-USD", BUY, 1, lots("0.1"), ticks("98.00"))
    assert_rejected(m.apply_unchanged(command), Code.TOO_MANY_OPEN_ORDERS)
    m.apply(SetRiskLimits(3))  # no position limit any more, one more open order
    assert one(m.apply(command), OrderAccepted)
    assert m.engine.limits == RiskLimits(3, {})


def test_risk_limits_are_part_of_the_state() -> None:
    m = funded(1)
    before = m.engine.state_hash()
    m.apply(SetRiskLimits(5, (("ETH", 10**9), ("BTC", btc("1")))))
    assert m.engine.state_hash() != before
    restored = Engine.restore(m.engine.markets, m.engine.snapshot())
    assert restored.limits == RiskLimits(5, {"BTC": btc("1"), "ETH": 10**9})
    assert restored.state_hash() == m.engine.state_hash()


@pytest.mark.parametrize("command", [
    SetRiskLimits(0),
    SetRiskLimits(-1),
    SetRiskLimits(10, (("XYZ", 5),)),
    SetRiskLimits(10, (("BTC", 0),)),
    SetRiskLimits(10, (("BTC", -5),)),
    SetRiskLimits(10, (("BTC", 5), ("BTC", 6))),
], ids=["zero orders", "negative orders", "unknown asset", "zero position", "negative position",
        "asset twice"])
def test_bad_risk_limits_are_rejected_and_change_nothing(command: SetRiskLimits) -> None:
    m = funded(1)
    assert_rejected(m.apply_unchanged(command), Code.INVALID_RISK_LIMITS)
