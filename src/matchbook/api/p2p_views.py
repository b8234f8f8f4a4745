"""What the API answers about P2P escrow trading: one view per resource.

The same conventions as :mod:`matchbook.api.views` (msgspec structs, every key always
sent, ``schema(View)`` for the OpenAPI document), with the words the P2P pages share:
states and sides are lower-case words, amounts decimal strings, times ISO 8601 UTC
(``2026-12-03T13:45:00.123Z``). Every trade carries the server's ``now``, the caller's
``my_role`` and ``allowed_actions`` (what the caller may do in this state, by role and
deadline), so a client shows exactly the buttons that work, and counts down from the
server's deadlines rather than its own clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from matchbook.api.views import View
from matchbook.core.commands import AdState, P2PSide, TradeState

TradeStateName = Literal["pending_payment", "paid", "disputed", "completed", "cancelled",
                         "expired", "resolved_release", "resolved_refund"]
AdStateName = Literal["open", "paused", "closed", "cancelled"]
Role = Literal["buyer", "seller", "admin"]
Action = Literal["paid", "release", "cancel", "dispute", "withdraw-dispute", "resolve"]
Actor = Literal["buyer", "seller", "admin", "system"]

TRADE_STATES: dict[int, str] = {int(s): s.name.lower() for s in TradeState}
TRADE_STATE_CODES: dict[str, int] = {v: k for k, v in TRADE_STATES.items()}
AD_STATES: dict[int, str] = {int(s): s.name.lower() for s in AdState}
P2P_SIDES: dict[int, str] = {int(P2PSide.SELL): "sell", int(P2PSide.BUY): "buy"}
P2P_SIDE_CODES: dict[str, int] = {v: k for k, v in P2P_SIDES.items()}
TERMINAL = frozenset({"completed", "cancelled", "expired", "resolved_release",
                      "resolved_refund"})
LIVE = frozenset({"pending_payment", "paid", "disputed"})


def iso(ts_ns: int) -> str:
    """``ts_ns`` (ns since the epoch, UTC) as ISO 8601 with milliseconds and ``Z``;
    integer arithmetic only."""
    seconds, rest = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{rest // 1_000_000:03d}Z"


def iso_or_none(ts_ns: int | None) -> str | None:
    return iso(ts_ns) if ts_ns else None


# -- the desk's settings ------------------------------------------------------------------


class FiatCurrency(View, kw_only=True):
    """A fiat currency ads may be priced in (paid outside the exchange)."""

    code: str
    decimals: int


class P2PConfigView(View, kw_only=True):
    """The desk's settings, from the server's markets file: the fiat currencies, the fee
    (basis points of the quantity, paid by the buyer on release), the payment window's
    bounds, the appeal delay and the escalation delay after payment, and the cancel limit
    (cancels or expiries in 24 h) before a ban of ``ban_seconds``."""

    fiats: list[FiatCurrency]
    fee_bps: int
    min_payment_window_seconds: int
    max_payment_window_seconds: int
    appeal_after_seconds: int
    escalate_after_seconds: int
    cancel_limit: int
    ban_seconds: int


# -- payment methods ---------------------------------------------------------------------


class PaymentMethod(View, kw_only=True):
    """One of your payment methods, with its details (shown to a counterparty only
    once a trade with them is open)."""

    method_id: int
    name: str
    details: str


class PaymentMethodRef(View, kw_only=True):
    """A payment method an ad accepts, as the public board shows it: no details."""

    method_id: int
    name: str


class TradePayment(View, kw_only=True):
    """How the buyer pays: ``details`` (an IBAN, an account) are shown to the trade's
    buyer and seller, and to an administrator once the trade is disputed; else null."""

    method_id: int
    name: str
    details: str | None


# -- ads ---------------------------------------------------------------------------------


class P2PAd(View, kw_only=True):
    """An ad. ``side`` is the maker's: ``sell`` = the maker sells the asset (the whole
    remaining quantity is in escrow), ``buy`` = the maker buys it. A fixed-price ad has
    ``price`` (fiat per one whole unit); a margin ad has ``price_margin_bps`` over the
    mid of ``price_symbol`` and ``price`` is the price a take would freeze now (null
    while that book has no mid)."""

    ad_id: int
    state: AdStateName
    maker_id: int
    side: Literal["sell", "buy"]
    asset: str
    fiat: str
    price: str | None
    price_margin_bps: int | None
    price_symbol: str | None
    quantity: str
    remaining: str
    min_quantity: str
    max_quantity: str
    payment_methods: list[PaymentMethodRef]
    payment_window_seconds: int
    terms: str
    created_at: str | None
    updated_at: str | None
    paused_by_admin: bool  # paused in moderation: only an administrator resumes it


# -- trades ------------------------------------------------------------------------------


class DisputeInfo(View, kw_only=True):
    """A dispute: who opened it (null: escalated when ``escalate_at`` passed), why, and
    an administrator's proposed decision waiting for a second administrator."""

    opened_by: int | None
    reason: str | None  # null where the source does not know it (lists: the live desk)
    text: str | None
    opened_at: str | None
    proposed_outcome: Literal["release", "refund"] | None
    proposed_by: int | None
    resolution_note: str | None


