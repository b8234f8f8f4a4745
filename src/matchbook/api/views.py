"""What the API answers: one view type per resource, and its builders, one per source.

Every answer of the REST API and every WebSocket message is built here, so a resource
has one shape wherever it appears: an order placed (from the events of the command
that placed it), amended (from the amend's events), followed on the private stream
(its events, one by one), read live (from the engine) or from history (a read-model
row) is the same ``Order`` with the same keys; its ``status`` is derived in one place
(``OrderState.status``). Every key is always present: a value a source does not know
is ``null`` (documented on the field).

Views are ``msgspec`` structs, cheap to build and encoded straight to JSON (``respond``
for REST, the WebSocket's encoder for frames). ``schema(View)`` derives the pydantic
model FastAPI puts into ``/openapi.json`` from the struct, so the document cannot
drift from what is sent. Decimals are strings, ids of orders and trades are strings,
times are nanoseconds since the epoch (``*_ns``).
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.responses import Response

from matchbook.api.decimals import Texts, texts
from matchbook.api.reads import Reads
from matchbook.core import Asset, Symbol
from matchbook.core.book import Order as LiveOrder
from matchbook.core.commands import (
    BUY,
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
)
from matchbook.core.events import (
    CancelReason,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderTriggered,
)

SIDE_NAMES = {BUY: "buy", SELL: "sell"}
TYPE_NAMES = {LIMIT: "limit", MARKET: "market", STOP_LIMIT: "stop_limit",
              STOP_MARKET: "stop_market"}
TIF_NAMES = {GTC: "gtc", IOC: "ioc", FOK: "fok", GTD: "gtd"}
REASONS = {int(r): r.name.lower() for r in CancelReason}
OPEN_STATUSES = frozenset({"new", "partially_filled", "pending_trigger"})
Level = tuple[str, str]  # (price, quantity)


class View(msgspec.Struct, kw_only=True, gc=False):
    """Base of every answer: every field is sent, ``null`` included. Views hold only
    text, numbers and other views, never a cycle, so the cyclic collector need not track
    them (``gc=False``: a few fewer tracked objects per order answered)."""


def plain(value: Decimal) -> str:
    """Minimal plain decimal: ``Decimal("1.5000") -> "1.5"``, never exponent form."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# -- orders and fills --------------------------------------------------------------------


class Fill(View, kw_only=True):
    """One fill of one of your orders (in an order's ``fills``, ``GET /fills`` and the
    private ``orders`` stream); ``fee`` is in ``fee_asset``."""

    trade_id: str
    order_id: str
    symbol: str
    side: Literal["buy", "sell"]
    price: str
    quantity: str
    is_maker: bool
    fee: str
    fee_asset: str
    timestamp_ns: int | None = None  # null only where the time is not known


class Order(View, kw_only=True):
    """An order, wherever it appears.

    ``status``: new, partially_filled, pending_trigger (a stop waiting for its trigger)
    while open; filled, cancelled or expired once closed. ``fills`` are those of the
    request that answered with the order (placing or amending it), else empty.
    ``priority_kept`` is set by an amend, else null. ``created_ns``, ``updated_ns`` and
    ``fee`` (the fees charged so far) are null where the source does not know them: the
    live engine keeps no times and no fee totals, so an open order read from it carries
    what the read model has recorded of it, if anything yet. The engine also forgets a
    stop's ``stop_price`` once it triggers: a triggered stop listed live shows null,
    read alone (``GET /orders/{id}``) it shows the recorded one.
    """

    order_id: str
    client_order_id: str | None
    symbol: str
    side: Literal["buy", "sell"]
    type: Literal["limit", "market", "stop_limit", "stop_market"]
    price: str | None
    quantity: str
    filled_quantity: str
    remaining_quantity: str
    status: Literal["new", "partially_filled", "pending_trigger", "filled", "cancelled",
                    "expired"]
    time_in_force: Literal["gtc", "ioc", "fok", "gtd"]
    post_only: bool
    stop_price: str | None
    display_quantity: str | None
    expire_time_ns: int | None
    cancel_reason: str | None
    created_ns: int | None
    updated_ns: int | None
    fee: str | None
    fee_asset: str
    fills: list[Fill]
    priority_kept: bool | None


