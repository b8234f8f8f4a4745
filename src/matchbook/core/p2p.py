"""The P2P escrow desk: payment methods, ads, trades, escrow, deadlines and disputes.

A seller's asset moves from their available balance into escrow (when a sell ad is
posted, or when a buy ad is taken); the buyer pays fiat outside the exchange and marks
the trade paid; the seller's release moves the escrow to the buyer (less the P2P fee,
to the fee account). Cancel, expiry and a refund move it back to the seller, or to the
sell ad it came from. The design and its ten invariants: shared P2P.md; the state table
as implemented and every refusal: ``docs/p2p-core.md``.

The desk works on the engine's accounts (``Account.free`` / ``credit``) and owns the
escrow balance per asset (``Engine.escrow_balances``), so conservation covers it:
users' available + held + escrow + fees + external = 0 per asset. Escrow is never in an
account, so no order, withdrawal, transfer or other ad can spend it.

Deadlines are sequencer time: the engine folds ``next_deadline`` into its own next
expiry, so ``Engine.apply`` calls ``fire`` before a command whose stamped time reached
one (the order path pays nothing more than the comparison it already made). Only
``pay_by`` moves money (an unpaid trade expires); ``escalate_at`` turns a paid trade
into a dispute and never moves money. ``RecordOutage`` moves every running deadline
later by the downtime.

Every handler refuses with a numbered code (``P2PRejected``, with the target's current
state) and then has changed nothing, but for the idempotency memory: an action that
carries a key remembers its first answer, refusals included, for 24 h of sequencer time.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from matchbook.core.accounts import Account
from matchbook.core.codes import Code, message
from matchbook.core.commands import (
    AddPaymentMethod,
    AdState,
    CancelAd,
    CancelTrade,
    DisputeOutcome,
    LeaveFeedback,
    MarkPaid,
    OpenDispute,
    P2PSide,
    PauseAd,
    PostAd,
    PostTradeMessage,
    RecordOutage,
    ReleaseEscrow,
    RemovePaymentMethod,
    ResolveDispute,
    ResumeAd,
    TakeAd,
    TradeState,
    WithdrawDispute,
)
from matchbook.core.events import (
    AdChanged,
    AdPosted,
    DeadlinesExtended,
    DisputeResolutionProposed,
    Event,
    FeedbackLeft,
    P2PRejected,
    P2PRepeated,
    P2PTradeChanged,
    P2PTradeOpened,
    P2PUserBanned,
    PaymentMethodAdded,
    PaymentMethodRemoved,
    TradeMessagePosted,
)
from matchbook.core.symbols import MAX_UNITS, Markets, Symbol


class _Book(Protocol):
    """What the desk reads of a book (``core/matching.py``): the best prices."""

    symbol: Symbol
    base_code: str
    quote_code: str
    bid_heap: list[int]
    ask_heap: list[int]


class _Engine(Protocol):
    """What the desk uses of the engine (``core/engine.py``), which owns the accounts,
    the books, the fee account and the clock."""

    markets: Markets
    accounts: dict[int, Account]
    @property
    def books(self) -> Mapping[str, _Book]: ...
    suspended: set[int]
    fee_balances: dict[str, int]
    last_ts: int
    _next_expiry: int

    def _account(self, uid: int) -> Account: ...

    def _reschedule(self) -> None: ...

S = 1_000_000_000  # nanoseconds per second
DAY_NS = 86_400 * S
MIN_WINDOW_S, MAX_WINDOW_S = 300, 21_600
MAX_TEXT = 2000
MAX_METHODS_PER_AD = 10

SELL_AD, BUY_AD = int(P2PSide.SELL), int(P2PSide.BUY)
OPEN, PAUSED, CLOSED, AD_CANCELLED = (int(AdState.OPEN), int(AdState.PAUSED),
                                      int(AdState.CLOSED), int(AdState.CANCELLED))
PENDING, PAID, DISPUTED = (int(TradeState.PENDING_PAYMENT), int(TradeState.PAID),
                           int(TradeState.DISPUTED))
COMPLETED, CANCELLED, EXPIRED = (int(TradeState.COMPLETED), int(TradeState.CANCELLED),
                                 int(TradeState.EXPIRED))
RESOLVED_RELEASE, RESOLVED_REFUND = (int(TradeState.RESOLVED_RELEASE),
                                     int(TradeState.RESOLVED_REFUND))
LIVE = frozenset((PENDING, PAID, DISPUTED))  # the states whose quantity is in escrow
LIVE_AD = frozenset((OPEN, PAUSED, CLOSED))  # a sell ad in these takes escrow back

# the reason of an admin's resume that leaves the ad paused by its maker
ADMIN_PAUSE_LIFTED = "admin pause lifted: still paused by its maker"

# deadline kinds in the heap
PAY_BY, ESCALATE = 1, 2


class PaymentMethod:
    __slots__ = ("details", "method_id", "name", "user_id")

    def __init__(self, method_id: int, user_id: int, name: str, details: str) -> None:
        self.method_id = method_id
        self.user_id = user_id
        self.name = name
        self.details = details

    def row(self) -> list[Any]:
        return [self.method_id, self.user_id, self.name, self.details]


class Ad:
    """An ad. ``methods``: copies ``(id, name, details)`` of the maker's payment methods
    taken when posted. A sell ad's ``remaining_minor`` is in escrow while the ad is
    open, paused or closed; cancelling returns it to the maker."""

    __slots__ = (
        "ad_id",
        "asset",
        "created_ns",
        "fiat",
        "max_qty_minor",
        "methods",
        "min_qty_minor",
        "payment_window_s",
        "price_margin_bps",
        "price_minor",
        "price_symbol",
        "qty_minor",
        "remaining_minor",
        "side",
        "state",
        "terms",
        "user_id",
    )

    def __init__(self, ad_id: int, user_id: int, side: int, asset: str, fiat: str,
                 price_minor: int, price_margin_bps: int, price_symbol: str, qty_minor: int,
                 remaining_minor: int, min_qty_minor: int, max_qty_minor: int,
                 methods: tuple[tuple[int, str, str], ...], payment_window_s: int, terms: str,
                 state: int, created_ns: int) -> None:
        self.ad_id = ad_id
        self.user_id = user_id
        self.side = side
        self.asset = asset
        self.fiat = fiat
        self.price_minor = price_minor
        self.price_margin_bps = price_margin_bps
        self.price_symbol = price_symbol
        self.qty_minor = qty_minor
        self.remaining_minor = remaining_minor
        self.min_qty_minor = min_qty_minor
        self.max_qty_minor = max_qty_minor
        self.methods = methods
        self.payment_window_s = payment_window_s
        self.terms = terms
        self.state = state
        self.created_ns = created_ns

    def row(self) -> list[Any]:
        return [self.ad_id, self.user_id, self.side, self.asset, self.fiat, self.price_minor,
                self.price_margin_bps, self.price_symbol, self.qty_minor, self.remaining_minor,
                self.min_qty_minor, self.max_qty_minor, [list(m) for m in self.methods],
                self.payment_window_s, self.terms, self.state, self.created_ns]

    @classmethod
    def from_row(cls, row: list[Any]) -> Ad:
        fields = list(row)
        fields[12] = tuple((int(i), str(n), str(d)) for i, n, d in fields[12])
        return cls(*fields)


_TRADE_FIELDS = (  # in the constructor's order: a snapshot row lists them so
    "trade_id", "ad_id", "maker_id", "buyer_id", "seller_id", "asset", "fiat", "qty_minor",
    "price_minor", "fiat_amount_minor", "method_id", "method_name", "method_details",
    "state", "opened_ns", "pay_by_ns", "paid_ns", "appeal_after_ns", "escalate_at_ns",
    "closed_ns", "from_sell_ad", "dispute_opener", "proposal", "feedback")


class Trade:
    """One take of an ad. Deadlines are absolute sequencer times in ns (0 = none):
    ``pay_by`` while pending payment, ``appeal_after`` and ``escalate_at`` once paid.
    ``dispute_opener``: who opened the running dispute (0 = escalated by time);
    ``proposal``: an admin's decision waiting for a second admin ``(admin, outcome,
    note)``; ``feedback``: bit 1 the buyer rated, bit 2 the seller rated."""

    __slots__ = _TRADE_FIELDS

    def __init__(self, trade_id: int, ad_id: int, maker_id: int, buyer_id: int,
                 seller_id: int, asset: str, fiat: str, qty_minor: int, price_minor: int,
                 fiat_amount_minor: int, method_id: int, method_name: str,
                 method_details: str, state: int, opened_ns: int, pay_by_ns: int,
                 paid_ns: int = 0, appeal_after_ns: int = 0, escalate_at_ns: int = 0,
                 closed_ns: int = 0, from_sell_ad: bool = True, dispute_opener: int = 0,
                 proposal: tuple[int, int, str] | None = None, feedback: int = 0) -> None:
        self.trade_id = trade_id
        self.ad_id = ad_id
        self.maker_id = maker_id
        self.buyer_id = buyer_id
        self.seller_id = seller_id
        self.asset = asset
        self.fiat = fiat
        self.qty_minor = qty_minor
        self.price_minor = price_minor
        self.fiat_amount_minor = fiat_amount_minor
        self.method_id = method_id
        self.method_name = method_name
        self.method_details = method_details
        self.state = state
        self.opened_ns = opened_ns
        self.pay_by_ns = pay_by_ns
        self.paid_ns = paid_ns
        self.appeal_after_ns = appeal_after_ns
        self.escalate_at_ns = escalate_at_ns
        self.closed_ns = closed_ns
        self.from_sell_ad = from_sell_ad
        self.dispute_opener = dispute_opener
        self.proposal = proposal
        self.feedback = feedback

    def row(self) -> list[Any]:
        return [getattr(self, name) if name != "proposal" else
                (list(self.proposal) if self.proposal else None) for name in _TRADE_FIELDS]

    @classmethod
    def from_row(cls, row: list[Any]) -> Trade:
        fields = list(row)
        fields[22] = tuple(fields[22]) if fields[22] else None
        return cls(*fields)

    def deadlines(self) -> tuple[int, int, int]:
        """``(pay_by, appeal_after, escalate_at)`` in force in the current state."""
        state = self.state
        if state == PENDING:
            return self.pay_by_ns, 0, 0
        if state == PAID or state == DISPUTED:
            return 0, self.appeal_after_ns, self.escalate_at_ns
        return 0, 0, 0


class _Refused(Exception):
    """Raised inside a P2P handler by ``_refuse``; caught by the handler's wrapper, which
    emits ``P2PRejected``. P2P commands are rare and off the order path, so an exception
    keeps each handler a straight read of its checks."""

    def __init__(self, code: int, target_id: int, state: int) -> None:
        self.code = code
        self.target_id = target_id
        self.state = state


def _refuse(code: int, target_id: int = 0, state: int = 0) -> _Refused:
    return _Refused(code, target_id, state)


def _text_ok(text: str, low: int, high: int) -> bool:
    """``low`` to ``high`` characters, each printable or a line break."""
    return low <= len(text) <= high and (text.isprintable() or all(
        ch.isprintable() or ch == "\n" for ch in text)) and (not low or bool(text.strip()))


class P2PDesk:
    """The whole P2P state and its handlers (registered in the engine's command table)."""

    __slots__ = (
        "admin_paused",
        "ads",
        "bans",
        "config",
        "deadlines",
        "engine",
        "escrow",
        "idempotency",
        "idempotency_order",
        "methods",
        "next_ad_id",
        "next_deadline",
        "next_message_id",
        "next_method_id",
        "next_trade_id",
        "strikes",
        "trades",
        "user_escrow",
    )

    def __init__(self, engine: _Engine) -> None:
        self.engine = engine
        self.config = engine.markets.p2p
        self.methods: dict[int, PaymentMethod] = {}
        self.ads: dict[int, Ad] = {}
        # ad id -> (admin, its maker had paused it too): ads an admin paused, which only
        # an admin resumes (to paused again if the maker had paused it first)
        self.admin_paused: dict[int, tuple[int, bool]] = {}
        self.trades: dict[int, Trade] = {}
        self.escrow: dict[str, int] = dict.fromkeys(engine.markets.assets, 0)
        self.user_escrow: dict[int, dict[str, int]] = {}
        self.deadlines: list[tuple[int, int, int]] = []  # (ts, trade id, PAY_BY | ESCALATE)
        self.next_deadline = 2**63 - 1
        # (user, key) -> (command name, code, target id, ts); ``idempotency_order`` the
        # same keys oldest first, to forget them after 24 h
        self.idempotency: dict[tuple[int, str], tuple[str, int, int, int]] = {}
        self.idempotency_order: deque[tuple[int, int, str]] = deque()
        self.strikes: dict[int, list[int]] = {}  # user -> times of cancels/expiries (24 h)
        self.bans: dict[int, int] = {}  # user -> banned until (ns)
        self.next_method_id = 1
        self.next_ad_id = 1
        self.next_trade_id = 1
        self.next_message_id = 1

    def handlers(self) -> dict[type, Callable[[Any, list[Event]], None]]:
        """Each P2P command's handler, for the engine's table."""
        plain: dict[type, Callable[[Any, list[Event]], int]] = {
            AddPaymentMethod: self._add_method,
            RemovePaymentMethod: self._remove_method,
            PostAd: self._post_ad,
            PauseAd: self._pause_ad,
            ResumeAd: self._resume_ad,
            CancelAd: self._cancel_ad,
            TakeAd: self._take,
            MarkPaid: self._mark_paid,
            ReleaseEscrow: self._release,
            CancelTrade: self._cancel_trade,
            OpenDispute: self._open_dispute,
            WithdrawDispute: self._withdraw_dispute,
            ResolveDispute: self._resolve,
            PostTradeMessage: self._message,
            LeaveFeedback: self._feedback,
            RecordOutage: self._outage,
        }
        return {kind: self._guarded(handler) for kind, handler in plain.items()}

    def _guarded(self, handler: Callable[[Any, list[Event]], int]
                 ) -> Callable[[Any, list[Event]], None]:
        """Run ``handler``; a refusal becomes ``P2PRejected``. A command with an
        idempotency key seen before answers ``P2PRepeated``; otherwise its answer (the
        target id on success, the code on a refusal) is remembered."""
        def run(command: Any, out: list[Event]) -> None:
            key: str = getattr(command, "idempotency_key", "")
            name = type(command).__name__
            user = getattr(command, "user_id", 0) or getattr(command, "admin_id", 0)
            if key:
                self._forget_old_keys()
                first = self.idempotency.get((user, key))
                if first is not None:
                    out.append(P2PRepeated(user, first[0], key, first[1], first[2]))
                    return
                if len(key) > 64 or not key.isprintable():
                    bad = Code.INVALID_TEXT
                    out.append(P2PRejected(user, bad, message(bad), name, 0, 0))
                    return
            mark = len(out)
            code: int = Code.OK
            try:
                target = handler(command, out)
            except _Refused as refused:
                del out[mark:]  # a refusal emits nothing else
                code, target = refused.code, refused.target_id
                out.append(P2PRejected(user, code, message(code), name, target, refused.state))
            if key:
                now = self.engine.last_ts
                self.idempotency[(user, key)] = (name, code, target, now)
                self.idempotency_order.append((now, user, key))
        return run

    def _forget_old_keys(self) -> None:
        horizon = self.engine.last_ts - DAY_NS
        order, memory = self.idempotency_order, self.idempotency
        while order and order[0][0] <= horizon:
            _, user, key = order.popleft()
            del memory[(user, key)]

    # =================================================================================
    # queries
    # =================================================================================

    def escrow_of(self, user_id: int) -> Mapping[str, int]:
        """What ``user_id`` has in escrow per asset (open sell ads and live trades as
        seller). O(1)."""
        return self.user_escrow.get(user_id, {})

    def banned_until(self, user_id: int) -> int:
        """The end of a running P2P ban (ns), 0 if none (as of the last command)."""
        until = self.bans.get(user_id, 0)
        return until if until > self.engine.last_ts else 0

    def untouched(self) -> bool:
        """Nothing P2P ever happened (no method, ad or message was ever created)."""
        return (self.next_method_id == 1 and self.next_ad_id == 1
                and self.next_message_id == 1 and not self.idempotency and not self.bans)

    def methods_of(self, user_id: int) -> list[PaymentMethod]:
        return [m for m in self.methods.values() if m.user_id == user_id]

    # =================================================================================
    # payment methods
    # =================================================================================

    def _add_method(self, c: AddPaymentMethod, out: list[Event]) -> int:
        if c.user_id <= 0:
            raise _refuse(Code.INVALID_USER)
        if not _text_ok(c.name, 1, 64) or "\n" in c.name or not _text_ok(c.details, 1, 500):
            raise _refuse(Code.INVALID_PAYMENT_METHOD)
        mid = self.next_method_id
        self.next_method_id = mid + 1
        name = c.name.strip()
        self.methods[mid] = PaymentMethod(mid, c.user_id, name, c.details)
        out.append(PaymentMethodAdded(mid, c.user_id, name, c.details))
        return mid

    def _remove_method(self, c: RemovePaymentMethod, out: list[Event]) -> int:
        method = self.methods.get(c.method_id)
        if method is None or method.user_id != c.user_id:
            raise _refuse(Code.UNKNOWN_PAYMENT_METHOD, c.method_id)
        del self.methods[c.method_id]
        out.append(PaymentMethodRemoved(c.method_id, c.user_id))
        return c.method_id

    # =================================================================================
    # ads
    # =================================================================================

    def _may_trade(self, uid: int) -> None:
        """The user may open new P2P business: a valid id, not suspended, not banned."""
        if uid <= 0:
            raise _refuse(Code.INVALID_USER)
        if uid in self.engine.suspended:
            raise _refuse(Code.USER_SUSPENDED)
        if self.bans and self.bans.get(uid, 0) > self.engine.last_ts:
            raise _refuse(Code.P2P_BANNED)

    def _post_ad(self, c: PostAd, out: list[Event]) -> int:
        engine, markets = self.engine, self.engine.markets
        self._may_trade(c.user_id)
        if c.side != SELL_AD and c.side != BUY_AD:
            raise _refuse(Code.INVALID_AD)
        asset = markets.assets.get(c.asset)
        if asset is None:
            raise _refuse(Code.UNKNOWN_ASSET)
        fiat = markets.fiats.get(c.fiat)
        if fiat is None:
            raise _refuse(Code.UNKNOWN_FIAT)
        if c.price_minor:
            if not 0 < c.price_minor < MAX_UNITS or c.price_margin_bps or c.price_symbol:
                raise _refuse(Code.INVALID_AD)
        else:
            if not c.price_symbol or not -10_000 < c.price_margin_bps < 10_000:
                raise _refuse(Code.INVALID_AD)
            book = engine.books.get(c.price_symbol)
            if book is None or book.base_code != asset.code or book.quote_code != fiat.code:
                raise _refuse(Code.INVALID_PRICE_SOURCE)
        if not 0 < c.min_qty_minor <= c.max_qty_minor <= c.qty_minor < MAX_UNITS:
            raise _refuse(Code.INVALID_AD)
        if c.price_minor and not _fiat_amount(c.min_qty_minor, c.price_minor, asset.decimals):
            raise _refuse(Code.INVALID_AD)  # its smallest take would be worth nothing
        if not MIN_WINDOW_S <= c.payment_window_s <= MAX_WINDOW_S:
            raise _refuse(Code.INVALID_PAYMENT_WINDOW)
        if not _text_ok(c.terms, 0, MAX_TEXT):
            raise _refuse(Code.INVALID_AD)
        ids = c.payment_method_ids
        if not 0 < len(ids) <= MAX_METHODS_PER_AD or len(set(ids)) != len(ids):
            raise _refuse(Code.INVALID_AD)
        methods = []
        for mid in ids:
            method = self.methods.get(mid)
            if method is None or method.user_id != c.user_id:
                raise _refuse(Code.UNKNOWN_PAYMENT_METHOD, mid)
            methods.append((mid, method.name, method.details))
        escrowed = 0
        if c.side == SELL_AD:
            account = engine.accounts.get(c.user_id)
            if account is None or account.free(asset.code) < c.qty_minor:
                raise _refuse(Code.INSUFFICIENT_FUNDS)
            account.credit(asset.code, -c.qty_minor)
            self._escrow(c.user_id, asset.code, c.qty_minor)
            escrowed = c.qty_minor
        aid = self.next_ad_id
        self.next_ad_id = aid + 1
        self.ads[aid] = Ad(aid, c.user_id, c.side, asset.code, fiat.code, c.price_minor,
                           c.price_margin_bps, c.price_symbol, c.qty_minor, c.qty_minor,
                           c.min_qty_minor, c.max_qty_minor, tuple(methods),
                           c.payment_window_s, c.terms, OPEN, engine.last_ts)
        out.append(AdPosted(aid, c.user_id, c.side, asset.code, fiat.code, c.price_minor,
                            c.price_margin_bps, c.price_symbol, c.qty_minor, c.min_qty_minor,
                            c.max_qty_minor, tuple(ids), c.payment_window_s, c.terms, escrowed))
        return aid

    def _my_ad(self, uid: int, ad_id: int) -> Ad:
        ad = self.ads.get(ad_id)
        if ad is None:
            raise _refuse(Code.UNKNOWN_AD, ad_id)
        if ad.user_id != uid:
            raise _refuse(Code.AD_NOT_YOURS, ad_id, ad.state)
        return ad

    def _any_ad(self, ad_id: int) -> Ad:
        ad = self.ads.get(ad_id)
        if ad is None:
            raise _refuse(Code.UNKNOWN_AD, ad_id)
        return ad

    def _pause_ad(self, c: PauseAd, out: list[Event]) -> int:
        if c.admin_id > 0:
            return self._admin_pause(c, out)
        ad = self._my_ad(c.user_id, c.ad_id)
        if ad.state != OPEN:
            raise _refuse(Code.AD_NOT_OPEN, ad.ad_id, ad.state)
        ad.state = PAUSED
        out.append(AdChanged(ad.ad_id, ad.user_id, PAUSED, ad.remaining_minor, 0, c.user_id,
                             "paused", ad.asset))
        return ad.ad_id

    def _admin_pause(self, c: PauseAd, out: list[Event]) -> int:
        """Moderation: an open ad, or one its maker paused, is paused by an admin; its
        maker cannot resume it (``AD_PAUSED_BY_ADMIN``), an admin can. Trades already
        open on it go on; a cancelled trade's quantity comes back to it, paused."""
        ad = self._any_ad(c.ad_id)
        if ad.state not in (OPEN, PAUSED) or ad.ad_id in self.admin_paused:
            raise _refuse(Code.AD_NOT_OPEN, ad.ad_id, ad.state)
        if len(c.reason) > 200:
            raise _refuse(Code.INVALID_TEXT, ad.ad_id, ad.state)
        self.admin_paused[ad.ad_id] = (c.admin_id, ad.state == PAUSED)
        ad.state = PAUSED
        out.append(AdChanged(ad.ad_id, ad.user_id, PAUSED, ad.remaining_minor, 0, c.admin_id,
                             c.reason or "paused by an admin", ad.asset))
        return ad.ad_id

    def _resume_ad(self, c: ResumeAd, out: list[Event]) -> int:
        if c.admin_id > 0:
            return self._admin_resume(c, out)
        ad = self._my_ad(c.user_id, c.ad_id)
        if ad.ad_id in self.admin_paused:
            raise _refuse(Code.AD_PAUSED_BY_ADMIN, ad.ad_id, ad.state)
        if ad.state != PAUSED:
            raise _refuse(Code.AD_NOT_OPEN, ad.ad_id, ad.state)
        ad.state = OPEN
        out.append(AdChanged(ad.ad_id, ad.user_id, OPEN, ad.remaining_minor, 0, c.user_id,
                             "resumed", ad.asset))
        return ad.ad_id

    def _admin_resume(self, c: ResumeAd, out: list[Event]) -> int:
        """Lift an admin's pause (any admin's): the ad opens again, or stays paused if its
        maker had paused it before (their pause is theirs to lift)."""
        ad = self._any_ad(c.ad_id)
        lock = self.admin_paused.pop(ad.ad_id, None)
        if lock is None:
            raise _refuse(Code.AD_NOT_OPEN, ad.ad_id, ad.state)
        ad.state = PAUSED if lock[1] else OPEN
        out.append(AdChanged(ad.ad_id, ad.user_id, ad.state, ad.remaining_minor, 0, c.admin_id,
                             "resumed by an admin" if ad.state == OPEN
                             else ADMIN_PAUSE_LIFTED, ad.asset))
        return ad.ad_id

    def _cancel_ad(self, c: CancelAd, out: list[Event]) -> int:
        if c.admin_id > 0:
            ad = self._any_ad(c.ad_id)
        else:
            ad = self._my_ad(c.user_id, c.ad_id)
        if ad.state == AD_CANCELLED:
            raise _refuse(Code.AD_NOT_OPEN, ad.ad_id, ad.state)
        if len(c.reason) > 200:
            raise _refuse(Code.INVALID_TEXT, ad.ad_id, ad.state)
        actor = c.admin_id if c.admin_id > 0 else c.user_id
        self._end_ad(ad, actor, c.reason or ("removed by an admin" if c.admin_id > 0
                                             else "cancelled"), out)
        return ad.ad_id

    def _end_ad(self, ad: Ad, actor: int, reason: str, out: list[Event]) -> None:
        """Cancel ``ad`` (not cancelled yet): a sell ad's remaining escrow goes back to its
        maker's available balance; its live trades go on, and their quantity goes back
        to the seller when they are cancelled or expire."""
        returned = 0
        if ad.side == SELL_AD and ad.remaining_minor:
            returned = ad.remaining_minor
            self._unescrow(ad.user_id, ad.asset, returned)
            self.engine._account(ad.user_id).credit(ad.asset, returned)
        ad.remaining_minor = 0
        ad.state = AD_CANCELLED
        self.admin_paused.pop(ad.ad_id, None)
        out.append(AdChanged(ad.ad_id, ad.user_id, AD_CANCELLED, 0, returned, actor, reason,
                             ad.asset))

    def user_suspended(self, user_id: int, out: list[Event]) -> None:
        """``SuspendUser`` with ``end_p2p_ads`` accepted: every ad of the user not yet
        cancelled is cancelled (actor 0, reason "user suspended"), oldest first, so
        nothing of theirs can be taken; a closed one too, or a trade cancelled later
        would reopen it. A sell ad's remaining escrow goes back to the user's available
        balance. Trades in flight go on to their end or to a dispute: the counterparty's
        money or fiat is in them. Reinstating the user reopens nothing. O(ads)."""
        for ad in self.ads.values():  # ids ascending: insertion order
            if ad.user_id == user_id and ad.state != AD_CANCELLED:
                self._end_ad(ad, 0, "user suspended", out)

    # =================================================================================
    # take
    # =================================================================================

    def _take(self, c: TakeAd, out: list[Event]) -> int:
        engine = self.engine
        ad = self.ads.get(c.ad_id)
        if ad is None:
            raise _refuse(Code.UNKNOWN_AD, c.ad_id)
        aid = ad.ad_id
        self._may_trade(c.user_id)
        if ad.user_id == c.user_id:
            raise _refuse(Code.OWN_AD, aid, ad.state)
        if ad.state != OPEN:
            raise _refuse(Code.AD_NOT_OPEN, aid, ad.state)
        qty = c.qty_minor
        if not (ad.min_qty_minor <= qty <= ad.max_qty_minor and qty <= ad.remaining_minor):
            raise _refuse(Code.QUANTITY_OUT_OF_RANGE, aid, ad.state)
        if ad.price_minor:
            price = ad.price_minor
        else:
            price = self._margin_price(ad)
            if not price:
                raise _refuse(Code.NO_REFERENCE_PRICE, aid, ad.state)
        decimals = engine.markets.assets[ad.asset].decimals
        fiat_amount = _fiat_amount(qty, price, decimals)
        if not fiat_amount:
            raise _refuse(Code.QUANTITY_OUT_OF_RANGE, aid, ad.state)
        if ad.side == SELL_AD:
            buyer, seller = c.user_id, ad.user_id
            method = self._ad_method(ad, c.payment_method_id)
        else:
            buyer, seller = ad.user_id, c.user_id
            method = self._taker_method(ad, c.user_id, c.payment_method_id)
        from_seller = 0
        if ad.side == BUY_AD:
            account = engine.accounts.get(seller)
            if account is None or account.free(ad.asset) < qty:
                raise _refuse(Code.INSUFFICIENT_FUNDS, aid, ad.state)
            account.credit(ad.asset, -qty)
            self._escrow(seller, ad.asset, qty)
            from_seller = qty
        ad.remaining_minor -= qty
        now = engine.last_ts
        tid = self.next_trade_id
        self.next_trade_id = tid + 1
        pay_by = now + ad.payment_window_s * S
        self.trades[tid] = Trade(tid, aid, ad.user_id, buyer, seller, ad.asset, ad.fiat, qty,
                                 price, fiat_amount, method[0], method[1], method[2], PENDING,
                                 now, pay_by, from_sell_ad=ad.side == SELL_AD)
        self._schedule(pay_by, tid, PAY_BY)
        out.append(P2PTradeOpened(tid, aid, ad.user_id, buyer, seller, ad.asset, ad.fiat, qty,
                                  price, fiat_amount, method[0], method[1], method[2], pay_by,
                                  ad.remaining_minor, from_seller))
        if not ad.remaining_minor:
            ad.state = CLOSED
            out.append(AdChanged(aid, ad.user_id, CLOSED, 0, 0, 0, "nothing left", ad.asset))
        return tid

    def _margin_price(self, ad: Ad) -> int:
        """The mid of ``price_symbol``'s book plus the margin, in fiat minor units per
        whole unit, rounded half up; 0 without a bid and an ask. O(1)."""
        book = self.engine.books[ad.price_symbol]
        if not book.bid_heap or not book.ask_heap:
            return 0
        ticks_sum = book.ask_heap[0] - book.bid_heap[0]  # best ask + best bid, in ticks
        tick_num, tick_den = book.symbol.tick_size.as_integer_ratio()
        decimals = self.engine.markets.fiats[ad.fiat].decimals
        scale: int = 10**decimals
        num = ticks_sum * tick_num * scale * (10_000 + ad.price_margin_bps)
        den = 2 * tick_den * 10_000
        return int((2 * num + den) // (2 * den))

    def _ad_method(self, ad: Ad, method_id: int) -> tuple[int, str, str]:
        """The sell ad's method the buyer pays to (``0``: its first)."""
        if not method_id:
            return ad.methods[0]
        for method in ad.methods:
            if method[0] == method_id:
                return method
        raise _refuse(Code.UNKNOWN_PAYMENT_METHOD, method_id, ad.state)

    def _taker_method(self, ad: Ad, uid: int, method_id: int) -> tuple[int, str, str]:
        """The seller's (taker's) own method the buyer pays to, of a kind the buy ad
        accepts (same name, ignoring case); ``0``: the first such."""
        accepted = {m[1].casefold() for m in ad.methods}
        if method_id:
            method = self.methods.get(method_id)
            if method is None or method.user_id != uid or method.name.casefold() not in accepted:
                raise _refuse(Code.UNKNOWN_PAYMENT_METHOD, method_id, ad.state)
            return method.method_id, method.name, method.details
        for method in self.methods.values():  # ids ascending: insertion order
            if method.user_id == uid and method.name.casefold() in accepted:
                return method.method_id, method.name, method.details
        raise _refuse(Code.UNKNOWN_PAYMENT_METHOD, 0, ad.state)

    # =================================================================================
    # trade actions
    # =================================================================================

    def _party(self, uid: int, trade_id: int) -> Trade:
        """The trade, if ``uid`` is its buyer or seller (else it is unknown to them)."""
        trade = self.trades.get(trade_id)
        if trade is None or uid <= 0 or (uid != trade.buyer_id and uid != trade.seller_id):
            raise _refuse(Code.UNKNOWN_P2P_TRADE, trade_id)
        return trade

    @staticmethod
    def _expect(trade: Trade, expected: int, *allowed: int) -> None:
        """The trade is in the state the client expected, and the action is allowed
        from it; else ``STATE_MISMATCH`` with the real state."""
        state = trade.state
        if state != expected or state not in allowed:
            raise _refuse(Code.STATE_MISMATCH, trade.trade_id, state)

    @staticmethod
    def _role(trade: Trade, ok: bool) -> None:
        if not ok:
            raise _refuse(Code.NOT_YOUR_ROLE, trade.trade_id, trade.state)

    def _mark_paid(self, c: MarkPaid, out: list[Event]) -> int:
        trade = self._party(c.user_id, c.trade_id)
        self._role(trade, c.user_id == trade.buyer_id)
        if trade.state == EXPIRED:  # the deadline fired first: say why, not just where
            raise _refuse(Code.PAYMENT_WINDOW_PASSED, trade.trade_id, EXPIRED)
        self._expect(trade, c.expected_state, PENDING)
        now = self.engine.last_ts
        config = self.config
        trade.paid_ns = now
        trade.appeal_after_ns = now + config.appeal_after_s * S
        trade.escalate_at_ns = now + config.escalate_after_s * S
        self._schedule(trade.escalate_at_ns, trade.trade_id, ESCALATE)
        self._changed(trade, PAID, c.user_id, "marked paid", out)
        return trade.trade_id

    def _release(self, c: ReleaseEscrow, out: list[Event]) -> int:
        trade = self._party(c.user_id, c.trade_id)
        self._role(trade, c.user_id == trade.seller_id)
        self._expect(trade, c.expected_state, PAID, DISPUTED)
        self._pay_buyer(trade, COMPLETED, c.user_id, "released", out)
        return trade.trade_id

    def _cancel_trade(self, c: CancelTrade, out: list[Event]) -> int:
        trade = self._party(c.user_id, c.trade_id)
        self._role(trade, c.user_id == trade.buyer_id)
        self._expect(trade, c.expected_state, PENDING, PAID)
        if trade.state == PAID and not c.confirm:
            raise _refuse(Code.CONFIRM_REQUIRED, trade.trade_id, PAID)
        self._back_to_seller(trade, CANCELLED, c.user_id, "cancelled by the buyer", out)
        return trade.trade_id

    def _open_dispute(self, c: OpenDispute, out: list[Event]) -> int:
        trade = self._party(c.user_id, c.trade_id)
        self._expect(trade, c.expected_state, PAID)
        if self.engine.last_ts < trade.appeal_after_ns:
            raise _refuse(Code.APPEAL_TOO_EARLY, trade.trade_id, PAID)
        if not _text_ok(c.reason, 1, 64) or not _text_ok(c.text, 1, MAX_TEXT):
            raise _refuse(Code.INVALID_TEXT, trade.trade_id, PAID)
        trade.dispute_opener = c.user_id
        self._changed(trade, DISPUTED, c.user_id, c.reason.strip(), out)
        return trade.trade_id

    def _withdraw_dispute(self, c: WithdrawDispute, out: list[Event]) -> int:
        trade = self._party(c.user_id, c.trade_id)
        self._expect(trade, c.expected_state, DISPUTED)
        if trade.dispute_opener != c.user_id:
            raise _refuse(Code.NOT_DISPUTE_OPENER, trade.trade_id, DISPUTED)
        trade.dispute_opener = 0
        trade.proposal = None
        now = self.engine.last_ts
        if trade.escalate_at_ns <= now:  # passed while disputed: a full period again
            trade.escalate_at_ns = now + self.config.escalate_after_s * S
        # scheduled again: the entry of the paid state may be gone (fired while disputed,
        # or dropped by an outage's rebuild); a duplicate is dropped when popped
        self._schedule(trade.escalate_at_ns, trade.trade_id, ESCALATE)
        self._changed(trade, PAID, c.user_id, "dispute withdrawn", out)
        return trade.trade_id

    def _resolve(self, c: ResolveDispute, out: list[Event]) -> int:
        admin = c.admin_id
        trade = self.trades.get(c.trade_id)
        if trade is None:
            raise _refuse(Code.UNKNOWN_P2P_TRADE, c.trade_id)
        if admin <= 0 or admin == trade.buyer_id or admin == trade.seller_id:
            raise _refuse(Code.NOT_YOUR_ROLE, trade.trade_id, trade.state)
        self._expect(trade, c.expected_state, DISPUTED)
        if c.outcome != DisputeOutcome.RELEASE and c.outcome != DisputeOutcome.REFUND:
            raise _refuse(Code.INVALID_OUTCOME, trade.trade_id, DISPUTED)
        if not _text_ok(c.note, 1, MAX_TEXT):
            raise _refuse(Code.INVALID_TEXT, trade.trade_id, DISPUTED)
        threshold = self.config.second_approval_minor.get(trade.asset)
        if threshold is not None and trade.qty_minor > threshold:
            proposal = trade.proposal
            if proposal is None or proposal[1] != c.outcome or proposal[0] == admin:
                if proposal is not None and proposal[0] == admin and proposal[1] == c.outcome:
                    raise _refuse(Code.SAME_ADMIN, trade.trade_id, DISPUTED)
                trade.proposal = (admin, c.outcome, c.note)
                out.append(DisputeResolutionProposed(trade.trade_id, admin, c.outcome, c.note))
                return trade.trade_id
        trade.proposal = None
        if c.outcome == DisputeOutcome.RELEASE:
            self._pay_buyer(trade, RESOLVED_RELEASE, admin, c.note, out)
        else:
            self._refund(trade, admin, c.note, out)
        return trade.trade_id

    def _message(self, c: PostTradeMessage, out: list[Event]) -> int:
        trade = self.trades.get(c.trade_id)
        if trade is None or c.user_id <= 0 or (not c.admin and (
                c.user_id != trade.buyer_id and c.user_id != trade.seller_id)):
            raise _refuse(Code.UNKNOWN_P2P_TRADE, c.trade_id)
        if not _text_ok(c.text, 1, MAX_TEXT):
            raise _refuse(Code.INVALID_TEXT, trade.trade_id, trade.state)
        mid = self.next_message_id
        self.next_message_id = mid + 1
        out.append(TradeMessagePosted(mid, trade.trade_id, c.user_id, c.text, c.admin))
        return trade.trade_id

    def _feedback(self, c: LeaveFeedback, out: list[Event]) -> int:
        trade = self._party(c.user_id, c.trade_id)
        bit = 1 if c.user_id == trade.buyer_id else 2
        if trade.state != COMPLETED or trade.feedback & bit:
            raise _refuse(Code.FEEDBACK_NOT_ALLOWED, trade.trade_id, trade.state)
        if not _text_ok(c.comment, 0, 500):
            raise _refuse(Code.INVALID_TEXT, trade.trade_id, trade.state)
        trade.feedback |= bit
        other = trade.seller_id if bit == 1 else trade.buyer_id
        out.append(FeedbackLeft(trade.trade_id, c.user_id, other, c.positive, c.comment))
        return trade.trade_id

    # =================================================================================
    # deadlines and outages
    # =================================================================================

    def _schedule(self, ts: int, trade_id: int, kind: int) -> None:
        heapq.heappush(self.deadlines, (ts, trade_id, kind))
        if ts < self.next_deadline:
            self.next_deadline = ts
            engine = self.engine
            if ts < engine._next_expiry:
                engine._next_expiry = ts

    def outage_downtime(self, command: object) -> int:
        """The downtime a valid ``RecordOutage`` will add to every deadline (0 for any
        other command): the deadlines fired before it use the time without it."""
        if type(command) is RecordOutage:
            assert isinstance(command, RecordOutage)
            if self._outage_ok(command):
                return command.to_ts_ns - command.from_ts_ns
        return 0

    def _outage_ok(self, c: RecordOutage) -> bool:
        return 0 < c.from_ts_ns < c.to_ts_ns <= self.engine.last_ts

    def fire(self, now: int, out: list[Event]) -> None:
        """Act on every deadline at or before ``now``, earliest first: an unpaid trade
        expires (money back), a paid one becomes a dispute (no money moves). Entries
        made stale by a transition or an extension are dropped. O(k log n)."""
        heap, trades = self.deadlines, self.trades
        while heap and heap[0][0] <= now:
            ts, tid, kind = heapq.heappop(heap)
            trade = trades[tid]
            if kind == PAY_BY:
                if trade.state == PENDING and trade.pay_by_ns == ts:
                    self._back_to_seller(trade, EXPIRED, 0, "payment window passed", out)
            elif trade.state == PAID and trade.escalate_at_ns == ts:
                trade.dispute_opener = 0
                self._changed(trade, DISPUTED, 0, "not released in time: escalated", out)
        self.next_deadline = heap[0][0] if heap else 2**63 - 1

    def _outage(self, c: RecordOutage, out: list[Event]) -> int:
        if not self._outage_ok(c):
            raise _refuse(Code.INVALID_OUTAGE)
        downtime = c.to_ts_ns - c.from_ts_ns
        moved = 0
        for trade in self.trades.values():
            state = trade.state
            if state == PENDING:
                trade.pay_by_ns += downtime
            elif state == PAID or state == DISPUTED:
                trade.appeal_after_ns += downtime
                trade.escalate_at_ns += downtime
            else:
                continue
            moved += 1
        self._rebuild_deadlines()
        out.append(DeadlinesExtended(c.from_ts_ns, c.to_ts_ns, downtime, moved))
        return 0

    def _rebuild_deadlines(self) -> None:
        """The heap from the live trades' deadlines (after an outage, after a restore).
        O(trades)."""
        heap: list[tuple[int, int, int]] = []
        for trade in self.trades.values():
            if trade.state == PENDING:
                heap.append((trade.pay_by_ns, trade.trade_id, PAY_BY))
            elif trade.state == PAID:
                heap.append((trade.escalate_at_ns, trade.trade_id, ESCALATE))
        heapq.heapify(heap)
        self.deadlines = heap
        self.next_deadline = heap[0][0] if heap else 2**63 - 1
        self.engine._reschedule()

    # =================================================================================
    # money
    # =================================================================================

    def _escrow(self, uid: int, asset: str, amount: int) -> None:
        """``amount`` of ``uid``'s ``asset`` (already taken from the account) into escrow."""
        self.escrow[asset] += amount
        mine = self.user_escrow.get(uid)
        if mine is None:
            mine = self.user_escrow[uid] = {}
        mine[asset] = mine.get(asset, 0) + amount

    def _unescrow(self, uid: int, asset: str, amount: int) -> None:
        """``amount`` of ``uid``'s escrowed ``asset`` leaves escrow (the caller credits
        it to whom it goes)."""
        self.escrow[asset] -= amount
        mine = self.user_escrow[uid]
        left = mine[asset] - amount
        if left:
            mine[asset] = left
        else:
            del mine[asset]
            if not mine:
                del self.user_escrow[uid]

    def _pay_buyer(self, trade: Trade, to: int, actor: int, reason: str,
                   out: list[Event]) -> None:
        """Escrow to the buyer, less the fee (to the fee account)."""
        engine, qty, asset = self.engine, trade.qty_minor, trade.asset
        fee = qty * self.config.fee_bps // 10_000
        self._unescrow(trade.seller_id, asset, qty)
        engine._account(trade.buyer_id).credit(asset, qty - fee)
        engine.fee_balances[asset] += fee
        self._changed(trade, to, actor, reason, out, to_buyer=qty - fee, fee=fee)

    def _refund(self, trade: Trade, actor: int, reason: str, out: list[Event]) -> None:
        """An admin's refund: escrow to the seller's available balance."""
        self._unescrow(trade.seller_id, trade.asset, trade.qty_minor)
        self.engine._account(trade.seller_id).credit(trade.asset, trade.qty_minor)
        self._changed(trade, RESOLVED_REFUND, actor, reason, out, to_seller=trade.qty_minor)

    def _back_to_seller(self, trade: Trade, to: int, actor: int, reason: str,
                        out: list[Event]) -> None:
        """Cancel or expiry: a sell ad still alive takes the quantity back (it stays in
        escrow); otherwise it goes to the seller. A buy ad gets its quantity back. The
        buyer gets a strike (a ban at the limit)."""
        ad = self.ads[trade.ad_id]
        qty = trade.qty_minor
        to_ad = to_seller = 0
        ad_alive = ad.state in LIVE_AD
        if trade.from_sell_ad and ad_alive:
            to_ad = qty
        else:
            self._unescrow(trade.seller_id, trade.asset, qty)
            self.engine._account(trade.seller_id).credit(trade.asset, qty)
            to_seller = qty
        self._changed(trade, to, actor, reason, out, to_seller=to_seller, to_ad=to_ad)
        if ad_alive:
            ad.remaining_minor += qty
            if ad.state == CLOSED:
                ad.state = OPEN
            out.append(AdChanged(ad.ad_id, ad.user_id, ad.state, ad.remaining_minor, 0, actor,
                                 "trade expired" if to == EXPIRED else "trade cancelled",
                                 ad.asset))
        self._strike(trade.buyer_id, out)

    def _strike(self, uid: int, out: list[Event]) -> None:
        now = self.engine.last_ts
        recent = [t for t in self.strikes.get(uid, ()) if t > now - DAY_NS]
        recent.append(now)
        if len(recent) >= self.config.cancel_limit:
            until = now + self.config.ban_s * S
            self.bans[uid] = until
            self.strikes.pop(uid, None)
            out.append(P2PUserBanned(uid, until, len(recent)))
        else:
            self.strikes[uid] = recent

    def _changed(self, trade: Trade, to: int, actor: int, reason: str, out: list[Event], *,
                 to_buyer: int = 0, fee: int = 0, to_seller: int = 0, to_ad: int = 0) -> None:
        before = trade.state
        trade.state = to
        trade.proposal = None  # a proposal lives only while its dispute runs
        if to not in LIVE:
            trade.closed_ns = self.engine.last_ts
        pay_by, appeal, escalate = trade.deadlines()
        out.append(P2PTradeChanged(trade.trade_id, trade.ad_id, before, to, actor, reason,
                                   trade.buyer_id, trade.seller_id, trade.asset,
                                   trade.qty_minor, to_buyer, fee, to_seller, to_ad, pay_by,
                                   appeal, escalate))

    # =================================================================================
    # state
    # =================================================================================

    def snapshot(self) -> dict[str, Any]:
        """The desk's whole state as plain, canonically ordered data."""
        return {
            "methods": [m.row() for _, m in sorted(self.methods.items())],
            "ads": [a.row() for _, a in sorted(self.ads.items())],
            "trades": [t.row() for _, t in sorted(self.trades.items())],
            "escrow": sorted(self.escrow.items()),
            "idempotency": [[ts, user, key, *self.idempotency[(user, key)][:3]]
                            for ts, user, key in self.idempotency_order],
            "strikes": sorted([uid, times] for uid, times in self.strikes.items()),
            "bans": sorted([uid, until] for uid, until in self.bans.items()),
            "counters": [self.next_method_id, self.next_ad_id, self.next_trade_id,
                         self.next_message_id],
        } | ({"admin_paused": [[aid, admin, int(owner)] for aid, (admin, owner)
                               in sorted(self.admin_paused.items())]}
             if self.admin_paused else {})  # absent when empty: earlier states hash as before

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load ``snapshot()`` output into this (fresh) desk; escrow per user and the
        deadline heap are derived."""
        for row in state["methods"]:
            method = PaymentMethod(*row)
            self.methods[method.method_id] = method
        for row in state["ads"]:
            ad = Ad.from_row(row)
            self.ads[ad.ad_id] = ad
        for row in state["trades"]:
            trade = Trade.from_row(row)
            self.trades[trade.trade_id] = trade
        self.escrow.update(dict(state["escrow"]))
        for ad in self.ads.values():
            if ad.side == SELL_AD and ad.state in LIVE_AD and ad.remaining_minor:
                self._count_escrow(ad.user_id, ad.asset, ad.remaining_minor)
        for trade in self.trades.values():
            if trade.state in LIVE:
                self._count_escrow(trade.seller_id, trade.asset, trade.qty_minor)
        for ts, user, key, name, code, target in state["idempotency"]:
            self.idempotency[(user, key)] = (name, code, target, ts)
            self.idempotency_order.append((ts, user, key))
        self.strikes = {uid: list(times) for uid, times in state["strikes"]}
        self.bans = {uid: until for uid, until in state["bans"]}
        (self.next_method_id, self.next_ad_id, self.next_trade_id,
         self.next_message_id) = state["counters"]
        self.admin_paused = {aid: (admin, bool(owner))
                             for aid, admin, owner in state.get("admin_paused", ())}
        self._rebuild_deadlines()

    def _count_escrow(self, uid: int, asset: str, amount: int) -> None:
        mine = self.user_escrow.setdefault(uid, {})
        mine[asset] = mine.get(asset, 0) + amount

    def _check(self) -> None:
        """Assert the desk's invariants (P2P.md's, those that are state properties)."""
        expected: dict[str, int] = dict.fromkeys(self.escrow, 0)
        per_user: dict[int, dict[str, int]] = {}

        def count(uid: int, asset: str, amount: int) -> None:
            expected[asset] += amount
            mine = per_user.setdefault(uid, {})
            mine[asset] = mine.get(asset, 0) + amount

        live_on_ad: dict[int, int] = {}
        for ad in self.ads.values():
            assert ad.ad_id < self.next_ad_id
            assert 0 <= ad.remaining_minor <= ad.qty_minor, "an ad's remaining is within it"
            assert ad.state in (OPEN, PAUSED, CLOSED, AD_CANCELLED)
            if ad.state == CLOSED:
                assert not ad.remaining_minor, "a closed ad has nothing left"
            if ad.state == AD_CANCELLED:
                assert not ad.remaining_minor, "a cancelled ad holds nothing"
            if ad.side == SELL_AD and ad.remaining_minor:
                count(ad.user_id, ad.asset, ad.remaining_minor)
        for trade in self.trades.values():
            assert trade.trade_id < self.next_trade_id
            ad = self.ads[trade.ad_id]
            assert trade.buyer_id != trade.seller_id, "nobody trades with themselves"
            assert (ad.side == SELL_AD) == trade.from_sell_ad
            assert (trade.seller_id if trade.from_sell_ad else trade.buyer_id) == ad.user_id
            assert trade.qty_minor > 0 and trade.fiat_amount_minor > 0, "fixed at take"
            assert trade.fiat_amount_minor == _fiat_amount(
                trade.qty_minor, trade.price_minor,
                self.engine.markets.assets[trade.asset].decimals), "price x quantity"
            if trade.state in LIVE:
                count(trade.seller_id, trade.asset, trade.qty_minor)
                live_on_ad[ad.ad_id] = live_on_ad.get(ad.ad_id, 0) + trade.qty_minor
                assert not trade.closed_ns
            else:
                assert trade.closed_ns, "a terminal trade has its closing time"
            if trade.state == PENDING:
                assert trade.pay_by_ns > self.engine.last_ts, "an unpaid trade is past pay_by"
                assert (trade.pay_by_ns, trade.trade_id, PAY_BY) in self.deadlines
            if trade.state == PAID:
                assert trade.paid_ns and trade.appeal_after_ns <= trade.escalate_at_ns
                assert trade.escalate_at_ns > self.engine.last_ts, "a paid trade not escalated"
                assert (trade.escalate_at_ns, trade.trade_id, ESCALATE) in self.deadlines
                assert trade.dispute_opener == 0 and trade.proposal is None
            if trade.state != DISPUTED:
                assert trade.proposal is None, "a proposal only lives in a dispute"
            if trade.feedback:
                assert trade.state == COMPLETED
        for ad in self.ads.values():
            if ad.state != AD_CANCELLED:  # taken + left = posted
                taken = sum(t.qty_minor for t in self.trades.values() if t.ad_id == ad.ad_id
                            and t.state in (PAID, DISPUTED, PENDING, COMPLETED,
                                            RESOLVED_RELEASE, RESOLVED_REFUND))
                assert ad.remaining_minor + taken == ad.qty_minor, f"ad {ad.ad_id} adds up"
        assert expected == self.escrow, f"escrow {self.escrow} != ads and trades {expected}"
        assert per_user == self.user_escrow, "escrow per user"
        for asset, amount in self.escrow.items():
            assert amount >= 0, f"{asset} escrow is negative"
        if self.deadlines:
            assert self.next_deadline == self.deadlines[0][0]
        assert self.engine._next_expiry <= self.next_deadline
        assert len(self.idempotency) == len(self.idempotency_order)
        for aid, (admin, _) in self.admin_paused.items():
            assert self.ads[aid].state == PAUSED and admin > 0, "an admin's pause holds"
        for method in self.methods.values():
            assert method.method_id < self.next_method_id


def _fiat_amount(qty_minor: int, price_minor: int, asset_decimals: int) -> int:
    """Fiat minor units of ``qty_minor`` at ``price_minor`` per whole unit, rounded half
    up. O(1), exact."""
    scale: int = 10**asset_decimals
    return (2 * qty_minor * price_minor + scale) // (2 * scale)


__all__ = ["ADMIN_PAUSE_LIFTED", "Ad", "P2PDesk", "PaymentMethod", "Trade"]
