"""Operator routes: deposits, withdrawal decisions, halts, suspensions, users, audit."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from matchbook.api import convert
from matchbook.api.deps import AdminUser, ApiState, State
from matchbook.api.errors import ApiCode, ApiError
from matchbook.api.schemas import (
    AdjustBody,
    AdminDeposit,
    BeforeSeq,
    ChainDeposit,
    Offset,
    RejectBody,
    UserId,
    WithdrawalId,
)
from matchbook.api.store_reads import audit_page, projection_lag
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
from matchbook.core.events import Deposited, OrderCancelled
from matchbook.runtime.sequencer import Result
from matchbook.store.follow import ProjectorTask

router = APIRouter(prefix="/admin", tags=["administration"])


def _ok(result: Result) -> Result:
    convert.accepted(result.events)
    return result


@router.post("/deposits", status_code=201)
async def deposit(body: AdminDeposit, admin: AdminUser, state: State) -> dict[str, Any]:
    markets = state.exchange.markets
    amount = convert.minor(markets, body.asset, body.amount)
    if await state.users.get(body.user_id) is None:
        raise ApiError(Code.INVALID_USER, "No user has this id.")
    result = _ok(await state.exchange.submit(Deposit(body.asset.upper(), amount,
                                                     user_id=body.user_id,
                                                     reference=body.reference)))
    ev = next(e for e in result.events if type(e) is Deposited)
    assert isinstance(ev, Deposited)
    return {"deposit_id": ev.deposit_id, "user_id": ev.user_id, "asset": ev.asset,
            "amount": markets.assets[ev.asset].format(ev.amount_minor)}


@router.post("/deposits/chain", status_code=201)
async def chain_deposit(body: ChainDeposit, admin: AdminUser, state: State) -> dict[str, Any]:
    """A deposit observed on chain to a wallet address."""
    markets = state.exchange.markets
    amount = convert.minor(markets, body.asset, body.amount)
    result = _ok(await state.exchange.submit(Deposit(body.asset.upper(), amount,
                                                     address=body.address,
                                                     reference=body.reference)))
    ev = next(e for e in result.events if type(e) is Deposited)
    assert isinstance(ev, Deposited)
    return {"deposit_id": ev.deposit_id, "user_id": ev.user_id, "asset": ev.asset,
            "amount": markets.assets[ev.asset].format(ev.amount_minor)}


@router.post("/withdrawals/{withdrawal_id}/approve")
async def approve(withdrawal_id: WithdrawalId, admin: AdminUser, state: State) -> dict[str, Any]:
    _ok(await state.exchange.submit(CompleteWithdrawal(withdrawal_id)))
    return {"withdrawal_id": withdrawal_id, "status": "completed"}


@router.post("/withdrawals/{withdrawal_id}/reject")
async def reject(withdrawal_id: WithdrawalId, admin: AdminUser, state: State,
                 body: RejectBody | None = None) -> dict[str, Any]:
    _ok(await state.exchange.submit(RejectWithdrawal(withdrawal_id,
                                                     body.reason if body else "")))
    return {"withdrawal_id": withdrawal_id, "status": "rejected"}


@router.get("/withdrawals")
async def pending_withdrawals(admin: AdminUser, state: State) -> list[dict[str, Any]]:
    markets = state.exchange.markets
    return [{"withdrawal_id": w.withdrawal_id, "user_id": w.user_id, "asset": w.asset,
             "amount": markets.assets[w.asset].format(w.amount_minor),
             "destination": w.destination, "status": "pending"}
            for w in state.exchange.engine.withdrawals.values()]


@router.post("/adjustments", status_code=201)
async def adjust(body: AdjustBody, admin: AdminUser, state: State) -> dict[str, Any]:
    markets = state.exchange.markets
    text = body.amount.strip()
    negative = text.startswith("-")
    amount = convert.minor(markets, body.asset, text.lstrip("-"))
    _ok(await state.exchange.submit(AdjustBalance(body.user_id, body.asset.upper(),
                                                  -amount if negative else amount, body.reason)))
    return {"user_id": body.user_id, "asset": body.asset.upper(), "amount": text}


def _halt_scope(state: ApiState, symbol: str) -> str:
    """The symbol a halt or resume names ("" for ``all``: trading as a whole)."""
    return "" if symbol.lower() == "all" else convert.symbol_of(state.exchange.markets,
                                                                  symbol).name


@router.post("/symbols/{symbol}/halt")
async def halt(symbol: str, admin: AdminUser, state: State) -> dict[str, Any]:
    name = _halt_scope(state, symbol)
    _ok(await state.exchange.submit(HaltTrading(name)))
    return {"symbol": name or "all", "halted": True}


@router.post("/symbols/{symbol}/resume")
async def resume(symbol: str, admin: AdminUser, state: State) -> dict[str, Any]:
    name = _halt_scope(state, symbol)
    _ok(await state.exchange.submit(ResumeTrading(name)))
    return {"symbol": name or "all", "halted": False}


async def _known_user(state: State, user_id: int) -> None:
    """Raises ``ApiError`` 404 unless a user has ``user_id``."""
    if await state.users.get(user_id) is None:
        raise ApiError(ApiCode.NOT_FOUND, "No user has this id.")


@router.post("/users/{user_id}/suspend")
async def suspend(user_id: UserId, admin: AdminUser, state: State) -> dict[str, Any]:
    await _known_user(state, user_id)
    result = _ok(await state.exchange.submit(SuspendUser(user_id)))
    cancelled = [str(e.order_id) for e in result.events if type(e) is OrderCancelled]
    return {"user_id": user_id, "suspended": True, "cancelled_orders": cancelled}


@router.post("/users/{user_id}/reinstate")
async def reinstate(user_id: UserId, admin: AdminUser, state: State) -> dict[str, Any]:
    await _known_user(state, user_id)
    _ok(await state.exchange.submit(ReinstateUser(user_id)))
    return {"user_id": user_id, "suspended": False}


@router.get("/users")
async def users(admin: AdminUser, state: State,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Offset = 0) -> list[dict[str, Any]]:
    engine = state.exchange.engine
    return [{"user_id": u.user_id, "email": u.email, "role": u.role,
             "suspended": u.user_id in engine.suspended,
             "open_orders": len(engine.user_orders.get(u.user_id, {}))}
            for u in await state.users.list(limit, offset)]


@router.get("/audit")
async def audit(admin: AdminUser, state: State,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                before_seq: BeforeSeq = None) -> list[dict[str, Any]]:
    return await audit_page(state, limit, before_seq)


@router.get("/stats")
async def stats(admin: AdminUser, state: State) -> dict[str, Any]:
    exchange = state.exchange
    seq = exchange.sequencer.stats
    durable = exchange.durable
    writer = durable.writer.stats()
    uptime = (time.time_ns() - exchange.started_ns) / 1e9
    return {
        "seq": exchange.engine.last_seq, "queue_depth": exchange.sequencer.queue_depth,
        "commands": seq.commands, "batches": seq.batches,
        "busy_rejections": seq.busy_rejections,
        "throughput_per_sec": round(seq.commands / uptime, 1) if uptime else 0.0,
        "journal": {"mode": durable.config.mode, "last_seq": writer.last_seq,
                    "fsyncs": writer.fsyncs, "fsync_seconds": round(writer.fsync_seconds, 6),
                    "lag": exchange.engine.last_seq - (writer.last_seq or 0)},
        "snapshot_seq": durable.last_snapshot_seq,
        "projector_lag": await projection_lag(state),
        "projector": _projector(exchange.projector),
        "open_orders": exchange.engine.open_order_count,
        "websocket_clients": getattr(state, "ws_clients", 0),
        "uptime_seconds": round(uptime, 1),
    }


def _projector(task: ProjectorTask | None) -> dict[str, Any] | None:
    """The SQL projector's health: how far it is, its failures and its dead letters
    (records it could not write and skipped: rebuild the read model once fixed)."""
    if task is None:
        return None
    stats = task.stats()
    return {name: stats[name] for name in (
        "last_seq", "lag", "behind", "errors", "last_error", "dead_letters",
        "last_dead_letter")}
