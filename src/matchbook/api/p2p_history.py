"""The P2P desk's history from the SQL read model, as views: timelines, chat, feedback,
notifications and per-user stats (``matchbook.store.p2p_queries``).

The read model lags the engine by a few milliseconds; live state (a trade's state,
deadlines, allowed actions) always comes from the engine (``matchbook.api.p2p``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.api import p2p_views as pv
from matchbook.core import Markets
from matchbook.store import p2p_queries as q


def transition_of(r: dict[str, Any]) -> pv.P2PTransition:
    return pv.P2PTransition(seq=r["seq"], at=pv.iso(r["ts_ns"]), from_state=r["from_state"],
                            to_state=r["to_state"], actor=r["actor"], actor_id=r["actor_id"],
                            reason=r["reason"])


def message_of(r: dict[str, Any]) -> pv.P2PMessage:
    return pv.P2PMessage(seq=r["seq"], message_id=r["message_id"], trade_id=r["trade_id"],
                         user_id=r["user_id"], author=r["author"], text=r["text"],
                         at=pv.iso(r["ts_ns"]))


def feedback_of(r: dict[str, Any]) -> pv.P2PFeedback:
    return pv.P2PFeedback(trade_id=r["trade_id"], from_user_id=r["from_user_id"],
                          to_user_id=r["to_user_id"], positive=bool(r["positive"]),
                          comment=r["comment"], at=pv.iso(r["ts_ns"]))


def notification_of(r: dict[str, Any]) -> pv.Notification:
    return pv.Notification(notification_id=r["notification_id"], kind=r["kind"],
                           trade_id=r["trade_id"], ad_id=r["ad_id"], text=r["text"],
                           at=pv.iso(r["ts_ns"]), read=bool(r.get("read", False)))


def with_dispute(trade: pv.P2PTrade, row: dict[str, Any] | None) -> pv.P2PTrade:
    """``trade`` with what only the read model knows of its dispute (reason, text,
    when it was opened), once recorded."""
    if trade.dispute is None or row is None or row["dispute_opened_ts_ns"] is None:
        return trade
    d = trade.dispute
    dispute = pv.DisputeInfo(opened_by=d.opened_by, reason=row["dispute_reason"],
                             text=row["dispute_text"],
                             opened_at=pv.iso(row["dispute_opened_ts_ns"]),
                             proposed_outcome=d.proposed_outcome, proposed_by=d.proposed_by,
                             resolution_note=d.resolution_note or row["resolution_note"])
    fields = {f: getattr(trade, f) for f in trade.__struct_fields__}
    fields["dispute"] = dispute
    return type(trade)(**fields)


class P2PHistory:
    """The read model's P2P history as views."""

    def __init__(self, db: AsyncEngine, markets: Markets) -> None:
        self.db = db
        self.markets = markets

    async def detail(self, trade: pv.P2PTrade) -> pv.P2PTradeDetail:
        row = await q.trade(self.db, trade.trade_id)
        trade = with_dispute(trade, row)
        timeline = [transition_of(r) for r in await q.transitions(self.db, trade.trade_id)]
        feedback = [feedback_of(r) for r in await q.feedback_of_trade(self.db, trade.trade_id)]
        fields = {f: getattr(trade, f) for f in trade.__struct_fields__}
        if row is not None:
            fields["updated_at"] = pv.iso(row["updated_ts_ns"])
            if trade.fee is not None and row["state"] == trade.state:  # the fee charged
                fields["fee"] = self.markets.assets[trade.asset].format(int(row["fee_minor"]))
        return pv.P2PTradeDetail(**fields, timeline=timeline, feedback=feedback)

    async def with_disputes(self, trades: list[pv.P2PTrade]) -> list[pv.P2PTrade]:
        rows = await q.trades(self.db, [t.trade_id for t in trades if t.dispute is not None])
        return [with_dispute(t, rows.get(t.trade_id)) for t in trades]

    async def messages(self, trade_id: int, after_seq: int, limit: int) -> list[pv.P2PMessage]:
        return [message_of(r) for r in await q.messages(self.db, trade_id, after_seq=after_seq,
                                                        limit=limit)]

    async def notifications(self, user_id: int, before: int | None, unread_only: bool,
                            limit: int) -> pv.NotificationPage:
        rows = await q.notifications(self.db, user_id, before=before, unread_only=unread_only,
                                     limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return pv.NotificationPage(
            notifications=[notification_of(r) for r in rows],
            unread=await q.unread_count(self.db, user_id),
            next_before=rows[-1]["notification_id"] if more and rows else None)

    async def mark_read(self, user_id: int, ids: list[int], up_to: int | None) -> int:
        await q.mark_read(self.db, user_id, ids, up_to)
        return await q.unread_count(self.db, user_id)

    async def stats(self, user_id: int) -> pv.P2PStats:
        found = await q.user_stats(self.db, user_id)
        by_state: dict[str, int] = found["by_state"]
        completed = sum(by_state.get(s, 0) for s in q.COMPLETED)
        finished = sum(by_state.get(s, 0) for s in q.FINISHED)
        rate = None
        if finished:
            rate = str((Decimal(completed) / Decimal(finished)).quantize(
                Decimal("0.0001"), ROUND_HALF_UP).normalize())
            rate = f"{Decimal(rate):f}"
        times = sorted(found["release_ns"])
        median = None
        if times:
            middle = len(times) // 2
            ns = times[middle] if len(times) % 2 else (times[middle - 1] + times[middle]) // 2
            median = ns // 1_000_000_000
        return pv.P2PStats(user_id=user_id, trades=sum(by_state.values()),
                           completed_trades=completed, finished_trades=finished,
                           completion_rate=rate, median_release_seconds=median,
                           positive_feedback=found["positive"],
                           negative_feedback=found["negative"])
