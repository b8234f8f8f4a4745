"""Between the API's words and decimal strings and the core's integers and codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from matchbook.api.errors import ApiError
from matchbook.core import Code, GridError, Markets, Symbol
from matchbook.core.book import Order
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
    STP_CANCEL_BOTH,
    STP_CANCEL_NEWEST,
    STP_CANCEL_OLDEST,
    STP_DECREMENT,
)
from matchbook.core.events import (
    CancelReason,
    CommandRejected,
    Event,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
)

SIDES = {"buy": BUY, "sell": SELL}
SIDE_NAMES = {BUY: "buy", SELL: "sell"}
TYPES = {"limit": LIMIT, "market": MARKET, "stop_limit": STOP_LIMIT, "stop_market": STOP_MARKET}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
TIFS = {"gtc": GTC, "ioc": IOC, "fok": FOK, "gtd": GTD}
TIF_NAMES = {v: k for k, v in TIFS.items()}
STPS = {"cancel_newest": STP_CANCEL_NEWEST, "cancel_oldest": STP_CANCEL_OLDEST,
        "cancel_both": STP_CANCEL_BOTH, "decrement_and_cancel": STP_DECREMENT}
REASONS = {int(r): r.name.lower() for r in CancelReason}


def symbol_of(markets: Markets, name: str) -> Symbol:
    try:
        return markets.symbol(name)
    except KeyError:
        raise ApiError(Code.UNKNOWN_SYMBOL, f"Unknown symbol {name!r}.") from None


def ticks(sym: Symbol, value: str | None, field: str) -> int:
    if value is None:
        return 0
    try:
        return sym.price_to_ticks(value)
    except GridError as exc:
        raise ApiError(Code.INVALID_PRICE, f"{field}: {exc}") from None


def lots(sym: Symbol, value: str | None, field: str) -> int:
    if value is None:
        return 0
    try:
        return sym.qty_to_lots(value)
    except GridError as exc:
        raise ApiError(Code.INVALID_QUANTITY, f"{field}: {exc}") from None


def minor(markets: Markets, asset: str, value: str, field: str = "amount") -> int:
    asset_ = markets.assets.get(asset.upper())
    if asset_ is None:
        raise ApiError(Code.UNKNOWN_ASSET, f"Unknown asset {asset!r}.")
    try:
        amount = asset_.to_minor(value)
    except GridError as exc:
        raise ApiError(Code.INVALID_AMOUNT, f"{field}: {exc}") from None
    if amount <= 0:
        raise ApiError(Code.INVALID_AMOUNT, f"{field} must be positive.")
    return amount


def plain(value: Decimal) -> str:
    """Minimal plain decimal: ``Decimal("1.5000") -> "1.5"``, never exponent form."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def accepted(events: list[Event]) -> list[Event]:
    """``events`` of a command the engine accepted; raises the API error (the engine's
    code and sentence) for one it rejected."""
    for ev in events:
        if type(ev) is OrderRejected or type(ev) is CommandRejected:
            assert isinstance(ev, OrderRejected | CommandRejected)
            raise ApiError(ev.code, ev.message)
    return events


def order_view(sym: Symbol, o: Order) -> dict[str, Any]:
    """An open order (resting or waiting stop) as the API shows it."""
    filled = o.qty - o.leaves
    status = "pending_trigger" if o.stop_price else ("partially_filled" if filled else "new")
    return {
        "order_id": str(o.order_id), "client_order_id": o.client_order_id or None,
        "symbol": sym.name, "side": SIDE_NAMES[o.side], "type": TYPE_NAMES[o.order_type],
        "price": sym.format_price(o.price) if o.order_type != MARKET and (
            o.order_type != STOP_MARKET) else None,
        "quantity": sym.format_qty(o.qty), "filled_quantity": sym.format_qty(filled),
        "remaining_quantity": sym.format_qty(o.leaves), "status": status,
        "time_in_force": TIF_NAMES[o.tif], "post_only": o.post_only,
        "stop_price": sym.format_price(o.stop_price) if o.stop_price else None,
        "display_quantity": sym.format_qty(o.display) if o.display else None,
        "expire_time_ns": o.expire_ts or None,
    }


def placed_view(sym: Symbol, events: list[Event]) -> dict[str, Any]:
    """The order as it stood right after the command that placed it, with its fills.

    Built from that command's events alone: the sequencer applies a whole batch before
    any caller resumes, so the live order may already show later commands' fills, or be
    gone because one of them filled it. The acknowledgement must describe this
    command's outcome, which those events hold: a resting order is ``new`` or
    ``partially_filled`` (``pending_trigger`` for a stop), a closed one ``filled``,
    ``cancelled`` or ``expired``. Raises the engine's rejection as ``accepted`` does.
    """
    placed = next(e for e in accepted(events) if type(e) is OrderAccepted)
    assert isinstance(placed, OrderAccepted)
    oid = placed.order_id
    fills = [e for e in events if type(e) is OrderFilled and e.order_id == oid]
    filled = sum(f.qty_lots for f in fills)  # type: ignore[attr-defined]
    leaves = fills[-1].leaves_lots if fills else placed.qty_lots  # type: ignore[attr-defined]
    quantity = placed.qty_lots
    status = ""
    reason = None
    triggered = False
    for e in events:
        if type(e) is OrderTriggered and e.order_id == oid:
            triggered = True
        elif isinstance(e, OrderCancelled) and e.order_id == oid:
            quantity -= e.cancelled_lots if e.leaves_lots else 0  # a decrement shrinks it
            leaves = e.leaves_lots
            if not leaves:
                status, reason = "cancelled", REASONS.get(e.reason)
        elif isinstance(e, OrderExpired) and e.order_id == oid:
            leaves, status, reason = 0, "expired", "expired"
    if not status:
        if leaves == 0:
            status = "filled" if filled else "cancelled"
        elif placed.stop_price_ticks and not triggered:
            status = "pending_trigger"
        else:
            status = "partially_filled" if filled else "new"
    has_price = placed.order_type != MARKET and placed.order_type != STOP_MARKET
    view = {
        "order_id": str(oid), "client_order_id": placed.client_order_id or None,
        "symbol": sym.name, "side": SIDE_NAMES[placed.side],
        "type": TYPE_NAMES[placed.order_type],
        "price": sym.format_price(placed.price_ticks)
        if has_price and placed.price_ticks else None,
        "quantity": sym.format_qty(max(quantity, filled)),
        "filled_quantity": sym.format_qty(filled),
        "remaining_quantity": sym.format_qty(leaves), "status": status,
        "time_in_force": TIF_NAMES[placed.tif], "post_only": placed.post_only,
        "stop_price": sym.format_price(placed.stop_price_ticks)
        if placed.stop_price_ticks else None,
        "display_quantity": sym.format_qty(placed.display_lots)
        if placed.display_lots else None,
        "expire_time_ns": placed.expire_ts_ns or None,
        "cancel_reason": reason,
        "fills": [fill_view(sym, f) for f in fills],  # type: ignore[arg-type]
    }
    return view


def fill_view(sym: Symbol, f: OrderFilled) -> dict[str, Any]:
    return {"trade_id": str(f.trade_id), "price": sym.format_price(f.price_ticks),
            "quantity": sym.format_qty(f.qty_lots), "is_maker": f.is_maker,
            "fee": sym.quote.format(f.fee_minor), "fee_asset": sym.quote.code}
