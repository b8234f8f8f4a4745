"""Events: immutable facts the engine emits, in order, for every command it applies.

Names are past tense. Every event that changes a balance carries the amounts, so the
double-entry ledger (``matchbook.core.ledger``), the SQL read model and the private
user streams can all be derived from the event stream alone.

Per command the engine emits, in this order:

* a rejection: ``OrderRejected`` (or ``CommandRejected`` for non-order commands) and
  nothing else; the state is unchanged;
* a new order: ``OrderAccepted``; for each fill ``TradeExecuted`` followed by the
  maker's and the taker's ``OrderFilled``; ``BookLevelChanged`` for every level the
  command changed (its new visible total, 0 = the level is gone); then the taker's
  ``OrderCancelled`` (IOC/market remainder, self-trade prevention) if any; then stops
  triggered by the new last price (``OrderTriggered`` and their own executions).
"""

from __future__ import annotations

from enum import IntEnum

import msgspec

from matchbook.core.commands import AnyCommand


class CancelReason(IntEnum):
    USER = 1  # the owner asked
    UNFILLED = 2  # IOC or market remainder (nothing more within the limit or band)
    SELF_TRADE = 3  # self-trade prevention
    CANCEL_ALL = 4  # cancel-all (the user's or an operator's mass cancel)
    SUSPENDED = 5  # the user was suspended
    NO_FUNDS = 6  # a market buy by quote amount ran out of budget


class Event(msgspec.Struct, frozen=True, gc=False, tag=True, array_like=True):
    """Base class of every event."""


