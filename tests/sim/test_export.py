"""Exports re-import to the same book the engine holds at the end of the journal."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from matchbook.config import default_markets
from matchbook.journal.durable import recover
from matchbook.sim import PRESETS, run_preset
from matchbook.sim.export import (
    ExportError,
    book_from_lobster,
    book_from_parquet,
    engine_book,
    export,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("export")
    run_preset(PRESETS["small"].scaled(day_s=1800), 9, tmp / "run")
    return tmp / "run", export(tmp / "run", tmp / "out", levels=5)


def test_lobster_and_parquet_rebuild_the_engine_book(exported: tuple[Path, dict]) -> None:
    data_dir, result = exported
    engine, _ = recover(data_dir, default_markets(), truncate=False)
    book = engine_book(engine, "BTC-USD")
    assert book["bids"] and book["asks"]
    assert book_from_lobster(result["files"]["lobster_message"]) == book
    assert book_from_parquet(result["files"]["parquet_messages"]) == book


def test_the_last_orderbook_row_is_the_top_of_the_book(exported: tuple[Path, dict]) -> None:
    data_dir, result = exported
    engine, _ = recover(data_dir, default_markets(), truncate=False)
    with open(result["files"]["lobster_orderbook"], newline="") as f:
        last = list(csv.reader(f))[-1]
    assert len(last) == 4 * 5
    book = engine.books["BTC-USD"]
    asks, bids = book.depth(2, 5), book.depth(1, 5)
    for i in range(5):
        assert int(last[4 * i]) == asks[i][0] * 100 and int(last[4 * i + 1]) == asks[i][1]
        assert int(last[4 * i + 2]) == bids[i][0] * 100 and int(last[4 * i + 3]) == bids[i][1]


def test_parquet_tables_hold_every_message_and_trade(exported: tuple[Path, dict]) -> None:
    _, result = exported
    messages = pl.read_parquet(result["files"]["parquet_messages"])
    book = pl.read_parquet(result["files"]["parquet_book"])
    trades = pl.read_parquet(result["files"]["parquet_trades"])
    assert len(messages) == len(book) == result["messages"]
    executions = messages.filter(pl.col("type") == 4)
    assert executions["size_lots"].sum() == trades["qty_lots"].sum()
    assert set(messages["type"].unique().to_list()) <= {1, 2, 3, 4}
    assert messages["ts_ns"].is_sorted()


def test_a_bad_export_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="journal"):
        export(tmp_path, tmp_path / "out")
