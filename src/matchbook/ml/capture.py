"""Capture: a Matchbook data directory's journal, replayed through the core ``Engine``,
turned into L3 messages and 10-level book rows keyed by journal sequence number.

The journal holds commands; what the market saw is the engine's events. So the capture
replays every command through a fresh ``Engine`` (from seq 1, or from the oldest
snapshot the journal continues when older segments were pruned; its resting orders then
open the stream as ``SNAPSHOT`` messages) and reads the events:

* ``TradeExecuted`` -> ``EXECUTE`` of the resting order, with the taker's side as the
  aggressor (an iceberg refilled and hit again within one command: the lots beyond the
  peak that was on show are ``EXECUTE_HIDDEN``);
* ``OrderCancelled`` / ``OrderExpired`` of a resting order -> ``DELETE``;
  ``OrderAmended`` -> ``CANCEL`` of the difference (priority kept) or ``DELETE`` then,
  if it rests again, ``ADD`` at the new price;
* at the end of each command, every order it touched is compared with the engine's own
  order: an order newly resting is an ``ADD`` of its visible quantity (an incoming
  limit order's remainder after it traded, a triggered stop, a refilled iceberg peak);
* ``BookLevelChanged`` maintains the L2 book the book rows are read from (the engine's
  visible totals: authoritative);
* ``TradingHalted`` / ``TradingResumed`` -> ``HALT`` / ``RESUME``.

No user id, account or client order id is written: a simulator's agent identities
never reach the data set.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import polars as pl

from matchbook.core import Engine, Markets
from matchbook.core.events import (
    BookLevelChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderTriggered,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
)
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

_ADD, _CANCEL, _DELETE = int(Event.ADD), int(Event.CANCEL), int(Event.DELETE)
_EXEC, _HIDDEN = int(Event.EXECUTE), int(Event.EXECUTE_HIDDEN)
_HALT, _RESUME, _SNAPSHOT = int(Event.HALT), int(Event.RESUME), int(Event.SNAPSHOT)


def _sign(side: int) -> int:
    return 1 if side == 1 else -1


def _int64s() -> array[int]:
    return array("q")


@dataclass(slots=True)
class _Stream:
    """What is being collected for one symbol.

    Columns grow as typed ``array("q")`` buffers (8 bytes a value), not lists of Python
    ints (a pointer plus, for a price, a 32-byte int object): a million book rows of 40
    level values take 320 MB here instead of about 1 GB, and become numpy arrays
    without a copy."""

    session: str
    book: L3Book = field(default_factory=L3Book)
    resting: dict[int, list[int]] = field(default_factory=dict)  # id -> [side, price, vis]
    halted: bool = False
    cols: list[array[int]] = field(default_factory=lambda: [_int64s() for _ in range(9)])
    book_keys: array[int] = field(default_factory=_int64s)  # seq, ts, halted per row
    book_flat: array[int] = field(default_factory=_int64s)

    def msg(self, seq: int, ts: int, event: int, oid: int, side: int, price: int,
            qty: int, aggressor: int = 0, predates: int = 0) -> None:
        c = self.cols
        c[0].append(seq)
        c[1].append(ts)
        c[2].append(event)
        c[3].append(oid)
        c[4].append(side)
        c[5].append(price)
        c[6].append(qty)
        c[7].append(aggressor)
        c[8].append(predates)

    def book_row(self, seq: int, ts: int) -> None:
        self.book_keys.extend((seq, ts, int(self.halted)))
        self.book_flat.extend(self.book.top(LEVELS))

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The collected messages and book rows as frames (one column at a time, so the
        peak is the buffers plus one column)."""
        c = [np.frombuffer(col, dtype=np.int64) for col in self.cols]
        n = c[0].size
        messages = pl.DataFrame({
            "seq": c[0], "ts_ns": c[1], "event": c[2].astype(np.int8), "order_id": c[3],
            "side": c[4].astype(np.int8), "price_ticks": c[5], "qty_lots": c[6],
            "aggressor": c[7].astype(np.int8), "predates": c[8].astype(bool),
        }).with_columns(pl.repeat(self.session, n, dtype=pl.Utf8).alias("session"))
        keys = np.frombuffer(self.book_keys, dtype=np.int64).reshape(-1, 3)
        levels = np.frombuffer(self.book_flat, dtype=np.int64).reshape(-1, 4 * LEVELS)
        book = pl.DataFrame({"seq": keys[:, 0].copy(), "ts_ns": keys[:, 1].copy(),
                             "halted": keys[:, 2].astype(bool)})
        book = book.with_columns(pl.repeat(self.session, book.height, dtype=pl.Utf8)
                                 .alias("session"))
        for i, name in enumerate(level_columns()):
            book = book.with_columns(pl.Series(name, levels[:, i].copy()))
        return (messages.select(list(MESSAGE_SCHEMA)).cast(MESSAGE_SCHEMA),
                book.select(list(BOOK_SCHEMA)).cast(BOOK_SCHEMA))


