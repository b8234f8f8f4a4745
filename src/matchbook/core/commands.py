"""Commands: immutable requests for a state change, applied by the engine in sequence.

Commands carry integers only (ticks, lots, minor units); converting from decimal
strings happens at the edges with ``Symbol.price_to_ticks`` and friends. The
sequencer's sequence number and timestamp are *not* part of a command: they are
given to ``Engine.apply(seq, ts_ns, command)`` and journaled with it.

All commands are tagged ``msgspec`` structs, so a journal can encode any of them and
decode the union back without a registry of its own.
"""

from __future__ import annotations

from enum import IntEnum

import msgspec

# -- enumerations (plain ints on the hot path, IntEnum for names at the edges) --------


class Side(IntEnum):
    BUY = 1
    SELL = 2


class OrderType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP_MARKET = 4


class TimeInForce(IntEnum):
    GTC = 1  # good till cancelled
    IOC = 2  # immediate or cancel: the unfilled rest is cancelled
    FOK = 3  # fill or kill: filled in full at once or rejected with no change
    GTD = 4  # good till date: expires at ``expire_ts_ns`` (sequencer time)


class SelfTradePrevention(IntEnum):
    """What happens when an incoming order would trade with its own user's resting order.

    The incoming (taker) order's mode decides.
    """

    CANCEL_NEWEST = 1  # cancel the incoming order's remainder
    CANCEL_OLDEST = 2  # cancel the resting order and keep matching
    CANCEL_BOTH = 3  # cancel both
    DECREMENT_AND_CANCEL = 4  # reduce both by the smaller quantity; the smaller is cancelled


BUY = 1
SELL = 2
LIMIT = 1
MARKET = 2
STOP_LIMIT = 3
STOP_MARKET = 4
GTC = 1
IOC = 2
FOK = 3
GTD = 4
STP_CANCEL_NEWEST = 1
STP_CANCEL_OLDEST = 2
STP_CANCEL_BOTH = 3
STP_DECREMENT = 4


class Command(msgspec.Struct, frozen=True, gc=False, tag=True, array_like=True):
    """Base class of every command."""


# -- trading ---------------------------------------------------------------------------


