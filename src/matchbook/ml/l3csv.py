"""Import a generic L3 CSV (see ``docs/ml-data-formats.md``).

One header line naming the columns ``timestamp, order_id, side, price, size, action``
(in any order; other columns are ignored), then one line per message:

* ``timestamp``: integer nanoseconds since the Unix epoch, or decimal seconds
  (``1709285400.000123456``); never decreasing;
* ``order_id``: a positive integer (may be empty or 0 for ``hidden_trade``, ``halt``
  and ``resume``);
* ``side``: ``buy``/``sell`` (also ``b``/``s``, ``bid``/``ask``, ``1``/``-1``): the side
  of the order the line is about (for a trade: the resting order);
* ``price``, ``size``: decimals, multiples of ``--tick-size`` and ``--lot-size``;
* ``action``: ``add``, ``cancel`` (size = lots cancelled), ``delete`` (the whole order),
  ``modify`` (price and size are the new ones; the same price with a smaller size keeps
  priority, anything else goes to the back), ``trade`` (the resting order trades
  ``size`` at ``price``), ``hidden_trade`` (hidden liquidity trades), ``snapshot`` (an
  order resting before the file began: the opening block), ``halt``, ``resume``.

The book is rebuilt here (``book.L3Book``). A line about an order the file never added
(one that rested before it began) changes the level at its side and price by its size,
never below zero, and is flagged ``predates``.
"""

from __future__ import annotations

import csv
from array import array
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import polars as pl

from matchbook.ml.book import L3Book
from matchbook.ml.schema import (
    BOOK_SCHEMA,
    LEVELS,
    MESSAGE_SCHEMA,
    DataError,
    Dataset,
    Event,
    Meta,
    SessionInfo,
    level_columns,
)

REQUIRED = ("timestamp", "order_id", "side", "price", "size", "action")
_SIDES = {"buy": 1, "b": 1, "bid": 1, "1": 1, "+1": 1,
          "sell": -1, "s": -1, "ask": -1, "offer": -1, "-1": -1}
_ACTIONS = {"add", "cancel", "delete", "modify", "trade", "hidden_trade", "snapshot",
            "halt", "resume"}
_NEEDS_ID = {"add", "cancel", "delete", "modify", "trade", "snapshot"}
_NEEDS_PRICE = {"add", "modify", "trade", "hidden_trade", "snapshot"}
_NEEDS_SIZE = {"add", "cancel", "modify", "trade", "hidden_trade", "snapshot"}


_INT64_MAX = 2**63 - 1


def _in_range(value: int, path: Path, line: int, name: str) -> int:
    """``value`` if it fits the data set's int64 columns."""
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise DataError(path, line, name, f"{value} is out of range")
    return value