class _Recorder:
    """Turns one command's events into messages and book rows (see the module doc)."""

    def __init__(self, engine: Engine, streams: dict[str, _Stream]) -> None:
        self.engine = engine
        self.streams = streams

    def opening(self, seq: int, ts: int) -> None:
        """The engine's resting orders (restored from a snapshot) as a snapshot block."""
        for name, stream in self.streams.items():
            book = self.engine.books[name]
            for side in (1, 2):
                for order in book.iter_orders(side):
                    s = _sign(side)
                    stream.msg(seq, ts, _SNAPSHOT, order.order_id, s, order.price,
                               order.visible)
                    stream.resting[order.order_id] = [s, order.price, order.visible]
                for price, qty, _ in book.depth(side):
                    stream.book.set_level(_sign(side), price, qty)
            stream.halted = book.halted or self.engine.halted
            stream.book_row(seq, ts)

    def apply(self, seq: int, ts: int, events: list[object]) -> None:
        streams = self.streams
        touched: dict[int, tuple[int, str]] = {}  # order id -> (user id, symbol)
        changed: set[str] = set()
        displays: dict[int, int] = {}  # iceberg peaks of orders accepted in this command
        for i, ev in enumerate(events):
            kind = type(ev)
            if kind is BookLevelChanged:
                stream = streams.get(ev.symbol)  # type: ignore[attr-defined]
                if stream is not None:
                    stream.book.set_level(_sign(ev.side), ev.price_ticks,  # type: ignore[attr-defined]
                                          ev.qty_lots)  # type: ignore[attr-defined]
                    changed.add(ev.symbol)  # type: ignore[attr-defined]
            elif kind is TradeExecuted:
                t: TradeExecuted = ev  # type: ignore[assignment]
                stream = streams.get(t.symbol)
                if stream is None:
                    continue
                changed.add(t.symbol)
                aggressor = _sign(t.aggressor_side)
                maker = stream.resting.get(t.maker_order_id)
                if maker is None and t.maker_order_id in touched:
                    maker = self._rested_meanwhile(stream, seq, ts, t, events, i, displays)
                if maker is None:  # not seen resting: cannot happen on a full replay
                    stream.msg(seq, ts, _EXEC, t.maker_order_id, -aggressor, t.price_ticks,
                               t.qty_lots, aggressor, 1)
                else:
                    shown = min(maker[2], t.qty_lots)
                    if shown:
                        stream.msg(seq, ts, _EXEC, t.maker_order_id, maker[0], t.price_ticks,
                                   shown, aggressor)
                        maker[2] -= shown
                    if t.qty_lots > shown:
                        stream.msg(seq, ts, _HIDDEN, t.maker_order_id, maker[0],
                                   t.price_ticks, t.qty_lots - shown, aggressor)
                touched[t.maker_order_id] = (t.maker_user_id, t.symbol)
                touched[t.taker_order_id] = (t.taker_user_id, t.symbol)
            elif kind is OrderAccepted or kind is OrderTriggered:
                if ev.symbol in streams:  # type: ignore[attr-defined]
                    touched[ev.order_id] = (ev.user_id, ev.symbol)  # type: ignore[attr-defined]
                    if kind is OrderAccepted and ev.display_lots:  # type: ignore[attr-defined]
                        displays[ev.order_id] = ev.display_lots  # type: ignore[attr-defined]
            elif kind is OrderCancelled or kind is OrderExpired:
                stream = streams.get(ev.symbol)  # type: ignore[attr-defined]
                if stream is None:
                    continue
                oid = ev.order_id  # type: ignore[attr-defined]
                touched[oid] = (ev.user_id, ev.symbol)  # type: ignore[attr-defined]
                if ev.leaves_lots == 0:  # type: ignore[attr-defined]
                    self._delete(stream, seq, ts, oid)
                    changed.add(ev.symbol)  # type: ignore[attr-defined]
            elif kind is OrderAmended:
                a: OrderAmended = ev  # type: ignore[assignment]
                stream = streams.get(a.symbol)
                if stream is None:
                    continue
                touched[a.order_id] = (a.user_id, a.symbol)
                if not a.priority_kept:
                    self._delete(stream, seq, ts, a.order_id)
                changed.add(a.symbol)
            elif kind is TradingHalted or kind is TradingResumed:
                names = [ev.symbol] if ev.symbol else list(streams)  # type: ignore[attr-defined]
                for name in names:
                    stream = streams.get(name)
                    if stream is None:
                        continue
                    book = self.engine.books[name]
                    stream.halted = book.halted or self.engine.halted
                    stream.msg(seq, ts, _HALT if kind is TradingHalted else _RESUME, 0, 0, 0, 0)
                    changed.add(name)
        if touched:
            self._reconcile(seq, ts, touched, changed)
        for name in changed:
            streams[name].book_row(seq, ts)

    def _rested_meanwhile(self, stream: _Stream, seq: int, ts: int, t: TradeExecuted,
                          events: list[object], at: int, displays: dict[int, int]
                          ) -> list[int] | None:
        """An order that traded as a taker, rested its remainder and is now hit as a maker
        within the same command (by a stop the first trades triggered): its ``ADD``
        comes first, with the visible quantity it had before this fill (read from the
        maker's ``OrderFilled`` that follows the trade)."""
        for ev in events[at + 1: at + 3]:
            if type(ev) is OrderFilled and ev.order_id == t.maker_order_id:  # type: ignore[attr-defined]
                before = ev.leaves_lots + t.qty_lots  # type: ignore[attr-defined]
                peak = displays.get(t.maker_order_id, 0)
                visible = min(peak, before) if peak else before
                side = -_sign(t.aggressor_side)
                stream.msg(seq, ts, _ADD, t.maker_order_id, side, t.price_ticks, visible)
                entry = stream.resting[t.maker_order_id] = [side, t.price_ticks, visible]
                return entry
        return None

    def _delete(self, stream: _Stream, seq: int, ts: int, oid: int) -> None:
        known = stream.resting.pop(oid, None)
        if known is not None and known[2]:
            stream.msg(seq, ts, _DELETE, oid, known[0], known[1], known[2])

    def _reconcile(self, seq: int, ts: int, touched: dict[int, tuple[int, str]],
                   changed: set[str]) -> None:
        user_orders = self.engine.user_orders
        for oid, (uid, name) in touched.items():
            stream = self.streams[name]
            order = user_orders.get(uid, {}).get(oid)
            rests = order is not None and order.stop_price == 0 and order.visible > 0
            known = stream.resting.get(oid)
            if known is not None:
                if rests and order.price == known[1] and order.visible == known[2]:  # type: ignore[union-attr]
                    continue
                if rests and order.price == known[1] and order.visible < known[2]:  # type: ignore[union-attr]
                    stream.msg(seq, ts, _CANCEL, oid, known[0], known[1],
                               known[2] - order.visible)  # type: ignore[union-attr]
                    known[2] = order.visible  # type: ignore[union-attr]
                    changed.add(name)
                    continue
                self._delete(stream, seq, ts, oid)
                changed.add(name)
            if rests:
                s = _sign(order.side)  # type: ignore[union-attr]
                stream.msg(seq, ts, _ADD, oid, s, order.price, order.visible)  # type: ignore[union-attr]
                stream.resting[oid] = [s, order.price, order.visible]  # type: ignore[union-attr]
                changed.add(name)


