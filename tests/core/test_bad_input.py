"""Every bad input is a rejection event with its numbered code and sentence, and leaves
the engine exactly as a no-op at the same sequence number and time would.

The scenario: users 1 and 2 are funded (user 3 holds only 10 USD); user 1 has bid
``MINE`` (1 BTC at 100.00, client order id "mine") and a USD address, user 2 has ask
``THEIRS`` (1 BTC at 101.00), so the band's reference price is the mid, 100.50.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import Market, assert_rejected, funded, lots, ticks, usd

from matchbook.core import (
    AdjustBalance,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Code,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    OrderType,
    PlaceOrder,
    RejectWithdrawal,
    RequestWithdrawal,
    SetFeeTier,
    Side,
    SuspendUser,
    TimeInForce,
    Transfer,
)
from matchbook.core.engine import MAX_TICKS
from matchbook.core.events import AddressCreated, CommandRejected, OrderRejected

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
STOP_LIMIT, STOP_MARKET = OrderType.STOP_LIMIT, OrderType.STOP_MARKET
IOC, FOK, GTD = TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTD
MINE, THEIRS = 1, 2
OWN_ADDRESS = "<user 1's USD address>"  # a placeholder: ``with_address`` puts in the real one


def scenario() -> tuple[Market, str]:
    m = funded(1, 2)
    m.deposit(3, "USD", "10")
    assert m.rest(1, BUY, "1", "100.00", client_order_id="mine") == MINE
    assert m.rest(2, SELL, "1", "101.00") == THEIRS
    [created] = m.apply(CreateAddress(1, "USD"))
    assert isinstance(created, AddressCreated)
    return m, created.address


def buy(**fields: Any) -> PlaceOrder:
    """User 1's limit buy of 0.5 BTC at 100.00, with ``fields`` changed."""
    values: dict[str, Any] = {"user_id": 1, "symbol": "BTC-USD", "side": BUY,
                              "order_type": LIMIT, "qty_lots": lots("0.5"),
                              "price_ticks": ticks("100.00")}
    values.update(fields)
    return PlaceOrder(**values)


def market(**fields: Any) -> PlaceOrder:
    """User 1's market buy of 0.5 BTC, with ``fields`` changed."""
    return buy(**{"order_type": MARKET, "price_ticks": 0, **fields})


