"""Operator commands: halts, user suspension, fee tiers and risk limits."""

from __future__ import annotations

from matchbook.core.codes import Code
from matchbook.core.commands import (
    HaltTrading,
    ReinstateUser,
    ResumeTrading,
    SetFeeTier,
    SetRiskLimits,
    SuspendUser,
)
from matchbook.core.events import (
    CancelReason,
    Event,
    FeeTierSet,
    RiskLimitsSet,
    TradingHalted,
    TradingResumed,
    UserReinstated,
    UserSuspended,
)
from matchbook.core.matching import MatchingCore
from matchbook.core.risk import RiskLimits


class Operations(MatchingCore):
    """The operator commands."""

    def _halt(self, c: HaltTrading, out: list[Event]) -> None:
        """Halt one symbol, or all trading. O(1)."""
        if c.symbol and c.symbol not in self.books:
            return self._wallet_reject(0, Code.UNKNOWN_SYMBOL, c, out)
        if c.symbol:
            self.books[c.symbol].halted = True
        else:
            self.halted = True
        out.append(TradingHalted(c.symbol))
        return None

    def _resume(self, c: ResumeTrading, out: list[Event]) -> None:
        """Resume one symbol, or all trading. O(1)."""
        if c.symbol and c.symbol not in self.books:
            return self._wallet_reject(0, Code.UNKNOWN_SYMBOL, c, out)
        if c.symbol:
            self.books[c.symbol].halted = False
        else:
            self.halted = False
        out.append(TradingResumed(c.symbol))
        return None

    def _suspend(self, c: SuspendUser, out: list[Event]) -> None:
        """Suspend a user and cancel every open order of theirs, oldest first. O(k log
        k) for the user's k open orders."""
        if c.user_id <= 0:
            return self._wallet_reject(c.user_id, Code.INVALID_USER, c, out)
        self.suspended.add(c.user_id)
        out.append(UserSuspended(c.user_id))
        for order in sorted(self.user_orders.get(c.user_id, {}).values(), key=lambda o: o.order_id):
            self._remove_open(order, out, CancelReason.SUSPENDED)
        return None

    def _reinstate(self, c: ReinstateUser, out: list[Event]) -> None:
        """Lift a user's suspension. O(1)."""
        if c.user_id <= 0:
            return self._wallet_reject(c.user_id, Code.INVALID_USER, c, out)
        if c.user_id not in self.suspended:
            return self._wallet_reject(c.user_id, Code.USER_NOT_SUSPENDED, c, out)
        self.suspended.discard(c.user_id)
        out.append(UserReinstated(c.user_id))
        return None

    def _set_tier(self, c: SetFeeTier, out: list[Event]) -> None:
        """Set a user's fee tier (orders placed later pay its rates). O(1)."""
        if c.user_id <= 0:
            return self._wallet_reject(c.user_id, Code.INVALID_USER, c, out)
        if c.tier and c.tier not in self._tiers:
            return self._wallet_reject(c.user_id, Code.UNKNOWN_FEE_TIER, c, out)
        self._account(c.user_id).tier = c.tier
        out.append(FeeTierSet(c.user_id, c.tier))
        return None

    def _set_limits(self, c: SetRiskLimits, out: list[Event]) -> None:
        """Replace the risk limits. O(assets with a position limit)."""
        limits = RiskLimits(c.max_open_orders, dict(c.position_limits))
        if len(limits.position_limits_minor) != len(c.position_limits) or (
                not limits.valid_for(self.markets)):  # an asset twice, or out of bounds
            return self._wallet_reject(0, Code.INVALID_RISK_LIMITS, c, out)
        self._use_limits(limits)
        out.append(RiskLimitsSet(c.max_open_orders, tuple(sorted(c.position_limits))))
        return None
