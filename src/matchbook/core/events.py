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


# -- P2P escrow trading (core/p2p.py) ----------------------------------------------------
#
# Escrow is its own balance per asset (``Engine.escrow_balances``): money moves from a
# seller's available balance into escrow when a sell ad is posted or a buy ad is taken,
# and out of escrow to the buyer (minus the fee, to the fee account) on release, or back
# to the seller (or to the sell ad it came from) on cancel, expiry and refund. Every
# money move is in the event's ``*_minor`` fields, so the ledger is derived from events.


class P2PRejected(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A P2P command failed a check; nothing changed. ``target_id`` is the ad, trade or
    payment method it named (0 if none); ``state`` the trade's or ad's current state
    (0 if none), so that a client told ``STATE_MISMATCH`` learns where the trade is."""

    user_id: int
    code: int
    message: str
    command: str
    target_id: int
    state: int


class P2PRepeated(Event, frozen=True, gc=False, tag=True, array_like=True):
    """The same idempotency key again from the same user: nothing changed; ``code`` is the
    first answer's (0 = it was carried out), ``target_id`` the trade or ad it concerned."""

    user_id: int
    command: str
    idempotency_key: str
    code: int
    target_id: int


class PaymentMethodAdded(Event, frozen=True, gc=False, tag=True, array_like=True):
    method_id: int
    user_id: int
    name: str
    details: str


class PaymentMethodRemoved(Event, frozen=True, gc=False, tag=True, array_like=True):
    method_id: int
    user_id: int


class AdPosted(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A new ad; ``escrow_minor`` moved from the maker's available balance into escrow
    (the whole quantity of a sell ad, 0 for a buy ad)."""

    ad_id: int
    user_id: int
    side: int
    asset: str
    fiat: str
    price_minor: int
    price_margin_bps: int
    price_symbol: str
    qty_minor: int
    min_qty_minor: int
    max_qty_minor: int
    payment_method_ids: tuple[int, ...]
    payment_window_s: int
    terms: str
    escrow_minor: int


class AdChanged(Event, frozen=True, gc=False, tag=True, array_like=True):
    """An ad was paused, resumed, cancelled or closed, or its remaining quantity changed
    because a trade on it was cancelled or expired. ``escrow_returned_minor`` moved from
    escrow back to the maker's available balance. ``actor_id`` 0 = the engine itself.
    ``asset``: the ad's asset (what the escrow moved is of)."""

    ad_id: int
    user_id: int
    state: int  # AdState
    remaining_minor: int
    escrow_returned_minor: int
    actor_id: int
    reason: str
    asset: str = ""


class P2PTradeOpened(Event, frozen=True, gc=False, tag=True, array_like=True):
    """An ad was taken. ``escrow_from_seller_minor`` moved from the seller's available
    balance into escrow (a buy ad); for a sell ad the quantity was already in the ad's
    escrow and now belongs to the trade."""

    trade_id: int
    ad_id: int
    maker_id: int
    buyer_id: int
    seller_id: int
    asset: str
    fiat: str
    qty_minor: int
    price_minor: int
    fiat_amount_minor: int
    payment_method_id: int
    payment_method_name: str
    payment_details: str
    pay_by_ns: int
    ad_remaining_minor: int
    escrow_from_seller_minor: int


class P2PTradeChanged(Event, frozen=True, gc=False, tag=True, array_like=True):
    """A trade moved from ``from_state`` to ``to_state`` (``TradeState``), by
    ``actor_id`` (0 = a deadline passed). Money out of escrow: ``to_buyer_minor`` to the
    buyer's available balance and ``fee_minor`` to the fee account (a release),
    ``to_seller_minor`` to the seller's available balance, or ``to_ad_minor`` back into the
    sell ad's remaining quantity (it stays in escrow). The deadlines are the ones in
    force after the change (0 = none)."""

    trade_id: int
    ad_id: int
    from_state: int
    to_state: int
    actor_id: int
    reason: str
    buyer_id: int
    seller_id: int
    asset: str
    qty_minor: int
    to_buyer_minor: int
    fee_minor: int
    to_seller_minor: int
    to_ad_minor: int
    pay_by_ns: int
    appeal_after_ns: int
    escalate_at_ns: int


class DisputeResolutionProposed(Event, frozen=True, gc=False, tag=True, array_like=True):
    """The first admin's decision on a dispute above the second-approval amount; a
    different admin must agree before any money moves."""

    trade_id: int
    admin_id: int
    outcome: int
    note: str


class TradeMessagePosted(Event, frozen=True, gc=False, tag=True, array_like=True):
    message_id: int
    trade_id: int
    user_id: int
    text: str
    admin: bool


class FeedbackLeft(Event, frozen=True, gc=False, tag=True, array_like=True):
    trade_id: int
    from_user_id: int
    to_user_id: int
    positive: bool
    comment: str


class P2PUserBanned(Event, frozen=True, gc=False, tag=True, array_like=True):
    """Too many cancels or expiries in 24 h: no new trades or ads until ``until_ns``."""

    user_id: int
    until_ns: int
    count: int


class DeadlinesExtended(Event, frozen=True, gc=False, tag=True, array_like=True):
    """Start-up after an outage: every running deadline moved by ``downtime_ns``."""

    from_ts_ns: int
    to_ts_ns: int
    downtime_ns: int
    trades: int


AnyP2PEvent = (
    P2PRejected
    | P2PRepeated
    | PaymentMethodAdded
    | PaymentMethodRemoved
    | AdPosted
    | AdChanged
    | P2PTradeOpened
    | P2PTradeChanged
    | DisputeResolutionProposed
    | TradeMessagePosted
    | FeedbackLeft
    | P2PUserBanned
    | DeadlinesExtended
)


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
    | AnyP2PEvent
)


Applied = tuple[int, int, AnyCommand, list[Event]]
"""``(seq, ts_ns, command, events)`` of one applied command: what the sequencer hands to
every consumer of the event stream (market data, the SQL projector, metrics, streams)."""