def _start(data_dir: Path, markets: Markets) -> tuple[Engine, int, int | None, int | None]:
    """The engine to replay into, the first seq to read, the snapshot seq it starts
    from (None: seq 1) and the journal's last intact seq."""
    from matchbook.journal.codec import SnapshotMismatchError, decode_snapshot
    from matchbook.journal.segments import JournalError, recover_journal
    from matchbook.journal.snapshot import SnapshotStore

    journal = data_dir / "journal"
    if not journal.is_dir():
        raise DataError(data_dir, None, None, f"no journal (expected {journal}/)")
    try:
        report = recover_journal(journal, dry_run=True)
    except JournalError as exc:
        raise DataError(journal, None, None, str(exc)) from exc
    if not report.records or report.first_seq is None:
        raise DataError(journal, None, None, "the journal is empty")
    if report.first_seq == 1:
        return Engine(markets), 1, None, report.last_seq
    store = SnapshotStore(data_dir / "snapshots")
    usable = [s for s in store.list() if s.valid and s.seq >= report.first_seq - 1
              and (report.last_seq is None or s.seq <= report.last_seq)]
    for info in usable:
        snap = store.load_latest(max_seq=info.seq)
        if snap is None or snap.seq != info.seq:
            continue
        try:
            engine = decode_snapshot(snap.payload, markets)
        except (SnapshotMismatchError, msgspec.DecodeError, KeyError, TypeError,
                ValueError):
            continue
        return engine, snap.seq + 1, snap.seq, report.last_seq
    raise DataError(journal, None, None,
                    f"the journal starts at seq {report.first_seq} and no snapshot continues "
                    f"it: nothing to replay from")


