"""The double-entry ledger, derived from the event stream.

Every balance change the engine makes is carried by an event with its amounts; this
module turns the events of one command into ledger entries. Each entry moves
``amount_minor`` of ``asset`` from the ``debit`` account to the ``credit`` account, so
per asset the sum over all accounts never changes. Accounts are named:

* ``user:<id>:available`` and ``user:<id>:held`` (what a user owns, free and held);
* ``fees`` (the fee account, per asset);
* ``escrow`` (P2P escrow, per asset: sell ads' remaining and live P2P trades);
* ``external`` (where deposits come from and withdrawals go; it goes negative).

Replaying every entry from zero gives exactly the engine's balances (the property
tests check it). Entries are numbered by the command's sequence number and their index
within it, so a projection can write them idempotently.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from matchbook.core.commands import BUY
from matchbook.core.events import (
    AdChanged,
    AdPosted,
    BalanceAdjusted,
    Deposited,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    P2PTradeChanged,
    P2PTradeOpened,
    TradeExecuted,
    Transferred,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)
from matchbook.core.symbols import Markets

FEES = "fees"
EXTERNAL = "external"
ESCROW = "escrow"


class LedgerEntry(msgspec.Struct, frozen=True, gc=False):
    seq: int
    index: int  # position within the command
    debit: str
    credit: str
    asset: str
    amount_minor: int
    # hold, release, trade, fee, rebate, deposit, withdrawal, transfer, adjustment,
    # escrow (into P2P escrow), escrow_return (back to the seller), p2p_release (to the
    # buyer), p2p_fee
    reason: str
    # order:<id>, trade:<id>, deposit:<id>, withdrawal:<id>, ad:<id>, p2p:<trade id>, ...
    reference: str


def available(user_id: int) -> str:
    return f"user:{user_id}:available"


def held(user_id: int) -> str:
    return f"user:{user_id}:held"


def entries(seq: int, events: Iterable[Event], markets: Markets) -> list[LedgerEntry]:
    """The ledger entries of one command's events, in order. Zero amounts are skipped;
    a negative amount is written as the positive amount in the other direction."""
    out: list[LedgerEntry] = []
    for debit, credit, asset, amount, reason, ref in _moves(events, markets):
        if amount < 0:
            debit, credit, amount = credit, debit, -amount
        if amount:
            out.append(LedgerEntry(seq, len(out), debit, credit, asset, amount, reason, ref))
    return out


def balances(all_entries: Iterable[LedgerEntry]) -> dict[tuple[str, str], int]:
    """Sum entries into ``{(account, asset): balance}`` (zero balances dropped)."""
    total: dict[tuple[str, str], int] = {}
    for e in all_entries:
        total[(e.debit, e.asset)] = total.get((e.debit, e.asset), 0) - e.amount_minor
        total[(e.credit, e.asset)] = total.get((e.credit, e.asset), 0) + e.amount_minor
    return {k: v for k, v in total.items() if v}


_Move = tuple[str, str, str, int, str, str]


def _moves(events: Iterable[Event], markets: Markets) -> Iterator[_Move]:
    symbols = markets.symbols
    for ev in events:
        t = type(ev)
        if t is TradeExecuted:
            assert isinstance(ev, TradeExecuted)
            sym = symbols[ev.symbol]
            if ev.aggressor_side == BUY:
                buyer, seller = ev.taker_user_id, ev.maker_user_id
                buyer_fee, seller_fee = ev.taker_fee_minor, ev.maker_fee_minor
            else:
                buyer, seller = ev.maker_user_id, ev.taker_user_id
                buyer_fee, seller_fee = ev.maker_fee_minor, ev.taker_fee_minor
            ref = f"trade:{ev.trade_id}"
            quote, base = sym.quote.code, sym.base.code
            yield held(buyer), available(seller), quote, ev.notional_minor, "trade", ref
            yield held(seller), available(buyer), base, ev.base_minor, "trade", ref
            yield held(buyer), FEES, quote, buyer_fee, _fee(buyer_fee), ref
            yield available(seller), FEES, quote, seller_fee, _fee(seller_fee), ref
        elif t is OrderAccepted:
            assert isinstance(ev, OrderAccepted)
            yield (available(ev.user_id), held(ev.user_id), ev.hold_asset, ev.hold_minor, "hold",
                   f"order:{ev.order_id}")
        elif t is OrderFilled or t is OrderCancelled or t is OrderExpired:
            assert isinstance(ev, OrderFilled | OrderCancelled | OrderExpired)
            sym = symbols[ev.symbol]
            asset = sym.quote.code if ev.side == BUY else sym.base.code
            yield (held(ev.user_id), available(ev.user_id), asset, ev.released_minor, "release",
                   f"order:{ev.order_id}")
        elif t is OrderAmended:
            assert isinstance(ev, OrderAmended)
            sym = symbols[ev.symbol]
            asset = sym.quote.code if ev.side == BUY else sym.base.code
            yield (available(ev.user_id), held(ev.user_id), asset, ev.hold_delta_minor, "hold",
                   f"order:{ev.order_id}")
        elif t is Deposited:
            assert isinstance(ev, Deposited)
            yield (EXTERNAL, available(ev.user_id), ev.asset, ev.amount_minor, "deposit",
                   f"deposit:{ev.deposit_id}")
        elif t is WithdrawalRequested:
            assert isinstance(ev, WithdrawalRequested)
            yield (available(ev.user_id), held(ev.user_id), ev.asset, ev.amount_minor, "hold",
                   f"withdrawal:{ev.withdrawal_id}")
        elif t is WithdrawalCompleted:
            assert isinstance(ev, WithdrawalCompleted)
            yield (held(ev.user_id), EXTERNAL, ev.asset, ev.amount_minor, "withdrawal",
                   f"withdrawal:{ev.withdrawal_id}")
        elif t is WithdrawalRejected:
            assert isinstance(ev, WithdrawalRejected)
            yield (held(ev.user_id), available(ev.user_id), ev.asset, ev.amount_minor, "release",
                   f"withdrawal:{ev.withdrawal_id}")
        elif t is Transferred:
            assert isinstance(ev, Transferred)
            yield (available(ev.from_user_id), available(ev.to_user_id), ev.asset,
                   ev.amount_minor, "transfer", f"transfer:{ev.transfer_id}")
        elif t is BalanceAdjusted:
            assert isinstance(ev, BalanceAdjusted)
            yield (EXTERNAL, available(ev.user_id), ev.asset, ev.amount_minor, "adjustment",
                   f"adjustment:{ev.adjustment_id}")
        elif t is AdPosted:
            assert isinstance(ev, AdPosted)
            yield (available(ev.user_id), ESCROW, ev.asset, ev.escrow_minor, "escrow",
                   f"ad:{ev.ad_id}")
        elif t is AdChanged:
            assert isinstance(ev, AdChanged)
            yield (ESCROW, available(ev.user_id), ev.asset, ev.escrow_returned_minor,
                   "escrow_return", f"ad:{ev.ad_id}")
        elif t is P2PTradeOpened:
            assert isinstance(ev, P2PTradeOpened)
            yield (available(ev.seller_id), ESCROW, ev.asset, ev.escrow_from_seller_minor,
                   "escrow", f"p2p:{ev.trade_id}")
        elif t is P2PTradeChanged:
            assert isinstance(ev, P2PTradeChanged)
            ref = f"p2p:{ev.trade_id}"
            yield ESCROW, available(ev.buyer_id), ev.asset, ev.to_buyer_minor, "p2p_release", ref
            yield ESCROW, FEES, ev.asset, ev.fee_minor, "p2p_fee", ref
            yield (ESCROW, available(ev.seller_id), ev.asset, ev.to_seller_minor,
                   "escrow_return", ref)


def _fee(amount: int) -> str:
    return "fee" if amount >= 0 else "rebate"


def engine_balances(engine_accounts: dict[int, tuple[dict[str, int], dict[str, int]]],
                    fees: dict[str, int], external: dict[str, int],
                    escrow: dict[str, int] | None = None) -> dict[tuple[str, str], int]:
    """The engine's balances in ledger form, to compare with ``balances(entries)``."""
    out: dict[tuple[str, str], int] = {}
    for uid, (avail, hold) in engine_accounts.items():
        out.update({(available(uid), a): v for a, v in avail.items() if v})
        out.update({(held(uid), a): v for a, v in hold.items() if v})
    out.update({(FEES, a): v for a, v in fees.items() if v})
    out.update({(EXTERNAL, a): v for a, v in external.items() if v})
    out.update({(ESCROW, a): v for a, v in (escrow or {}).items() if v})
    return out