class OrderAccepted(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A new order passed every check and has id ``order_id``.

    ``pending_trigger`` is true for stop orders (they wait for the trigger price).
    ``hold_minor`` of ``hold_asset`` moved from available to held.
    """

    order_id: int
    user_id: int
    symbol: str
    side: int
    order_type: int
    price_ticks: int
    qty_lots: int
    tif: int
    client_order_id: str
    stop_price_ticks: int
    display_lots: int
    post_only: bool
    expire_ts_ns: int
    quote_amount_minor: int
    hold_asset: str
    hold_minor: int


class OrderRejected(Event, frozen=True, gc=False, tag=True, array_like=True):
    """An order command (place, cancel, amend) failed a check; nothing changed.

    ``order_id`` is the target of a cancel or amend (0 for a place).
    """

    user_id: int
    code: int
    message: str
    client_order_id: str
    order_id: int


class CommandRejected(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A wallet or operator command failed a check; nothing changed."""

    user_id: int
    code: int
    message: str
    command: str


class TradeExecuted(Event, frozen=True, gc=False, tag=True, array_like=True):
    """One fill between a resting (maker) and an incoming (taker) order.

    ``notional_minor`` is quote paid by the buyer before fees; ``base_minor`` the base
    delivered. Fees are in the quote asset: the buyer pays ``notional + buyer fee``, the
    seller receives ``notional - seller fee``; a negative maker fee is a rebate.
    """

    trade_id: int
    symbol: str
    price_ticks: int
    qty_lots: int
    aggressor_side: int
    maker_order_id: int
    taker_order_id: int
    maker_user_id: int
    taker_user_id: int
    notional_minor: int
    base_minor: int
    maker_fee_minor: int
    taker_fee_minor: int


class OrderFilled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """One side of a trade, as seen by one order. ``leaves_lots`` 0 = fully filled.

    ``released_minor`` of the order's hold went back to available because the order is
    complete (0 while it is still open).
    """

    order_id: int
    user_id: int
    symbol: str
    side: int
    trade_id: int
    price_ticks: int
    qty_lots: int
    filled_lots: int
    leaves_lots: int
    is_maker: bool
    fee_minor: int
    released_minor: int


class OrderCancelled(Event, frozen=True, gc=False, tag=True, array_like=True):
    """``cancelled_lots`` of the order were cancelled; ``leaves_lots`` remain open.

    ``leaves_lots`` is 0 except for self-trade prevention's decrement, which reduces
    an order without closing it. ``released_minor`` went back from held to available.
    """

    order_id: int
    user_id: int
    symbol: str
    side: int
    cancelled_lots: int
    leaves_lots: int
    reason: int
    released_minor: int


class OrderExpired(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A GTD order reached its expiry time (sequencer time) with ``leaves_lots`` open."""

    order_id: int
    user_id: int
    symbol: str
    side: int
    leaves_lots: int
    released_minor: int


class OrderTriggered(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A stop order's trigger was reached by ``last_price_ticks``; it now executes."""

    order_id: int
    user_id: int
    symbol: str
    stop_price_ticks: int
    last_price_ticks: int


class OrderAmended(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A resting order's price or total quantity changed.

    ``priority_kept`` says whether it kept its place in the queue. ``hold_delta_minor``
    moved from available to held (negative: released).
    """

    order_id: int
    user_id: int
    symbol: str
    side: int
    price_ticks: int
    qty_lots: int
    leaves_lots: int
    priority_kept: bool
    hold_delta_minor: int


class BookLevelChanged(Event, frozen=True, gc=False, tag=True, array_like=True):
    """The visible quantity at one price level is now ``qty_lots`` (0 = level removed)."""

    symbol: str
    side: int
    price_ticks: int
    qty_lots: int
    order_count: int


# -- wallets and operations --------------------------------------------------------------


class Deposited(Event, frozen=True, gc=False, tag=True, array_like=True):
    deposit_id: int
    user_id: int
    asset: str
    amount_minor: int
    address: str
    reference: str


class AddressCreated(Event, frozen=True, gc=False, tag=True, array_like=True):
    user_id: int
    asset: str
    address: str


class WithdrawalRequested(Event, frozen=True, gc=False, tag=True, array_like=True):
    withdrawal_id: int
    user_id: int
    asset: str
    amount_minor: int
    destination: str


class WithdrawalCompleted(Event, frozen=True, gc=False, tag=True, array_like=True):
    withdrawal_id: int
    user_id: int
    asset: str
    amount_minor: int


class WithdrawalRejected(Event, frozen=True, gc=False, tag=True, array_like=True):
    withdrawal_id: int
    user_id: int
    asset: str
    amount_minor: int
    reason: str


class Transferred(Event, frozen=True, gc=False, tag=True, array_like=True):
    transfer_id: int
    from_user_id: int
    to_user_id: int
    to_address: str
    asset: str
    amount_minor: int


class BalanceAdjusted(Event, frozen=True, gc=False, tag=True, array_like=True):
    adjustment_id: int
    user_id: int
    asset: str
    amount_minor: int
    reason: str


class TradingHalted(Event, frozen=True, gc=False, tag=True, array_like=True):
    symbol: str  # "" = all trading


class TradingResumed(Event, frozen=True, gc=False, tag=True, array_like=True):
    symbol: str


class UserSuspended(Event, frozen=True, gc=False, tag=True, array_like=True):
    user_id: int


class UserReinstated(Event, frozen=True, gc=False, tag=True, array_like=True):
    user_id: int


class FeeTierSet(Event, frozen=True, gc=False, tag=True, array_like=True):
    user_id: int
    tier: str


class RiskLimitsSet(Event, frozen=True, gc=False, tag=True, array_like=True):
    max_open_orders: int
    position_limits: tuple[tuple[str, int], ...]


AnyEvent = (
    OrderAccepted
    | OrderRejected
    | CommandRejected
    | TradeExecuted
    | OrderFilled
    | OrderCancelled
    | OrderExpired
    | OrderTriggered
    | OrderAmended
    | BookLevelChanged
    | Deposited
    | AddressCreated
    | WithdrawalRequested
    | WithdrawalCompleted
    | WithdrawalRejected
    | Transferred
    | BalanceAdjusted
    | TradingHalted
    | TradingResumed
    | UserSuspended
    | UserReinstated
    | FeeTierSet
    | RiskLimitsSet
)


Applied = tuple[int, int, AnyCommand, list[Event]]
"""``(seq, ts_ns, command, events)`` of one applied command: what the sequencer hands to
every consumer of the event stream (market data, the SQL projector, metrics, streams)."""
