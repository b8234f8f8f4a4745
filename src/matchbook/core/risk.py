"""Risk: the shape of an order, risk limits, the market-order protection band."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from matchbook.core.accounts import Account
from matchbook.core.codes import Code
from matchbook.core.commands import (
    BUY,
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    STP_DECREMENT,
    PlaceOrder,
)
from matchbook.core.symbols import MAX_UNITS, Markets, Symbol


class _Open(Protocol):
    """What the position check reads of an open order."""

    side: int
    symbol: str
    leaves: int


class _Book(Protocol):
    """What the position check reads of a book."""

    symbol: Symbol


MAX_TICKS = 10**15  # no price or quantity beyond this is plausible; bounds int growth


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Per-user limits checked before matching.

    ``position_limits_minor``: per asset, the most a user may own of it (available +
    held + what their open buy orders would still bring), in minor units.
    """

    max_open_orders: int = 1000
    position_limits_minor: Mapping[str, int] = field(default_factory=dict)

    def valid_for(self, markets: Markets) -> bool:
        """A positive open-order limit, and positive position limits of known assets
        (what ``SetRiskLimits`` accepts)."""
        return 0 < self.max_open_orders < MAX_UNITS and all(
            asset in markets.assets and 0 < amount < MAX_UNITS
            for asset, amount in self.position_limits_minor.items())


def check_shape(c: PlaceOrder, sym: Symbol, now_ts: int) -> int:
    """The precise code for an order that is not an everyday limit or market order
    (or is malformed); ``Code.OK`` if it is valid. ``now_ts``: the time of the last
    command (a GTD order must expire later). O(1)."""
    side, otype, qty, price, tif = c.side, c.order_type, c.qty_lots, c.price_ticks, c.tif
    stop, display = c.stop_price_ticks, c.display_lots
    if c.user_id <= 0:
        return Code.INVALID_USER
    if side != BUY and side != SELL:
        return Code.INVALID_SIDE
    if otype == LIMIT or otype == STOP_LIMIT:
        if not 0 < price < MAX_TICKS:
            return Code.INVALID_PRICE
        if tif != GTC and tif != IOC and tif != FOK and tif != GTD:
            return Code.INVALID_TIME_IN_FORCE
    elif otype == MARKET or otype == STOP_MARKET:
        if price != 0:
            return Code.INVALID_PRICE
        if tif != GTC and tif != IOC and tif != FOK:
            return Code.INVALID_TIME_IN_FORCE
    else:
        return Code.INVALID_ORDER_TYPE
    is_stop = otype == STOP_LIMIT or otype == STOP_MARKET
    if is_stop != (stop > 0) or not 0 <= stop < MAX_TICKS:
        return Code.INVALID_STOP_PRICE
    if c.quote_amount_minor:
        if otype != MARKET or side != BUY or qty != 0 or c.quote_amount_minor < 0:
            return Code.INVALID_QUOTE_QUANTITY
        if c.quote_amount_minor < sym.min_notional_minor:
            return Code.NOTIONAL_TOO_SMALL
    elif not 0 < qty < MAX_TICKS:
        return Code.INVALID_QUANTITY
    if qty and qty < sym.min_qty_lots:
        return Code.QUANTITY_TOO_SMALL
    if qty > sym.max_qty_lots:
        return Code.QUANTITY_TOO_LARGE
    if display and (
        display < 0 or display >= qty or (otype != LIMIT and otype != STOP_LIMIT)
        or (tif != GTC and tif != GTD)
    ):
        return Code.INVALID_DISPLAY_QUANTITY
    if c.post_only and (otype != LIMIT or (tif != GTC and tif != GTD)):
        return Code.INVALID_ORDER_TYPE
    if (tif == GTD) != (c.expire_ts_ns > 0) or c.expire_ts_ns < 0:
        return Code.INVALID_EXPIRY
    if tif == GTD and c.expire_ts_ns <= now_ts:
        return Code.EXPIRED_ON_ARRIVAL
    if not 0 < c.stp <= STP_DECREMENT:
        return Code.INVALID_STP_MODE
    coid = c.client_order_id
    if coid and (len(coid) > 64 or not coid.isprintable()):
        return Code.INVALID_CLIENT_ORDER_ID
    return Code.OK


def within_position_limit(
    limits: Mapping[str, int], books: Mapping[str, _Book], mine: Mapping[int, _Open] | None,
    account: Account, sym: Symbol, qty: int,
) -> bool:
    """Owned base + base still to come from the user's open buys (``mine``) + ``qty``
    more lots <= the position limit of the base asset. O(user's open orders); callers
    only run it when some asset has a limit."""
    limit = limits.get(sym.base.code)
    if limit is None:
        return True
    base = sym.base.code
    i = account.slots[base]
    owned = account.balances[i] + account.balances[i + 1]
    pending = sum(o.leaves * books[o.symbol].symbol.base_per_lot
                  for o in (mine.values() if mine is not None else ())
                  if o.side == BUY and books[o.symbol].symbol.base.code == base)
    return owned + pending + qty * sym.base_per_lot <= limit


def band_price(price: int, side: int, bps: int) -> int:
    """The worst price a market order may reach from ``price``: up for buys (rounded
    down to a tick), down for sells (rounded up), never below one tick."""
    if side == BUY:
        return price * (10_000 + bps) // 10_000
    return max(1, -(-price * (10_000 - bps) // 10_000))


__all__ = ["MAX_TICKS", "RiskLimits", "band_price", "check_shape", "within_position_limit"]
