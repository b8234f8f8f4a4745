"""Event -> row mapping for the read model: pure code, no I/O.

:class:`RowBuilder` turns records ``(seq, ts_ns, command, events)`` into the rows of one
:class:`RowBatch` (orders, order events, trades, ledger entries with their balance
deltas, wallet addresses, withdrawals, the audit log). It remembers the rows of open
orders and the accounts it has parsed across batches; that memory moves on only when
the caller says the batch was committed (:meth:`RowBuilder.committed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from matchbook.core import Markets
from matchbook.core.commands import STOP_LIMIT, STOP_MARKET
from matchbook.core.events import (
    AddressCreated,
    Applied,
    BookLevelChanged,
    CommandRejected,
    Deposited,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    P2PRejected,
    TradeExecuted,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)
from matchbook.core.ledger import entries as ledger_entries_of
from matchbook.store import schema
from matchbook.store.p2p_rows import P2P_COLUMNS, P2P_EVENTS, P2PBatch, P2PRows

Record = Applied
"""``(seq, ts_ns, command, events)`` of one applied command, as the sequencer hands it."""

_SIDES = schema.SIDES
_TYPES = schema.ORDER_TYPES
_TIFS = schema.TIME_IN_FORCE
_REASONS = schema.CANCEL_REASONS
OPEN = frozenset(schema.OPEN_STATUSES)

# Rows are plain tuples (lists for orders and withdrawals, which later events update)
# with their values in the column order below; every statement names its columns, so
# this order need not be the tables' (a test checks that they hold the same columns).
COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "user_id", "symbol", "side", "type", "price_ticks", "qty_lots",
               "filled_lots", "leaves_lots", "status", "time_in_force", "client_order_id",
               "stop_price_ticks", "display_lots", "post_only", "expire_ts_ns",
               "quote_amount_minor", "filled_notional_minor", "fee_minor", "created_seq",
               "updated_seq", "created_ts_ns", "updated_ts_ns", "cancel_reason"),
    "order_events": ("seq", "event_index", "order_id", "event_type", "status", "qty_lots",
                     "price_ticks", "filled_lots", "leaves_lots", "trade_id", "ts_ns"),
    "trades": ("trade_id", "symbol", "price_ticks", "qty_lots", "aggressor_side",
               "maker_order_id", "taker_order_id", "maker_user_id", "taker_user_id",
               "notional_minor", "base_minor", "maker_fee_minor", "taker_fee_minor", "seq",
               "ts_ns"),
    "ledger": ("seq", "index", "debit", "credit", "asset", "amount_minor", "reason",
               "reference", "debit_user_id", "credit_user_id", "ts_ns"),
    "audit": ("seq", "ts_ns", "user_id", "command_type", "command", "result_code",
              "event_count"),
    "addresses": ("address", "user_id", "asset", "created_seq", "created_ts_ns"),
    "withdrawals": ("withdrawal_id", "user_id", "asset", "amount_minor", "destination",
                    "status", "reason", "requested_seq", "requested_ts_ns", "updated_seq",
                    "updated_ts_ns"),
    "balances": ("user_id", "asset", "available_minor", "held_minor", "updated_seq"),
    "system": ("account", "asset", "balance_minor", "updated_seq"),
    **P2P_COLUMNS,
}
ORDER_COLUMNS = COLUMNS["orders"]
(_O_PRICE, _O_QTY, _O_FILLED, _O_LEAVES, _O_STATUS, _O_NOTIONAL, _O_FEE, _O_UPDATED_SEQ,
 _O_UPDATED_TS, _O_CANCEL_REASON) = (ORDER_COLUMNS.index(name) for name in (
    "price_ticks", "qty_lots", "filled_lots", "leaves_lots", "status",
    "filled_notional_minor", "fee_minor", "updated_seq", "updated_ts_ns", "cancel_reason"))
_W_STATUS, _W_REASON, _W_UPDATED_SEQ, _W_UPDATED_TS = (
    COLUMNS["withdrawals"].index(name)
    for name in ("status", "reason", "updated_seq", "updated_ts_ns"))


@dataclass(slots=True)
class RowBatch:
    """Rows of one batch, ready to write (columns as in ``COLUMNS``)."""

    orders: dict[int, list[Any]] = field(default_factory=dict)
    order_events: list[tuple[Any, ...]] = field(default_factory=list)
    trades: list[tuple[Any, ...]] = field(default_factory=list)
    ledger: list[tuple[Any, ...]] = field(default_factory=list)
    balances: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    system: dict[tuple[str, str], int] = field(default_factory=dict)
    addresses: list[tuple[Any, ...]] = field(default_factory=list)
    withdrawals: dict[int, list[Any]] = field(default_factory=dict)
    withdrawal_updates: list[dict[str, Any]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    p2p: P2PBatch = field(default_factory=P2PBatch)
    last_seq: int = 0
    last_ts_ns: int = 0
    commands: int = 0

    def row_count(self) -> int:
        return (len(self.orders) + len(self.order_events) + len(self.trades)
                + len(self.ledger) + len(self.balances) + len(self.system)
                + len(self.addresses) + len(self.withdrawals) + len(self.withdrawal_updates)
                + len(self.audit) + self.p2p.row_count() + 1)


class RowBuilder:
    """Builds rows from records; holds the rows of open orders written so far."""

    def __init__(self, markets: Markets) -> None:
        self.markets = markets
        self.open_orders: dict[int, list[Any]] = {}  # rows of open orders written so far
        self._accounts: dict[str, tuple[int | None, int]] = {}  # account -> (user, kind)
        self._qptl = {name: s.quote_per_tick_lot for name, s in markets.symbols.items()}
        self.p2p = P2PRows(markets)  # the P2P desk's rows (store/p2p_rows.py)

    def committed(self, b: RowBatch) -> None:
        """``b`` is in the database: remember its open orders, forget its closed ones."""
        open_orders = self.open_orders
        for oid, row in b.orders.items():
            if row[_O_STATUS] in OPEN:
                open_orders[oid] = row
            else:
                open_orders.pop(oid, None)

    def build(self, records: Sequence[Record], loaded: dict[int, list[Any]], b: RowBatch,
               missing: set[int]) -> None:
        """Add the rows of ``records`` to ``b`` (pure: no I/O). Orders whose current row is
        needed but neither in memory nor in ``loaded`` are added to ``missing`` (their
        rows in ``b`` are then placeholders)."""
        orders = b.orders
        open_orders = self.open_orders
        qptl = self._qptl
        markets = self.markets
        order_event = b.order_events.append
        trade = b.trades.append
        audit = b.audit.append
        ledger = self._ledger

        def current(oid: int) -> list[Any]:
            row = orders.get(oid)
            if row is None:
                known = open_orders.get(oid) or loaded.get(oid)
                if known is None:
                    missing.add(oid)
                    known = _placeholder(oid)
                row = orders[oid] = list(known)  # memory moves on after the commit only
            return row

        p2p = self.p2p
        p2p_events = P2P_EVENTS
        for seq, ts, command, events in records:
            code = 0
            has_p2p = False
            ev: Any  # dispatched on its exact type below
            for i, ev in enumerate(events):
                t = type(ev)
                if t is BookLevelChanged:
                    continue
                if t is OrderFilled:
                    row = current(ev.order_id)
                    leaves = ev.leaves_lots
                    status = "filled" if not leaves else "partially_filled"
                    row[_O_FILLED] = ev.filled_lots
                    row[_O_LEAVES] = leaves
                    row[_O_STATUS] = status
                    row[_O_NOTIONAL] += ev.price_ticks * ev.qty_lots * qptl.get(ev.symbol, 0)
                    row[_O_FEE] += ev.fee_minor
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "filled", status, ev.qty_lots,
                                 ev.price_ticks, ev.filled_lots, leaves, ev.trade_id, ts))
                elif t is TradeExecuted:
                    trade((ev.trade_id, ev.symbol, ev.price_ticks, ev.qty_lots,
                           _SIDES.get(ev.aggressor_side, "?"), ev.maker_order_id,
                           ev.taker_order_id, ev.maker_user_id, ev.taker_user_id,
                           ev.notional_minor, ev.base_minor, ev.maker_fee_minor,
                           ev.taker_fee_minor, seq, ts))
                elif t is OrderAccepted:
                    is_stop = ev.order_type == STOP_LIMIT or ev.order_type == STOP_MARKET
                    status = "pending_trigger" if is_stop else "new"
                    orders[ev.order_id] = [
                        ev.order_id, ev.user_id, ev.symbol, _SIDES.get(ev.side, "?"),
                        _TYPES.get(ev.order_type, "?"), ev.price_ticks, ev.qty_lots, 0,
                        ev.qty_lots, status, _TIFS.get(ev.tif, "?"),
                        ev.client_order_id or None, ev.stop_price_ticks, ev.display_lots,
                        ev.post_only, ev.expire_ts_ns, ev.quote_amount_minor, 0, 0, seq, seq,
                        ts, ts, None]
                    order_event((seq, i, ev.order_id, "accepted", status, ev.qty_lots,
                                 ev.price_ticks, 0, ev.qty_lots, None, ts))
                elif t is OrderCancelled:
                    row = current(ev.order_id)
                    leaves = ev.leaves_lots
                    if leaves:  # self-trade decrement: the order shrinks and stays open
                        row[_O_QTY] -= ev.cancelled_lots
                    else:
                        row[_O_STATUS] = "cancelled"
                        row[_O_CANCEL_REASON] = _REASONS.get(ev.reason, str(ev.reason))
                    row[_O_LEAVES] = leaves
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "cancelled", row[_O_STATUS],
                                 ev.cancelled_lots, 0, row[_O_FILLED], leaves, None, ts))
                elif t is OrderAmended:
                    row = current(ev.order_id)
                    row[_O_PRICE] = ev.price_ticks
                    row[_O_QTY] = ev.qty_lots
                    row[_O_LEAVES] = ev.leaves_lots
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "amended", row[_O_STATUS], ev.qty_lots,
                                 ev.price_ticks, row[_O_FILLED], ev.leaves_lots, None, ts))
                elif t is OrderExpired:
                    row = current(ev.order_id)
                    row[_O_STATUS] = "expired"
                    row[_O_LEAVES] = 0
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "expired", "expired", ev.leaves_lots, 0,
                                 row[_O_FILLED], 0, None, ts))
                elif t is OrderTriggered:
                    row = current(ev.order_id)
                    row[_O_STATUS] = "new"
                    row[_O_UPDATED_SEQ] = seq
                    row[_O_UPDATED_TS] = ts
                    order_event((seq, i, ev.order_id, "triggered", "new", 0,
                                 ev.last_price_ticks, row[_O_FILLED], row[_O_LEAVES], None, ts))
                elif t is OrderRejected or t is CommandRejected or t is P2PRejected:
                    code = ev.code
                elif t is AddressCreated:
                    b.addresses.append((ev.address, ev.user_id, ev.asset, seq, ts))
                elif t is WithdrawalRequested:
                    b.withdrawals[ev.withdrawal_id] = [
                        ev.withdrawal_id, ev.user_id, ev.asset, ev.amount_minor,
                        ev.destination, "pending", None, seq, ts, seq, ts]
                elif t is WithdrawalCompleted or t is WithdrawalRejected:
                    status = "completed" if t is WithdrawalCompleted else "rejected"
                    reason = ev.reason if t is WithdrawalRejected else None
                    pending = b.withdrawals.get(ev.withdrawal_id)
                    if pending is not None:
                        pending[_W_STATUS] = status
                        pending[_W_REASON] = reason
                        pending[_W_UPDATED_SEQ] = seq
                        pending[_W_UPDATED_TS] = ts
                    else:
                        b.withdrawal_updates.append({
                            "b_withdrawal_id": ev.withdrawal_id, "status": status,
                            "reason": reason, "updated_seq": seq, "updated_ts_ns": ts})
                elif t in p2p_events:
                    has_p2p = True
            if has_p2p:
                p2p.build(seq, ts, command, events, b.p2p)
            if events:
                ledger(b, seq, ts, ledger_entries_of(seq, events, markets))
            audit(audit_row(seq, ts, command, events, code))

    def _ledger(self, b: RowBatch, seq: int, ts: int, entries: Sequence[Any]) -> None:
        accounts = self._accounts
        balances, system, append = b.balances, b.system, b.ledger.append
        for e in entries:
            debit, credit, asset, amount = e.debit, e.credit, e.asset, e.amount_minor
            debit_user, debit_kind = accounts.get(debit) or _account(accounts, debit)
            credit_user, credit_kind = accounts.get(credit) or _account(accounts, credit)
            append((seq, e.index, debit, credit, asset, amount, e.reason, e.reference,
                    debit_user, credit_user, ts))
            if debit_user is None:
                key = (debit, asset)
                system[key] = system.get(key, 0) - amount
            else:
                pair = balances.get((debit_user, asset))
                if pair is None:
                    pair = balances[(debit_user, asset)] = [0, 0]
                pair[debit_kind] -= amount
            if credit_user is None:
                key = (credit, asset)
                system[key] = system.get(key, 0) + amount
            else:
                pair = balances.get((credit_user, asset))
                if pair is None:
                    pair = balances[(credit_user, asset)] = [0, 0]
                pair[credit_kind] += amount


def _placeholder(oid: int) -> list[Any]:
    row: list[Any] = [0] * len(ORDER_COLUMNS)
    row[0], row[_O_STATUS], row[_O_CANCEL_REASON] = oid, "new", None
    row[ORDER_COLUMNS.index("client_order_id")] = None
    return row


def _account(cache: dict[str, tuple[int | None, int]], name: str) -> tuple[int | None, int]:
    """``user:<id>:available`` -> (id, 0), ``...:held`` -> (id, 1), else (None, 2)."""
    parts = name.split(":")
    parsed: tuple[int | None, int]
    if len(parts) == 3 and parts[0] == "user":
        parsed = (int(parts[1]), 0 if parts[2] == "available" else 1)
    else:
        parsed = (None, 2)
    cache[name] = parsed
    return parsed


_json_encode = msgspec.json.Encoder().encode


def audit_row(seq: int, ts: int, command: Any, events: Sequence[Event],
               code: int) -> tuple[Any, ...]:
    name = type(command).__name__
    try:
        text = _json_encode({"type": name, **msgspec.structs.asdict(command)}).decode()
    except TypeError:
        text = _json_encode({"type": name, "repr": repr(command)}).decode()
    user_id = getattr(command, "user_id", 0) or getattr(command, "admin_id", 0)
    if not user_id:
        for ev in events:  # wallet operations name their user in the event
            if isinstance(ev, Deposited | WithdrawalCompleted | WithdrawalRejected):
                user_id = ev.user_id
                break
    return (seq, ts, user_id or None, name, text, int(code), len(events))
