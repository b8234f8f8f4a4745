"""Balances, the ledger, wallet addresses, withdrawals and transfers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from matchbook.api import convert, views
from matchbook.api.deps import Reader, State, Trader, Withdrawer
from matchbook.api.errors import ApiError
from matchbook.api.schemas import AssetQuery, BeforeSeq, TransferBody, WithdrawalBody
from matchbook.api.views import respond, schema
from matchbook.core import Code, CreateAddress, RequestWithdrawal, Transfer
from matchbook.core.events import AddressCreated, Transferred, WithdrawalRequested

router = APIRouter(tags=["wallet"])


@router.get("/balances", response_model=schema(list[views.Balance]))
async def balances(principal: Reader, state: State) -> views.ViewResponse:
    return respond(views.balances_live(state.reads, principal.user_id))


@router.get("/ledger", response_model=schema(list[views.LedgerEntry]))
async def ledger(principal: Reader, state: State, asset: AssetQuery | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 before_seq: BeforeSeq = None) -> views.ViewResponse:
    """Your ledger entries, newest first; page with ``before_seq``."""
    code = asset.upper() if asset else None
    if code is not None and code not in state.exchange.markets.assets:
        raise ApiError(Code.UNKNOWN_ASSET, f"Unknown asset {asset!r}.")
    return respond(await state.history.ledger(principal.user_id, code, limit, before_seq))


@router.post("/wallets/{asset}/address", status_code=201, response_model=schema(views.Address))
async def create_address(asset: str, principal: Trader, state: State) -> views.ViewResponse:
    """Your deposit address for ``asset``, created once (later calls return it)."""
    code = asset.upper()
    existing = state.reads.address(principal.user_id, code)
    if existing is not None:
        return respond(views.Address(asset=code, address=existing), 201)
    result = await state.exchange.submit(CreateAddress(principal.user_id, code))
    created = next(e for e in convert.accepted(result.events) if type(e) is AddressCreated)
    assert isinstance(created, AddressCreated)
    return respond(views.Address(asset=created.asset, address=created.address), 201)


@router.post("/withdrawals", status_code=201, response_model=schema(views.Withdrawal))
async def withdraw(body: WithdrawalBody, principal: Withdrawer,
                   state: State) -> views.ViewResponse:
    """Request a withdrawal: the amount is held until an operator decides."""
    markets = state.exchange.markets
    amount = convert.minor(markets, body.asset, body.amount)
    result = await state.exchange.submit(RequestWithdrawal(principal.user_id, body.asset.upper(),
                                                           amount, body.destination))
    ev = next(e for e in convert.accepted(result.events) if type(e) is WithdrawalRequested)
    assert isinstance(ev, WithdrawalRequested)
    return respond(views.Withdrawal(
        withdrawal_id=ev.withdrawal_id, user_id=ev.user_id, asset=ev.asset,
        amount=markets.assets[ev.asset].format(ev.amount_minor), destination=ev.destination,
        status="pending", reason=None), 201)


@router.post("/transfers", status_code=201, response_model=schema(views.Transfer))
async def transfer(body: TransferBody, principal: Withdrawer,
                   state: State) -> views.ViewResponse:
    """Move funds to another user's wallet address."""
    markets = state.exchange.markets
    amount = convert.minor(markets, body.asset, body.amount)
    result = await state.exchange.submit(Transfer(principal.user_id, body.to_address,
                                                  body.asset.upper(), amount))
    ev = next(e for e in convert.accepted(result.events) if type(e) is Transferred)
    assert isinstance(ev, Transferred)
    if ev.from_user_id != principal.user_id:  # never: the engine moved the caller's funds
        raise ApiError(Code.UNKNOWN_ADDRESS, "Transfer failed.")
    return respond(views.Transfer(transfer_id=ev.transfer_id, asset=ev.asset,
                                  to_address=ev.to_address,
                                  amount=markets.assets[ev.asset].format(ev.amount_minor)), 201)
