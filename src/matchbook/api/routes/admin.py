"""Operator routes: deposits, withdrawal decisions, halts, suspensions, users, audit."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from matchbook.api import convert, views
from matchbook.api.deps import AdminUser, ApiState, State
from matchbook.api.errors import ApiCode, ApiError
from matchbook.api.schemas import (
    MAX_ID,
    MAX_ROW_ID,
    AdjustBody,
    AdminDeposit,
    BeforeSeq,
    ChainDeposit,
    Offset,
    RejectBody,
    SymbolQuery,
    UserId,
    WithdrawalId,
)
from matchbook.api.views import respond, schema
from matchbook.core import (
    AdjustBalance,
    Code,
    CompleteWithdrawal,
    Deposit,
    HaltTrading,
    RejectWithdrawal,
    ResumeTrading,
    SuspendUser,
)
from matchbook.core.commands import ReinstateUser
from matchbook.core.events import (
    AdChanged,
    Deposited,
    Event,
    OrderCancelled,
    WithdrawalCompleted,
    WithdrawalRejected,
)
from matchbook.store.follow import ProjectorTask
from matchbook.store.process import ProjectorProcess

router = APIRouter(prefix="/admin", tags=["administration"])
Limit = Annotated[int, Query(ge=1, le=1000)]


async def _submit(state: ApiState, command: object) -> list[Event]:
    """The events of ``command``; raises the engine's rejection."""
    result = await state.exchange.submit(command)  # type: ignore[arg-type]
    return convert.accepted(result.events)


def _deposit(state: ApiState, events: list[Event]) -> views.ViewResponse:
    ev = next(e for e in events if type(e) is Deposited)
    assert isinstance(ev, Deposited)
    return respond(views.Deposit(
        deposit_id=ev.deposit_id, user_id=ev.user_id, asset=ev.asset,
        amount=state.exchange.markets.assets[ev.asset].format(ev.amount_minor)), 201)


@router.post("/deposits", status_code=201, response_model=schema(views.Deposit))
async def deposit(body: AdminDeposit, admin: AdminUser, state: State) -> views.ViewResponse:
    """Credit a user (an off-chain deposit)."""
    amount = convert.minor(state.exchange.markets, body.asset, body.amount)
    if await state.users.get(body.user_id) is None:
        raise ApiError(Code.INVALID_USER, "No user has this id.")
    return _deposit(state, await _submit(state, Deposit(
        body.asset.upper(), amount, user_id=body.user_id, reference=body.reference)))


@router.post("/deposits/chain", status_code=201, response_model=schema(views.Deposit))
async def chain_deposit(body: ChainDeposit, admin: AdminUser, state: State) -> views.ViewResponse:
    """A deposit observed on chain to a wallet address."""
    amount = convert.minor(state.exchange.markets, body.asset, body.amount)
    return _deposit(state, await _submit(state, Deposit(
        body.asset.upper(), amount, address=body.address, reference=body.reference)))


def _decided(state: ApiState, withdrawal_id: int, destination: str,
             events: list[Event]) -> views.ViewResponse:
    ev = next(e for e in events if type(e) is WithdrawalCompleted or type(e) is WithdrawalRejected)
    assert isinstance(ev, WithdrawalCompleted | WithdrawalRejected)
    rejected = isinstance(ev, WithdrawalRejected)
    return respond(views.Withdrawal(
        withdrawal_id=withdrawal_id, user_id=ev.user_id, asset=ev.asset,
        amount=state.exchange.markets.assets[ev.asset].format(ev.amount_minor),
        destination=destination, status="rejected" if rejected else "completed",
        reason=ev.reason if isinstance(ev, WithdrawalRejected) else None))


def _destination(state: ApiState, withdrawal_id: int) -> str:
    pending = state.reads.pending_withdrawal(withdrawal_id)
    return pending.destination if pending is not None else ""


@router.post("/withdrawals/{withdrawal_id}/approve", response_model=schema(views.Withdrawal))
async def approve(withdrawal_id: WithdrawalId, admin: AdminUser,
                  state: State) -> views.ViewResponse:
    """Send a pending withdrawal out (status ``completed``)."""
    destination = _destination(state, withdrawal_id)
    return _decided(state, withdrawal_id, destination,
                    await _submit(state, CompleteWithdrawal(withdrawal_id)))