class P2PTrade(View, kw_only=True):
    """One take of an ad. Quantity, price and fiat amount are fixed at take; ``fee`` is
    what the release charged the buyer (null before). Deadlines: ``pay_by`` (the trade
    expires, escrow goes back, if not marked paid by then), ``appeal_after`` (the
    earliest a dispute may be opened), ``escalate_at`` (it becomes a dispute by itself);
    null when not running."""

    trade_id: int
    ad_id: int
    state: TradeStateName
    ad_side: Literal["sell", "buy"]
    asset: str
    fiat: str
    maker_id: int
    buyer_id: int
    seller_id: int
    quantity: str
    price: str
    fiat_amount: str
    fee: str | None
    payment_method: TradePayment
    pay_by: str | None
    appeal_after: str | None
    escalate_at: str | None
    created_at: str | None
    updated_at: str | None
    dispute: DisputeInfo | None
    now: str
    my_role: Role
    allowed_actions: list[Action]


class P2PTransition(View, kw_only=True):
    """One step of a trade's timeline: ``from_state`` is null for the take; ``actor`` is
    ``system`` when a deadline fired (``actor_id`` null)."""

    seq: int
    at: str
    from_state: TradeStateName | None
    to_state: TradeStateName
    actor: Actor
    actor_id: int | None
    reason: str


class P2PFeedback(View, kw_only=True):
    trade_id: int
    from_user_id: int
    to_user_id: int
    positive: bool
    comment: str
    at: str


class P2PMessage(View, kw_only=True):
    """A chat line; ``author`` ``system`` is the line every transition adds
    (``message_id`` and ``user_id`` null)."""

    seq: int
    message_id: int | None
    trade_id: int
    user_id: int | None
    author: Actor
    text: str
    at: str


class P2PTradeDetail(P2PTrade, kw_only=True):
    """A trade with its timeline (oldest first) and the feedback left on it."""

    timeline: list[P2PTransition]
    feedback: list[P2PFeedback]


# -- notifications and stats -------------------------------------------------------------


class Notification(View, kw_only=True):
    """An in-app notification. ``kind``: trade_opened, trade_paid, trade_released,
    trade_cancelled, trade_expired, dispute_opened, dispute_withdrawn, dispute_resolved,
    resolution_proposed, message, feedback, ad_closed, ad_cancelled, ad_paused,
    ad_resumed, p2p_banned."""

    notification_id: int
    kind: str
    trade_id: int | None
    ad_id: int | None
    text: str
    at: str
    read: bool


class NotificationPage(View, kw_only=True):
    """Newest first; pass ``next_before`` as ``before`` for the next page (null: none)."""

    notifications: list[Notification]
    unread: int
    next_before: int | None


class NotificationsRead(View, kw_only=True):
    unread: int


class P2PStats(View, kw_only=True):
    """A user's P2P record, from finished trades: ``completion_rate`` is completed
    (released, or resolved by release) over finished (also cancelled, expired or
    refunded) as a decimal string, null before the first; ``median_release_seconds``
    from marked paid to released, over the trades they sold (null: none yet)."""

    user_id: int
    trades: int
    completed_trades: int
    finished_trades: int
    completion_rate: str | None
    median_release_seconds: int | None
    positive_feedback: int
    negative_feedback: int


class RemovedPaymentMethod(View, kw_only=True):
    method_id: int
    removed: bool
