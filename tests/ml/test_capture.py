"""Capture: a journal written by the durable engine, replayed into L3 messages and book
rows. The messages alone must rebuild the engine's own book at every sequence number."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from matchbook.config import default_markets
from matchbook.core import HaltTrading, ResumeTrading
from matchbook.journal.durable import DurabilityConfig, DurableEngine
from matchbook.ml.book import L3Book
from matchbook.ml.capture import capture
from matchbook.ml.schema import DataError, Event, level_columns, read_dataset, write_dataset
from workload import Workload, engine_view

MARKETS = default_markets()
SYMBOLS = ("BTC-USD", "ETH-BTC")


def write_journal(path: Path, seed: int, commands: int) -> DurableEngine:
    """A journal of the test workload (icebergs, stops, amends, self-trade prevention,
    GTD expiry, cancel-all) with a halt and a resumption now and then."""
    durable = DurableEngine.open(path, MARKETS, config=DurabilityConfig(mode="os"))
    workload = Workload(seed, MARKETS, symbols=SYMBOLS, accounts=True)
    rng = random.Random(seed)
    durable.submit([(c, ts) for _, ts, c in workload.funding()])
    for i in range(commands):
        _, ts, command = workload.next_command(engine_view(durable.engine))
        if i % 700 == 350:
            durable.submit([(HaltTrading(rng.choice(("", "BTC-USD"))), ts)])
        elif i % 700 == 400:
            durable.submit([(ResumeTrading(""), ts), (ResumeTrading("BTC-USD"), ts)])
        durable.submit([(command, ts)])
    return durable


def rebuild(messages: list[dict]) -> dict[int, list[int]]:
    """The book after every seq, from the messages alone."""
    book = L3Book()
    out: dict[int, list[int]] = {}
    for m in messages:
        e, oid = m["event"], m["order_id"]
        if e in (Event.ADD, Event.SNAPSHOT):
            book.add(oid, m["side"], m["price_ticks"], m["qty_lots"])
        elif e in (Event.CANCEL, Event.EXECUTE):
            book.reduce(oid, m["qty_lots"])
        elif e == Event.DELETE:
            assert book.delete(oid) == m["qty_lots"]
        out[m["seq"]] = book.top(10)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_messages_rebuild_the_engines_book_at_every_seq(tmp_path: Path, seed: int) -> None:
    durable = write_journal(tmp_path / "data", seed, 3000)
    engine = durable.engine
    durable.close()
    found = capture(tmp_path / "data", MARKETS, session="day")
    assert set(found) == set(SYMBOLS)
    for name, ds in found.items():
        assert ds.meta.sessions[0].session == f"day/{name}"
        rows = {r[0]: list(r[1:]) for r in ds.book.select(["seq", *level_columns()]).iter_rows()}
        rebuilt = rebuild(list(ds.messages.iter_rows(named=True)))
        checked = 0
        last = 0
        for seq in sorted(rows):
            last = seq
            if seq in rebuilt:
                assert rebuilt[seq] == rows[seq], (name, seq)
                checked += 1
        assert checked > 500
        # the last book row is the engine's own book
        book = engine.books[name]
        bids, asks = book.depth(1, 10), book.depth(2, 10)
        final = rows[last]
        for i in range(10):
            assert final[4 * i: 4 * i + 2] == (list(bids[i][:2]) if i < len(bids) else [0, 0])
            assert final[4 * i + 2: 4 * i + 4] == (list(asks[i][:2]) if i < len(asks) else [0, 0])
        events = set(ds.messages["event"].to_list())
        assert {Event.ADD, Event.DELETE, Event.EXECUTE, Event.HALT, Event.RESUME} <= events
        assert not ds.messages["predates"].any()
        # executions carry the taker's side, the opposite of the resting order's
        trades = ds.messages.filter(ds.messages["event"] == Event.EXECUTE)
        assert (trades["aggressor"] == -trades["side"]).all()
        # no identity of a participant reaches the data set
        assert not {"user_id", "agent", "client_order_id"} & set(ds.messages.columns)
        # halted rows: between a halt and its resumption
        assert ds.book["halted"].any() and not ds.book["halted"].all()


def test_a_captured_data_set_round_trips_through_parquet(tmp_path: Path) -> None:
    write_journal(tmp_path / "data", 3, 600).close()
    ds = capture(tmp_path / "data", MARKETS, symbols=["BTC-USD"], session="s", regime="calm")[
        "BTC-USD"]
    write_dataset(tmp_path / "out", ds)
    back = read_dataset(tmp_path / "out")
    assert back.book.equals(ds.book) and back.messages.equals(ds.messages)
    assert back.regimes() == {"s": "calm"}


def test_capture_refuses_what_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no journal"):
        capture(tmp_path, MARKETS)
    with pytest.raises(DataError, match="unknown symbol"):
        capture(tmp_path, MARKETS, symbols=["NOPE-USD"])
