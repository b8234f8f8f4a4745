"""Features and labels: hand-computed cases, and that nothing looks ahead."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchbook.ml.features import FEATURES, level_ofi, session_arrays, sessions
from matchbook.ml.labels import balanced_threshold, horizon_move, next_mid, three_class
from matchbook.ml.samples import build_samples
from matchbook.ml.schema import (
    BOOK_SCHEMA,
    MESSAGE_SCHEMA,
    Dataset,
    Event,
    Meta,
    SessionInfo,
    level_columns,
)


def book_frame(rows: list[dict[str, int]], session: str = "s", halted: list[bool] | None = None,
               t0: int = 0, step_ns: int = 1_000_000) -> pl.DataFrame:
    n = len(rows)
    data: dict[str, list] = {"session": [session] * n, "seq": list(range(1, n + 1)),
                             "ts_ns": [t0 + i * step_ns for i in range(n)],
                             "halted": halted or [False] * n}
    for c in level_columns():
        data[c] = [r.get(c, 0) for r in rows]
    return pl.DataFrame(data, schema=BOOK_SCHEMA)


def no_flow() -> pl.DataFrame:
    return pl.DataFrame({"seq": [], "signed_volume": []},
                        schema={"seq": pl.Int64, "signed_volume": pl.Int64})


def feat(arrays, name: str) -> np.ndarray:
    return arrays.features[:, FEATURES.index(name)]


def test_queue_imbalance_microprice_spread_by_hand() -> None:
    # bid 100 x 30, ask 102 x 10: qi = (30 - 10) / 40 = 0.5; spread 2 ticks;
    # microprice = (100 * 10 + 102 * 30) / 40 = 101.5; mid 101 -> +0.5 tick
    rows = [dict(bid_px_1=100, bid_qty_1=30, ask_px_1=102, ask_qty_1=10,
                 bid_px_2=99, bid_qty_2=10, ask_px_2=103, ask_qty_2=50)]
    a = session_arrays(book_frame(rows), no_flow(), "s")
    assert feat(a, "qi_1")[0] == pytest.approx(0.5)
    assert feat(a, "spread")[0] == 2
    assert feat(a, "micro_minus_mid")[0] == pytest.approx(0.5)
    # depth over 2 levels is 40 bid vs 60 ask; over 3, 5 and 10 the same (no deeper levels)
    assert feat(a, "di_3")[0] == pytest.approx((40 - 60) / 100)
    assert a.mid2[0] == 202


def test_order_flow_imbalance_by_hand() -> None:
    """Cont-Kukanov-Stoikov e_n for each kind of change at the best quotes."""
    bid_px = np.array([100, 100, 101, 100, 100])
    bid_q = np.array([10, 15, 4, 7, 7])
    ask_px = np.array([102, 102, 102, 102, 101])
    ask_q = np.array([8, 8, 6, 6, 3])
    e = level_ofi(bid_px, bid_q, ask_px, ask_q)
    # 1: bid queue 10 -> 15 at the same price: +5
    # 2: bid improves to 101 x 4: +4; ask queue 8 -> 6 at the same price: +2  => +6
    # 3: bid falls back to 100 x 7: -4 (the old best's 4 is gone); ask same => -4
    # 4: ask improves to 101 x 3: -3
    assert e.tolist() == [0, 5, 6, -4, -3]
    rows = [dict(bid_px_1=b, bid_qty_1=bq, ask_px_1=a, ask_qty_1=aq)
            for b, bq, a, aq in zip(bid_px, bid_q, ask_px, ask_q, strict=True)]
    arr = session_arrays(book_frame(rows), no_flow(), "s")
    # ofi over 10 events at row 4: sum 4, over the mean level-1 depth / 2 of those rows
    mean_half_depth = np.mean(bid_q + ask_q) / 2
    assert feat(arr, "ofi_1_10")[4] == pytest.approx(4 / mean_half_depth, rel=1e-6)


def test_a_missing_level_counts_as_an_emptied_queue() -> None:
    e = level_ofi(np.array([100, 0]), np.array([5, 0]), np.array([101, 101]), np.array([2, 2]))
    assert e.tolist() == [0, -5]


def test_mid_features_and_labels_by_hand() -> None:
    mids2 = [200, 200, 202, 202, 202, 200, 204]  # bid + ask
    rows = [dict(bid_px_1=m // 2 - 1, bid_qty_1=5, ask_px_1=m - m // 2 + 1, ask_qty_1=5)
            for m in mids2]
    a = session_arrays(book_frame(rows), no_flow(), "s")
    assert feat(a, "dmid_1").tolist() == [0, 0, 1, 0, 0, -1, 2]
    assert feat(a, "last_move").tolist() == [0, 0, 1, 1, 1, -1, 1]
    label, end = next_mid(a)
    assert label.tolist() == [1, 1, -1, -1, -1, 1, 0]
    assert end.tolist() == [2, 2, 5, 5, 5, 6, -1]
    move, _end_k, has = horizon_move(a, 2)
    assert move.tolist()[:5] == [1, 1, 0, -1, 1] and has.tolist() == [True] * 5 + [False] * 2
    assert three_class(np.array([-2.0, -0.5, 0.0, 0.5, 2.0]), 0.5).tolist() == [-1, 0, 0, 0, 1]


def test_halted_and_one_sided_rows_are_not_samples() -> None:
    rows = [dict(bid_px_1=100, bid_qty_1=5, ask_px_1=102, ask_qty_1=5),
            dict(bid_px_1=100, bid_qty_1=5),  # one-sided
            dict(bid_px_1=100, bid_qty_1=5, ask_px_1=102, ask_qty_1=5),  # halted
            dict(bid_px_1=101, bid_qty_1=5, ask_px_1=102, ask_qty_1=5)]
    a = session_arrays(book_frame(rows, halted=[False, False, True, False]), no_flow(), "s")
    assert a.valid.tolist() == [True, False, False, True]
    label, end = next_mid(a)
    assert label.tolist() == [1, 0, 0, 0] and end.tolist() == [3, -1, -1, -1]


def test_balanced_threshold_splits_in_thirds() -> None:
    moves = np.array([-3, -2, -1, 0, 0, 0, 1, 2, 3] * 10, dtype=float)
    theta = balanced_threshold(moves)
    shares = np.bincount(three_class(moves, theta) + 1) / moves.size
    assert np.all(np.abs(shares - 1 / 3) < 0.12)


# ----------------------------------------------------------------- causality / leakage


def random_dataset(rng: np.random.Generator, n: int, session: str = "s",
                   extra: bool = False) -> Dataset:
    mid = 10_000 + np.cumsum(rng.integers(-1, 2, n))
    spread = rng.integers(1, 4, n)
    rows = []
    for i in range(n):
        bid = int(mid[i])
        r = {}
        for lvl in range(1, 11):
            r[f"bid_px_{lvl}"] = bid - lvl + 1
            r[f"ask_px_{lvl}"] = bid + int(spread[i]) + lvl - 1
            r[f"bid_qty_{lvl}"] = int(rng.integers(1, 50))
            r[f"ask_qty_{lvl}"] = int(rng.integers(1, 50))
        rows.append(r)
    book = book_frame(rows, session, step_ns=int(rng.integers(1, 10**6)))
    trades = rng.random(n) < 0.3
    seqs = np.flatnonzero(trades) + 1
    msgs = pl.DataFrame({
        "session": [session] * seqs.size, "seq": seqs, "ts_ns": seqs * 1000,
        "event": [int(Event.EXECUTE)] * seqs.size, "order_id": seqs,
        "side": rng.choice([-1, 1], seqs.size), "price_ticks": mid[seqs - 1],
        "qty_lots": rng.integers(1, 10, seqs.size),
        "aggressor": rng.choice([-1, 1], seqs.size), "predates": [False] * seqs.size},
        schema=MESSAGE_SCHEMA)
    if extra:  # what a simulator knows and a market participant does not
        msgs = msgs.with_columns(agent_id=pl.lit(7), fundamental=pl.lit(123.0))
        book = book.with_columns(fundamental=pl.lit(99.0), agent_type=pl.lit("informed"))
    meta = Meta("test", "X", "0.01", "1", [SessionInfo(session)])
    return Dataset(msgs, book, meta)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), cut=st.integers(5, 195))
def test_no_feature_uses_information_from_after_its_event(seed: int, cut: int) -> None:
    rng = np.random.default_rng(seed)
    full = random_dataset(rng, 200)
    whole = sessions(full)[0].features
    truncated = Dataset(full.messages.filter(pl.col("seq") <= cut),
                        full.book.filter(pl.col("seq") <= cut), full.meta)
    part = sessions(truncated)[0].features
    np.testing.assert_array_equal(whole[:cut], part)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), label=st.sampled_from(["next-mid", "k10", "k50-spread"]))
def test_no_label_uses_information_from_after_its_end(seed: int, label: str) -> None:
    """Each label depends on the events up to its recorded end and no further: changing
    every book row after a sample's end leaves its label unchanged (so purging at
    ``end`` is enough), and no label ends before its own event."""
    rng = np.random.default_rng(seed)
    ds = random_dataset(rng, 300)
    s = build_samples(ds, label)
    if not len(s):
        return
    assert np.all(s.end > s.index)
    pick = int(rng.integers(0, len(s)))
    end_seq = int(s.end[pick]) + 1  # rows are seq 1..n
    noise = random_dataset(np.random.default_rng(seed + 1), 300)
    later = pl.col("seq") > end_seq
    book = pl.concat([ds.book.filter(~later), noise.book.filter(later)])
    changed = Dataset(ds.messages, book, ds.meta)
    s2 = build_samples(changed, label)
    at = np.flatnonzero(s2.index == s.index[pick])
    assert at.size == 1
    if label.startswith("k") and not label.endswith("spread"):
        assert s2.move[at[0]] == s.move[pick]
    else:
        assert s2.y[at[0]] == s.y[pick]


def test_simulator_only_fields_never_reach_features() -> None:
    plain = random_dataset(np.random.default_rng(5), 150)
    rich = random_dataset(np.random.default_rng(5), 150, extra=True)
    a, b = build_samples(plain), build_samples(rich)
    np.testing.assert_array_equal(a.X, b.X)
    assert not {"agent_id", "agent_type", "fundamental"} & set(a.feature_names)


def test_features_of_sessions_do_not_mix() -> None:
    rng = np.random.default_rng(3)
    one = random_dataset(rng, 120, "a")
    two = random_dataset(rng, 120, "b")
    both = Dataset(pl.concat([one.messages, two.messages]), pl.concat([one.book, two.book]),
                   Meta("t", "X", "0.01", "1", [SessionInfo("a"), SessionInfo("b")]))
    np.testing.assert_array_equal(sessions(both)[1].features, sessions(two)[0].features)


def test_samples_read_from_disk_one_session_at_a_time_equal_those_in_memory(
        tmp_path) -> None:
    """``build_samples(directory)`` reads one data set (and one session) at a time and
    only the columns features use: the samples are those of the data set in memory."""
    from matchbook.ml.schema import write_dataset

    rng = np.random.default_rng(11)
    parts = [random_dataset(rng, 150, name) for name in ("a", "b", "c")]
    both = Dataset(pl.concat([p.messages for p in parts[:2]]),
                   pl.concat([p.book for p in parts[:2]]),
                   Meta("t", "X", "0.01", "1", [SessionInfo("a", "calm"),
                                                 SessionInfo("b", "volatile")]))
    write_dataset(tmp_path / "1-ab", both)  # two sessions in one directory
    third = parts[2]
    third.meta.sessions[0].regime = "calm"
    write_dataset(tmp_path / "2-c", third)
    memory = Dataset(pl.concat([p.messages for p in parts]), pl.concat([p.book for p in parts]),
                     Meta("t", "X", "0.01", "1", [SessionInfo("a", "calm"),
                                                   SessionInfo("b", "volatile"),
                                                   SessionInfo("c", "calm")]))
    for label in ("next-mid", "k10"):
        disk, mem = build_samples(tmp_path, label), build_samples(memory, label)
        assert disk.session_names == mem.session_names == ["a", "b", "c"]
        assert disk.regimes == mem.regimes
        np.testing.assert_array_equal(disk.X, mem.X)
        np.testing.assert_array_equal(disk.y, mem.y)
        np.testing.assert_array_equal(disk.session, mem.session)
        np.testing.assert_array_equal(disk.end, mem.end)
