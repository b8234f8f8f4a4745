"""Features of ``ML.md``, computed per session with numpy, vectorised and causal.

Every feature of the row for event ``n`` is a function of the book rows ``<= n`` and the
messages with ``seq <= n`` of the same session only (a rolling window looks back, never
forward); ``tests/ml/test_features.py`` checks it by cutting the data after ``n``.

Only the columns in ``BOOK_INPUTS`` and ``MESSAGE_INPUTS`` are read: anything else a
source carries (a simulator's agent ids or fundamental value) cannot reach a feature.

Prices are in ticks; a mid is kept exactly as ``mid2 = bid + ask`` (half-ticks) until a
feature divides it. Sizes enter only as ratios (imbalances) or normalised by the
average visible depth of the same window, so sessions with different depths compare.

Features (``FEATURES``):

* ``spread``: ask1 - bid1, ticks;
* ``qi_1``: (bq1 - aq1) / (bq1 + aq1), the queue imbalance at level 1;
* ``di_3``, ``di_5``, ``di_10``: the same over the total depth of levels 1..k;
* ``micro_minus_mid``: (bid1 aq1 + ask1 bq1) / (bq1 + aq1) - mid, ticks;
* ``ofi_1_w``: level-1 order-flow imbalance (Cont, Kukanov and Stoikov) summed over the
  last w = 10, 50, 100 events, divided by the window's mean level-1 depth;
* ``mlofi_w``: the same summed over levels 1..5 (multi-level OFI), divided by the mean
  depth of levels 1..5;
* ``tv_w``: signed traded volume (buyer-initiated positive) over w events, divided by
  the window's mean level-1 depth;
* ``dmid_1``, ``dmid_10``, ``dmid_50``: mid change over the last 1, 10, 50 events, ticks;
* ``last_move``: sign of the last mid change (0 before the first);
* ``rv_50``, ``rv_100``: realised volatility, sqrt of the sum of squared mid changes;
* ``intensity_50``: log(1 + events per second) over the last 50 events;
* ``since_move``: log(1 + seconds since the last mid change).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from matchbook.ml.schema import BOOK_FILE, MESSAGES_FILE, DataError, Dataset, Event, read_meta

WINDOWS = (10, 50, 100)
OFI_LEVELS = 5
# prices of levels 1..5 (the OFI's), sizes of levels 1..10 (the depth imbalances)
BOOK_INPUTS = ("session", "seq", "ts_ns", "halted", *(
    f"{side}_px_{i}" for i in range(1, OFI_LEVELS + 1) for side in ("bid", "ask")), *(
    f"{side}_qty_{i}" for i in range(1, 11) for side in ("bid", "ask")))
MESSAGE_INPUTS = ("session", "seq", "event", "qty_lots", "aggressor")

FEATURES: tuple[str, ...] = (
    "spread", "qi_1", "di_3", "di_5", "di_10", "micro_minus_mid",
    *(f"ofi_1_{w}" for w in WINDOWS), *(f"mlofi_{w}" for w in WINDOWS),
    *(f"tv_{w}" for w in WINDOWS),
    "dmid_1", "dmid_10", "dmid_50", "last_move", "rv_50", "rv_100", "intensity_50",
    "since_move",
)


@dataclass(slots=True)
class SessionArrays:
    """One session's rows (every book row, valid or not) and what labels need."""

    session: str
    seq: np.ndarray  # int64
    ts_ns: np.ndarray  # int64
    valid: np.ndarray  # bool: two-sided book, not halted
    mid2: np.ndarray  # int64 bid + ask (half-ticks), carried forward over invalid rows
    spread: np.ndarray  # int64 ticks (0 where invalid)
    features: np.ndarray  # float32 (rows, len(FEATURES))