BAD_ORDERS: list[tuple[str, Any, Code]] = [
    # the symbol and the user
    ("unknown symbol", buy(symbol="DOGE-USD"), Code.UNKNOWN_SYMBOL),
    ("symbol not in canonical spelling", buy(symbol="btc/usd"), Code.UNKNOWN_SYMBOL),
    ("user id 0", buy(user_id=0), Code.INVALID_USER),
    ("negative user id", buy(user_id=-1), Code.INVALID_USER),
    # side, type, time in force, self-trade prevention
    ("side 0", buy(side=0), Code.INVALID_SIDE),
    ("side 3", buy(side=3), Code.INVALID_SIDE),
    ("order type 0", buy(order_type=0), Code.INVALID_ORDER_TYPE),
    ("order type 5", buy(order_type=5), Code.INVALID_ORDER_TYPE),
    ("tif 0", buy(tif=0), Code.INVALID_TIME_IN_FORCE),
    ("tif 5", buy(tif=5), Code.INVALID_TIME_IN_FORCE),
    ("market GTD", market(tif=GTD, expire_ts_ns=2 * 10**18), Code.INVALID_TIME_IN_FORCE),
    ("stp 0", buy(stp=0), Code.INVALID_STP_MODE),
    ("stp 5", buy(stp=5), Code.INVALID_STP_MODE),
    # beyond any C integer: rejected with the code, never an OverflowError
    ("side 2**64", buy(side=2**64), Code.INVALID_SIDE),
    ("side -2**70", buy(side=-2**70), Code.INVALID_SIDE),
    ("order type 2**64", buy(order_type=2**64), Code.INVALID_ORDER_TYPE),
    ("tif 2**64", buy(tif=2**64), Code.INVALID_TIME_IN_FORCE),
    ("tif -2**64", market(tif=-2**64), Code.INVALID_TIME_IN_FORCE),
    ("stp 2**64", buy(stp=2**64), Code.INVALID_STP_MODE),
    ("stp 2**64 on a market", market(stp=2**64), Code.INVALID_STP_MODE),
    # quantity
    ("zero quantity", buy(qty_lots=0), Code.INVALID_QUANTITY),
    ("negative quantity", buy(qty_lots=-1), Code.INVALID_QUANTITY),
    ("absurd quantity", buy(qty_lots=MAX_TICKS), Code.INVALID_QUANTITY),
    ("quantity above the maximum", buy(qty_lots=lots("1000") + 1), Code.QUANTITY_TOO_LARGE),
    ("zero quantity market", market(qty_lots=0), Code.INVALID_QUANTITY),
    # price
    ("zero price", buy(price_ticks=0), Code.INVALID_PRICE),
    ("negative price", buy(price_ticks=-1), Code.INVALID_PRICE),
    ("absurd price", buy(price_ticks=MAX_TICKS), Code.INVALID_PRICE),
    ("price above the band", buy(price_ticks=ticks("110.56")), Code.PRICE_OUTSIDE_BAND),
    ("price below the band", buy(price_ticks=ticks("90.44")), Code.PRICE_OUTSIDE_BAND),
    ("market with a price", market(price_ticks=ticks("100.00")), Code.INVALID_PRICE),
    ("notional below the minimum", buy(qty_lots=lots("0.0099")), Code.NOTIONAL_TOO_SMALL),
    # stops
    ("stop price on a limit", buy(stop_price_ticks=ticks("99.00")), Code.INVALID_STOP_PRICE),
    ("stop price on a market", market(stop_price_ticks=ticks("99.00")), Code.INVALID_STOP_PRICE),
    ("stop limit without a stop", buy(order_type=STOP_LIMIT), Code.INVALID_STOP_PRICE),
    ("stop market with negative stop",
     market(order_type=STOP_MARKET, stop_price_ticks=-5), Code.INVALID_STOP_PRICE),
    ("negative stop price on a limit", buy(stop_price_ticks=-5), Code.INVALID_STOP_PRICE),
    ("negative stop price on a market", market(stop_price_ticks=-5), Code.INVALID_STOP_PRICE),
    # icebergs and post-only
    ("display equal to quantity", buy(display_lots=lots("0.5")), Code.INVALID_DISPLAY_QUANTITY),
    ("display above quantity", buy(display_lots=lots("0.6")), Code.INVALID_DISPLAY_QUANTITY),
    ("negative display", buy(display_lots=-1), Code.INVALID_DISPLAY_QUANTITY),
    ("display on IOC", buy(display_lots=lots("0.1"), tif=IOC), Code.INVALID_DISPLAY_QUANTITY),
    ("display on a market", market(display_lots=lots("0.1")), Code.INVALID_DISPLAY_QUANTITY),
    ("post-only IOC", buy(post_only=True, tif=IOC), Code.INVALID_ORDER_TYPE),
    ("post-only FOK", buy(post_only=True, tif=FOK), Code.INVALID_ORDER_TYPE),
    ("post-only market", market(post_only=True), Code.INVALID_ORDER_TYPE),
    # expiry
    ("GTD without expiry", buy(tif=GTD), Code.INVALID_EXPIRY),
    ("GTD with negative expiry", buy(tif=GTD, expire_ts_ns=-1), Code.INVALID_EXPIRY),
    ("GTC with expiry", buy(expire_ts_ns=2 * 10**18), Code.INVALID_EXPIRY),
    ("GTC with negative expiry", buy(expire_ts_ns=-1), Code.INVALID_EXPIRY),
    ("IOC with negative expiry", buy(tif=IOC, expire_ts_ns=-1), Code.INVALID_EXPIRY),
    ("GTD already expired", buy(tif=GTD, expire_ts_ns=1), Code.EXPIRED_ON_ARRIVAL),
    # client order ids
    ("client order id too long", buy(client_order_id="x" * 65), Code.INVALID_CLIENT_ORDER_ID),
    ("client order id with a newline", buy(client_order_id="a\nb"),
     Code.INVALID_CLIENT_ORDER_ID),
    ("duplicate client order id", buy(client_order_id="mine"), Code.DUPLICATE_CLIENT_ORDER_ID),
    # quote amounts
    ("quote amount on a limit", buy(quote_amount_minor=usd("10")), Code.INVALID_QUOTE_QUANTITY),
    ("quote amount on a market sell",
     market(side=SELL, qty_lots=0, quote_amount_minor=usd("10")), Code.INVALID_QUOTE_QUANTITY),
    ("quote amount with a quantity", market(quote_amount_minor=usd("10")),
     Code.INVALID_QUOTE_QUANTITY),
    ("negative quote amount", market(qty_lots=0, quote_amount_minor=-1),
     Code.INVALID_QUOTE_QUANTITY),
    ("quote amount below the minimum notional",
     market(qty_lots=0, quote_amount_minor=usd("0.99")), Code.NOTIONAL_TOO_SMALL),
    # matching and funds
    ("post-only that would take", buy(post_only=True, price_ticks=ticks("101.00")),
     Code.POST_ONLY_WOULD_TAKE),
    ("FOK beyond the book", buy(tif=FOK, qty_lots=lots("1.5"), price_ticks=ticks("101.00")),
     Code.FOK_NOT_FILLABLE),
    ("more than the user has", buy(user_id=3), Code.INSUFFICIENT_FUNDS),
    ("sell more base than the user has", buy(user_id=3, side=SELL), Code.INSUFFICIENT_FUNDS),
    # cancel, amend, cancel-all
    ("cancel unknown order", CancelOrder(1, 999), Code.UNKNOWN_ORDER),
    ("cancel another user's order", CancelOrder(1, THEIRS), Code.UNKNOWN_ORDER),
    ("cancel unknown client order id", CancelOrder(1, client_order_id="nope"),
     Code.UNKNOWN_ORDER),
    ("cancel without any id", CancelOrder(1), Code.UNKNOWN_ORDER),
    ("amend unknown order", AmendOrder(1, 999, qty_lots=lots("0.5")), Code.UNKNOWN_ORDER),
    ("amend another user's order", AmendOrder(1, THEIRS, qty_lots=lots("0.5")),
     Code.UNKNOWN_ORDER),
    ("amend to a negative price", AmendOrder(1, MINE, price_ticks=-1), Code.INVALID_PRICE),
    ("amend to a negative quantity", AmendOrder(1, MINE, qty_lots=-1), Code.INVALID_QUANTITY),
    ("amend above the maximum quantity", AmendOrder(1, MINE, qty_lots=lots("1000") + 1),
     Code.QUANTITY_TOO_LARGE),
    ("amend outside the band", AmendOrder(1, MINE, price_ticks=ticks("90.00")),
     Code.PRICE_OUTSIDE_BAND),
    ("amend below the minimum notional", AmendOrder(1, MINE, qty_lots=lots("0.0099")),
     Code.NOTIONAL_TOO_SMALL),
    ("amend that changes nothing", AmendOrder(1, MINE), Code.AMEND_NO_CHANGE),
    ("cancel-all in an unknown symbol", CancelAll(1, "DOGE-USD"), Code.UNKNOWN_SYMBOL),
]

