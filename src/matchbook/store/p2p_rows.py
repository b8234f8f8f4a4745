"""P2P events -> rows of the read model, and the notifications they cause: pure code.

:class:`P2PRows` adds the rows of one record's P2P events to a :class:`P2PBatch`: payment
methods, ads and trades (inserted when created, then updated column by column: the
update dictionaries below), transitions with a system chat line each, chat messages,
feedback and notifications. What a row needs from the command (a dispute's reason and
text, an administrator's note) is read from the record's command.

:func:`notifications_of` is the one place that decides who is told what: the projector
writes its answers, and the WebSocket hub pushes the same answers (same ids) to the
users connected, so the inbox and the live push never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from matchbook.core import Markets
from matchbook.core.commands import (
    AdState,
    OpenDispute,
    P2PSide,
    ResolveDispute,
    TradeState,
)
from matchbook.core.events import (
    AdChanged,
    AdPosted,
    DisputeResolutionProposed,
    Event,
    FeedbackLeft,
    P2PTradeChanged,
    P2PTradeOpened,
    P2PUserBanned,
    PaymentMethodAdded,
    PaymentMethodRemoved,
    TradeMessagePosted,
)
from matchbook.core.p2p import ADMIN_PAUSE_LIFTED

TRADE_STATES = {int(s): s.name.lower() for s in TradeState}
AD_STATES = {int(s): s.name.lower() for s in AdState}
SIDES = {int(P2PSide.SELL): "sell", int(P2PSide.BUY): "buy"}
OUTCOMES = {1: "release", 2: "refund"}
P2P_EVENTS = frozenset({PaymentMethodAdded, PaymentMethodRemoved, AdPosted, AdChanged,
                        P2PTradeOpened, P2PTradeChanged, DisputeResolutionProposed,
                        TradeMessagePosted, FeedbackLeft, P2PUserBanned})
NOTIFICATIONS_PER_RECORD = 1000
"""A notification's id is ``seq * 1000 + its place`` among its command's."""

P2P_COLUMNS: dict[str, tuple[str, ...]] = {
    "p2p_methods": ("method_id", "user_id", "name", "details", "removed", "created_seq",
                    "created_ts_ns", "updated_seq"),
    "p2p_ads": ("ad_id", "maker_id", "side", "asset", "fiat", "price_minor",
                "price_margin_bps", "price_symbol", "qty_minor", "remaining_minor",
                "min_qty_minor", "max_qty_minor", "payment_method_ids", "payment_window_s",
                "terms", "state", "created_seq", "created_ts_ns", "updated_seq",
                "updated_ts_ns"),
    "p2p_trades": ("trade_id", "ad_id", "ad_side", "maker_id", "buyer_id", "seller_id",
                   "asset", "fiat", "qty_minor", "price_minor", "fiat_amount_minor",
                   "fee_minor", "payment_method_id", "payment_method_name",
                   "payment_details", "state", "pay_by_ns", "appeal_after_ns",
                   "escalate_at_ns", "paid_ts_ns", "finished_ts_ns", "dispute_opened_by",
                   "dispute_reason", "dispute_text", "dispute_opened_ts_ns",
                   "proposed_outcome", "proposed_by", "resolution_note", "created_seq",
                   "created_ts_ns", "updated_seq", "updated_ts_ns"),
    "p2p_transitions": ("seq", "event_index", "trade_id", "from_state", "to_state", "actor",
                        "actor_id", "reason", "to_buyer_minor", "fee_minor",
                        "to_seller_minor", "to_ad_minor", "ts_ns"),
    "p2p_messages": ("seq", "event_index", "trade_id", "message_id", "user_id", "author",
                     "text", "ts_ns"),
    "p2p_feedback": ("trade_id", "from_user_id", "to_user_id", "positive", "comment", "seq",
                     "ts_ns"),
    "notifications": ("notification_id", "user_id", "kind", "trade_id", "ad_id", "text",
                      "seq", "ts_ns"),
}
TERMINAL = frozenset({"completed", "cancelled", "expired", "resolved_release",
                      "resolved_refund"})


@dataclass(slots=True)
class P2PBatch:
    """The P2P rows of one batch: new rows as dicts (column -> value), updates of rows
    written by earlier batches as the update statements' parameters."""

    methods: dict[int, dict[str, Any]] = field(default_factory=dict)
    ads: dict[int, dict[str, Any]] = field(default_factory=dict)
    trades: dict[int, dict[str, Any]] = field(default_factory=dict)
    method_updates: list[dict[str, Any]] = field(default_factory=list)
    ad_updates: list[dict[str, Any]] = field(default_factory=list)
    trade_updates: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    feedback: list[tuple[Any, ...]] = field(default_factory=list)
    notifications: list[tuple[Any, ...]] = field(default_factory=list)

    def row_count(self) -> int:
        return (len(self.methods) + len(self.ads) + len(self.trades)
                + len(self.method_updates) + len(self.ad_updates) + len(self.trade_updates)
                + len(self.transitions) + len(self.messages) + len(self.feedback)
                + len(self.notifications))

    def rows(self, key: str) -> list[tuple[Any, ...]]:
        """The new rows of table ``key`` as tuples in ``P2P_COLUMNS[key]`` order."""
        if key in ("p2p_methods", "p2p_ads", "p2p_trades"):
            found = {"p2p_methods": self.methods, "p2p_ads": self.ads,
                     "p2p_trades": self.trades}[key]
            columns = P2P_COLUMNS[key]
            return [tuple(row[c] for c in columns) for row in found.values()]
        return {"p2p_transitions": self.transitions, "p2p_messages": self.messages,
                "p2p_feedback": self.feedback, "notifications": self.notifications}[key]