def _decimal(text: str, path: Path, line: int | None, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DataError(path, line, name, f"{text!r} is not a number") from None
    if not value.is_finite():
        raise DataError(path, line, name, f"{text!r} is not a number")
    return value


def _units(text: str, step: Decimal, path: Path, line: int, name: str) -> int:
    value = _decimal(text, path, line, name)
    units = value / step
    if units != units.to_integral_value():
        raise DataError(path, line, name, f"{text} is not a multiple of {step}")
    if value < 0:
        raise DataError(path, line, name, f"{text} is negative")
    return _in_range(int(units), path, line, name)


def _timestamp(text: str, path: Path, line: int) -> int:
    if "." in text:
        whole, _, frac = text.partition(".")
        if not (text.isascii() and whole.isdigit() and (frac.isdigit() or not frac)):
            raise DataError(path, line, "timestamp", f"{text!r} is not seconds or nanoseconds")
        return _in_range(int(whole) * 1_000_000_000 + int((frac + "000000000")[:9]), path,
                         line, "timestamp")
    try:
        return _in_range(int(text), path, line, "timestamp")
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(path, line, "timestamp",
                        f"{text!r} is not seconds or nanoseconds") from None


def import_l3(path: str | Path, *, tick_size: str = "0.01", lot_size: str = "1",
              session: str | None = None, regime: str = "", symbol: str = "") -> Dataset:
    """Read one L3 CSV into a data set. Raises ``DataError`` naming file, line and field."""
    path = Path(path)
    tick = _decimal(tick_size, path, None, "tick-size")  # options: no line of the file
    lot = _decimal(lot_size, path, None, "lot-size")
    for name, step in (("tick-size", tick), ("lot-size", lot)):
        if step <= 0:
            raise DataError(path, None, name, "tick and lot sizes must be positive")
    if not path.is_file():
        raise DataError(path, None, None, "no such file")
    book = L3Book()
    # typed buffers (8 bytes a value), not lists of Python ints
    cols: list[array[int]] = [array("q") for _ in range(9)]
    keys: array[int] = array("q")
    flat: array[int] = array("q")
    halted = False
    last_ts = -1
    counts = {"predating": 0, "clamped": 0}
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DataError(path, None, None, str(exc)) from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise DataError(path, 1, None, "the file is empty") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(path, 1, None, str(exc)) from exc
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise DataError(path, 1, missing[0], f"the header lacks {', '.join(missing)}")
        at = [header.index(c) for c in REQUIRED]
        width = len(header)
        line = 1
        try:
            for row in reader:
                line += 1
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) < width:
                    raise DataError(path, line, header[len(row)],
                                    f"truncated line: {len(row)} fields, expected {width}")
                if len(row) > width:
                    raise DataError(path, line, None, f"{len(row)} fields, expected {width}")
                ts_t, oid_t, side_t, price_t, size_t, action_t = (row[i].strip() for i in at)
                action = action_t.lower()
                if action not in _ACTIONS:
                    raise DataError(path, line, "action",
                                    f"{action_t!r} is not one of {', '.join(sorted(_ACTIONS))}")
                ts = _timestamp(ts_t, path, line)
                if ts < last_ts:
                    raise DataError(path, line, "timestamp", "time goes backwards")
                last_ts = ts
                oid = 0
                if oid_t:
                    try:
                        oid = int(oid_t)
                    except ValueError:
                        raise DataError(path, line, "order_id",
                                        f"{oid_t!r} is not an integer") from None
                    _in_range(oid, path, line, "order_id")
                if action in _NEEDS_ID and oid <= 0:
                    raise DataError(path, line, "order_id", f"{action} needs a positive order id")
                side = 0
                if action not in ("halt", "resume"):
                    side = _SIDES.get(side_t.lower(), 0)
                    if not side:
                        raise DataError(path, line, "side", f"{side_t!r} is not buy or sell")
                price = _units(price_t, tick, path, line, "price") if price_t else 0
                size = _units(size_t, lot, path, line, "size") if size_t else 0
                if action in _NEEDS_PRICE and price <= 0:
                    raise DataError(path, line, "price", f"{action} needs a positive price")
                if action in _NEEDS_SIZE and size <= 0:
                    raise DataError(path, line, "size", f"{action} needs a positive size")
                try:
                    halted = _apply(book, cols, line, ts, action, oid, side, price, size,
                                    halted, counts)
                    keys.extend((line, ts, int(halted)))
                    flat.extend(book.top(LEVELS))
                except OverflowError:
                    raise DataError(path, line, "size", "a price level's total size is beyond "
                                    "64 bits") from None
        except csv.Error as exc:
            raise DataError(path, line, None, str(exc)) from exc
        except UnicodeDecodeError as exc:
            raise DataError(path, line, None, f"not UTF-8 text: {exc}") from exc
    if not keys:
        raise DataError(path, None, None, "no messages after the header")
    sess = session or path.stem
    c = [np.frombuffer(col, dtype=np.int64) for col in cols]
    n_msg = c[0].size
    messages = pl.DataFrame({
        "session": pl.repeat(sess, n_msg, dtype=pl.Utf8, eager=True), "seq": c[0],
        "ts_ns": c[1], "event": c[2].astype(np.int8), "order_id": c[3],
        "side": c[4].astype(np.int8), "price_ticks": c[5], "qty_lots": c[6],
        "aggressor": c[7].astype(np.int8), "predates": c[8].astype(bool)},
        schema=MESSAGE_SCHEMA)
    k = np.frombuffer(keys, dtype=np.int64).reshape(-1, 3)
    lv = np.frombuffer(flat, dtype=np.int64).reshape(-1, 4 * LEVELS)
    data: dict[str, object] = {"session": pl.repeat(sess, len(k), dtype=pl.Utf8, eager=True),
                               "seq": k[:, 0], "ts_ns": k[:, 1],
                               "halted": k[:, 2].astype(bool)}
    for i, name in enumerate(level_columns()):
        data[name] = lv[:, i]
    book_frame = pl.DataFrame(data, schema=BOOK_SCHEMA)
    info = SessionInfo(sess, regime, n_msg, len(k), int(k[0, 0]), int(k[-1, 0]))
    meta = Meta("l3-csv", symbol or sess, str(tick), str(lot), [info],
                notes={"file": str(path), "predating_messages": counts["predating"],
                       "clamped_messages": counts["clamped"]})
    return Dataset(messages, book_frame, meta)


