"""The on-disk data set every source is turned into, and the errors of reading sources.

A data set is a directory holding:

* ``messages.parquet``: the L3 message stream, one row per message, in order. Columns:
  ``session`` (str), ``seq`` (int64: the journal sequence number for captured data,
  the message's line number for imports), ``ts_ns`` (int64), ``event`` (int8, see
  ``Event``), ``order_id`` (int64, 0 when the source has none), ``side`` (int8:
  +1 a buy order, -1 a sell order, 0 none), ``price_ticks``, ``qty_lots`` (int64),
  ``aggressor`` (int8: for executions the side that took liquidity, +1 buy, -1 sell;
  else 0), ``predates`` (bool: the message refers to an order the stream never added,
  one that rested before the file began).
* ``book.parquet``: the book after each ``seq`` that changed it, one row per ``seq``:
  ``session``, ``seq``, ``ts_ns``, ``halted`` (bool), and for levels 1..10
  ``bid_px_i``, ``bid_qty_i``, ``ask_px_i``, ``ask_qty_i`` (int64 ticks and lots; a
  missing level is price 0, quantity 0).
* ``meta.json``: what the data is (source, symbol, tick and lot size as decimal strings,
  and per session its regime tag and row counts).

Several messages may share a ``seq`` (one command can fill several resting orders);
the book row is the state once the whole ``seq`` is applied, which is what a market
participant can observe. Prices are integer ticks and quantities integer lots
throughout: no float touches a price before the feature step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import polars as pl

LEVELS = 10
MESSAGES_FILE = "messages.parquet"
BOOK_FILE = "book.parquet"
META_FILE = "meta.json"
FORMAT_VERSION = 1


class Event(IntEnum):
    """L3 message kinds (1..7 follow LOBSTER's numbering)."""

    ADD = 1  # a limit order (or its visible remainder) joins the book
    CANCEL = 2  # part of a resting order is cancelled
    DELETE = 3  # a resting order leaves the book (cancelled or expired)
    EXECUTE = 4  # a visible resting order trades
    EXECUTE_HIDDEN = 5  # hidden liquidity trades (no visible change)
    CROSS = 6  # an auction cross
    HALT = 7  # trading halted
    RESUME = 8  # trading resumed
    SNAPSHOT = 9  # an order resting before the stream began (opening snapshot block)
    QUOTING = 10  # quoting resumed, trading not yet


MESSAGE_SCHEMA: dict[str, Any] = {
    "session": pl.Utf8,
    "seq": pl.Int64,
    "ts_ns": pl.Int64,
    "event": pl.Int8,
    "order_id": pl.Int64,
    "side": pl.Int8,
    "price_ticks": pl.Int64,
    "qty_lots": pl.Int64,
    "aggressor": pl.Int8,
    "predates": pl.Boolean,
}


def level_columns(levels: int = LEVELS) -> list[str]:
    """``bid_px_1, bid_qty_1, ask_px_1, ask_qty_1, bid_px_2, ...``"""
    cols = []
    for i in range(1, levels + 1):
        cols += [f"bid_px_{i}", f"bid_qty_{i}", f"ask_px_{i}", f"ask_qty_{i}"]
    return cols


BOOK_SCHEMA: dict[str, Any] = {
    "session": pl.Utf8,
    "seq": pl.Int64,
    "ts_ns": pl.Int64,
    "halted": pl.Boolean,
    **dict.fromkeys(level_columns(), pl.Int64),
}


class DataError(ValueError):
    """A source file cannot be read: ``str()`` is one line naming the file, the line and
    the field."""

    def __init__(self, path: str | Path, line: int | None, field_name: str | None,
                 problem: str) -> None:
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if field_name:
            where += f", field {field_name}"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.field = field_name
        self.problem = problem


@dataclass(slots=True)
class SessionInfo:
    session: str
    regime: str = ""
    messages: int = 0
    book_rows: int = 0
    first_seq: int = 0
    last_seq: int = 0


@dataclass(slots=True)
class Meta:
    source: str  # "capture", "lobster", "l3-csv"
    symbol: str
    tick_size: str  # decimal string
    lot_size: str
    sessions: list[SessionInfo] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Meta:
        raw = json.loads(text)
        sessions = [SessionInfo(**s) for s in raw.pop("sessions", [])]
        return cls(sessions=sessions, **raw)


@dataclass(slots=True)
class Dataset:
    """Messages and book rows of one or more sessions, with their description."""

    messages: pl.DataFrame
    book: pl.DataFrame
    meta: Meta

    def regimes(self) -> dict[str, str]:
        """Session id -> regime tag ("" when untagged)."""
        return {s.session: s.regime for s in self.meta.sessions}


def empty_messages() -> pl.DataFrame:
    return pl.DataFrame(schema=MESSAGE_SCHEMA)


def write_dataset(out: str | Path, dataset: Dataset) -> Path:
    """Write the three files into ``out`` (created if needed); returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset.messages.select(list(MESSAGE_SCHEMA)).cast(MESSAGE_SCHEMA).write_parquet(
        out / MESSAGES_FILE, compression="zstd")
    dataset.book.select(list(BOOK_SCHEMA)).cast(BOOK_SCHEMA).write_parquet(
        out / BOOK_FILE, compression="zstd")
    (out / META_FILE).write_text(dataset.meta.to_json() + "\n", encoding="utf-8")
    return out


def _dataset_dirs(path: Path) -> list[Path]:
    if (path / BOOK_FILE).is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_dir() and (p / BOOK_FILE).is_file())


def dataset_dirs(path: str | Path) -> list[Path]:
    """The data set directories at ``path`` (itself, or its subdirectories holding one),
    in name order. Raises ``DataError`` when there is none."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, None, None, "no such directory")
    dirs = _dataset_dirs(path)
    if not dirs:
        raise DataError(path, None, None,
                        f"no data set here (expected {BOOK_FILE} in it or in a subdirectory)")
    return dirs


def read_meta(path: str | Path) -> list[tuple[Path, Meta]]:
    """Each data set directory at ``path`` with its description, without reading any data.
    Raises ``DataError`` for a missing or unreadable ``meta.json`` or a repeated session."""
    out = []
    seen: set[str] = set()
    for d in dataset_dirs(path):
        try:
            meta = Meta.from_json((d / META_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise DataError(d, None, None, f"missing {Path(exc.filename).name}") from exc
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DataError(d / META_FILE, None, None, f"unreadable: {exc}") from exc
        for s in meta.sessions:
            if s.session in seen:
                raise DataError(d, None, "session", f"session {s.session!r} appears twice")
            seen.add(s.session)
        out.append((d, meta))
    return out


def read_dataset(path: str | Path) -> Dataset:
    """Read a data set directory, or a directory of data set directories (concatenated;
    session ids must not repeat). Raises ``DataError`` when there is none."""
    dirs = dataset_dirs(path)
    messages, books, metas = [], [], []
    for d in dirs:
        try:
            meta = Meta.from_json((d / META_FILE).read_text(encoding="utf-8"))
            books.append(pl.read_parquet(d / BOOK_FILE))
            messages.append(pl.read_parquet(d / MESSAGES_FILE))
        except FileNotFoundError as exc:
            raise DataError(d, None, None, f"missing {Path(exc.filename).name}") from exc
        except (OSError, ValueError, TypeError, KeyError, pl.exceptions.PolarsError) as exc:
            raise DataError(d, None, None, f"unreadable data set: {exc}") from exc
        metas.append(meta)
    seen: set[str] = set()
    for meta, d in zip(metas, dirs, strict=True):
        for s in meta.sessions:
            if s.session in seen:
                raise DataError(d, None, "session", f"session {s.session!r} appears twice")
            seen.add(s.session)
    first = metas[0]
    merged = Meta(source=",".join(sorted({m.source for m in metas})), symbol=first.symbol,
                  tick_size=first.tick_size, lot_size=first.lot_size,
                  sessions=[s for m in metas for s in m.sessions],
                  notes={"parts": [str(d) for d in dirs]} if len(dirs) > 1 else first.notes)
    return Dataset(pl.concat(messages, how="vertical_relaxed"),
                   pl.concat(books, how="vertical_relaxed"), merged)
