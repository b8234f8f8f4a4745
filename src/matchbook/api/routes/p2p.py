"""P2P escrow trading: payment methods, the ad board, trades and their actions, chat,
feedback and stats. Thin over ``matchbook.api.p2p`` (live state, commands) and
``matchbook.api.p2p_history`` (the read model)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query

from matchbook.api import p2p_views as pv
from matchbook.api.deps import ApiState, Reader, State, Trader
from matchbook.api.errors import ApiCode, ApiError
from matchbook.api.schemas import (
    ASSET_PATTERN,
    IDEMPOTENCY_PATTERN,
    MAX_BODY_ID,
    CancelTradeBody,
    DisputeBody,
    FeedbackBody,
    NewAd,
    NewPaymentMethod,
    P2PId,
    TakeAdBody,
    TradeAction,
    TradeMessageBody,
    TradeStateWord,
    UserId,
)
from matchbook.api.views import ViewResponse as Answer
from matchbook.api.views import respond, schema
from matchbook.core.p2p import MAX_WINDOW_S, MIN_WINDOW_S

router = APIRouter(prefix="/p2p", tags=["p2p"])
Limit = Annotated[int, Query(ge=1, le=500)]
AssetFilter = Annotated[str | None, Query(pattern=ASSET_PATTERN, max_length=10)]
IdempotencyHeader = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=64, pattern=IDEMPOTENCY_PATTERN,
    description="The same as the body's idempotency_key (the body's wins).")]
_KEY = re.compile(IDEMPOTENCY_PATTERN)


def key_of(body_key: str | None, header_key: str | None) -> str:
    """The request's idempotency key: the body's, else the header's, else none."""
    key = body_key or header_key or ""
    if key and not _KEY.match(key):
        raise ApiError(ApiCode.VALIDATION, "idempotency_key: must be 1 to 64 visible ASCII "
                                           "characters")
    return key


# -- the desk's settings ------------------------------------------------------------------


@router.get("/config", response_model=schema(pv.P2PConfigView))
async def config(state: State) -> Answer:
    """The desk's settings: fiat currencies with their decimals, the fee, the payment
    window's bounds, the appeal and escalation delays, the cancel limit and ban."""
    markets = state.exchange.markets
    p2p = markets.p2p
    return respond(pv.P2PConfigView(
        fiats=[pv.FiatCurrency(code=f.code, decimals=f.decimals)
               for f in sorted(markets.fiats.values(), key=lambda f: f.code)],
        fee_bps=p2p.fee_bps, min_payment_window_seconds=MIN_WINDOW_S,
        max_payment_window_seconds=MAX_WINDOW_S, appeal_after_seconds=p2p.appeal_after_s,
        escalate_after_seconds=p2p.escalate_after_s, cancel_limit=p2p.cancel_limit,
        ban_seconds=p2p.ban_s))


# -- payment methods ---------------------------------------------------------------------


@router.post("/payment-methods", status_code=201, response_model=schema(pv.PaymentMethod))
async def add_payment_method(body: NewPaymentMethod, principal: Trader,
                             state: State) -> Answer:
    """Save a payment method; its details are shown to a counterparty only once a
    trade with them is open."""
    return respond(await state.p2p.add_method(principal.user_id, body.name, body.details), 201)


@router.get("/payment-methods", response_model=schema(list[pv.PaymentMethod]))
async def payment_methods(principal: Reader, state: State) -> Answer:
    """Your payment methods, with their details."""
    return respond(state.p2p.methods(principal.user_id))


@router.delete("/payment-methods/{method_id}",
               response_model=schema(pv.RemovedPaymentMethod))
async def remove_payment_method(method_id: P2PId, principal: Trader, state: State) -> Answer:
    """Remove a payment method; ads and trades keep the copy they took."""
    await state.p2p.remove_method(principal.user_id, method_id)
    return respond(pv.RemovedPaymentMethod(method_id=method_id, removed=True))


# -- ads ---------------------------------------------------------------------------------


@router.post("/ads", status_code=201, response_model=schema(pv.P2PAd))
async def post_ad(body: NewAd, principal: Trader, state: State) -> Answer:
    """Post an ad. A sell ad puts its whole quantity in escrow now (refused without the
    funds); cancelling it returns what no live trade holds."""
    p2p = state.p2p
    return respond(await p2p.post_ad(p2p.ad_command(principal.user_id, body)), 201)