def _apply(book: L3Book, cols: list[array[int]], line: int, ts: int, action: str, oid: int,
           side: int, price: int, size: int, halted: bool, counts: dict[str, int]) -> bool:
    """Apply one line to the book and record its message(s); returns the halted flag."""

    def msg(event: Event, o: int, s: int, p: int, q: int, aggressor: int = 0,
            predates: bool = False) -> None:
        for c, v in zip(cols, (line, ts, int(event), o, s, p, q, aggressor, int(predates)),
                        strict=True):
            c.append(v)

    known = book.orders.get(oid) if oid else None
    if action == "add" or action == "snapshot":
        book.add(oid, side, price, size)
        msg(Event.ADD if action == "add" else Event.SNAPSHOT, oid, side, price, size)
    elif action == "cancel" or action == "delete":
        if known is not None:
            qty = known[2] if action == "delete" else min(size, known[2])
            if action == "cancel" and size > known[2]:
                counts["clamped"] += 1
            book.reduce(oid, qty)
            # a cancel of all that is left removes the order: a deletion
            event = Event.DELETE if oid not in book.orders else Event.CANCEL
            msg(event, oid, known[0], known[1], qty)
        else:
            counts["predating"] += 1
            taken = book.reduce_level(side, price, size) if price else 0
            msg(Event.DELETE if action == "delete" else Event.CANCEL, oid, side, price,
                taken, 0, True)
    elif action == "modify":
        if known is not None and known[1] == price and size <= known[2]:
            if size < known[2]:
                qty = known[2] - size
                book.reduce(oid, qty)
                msg(Event.CANCEL, oid, known[0], price, qty)
        else:
            if known is not None:
                msg(Event.DELETE, oid, known[0], known[1], book.delete(oid))
            else:
                counts["predating"] += 1
            book.add(oid, side, price, size)
            msg(Event.ADD, oid, side, price, size)
    elif action == "trade":
        if known is not None:
            if size > known[2]:
                counts["clamped"] += 1
            qty = book.reduce(oid, size)
            msg(Event.EXECUTE, oid, known[0], known[1], qty, -known[0])
        else:
            counts["predating"] += 1
            taken = book.reduce_level(side, price, size)
            msg(Event.EXECUTE, oid, side, price, taken, -side, True)
    elif action == "hidden_trade":
        msg(Event.EXECUTE_HIDDEN, oid, side, price, size, -side)
    elif action == "halt":
        msg(Event.HALT, 0, 0, 0, 0)
        return True
    elif action == "resume":
        msg(Event.RESUME, 0, 0, 0, 0)
        return False
    return halted
