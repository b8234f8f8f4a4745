"""Fuzzing the LOBSTER and L3 CSV importers: a damaged file (truncated anywhere, a field
replaced by any text or number, lines dropped, repeated or swapped, bytes that are not
UTF-8) either imports or stops with a ``DataError`` naming the file and, when the
problem is on a line, a line that exists. Never another exception (a traceback)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_importers import BOOKS, L3, MESSAGES
from typer.testing import CliRunner

from matchbook.cli import app
from matchbook.ml.l3csv import import_l3
from matchbook.ml.lobster import import_lobster
from matchbook.ml.schema import DataError, Dataset

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# what a damaged field may hold: numbers at and beyond every edge, text, nothing
FIELD_VALUES = st.one_of(
    st.integers(-2**70, 2**70).map(str),
    st.sampled_from(["", " ", "-", "+", ".", "1e999", "nan", "inf", "-inf", "0x10", "1_000",
                     "١٢٣", "\t7", "7 ", "1.5.2", "--1", "9999999999", "-9999999999",
                     "34200.0000000001", '"1"', "\x00", "add", "buy", "halt"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.text(min_size=0, max_size=8),
)


@st.composite
def damaged(draw: st.DrawFn, text: str) -> bytes:
    """``text`` with one to three damages."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "field", "drop", "repeat", "swap", "bytes",
                                     "newline"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "truncate":  # the file ends anywhere
            joined = "".join(lines)
            cut = draw(st.integers(0, max(0, len(joined) - 1)))
            lines = joined[:cut].splitlines(keepends=True)
        elif kind == "field":
            fields = lines[i].rstrip("\n").split(",")
            j = draw(st.integers(0, len(fields) - 1))
            fields[j] = draw(FIELD_VALUES)
            lines[i] = ",".join(fields) + "\n"
        elif kind == "drop":
            del lines[i]
        elif kind == "repeat":
            lines.insert(i, lines[i])
        elif kind == "swap":
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        elif kind == "newline":  # a line break inside a line, or a blank line
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + "\n" + lines[i][at:]
        else:
            return "".join(lines).encode() + draw(st.binary(min_size=1, max_size=8))
    return "".join(lines).encode()


def _check(error: DataError, files: dict[Path, bytes]) -> None:
    """The error names one of the files, and a line within it (or just past its end)."""
    text = str(error)
    assert "\n" not in text and "Traceback" not in text
    assert any(error.path == str(p) for p in files), (error.path, text)
    assert text.startswith(error.path)
    if error.line is not None:
        lines = files[Path(error.path)].count(b"\n") + 1
        assert 1 <= error.line <= lines + 1, (error.line, lines, text)
        assert f"line {error.line}" in text
    if error.field:
        assert f"field {error.field}" in text


def _lobster(message: bytes, orderbook: bytes) -> tuple[Dataset | DataError, dict[Path, bytes]]:
    with tempfile.TemporaryDirectory() as tmp:
        m = Path(tmp) / "TEST_2024-03-01_34200000_57600000_message_2.csv"
        o = Path(tmp) / "TEST_2024-03-01_34200000_57600000_orderbook_2.csv"
        m.write_bytes(message)
        o.write_bytes(orderbook)
        files = {m: message, o: orderbook}
        try:
            return import_lobster(m, o), files
        except DataError as error:
            _check(error, files)
            return error, files


ORDERBOOK = "\n".join(BOOKS) + "\n"


@FUZZ
@given(message=damaged(MESSAGES))
def test_a_damaged_lobster_message_file_imports_or_stops_with_a_data_error(
        message: bytes) -> None:
    _lobster(message, ORDERBOOK.encode())


@pytest.mark.parametrize("field", [0, 2, 3, 4])
@pytest.mark.parametrize("digits", ["\u0661\u0662\u0663", "\uff11\uff12", "\u0967"])
def test_digits_of_other_scripts_are_refused_with_a_data_error(field: int,
                                                               digits: str) -> None:
    """Arabic-Indic, full-width and Devanagari digits match a regex's \\d but are no
    LOBSTER number: a data error naming the line and field, not the cast's exception."""
    lines = MESSAGES.splitlines(keepends=True)
    fields = lines[1].rstrip("\n").split(",")
    fields[field] = digits
    lines[1] = ",".join(fields) + "\n"
    result, _ = _lobster("".join(lines).encode(), ORDERBOOK.encode())
    assert isinstance(result, DataError)
    assert result.line == 2


@FUZZ
@given(orderbook=damaged(ORDERBOOK))
def test_a_damaged_lobster_orderbook_file_imports_or_stops_with_a_data_error(
        orderbook: bytes) -> None:
    _lobster(MESSAGES.encode(), orderbook)


@FUZZ
@given(message=damaged(MESSAGES), orderbook=damaged(ORDERBOOK))
def test_both_lobster_files_damaged(message: bytes, orderbook: bytes) -> None:
    _lobster(message, orderbook)


@settings(max_examples=60, deadline=None)
@given(which=st.sampled_from(["message", "orderbook"]), data=st.data())
def test_a_truncated_lobster_file_is_always_refused(which: str, data: st.DataObject) -> None:
    """Cut anywhere before its last line's last field, a LOBSTER file no longer pairs with
    the other file (fewer lines, or a short last line): the import stops and names it."""
    text = MESSAGES if which == "message" else ORDERBOOK
    last_field = text.rstrip("\n").rfind(",")
    cut = data.draw(st.integers(0, last_field), label="cut")
    damaged_text = text[:cut].encode()
    message = damaged_text if which == "message" else MESSAGES.encode()
    orderbook = damaged_text if which == "orderbook" else ORDERBOOK.encode()
    result, _ = _lobster(message, orderbook)
    assert isinstance(result, DataError), f"a file cut at byte {cut} was imported"


@FUZZ
@given(content=damaged(L3))
def test_a_damaged_l3_file_imports_or_stops_with_a_data_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.csv"
        path.write_bytes(content)
        try:
            import_l3(path)
        except DataError as error:
            _check(error, {path: content})


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_an_l3_file_cut_inside_a_line_is_refused_at_that_line(data: st.DataObject) -> None:
    """Cut inside a line (after its first character, before its last), the line is short
    of fields or its action is cut: the import names that line."""
    lines = L3.splitlines(keepends=True)
    i = data.draw(st.integers(1, len(lines) - 1), label="line")
    body = lines[i].rstrip("\n")
    cut = data.draw(st.integers(1, len(body) - 1), label="cut")
    if body[cut:].count(",") == 0 and body.rsplit(",", 1)[1][:cut - body.rfind(",") - 1] in (
            "", "add", "halt", "trade", "cancel", "delete", "modify", "resume", "snapshot"):
        return  # the action cut to another action's name (or nothing): see below
    content = ("".join(lines[:i]) + body[:cut]).encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.csv"
        path.write_bytes(content)
        with pytest.raises(DataError) as info:
            import_l3(path)
    assert info.value.line == i + 1


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=damaged(L3))
def test_the_cli_never_prints_a_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "day.csv"
    path.write_bytes(content)
    result = CliRunner().invoke(app, ["ml", "import-l3", str(path), "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    if result.exit_code == 1:
        assert "error:" in result.output and str(path.name) in result.output
