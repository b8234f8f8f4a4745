"""Read helpers over the P2P tables of the read model (and the notification marks).

Like :mod:`matchbook.store.queries`: plain ``dict`` rows, money columns as ``int``
minor units, lists paged by keyset, ``limit`` capped at ``MAX_LIMIT``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.store import schema
from matchbook.store.queries import MAX_LIMIT
from matchbook.store.users_schema import notification_marks, notification_reads

_trades = schema.p2p_trades
_notes = schema.notifications
COMPLETED = ("completed", "resolved_release")
FINISHED = ("completed", "resolved_release", "cancelled", "expired", "resolved_refund")


def _limit(limit: int) -> int:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return min(limit, MAX_LIMIT)


async def _all(db: AsyncEngine, query: Any) -> list[dict[str, Any]]:
    async with db.connect() as conn:
        result = await conn.execute(query)
        return [dict(row) for row in result.mappings()]


async def trade(db: AsyncEngine, trade_id: int) -> dict[str, Any] | None:
    rows = await _all(db, select(_trades).where(_trades.c.trade_id == trade_id))
    return rows[0] if rows else None


async def trades(db: AsyncEngine, trade_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The rows of ``trade_ids`` that the read model holds, by id."""
    if not trade_ids:
        return {}
    rows = await _all(db, select(_trades).where(_trades.c.trade_id.in_(list(trade_ids))))
    return {int(r["trade_id"]): r for r in rows}


async def transitions(db: AsyncEngine, trade_id: int) -> list[dict[str, Any]]:
    """The trade's timeline, oldest first."""
    t = schema.p2p_transitions
    return await _all(db, select(t).where(t.c.trade_id == trade_id)
                      .order_by(t.c.seq, t.c.event_index))


async def messages(db: AsyncEngine, trade_id: int, *, after_seq: int = 0,
                   limit: int = 200) -> list[dict[str, Any]]:
    """The trade's chat with its system lines, oldest first, after ``after_seq``."""
    m = schema.p2p_messages
    return await _all(db, select(m).where(m.c.trade_id == trade_id, m.c.seq > after_seq)
                      .order_by(m.c.seq, m.c.event_index).limit(_limit(limit)))


async def feedback_of_trade(db: AsyncEngine, trade_id: int) -> list[dict[str, Any]]:
    f = schema.p2p_feedback
    return await _all(db, select(f).where(f.c.trade_id == trade_id).order_by(f.c.seq))


async def notifications(db: AsyncEngine, user_id: int, *, before: int | None = None,
                        unread_only: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    """``user_id``'s notifications, newest first, each with ``read``."""
    mark = select(notification_marks.c.read_up_to).where(
        notification_marks.c.user_id == user_id).scalar_subquery()
    read_one = select(notification_reads.c.notification_id).where(
        notification_reads.c.user_id == user_id,
        notification_reads.c.notification_id == _notes.c.notification_id).exists()
    is_read = or_(_notes.c.notification_id <= func.coalesce(mark, 0), read_one)
    query = select(_notes, is_read.label("read")).where(_notes.c.user_id == user_id)
    if before is not None:
        query = query.where(_notes.c.notification_id < before)
    if unread_only:
        query = query.where(~is_read)
    rows = await _all(db, query.order_by(_notes.c.notification_id.desc())
                      .limit(_limit(limit)))
    for row in rows:
        row["read"] = bool(row["read"])
    return rows


async def unread_count(db: AsyncEngine, user_id: int) -> int:
    mark = select(notification_marks.c.read_up_to).where(
        notification_marks.c.user_id == user_id).scalar_subquery()
    read_one = select(notification_reads.c.notification_id).where(
        notification_reads.c.user_id == user_id,
        notification_reads.c.notification_id == _notes.c.notification_id).exists()
    query = select(func.count()).select_from(_notes).where(
        _notes.c.user_id == user_id, _notes.c.notification_id > func.coalesce(mark, 0),
        ~read_one)
    async with db.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def mark_read(db: AsyncEngine, user_id: int, ids: Sequence[int],
                    up_to: int | None) -> None:
    """Mark ``ids`` (one by one) and everything up to ``up_to`` read. Idempotent."""
    async with db.begin() as conn:
        if up_to is not None:
            current = (await conn.execute(select(notification_marks.c.read_up_to).where(
                notification_marks.c.user_id == user_id))).scalar_one_or_none()
            if current is None:
                await conn.execute(insert(notification_marks).values(
                    user_id=user_id, read_up_to=up_to))
            elif up_to > current:
                await conn.execute(update(notification_marks).where(
                    notification_marks.c.user_id == user_id).values(read_up_to=up_to))
            await conn.execute(delete(notification_reads).where(
                notification_reads.c.user_id == user_id,
                notification_reads.c.notification_id <= up_to))
        wanted = sorted(set(ids))
        if wanted:
            mine = select(_notes.c.notification_id).where(
                _notes.c.user_id == user_id, _notes.c.notification_id.in_(wanted))
            found = {int(r[0]) for r in await conn.execute(mine)}
            done = {int(r[0]) for r in await conn.execute(
                select(notification_reads.c.notification_id).where(
                    notification_reads.c.user_id == user_id,
                    notification_reads.c.notification_id.in_(sorted(found))))}
            new = sorted(found - done)
            if new:
                await conn.execute(insert(notification_reads), [
                    {"user_id": user_id, "notification_id": n} for n in new])


async def user_stats(db: AsyncEngine, user_id: int) -> dict[str, Any]:
    """Counts of ``user_id``'s trades by outcome, the release times of the trades they
    sold and released themselves (ns, from marked paid to released; an administrator's
    release is not theirs), and the feedback they received."""
    party = or_(_trades.c.buyer_id == user_id, _trades.c.seller_id == user_id)
    f = schema.p2p_feedback
    async with db.connect() as conn:
        by_state = {state: int(n) for state, n in await conn.execute(
            select(_trades.c.state, func.count()).where(party).group_by(_trades.c.state))}
        releases = [int(ts) - int(paid) for ts, paid in await conn.execute(
            select(_trades.c.finished_ts_ns, _trades.c.paid_ts_ns).where(
                _trades.c.seller_id == user_id, _trades.c.state == "completed",
                _trades.c.paid_ts_ns.is_not(None), _trades.c.finished_ts_ns.is_not(None))
            .order_by(_trades.c.trade_id.desc()).limit(10_000))]
        votes = {bool(positive): int(n) for positive, n in await conn.execute(
            select(f.c.positive, func.count()).where(f.c.to_user_id == user_id)
            .group_by(f.c.positive))}
    return {"by_state": by_state, "release_ns": releases,
            "positive": votes.get(True, 0), "negative": votes.get(False, 0)}


async def disputes(db: AsyncEngine, *, limit: int = 100) -> list[dict[str, Any]]:
    """Disputed trades as recorded, oldest dispute first."""
    return await _all(db, select(_trades).where(_trades.c.state == "disputed")
                      .order_by(_trades.c.dispute_opened_ts_ns, _trades.c.trade_id)
                      .limit(_limit(limit)))


__all__ = ["COMPLETED", "FINISHED", "disputes", "feedback_of_trade", "mark_read",
           "messages", "notifications", "trade", "trades", "transitions", "unread_count",
           "user_stats"]