def capture(data_dir: str | Path, markets: Markets, *, symbols: list[str] | None = None,
            session: str | None = None, regime: str = "",
            progress: Callable[[int], None] | None = None) -> dict[str, Dataset]:
    """Replay ``data_dir``'s journal; one data set per symbol that had any book activity
    (or per symbol of ``symbols``). The session id is ``session`` (default: the data
    directory's name), suffixed with ``/SYMBOL`` when more than one symbol is captured.

    Raises ``DataError`` for a missing, empty or unreadable journal or an unknown symbol.
    """
    from matchbook.journal.codec import decode_command
    from matchbook.journal.segments import JournalError, iter_records

    data_dir = Path(data_dir)
    names = list(symbols) if symbols else list(markets.symbols)
    for name in names:
        if name not in markets.symbols:
            raise DataError(data_dir, None, "symbol",
                            f"unknown symbol {name}; configured: {', '.join(markets.symbols)}")
    engine, first, snapshot_seq, last = _start(data_dir, markets)
    base = session or data_dir.resolve().name
    streams = {name: _Stream(base if len(names) == 1 else f"{base}/{name}") for name in names}
    recorder = _Recorder(engine, streams)
    if snapshot_seq is not None:
        recorder.opening(snapshot_seq, engine.last_ts)
    apply = engine.apply
    done = 0
    try:
        for seq, ts, payload in iter_records(data_dir / "journal", from_seq=first):
            try:
                command = decode_command(payload)
            except msgspec.MsgspecError as exc:
                raise DataError(data_dir / "journal", None, f"seq {seq}",
                                f"undecodable record: {exc}") from exc
            recorder.apply(seq, ts, apply(seq, ts, command))  # type: ignore[arg-type]
            done += 1
            if progress is not None and done & 8191 == 0:
                progress(done)
            if last is not None and seq >= last:
                break
    except JournalError as exc:
        raise DataError(data_dir / "journal", None, None, str(exc)) from exc
    if progress is not None:
        progress(done)
    active = {name: stream for name, stream in streams.items()
              if _ADD in stream.cols[2] or _SNAPSHOT in stream.cols[2]}
    if len(active) == 1 and not symbols:  # one market traded: the session is the run
        next(iter(active.values())).session = base
    out: dict[str, Dataset] = {}
    for name, stream in active.items():
        messages, book = stream.frames()
        sym = markets.symbols[name]
        info = SessionInfo(stream.session, regime, messages.height, book.height,
                           int(book["seq"][0]), int(book["seq"][-1]))
        meta = Meta("capture", name, str(sym.tick_size), str(sym.lot_size), [info],
                    notes={"data_dir": str(data_dir), "commands": done,
                           "snapshot_seq": snapshot_seq})
        out[name] = Dataset(messages, book, meta)
    return out