Parties = Callable[[int], "tuple[int, int] | None"]
"""``trade_id -> (buyer_id, seller_id)``, or None when unknown."""


def actor_of(actor_id: int, buyer_id: int, seller_id: int) -> str:
    """``buyer``, ``seller``, ``system`` (0: a deadline) or ``admin``."""
    if actor_id == 0:
        return "system"
    if actor_id == buyer_id:
        return "buyer"
    if actor_id == seller_id:
        return "seller"
    return "admin"


_LINES = {
    "paid": "The buyer marked the trade paid.",
    "completed": "The seller released the escrow to the buyer.",
    "cancelled": "The buyer cancelled the trade; the escrow went back.",
    "expired": "The payment window passed: the trade expired and the escrow went back.",
    "disputed": "A dispute was opened: the trade is frozen until it is settled.",
    "resolved_release": "An administrator resolved the dispute: escrow released to the buyer.",
    "resolved_refund": "An administrator resolved the dispute: escrow refunded to the seller.",
}


def system_line(from_state: str | None, to_state: str, actor: str) -> str:
    """The chat's line for a transition."""
    if from_state is None:
        return "Trade opened: the seller's asset is in escrow."
    if to_state == "disputed" and actor == "system":
        return "Not released in time: the trade became a dispute for an administrator."
    if from_state == "disputed" and to_state == "paid":
        return "The dispute was withdrawn."
    if to_state == "completed" and from_state == "disputed":
        return "The seller released the escrow to the buyer; the dispute is closed."
    return _LINES.get(to_state, f"The trade is now {to_state}.")