BAD_WALLET_COMMANDS: list[tuple[str, Any, Code]] = [
    ("zero deposit", Deposit("USD", 0, user_id=1), Code.INVALID_AMOUNT),
    ("negative deposit", Deposit("USD", -1, user_id=1), Code.INVALID_AMOUNT),
    ("deposit of an unknown asset", Deposit("DOGE", 1, user_id=1), Code.UNKNOWN_ASSET),
    ("deposit to nobody", Deposit("USD", 1), Code.UNKNOWN_ADDRESS),
    ("deposit to a negative user id", Deposit("USD", 1, user_id=-1), Code.INVALID_USER),
    ("address for an unknown asset", CreateAddress(1, "DOGE"), Code.UNKNOWN_ASSET),
    ("address for user 0", CreateAddress(0, "USD"), Code.INVALID_USER),
    ("second address", CreateAddress(1, "USD"), Code.ADDRESS_EXISTS),
    ("zero withdrawal", RequestWithdrawal(1, "USD", 0), Code.INVALID_AMOUNT),
    ("negative withdrawal", RequestWithdrawal(1, "USD", -5), Code.INVALID_AMOUNT),
    ("withdrawal of an unknown asset", RequestWithdrawal(1, "DOGE", 5), Code.UNKNOWN_ASSET),
    ("withdrawal of more than available", RequestWithdrawal(3, "USD", usd("10") + 1),
     Code.INSUFFICIENT_FUNDS),
    ("withdrawal of held funds",  # user 1's bid holds part of the USD
     RequestWithdrawal(1, "USD", usd("1000000")), Code.INSUFFICIENT_FUNDS),
    ("complete unknown withdrawal", CompleteWithdrawal(77), Code.UNKNOWN_WITHDRAWAL),
    ("reject unknown withdrawal", RejectWithdrawal(77), Code.UNKNOWN_WITHDRAWAL),
    ("zero transfer", Transfer(2, OWN_ADDRESS, "USD", 0), Code.INVALID_AMOUNT),
    ("negative transfer", Transfer(2, OWN_ADDRESS, "USD", -1), Code.INVALID_AMOUNT),
    ("transfer of an unknown asset", Transfer(2, OWN_ADDRESS, "DOGE", 1), Code.UNKNOWN_ASSET),
    ("transfer to an unknown address", Transfer(2, "mb1usdnobody", "USD", 1),
     Code.UNKNOWN_ADDRESS),
    ("transfer to self", Transfer(1, OWN_ADDRESS, "USD", 1), Code.TRANSFER_TO_SELF),
    ("transfer of more than available", Transfer(3, OWN_ADDRESS, "USD", usd("10") + 1),
     Code.INSUFFICIENT_FUNDS),
    ("zero adjustment", AdjustBalance(1, "USD", 0, "typo"), Code.INVALID_AMOUNT),
    ("adjustment of an unknown asset", AdjustBalance(1, "DOGE", 1, "typo"), Code.UNKNOWN_ASSET),
    ("adjustment without a reason", AdjustBalance(1, "USD", 1, ""), Code.INVALID_REASON),
    ("adjustment for user 0", AdjustBalance(0, "USD", 1, "typo"), Code.INVALID_USER),
    ("suspend user 0", SuspendUser(0), Code.INVALID_USER),
    ("fee tier for user 0", SetFeeTier(0, "vip"), Code.INVALID_USER),
    ("unknown command object", object(), Code.UNKNOWN_COMMAND),
    ("a string is not a command", "PlaceOrder", Code.UNKNOWN_COMMAND),
    ("None is not a command", None, Code.UNKNOWN_COMMAND),
]


