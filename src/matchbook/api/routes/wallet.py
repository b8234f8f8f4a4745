"""Balances, the ledger, wallet addresses, withdrawals and transfers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from matchbook.api import convert
from matchbook.api.deps import Reader, State, Trader, Withdrawer
from matchbook.api.errors import ApiError
from matchbook.api.schemas import BeforeSeq, TransferBody, WithdrawalBody
from matchbook.api.store_reads import user_ledger
from matchbook.core import Code, CreateAddress, RequestWithdrawal, Transfer
from matchbook.core.events import AddressCreated, Transferred, WithdrawalRequested

router = APIRouter(tags=["wallet"])


@router.get("/balances")
async def balances(principal: Reader, state: State) -> list[dict[str, Any]]:
    engine = state.exchange.engine
    out = []
    for asset in state.exchange.markets.assets.values():
        available, held = engine.balance(principal.user_id, asset.code)
        out.append({"asset": asset.code, "available": asset.format(available),
                    "held": asset.format(held), "total": asset.format(available + held),
                    "address": engine.user_addresses.get((principal.user_id, asset.code))})
    return out


@router.get("/ledger")
async def ledger(principal: Reader, state: State, asset: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 before_seq: BeforeSeq = None) -> list[dict[str, Any]]:
    code = asset.upper() if asset else None
    if code is not None and code not in state.exchange.markets.assets:
        raise ApiError(Code.UNKNOWN_ASSET, f"Unknown asset {asset!r}.")
    return await user_ledger(state, principal.user_id, code, limit, before_seq)


@router.post("/wallets/{asset}/address", status_code=201)
async def create_address(asset: str, principal: Trader, state: State) -> dict[str, Any]:
    engine = state.exchange.engine
    code = asset.upper()
    existing = engine.user_addresses.get((principal.user_id, code))
    if existing is not None:
        return {"asset": code, "address": existing}
    result = await state.exchange.submit(CreateAddress(principal.user_id, code))
    convert.accepted(result.events)
    created = next(e for e in result.events if type(e) is AddressCreated)
    assert isinstance(created, AddressCreated)
    return {"asset": created.asset, "address": created.address}


@router.post("/withdrawals", status_code=201)
async def withdraw(body: WithdrawalBody, principal: Withdrawer, state: State) -> dict[str, Any]:
    markets = state.exchange.markets
    amount = convert.minor(markets, body.asset, body.amount)
    result = await state.exchange.submit(RequestWithdrawal(principal.user_id, body.asset.upper(),
                                                           amount, body.destination))
    convert.accepted(result.events)
    ev = next(e for e in result.events if type(e) is WithdrawalRequested)
    assert isinstance(ev, WithdrawalRequested)
    return {"withdrawal_id": ev.withdrawal_id, "asset": ev.asset, "status": "pending",
            "amount": markets.assets[ev.asset].format(ev.amount_minor),
            "destination": ev.destination}


@router.post("/transfers", status_code=201)
async def transfer(body: TransferBody, principal: Withdrawer, state: State) -> dict[str, Any]:
    markets = state.exchange.markets
    amount = convert.minor(markets, body.asset, body.amount)
    result = await state.exchange.submit(Transfer(principal.user_id, body.to_address,
                                                  body.asset.upper(), amount))
    convert.accepted(result.events)
    ev = next(e for e in result.events if type(e) is Transferred)
    assert isinstance(ev, Transferred)
    if ev.from_user_id != principal.user_id:  # never: the engine moved the caller's funds
        raise ApiError(Code.UNKNOWN_ADDRESS, "Transfer failed.")
    return {"transfer_id": ev.transfer_id, "asset": ev.asset, "to_address": ev.to_address,
            "amount": markets.assets[ev.asset].format(ev.amount_minor)}