@router.get("/ads", response_model=schema(list[pv.P2PAd]))
async def board(state: State, side: Literal["sell", "buy"] | None = None,
                asset: AssetFilter = None, fiat: AssetFilter = None,
                limit: Limit = 100) -> Answer:
    """The public board: open ads, best price first (the cheapest sell ads, the
    best-paying buy ads), filtered by the maker's ``side``, ``asset`` and ``fiat``."""
    return respond(state.p2p.board(side, asset, fiat, limit=limit))


@router.get("/ads/mine", response_model=schema(list[pv.P2PAd]))
async def my_ads(principal: Reader, state: State, limit: Limit = 100) -> Answer:
    """Your ads in every state, newest first."""
    return respond(state.p2p.board(None, None, None, maker_id=principal.user_id,
                                   states=frozenset({1, 2, 3, 4}), limit=limit))


@router.get("/ads/{ad_id}", response_model=schema(pv.P2PAd))
async def get_ad(ad_id: P2PId, state: State) -> Answer:
    return respond(state.p2p.ad(ad_id))


@router.post("/ads/{ad_id}/pause", response_model=schema(pv.P2PAd))
async def pause_ad(ad_id: P2PId, principal: Trader, state: State) -> Answer:
    """Take your open ad off the board (its escrow stays)."""
    return respond(await state.p2p.ad_action(principal.user_id, ad_id, "pause"))


@router.post("/ads/{ad_id}/resume", response_model=schema(pv.P2PAd))
async def resume_ad(ad_id: P2PId, principal: Trader, state: State) -> Answer:
    return respond(await state.p2p.ad_action(principal.user_id, ad_id, "resume"))


@router.post("/ads/{ad_id}/cancel", response_model=schema(pv.P2PAd))
async def cancel_ad(ad_id: P2PId, principal: Trader, state: State) -> Answer:
    """Cancel your ad: a sell ad's escrow that no live trade holds comes back to you;
    its live trades go on."""
    return respond(await state.p2p.ad_action(principal.user_id, ad_id, "cancel"))


@router.post("/ads/{ad_id}/take", status_code=201, response_model=schema(pv.P2PTrade))
async def take_ad(ad_id: P2PId, body: TakeAdBody, principal: Trader, state: State,
                  idempotency_key: IdempotencyHeader = None) -> Answer:
    """Open a trade on an ad: you buy from a sell ad (pay the seller outside the
    exchange before ``pay_by``), or sell to a buy ad (your asset goes into escrow now)."""
    trade = await state.p2p.take(principal.user_id, ad_id, body.quantity,
                                 body.payment_method_id,
                                 key_of(body.idempotency_key, idempotency_key))
    return respond(trade, 201)


# -- trades ------------------------------------------------------------------------------


@router.get("/trades", response_model=schema(list[pv.P2PTrade]))
async def my_trades(principal: Reader, state: State,
                    status: TradeStateWord | Literal["live", "finished"] | None = None,
                    limit: Limit = 100) -> Answer:
    """Your trades, newest first; ``status`` one state, ``live`` or ``finished``."""
    trades = state.p2p.trades(principal.user_id, status, limit)
    return respond(await state.p2p_history.with_disputes(trades))


@router.get("/trades/{trade_id}", response_model=schema(pv.P2PTradeDetail))
async def get_trade(trade_id: P2PId, principal: Reader, state: State) -> Answer:
    """One of your trades (an administrator: any trade once disputed) with its timeline
    and feedback."""
    trade = _trade(state, trade_id, principal.user_id, principal.is_admin)
    return respond(await state.p2p_history.detail(trade))


def _trade(state: ApiState, trade_id: int, user_id: int, is_admin: bool) -> pv.P2PTrade:
    p2p = state.p2p
    live = p2p.visible_trade(trade_id, user_id, is_admin)
    return p2p.trade_view(live, user_id, is_admin)


@router.post("/trades/{trade_id}/paid", response_model=schema(pv.P2PTrade))
async def mark_paid(trade_id: P2PId, body: TradeAction, principal: Trader, state: State,
                    idempotency_key: IdempotencyHeader = None) -> Answer:
    """The buyer: the fiat was sent. Refused (409) when the trade is not in
    ``expected_state``, and after ``pay_by`` (the trade has expired)."""
    return respond(await state.p2p.act(principal.user_id, trade_id, "paid",
                                       body.expected_state,
                                       key_of(body.idempotency_key, idempotency_key)))