class PlaceOrder(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Place an order.

    * ``LIMIT``: ``price_ticks`` and ``qty_lots``; any time in force; optional
      ``post_only`` (rejected if it would take) and ``display_lots`` (iceberg peak).
    * ``MARKET``: ``qty_lots``, or for a buy ``quote_amount_minor`` (spend at most this
      much quote, fees included); IOC or FOK; sweeps at most ``market_protection_bps``
      away from the best opposite price, the rest is cancelled.
    * ``STOP_LIMIT`` / ``STOP_MARKET``: as above plus ``stop_price_ticks``; waits until
      the last trade price reaches the stop (buy: last >= stop, sell: last <= stop).
    * ``GTD`` orders need ``expire_ts_ns`` (sequencer time).
    """

    user_id: int
    symbol: str
    side: int
    order_type: int
    qty_lots: int = 0
    price_ticks: int = 0
    tif: int = GTC
    post_only: bool = False
    stop_price_ticks: int = 0
    display_lots: int = 0
    client_order_id: str = ""
    stp: int = STP_CANCEL_NEWEST
    expire_ts_ns: int = 0
    quote_amount_minor: int = 0


class CancelOrder(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Cancel one open order, by ``order_id`` or (if 0) by ``client_order_id``."""

    user_id: int
    order_id: int = 0
    client_order_id: str = ""


class AmendOrder(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Change a resting limit order's price and/or total quantity (0 = unchanged).

    A lower quantity at the same price keeps time priority; a price change or a higher
    quantity moves the order to the back of its (new) level and may trade at once.
    ``qty_lots`` is the new *total* quantity and must exceed what is already filled.
    """

    user_id: int
    order_id: int
    price_ticks: int = 0
    qty_lots: int = 0


class CancelAll(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Cancel every open order of ``user_id`` (0 = all users, an operator's mass cancel)
    in ``symbol`` ("" = all symbols), stops included."""

    user_id: int
    symbol: str = ""


class AdvanceTime(Command, frozen=True, gc=False, tag=True, array_like=True):
    """No-op that lets the sequencer's clock expire GTD orders when nothing else comes."""


# -- wallets ---------------------------------------------------------------------------


class Deposit(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Credit ``amount_minor`` of ``asset`` from the external account.

    Either to ``user_id`` (an operator's deposit) or, with ``user_id`` 0, to the owner
    of wallet ``address`` (a deposit seen on chain). ``reference`` names the source
    (a transaction id) and is recorded in the ledger.
    """

    asset: str
    amount_minor: int
    user_id: int = 0
    address: str = ""
    reference: str = ""


class CreateAddress(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Create the user's deposit/transfer address for ``asset`` (one per user and asset)."""

    user_id: int
    asset: str


class RequestWithdrawal(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Hold ``amount_minor`` until an operator completes or rejects the withdrawal."""

    user_id: int
    asset: str
    amount_minor: int
    destination: str = ""


class CompleteWithdrawal(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Operator: the held amount leaves to the external account."""

    withdrawal_id: int


class RejectWithdrawal(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Operator: the held amount returns to the user's available balance."""

    withdrawal_id: int
    reason: str = ""


class Transfer(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Move ``amount_minor`` of ``asset`` to the user who owns wallet address ``to_address``."""

    user_id: int
    to_address: str
    asset: str
    amount_minor: int


class AdjustBalance(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Operator correction (signed amount) against the external account, with a reason."""

    user_id: int
    asset: str
    amount_minor: int
    reason: str


# -- operations ------------------------------------------------------------------------


class HaltTrading(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Halt one symbol, or all trading when ``symbol`` is ""."""

    symbol: str = ""


class ResumeTrading(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Resume one symbol, or global trading when ``symbol`` is ""."""

    symbol: str = ""


class SuspendUser(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Kill switch: reject the user's new orders and cancel all of their open orders;
    with ``end_p2p_ads`` also cancel every P2P ad of theirs (their trades go on). The
    API sends it true; journals written before the field existed decode it false and
    replay as they were."""

    user_id: int
    end_p2p_ads: bool = False


class ReinstateUser(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Lift a suspension."""

    user_id: int


class SetFeeTier(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Put the user on a fee tier named in the symbols' ``tiers`` ("" = default rates)."""

    user_id: int
    tier: str


class SetRiskLimits(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Replace the pre-trade limits: open orders per user, and per asset the most a user
    may own (minor units). Journaled like any command, so that a replay checks each order
    against the limits in force when it was placed."""

    max_open_orders: int
    position_limits: tuple[tuple[str, int], ...] = ()



# -- P2P escrow trading (the design: shared P2P.md; the state machine: core/p2p.py) ------
#
# Quantities are minor units of the asset; prices and fiat amounts are minor units of the
# fiat currency (its decimals come from the ``[fiat]`` table of the markets config), a price
# being fiat minor units per one whole unit of the asset. Every trade action carries the
# state the client believes the trade is in (``expected_state``, a ``TradeState`` value) and
# an optional idempotency key: the same key again from the same user returns the first
# answer and changes nothing.


class P2PSide(IntEnum):
    SELL = 1  # the ad's maker sells the asset (the ad is escrowed when posted)
    BUY = 2  # the ad's maker buys the asset (the taker's asset is escrowed at take)


class AdState(IntEnum):
    OPEN = 1
    PAUSED = 2
    CLOSED = 3  # nothing left to take
    CANCELLED = 4


class TradeState(IntEnum):
    PENDING_PAYMENT = 1
    PAID = 2
    DISPUTED = 3
    COMPLETED = 4
    CANCELLED = 5
    EXPIRED = 6
    RESOLVED_RELEASE = 7
    RESOLVED_REFUND = 8


class DisputeOutcome(IntEnum):
    RELEASE = 1  # escrow to the buyer
    REFUND = 2  # escrow back to the seller side


class AddPaymentMethod(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Save a payment method (``name`` e.g. "SEPA", ``details`` e.g. an IBAN); the details
    are shown to a counterparty only once a trade with them is open."""

    user_id: int
    name: str
    details: str


class RemovePaymentMethod(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Remove a payment method; open ads and trades keep the copy they took."""

    user_id: int
    method_id: int


class PostAd(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Post an ad. A fixed ``price_minor`` (fiat minor units per whole unit), or, with
    ``price_minor`` = 0, a margin ``price_margin_bps`` over the mid of ``price_symbol``
    (whose base is the asset and whose quote is the fiat), frozen at each take.
    A sell ad moves ``qty_minor`` from the maker's available balance into escrow."""

    user_id: int
    side: int  # P2PSide
    asset: str
    fiat: str
    price_minor: int
    price_margin_bps: int
    price_symbol: str
    qty_minor: int
    min_qty_minor: int
    max_qty_minor: int
    payment_method_ids: tuple[int, ...]
    payment_window_s: int  # 300 .. 21,600
    terms: str


class PauseAd(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Stop an open ad from being taken. ``admin_id`` > 0 when an operator pauses it
    (moderation, with ``reason``): then only an admin resumes it, not its maker."""

    user_id: int
    ad_id: int
    admin_id: int = 0
    reason: str = ""


class ResumeAd(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Open a paused ad again. ``admin_id`` > 0 when an operator lifts their pause."""

    user_id: int
    ad_id: int
    admin_id: int = 0


class CancelAd(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Cancel an ad; a sell ad's escrow not held by a live trade goes back to the maker.
    ``admin_id`` > 0 when an operator removes it (moderation)."""

    user_id: int
    ad_id: int
    admin_id: int = 0
    reason: str = ""


class TakeAd(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Open a trade on an ad for ``qty_minor``; the taker is the buyer of a sell ad and
    the seller of a buy ad (whose asset moves into escrow)."""

    user_id: int
    ad_id: int
    qty_minor: int
    payment_method_id: int  # one of the ad's (a sell ad) or the taker's (a buy ad); 0 = first
    idempotency_key: str = ""


class MarkPaid(Command, frozen=True, gc=False, tag=True, array_like=True):
    """The buyer says the fiat was sent."""

    user_id: int
    trade_id: int
    expected_state: int
    idempotency_key: str = ""


class ReleaseEscrow(Command, frozen=True, gc=False, tag=True, array_like=True):
    """The seller confirms the fiat arrived: escrow to the buyer, minus the P2P fee."""

    user_id: int
    trade_id: int
    expected_state: int
    idempotency_key: str = ""


class CancelTrade(Command, frozen=True, gc=False, tag=True, array_like=True):
    """The buyer cancels; after marking paid only with ``confirm``."""

    user_id: int
    trade_id: int
    expected_state: int
    confirm: bool = False
    idempotency_key: str = ""


class OpenDispute(Command, frozen=True, gc=False, tag=True, array_like=True):
    user_id: int
    trade_id: int
    expected_state: int
    reason: str
    text: str
    idempotency_key: str = ""


class WithdrawDispute(Command, frozen=True, gc=False, tag=True, array_like=True):
    user_id: int
    trade_id: int
    expected_state: int
    idempotency_key: str = ""


class ResolveDispute(Command, frozen=True, gc=False, tag=True, array_like=True):
    """An admin's decision. Above the configured amount it needs a second admin: the
    first decision is recorded as a proposal, a different admin's same outcome carries it
    out (a different outcome replaces the proposal)."""

    admin_id: int
    trade_id: int
    outcome: int  # DisputeOutcome
    note: str
    expected_state: int = 3  # TradeState.DISPUTED
    idempotency_key: str = ""


class PostTradeMessage(Command, frozen=True, gc=False, tag=True, array_like=True):
    """A chat line in a trade, by its buyer or seller, or by an admin (``admin`` true)."""

    user_id: int
    trade_id: int
    text: str
    admin: bool = False


class LeaveFeedback(Command, frozen=True, gc=False, tag=True, array_like=True):
    """After a completed trade, each side may rate the other once."""

    user_id: int
    trade_id: int
    positive: bool
    comment: str = ""


class RecordOutage(Command, frozen=True, gc=False, tag=True, array_like=True):
    """Recorded by the runtime at start-up: the exchange was down from ``from_ts_ns``
    (the last journaled time) to ``to_ts_ns``; every running P2P deadline moves later by
    the difference, so nobody loses a trade while the platform was off."""

    from_ts_ns: int
    to_ts_ns: int


AnyP2PCommand = (
    AddPaymentMethod
    | RemovePaymentMethod
    | PostAd
    | PauseAd
    | ResumeAd
    | CancelAd
    | TakeAd
    | MarkPaid
    | ReleaseEscrow
    | CancelTrade
    | OpenDispute
    | WithdrawDispute
    | ResolveDispute
    | PostTradeMessage
    | LeaveFeedback
    | RecordOutage
)


AnyCommand = (
    PlaceOrder
    | CancelOrder
    | AmendOrder
    | CancelAll
    | AdvanceTime
    | Deposit
    | CreateAddress
    | RequestWithdrawal
    | CompleteWithdrawal
    | RejectWithdrawal
    | Transfer
    | AdjustBalance
    | HaltTrading
    | ResumeTrading
    | SuspendUser
    | ReinstateUser
    | SetFeeTier
    | SetRiskLimits
    | AnyP2PCommand
)