def notifications_of(seq: int, ts_ns: int, events: list[Event], parties: Parties,
                     markets: Markets) -> list[tuple[Any, ...]]:
    """The notification rows of one record: ``(notification_id, user_id, kind, trade_id,
    ad_id, text, seq, ts_ns)``. Pure; the same answer on every call."""
    found: list[tuple[Any, ...]] = []

    def tell(user_id: int, kind: str, trade_id: int | None, ad_id: int | None,
             text: str) -> None:
        if user_id > 0 and len(found) < NOTIFICATIONS_PER_RECORD:
            found.append((seq * NOTIFICATIONS_PER_RECORD + len(found), user_id, kind,
                          trade_id, ad_id, text, seq, ts_ns))

    ev: Any
    before: Any  # the previous event: a trade's change comes just before its ad's
    for before, ev in zip([None, *events], events, strict=False):
        t = type(ev)
        if t is P2PTradeOpened:
            qty = _fmt(markets, ev.asset, ev.qty_minor)
            taker = ev.buyer_id if ev.maker_id == ev.seller_id else ev.seller_id
            tell(ev.maker_id, "trade_opened", ev.trade_id, ev.ad_id,
                 f"Your ad #{ev.ad_id} was taken: trade #{ev.trade_id} for {qty} "
                 f"{ev.asset} with user {taker}.")
        elif t is P2PTradeChanged:
            to_state = TRADE_STATES.get(ev.to_state, str(ev.to_state))
            from_state = TRADE_STATES.get(ev.from_state, str(ev.from_state))
            trade, buyer, seller = ev.trade_id, ev.buyer_id, ev.seller_id
            actor = actor_of(ev.actor_id, buyer, seller)
            qty = f"{_fmt(markets, ev.asset, ev.qty_minor)} {ev.asset}"
            if to_state == "paid" and from_state == "pending_payment":
                tell(seller, "trade_paid", trade, ev.ad_id,
                     f"Trade #{trade}: the buyer marked it paid. Release only after the "
                     f"money has arrived in your account.")
            elif to_state == "paid":  # a dispute withdrawn
                for uid in (buyer, seller):
                    if uid != ev.actor_id:
                        tell(uid, "dispute_withdrawn", trade, ev.ad_id,
                             f"Trade #{trade}: the dispute was withdrawn.")
            elif to_state == "completed":
                tell(buyer, "trade_released", trade, ev.ad_id,
                     f"Trade #{trade}: the seller released {qty} to you.")
            elif to_state == "cancelled":
                tell(seller, "trade_cancelled", trade, ev.ad_id,
                     f"Trade #{trade}: the buyer cancelled it; the escrow went back.")
            elif to_state == "expired":
                for uid in (buyer, seller):
                    tell(uid, "trade_expired", trade, ev.ad_id,
                         f"Trade #{trade} expired: it was not marked paid in time.")
            elif to_state == "disputed":
                for uid in (buyer, seller):
                    if uid != ev.actor_id:
                        text = (f"Trade #{trade}: not released in time, it is now a dispute "
                                f"for an administrator." if actor == "system" else
                                f"Trade #{trade}: the {actor} opened a dispute.")
                        tell(uid, "dispute_opened", trade, ev.ad_id, text)
            elif to_state in ("resolved_release", "resolved_refund"):
                outcome = ("released to the buyer" if to_state == "resolved_release"
                           else "refunded to the seller")
                for uid in (buyer, seller):
                    tell(uid, "dispute_resolved", trade, ev.ad_id,
                         f"Trade #{trade}: an administrator settled the dispute, escrow "
                         f"{outcome}.")
        elif t is TradeMessagePosted:
            known = parties(ev.trade_id)
            if known is not None:
                for uid in known:
                    if uid != ev.user_id:
                        who = "An administrator" if ev.admin else "Your counterparty"
                        tell(uid, "message", ev.trade_id, None,
                             f"Trade #{ev.trade_id}: {who} wrote: {_clip(ev.text)}")
        elif t is FeedbackLeft:
            word = "positive" if ev.positive else "negative"
            tell(ev.to_user_id, "feedback", ev.trade_id, None,
                 f"Trade #{ev.trade_id}: you received {word} feedback.")
        elif t is AdChanged:
            state = AD_STATES.get(ev.state, "")
            if state == "closed":
                tell(ev.user_id, "ad_closed", None, ev.ad_id,
                     f"Your ad #{ev.ad_id} is closed: nothing is left to take.")
            elif state == "cancelled" and ev.actor_id not in (0, ev.user_id):
                tell(ev.user_id, "ad_cancelled", None, ev.ad_id,
                     f"Your ad #{ev.ad_id} was removed by an administrator: "
                     f"{_clip(ev.reason)}")
            elif state == "cancelled" and ev.actor_id == 0:  # a suspension ended it
                tell(ev.user_id, "ad_cancelled", None, ev.ad_id,
                     f"Your ad #{ev.ad_id} was cancelled: {_clip(ev.reason)}.")
            elif type(before) is P2PTradeChanged and before.ad_id == ev.ad_id:
                pass  # a cancelled or expired trade's quantity came back to the ad
            elif state == "paused" and ev.reason == ADMIN_PAUSE_LIFTED:
                tell(ev.user_id, "ad_resumed", None, ev.ad_id,
                     f"Your ad #{ev.ad_id}: an administrator lifted their pause; it stays "
                     f"paused until you resume it.")
            elif state == "paused" and ev.actor_id not in (0, ev.user_id):
                tell(ev.user_id, "ad_paused", None, ev.ad_id,
                     f"Your ad #{ev.ad_id} was paused by an administrator: "
                     f"{_clip(ev.reason)}")
            elif state == "open" and ev.actor_id not in (0, ev.user_id):
                tell(ev.user_id, "ad_resumed", None, ev.ad_id,
                     f"Your ad #{ev.ad_id} was resumed by an administrator.")
        elif t is P2PUserBanned:
            tell(ev.user_id, "p2p_banned", None, None,
                 f"Too many cancelled or expired trades ({ev.count}): P2P trading is "
                 f"paused for you for a while.")
    return found


