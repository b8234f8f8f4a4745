"""Reading headerless numeric CSV files column-wise with polars, with errors that name
the file, the line and the field.

The fast path reads every field as text with polars and converts each column with a
strict check; on any problem (a ragged line, a non-number, an empty field) the file is
walked with Python's ``csv`` once more to find the first bad line, so the error names
it exactly. No traceback reaches a user.
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl

from matchbook.ml.schema import DataError


def _first_bad_line(path: Path, names: list[str], kinds: list[str]) -> DataError:
    """Walk the file and describe its first malformed line (``kinds``: "int" or
    "decimal" per column)."""
    width = len(names)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle), 1):
                if len(row) < width:
                    missing = names[len(row)] if len(row) < width else ""
                    return DataError(path, number, missing,
                                     f"truncated line: {len(row)} fields, expected {width}")
                if len(row) > width:
                    return DataError(path, number, None,
                                     f"{len(row)} fields, expected {width}")
                for value, name, kind in zip(row, names, kinds, strict=True):
                    text = value.strip()
                    if not text:
                        return DataError(path, number, name, "empty value")
                    if kind == "int":
                        try:
                            int(text)
                        except ValueError:
                            return DataError(path, number, name,
                                             f"{text!r} is not an integer")
                    else:
                        try:
                            if not Decimal(text).is_finite():
                                raise InvalidOperation
                        except InvalidOperation:
                            return DataError(path, number, name, f"{text!r} is not a number")
    except UnicodeDecodeError as exc:
        return DataError(path, None, None, f"not UTF-8 text: {exc}")
    except OSError as exc:
        return DataError(path, None, None, str(exc))
    return DataError(path, None, None, "unreadable CSV")


def read_columns(path: Path, names: list[str], kinds: list[str]) -> pl.DataFrame:
    """The file as a frame of text columns ``names`` (no header), every value checked
    to be an integer or a decimal number. Raises ``DataError``."""
    if not path.is_file():
        raise DataError(path, None, None, "no such file")
    if path.stat().st_size == 0:
        raise DataError(path, None, None, "the file is empty")
    try:
        frame = pl.read_csv(path, has_header=False, new_columns=names, infer_schema=False,
                            truncate_ragged_lines=False, raise_if_empty=True)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise _first_bad_line(path, names, kinds) from exc
    if frame.width != len(names):
        raise _first_bad_line(path, names, kinds)
    checks = []
    for name, kind in zip(names, kinds, strict=True):
        col = pl.col(name).str.strip_chars()
        pattern = r"^[+-]?\d+$" if kind == "int" else r"^[+-]?(\d+\.?\d*|\.\d+)$"
        checks.append((col.is_null() | ~col.str.contains(pattern)).alias(name))
    bad = frame.select(checks)
    any_bad = bad.select(pl.any_horizontal(pl.all()).arg_max()).item()
    if any_bad is not None and bool(bad.row(any_bad) and any(bad.row(any_bad))):
        return _raise_row(path, frame, names, kinds, int(any_bad))
    return frame.with_columns(pl.col(n).str.strip_chars() for n in names)


def _raise_row(path: Path, frame: pl.DataFrame, names: list[str], kinds: list[str],
               index: int) -> pl.DataFrame:
    row = frame.row(index)
    for value, name, kind in zip(row, names, kinds, strict=True):
        if value is None or not str(value).strip():
            raise DataError(path, index + 1, name, "empty value (truncated line?)")
        text = str(value).strip()
        if kind == "int":
            try:
                int(text)
            except ValueError:
                raise DataError(path, index + 1, name, f"{text!r} is not an integer") from None
        else:
            try:
                Decimal(text)
            except InvalidOperation:
                raise DataError(path, index + 1, name, f"{text!r} is not a number") from None
    raise DataError(path, index + 1, None, "malformed line")


def decimal_seconds_to_ns(col: pl.Expr) -> pl.Expr:
    """``"34200.123456789"`` -> 34200123456789 (integer nanoseconds; digits past the
    ninth are truncated)."""
    parts = col.str.split_exact(".", 1)
    whole = parts.struct.field("field_0").cast(pl.Int64)
    frac = (parts.struct.field("field_1").fill_null("").str.slice(0, 9)
            .str.pad_end(9, "0").cast(pl.Int64))
    return whole * 1_000_000_000 + frac


def ticks_per_unit(tick_size: str, unit_scale: int, what: str) -> int:
    """How many source price units make one tick: ``tick_size`` (a decimal string) times
    ``unit_scale`` must be a positive integer (LOBSTER: price x 10000)."""
    try:
        tick = Decimal(tick_size)
    except InvalidOperation:
        raise DataError(what, None, "tick-size", f"{tick_size!r} is not a number") from None
    units = tick * unit_scale
    if tick <= 0 or units != units.to_integral_value():
        raise DataError(what, None, "tick-size",
                        f"{tick_size} is not a positive multiple of 1/{unit_scale}")
    return int(units)