def _roll_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Sum of the last ``w`` values including the current one (fewer at the start)."""
    cs = np.cumsum(x, dtype=np.float64)
    out = cs.copy()
    out[w:] -= cs[:-w]
    return out


def _lag_diff(x: np.ndarray, w: int) -> np.ndarray:
    """x[n] - x[n - w] (x[n] - x[0] for the first w rows)."""
    out = np.empty_like(x, dtype=np.float64)
    out[w:] = x[w:] - x[:-w]
    out[:w] = x[:w] - x[0]
    return out


def _ffill_index(mask: np.ndarray) -> np.ndarray:
    """For each row, the index of the last row <= it where ``mask`` holds (-1: none)."""
    idx = np.where(mask, np.arange(mask.size), -1)
    np.maximum.accumulate(idx, out=idx)
    return idx


def level_ofi(bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray,
              ask_qty: np.ndarray) -> np.ndarray:
    """Per-event order-flow imbalance at one level (Cont, Kukanov and Stoikov 2014):
    ``e_n = bq_n 1[pb_n >= pb_{n-1}] - bq_{n-1} 1[pb_n <= pb_{n-1}]
    - aq_n 1[pa_n <= pa_{n-1}] + aq_{n-1} 1[pa_n >= pa_{n-1}]``; e_0 = 0. A missing
    level (price 0) is a bid at -inf or an ask at +inf with size 0."""
    big = np.iinfo(np.int64).max
    pa = np.where(ask_px > 0, ask_px, big)
    pb = bid_px
    e = np.zeros(bid_px.size, dtype=np.float64)
    if bid_px.size < 2:
        return e
    pb0, pb1, qb0, qb1 = pb[:-1], pb[1:], bid_qty[:-1], bid_qty[1:]
    pa0, pa1, qa0, qa1 = pa[:-1], pa[1:], ask_qty[:-1], ask_qty[1:]
    e[1:] = (qb1 * (pb1 >= pb0) - qb0 * (pb1 <= pb0)
             - qa1 * (pa1 <= pa0) + qa0 * (pa1 >= pa0))
    return e


def session_arrays(book: Any, flow: Any, session: str) -> SessionArrays:
    """Features of one session's book rows (sorted by seq) and per-seq message flow
    (``seq``, ``signed_volume``): polars frames, or mappings of column name to numpy
    array (the live feed of a backtest)."""
    col = {c: np.asarray(book[c]) for c in BOOK_INPUTS if c != "session"}
    n = col["seq"].size
    seq = col["seq"].astype(np.int64)
    ts = col["ts_ns"].astype(np.int64)
    bid1, ask1 = col["bid_px_1"].astype(np.int64), col["ask_px_1"].astype(np.int64)
    bq1, aq1 = col["bid_qty_1"].astype(np.float64), col["ask_qty_1"].astype(np.float64)
    valid = (bid1 > 0) & (ask1 > 0) & (bq1 > 0) & (aq1 > 0) & ~col["halted"].astype(bool)
    last_valid = _ffill_index(valid)
    raw_mid2 = bid1 + ask1
    mid2 = np.where(last_valid >= 0, raw_mid2[np.maximum(last_valid, 0)], 0)
    spread = np.where(valid, ask1 - bid1, 0)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    f = {name: i for i, name in enumerate(FEATURES)}

    with np.errstate(divide="ignore", invalid="ignore"):
        depth1 = bq1 + aq1
        qi1 = np.where(valid, (bq1 - aq1) / depth1, 0.0)
        out[:, f["spread"]] = spread
        out[:, f["qi_1"]] = qi1
        for k in (3, 5, 10):
            bsum = sum(col[f"bid_qty_{i}"].astype(np.float64) for i in range(1, k + 1))
            asum = sum(col[f"ask_qty_{i}"].astype(np.float64) for i in range(1, k + 1))
            out[:, f[f"di_{k}"]] = np.where(valid, (bsum - asum) / (bsum + asum), 0.0)
        micro = (bid1 * aq1 + ask1 * bq1) / depth1
        out[:, f["micro_minus_mid"]] = np.where(valid, micro - raw_mid2 / 2.0, 0.0)

        e1 = level_ofi(bid1, col["bid_qty_1"], ask1, col["ask_qty_1"])
        em = e1.copy()
        depth_m = depth1.copy()
        for i in range(2, OFI_LEVELS + 1):
            em += level_ofi(col[f"bid_px_{i}"], col[f"bid_qty_{i}"], col[f"ask_px_{i}"],
                            col[f"ask_qty_{i}"])
            depth_m += col[f"bid_qty_{i}"] + col[f"ask_qty_{i}"]
        flow_seq = np.asarray(flow["seq"])
        signed = np.zeros(n, dtype=np.float64)
        if flow_seq.size:
            pos = np.searchsorted(seq, flow_seq)
            keep = (pos < n) & (seq[np.minimum(pos, n - 1)] == flow_seq)
            signed[pos[keep]] = np.asarray(flow["signed_volume"])[keep]
        for w in WINDOWS:
            mean_d1 = np.maximum(_roll_sum(depth1, w) / np.minimum(np.arange(1, n + 1), w) / 2,
                                 1.0)
            mean_dm = np.maximum(_roll_sum(depth_m, w) / np.minimum(np.arange(1, n + 1), w)
                                 / 2, 1.0)
            out[:, f[f"ofi_1_{w}"]] = _roll_sum(e1, w) / mean_d1
            out[:, f[f"mlofi_{w}"]] = _roll_sum(em, w) / mean_dm
            out[:, f[f"tv_{w}"]] = _roll_sum(signed, w) / mean_d1

        mid = mid2 / 2.0
        dmid = np.zeros(n)
        dmid[1:] = np.diff(mid)
        dmid[(last_valid < 0)] = 0.0
        out[:, f["dmid_1"]] = dmid
        out[:, f["dmid_10"]] = _lag_diff(mid, 10)
        out[:, f["dmid_50"]] = _lag_diff(mid, 50)
        moved = dmid != 0
        last_move_idx = _ffill_index(moved)
        out[:, f["last_move"]] = np.where(last_move_idx >= 0,
                                          np.sign(dmid[np.maximum(last_move_idx, 0)]), 0.0)
        sq = dmid * dmid
        out[:, f["rv_50"]] = np.sqrt(_roll_sum(sq, 50))
        out[:, f["rv_100"]] = np.sqrt(_roll_sum(sq, 100))
        span = _lag_diff(ts.astype(np.float64), 50) / 1e9
        events = np.minimum(np.arange(n), 50)
        out[:, f["intensity_50"]] = np.log1p(np.where(span > 0, events / span, 0.0))
        since = (ts - np.where(last_move_idx >= 0, ts[np.maximum(last_move_idx, 0)], ts[0]))
        out[:, f["since_move"]] = np.log1p(since / 1e9)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return SessionArrays(session, seq, ts, valid, mid2, spread, out)


def _trades() -> pl.Expr:
    return (pl.col("event") == int(Event.EXECUTE)) | (
        pl.col("event") == int(Event.EXECUTE_HIDDEN))


def _flow(messages: pl.LazyFrame) -> pl.LazyFrame:
    return (messages.select(MESSAGE_INPUTS).filter(_trades())
            .group_by("session", "seq")
            .agg((pl.col("qty_lots") * pl.col("aggressor").cast(pl.Int64)).sum()
                 .alias("signed_volume")))


def message_flow(messages: pl.DataFrame) -> pl.DataFrame:
    """Per (session, seq): signed traded volume (visible and hidden executions; the
    aggressor's sign)."""
    return _flow(messages.lazy()).collect()


_NO_FLOW = pl.DataFrame({"seq": [], "signed_volume": []},
                        schema={"seq": pl.Int64, "signed_volume": pl.Int64})


def _arrays(name: str, book: pl.DataFrame, flow: pl.DataFrame | None) -> SessionArrays:
    if not book["seq"].is_sorted():
        book = book.sort("seq")
    return session_arrays(book, (_NO_FLOW if flow is None else flow).sort("seq"), name)


def iter_sessions(source: Dataset | str | Path) -> Iterator[SessionArrays]:
    """Feature arrays of every session, one at a time, in the order the meta lists them.

    ``source`` is a ``Dataset`` in memory, or a data set directory (or a directory of
    them) read one data set and one session at a time: only the book columns features
    use and the executions among the messages are read, so the memory held is one
    session's book plus the features already yielded (what the caller keeps)."""
    if isinstance(source, Dataset):
        yield from _dataset_sessions(source)
        return
    for d, meta in read_meta(source):
        names = [s.session for s in meta.sessions]
        try:
            book = pl.scan_parquet(d / BOOK_FILE).select(BOOK_INPUTS)
            flow = _flow(pl.scan_parquet(d / MESSAGES_FILE))
            if len(names) <= 1:  # the usual case: one session per directory
                parts = [(book.collect(), flow.collect())]
            else:
                parts = ((book.filter(pl.col("session") == name).collect(),
                          flow.filter(pl.col("session") == name).collect())
                         for name in names)
            for b, f in parts:
                if b.height:
                    yield _arrays(str(b["session"][0]), b, f)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise DataError(d, None, None, f"unreadable data set: {exc}") from exc


def _dataset_sessions(dataset: Dataset) -> Iterator[SessionArrays]:
    book = dataset.book.select(BOOK_INPUTS)
    flow = message_flow(dataset.messages)
    names = book["session"].unique(maintain_order=True).to_list()
    order = [s.session for s in dataset.meta.sessions] or names
    if len(names) == 1:  # one session: no partition (a copy of every column)
        if names[0] in order:
            yield _arrays(names[0], book, flow)
        return
    by_book = book.partition_by("session", as_dict=True, maintain_order=True)
    by_flow = flow.partition_by("session", as_dict=True)
    del book
    for name in order:
        part = by_book.pop((name,), None)
        if part is None or part.height == 0:
            continue
        yield _arrays(name, part, by_flow.get((name,)))


def sessions(source: Dataset | str | Path) -> list[SessionArrays]:
    """Feature arrays of every session (see ``iter_sessions``), in the order the meta
    lists them."""
    return list(iter_sessions(source))