def with_address(command: Any, address: str) -> Any:
    """The command with the placeholder address replaced by user 1's real one."""
    if isinstance(command, Transfer) and command.to_address == OWN_ADDRESS:
        return Transfer(command.user_id, address, command.asset, command.amount_minor)
    return command


@pytest.mark.parametrize(
    ("command", "code"),
    [pytest.param(c, code, id=name) for name, c, code in BAD_ORDERS + BAD_WALLET_COMMANDS],
)
def test_bad_input_is_rejected_with_its_code_and_changes_nothing(command: Any, code: Code) -> None:
    m, address = scenario()
    next_order_id = m.engine.next_order_id
    events = m.apply_unchanged(with_address(command, address))
    assert_rejected(events, code)
    assert m.engine.next_order_id == next_order_id  # a rejection consumes no order id


@pytest.mark.parametrize(
    ("command", "code"),
    [pytest.param(c, code, id=name) for name, c, code in BAD_ORDERS],
)
def test_order_rejection_names_the_order_it_is_about(command: Any, code: Code) -> None:
    m, _ = scenario()
    events = m.apply(command)
    assert_rejected(events, code)
    [rejected] = events
    assert isinstance(rejected, OrderRejected)
    if isinstance(command, PlaceOrder):
        assert (rejected.user_id, rejected.client_order_id, rejected.order_id) == (
            command.user_id, command.client_order_id, 0)
    elif isinstance(command, CancelOrder | AmendOrder):
        assert (rejected.user_id, rejected.order_id) == (command.user_id, command.order_id)


