"""The batch call gives what the same commands give one by one."""

from __future__ import annotations

import numpy as np
import pytest

from matchbook.bench.sim import batch_orders, funded_engine
from matchbook.core.commands import AmendOrder, CancelOrder, PlaceOrder
from matchbook.core.events import BookLevelChanged, OrderRejected, TradeExecuted
from matchbook.sim.batch import AMEND, CANCEL, ORDER_DTYPE, PLACE, apply_batch


def _commands(orders: np.ndarray) -> list[object]:
    out: list[object] = []
    for row in orders:
        if row["action"] == PLACE:
            out.append(PlaceOrder(int(row["user_id"]), "BTC-USD", int(row["side"]),
                                  int(row["order_type"]), qty_lots=int(row["qty_lots"]),
                                  price_ticks=int(row["price_ticks"]), tif=int(row["tif"])))
        elif row["action"] == CANCEL:
            out.append(CancelOrder(int(row["user_id"]), int(row["order_id"])))
        else:
            out.append(AmendOrder(int(row["user_id"]), int(row["order_id"]),
                                  price_ticks=int(row["price_ticks"]),
                                  qty_lots=int(row["qty_lots"])))
    return out


def test_batch_equals_commands_one_by_one() -> None:
    orders = batch_orders(3000, seed=4)
    orders["action"][::37] = AMEND  # some amends too (of whatever they name)
    batched, single = funded_engine(), funded_engine()
    result = apply_batch(batched, "BTC-USD", orders)
    trades = deltas = 0
    codes: list[tuple[int, int]] = []
    seq = single.last_seq
    for i, command in enumerate(_commands(orders)):
        seq += 1
        events = single.apply(seq, int(orders["ts_ns"][i]), command)
        trades += sum(type(e) is TradeExecuted for e in events)
        deltas += sum(type(e) is BookLevelChanged for e in events)
        codes += [(i, e.code) for e in events if type(e) is OrderRejected]
    assert batched.state_hash() == single.state_hash()
    assert result.fill_count == trades > 100
    assert len(result.deltas["row"]) == deltas
    assert list(zip(result.rejects["row"].tolist(), result.rejects["code"].tolist(),
                    strict=True)) == codes
    assert codes
    fills = result.fills
    assert np.all(np.diff(fills["row"]) >= 0) and np.all(np.diff(fills["trade_id"]) > 0)
    assert set(np.unique(fills["aggressor"])) <= {-1, 1}
    placed = orders["action"] == PLACE
    accepted = result.order_ids[placed]
    assert np.all(np.diff(accepted[accepted > 0]) > 0)
    batched._check()


def test_batch_refuses_another_dtype_or_symbol() -> None:
    engine = funded_engine(2)
    with pytest.raises(ValueError, match="ORDER_DTYPE"):
        apply_batch(engine, "BTC-USD", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="symbol"):
        apply_batch(engine, "XXX", np.zeros(3, dtype=ORDER_DTYPE))
    result = apply_batch(engine, "BTC-USD", np.zeros(2, dtype=ORDER_DTYPE))  # action 0
    assert result.rejects["code"].tolist() == [-1, -1]
