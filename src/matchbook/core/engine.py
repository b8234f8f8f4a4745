"""The engine: one deterministic state machine for every symbol, balance and order.

``Engine.apply(seq, ts_ns, command) -> list[Event]`` is the only way state changes.
The pipeline for a new order reads top to bottom in ``_place_any``::

    validate shape -> risk checks -> hold funds -> accept -> match (settle each fill)
    -> rest or cancel the remainder -> release the unused hold -> trigger stops

The everyday order (a plain limit or market order, GTC or IOC) takes a short path,
``_place``, that runs the same steps with fewer tests and hands every other order, and
every order it would reject, to ``_place_any``.

Nothing here reads a clock, a file, the network or a random source: the sequencer's
``seq`` and ``ts_ns`` come in with each command. Rejections are result codes
(``matchbook.core.codes``), never exceptions; a rejected command changes nothing.

Money: prices are ticks, quantities lots, balances minor units, all ``int``. Fees are
charged in the quote asset (the buyer pays notional + fee, the seller receives
notional - fee), truncated toward zero to a whole minor unit, so rounding always
favours the user and the hold of a buy order (notional at its limit plus the largest
fee rate) always covers its fills. A negative maker rate is a rebate paid from the
fee account. An order pays the rates of its user's tier at the time it was placed.

See ``docs/engine.md`` for the full semantics of every order type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from matchbook.core.accounts import Account
from matchbook.core.book import Order
from matchbook.core.commands import (
    AdjustBalance,
    AdvanceTime,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    HaltTrading,
    PlaceOrder,
    ReinstateUser,
    RejectWithdrawal,
    RequestWithdrawal,
    ResumeTrading,
    SetFeeTier,
    SetRiskLimits,
    SuspendUser,
    Transfer,
)
from matchbook.core.events import (
    Event,
)
from matchbook.core.matching import MatchingCore
from matchbook.core.operations import Operations
from matchbook.core.p2p import P2PDesk
from matchbook.core.persistence import Persistence
from matchbook.core.risk import MAX_TICKS, RiskLimits
from matchbook.core.symbols import Markets
from matchbook.core.wallets import Wallets, Withdrawal


class Engine(Wallets, Operations, Persistence, MatchingCore):
    """Every book, order and balance; commands in, events out.

    ``accounts=False`` runs pure matching (no balances, holds or fees), the mode of
    the core's own differential tests and of ``bench engine --no-accounts``.
    """

    def __init__(
        self,
        markets: Markets,
        *,
        accounts: bool = True,
        limits: RiskLimits | None = None,
    ) -> None:
        super().__init__(markets, accounts=accounts, limits=limits)
        self._handlers: dict[type, Callable[[Any, list[Event]], None]] = {
            PlaceOrder: self._place,
            CancelOrder: self._cancel,
            AmendOrder: self._amend,
            CancelAll: self._cancel_all,
            AdvanceTime: lambda c, out: None,
            Deposit: self._deposit,
            CreateAddress: self._create_address,
            RequestWithdrawal: self._request_withdrawal,
            CompleteWithdrawal: self._complete_withdrawal,
            RejectWithdrawal: self._reject_withdrawal,
            Transfer: self._transfer,
            AdjustBalance: self._adjust,
            HaltTrading: self._halt,
            ResumeTrading: self._resume,
            SuspendUser: self._suspend_user,
            ReinstateUser: self._reinstate,
            SetFeeTier: self._set_tier,
            SetRiskLimits: self._set_limits,
        }
        # the P2P escrow desk (core/p2p.py): its handlers in the same table; its next
        # deadline is folded into ``_next_expiry``
        self.p2p = P2PDesk(self)
        self._handlers.update(self.p2p.handlers())

    def _suspend_user(self, c: SuspendUser, out: list[Event]) -> None:
        """Suspend a user: their open orders are cancelled (``Operations._suspend``),
        then, with ``end_p2p_ads``, their P2P ads (``P2PDesk.user_suspended``); their
        P2P trades go on."""
        self._suspend(c, out)
        if c.end_p2p_ads and c.user_id in self.suspended:
            self.p2p.user_suspended(c.user_id, out)

    def balance(self, uid: int, asset: str) -> tuple[int, int]:
        """``(available, held)`` in minor units (0, 0 for an unknown user). O(1)."""
        account = self.accounts.get(uid)
        slot = self._slots.get(asset) if account is not None else None
        if account is None or slot is None:
            return 0, 0
        return account.balances[slot], account.balances[slot + 1]

    def open_orders(self, uid: int, symbol: str = "") -> list[Order]:
        """The user's open orders (resting and pending stops), oldest first."""
        mine = self.user_orders.get(uid, {}).values()
        return sorted((o for o in mine if not symbol or o.symbol == symbol),
                      key=lambda o: o.order_id)

    @property
    def escrow_balances(self) -> dict[str, int]:
        """What P2P escrow holds per asset (sell ads' remaining and live trades)."""
        return self.p2p.escrow

    def escrow_of(self, uid: int) -> Mapping[str, int]:
        """What ``uid`` has in P2P escrow per asset (as a seller). O(1)."""
        return self.p2p.escrow_of(uid)



__all__ = ["MAX_TICKS", "Account", "Engine", "MatchingCore", "RiskLimits", "Withdrawal"]
