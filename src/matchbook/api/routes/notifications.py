"""The in-app notification inbox (P2P trades, chat, feedback), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from matchbook.api import p2p_views as pv
from matchbook.api.deps import Reader, State
from matchbook.api.schemas import MAX_BODY_ID, MarkReadBody
from matchbook.api.views import ViewResponse, respond, schema

router = APIRouter(tags=["notifications"])


@router.get("/notifications", response_model=schema(pv.NotificationPage))
async def notifications(principal: Reader, state: State,
                        before: Annotated[int | None, Query(ge=1, le=MAX_BODY_ID)] = None,
                        unread: bool = False,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ViewResponse:
    """Your notifications, newest first, with the unread count; page with ``before``
    (the page's ``next_before``); ``unread`` lists only the unread ones."""
    return respond(await state.p2p_history.notifications(principal.user_id, before, unread,
                                                         limit))


@router.post("/notifications/read", response_model=schema(pv.NotificationsRead))
async def mark_read(body: MarkReadBody, principal: Reader, state: State) -> ViewResponse:
    """Mark ``ids``, and/or everything up to ``up_to``, read; answers the unread count."""
    unread = await state.p2p_history.mark_read(principal.user_id, body.ids, body.up_to)
    return respond(pv.NotificationsRead(unread=unread))
