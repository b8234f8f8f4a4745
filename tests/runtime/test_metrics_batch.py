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
