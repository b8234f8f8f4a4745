"""Exports of a run's market: LOBSTER message + orderbook files, and Parquet.

The export reads a data directory (the journal of a ``matchbook sim run --data-dir``, or
of any Matchbook exchange), replays it through a fresh engine and writes, for one
symbol, what happened to its book:

* LOBSTER (``{symbol}_{date}_{start}_{end}_message_{L}.csv`` and ``..._orderbook_{L}.csv``,
  no header, as in LOBSTER's own files): message rows ``time, type, order id, size,
  price, direction`` with time in seconds after midnight UTC (nanosecond decimals),
  type 1 = a new resting order, 2 = a partial cancel, 3 = a deletion, 4 = an execution
  of a resting order; the price is the decimal price x 10,000 (an integer); size is in
  the symbol's lots (BTC-USD: 0.0001 BTC); direction +1 = a resting buy, -1 a resting
  sell (for executions, the side of the resting order). The orderbook row after each
  message: ask price 1, ask size 1, bid price 1, bid size 1, ... to level L (an empty
  level is price 9999999999 / -9999999999 with size 0, as LOBSTER writes it).
* Parquet (``messages.parquet``, ``book.parquet``, ``trades.parquet``): the same
  messages with ``ts_ns`` and ``user_id``, the book after each message in ticks and
  lots, and every trade with its aggressor side and both users.

``book_from_lobster`` / ``book_from_parquet`` rebuild the final book from the message
files alone; the tests check it equals the engine's book at the end of the journal.
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from matchbook.config import default_markets
from matchbook.core import Engine, Markets
from matchbook.core.commands import BUY
from matchbook.core.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    TradeExecuted,
)
from matchbook.journal import iter_records
from matchbook.journal.codec import decode_command

NEW, PARTIAL_CANCEL, DELETE, EXECUTE = 1, 2, 3, 4
EMPTY_ASK, EMPTY_BID = 9_999_999_999, -9_999_999_999
_CHUNK = 100_000


class ExportError(ValueError):
    """The data directory or symbol cannot be exported."""


@dataclass(frozen=True, slots=True)
class Message:
    ts_ns: int
    kind: int
    order_id: int
    size_lots: int
    price_ticks: int
    direction: int
    user_id: int


class _Levels:
    """A price -> size book of one side with its prices kept sorted (best first)."""

    def __init__(self, descending: bool) -> None:
        self.size: dict[int, int] = {}
        self.keys: list[int] = []  # ascending keys: -price for bids, price for asks
        self.sign = -1 if descending else 1

    def add(self, price: int, lots: int) -> None:
        if price in self.size:
            self.size[price] += lots
        else:
            self.size[price] = lots
            bisect.insort(self.keys, self.sign * price)
        if not self.size[price]:
            self._drop(price)

    def take(self, price: int, lots: int) -> None:
        left = self.size[price] - lots
        if left < 0:
            raise ExportError(f"book went negative at price {price}")
        if left:
            self.size[price] = left
        else:
            self._drop(price)

    def _drop(self, price: int) -> None:
        del self.size[price]
        del self.keys[bisect.bisect_left(self.keys, self.sign * price)]

    def top(self, levels: int) -> list[tuple[int, int]]:
        return [(self.sign * k, self.size[self.sign * k]) for k in self.keys[:levels]]


def messages(data_dir: str | Path, symbol: str, markets: Markets | None = None,
             ) -> Iterator[tuple[Message, Any]]:
    """Replay the journal and yield each book message of ``symbol`` (and the engine, so a
    caller can read its state at the end)."""
    markets = markets or default_markets()
    if symbol not in markets.symbols:
        raise ExportError(f"unknown symbol {symbol}")
    journal = Path(data_dir) / "journal"
    if not journal.is_dir():
        raise ExportError(f"{data_dir}: no journal/ directory")
    engine = Engine(markets)
    resting: dict[int, list[int]] = {}  # order id -> [side, price, leaves, user]
    for seq, ts, payload in iter_records(journal):
        events = engine.apply(seq, ts, decode_command(payload))
        new: list[OrderAccepted] = []
        moved: list[int] = []
        for e in events:
            kind = type(e)
            if kind is TradeExecuted:
                if e.symbol != symbol:
                    continue
                row = resting[e.maker_order_id]
                row[2] -= e.qty_lots
                if not row[2]:
                    del resting[e.maker_order_id]
                yield Message(ts, EXECUTE, e.maker_order_id, e.qty_lots, e.price_ticks,
                              1 if row[0] == BUY else -1, row[3]), engine
            elif kind is OrderAccepted:
                if e.symbol == symbol:
                    new.append(e)
            elif kind is OrderCancelled or kind is OrderExpired:
                row = resting.get(e.order_id)
                if row is None:
                    continue  # an IOC remainder or a stop: it never rested
                lots = e.cancelled_lots if kind is OrderCancelled else e.leaves_lots
                row[2] -= lots
                if not row[2]:
                    del resting[e.order_id]
                yield Message(ts, PARTIAL_CANCEL if row[2] else DELETE, e.order_id, lots,
                              row[1], 1 if row[0] == BUY else -1, row[3]), engine
            elif kind is OrderAmended:
                row = resting.get(e.order_id)
                if row is None:
                    continue
                if e.priority_kept:
                    cut = row[2] - e.leaves_lots
                    row[2] = e.leaves_lots
                    yield Message(ts, PARTIAL_CANCEL, e.order_id, cut, row[1],
                                  1 if row[0] == BUY else -1, row[3]), engine
                else:
                    del resting[e.order_id]
                    yield Message(ts, DELETE, e.order_id, row[2], row[1],
                                  1 if row[0] == BUY else -1, row[3]), engine
                    moved.append(e.order_id)
        # what rests after the command: new orders' remainders, amended orders' new place
        for oid, uid in [(a.order_id, a.user_id) for a in new] + [
                (oid, 0) for oid in moved]:
            order = _open_order(engine, oid, uid)
            if order is not None and not order.stop_price and order.visible:
                resting[oid] = [order.side, order.price, order.visible, order.user_id]
                yield Message(ts, NEW, oid, order.visible, order.price,
                              1 if order.side == BUY else -1, order.user_id), engine


def _open_order(engine: Engine, order_id: int, user_id: int) -> Any:
    if user_id:
        return engine.user_orders.get(user_id, {}).get(order_id)
    for mine in engine.user_orders.values():
        if order_id in mine:
            return mine[order_id]
    return None


def _price_factor(markets: Markets, symbol: str) -> int:
    factor = markets.symbols[symbol].tick_size * 10_000
    if factor != factor.to_integral_value():
        raise ExportError(f"{symbol}: a tick of {markets.symbols[symbol].tick_size} is not a "
                          "whole number of LOBSTER price units (1/10,000)")
    return int(factor)


def export(data_dir: str | Path, out_dir: str | Path, *, symbol: str = "BTC-USD",
           levels: int = 10, formats: tuple[str, ...] = ("lobster", "parquet"),
           markets: Markets | None = None,
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write the chosen formats of ``symbol``'s book to ``out_dir``; returns the file
    paths and counts. Raises ``ExportError``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    markets = markets or default_markets()
    unknown = set(formats) - {"lobster", "parquet"}
    if unknown:
        raise ExportError(f"unknown format {', '.join(sorted(unknown))}; use lobster, parquet")
    if not 1 <= levels <= 50:
        raise ExportError(f"levels must be 1 to 50, got {levels}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    factor = _price_factor(markets, symbol) if symbol in markets.symbols else 1
    bids, asks = _Levels(descending=True), _Levels(descending=False)
    files: dict[str, str] = {}
    writers: dict[str, Any] = {}
    message_cols: dict[str, list[int]] = {k: [] for k in (
        "ts_ns", "type", "order_id", "size_lots", "price_ticks", "direction", "user_id")}
    book_cols: dict[str, list[int]] = {"ts_ns": []}
    for i in range(1, levels + 1):
        for name in (f"ask_price_{i}", f"ask_size_{i}", f"bid_price_{i}", f"bid_size_{i}"):
            book_cols[name] = []
    trade_cols: dict[str, list[int]] = {k: [] for k in (
        "ts_ns", "trade_id", "price_ticks", "qty_lots", "aggressor", "maker_user_id",
        "taker_user_id")}
    first_ts = last_ts = 0
    count = 0
    msg_file = book_file = None
    msg_out = book_out = None
    tmp_msg = out / ".message.csv.part"
    tmp_book = out / ".orderbook.csv.part"
    if "lobster" in formats:
        msg_file = tmp_msg.open("w", newline="")
        book_file = tmp_book.open("w", newline="")
        msg_out, book_out = csv.writer(msg_file), csv.writer(book_file)

    def flush(final: bool = False) -> None:
        if "parquet" not in formats:
            return
        for name, cols in (("messages", message_cols), ("book", book_cols),
                           ("trades", trade_cols)):
            if not cols["ts_ns"] and not (final and name not in writers):
                continue
            table = pa.table({k: pa.array(v, type=pa.int64()) for k, v in cols.items()})
            if name not in writers:
                path = out / f"{name}.parquet"
                writers[name] = pq.ParquetWriter(path, table.schema)
                files[f"parquet_{name}"] = str(path)
            writers[name].write_table(table)
            for v in cols.values():
                v.clear()

    try:
        for message, _engine in messages(data_dir, symbol, markets):
            side = bids if message.direction == 1 else asks
            if message.kind == NEW:
                side.add(message.price_ticks, message.size_lots)
            else:
                side.take(message.price_ticks, message.size_lots)
            if not count:
                first_ts = message.ts_ns
            last_ts = message.ts_ns
            count += 1
            top_a, top_b = asks.top(levels), bids.top(levels)
            row: list[int] = []
            for i in range(levels):
                ap, asz = top_a[i] if i < len(top_a) else (0, 0)
                bp, bsz = top_b[i] if i < len(top_b) else (0, 0)
                row += [ap, asz, bp, bsz]
            if msg_out is not None and book_out is not None:
                msg_out.writerow((_seconds(message.ts_ns), message.kind, message.order_id,
                                  message.size_lots, message.price_ticks * factor,
                                  message.direction))
                book_out.writerow([
                    (v * factor if v else (EMPTY_ASK if j % 4 == 0 else EMPTY_BID))
                    if j % 2 == 0 else v for j, v in enumerate(row)])
            if "parquet" in formats:
                for key, value in (("ts_ns", message.ts_ns), ("type", message.kind),
                                   ("order_id", message.order_id),
                                   ("size_lots", message.size_lots),
                                   ("price_ticks", message.price_ticks),
                                   ("direction", message.direction),
                                   ("user_id", message.user_id)):
                    message_cols[key].append(value)
                book_cols["ts_ns"].append(message.ts_ns)
                names = list(book_cols)[1:]
                for name, value in zip(names, row, strict=True):
                    book_cols[name].append(value)
                if len(message_cols["ts_ns"]) >= _CHUNK:
                    flush()
            if progress is not None and count % 65_536 == 0:
                progress(count)
    finally:
        if msg_file is not None and book_file is not None:
            msg_file.close()
            book_file.close()
    if "parquet" in formats:
        _trades(data_dir, symbol, markets, trade_cols)
        flush(final=True)
        for writer in writers.values():
            writer.close()
    if "lobster" in formats:
        day = datetime.fromtimestamp((first_ts or 0) // 10**9, UTC).strftime("%Y-%m-%d")
        start_s = (first_ts % 86_400_000_000_000) // 10**9 if first_ts else 0
        end_s = (last_ts % 86_400_000_000_000) // 10**9 + 1 if last_ts else 0
        stem = f"{symbol}_{day}_{start_s}_{end_s}"
        message_path = out / f"{stem}_message_{levels}.csv"
        book_path = out / f"{stem}_orderbook_{levels}.csv"
        tmp_msg.replace(message_path)
        tmp_book.replace(book_path)
        files["lobster_message"] = str(message_path)
        files["lobster_orderbook"] = str(book_path)
    return {"symbol": symbol, "messages": count, "levels": levels, "files": files,
            "final_book": {"bids": bids.top(levels), "asks": asks.top(levels)}}


def _trades(data_dir: str | Path, symbol: str, markets: Markets,
            cols: dict[str, list[int]]) -> None:
    engine = Engine(markets)
    for seq, ts, payload in iter_records(Path(data_dir) / "journal"):
        for e in engine.apply(seq, ts, decode_command(payload)):
            if type(e) is TradeExecuted and e.symbol == symbol:
                for key, value in (("ts_ns", ts), ("trade_id", e.trade_id),
                                   ("price_ticks", e.price_ticks), ("qty_lots", e.qty_lots),
                                   ("aggressor", 1 if e.aggressor_side == BUY else -1),
                                   ("maker_user_id", e.maker_user_id),
                                   ("taker_user_id", e.taker_user_id)):
                    cols[key].append(value)


def _seconds(ts_ns: int) -> str:
    """Seconds after midnight UTC with nine decimals (LOBSTER's time column)."""
    since = ts_ns % 86_400_000_000_000
    return f"{since // 10**9}.{since % 10**9:09d}"


# -- re-import -------------------------------------------------------------------------


def _replay(rows: Iterator[tuple[int, int, int, int]]) -> dict[str, dict[int, int]]:
    """Levels from ``(type, size, price, direction)`` rows."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for kind, size, price, direction in rows:
        side = bids if direction == 1 else asks
        if kind == NEW:
            side[price] = side.get(price, 0) + size
        elif kind in (PARTIAL_CANCEL, DELETE, EXECUTE):
            left = side.get(price, 0) - size
            if left < 0:
                raise ExportError(f"message file takes {size} at {price} where the book has "
                                  f"{side.get(price, 0)}")
            if left:
                side[price] = left
            else:
                side.pop(price, None)
    return {"bids": bids, "asks": asks}


def book_from_lobster(message_csv: str | Path, tick_factor: int = 100
                      ) -> dict[str, dict[int, int]]:
    """The book (price ticks -> lots per side) left by a LOBSTER message file."""
    def rows() -> Iterator[tuple[int, int, int, int]]:
        with Path(message_csv).open(newline="") as f:
            for line in csv.reader(f):
                price = Decimal(line[4]) / tick_factor
                yield int(line[1]), int(line[3]), int(price), int(line[5])

    return _replay(rows())


def book_from_parquet(messages_parquet: str | Path) -> dict[str, dict[int, int]]:
    """The book (price ticks -> lots per side) left by ``messages.parquet`` (read with
    polars)."""
    import polars as pl

    frame = pl.read_parquet(messages_parquet, columns=["type", "size_lots", "price_ticks",
                                                       "direction"])
    return _replay(iter(frame.iter_rows()))


def engine_book(engine: Engine, symbol: str) -> dict[str, dict[int, int]]:
    """The engine's visible book as price ticks -> lots per side."""
    book = engine.books[symbol]
    return {"bids": {p: lvl.total for p, lvl in book.bids.items() if lvl.total},
            "asks": {p: lvl.total for p, lvl in book.asks.items() if lvl.total}}
