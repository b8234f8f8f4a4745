"""The private ``p2p`` stream: each followed user's trades (one ``p2p_trade`` message per
transition, as that user sees the trade), chat lines (``p2p_message``), their ads'
changes (``p2p_ad``) and notifications (``notification``, with the same ids as the
inbox of ``GET /api/v1/notifications``: both come from ``store.p2p_rows``). An
administrator also hears the dispute queue move (``p2p_dispute``: a dispute opened, a
resolution proposed that waits for a second administrator, a dispute closed), with the
trade as administrators see it, so a queue page needs no polling.

Routing costs one type test per event of a batch when nobody follows the channel it
concerns; views are built only for connected users.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from matchbook.api import p2p_views as pv
from matchbook.api.p2p import P2PService
from matchbook.api.ws.connection import Connection, text
from matchbook.core.events import (
    AdChanged,
    AdPosted,
    Applied,
    DisputeResolutionProposed,
    P2PTradeChanged,
    P2PTradeOpened,
    TradeMessagePosted,
)
from matchbook.store.p2p_rows import P2P_EVENTS, actor_of, notifications_of, system_line

_TRADE = (P2PTradeOpened, P2PTradeChanged)
_DISPUTED = pv.TRADE_STATE_CODES["disputed"]


class P2PStreams:
    """Subscribers of the ``p2p`` channel by user id."""

    def __init__(self, p2p: P2PService) -> None:
        self.p2p = p2p
        self.subs: dict[int, set[Connection]] = {}

    def snapshot(self, uid: int) -> dict[str, Any]:
        """The first message after subscribing: the user's live trades."""
        return {"type": "p2p_snapshot", "seq": self.p2p.reads.last_seq,
                "trades": self.p2p.trades(uid, "live", 500)}

    def _send(self, uid: int, message: dict[str, Any]) -> None:
        conns = self.subs.get(uid)
        if conns:
            frame = text(message)
            for conn in conns:
                conn.offer(frame)

    def on_batch(self, batch: Sequence[Applied]) -> None:
        """Route one applied batch's P2P events; called by the sequencer (via the hub)."""
        subs = self.subs
        if not subs:
            return
        p2p = self.p2p
        reads = p2p.reads
        for seq, ts_ns, _, events in batch:
            if not any(type(ev) in P2P_EVENTS for ev in events):
                continue
            ev: Any
            for ev in events:
                t = type(ev)
                if t is DisputeResolutionProposed or (
                        t is P2PTradeChanged and _DISPUTED in (ev.from_state, ev.to_state)):
                    self._to_admins(seq, ev)
                if t is AdPosted or t is AdChanged or t is P2PTradeOpened:
                    maker = ev.maker_id if t is P2PTradeOpened else ev.user_id
                    if maker in subs:
                        ad = reads.p2p_ad(ev.ad_id)
                        if ad is not None:
                            self._send(maker, {"type": "p2p_ad", "seq": seq,
                                               "ad": p2p.ad_view(ad)})
                if t in _TRADE:
                    parties = [uid for uid in (ev.buyer_id, ev.seller_id) if uid in subs]
                    if not parties:
                        continue
                    trade = reads.p2p_trade(ev.trade_id)
                    if trade is None:
                        continue
                    for uid in parties:
                        view = p2p.trade_view(trade, uid)
                        if t is P2PTradeChanged:  # this transition, even if a later one of
                            pay_by, appeal, escalate = (  # the same batch moved it on
                                ev.pay_by_ns, ev.appeal_after_ns, ev.escalate_at_ns)
                            view = msgspec.structs.replace(
                                view, state=pv.TRADE_STATES[ev.to_state],
                                pay_by=pv.iso_or_none(pay_by),
                                appeal_after=pv.iso_or_none(appeal),
                                escalate_at=pv.iso_or_none(escalate))
                        self._send(uid, {
                            "type": "p2p_trade", "seq": seq,
                            "event": "opened" if t is P2PTradeOpened else "changed",
                            "from_state": None if t is P2PTradeOpened
                            else pv.TRADE_STATES[ev.from_state],
                            "reason": "taken" if t is P2PTradeOpened else ev.reason,
                            "trade": view})
                        line = system_line(
                            None if t is P2PTradeOpened else pv.TRADE_STATES[ev.from_state],
                            view.state, "system" if t is P2PTradeChanged and not ev.actor_id
                            else "party")
                        self._send(uid, {"type": "p2p_message", "seq": seq, "message":
                                         pv.P2PMessage(seq=seq, message_id=None,
                                                       trade_id=ev.trade_id, user_id=None,
                                                       author="system", text=line,
                                                       at=pv.iso(ts_ns))})
                elif t is TradeMessagePosted:
                    trade = reads.p2p_trade(ev.trade_id)
                    if trade is None:
                        continue
                    author = "admin" if ev.admin else actor_of(ev.user_id, trade.buyer_id,
                                                               trade.seller_id)
                    message = {"type": "p2p_message", "seq": seq, "message": pv.P2PMessage(
                        seq=seq, message_id=ev.message_id, trade_id=ev.trade_id,
                        user_id=ev.user_id, author=author,  # type: ignore[arg-type]
                        text=ev.text, at=pv.iso(ts_ns))}
                    for uid in {trade.buyer_id, trade.seller_id, ev.user_id}:
                        self._send(uid, message)
            for row in notifications_of(seq, ts_ns, events, self._parties, p2p.markets):
                if row[1] in subs:
                    self._send(row[1], {"type": "notification", "seq": seq,
                                        "notification": pv.Notification(
                                            notification_id=row[0], kind=row[2],
                                            trade_id=row[3], ad_id=row[4], text=row[5],
                                            at=pv.iso(row[7]), read=False)})

    def _to_admins(self, seq: int, ev: Any) -> None:
        """Tell every subscribed administrator that the dispute queue moved."""
        admins = [uid for uid, conns in self.subs.items()
                  if any(c.principal is not None and c.principal.is_admin for c in conns)]
        if not admins:
            return
        trade = self.p2p.reads.p2p_trade(ev.trade_id)
        if trade is None:
            return
        if type(ev) is DisputeResolutionProposed:
            event = "proposed"
        else:
            event = "opened" if ev.to_state == _DISPUTED else "closed"
        for uid in admins:
            self._send(uid, {"type": "p2p_dispute", "seq": seq, "event": event,
                             "trade_id": ev.trade_id,
                             "trade": self.p2p.trade_view(trade, uid, True)})

    def _parties(self, trade_id: int) -> tuple[int, int] | None:
        trade = self.p2p.reads.p2p_trade(trade_id)
        return (trade.buyer_id, trade.seller_id) if trade is not None else None
