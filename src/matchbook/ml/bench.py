"""``matchbook ml bench``: how long features and labels of N events take, and how much
memory, on a synthetic random-walk book (or a given data set)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from matchbook.ml.samples import build_samples
from matchbook.ml.schema import (
    BOOK_SCHEMA,
    LEVELS,
    MESSAGE_SCHEMA,
    Dataset,
    Event,
    Meta,
    SessionInfo,
    read_dataset,
)


def synthetic_dataset(events: int, seed: int = 0) -> Dataset:
    """One session of ``events`` book rows: a random-walk best bid, a 1..3-tick spread,
    random queues on 10 levels a side, a trade on a third of the rows."""
    rng = np.random.default_rng(seed)
    bid = 1_000_000 + np.cumsum(rng.integers(-1, 2, events))
    spread = rng.integers(1, 4, events)
    data: dict[str, Any] = {"session": ["bench"] * events,
                            "seq": np.arange(1, events + 1, dtype=np.int64),
                            "ts_ns": np.cumsum(rng.integers(1, 2_000_000, events)),
                            "halted": np.zeros(events, dtype=bool)}
    for i in range(1, LEVELS + 1):
        data[f"bid_px_{i}"] = bid - (i - 1)
        data[f"bid_qty_{i}"] = rng.integers(1, 50, events)
        data[f"ask_px_{i}"] = bid + spread + (i - 1)
        data[f"ask_qty_{i}"] = rng.integers(1, 50, events)
    book = pl.DataFrame(data, schema=BOOK_SCHEMA)
    trades = np.flatnonzero(rng.random(events) < 0.33) + 1
    n = trades.size
    messages = pl.DataFrame({
        "session": ["bench"] * n, "seq": trades, "ts_ns": trades,
        "event": np.full(n, int(Event.EXECUTE), dtype=np.int8), "order_id": trades,
        "side": rng.choice(np.array([-1, 1], dtype=np.int8), n),
        "price_ticks": bid[trades - 1], "qty_lots": rng.integers(1, 10, n),
        "aggressor": rng.choice(np.array([-1, 1], dtype=np.int8), n),
        "predates": np.zeros(n, dtype=bool)}, schema=MESSAGE_SCHEMA)
    return Dataset(messages, book, Meta("bench", "X", "0.01", "1", [SessionInfo("bench")]))


def bench_features(events: int, data: Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    ds = read_dataset(data) if data is not None else synthetic_dataset(events)
    built = time.perf_counter() - started
    results: dict[str, Any] = {"events": ds.book.height, "data": str(data or "synthetic"),
                               "load_s": round(built, 2)}
    for label in ("next-mid", "k100"):
        t = time.perf_counter()
        samples = build_samples(ds, label)
        seconds = time.perf_counter() - t
        results[f"{label}_seconds"] = round(seconds, 2)
        results[f"{label}_events_per_s"] = round(ds.book.height / seconds)
        results[f"{label}_samples"] = len(samples)
        results["feature_matrix_mb"] = round(samples.X.nbytes / 2**20, 1)
        del samples
    results["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus"
    results["python"] = platform.python_version()
    return results