@pytest.mark.parametrize(
    ("command", "code"),
    [pytest.param(c, code, id=name) for name, c, code in BAD_WALLET_COMMANDS],
)
def test_wallet_rejection_names_the_command(command: Any, code: Code) -> None:
    m, address = scenario()
    command = with_address(command, address)
    events = m.apply(command)
    assert_rejected(events, code)
    [rejected] = events
    assert isinstance(rejected, CommandRejected)
    assert rejected.command == type(command).__name__


CHECK_ORDER: list[tuple[str, PlaceOrder, Code]] = [
    ("symbol before user and side", buy(symbol="DOGE-USD", user_id=0, side=9),
     Code.UNKNOWN_SYMBOL),
    ("user before side", buy(user_id=0, side=9), Code.INVALID_USER),
    ("side before type", buy(side=9, order_type=9), Code.INVALID_SIDE),
    ("user before a side beyond 64 bits", buy(user_id=0, side=2**64), Code.INVALID_USER),
    ("price before stop price", buy(price_ticks=0, stop_price_ticks=5), Code.INVALID_PRICE),
    ("stop price before quantity", buy(stop_price_ticks=5, qty_lots=0),
     Code.INVALID_STOP_PRICE),
    ("quantity before display", buy(qty_lots=0, display_lots=5), Code.INVALID_QUANTITY),
    ("display before expiry", buy(display_lots=lots("0.5"), tif=GTD),
     Code.INVALID_DISPLAY_QUANTITY),
    ("expiry before stp", buy(tif=GTD, stp=9), Code.INVALID_EXPIRY),
    ("stp before client order id", buy(stp=9, client_order_id="x" * 65),
     Code.INVALID_STP_MODE),
    ("duplicate before notional and band",
     buy(client_order_id="mine", qty_lots=1, price_ticks=ticks("150.00")),
     Code.DUPLICATE_CLIENT_ORDER_ID),
    ("notional before band", buy(qty_lots=1, price_ticks=ticks("150.00")),
     Code.NOTIONAL_TOO_SMALL),
    ("band before funds", buy(price_ticks=ticks("150.00"), user_id=3), Code.PRICE_OUTSIDE_BAND),
    ("post-only before funds", buy(post_only=True, price_ticks=ticks("101.00"), user_id=3),
     Code.POST_ONLY_WOULD_TAKE),
    ("fill-or-kill before funds",
     buy(tif=FOK, qty_lots=lots("2"), price_ticks=ticks("101.00"), user_id=3),
     Code.FOK_NOT_FILLABLE),
    ("fill-or-kill before funds, user who never deposited",
     buy(tif=FOK, qty_lots=lots("2"), price_ticks=ticks("101.00"), user_id=42),
     Code.FOK_NOT_FILLABLE),
]


@pytest.mark.parametrize(
    ("command", "code"), [pytest.param(c, code, id=name) for name, c, code in CHECK_ORDER]
)
def test_checks_run_in_the_documented_order(command: PlaceOrder, code: Code) -> None:
    """Several faults at once: the first in the order of docs/engine.md decides."""
    m, _ = scenario()
    assert_rejected(m.apply_unchanged(command), code)


def test_quote_amount_too_small_for_one_lot_is_no_liquidity_even_without_funds() -> None:
    """Converting the quote amount to lots (3003) comes before the funds check (2001)."""
    m, _ = scenario()
    m.deposit(2, "ETH", "1")
    m.rest(2, SELL, "0.01", "2000.00", symbol="ETH-USD")  # one lot costs 2 USD
    for user_id in (1, 42):  # funded, and never deposited
        command = PlaceOrder(user_id, "ETH-USD", BUY, MARKET, quote_amount_minor=usd("1.5"))
        assert_rejected(m.apply_unchanged(command), Code.NO_LIQUIDITY)

