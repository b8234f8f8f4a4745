"""Reading headerless numeric CSV files column-wise with polars, with errors that name
the file, the line and the field.

The fast path reads every field as text with polars and converts each column with a
strict check; on any problem (a ragged line, a non-number, an empty field) the file is
walked with Python's ``csv`` once more to find the first bad line, so the error names
it exactly. No traceback reaches a user.
"""

from __future__ import annotations

import csv
import re
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
                    pattern = INT_PATTERN if kind == "int" else DECIMAL_PATTERN
                    if not re.fullmatch(pattern, text) or (
                            kind == "int" and not _INT64[0] <= int(text) <= _INT64[1]):
                        return _value_error(path, number, name, kind, text)
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
        ok = col.str.contains(INT_PATTERN if kind == "int" else DECIMAL_PATTERN)
        if kind == "int":  # and within int64
            ok = ok & col.cast(pl.Int64, strict=False).is_not_null()
        checks.append((col.is_null() | ~ok).fill_null(True).alias(name))
    bad = frame.select(checks)
    first = bad.select(pl.any_horizontal(pl.all()).arg_true().first()).item()
    if first is not None:
        raise _row_error(path, frame, names, kinds, int(first))
    return frame.with_columns(pl.col(n).str.strip_chars() for n in names)


# ASCII digits only: \d would take other scripts' digits (e.g. Arabic-Indic), which
# the integer cast then refuses
INT_PATTERN = r"^[+-]?[0-9]+$"
# non-negative decimal seconds below 10^9 (LOBSTER's time: seconds after midnight)
DECIMAL_PATTERN = r"^[0-9]{1,9}(\.[0-9]*)?$"
_INT64 = (-(2**63), 2**63 - 1)


def _row_error(path: Path, frame: pl.DataFrame, names: list[str], kinds: list[str],
               index: int) -> DataError:
    row = frame.row(index)
    for value, name, kind in zip(row, names, kinds, strict=True):
        if value is None or not str(value).strip():
            return DataError(path, index + 1, name, "empty value (truncated line?)")
        text = str(value).strip()
        pattern = INT_PATTERN if kind == "int" else DECIMAL_PATTERN
        if not re.fullmatch(pattern, text) or (
                kind == "int" and not _INT64[0] <= int(text) <= _INT64[1]):
            return _value_error(path, index + 1, name, kind, text)
    return DataError(path, index + 1, None, "malformed line")


def _value_error(path: Path, line: int, name: str, kind: str, text: str) -> DataError:
    if kind == "int":
        if re.fullmatch(INT_PATTERN, text):
            return DataError(path, line, name, f"{text} is out of range")
        return DataError(path, line, name, f"{text!r} is not an integer")
    return DataError(path, line, name, f"{text!r} is not a non-negative decimal below 10^9")


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
