"""Ack latencies observed a batch at a time fill the histogram as one ``observe`` each."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from matchbook.runtime.metrics import LATENCY, observe_all

BOUNDS = LATENCY._upper_bounds[:-1]  # the finite ones: values on a bound go into it


def _pair() -> tuple[Histogram, Histogram]:
    made = []
    for _ in range(2):
        made.append(Histogram("h", "latency", buckets=BOUNDS, registry=CollectorRegistry()))
    return made[0], made[1]


def _samples(h: Histogram) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("le", "")): s.value for family in h.collect()
            for s in family.samples if not s.name.endswith("_created")}


@given(st.lists(st.one_of(st.sampled_from([0.0, *BOUNDS, 5.0]),
                          st.floats(0, 2, allow_nan=False)), max_size=80), st.integers(1, 4))
def test_a_batch_fills_the_buckets_as_one_observe_each(amounts: list[float],
                                                       batches: int) -> None:
    one_by_one, batched = _pair()
    for amount in amounts:
        one_by_one.observe(amount)
    size = max(1, len(amounts) // batches)
    for start in range(0, len(amounts), size):
        observe_all(batched, amounts[start:start + size])
    expected, got = _samples(one_by_one), _samples(batched)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if key[0].endswith("_sum"):
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15)
        else:
            assert got[key] == value, key


def test_the_counters_count_every_batch() -> None:
    """Commands by type, trades by symbol and rejections by code, over batches that
    repeat and add labels (each counter's child is looked up once, then remembered)."""
    from matchbook.core import CancelOrder, PlaceOrder
    from matchbook.core.commands import BUY, LIMIT
    from matchbook.core.events import OrderRejected, TradeExecuted
    from matchbook.runtime.consumer import Batch
    from matchbook.runtime.metrics import COMMANDS, REJECTS, TRADES, Metrics

    def value(counter: object, label: str) -> float:
        return counter.labels(label)._value.get()  # type: ignore[attr-defined]

    place = PlaceOrder(1, "BTC-USD", BUY, LIMIT, qty_lots=1, price_ticks=1)
    trade = TradeExecuted(trade_id=1, symbol="ETH-USD", price_ticks=5, qty_lots=1,
                          aggressor_side=BUY, maker_order_id=1, taker_order_id=2,
                          maker_user_id=3, taker_user_id=4, notional_minor=5, base_minor=1,
                          maker_fee_minor=0, taker_fee_minor=0)
    rejected = OrderRejected(user_id=1, code=1017, message="no", client_order_id="",
                             order_id=0)
    before = (value(COMMANDS, "PlaceOrder"), value(COMMANDS, "CancelOrder"),
              value(TRADES, "ETH-USD"), value(REJECTS, "1017"))
    metrics = Metrics(None, None, [])  # type: ignore[arg-type]
    for records in ([(1, 1, place, [trade, trade])],
                    [(2, 1, place, [rejected]), (3, 1, CancelOrder(1, 9), [])],
                    [(4, 1, place, [trade]), (5, 1, place, [rejected])]):
        metrics.consume(Batch(records, [0] * len(records), 10**6))
    after = (value(COMMANDS, "PlaceOrder"), value(COMMANDS, "CancelOrder"),
             value(TRADES, "ETH-USD"), value(REJECTS, "1017"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [4, 1, 3, 2]