@router.post("/withdrawals/{withdrawal_id}/reject", response_model=schema(views.Withdrawal))
async def reject(withdrawal_id: WithdrawalId, admin: AdminUser, state: State,
                 body: RejectBody | None = None) -> views.ViewResponse:
    """Refuse a pending withdrawal: its amount goes back to the user's balance."""
    destination = _destination(state, withdrawal_id)
    return _decided(state, withdrawal_id, destination, await _submit(
        state, RejectWithdrawal(withdrawal_id, body.reason if body else "")))


@router.get("/withdrawals", response_model=schema(list[views.Withdrawal]))
async def pending_withdrawals(admin: AdminUser, state: State) -> views.ViewResponse:
    """Withdrawals waiting for a decision, oldest first."""
    assets = state.exchange.markets.assets
    return respond([views.Withdrawal(
        withdrawal_id=w.withdrawal_id, user_id=w.user_id, asset=w.asset,
        amount=assets[w.asset].format(w.amount_minor), destination=w.destination,
        status="pending", reason=None) for w in state.reads.pending_withdrawals()])


@router.post("/adjustments", status_code=201, response_model=schema(views.Adjustment))
async def adjust(body: AdjustBody, admin: AdminUser, state: State) -> views.ViewResponse:
    """Correct a balance by ``amount`` (negative to debit), with a reason for the audit."""
    text = body.amount.strip()
    negative = text.startswith("-")
    amount = convert.minor(state.exchange.markets, body.asset, text.lstrip("-"))
    await _submit(state, AdjustBalance(body.user_id, body.asset.upper(),
                                       -amount if negative else amount, body.reason))
    return respond(views.Adjustment(user_id=body.user_id, asset=body.asset.upper(),
                                    amount=text), 201)


def _halt_scope(state: ApiState, symbol: str) -> str:
    """The symbol a halt or resume names ("" for ``all``: trading as a whole)."""
    return "" if symbol.lower() == "all" else convert.symbol_of(state.exchange.markets,
                                                                  symbol).name


@router.post("/symbols/{symbol}/halt", response_model=schema(views.HaltState))
async def halt(symbol: str, admin: AdminUser, state: State) -> views.ViewResponse:
    """Halt trading on ``symbol``, or everywhere with ``all``."""
    name = _halt_scope(state, symbol)
    await _submit(state, HaltTrading(name))
    return respond(views.HaltState(symbol=name or "all", halted=True))


@router.post("/symbols/{symbol}/resume", response_model=schema(views.HaltState))
async def resume(symbol: str, admin: AdminUser, state: State) -> views.ViewResponse:
    name = _halt_scope(state, symbol)
    await _submit(state, ResumeTrading(name))
    return respond(views.HaltState(symbol=name or "all", halted=False))


async def _known_user(state: State, user_id: int) -> None:
    """Raises ``ApiError`` 404 unless a user has ``user_id``."""
    if await state.users.get(user_id) is None:
        raise ApiError(ApiCode.NOT_FOUND, "No user has this id.")


@router.post("/users/{user_id}/suspend", response_model=schema(views.Suspension))
async def suspend(user_id: UserId, admin: AdminUser, state: State) -> views.ViewResponse:
    """Suspend a user: their open orders and P2P ads are cancelled (a sell ad's escrow
    back to their balance), new ones refused; their P2P trades in flight go on."""
    await _known_user(state, user_id)
    events = await _submit(state, SuspendUser(user_id, end_p2p_ads=True))
    cancelled = [str(e.order_id) for e in events if type(e) is OrderCancelled]
    ads = [e.ad_id for e in events if type(e) is AdChanged]
    return respond(views.Suspension(user_id=user_id, suspended=True, cancelled_orders=cancelled,
                                    cancelled_ads=ads))


@router.post("/users/{user_id}/reinstate", response_model=schema(views.Suspension))
async def reinstate(user_id: UserId, admin: AdminUser, state: State) -> views.ViewResponse:
    await _known_user(state, user_id)
    await _submit(state, ReinstateUser(user_id))
    return respond(views.Suspension(user_id=user_id, suspended=False, cancelled_orders=[],
                                    cancelled_ads=[]))


@router.get("/users", response_model=schema(list[views.UserInfo]))
async def users(admin: AdminUser, state: State, limit: Limit = 100,
                offset: Offset = 0) -> views.ViewResponse:
    reads = state.reads
    return respond([views.UserInfo(user_id=u.user_id, email=u.email,
                                   role=u.role,  # type: ignore[arg-type]
                                   suspended=reads.is_suspended(u.user_id),
                                   open_orders=reads.open_order_count(u.user_id))
                    for u in await state.users.list(limit, offset)])


