"""Typed results of the REST API and the WebSocket stream.

Decimals arrive as strings and are parsed to ``Decimal``; ids are strings where the API
sends strings (order and trade ids) and integers elsewhere. Unknown fields are ignored,
so a newer server does not break an older client.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

Level = tuple[Decimal, Decimal]  # (price, quantity)


class Model(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every result: immutable, keyword-only, comparable."""

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


# -- accounts --------------------------------------------------------------------------


class Session(Model, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    user_id: int
    role: str


class User(Model, frozen=True, kw_only=True):
    user_id: int
    email: str
    role: str


class Me(Model, frozen=True, kw_only=True):
    user_id: int
    email: str
    role: str
    suspended: bool = False
    scopes: list[str] = []
    api_key_id: int | None = None


class NewApiKey(Model, frozen=True, kw_only=True):
    api_key_id: int
    api_key: str  # shown once
    scopes: list[str]
    label: str = ""


class ApiKeyInfo(Model, frozen=True, kw_only=True):
    api_key_id: int
    scopes: list[str]
    label: str = ""
    created_ns: int = 0


class Revoked(Model, frozen=True, kw_only=True):
    api_key_id: int
    revoked: bool


# -- trading ---------------------------------------------------------------------------


class Fill(Model, frozen=True, kw_only=True):
    """One fill of one of your orders; ``fee`` is in ``fee_asset``."""

    trade_id: str
    price: Decimal
    quantity: Decimal
    is_maker: bool
    fee: Decimal
    fee_asset: str
    order_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    timestamp_ns: int | None = None


class Order(Model, frozen=True, kw_only=True):
    """An order as the API shows it; ``fills`` are those of the request that placed it."""

    order_id: str
    client_order_id: str | None = None
    symbol: str
    side: str
    type: str
    price: Decimal | None = None
    quantity: Decimal
    filled_quantity: Decimal
    remaining_quantity: Decimal
    status: str  # new, partially_filled, pending_trigger, filled, cancelled, expired
    time_in_force: str = "gtc"
    post_only: bool = False
    stop_price: Decimal | None = None
    display_quantity: Decimal | None = None
    expire_time_ns: int | None = None
    cancel_reason: str | None = None
    fills: list[Fill] = []
    priority_kept: bool | None = None  # after an amend
    created_ns: int | None = None  # null where the server does not know it (see the API)
    updated_ns: int | None = None
    fee: Decimal | None = None  # fees charged so far, in fee_asset
    fee_asset: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "partially_filled", "pending_trigger")


class Cancelled(Model, frozen=True, kw_only=True):
    order_id: str
    symbol: str | None = None
    status: str
    cancelled_quantity: Decimal


class CancelledAll(Model, frozen=True, kw_only=True):
    cancelled: list[str]
    count: int


class SimpleOrderResult(Model, frozen=True, kw_only=True):
    success: bool
    order_id: str | None = None
    message: str = ""
    status: str | None = None
    code: int | None = None


# -- wallet ----------------------------------------------------------------------------


class Balance(Model, frozen=True, kw_only=True):
    asset: str
    available: Decimal
    held: Decimal
    escrow: Decimal = Decimal(0)  # in P2P escrow (your sell ads and trades)
    total: Decimal
    address: str | None = None


class LedgerEntry(Model, frozen=True, kw_only=True):
    seq: int
    index: int
    asset: str
    amount: Decimal  # moved from ``debit`` to ``credit``
    available_change: Decimal  # what the entry did to your available balance
    held_change: Decimal
    debit: str
    credit: str
    reason: str
    reference: str | None = None
    timestamp_ns: int


class Address(Model, frozen=True, kw_only=True):
    asset: str
    address: str


class Withdrawal(Model, frozen=True, kw_only=True):
    withdrawal_id: int
    asset: str
    amount: Decimal
    status: str = "pending"  # pending, completed or rejected
    destination: str = ""
    user_id: int | None = None
    reason: str | None = None  # why it was rejected


class TransferResult(Model, frozen=True, kw_only=True):
    transfer_id: int
    asset: str
    to_address: str
    amount: Decimal


class DepositResult(Model, frozen=True, kw_only=True):
    deposit_id: int
    user_id: int
    asset: str
    amount: Decimal


# -- market data -----------------------------------------------------------------------


class Health(Model, frozen=True, kw_only=True):
    status: str
    service: str = "matchbook"
    seq: int = 0
    queue_depth: int = 0
    core_build: str = ""  # "compiled (Cython x.y)" or "pure Python"


class SymbolInfo(Model, frozen=True, kw_only=True):
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    max_quantity: Decimal
    min_notional: Decimal
    price_band_bps: int = 0
    market_protection_bps: int = 0
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    halted: bool = False