class OrderState:
    """One order as its events leave it: the one derivation of an order's status.

    Built from the live engine's order, or from its ``OrderAccepted``, then folded over
    the order's later events (``apply``). The trading service folds the events of one
    command (what an acknowledgement must describe: the live order may already show
    later commands of the same batch); the private ``orders`` stream folds every event.
    """

    __slots__ = ("client_order_id", "closed", "created_ns", "display", "expire_ts", "fee",
                 "filled", "leaves", "order_id", "order_type", "pending", "post_only", "price",
                 "qty", "reason", "side", "stop_price", "symbol", "tif", "updated_ns")

    def __init__(self, order_id: int, symbol: str, side: int, order_type: int, price: int,
                 qty: int, filled: int, leaves: int, tif: int, post_only: bool,
                 stop_price: int, pending: bool, display: int, expire_ts: int,
                 client_order_id: str, fee: int | None, created_ns: int | None) -> None:
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.price = price
        self.qty = qty
        self.filled = filled
        self.leaves = leaves
        self.tif = tif
        self.post_only = post_only
        self.stop_price = stop_price
        self.pending = pending
        self.display = display
        self.expire_ts = expire_ts
        self.client_order_id = client_order_id
        self.fee = fee  # minor units of the quote asset; None: fills before we followed it
        self.created_ns = created_ns
        self.updated_ns = created_ns
        self.closed = ""  # filled, cancelled or expired
        self.reason: str | None = None

    @classmethod
    def of_order(cls, o: LiveOrder) -> OrderState:
        """From the live engine's order (read on the event loop, between batches)."""
        filled = o.qty - o.leaves
        return cls(o.order_id, o.symbol, o.side, o.order_type, o.price, o.qty, filled,
                   o.leaves, o.tif, o.post_only, o.stop_price, o.stop_price > 0, o.display,
                   o.expire_ts, o.client_order_id, None if filled else 0, None)

    @classmethod
    def of_accepted(cls, e: OrderAccepted, ts_ns: int | None = None) -> OrderState:
        return cls(e.order_id, e.symbol, e.side, e.order_type, e.price_ticks, e.qty_lots, 0,
                   e.qty_lots, e.tif, e.post_only, e.stop_price_ticks, e.stop_price_ticks > 0,
                   e.display_lots, e.expire_ts_ns, e.client_order_id, 0, ts_ns)

    @property
    def status(self) -> str:
        if self.closed:
            return self.closed
        if not self.leaves:  # nothing left without a closing event: done
            return "filled" if self.filled else "cancelled"
        if self.pending:
            return "pending_trigger"
        return "partially_filled" if self.filled else "new"

    @property
    def is_open(self) -> bool:
        return not self.closed and self.leaves > 0

    def apply(self, ev: Event, ts_ns: int | None = None) -> str:
        """Fold one event of this order in; returns its name for the stream (accepted,
        filled, cancelled, expired, triggered, amended)."""
        t = type(ev)
        self.updated_ns = ts_ns
        if t is OrderFilled:
            assert isinstance(ev, OrderFilled)
            self.filled, self.leaves = ev.filled_lots, ev.leaves_lots
            self.qty = ev.filled_lots + ev.leaves_lots
            self.pending = False
            if self.fee is not None:
                self.fee += ev.fee_minor
            if not ev.leaves_lots:
                self.closed = "filled"
            return "filled"
        if t is OrderCancelled:
            assert isinstance(ev, OrderCancelled)
            self.leaves = ev.leaves_lots
            if ev.leaves_lots:  # reduced (self-trade decrement), still open
                self.qty = self.filled + ev.leaves_lots
            else:
                self.closed, self.reason = "cancelled", REASONS.get(ev.reason)
            return "cancelled"
        if t is OrderExpired:
            self.leaves = 0
            self.closed, self.reason = "expired", "expired"
            return "expired"
        if t is OrderTriggered:
            self.pending = False
            return "triggered"
        if t is OrderAmended:
            assert isinstance(ev, OrderAmended)
            filled = ev.qty_lots - ev.leaves_lots
            if filled != self.filled:  # fills we did not see: their fees are unknown
                self.fee = None
            self.price, self.qty, self.leaves = ev.price_ticks, ev.qty_lots, ev.leaves_lots
            self.filled = filled
            return "amended"
        return "accepted"

    def view(self, sym: Symbol, fills: list[Fill] | None = None,
             priority_kept: bool | None = None) -> Order:
        # integers written straight as text (``decimals.Texts``); the everyday order has
        # nothing filled and no fee yet: those zeros are written once per symbol
        tx = texts(sym)
        qty_text = tx.qty
        zero_qty = tx.zero_qty
        qty, filled, leaves, fee, price, order_type = (
            self.qty, self.filled, self.leaves, self.fee, self.price, self.order_type)
        return Order(
            order_id=str(self.order_id), client_order_id=self.client_order_id or None,
            symbol=tx.name, side=SIDE_NAMES[self.side],  # type: ignore[arg-type]
            type=TYPE_NAMES[order_type],  # type: ignore[arg-type]
            price=tx.price(price) if price and order_type != MARKET and (
                order_type != STOP_MARKET) else None,
            quantity=qty_text(qty if qty > filled else filled),
            filled_quantity=qty_text(filled) if filled else zero_qty,
            remaining_quantity=qty_text(leaves) if leaves else zero_qty,
            status=self.status,  # type: ignore[arg-type]
            time_in_force=TIF_NAMES[self.tif],  # type: ignore[arg-type]
            post_only=self.post_only,
            stop_price=tx.price(self.stop_price) if self.stop_price else None,
            display_quantity=qty_text(self.display) if self.display else None,
            expire_time_ns=self.expire_ts or None, cancel_reason=self.reason,
            created_ns=self.created_ns, updated_ns=self.updated_ns,
            fee=(tx.fee(fee) if fee else tx.zero_fee) if fee is not None else None,
            fee_asset=tx.fee_asset, fills=fills if fills is not None else [],
            priority_kept=priority_kept)


