"""Import LOBSTER message + orderbook files (see ``docs/ml-data-formats.md``).

The message file has one line per event, no header: ``time`` (seconds after midnight,
up to nine decimals), ``type`` (1 submission, 2 partial cancellation, 3 deletion,
4 execution of a visible order, 5 execution of a hidden order, 6 auction cross,
7 trading halt indicator), ``order_id``, ``size`` (shares), ``price`` (dollars x 10000)
and ``direction`` (1 a buy order, -1 a sell order; for an execution, the side of the
*resting* order, so a 1 is a sell that took liquidity). For type 7 the price says
which: -1 halted, 0 quoting resumes, 1 trading resumes.

The orderbook file has one line per message: the book *after* it, as ``ask price 1,
ask size 1, bid price 1, bid size 1, ask price 2, ...`` for L levels; an empty level is
price 9999999999 (ask) or -9999999999 (bid) with size 0.

The importer:

* takes the book rows from the orderbook file (authoritative; LOBSTER built them from
  the full exchange feed, including orders that rested before the file began);
* maps the messages to ``schema.Event``; an execution's aggressor is the opposite of its
  direction; a message naming an order the file never added is flagged ``predates``;
* marks an opening snapshot block (a first run of submissions stamped with the first
  message's time) as ``SNAPSHOT``, so it is not counted as order flow;
* tracks halts (type 7) into the book rows' ``halted`` flag;
* checks that the two files line up: each visible add, cancel, delete or execution at a
  price shown in both the book before and after it must change that level by its size.
  When most checkable messages disagree the files are not a pair and the import stops.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from matchbook.ml._csv import decimal_seconds_to_ns, read_columns, ticks_per_unit
from matchbook.ml.schema import (
    BOOK_SCHEMA,
    LEVELS,
    MESSAGE_SCHEMA,
    DataError,
    Dataset,
    Event,
    Meta,
    SessionInfo,
)

MESSAGE_COLUMNS = ["time", "type", "order_id", "size", "price", "direction"]
_MESSAGE_KINDS = ["decimal", "int", "int", "int", "int", "int"]
EMPTY_ASK = 9999999999
EMPTY_BID = -9999999999
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


def _session_name(path: Path) -> str:
    stem = path.stem
    return re.sub(r"_message(_\d+)?$", "", stem) or stem


def _midnight_ns(path: Path, date: str | None) -> int:
    text = date
    if text is None:
        found = _DATE.search(path.name)
        text = found.group(1) if found else None
    if text is None:
        return 0
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise DataError(path, None, "date", f"{text!r} is not a date (YYYY-MM-DD)") from None
    if not 1970 <= day.year <= 2261:  # nanoseconds since 1970 in 64 bits
        raise DataError(path, None, "date", f"{text} is not within 1970..2261")
    return int(day.timestamp()) * 1_000_000_000


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def import_lobster(message_path: str | Path, orderbook_path: str | Path, *,
                   tick_size: str = "0.01", session: str | None = None, regime: str = "",
                   date: str | None = None, opening: str = "auto",
                   symbol: str | None = None) -> Dataset:
    """Read one LOBSTER pair into a data set. ``opening``: "auto" (a first run of >= 2
    submissions with the first message's time is the opening snapshot), "none", or a
    number of leading messages. Raises ``DataError`` naming file, line and field."""
    mpath, opath = Path(message_path), Path(orderbook_path)
    units = ticks_per_unit(tick_size, 10_000, str(mpath))
    raw = read_columns(mpath, MESSAGE_COLUMNS, _MESSAGE_KINDS)
    n = raw.height
    m = raw.select(
        decimal_seconds_to_ns(pl.col("time")).alias("t"),
        *(pl.col(c).cast(pl.Int64) for c in MESSAGE_COLUMNS[1:]))
    mtype = m["type"].to_numpy()
    price = m["price"].to_numpy()
    size = m["size"].to_numpy()
    direction = m["direction"].to_numpy()
    ts = m["t"].to_numpy() + _midnight_ns(mpath, date)

    def fail(mask: np.ndarray, field_name: str, problem: str) -> None:
        row = _first(mask)
        if row is not None:
            raise DataError(mpath, row + 1, field_name, problem.format(
                type=mtype[row], price=price[row], size=size[row],
                direction=direction[row]))

    fail((mtype < 1) | (mtype > 7), "type", "message type {type} is not 1..7")
    fail((mtype != 7) & (direction != 1) & (direction != -1), "direction",
         "direction {direction} is not 1 or -1")
    fail((mtype != 7) & (size < 0), "size", "negative size {size}")
    fail((mtype <= 5) & (size == 0), "size", "size 0")
    fail((mtype != 7) & (price <= 0), "price", "price {price} is not positive")
    fail((mtype != 7) & (price % units != 0), "price",
         f"price {{price}} is not a multiple of the tick size {tick_size} (x 10000 = {units})")
    fail((mtype == 7) & (price != -1) & (price != 0) & (price != 1), "price",
         "a halt indicator's price {price} is not -1, 0 or 1")
    fail(np.diff(ts, prepend=ts[0]) < 0, "time", "time goes backwards")

    # -- the orderbook file ---------------------------------------------------------------
    width = _orderbook_width(opath)
    levels_in_file = width // 4
    names = [f"{k}_{i}" for i in range(1, levels_in_file + 1)
             for k in ("ask_px", "ask_qty", "bid_px", "bid_qty")]
    ob_raw = read_columns(opath, names, ["int"] * width)
    if ob_raw.height != n:
        shorter, longer = (opath, mpath) if ob_raw.height < n else (mpath, opath)
        raise DataError(shorter, min(n, ob_raw.height) + 1, None,
                        f"the file ends here but {longer.name} has "
                        f"{max(n, ob_raw.height):,} lines (truncated?)")
    ob = ob_raw.select(pl.all().cast(pl.Int64))
    book = _book_levels(ob, opath, units, min(levels_in_file, LEVELS))

    # -- messages -> events -----------------------------------------------------------
    event = np.empty(n, dtype=np.int8)
    event[:] = mtype
    event[(mtype == 7) & (price == -1)] = int(Event.HALT)
    event[(mtype == 7) & (price == 0)] = int(Event.QUOTING)
    event[(mtype == 7) & (price == 1)] = int(Event.RESUME)
    block = _opening_block(opening, mtype, ts, mpath)
    event[:block] = int(Event.SNAPSHOT)
    is_trade = (mtype == 4) | (mtype == 5)
    aggressor = np.where(is_trade, -direction, 0).astype(np.int8)
    side = np.where(mtype == 7, 0, direction).astype(np.int8)
    price_ticks = np.where(mtype == 7, 0, price // units)
    oid = m["order_id"].to_numpy()
    predates = _predates(oid, mtype)

    # halted: the last halt indicator at or before each line said halted or quoting
    state = np.full(n, -1, dtype=np.int64)  # -1 unknown (not halted)
    is_halt = mtype == 7
    state[is_halt] = np.where(price[is_halt] == 1, 0, 1)
    idx = np.where(state >= 0, np.arange(n), -1)
    np.maximum.accumulate(idx, out=idx)
    halted = np.where(idx >= 0, state[np.maximum(idx, 0)] == 1, False)

    sess = session or _session_name(mpath)
    seq = np.arange(1, n + 1, dtype=np.int64)
    messages = pl.DataFrame({
        "session": [sess] * n, "seq": seq, "ts_ns": ts, "event": event, "order_id": oid,
        "side": side, "price_ticks": price_ticks, "qty_lots": np.where(is_halt, 0, size),
        "aggressor": aggressor, "predates": predates}, schema=MESSAGE_SCHEMA)
    data: dict[str, object] = {"session": [sess] * n, "seq": seq, "ts_ns": ts,
                               "halted": halted}
    data.update(book)
    book_frame = pl.DataFrame(data, schema=BOOK_SCHEMA)
    mismatches, checked, first_bad = _consistency(book_frame, mtype, price_ticks, size,
                                                  direction, block)
    if checked >= 5 and mismatches > checked // 2:
        raise DataError(mpath, first_bad, None,
                        f"the messages do not match {opath.name}: {mismatches:,} of "
                        f"{checked:,} checkable messages disagree with the book change "
                        f"(first at this line); are the files a pair, and is --tick-size "
                        f"right?")
    info = SessionInfo(sess, regime, n, n, 1, n)
    meta = Meta("lobster", symbol or sess.split("_")[0], str(tick_size), "1", [info], notes={
        "message_file": str(mpath), "orderbook_file": str(opath),
        "levels_in_file": levels_in_file, "opening_block": block,
        "hidden_executions": int((mtype == 5).sum()),
        "halt_messages": int(is_halt.sum()), "predating_messages": int(predates.sum()),
        "checked_messages": checked, "inconsistent_messages": mismatches})
    return Dataset(messages, book_frame, meta)


def _orderbook_width(path: Path) -> int:
    if not path.is_file():
        raise DataError(path, None, None, "no such file")
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    width = len(first.split(","))
    if not first.strip() or width % 4:
        raise DataError(path, 1, None, f"{width} fields: an orderbook line has 4 per level "
                                       f"(ask price, ask size, bid price, bid size)")
    return width


def _book_levels(ob: pl.DataFrame, path: Path, units: int, levels: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    n = ob.height
    for i in range(1, LEVELS + 1):
        for side, empty in (("ask", EMPTY_ASK), ("bid", EMPTY_BID)):
            if i > levels:
                out[f"{side}_px_{i}"] = np.zeros(n, dtype=np.int64)
                out[f"{side}_qty_{i}"] = np.zeros(n, dtype=np.int64)
                continue
            px = ob[f"{side}_px_{i}"].to_numpy()
            qty = ob[f"{side}_qty_{i}"].to_numpy()
            absent = (px == empty) | (qty == 0)
            bad = _first(~absent & ((px <= 0) | (px % units != 0)))
            if bad is not None:
                raise DataError(path, bad + 1, f"{side} price {i}",
                                f"price {px[bad]} is not a positive multiple of the tick "
                                f"(x 10000 = {units})")
            bad = _first(qty < 0)
            if bad is not None:
                raise DataError(path, bad + 1, f"{side} size {i}", f"negative size {qty[bad]}")
            out[f"{side}_px_{i}"] = np.where(absent, 0, px // units)
            out[f"{side}_qty_{i}"] = np.where(absent, 0, qty)
    bid1, ask1 = out["bid_px_1"], out["ask_px_1"]
    crossed = _first((bid1 > 0) & (ask1 > 0) & (bid1 >= ask1))
    if crossed is not None:
        raise DataError(path, crossed + 1, "bid price 1",
                        f"the book is crossed: bid {bid1[crossed]} >= ask {ask1[crossed]} ticks")
    return out


def _opening_block(opening: str, mtype: np.ndarray, ts: np.ndarray, path: Path) -> int:
    if opening == "none":
        return 0
    if opening == "auto":
        not_block = (mtype != 1) | (ts != ts[0])
        first_other = _first(not_block)
        block = len(mtype) if first_other is None else first_other
        return block if block >= 2 else 0
    try:
        count = int(opening)
    except ValueError:
        raise DataError(path, None, "opening", f"{opening!r}: use auto, none or a count") from None
    if not 0 <= count <= len(mtype):
        raise DataError(path, None, "opening", f"{count} is not within 0..{len(mtype)}")
    return count


def _predates(oid: np.ndarray, mtype: np.ndarray) -> np.ndarray:
    """Cancels, deletions and visible executions of an order not submitted earlier in
    the file."""
    n = len(oid)
    frame = pl.DataFrame({"oid": oid, "type": mtype, "row": np.arange(n)})
    first_add = (frame.filter(pl.col("type") == 1).group_by("oid")
                 .agg(pl.col("row").min().alias("added")))
    joined = frame.join(first_add, on="oid", how="left").sort("row")
    added = joined["added"].fill_null(n).to_numpy()
    refers = (mtype == 2) | (mtype == 3) | (mtype == 4)
    return refers & (added > np.arange(n))


def _consistency(book: pl.DataFrame, mtype: np.ndarray, price: np.ndarray, size: np.ndarray,
                 direction: np.ndarray, block: int) -> tuple[int, int, int | None]:
    """(disagreeing, checked, first disagreeing line): see the module docstring."""
    n = len(mtype)
    if n < 2:
        return 0, 0, None
    px = {s: np.stack([book[f"{s}_px_{i}"].to_numpy() for i in range(1, LEVELS + 1)], 1)
          for s in ("bid", "ask")}
    qty = {s: np.stack([book[f"{s}_qty_{i}"].to_numpy() for i in range(1, LEVELS + 1)], 1)
           for s in ("bid", "ask")}
    rows = np.arange(1, n)
    rows = rows[(rows >= max(block, 1)) & (mtype[rows] >= 1) & (mtype[rows] <= 4)]
    if not rows.size:
        return 0, 0, None
    bad = np.zeros(rows.size, dtype=bool)
    ok = np.zeros(rows.size, dtype=bool)
    for s, sign in (("bid", 1), ("ask", -1)):
        mine = direction[rows] == sign
        r = rows[mine]
        p = price[r][:, None]
        before_px, after_px = px[s][r - 1], px[s][r]
        before = (before_px == p) * qty[s][r - 1]
        after = (after_px == p) * qty[s][r]
        # the price is inside the shown range both before and after (or the side is short)
        def shown(levels: np.ndarray, p: np.ndarray = p, sign: int = sign) -> np.ndarray:
            deepest = np.where(levels[:, -1] == 0, 0 if sign == 1 else np.iinfo(np.int64).max,
                               levels[:, -1])
            return (p[:, 0] >= deepest) if sign == 1 else (p[:, 0] <= deepest)
        checkable = shown(before_px) & shown(after_px)
        delta = after.sum(1) - before.sum(1)
        expected = np.where(mtype[r] == 1, size[r], -size[r])
        ok[np.flatnonzero(mine)] = checkable
        bad[np.flatnonzero(mine)] = checkable & (delta != expected)
    first = _first(bad)
    return int(bad.sum()), int(ok.sum()), (int(rows[first]) + 1 if first is not None else None)