@router.post("/trades/{trade_id}/release", response_model=schema(pv.P2PTrade))
async def release(trade_id: P2PId, body: TradeAction, principal: Trader, state: State,
                  idempotency_key: IdempotencyHeader = None) -> Answer:
    """The seller: the fiat arrived, release the escrow to the buyer (minus the fee).
    Only release after the money is in your account: it cannot be undone."""
    return respond(await state.p2p.act(principal.user_id, trade_id, "release",
                                       body.expected_state,
                                       key_of(body.idempotency_key, idempotency_key)))


@router.post("/trades/{trade_id}/cancel", response_model=schema(pv.P2PTrade))
async def cancel_trade(trade_id: P2PId, body: CancelTradeBody, principal: Trader,
                       state: State, idempotency_key: IdempotencyHeader = None) -> Answer:
    """The buyer cancels (the escrow goes back). After marking paid only with
    ``confirm``: never cancel a trade you paid for."""
    return respond(await state.p2p.act(principal.user_id, trade_id, "cancel",
                                       body.expected_state,
                                       key_of(body.idempotency_key, idempotency_key),
                                       confirm=body.confirm))


@router.post("/trades/{trade_id}/dispute", response_model=schema(pv.P2PTrade))
async def open_dispute(trade_id: P2PId, body: DisputeBody, principal: Trader, state: State,
                       idempotency_key: IdempotencyHeader = None) -> Answer:
    """Buyer or seller, once ``appeal_after`` has passed: an administrator decides;
    the trade is frozen (no cancel, no expiry) until then."""
    return respond(await state.p2p.act(principal.user_id, trade_id, "dispute",
                                       body.expected_state,
                                       key_of(body.idempotency_key, idempotency_key),
                                       reason=body.reason, text=body.text))


@router.post("/trades/{trade_id}/withdraw-dispute", response_model=schema(pv.P2PTrade))
async def withdraw_dispute(trade_id: P2PId, body: TradeAction, principal: Trader,
                           state: State, idempotency_key: IdempotencyHeader = None) -> Answer:
    """Whoever opened the dispute takes it back: the trade is paid again."""
    return respond(await state.p2p.act(principal.user_id, trade_id, "withdraw-dispute",
                                       body.expected_state,
                                       key_of(body.idempotency_key, idempotency_key)))


@router.get("/trades/{trade_id}/messages", response_model=schema(list[pv.P2PMessage]))
async def messages(trade_id: P2PId, principal: Reader, state: State,
                   after_seq: Annotated[int, Query(ge=0, le=MAX_BODY_ID)] = 0,
                   limit: Limit = 200) -> Answer:
    """The trade's chat, oldest first, with a system line for every transition; page
    with ``after_seq`` (the last ``seq`` you have)."""
    state.p2p.visible_trade(trade_id, principal.user_id, principal.is_admin)
    return respond(await state.p2p_history.messages(trade_id, after_seq, limit))


@router.post("/trades/{trade_id}/messages", status_code=201,
             response_model=schema(pv.P2PMessage))
async def post_message(trade_id: P2PId, body: TradeMessageBody, principal: Trader,
                       state: State) -> Answer:
    """Write in the trade's chat (an administrator: in a disputed trade)."""
    p2p = state.p2p
    trade = p2p.visible_trade(trade_id, principal.user_id, principal.is_admin)
    party = principal.user_id in (trade.buyer_id, trade.seller_id)
    return respond(await p2p.post_message(principal.user_id, trade_id, body.text, not party),
                   201)


@router.post("/trades/{trade_id}/feedback", status_code=201,
             response_model=schema(pv.P2PFeedback))
async def leave_feedback(trade_id: P2PId, body: FeedbackBody, principal: Trader,
                         state: State) -> Answer:
    """Rate your counterparty once, after a completed trade."""
    return respond(await state.p2p.feedback(principal.user_id, trade_id, body.positive,
                                            body.comment), 201)


@router.get("/users/{user_id}/stats", response_model=schema(pv.P2PStats))
async def user_stats(user_id: UserId, state: State) -> Answer:
    """A user's P2P record: trades, completion rate, median release time, feedback."""
    return respond(await state.p2p_history.stats(user_id))