def fill_of(sym: Symbol, f: OrderFilled, ts_ns: int | None) -> Fill:
    return _fill(texts(sym), f, ts_ns)


def _fill(tx: Texts, f: OrderFilled, ts_ns: int | None) -> Fill:
    return Fill(trade_id=str(f.trade_id), order_id=str(f.order_id), symbol=tx.name,
                side=SIDE_NAMES[f.side],  # type: ignore[arg-type]
                price=tx.price(f.price_ticks), quantity=tx.qty(f.qty_lots),
                is_maker=f.is_maker, fee=tx.fee(f.fee_minor), fee_asset=tx.fee_asset,
                timestamp_ns=ts_ns)


def order_after(sym: Symbol, state: OrderState, events: Iterable[Event], ts_ns: int,
                priority_kept: bool | None = None) -> Order:
    """``state`` folded over the events of ``state``'s order among one command's
    ``events`` (applied at ``ts_ns``), with that command's fills."""
    oid = state.order_id
    fills: list[Fill] = []
    for e in events:
        t = type(e)
        if t is OrderFilled:
            if e.order_id == oid:  # type: ignore[attr-defined]
                state.apply(e, ts_ns)
                fills.append(_fill(texts(sym), e, ts_ns))  # type: ignore[arg-type]
        elif t in _LATER and e.order_id == oid:  # type: ignore[attr-defined]
            state.apply(e, ts_ns)
    return state.view(sym, fills, priority_kept)


_LATER = frozenset({OrderCancelled, OrderExpired, OrderTriggered, OrderAmended})


def order_of_live(sym: Symbol, o: LiveOrder) -> Order:
    """An open order from the engine, as it is now."""
    return OrderState.of_order(o).view(sym)


def order_of_state(sym: Symbol, state: OrderState, row: dict[str, Any] | None) -> Order:
    """An open order read from the engine (``state``), with what only the read model
    knows (times, the fees so far) from its ``row`` when it has been recorded."""
    if row is not None:
        if not state.stop_price and row["stop_price_ticks"]:  # a triggered stop
            state.stop_price = row["stop_price_ticks"]
        state.created_ns = row["created_ts_ns"]
        state.updated_ns = row["updated_ts_ns"]
        if row["filled_lots"] == state.filled:  # the row is up to date with the engine
            state.fee = int(row["fee_minor"])
    return state.view(sym)