@router.get("/audit", response_model=schema(list[views.AuditEntry]))
async def audit(admin: AdminUser, state: State, limit: Limit = 100,
                before_seq: BeforeSeq = None) -> views.ViewResponse:
    """Every command with its result, newest first; page with ``before_seq``."""
    return respond(await state.history.audit(limit, before_seq))


PageLimit = Annotated[int, Query(ge=1, le=500, description="Rows per page.")]
Cursor = Annotated[str | None, Query(
    pattern=r"^[0-9]{1,19}$",
    description="The previous page's ``next_cursor``: the rows after it (older).")]
UserFilter = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="Only this user's.")]
OrderStatusFilter = Literal["open", "closed", "new", "partially_filled", "pending_trigger",
                            "filled", "cancelled", "expired"]


def _cursor(cursor: str | None) -> int | None:
    """The id a cursor stands for: rows with smaller ids follow it. One past every id
    (beyond the 64-bit ids) is the same as none, ``0`` leaves nothing."""
    if cursor is None:
        return None
    return min(int(cursor), MAX_ID)


@router.get("/orders", response_model=schema(views.AdminOrders))
async def all_orders(admin: AdminUser, state: State, user_id: UserFilter = None,
                     symbol: SymbolQuery | None = None,
                     status: OrderStatusFilter | None = None, limit: PageLimit = 100,
                     cursor: Cursor = None) -> views.ViewResponse:
    """Every user's orders, newest first, from the read model (it lags the engine by a
    few milliseconds): filter by ``user_id``, ``symbol`` and ``status`` (one status, or
    ``open`` / ``closed``); page with ``cursor``."""
    name = convert.symbol_of(state.exchange.markets, symbol).name if symbol else ""
    return respond(await state.history.all_orders(
        user_id=user_id, symbol=name, status=status, limit=limit, before_id=_cursor(cursor)))


@router.get("/trades", response_model=schema(views.AdminTrades))
async def all_trades(admin: AdminUser, state: State, user_id: UserFilter = None,
                     symbol: SymbolQuery | None = None, limit: PageLimit = 100,
                     cursor: Cursor = None) -> views.ViewResponse:
    """Every trade with both sides, newest first: filter by ``user_id`` (as maker or
    taker) and ``symbol``; page with ``cursor``."""
    name = convert.symbol_of(state.exchange.markets, symbol).name if symbol else ""
    return respond(await state.history.all_trades(
        user_id=user_id, symbol=name, limit=limit, before_trade_id=_cursor(cursor)))


@router.get("/stats", response_model=schema(views.Stats))
async def stats(admin: AdminUser, state: State) -> views.ViewResponse:
    """Sequencer, journal, projection and connection statistics."""
    return respond(await stats_view(state))


async def stats_view(state: ApiState) -> views.Stats:
    exchange, reads = state.exchange, state.reads
    seq = exchange.sequencer.stats
    last_seq = reads.last_seq
    mode, written, fsyncs, fsync_seconds = reads.journal()
    uptime = (time.time_ns() - exchange.started_ns) / 1e9
    return views.Stats(
        seq=last_seq, queue_depth=reads.queue_depth(), commands=seq.commands,
        batches=seq.batches, busy_rejections=seq.busy_rejections,
        throughput_per_sec=round(seq.commands / uptime, 1) if uptime else 0.0,
        journal=views.JournalStats(mode=mode, last_seq=written, fsyncs=fsyncs,
                                   fsync_seconds=round(fsync_seconds, 6),
                                   lag=last_seq - (written or 0),
                                   writes=exchange.sequencer.journal_writes,
                                   loop_writes=seq.loop_writes),
        snapshot_seq=reads.snapshot_seq(),
        projector_lag=await state.history.projection_lag(last_seq),
        open_orders=reads.open_order_count(),
        projector=_projector(exchange.projector),
        websocket_clients=state.ws_hub.client_count if state.ws_hub is not None else 0,
        uptime_seconds=round(uptime, 1))


def _projector(task: ProjectorProcess | ProjectorTask | None) -> views.ProjectorHealth | None:
    """The SQL projector's health, in its own process or in this one: how far it is, its
    failures and its dead letters (records it could not write and skipped: rebuild the
    read model once fixed). A process publishes these in shared memory: reading them
    costs no message."""
    if task is None:
        return None
    stats = task.stats()
    letter = stats["last_dead_letter"]
    return views.ProjectorHealth(
        last_seq=stats["last_seq"], lag=stats["lag"], behind=stats["behind"],
        errors=stats["errors"], last_error=stats["last_error"],
        dead_letters=stats["dead_letters"],
        last_dead_letter=views.DeadLetter(**letter) if letter is not None else None)
