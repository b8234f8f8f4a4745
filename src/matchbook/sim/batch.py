"""A batch call into the engine: a NumPy structured array of orders in, columnar arrays of
fills, book deltas and rejects out.

``apply_batch(engine, symbol, orders)`` applies each row in order through
``Engine.apply`` (the same checks, holds, matching and settlement as any command) and
returns a ``BatchResult`` of NumPy arrays, each with a ``row`` column naming the order
that caused it. Rows (``ORDER_DTYPE``):

* ``action``: 1 place, 2 cancel (``order_id``), 3 amend (``order_id``, new
  ``price_ticks`` and/or ``qty_lots``, 0 = unchanged);
* ``user_id``, ``side`` (1 buy, 2 sell), ``order_type`` (1 limit, 2 market), ``tif``
  (1 GTC, 2 IOC, 3 FOK), ``price_ticks``, ``qty_lots``, ``order_id``;
* ``ts_ns``: the sequencer time of the row (clamped so that time never goes back).

Use it to drive the matching core from vectorised code (the gym environments' agents,
research loops) without building Python commands by hand.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from matchbook.core import Engine
from matchbook.core.commands import BUY, AmendOrder, CancelOrder, PlaceOrder
from matchbook.core.events import (
    BookLevelChanged,
    OrderAccepted,
    OrderRejected,
    TradeExecuted,
)

PLACE, CANCEL, AMEND = 1, 2, 3

ORDER_DTYPE = np.dtype([
    ("action", np.uint8), ("user_id", np.int64), ("side", np.uint8),
    ("order_type", np.uint8), ("tif", np.uint8), ("price_ticks", np.int64),
    ("qty_lots", np.int64), ("order_id", np.int64), ("ts_ns", np.int64),
])


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Columnar results; every ``*_row`` indexes the input array."""

    order_ids: np.ndarray  # per input row: the new order's id (0: not a place, or rejected)
    fills: dict[str, np.ndarray]  # row, trade_id, price_ticks, qty_lots, aggressor (+1/-1),
    #                               maker_order_id, taker_order_id, maker_user_id, taker_user_id
    deltas: dict[str, np.ndarray]  # row, side, price_ticks, qty_lots, order_count
    rejects: dict[str, np.ndarray]  # row, code

    @property
    def fill_count(self) -> int:
        return len(self.fills["row"])


def empty_orders(n: int) -> np.ndarray:
    """``n`` zeroed rows of ``ORDER_DTYPE``."""
    return np.zeros(n, dtype=ORDER_DTYPE)


def apply_batch(engine: Engine, symbol: str, orders: np.ndarray) -> BatchResult:
    """Apply ``orders`` (``ORDER_DTYPE``) to ``engine`` in row order, with sequence numbers
    following ``engine.last_seq``. O(rows + events). Raises ``ValueError`` for an
    array of another dtype or an unknown symbol; a bad row is rejected by the engine
    (its code is in ``rejects``) and changes nothing."""
    if orders.dtype != ORDER_DTYPE:
        raise ValueError(f"orders must have ORDER_DTYPE, got {orders.dtype}")
    if symbol not in engine.books:
        raise ValueError(f"unknown symbol {symbol}")
    n = len(orders)
    order_ids = np.zeros(n, dtype=np.int64)
    f_row, f_tid, f_px, f_qty, f_agg = (array("q") for _ in range(5))
    f_mo, f_to, f_mu, f_tu = (array("q") for _ in range(4))
    d_row, d_side, d_px, d_qty, d_cnt = (array("q") for _ in range(5))
    r_row, r_code = array("q"), array("q")
    apply = engine.apply
    seq = engine.last_seq
    last_ts = engine.last_ts
    columns = [orders[name].tolist() for name in (
        "action", "user_id", "side", "order_type", "tif", "price_ticks", "qty_lots",
        "order_id", "ts_ns")]
    ids = order_ids  # written per accepted place
    for row, (action, uid, side, otype, tif, price, qty, oid, ts) in enumerate(zip(
            *columns, strict=True)):
        if action == PLACE:
            command: object = PlaceOrder(uid, symbol, side, otype, qty_lots=qty,
                                         price_ticks=price, tif=tif or 1)
        elif action == CANCEL:
            command = CancelOrder(uid, oid)
        elif action == AMEND:
            command = AmendOrder(uid, oid, price_ticks=price, qty_lots=qty)
        else:
            r_row.append(row)
            r_code.append(-1)  # not an action: nothing applied
            continue
        seq += 1
        if ts > last_ts:
            last_ts = ts
        for e in apply(seq, last_ts, command):
            kind = type(e)
            if kind is BookLevelChanged:
                d_row.append(row)
                d_side.append(e.side)
                d_px.append(e.price_ticks)
                d_qty.append(e.qty_lots)
                d_cnt.append(e.order_count)
            elif kind is TradeExecuted:
                f_row.append(row)
                f_tid.append(e.trade_id)
                f_px.append(e.price_ticks)
                f_qty.append(e.qty_lots)
                f_agg.append(1 if e.aggressor_side == BUY else -1)
                f_mo.append(e.maker_order_id)
                f_to.append(e.taker_order_id)
                f_mu.append(e.maker_user_id)
                f_tu.append(e.taker_user_id)
            elif kind is OrderAccepted:
                ids[row] = e.order_id
            elif kind is OrderRejected:
                r_row.append(row)
                r_code.append(e.code)

    def col(a: array) -> np.ndarray:  # type: ignore[type-arg]
        return np.frombuffer(a, dtype=np.int64).copy() if len(a) else np.zeros(0, np.int64)

    return BatchResult(
        order_ids=order_ids,
        fills={"row": col(f_row), "trade_id": col(f_tid), "price_ticks": col(f_px),
               "qty_lots": col(f_qty), "aggressor": col(f_agg), "maker_order_id": col(f_mo),
               "taker_order_id": col(f_to), "maker_user_id": col(f_mu),
               "taker_user_id": col(f_tu)},
        deltas={"row": col(d_row), "side": col(d_side), "price_ticks": col(d_px),
                "qty_lots": col(d_qty), "order_count": col(d_cnt)},
        rejects={"row": col(r_row), "code": col(r_code)},
    )