def order_of_row(sym: Symbol, row: dict[str, Any]) -> Order:
    """An order from the read model (``matchbook.store.queries``)."""
    fq = sym.format_qty
    return Order(
        order_id=str(row["order_id"]), client_order_id=row["client_order_id"] or None,
        symbol=row["symbol"], side=row["side"], type=row["type"],
        price=sym.format_price(row["price_ticks"]) if row["price_ticks"] else None,
        quantity=fq(row["qty_lots"]), filled_quantity=fq(row["filled_lots"]),
        remaining_quantity=fq(row["leaves_lots"]), status=row["status"],
        time_in_force=row["time_in_force"], post_only=bool(row["post_only"]),
        stop_price=sym.format_price(row["stop_price_ticks"]) if row["stop_price_ticks"]
        else None,
        display_quantity=fq(row["display_lots"]) if row["display_lots"] else None,
        expire_time_ns=row["expire_ts_ns"] or None, cancel_reason=row["cancel_reason"],
        created_ns=row["created_ts_ns"], updated_ns=row["updated_ts_ns"],
        fee=sym.quote.format(int(row["fee_minor"])), fee_asset=sym.quote.code, fills=[],
        priority_kept=None)


def fill_of_row(sym: Symbol, r: dict[str, Any]) -> Fill:
    return Fill(trade_id=str(r["trade_id"]), order_id=str(r["order_id"]), symbol=r["symbol"],
                side=r["side"], price=sym.format_price(r["price_ticks"]),
                quantity=sym.format_qty(r["qty_lots"]), is_maker=r["role"] == "maker",
                fee=sym.quote.format(int(r["fee_minor"])), fee_asset=sym.quote.code,
                timestamp_ns=r["ts_ns"])


class Cancelled(View, kw_only=True):
    """``DELETE /orders/{id}``: the order is closed; ``cancelled_quantity`` was open."""

    order_id: str
    symbol: str
    status: Literal["cancelled"] = "cancelled"
    cancelled_quantity: str


class CancelledAll(View, kw_only=True):
    cancelled: list[str]  # order ids
    count: int


# -- wallet ------------------------------------------------------------------------------


class Balance(View, kw_only=True):
    """``held`` backs open orders and pending withdrawals; ``escrow`` is what your open
    P2P sell ads and the trades you sell in hold (yours until released, spendable by
    nothing else); ``total`` is the three together."""

    asset: str
    available: str
    held: str
    escrow: str
    total: str
    address: str | None  # your deposit address, once created


def balance_of(asset: Asset, available: int, held: int, address: str | None,
               escrow: int = 0) -> Balance:
    fmt = asset.format
    return Balance(asset=asset.code, available=fmt(available), held=fmt(held),
                   escrow=fmt(escrow), total=fmt(available + held + escrow), address=address)


def balances_live(reads: Reads, user_id: int,
                  assets: Iterable[str] | None = None) -> list[Balance]:
    """``user_id``'s balances of ``assets`` (every asset by default), live."""
    known = reads.markets.assets
    escrow = reads.p2p_escrow(user_id)
    return [balance_of(known[code], *reads.balance(user_id, code), reads.address(user_id, code),
                       escrow.get(code, 0))
            for code in (assets if assets is not None else known)]


class LedgerEntry(View, kw_only=True):
    """One double-entry ledger line: ``amount`` moved from ``debit`` to ``credit``;
    ``available_change``/``held_change`` are what it did to your balance."""

    seq: int
    index: int
    asset: str
    amount: str
    available_change: str
    held_change: str
    debit: str
    credit: str
    reason: str
    reference: str | None
    timestamp_ns: int


def ledger_of_row(asset: Asset, r: dict[str, Any]) -> LedgerEntry:
    fmt = asset.format
    return LedgerEntry(seq=r["seq"], index=r["index"], asset=r["asset"],
                       amount=fmt(int(r["amount_minor"])),
                       available_change=fmt(int(r["available_delta_minor"])),
                       held_change=fmt(int(r["held_delta_minor"])), debit=r["debit"],
                       credit=r["credit"], reason=r["reason"], reference=r["reference"],
                       timestamp_ns=r["ts_ns"])