class AssetInfo(Model, frozen=True, kw_only=True):
    asset: str
    decimals: int


class Depth(Model, frozen=True, kw_only=True):
    symbol: str
    last_update_id: int
    bids: list[Level]  # best first
    asks: list[Level]


class Trade(Model, frozen=True, kw_only=True, tag_field="type", tag="trade"):
    """A public trade; ``side`` is the aggressor's. ``symbol`` is set on the stream."""

    trade_id: str
    price: Decimal
    quantity: Decimal
    side: str
    timestamp_ns: int
    symbol: str | None = None


class Ticker(Model, frozen=True, kw_only=True, tag_field="type", tag="ticker"):
    """Rolling 24 hours."""

    symbol: str
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    last: Decimal | None = None
    volume: Decimal = Decimal(0)
    trades: int = 0
    change: Decimal | None = None
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None


class Candle(Model, frozen=True, kw_only=True, tag_field="type", tag="candle"):
    start_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
    symbol: str | None = None  # set on the stream
    interval: str | None = None


class SimpleHealth(Model, frozen=True, kw_only=True):
    service: str
    status: str


class SimpleBook(Model, frozen=True, kw_only=True):
    """``GET /api/orderbook``: quantities as plain decimals, symbol ``BTC/USD``."""

    symbol: str
    bids: list[Level]
    asks: list[Level]
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    spread: Decimal | None = None


# -- administration --------------------------------------------------------------------


class UserInfo(Model, frozen=True, kw_only=True):
    user_id: int
    email: str
    role: str
    suspended: bool = False
    open_orders: int = 0


class Adjustment(Model, frozen=True, kw_only=True):
    user_id: int
    asset: str
    amount: Decimal  # negative: a debit


class HaltState(Model, frozen=True, kw_only=True):
    symbol: str  # or "all"
    halted: bool


class Suspension(Model, frozen=True, kw_only=True):
    user_id: int
    suspended: bool
    cancelled_orders: list[str] = []
    cancelled_ads: list[int] = []


class AuditEntry(Model, frozen=True, kw_only=True):
    seq: int
    timestamp_ns: int
    user_id: int | None = None
    command_type: str
    command: dict[str, Any]
    result_code: int  # 0: accepted
    event_count: int


class AdminOrder(Order, frozen=True, kw_only=True):
    """An order of any user, with its owner (``GET /admin/orders``)."""

    user_id: int


class AdminOrders(Model, frozen=True, kw_only=True):
    """A page of orders, newest first; pass ``next_cursor`` for the next (older) page,
    None on the last."""

    orders: list[AdminOrder]
    next_cursor: str | None = None


class AdminTrade(Model, frozen=True, kw_only=True):
    """A trade with both sides; ``side`` is the aggressor's (the taker's); ``notional``
    and the fees are in ``fee_asset`` (a negative fee is a rebate)."""

    trade_id: str
    seq: int
    symbol: str
    price: Decimal
    quantity: Decimal
    notional: Decimal
    side: str
    maker_user_id: int
    maker_order_id: str
    maker_fee: Decimal
    taker_user_id: int
    taker_order_id: str
    taker_fee: Decimal
    fee_asset: str
    timestamp_ns: int


class AdminTrades(Model, frozen=True, kw_only=True):
    """A page of trades, newest first; ``next_cursor`` as in ``AdminOrders``."""

    trades: list[AdminTrade]
    next_cursor: str | None = None


class JournalStats(Model, frozen=True, kw_only=True):
    mode: str
    last_seq: int | None = None
    fsyncs: int
    fsync_seconds: float
    lag: int
    writes: str = "auto"  # where the server writes batches: auto, loop or thread
    loop_writes: int = 0  # batches written on the server's event loop


class DeadLetter(Model, frozen=True, kw_only=True):
    """Records the SQL projector could not write and skipped."""

    first_seq: int
    last_seq: int
    error: str
    recorded_ns: int


class ProjectorHealth(Model, frozen=True, kw_only=True):
    last_seq: int
    lag: int
    behind: bool
    errors: int
    last_error: str | None = None
    dead_letters: int
    last_dead_letter: DeadLetter | None = None


class Stats(Model, frozen=True, kw_only=True):
    seq: int
    queue_depth: int
    commands: int
    batches: int
    busy_rejections: int
    throughput_per_sec: float
    journal: JournalStats
    snapshot_seq: int
    projector_lag: int
    projector: ProjectorHealth | None = None
    open_orders: int
    websocket_clients: int
    uptime_seconds: float


class LatencyBucket(Model, frozen=True, kw_only=True):
    le: str
    count: int


