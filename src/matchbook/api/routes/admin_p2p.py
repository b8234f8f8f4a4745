"""P2P administration: the dispute queue, resolutions (a second administrator above the
configured amount), and ad moderation (pause, resume, remove)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from matchbook.api import p2p_views as pv
from matchbook.api.deps import AdminUser, State
from matchbook.api.routes.p2p import IdempotencyHeader, key_of
from matchbook.api.schemas import ModerateAdBody, P2PId, ResolveBody
from matchbook.api.views import ViewResponse, respond, schema

router = APIRouter(prefix="/admin/p2p", tags=["p2p administration"])
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/disputes", response_model=schema(list[pv.P2PTradeDetail]))
async def disputes(principal: AdminUser, state: State, limit: Limit = 100) -> ViewResponse:
    """Disputed trades, oldest first, each with its timeline; read the chat with
    ``GET /p2p/trades/{id}/messages``."""
    p2p, history = state.p2p, state.p2p_history
    found = [p2p.trade_view(t, principal.user_id, True)
             for t in p2p.disputes(principal.user_id, limit)]
    return respond([await history.detail(t) for t in found])


@router.post("/disputes/{trade_id}/resolve", response_model=schema(pv.P2PTrade))
async def resolve(trade_id: P2PId, body: ResolveBody, principal: AdminUser, state: State,
                  idempotency_key: IdempotencyHeader = None) -> ViewResponse:
    """Settle a dispute: ``release`` the escrow to the buyer or ``refund`` it to the
    seller. Above the configured amount the first decision is a proposal
    (``dispute.proposed_outcome``) that a different administrator must confirm."""
    trade = await state.p2p.resolve(principal.user_id, trade_id, body.outcome, body.note,
                                    key_of(body.idempotency_key, idempotency_key))
    return respond(trade)


@router.get("/ads", response_model=schema(list[pv.P2PAd]))
async def all_ads(principal: AdminUser, state: State,
                  status: Literal["open", "paused", "closed", "cancelled"] | None = None,
                  limit: Limit = 100) -> ViewResponse:
    """Every ad (or those in ``status``), newest first, for moderation."""
    states = frozenset({1, 2, 3, 4}) if status is None else frozenset(
        {k for k, v in pv.AD_STATES.items() if v == status})
    ads = state.p2p.board(None, None, None, states=states, limit=10**9)
    ads.sort(key=lambda ad: -ad.ad_id)
    return respond(ads[:limit])


@router.post("/ads/{ad_id}/pause", response_model=schema(pv.P2PAd))
async def pause_ad(ad_id: P2PId, body: ModerateAdBody, principal: AdminUser,
                   state: State) -> ViewResponse:
    """Pause an ad (its maker is told why): nobody can take it, and its maker cannot
    resume it until an administrator does; its live trades go on."""
    return respond(await state.p2p.ad_action(principal.user_id, ad_id, "pause", admin=True,
                                             reason=body.reason))


@router.post("/ads/{ad_id}/resume", response_model=schema(pv.P2PAd))
async def resume_ad(ad_id: P2PId, principal: AdminUser, state: State) -> ViewResponse:
    """Lift an administrator's pause: the ad is open again (or paused, if its maker had
    paused it before)."""
    return respond(await state.p2p.ad_action(principal.user_id, ad_id, "resume", admin=True))


@router.post("/ads/{ad_id}/cancel", response_model=schema(pv.P2PAd))
async def moderate_ad(ad_id: P2PId, body: ModerateAdBody, principal: AdminUser,
                      state: State) -> ViewResponse:
    """Remove an ad (its maker is told why); its live trades go on."""
    return respond(await state.p2p.ad_action(principal.user_id, ad_id, "cancel", admin=True,
                                             reason=body.reason))