class Address(View, kw_only=True):
    asset: str
    address: str


class Withdrawal(View, kw_only=True):
    """``status``: pending until an operator approves (completed) or rejects it."""

    withdrawal_id: int
    user_id: int
    asset: str
    amount: str
    destination: str
    status: Literal["pending", "completed", "rejected"]
    reason: str | None  # why it was rejected


class Transfer(View, kw_only=True):
    transfer_id: int
    asset: str
    to_address: str
    amount: str


class Deposit(View, kw_only=True):
    deposit_id: int
    user_id: int
    asset: str
    amount: str


# -- accounts ----------------------------------------------------------------------------


class User(View, kw_only=True):
    user_id: int
    email: str
    role: Literal["user", "admin"]


class Session(View, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int  # seconds the access token is valid
    user_id: int
    role: Literal["user", "admin"]


class Me(View, kw_only=True):
    user_id: int
    email: str
    role: Literal["user", "admin"]
    suspended: bool
    scopes: list[str]
    api_key_id: int | None  # when the credentials are an API key


class CreatedApiKey(View, kw_only=True):
    """A new API key; ``api_key`` (the secret) is shown this once."""

    api_key_id: int
    api_key: str
    scopes: list[str]
    label: str


class ApiKeyInfo(View, kw_only=True):
    api_key_id: int
    scopes: list[str]
    label: str
    created_ns: int


class RevokedApiKey(View, kw_only=True):
    api_key_id: int
    revoked: bool


# -- administration ----------------------------------------------------------------------


class Adjustment(View, kw_only=True):
    user_id: int
    asset: str
    amount: str  # signed: negative debits


class HaltState(View, kw_only=True):
    symbol: str  # or "all": trading as a whole
    halted: bool


class Suspension(View, kw_only=True):
    user_id: int
    suspended: bool
    cancelled_orders: list[str]  # order ids the suspension cancelled
    cancelled_ads: list[int]  # P2P ad ids the suspension cancelled


class UserInfo(View, kw_only=True):
    user_id: int
    email: str
    role: Literal["user", "admin"]
    suspended: bool
    open_orders: int


class AuditEntry(View, kw_only=True):
    """One command as journaled, with its result code (0: accepted)."""

    seq: int
    timestamp_ns: int
    user_id: int | None
    command_type: str
    command: dict[str, Any]
    result_code: int
    event_count: int


def audit_of_row(r: dict[str, Any], command: dict[str, Any]) -> AuditEntry:
    return AuditEntry(seq=r["seq"], timestamp_ns=r["ts_ns"], user_id=r["user_id"],
                      command_type=r["command_type"], command=command,
                      result_code=r["result_code"], event_count=r["event_count"])


class AdminOrder(Order, kw_only=True):
    """An order of any user (``GET /admin/orders``): the order with its owner."""

    user_id: int


def admin_order_of_row(sym: Symbol, row: dict[str, Any]) -> AdminOrder:
    return AdminOrder(user_id=row["user_id"],
                      **msgspec.structs.asdict(order_of_row(sym, row)))


class AdminOrders(View, kw_only=True):
    """A page of orders, newest first. ``next_cursor`` fetches the next (older) page as
    ``?cursor=``; null on the last page."""

    orders: list[AdminOrder]
    next_cursor: str | None


class AdminTrade(View, kw_only=True):
    """A trade with both sides (``GET /admin/trades``): ``side`` is the aggressor's (the
    taker's), ``notional`` and the fees are in ``fee_asset`` (the quote asset); a
    negative fee is a rebate."""

    trade_id: str
    seq: int
    symbol: str
    price: str
    quantity: str
    notional: str
    side: Literal["buy", "sell"]
    maker_user_id: int
    maker_order_id: str
    maker_fee: str
    taker_user_id: int
    taker_order_id: str
    taker_fee: str
    fee_asset: str
    timestamp_ns: int


def admin_trade_of_row(sym: Symbol, r: dict[str, Any]) -> AdminTrade:
    quote = sym.quote
    return AdminTrade(
        trade_id=str(r["trade_id"]), seq=r["seq"], symbol=r["symbol"],
        price=sym.format_price(r["price_ticks"]), quantity=sym.format_qty(r["qty_lots"]),
        notional=quote.format(int(r["notional_minor"])),
        side=r["aggressor_side"],
        maker_user_id=r["maker_user_id"], maker_order_id=str(r["maker_order_id"]),
        maker_fee=quote.format(int(r["maker_fee_minor"])),
        taker_user_id=r["taker_user_id"], taker_order_id=str(r["taker_order_id"]),
        taker_fee=quote.format(int(r["taker_fee_minor"])),
        fee_asset=quote.code, timestamp_ns=r["ts_ns"])


class AdminTrades(View, kw_only=True):
    """A page of trades, newest first; ``next_cursor`` as in ``AdminOrders``."""

    trades: list[AdminTrade]
    next_cursor: str | None


class JournalStats(View, kw_only=True):
    mode: str
    last_seq: int | None
    fsyncs: int
    fsync_seconds: float
    lag: int  # commands applied but not yet written
    writes: str  # where batches are written: auto, loop or thread
    loop_writes: int  # batches written on the event loop (the others on the journal's thread)


class DeadLetter(View, kw_only=True):
    """Records the SQL projector could not write: skipped, never retried forever."""

    first_seq: int
    last_seq: int
    error: str
    recorded_ns: int


class ProjectorHealth(View, kw_only=True):
    last_seq: int
    lag: int
    behind: bool
    errors: int
    last_error: str | None
    dead_letters: int
    last_dead_letter: DeadLetter | None


class Stats(View, kw_only=True):
    seq: int
    queue_depth: int
    commands: int
    batches: int
    busy_rejections: int
    throughput_per_sec: float
    journal: JournalStats
    snapshot_seq: int
    projector_lag: int
    projector: ProjectorHealth | None
    open_orders: int
    websocket_clients: int
    uptime_seconds: float


class LatencyBucket(View, kw_only=True):
    le: str  # the bucket's upper bound in seconds, "+Inf" for the last
    count: int  # cumulative


class LatencyHistogram(View, kw_only=True):
    buckets: list[LatencyBucket]


class AdminHealth(Stats, kw_only=True):
    """``Stats`` with cumulative counters, for a dashboard that derives rates."""

    version: str
    commands_by_type: dict[str, int]
    trades_by_symbol: dict[str, int]
    rejections_by_code: dict[str, int]
    ack_latency_seconds: LatencyHistogram
    websocket_dropped: int


# -- market data -------------------------------------------------------------------------


class Health(View, kw_only=True):
    status: str
    service: str
    seq: int
    queue_depth: int
    # which build of the core runs: "compiled (Cython 3.3.1)", "pure Python", ...
    core_build: str


class SymbolInfo(View, kw_only=True):
    """A traded symbol; fees are rates (``"0.001"`` = 0.1 %)."""

    symbol: str
    base: str
    quote: str
    tick_size: str
    lot_size: str
    min_quantity: str
    max_quantity: str
    min_notional: str
    price_band_bps: int
    market_protection_bps: int
    maker_fee: str
    taker_fee: str
    halted: bool


def symbol_info(s: Symbol, halted: bool) -> SymbolInfo:
    return SymbolInfo(
        symbol=s.name, base=s.base.code, quote=s.quote.code, tick_size=f"{s.tick_size:f}",
        lot_size=f"{s.lot_size:f}", min_quantity=s.format_qty(s.min_qty_lots),
        max_quantity=s.format_qty(s.max_qty_lots),
        min_notional=s.quote.format(s.min_notional_minor), price_band_bps=s.price_band_bps,
        market_protection_bps=s.market_protection_bps,
        maker_fee=plain(Decimal(s.fees.maker_ppm).scaleb(-6)),  # exact: no float
        taker_fee=plain(Decimal(s.fees.taker_ppm).scaleb(-6)), halted=halted)


class AssetInfo(View, kw_only=True):
    asset: str
    decimals: int


def levels(sym: Symbol, found: Sequence[tuple[int, int]]) -> list[Level]:
    """Book levels ``[[price, quantity], ...]``; quantity ``"0"`` (a removed level, in
    deltas) is written as ``"0"``."""
    fp, fq = sym.format_price, sym.format_qty
    return [(fp(p), fq(q) if q else "0") for p, q in found]


class Depth(View, kw_only=True):
    """The book's best levels, best first, as of ``last_update_id``."""

    symbol: str
    last_update_id: int
    bids: list[Level]
    asks: list[Level]


class Trade(View, kw_only=True):
    """A public trade; ``side`` is the aggressor's."""

    trade_id: str
    symbol: str
    price: str
    quantity: str
    side: Literal["buy", "sell"]
    timestamp_ns: int


class Ticker(View, kw_only=True):
    """The rolling 24 hours; prices are null before the first trade."""

    symbol: str
    open: str | None
    high: str | None
    low: str | None
    last: str | None
    volume: str
    trades: int
    change: str | None
    best_bid: str | None
    best_ask: str | None


class Candle(View, kw_only=True):
    symbol: str
    interval: str
    start_ns: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    trades: int


# -- the simple BTC/USD endpoints --------------------------------------------------------


class SimpleHealth(View, kw_only=True):
    service: str
    status: str


class SimpleOrderResult(View, kw_only=True):
    """``POST /api/orders``; a refused order has ``success`` false, ``order_id`` null
    and the error's ``code`` (with the error's HTTP status)."""

    success: bool
    order_id: str | None
    message: str
    status: str | None = None
    code: int | None = None


class SimpleBook(View, kw_only=True):
    symbol: str
    bids: list[Level]
    asks: list[Level]
    best_bid: str | None
    best_ask: str | None
    spread: str | None


def simple_book(sym: Symbol, bids: Sequence[tuple[int, int]],
                asks: Sequence[tuple[int, int]]) -> SimpleBook:
    """The simple shape: quantities as plain decimals, symbol ``BTC/USD``."""
    best_bid = bids[0][0] if bids else 0
    best_ask = asks[0][0] if asks else 0
    return SimpleBook(
        symbol=sym.name.replace("-", "/"),
        bids=[(sym.format_price(p), plain(sym.lots_to_qty(q))) for p, q in bids],
        asks=[(sym.format_price(p), plain(sym.lots_to_qty(q))) for p, q in asks],
        best_bid=sym.format_price(best_bid) if best_bid else None,
        best_ask=sym.format_price(best_ask) if best_ask else None,
        spread=sym.format_price(best_ask - best_bid) if best_bid and best_ask else None)


# -- rendering ---------------------------------------------------------------------------

encode = msgspec.json.Encoder().encode


class ViewResponse(Response):
    """A view (or a list of them) encoded by msgspec: no validation on the way out."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode(content)


def respond(view: Any, status_code: int = 200) -> ViewResponse:
    return ViewResponse(view, status_code)


@functools.cache
def _model(struct: type[View]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for f in msgspec.structs.fields(struct):
        fields[f.name] = (_pydantic_type(f.type), Field(...))
    model: type[BaseModel] = create_model(
        struct.__name__, __config__=ConfigDict(extra="forbid"), __doc__=struct.__doc__,
        **fields)
    return model


def _pydantic_type(tp: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, View):
        return _model(tp)
    origin = typing.get_origin(tp)
    if origin is None or origin is Literal:
        return tp
    args = tuple(_pydantic_type(a) for a in typing.get_args(tp))
    if origin is tuple and len(set(args)) == 1 and Ellipsis not in args:
        # a pair of one type is documented as an array of exactly two: the same JSON,
        # without ``prefixItems``, which some OpenAPI tools still misread
        array: Any = list
        return Annotated[array[args[0]], Field(min_length=len(args), max_length=len(args))]
    if origin is types.UnionType or origin is typing.Union:
        return functools.reduce(operator.or_, args)
    generic: Any = origin
    return generic[args if len(args) > 1 else args[0]]


def schema(tp: Any) -> Any:
    """The pydantic model of a view type (``Order``, ``list[Order]``) for
    ``response_model``: what ``/openapi.json`` shows, derived from the struct. Every
    key is required (always sent)."""
    return _pydantic_type(tp)