class LatencyHistogram(Model, frozen=True, kw_only=True):
    buckets: list[LatencyBucket]


class AdminHealth(Stats, frozen=True, kw_only=True):
    version: str
    commands_by_type: dict[str, int]
    trades_by_symbol: dict[str, int]
    rejections_by_code: dict[str, int]
    ack_latency_seconds: LatencyHistogram
    websocket_dropped: int


# -- P2P escrow trading ----------------------------------------------------------------
# Times are ISO 8601 UTC strings as sent (``2026-12-03T13:45:00.123Z``); amounts Decimal.


class PaymentMethod(Model, frozen=True, kw_only=True):
    method_id: int
    name: str
    details: str


class RemovedPaymentMethod(Model, frozen=True, kw_only=True):
    method_id: int
    removed: bool


class PaymentMethodRef(Model, frozen=True, kw_only=True):
    method_id: int
    name: str


class TradePayment(Model, frozen=True, kw_only=True):
    method_id: int
    name: str
    details: str | None = None  # shown to the trade's parties (and admins in a dispute)


class P2PAd(Model, frozen=True, kw_only=True):
    """An ad; ``side`` is the maker's (``sell``: the maker sells the asset)."""

    ad_id: int
    state: str  # open, paused, closed, cancelled
    maker_id: int
    side: str
    asset: str
    fiat: str
    price: Decimal | None = None
    price_margin_bps: int | None = None
    price_symbol: str | None = None
    quantity: Decimal
    remaining: Decimal
    min_quantity: Decimal
    max_quantity: Decimal
    payment_methods: list[PaymentMethodRef] = []
    payment_window_seconds: int
    terms: str = ""
    created_at: str | None = None
    updated_at: str | None = None
    paused_by_admin: bool = False


class DisputeInfo(Model, frozen=True, kw_only=True):
    opened_by: int | None = None
    reason: str | None = None
    text: str | None = None
    opened_at: str | None = None
    proposed_outcome: str | None = None
    proposed_by: int | None = None
    resolution_note: str | None = None


class P2PTransition(Model, frozen=True, kw_only=True):
    seq: int
    at: str
    from_state: str | None = None
    to_state: str
    actor: str  # buyer, seller, admin, system
    actor_id: int | None = None
    reason: str = ""


class P2PFeedback(Model, frozen=True, kw_only=True):
    trade_id: int
    from_user_id: int
    to_user_id: int
    positive: bool
    comment: str = ""
    at: str


class P2PTrade(Model, frozen=True, kw_only=True):
    """A trade as the caller sees it: ``my_role`` and ``allowed_actions`` are theirs,
    ``now`` is the server's clock (count down to the deadlines from it)."""

    trade_id: int
    ad_id: int
    state: str
    ad_side: str
    asset: str
    fiat: str
    maker_id: int
    buyer_id: int
    seller_id: int
    quantity: Decimal
    price: Decimal
    fiat_amount: Decimal
    fee: Decimal | None = None
    payment_method: TradePayment
    pay_by: str | None = None
    appeal_after: str | None = None
    escalate_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    dispute: DisputeInfo | None = None
    now: str
    my_role: str
    allowed_actions: list[str] = []


class P2PTradeDetail(P2PTrade, frozen=True, kw_only=True):
    timeline: list[P2PTransition] = []
    feedback: list[P2PFeedback] = []


class P2PMessage(Model, frozen=True, kw_only=True):
    seq: int
    message_id: int | None = None  # null: a system line
    trade_id: int
    user_id: int | None = None
    author: str
    text: str
    at: str


class Notification(Model, frozen=True, kw_only=True):
    notification_id: int
    kind: str
    trade_id: int | None = None
    ad_id: int | None = None
    text: str
    at: str
    read: bool


class NotificationPage(Model, frozen=True, kw_only=True):
    notifications: list[Notification]
    unread: int
    next_before: int | None = None


class NotificationsRead(Model, frozen=True, kw_only=True):
    unread: int


class FiatCurrency(Model, frozen=True, kw_only=True):
    code: str
    decimals: int


class P2PConfig(Model, frozen=True, kw_only=True):
    fiats: list[FiatCurrency]
    fee_bps: int
    min_payment_window_seconds: int
    max_payment_window_seconds: int
    appeal_after_seconds: int
    escalate_after_seconds: int
    cancel_limit: int
    ban_seconds: int


class P2PStats(Model, frozen=True, kw_only=True):
    user_id: int
    trades: int
    completed_trades: int
    finished_trades: int
    completion_rate: Decimal | None = None
    median_release_seconds: int | None = None
    positive_feedback: int
    negative_feedback: int