def _fmt(markets: Markets, asset: str, amount: int) -> str:
    known = markets.assets.get(asset)
    return known.format(amount) if known is not None else str(amount)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class P2PRows:
    """Builds the P2P rows of records; remembers each trade's parties (for chat
    notifications) as it sees trades open, and asks ``load`` for older ones."""

    def __init__(self, markets: Markets) -> None:
        self.markets = markets
        self.parties: dict[int, tuple[int, int]] = {}

    def missing(self, records: Any) -> set[int]:
        """Trades whose parties a chat line of ``records`` needs and that are not known
        (the caller loads them into ``parties`` before ``build``)."""
        opened = {ev.trade_id for _, _, _, events in records for ev in events
                  if type(ev) is P2PTradeOpened}
        return {ev.trade_id for _, _, _, events in records for ev in events
                if type(ev) is TradeMessagePosted and ev.trade_id not in self.parties
                and ev.trade_id not in opened}

    def build(self, seq: int, ts: int, command: Any, events: list[Event],
              b: P2PBatch) -> None:
        """Add the rows of one record's P2P events to ``b``."""
        ev: Any
        for i, ev in enumerate(events):
            t = type(ev)
            if t not in P2P_EVENTS:
                continue
            if t is P2PTradeOpened:
                self.parties[ev.trade_id] = (ev.buyer_id, ev.seller_id)
                side = "sell" if ev.maker_id == ev.seller_id else "buy"
                b.trades[ev.trade_id] = {
                    "trade_id": ev.trade_id, "ad_id": ev.ad_id, "ad_side": side,
                    "maker_id": ev.maker_id, "buyer_id": ev.buyer_id,
                    "seller_id": ev.seller_id, "asset": ev.asset, "fiat": ev.fiat,
                    "qty_minor": ev.qty_minor, "price_minor": ev.price_minor,
                    "fiat_amount_minor": ev.fiat_amount_minor, "fee_minor": 0,
                    "payment_method_id": ev.payment_method_id,
                    "payment_method_name": ev.payment_method_name,
                    "payment_details": ev.payment_details, "state": "pending_payment",
                    "pay_by_ns": ev.pay_by_ns, "appeal_after_ns": 0, "escalate_at_ns": 0,
                    "paid_ts_ns": None, "finished_ts_ns": None, "dispute_opened_by": None,
                    "dispute_reason": None, "dispute_text": None,
                    "dispute_opened_ts_ns": None, "proposed_outcome": None,
                    "proposed_by": None, "resolution_note": None, "created_seq": seq,
                    "created_ts_ns": ts, "updated_seq": seq, "updated_ts_ns": ts}
                self._ad_change(b, ev.ad_id, None, ev.ad_remaining_minor, seq, ts)
                actor = "buyer" if ev.maker_id == ev.seller_id else "seller"
                taker = ev.buyer_id if actor == "buyer" else ev.seller_id
                b.transitions.append((seq, i, ev.trade_id, None, "pending_payment", actor,
                                      taker, "taken", 0, 0, 0, 0, ts))
                b.messages.append((seq, i, ev.trade_id, None, None, "system",
                                   system_line(None, "pending_payment", actor), ts))
            elif t is P2PTradeChanged:
                self._trade_changed(b, seq, ts, i, command, ev)
            elif t is TradeMessagePosted:
                buyer_seller = self.parties.get(ev.trade_id, (0, 0))
                author = "admin" if ev.admin else actor_of(ev.user_id, *buyer_seller)
                b.messages.append((seq, i, ev.trade_id, ev.message_id, ev.user_id, author,
                                   ev.text, ts))
            elif t is DisputeResolutionProposed:
                outcome = OUTCOMES.get(ev.outcome, str(ev.outcome))
                self._trade_update(b, ev.trade_id, seq, ts, proposed_outcome=outcome,
                                   proposed_by=ev.admin_id, resolution_note=ev.note)
                b.messages.append((seq, i, ev.trade_id, None, None, "system",
                                   f"An administrator proposed to {outcome} the escrow; "
                                   f"a second administrator must agree.", ts))
            elif t is FeedbackLeft:
                b.feedback.append((ev.trade_id, ev.from_user_id, ev.to_user_id,
                                   bool(ev.positive), ev.comment, seq, ts))
            elif t is AdPosted:
                b.ads[ev.ad_id] = {
                    "ad_id": ev.ad_id, "maker_id": ev.user_id,
                    "side": SIDES.get(ev.side, "?"), "asset": ev.asset, "fiat": ev.fiat,
                    "price_minor": ev.price_minor, "price_margin_bps": ev.price_margin_bps,
                    "price_symbol": ev.price_symbol, "qty_minor": ev.qty_minor,
                    "remaining_minor": ev.qty_minor, "min_qty_minor": ev.min_qty_minor,
                    "max_qty_minor": ev.max_qty_minor,
                    "payment_method_ids": ",".join(map(str, ev.payment_method_ids)),
                    "payment_window_s": ev.payment_window_s, "terms": ev.terms,
                    "state": "open", "created_seq": seq, "created_ts_ns": ts,
                    "updated_seq": seq, "updated_ts_ns": ts}
            elif t is AdChanged:
                self._ad_change(b, ev.ad_id, AD_STATES.get(ev.state, "open"),
                                ev.remaining_minor, seq, ts)
            elif t is PaymentMethodAdded:
                b.methods[ev.method_id] = {
                    "method_id": ev.method_id, "user_id": ev.user_id, "name": ev.name,
                    "details": ev.details, "removed": False, "created_seq": seq,
                    "created_ts_ns": ts, "updated_seq": seq}
            elif t is PaymentMethodRemoved:
                row = b.methods.get(ev.method_id)
                if row is not None:
                    row["removed"], row["updated_seq"] = True, seq
                else:
                    b.method_updates.append({"b_method_id": ev.method_id, "removed": True,
                                             "updated_seq": seq})
        b.notifications.extend(notifications_of(seq, ts, events, self.parties.get,
                                                self.markets))

    def _trade_changed(self, b: P2PBatch, seq: int, ts: int, i: int, command: Any,
                       ev: P2PTradeChanged) -> None:
        to_state = TRADE_STATES.get(ev.to_state, "paid")
        from_state = TRADE_STATES.get(ev.from_state, "paid")
        actor = actor_of(ev.actor_id, ev.buyer_id, ev.seller_id)
        changes: dict[str, Any] = {
            "state": to_state, "pay_by_ns": ev.pay_by_ns,
            "appeal_after_ns": ev.appeal_after_ns, "escalate_at_ns": ev.escalate_at_ns}
        if ev.fee_minor:
            changes["fee_minor"] = ev.fee_minor
        if to_state == "paid" and from_state == "pending_payment":
            changes["paid_ts_ns"] = ts
        if to_state in TERMINAL:
            changes["finished_ts_ns"] = ts
        if to_state == "disputed":
            opening = type(command) is OpenDispute and command.trade_id == ev.trade_id
            changes.update(
                dispute_opened_by=ev.actor_id or None,
                dispute_reason=command.reason if opening else (ev.reason or "escalated"),
                dispute_text=command.text if opening else "",
                dispute_opened_ts_ns=ts, proposed_outcome=None, proposed_by=None)
            changes["_opening"] = True
        if to_state in ("resolved_release", "resolved_refund") and (
                type(command) is ResolveDispute):
            changes["resolution_note"] = command.note
        self._trade_update(b, ev.trade_id, seq, ts, **changes)
        b.transitions.append((seq, i, ev.trade_id, from_state, to_state, actor,
                              ev.actor_id or None, ev.reason, ev.to_buyer_minor,
                              ev.fee_minor, ev.to_seller_minor, ev.to_ad_minor, ts))
        b.messages.append((seq, i, ev.trade_id, None, None, "system",
                           system_line(from_state, to_state, actor), ts))

    def _trade_update(self, b: P2PBatch, trade_id: int, seq: int, ts: int,
                      **changes: Any) -> None:
        opening = bool(changes.pop("_opening", False))
        row = b.trades.get(trade_id)
        if row is not None:  # opened in this batch: change the new row
            row.update(changes)
            row["updated_seq"], row["updated_ts_ns"] = seq, ts
            return
        update: dict[str, Any] = {name: None for name in TRADE_UPDATE_COLUMNS}
        update.update(changes)
        update["b_trade_id"] = trade_id
        update["b_opening"] = 1 if opening else 0
        update["updated_seq"], update["updated_ts_ns"] = seq, ts
        b.trade_updates.append(update)

    @staticmethod
    def _ad_change(b: P2PBatch, ad_id: int, state: str | None, remaining: int, seq: int,
                   ts: int) -> None:
        row = b.ads.get(ad_id)
        if row is not None:
            if state is not None:
                row["state"] = state
            row["remaining_minor"] = remaining
            row["updated_seq"], row["updated_ts_ns"] = seq, ts
            return
        b.ad_updates.append({"b_ad_id": ad_id, "state": state, "remaining_minor": remaining,
                             "updated_seq": seq, "updated_ts_ns": ts})


TRADE_UPDATE_COLUMNS = ("state", "pay_by_ns", "appeal_after_ns", "escalate_at_ns",
                        "fee_minor", "paid_ts_ns", "finished_ts_ns", "dispute_opened_by",
                        "dispute_reason", "dispute_text", "dispute_opened_ts_ns",
                        "proposed_outcome", "proposed_by", "resolution_note")
"""The parameters of a trade update (None: keep the column; the dispute's columns are
replaced together when ``b_opening`` is 1)."""
