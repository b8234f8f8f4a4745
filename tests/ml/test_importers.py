"""The LOBSTER and L3 CSV importers on small files written by hand from the formats'
specifications, with the book expected after each message, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from matchbook.cli import app
from matchbook.ml.l3csv import import_l3
from matchbook.ml.lobster import import_lobster
from matchbook.ml.schema import DataError, Event, read_dataset

# ----------------------------------------------------------------------------- LOBSTER
# tick 0.01 = 100 in LOBSTER's price x 10000. An ask of 25 at 100.02 (order 99) rests
# before the file begins: it is in the book from the first line, never in a message.
MESSAGES = """\
34200.000000000,1,11,100,1000000,1
34200.000000000,1,12,50,1000100,-1
34200.500000000,1,13,30,999900,1
34201.000000000,4,12,20,1000100,-1
34201.250000000,2,11,40,1000000,1
34202.000000000,5,0,10,1000000,1
34202.500000000,3,99,25,1000200,-1
34203.000000000,7,0,0,-1,-1
34204.000000000,7,0,0,1,-1
34205.000000000,4,11,60,1000000,1
"""
E_ASK, E_BID = "9999999999", "-9999999999"
# ask1 px, ask1 size, bid1 px, bid1 size, ask2 px, ask2 size, bid2 px, bid2 size
BOOKS = [
    f"1000200,25,1000000,100,{E_ASK},0,{E_BID},0",
    f"1000100,50,1000000,100,1000200,25,{E_BID},0",
    "1000100,50,1000000,100,1000200,25,999900,30",
    "1000100,30,1000000,100,1000200,25,999900,30",
    "1000100,30,1000000,60,1000200,25,999900,30",
    "1000100,30,1000000,60,1000200,25,999900,30",
    f"1000100,30,1000000,60,{E_ASK},0,999900,30",
    f"1000100,30,1000000,60,{E_ASK},0,999900,30",
    f"1000100,30,1000000,60,{E_ASK},0,999900,30",
    f"1000100,30,999900,30,{E_ASK},0,{E_BID},0",
]
# expected (bid1, bq1, ask1, aq1, bid2, bq2, ask2, aq2) in ticks and lots after each line
EXPECTED_BOOK = [
    (10000, 100, 10002, 25, 0, 0, 0, 0),
    (10000, 100, 10001, 50, 0, 0, 10002, 25),
    (10000, 100, 10001, 50, 9999, 30, 10002, 25),
    (10000, 100, 10001, 30, 9999, 30, 10002, 25),
    (10000, 60, 10001, 30, 9999, 30, 10002, 25),
    (10000, 60, 10001, 30, 9999, 30, 10002, 25),
    (10000, 60, 10001, 30, 9999, 30, 0, 0),
    (10000, 60, 10001, 30, 9999, 30, 0, 0),
    (10000, 60, 10001, 30, 9999, 30, 0, 0),
    (9999, 30, 10001, 30, 0, 0, 0, 0),
]
BOOK_COLS = ["bid_px_1", "bid_qty_1", "ask_px_1", "ask_qty_1",
             "bid_px_2", "bid_qty_2", "ask_px_2", "ask_qty_2"]


def lobster_pair(tmp_path: Path, messages: str = MESSAGES,
                 books: list[str] | None = None) -> tuple[Path, Path]:
    m = tmp_path / "TEST_2024-03-01_34200000_57600000_message_2.csv"
    o = tmp_path / "TEST_2024-03-01_34200000_57600000_orderbook_2.csv"
    m.write_text(messages)
    o.write_text("\n".join(BOOKS if books is None else books) + "\n")
    return m, o


def test_lobster_book_after_each_message(tmp_path: Path) -> None:
    ds = import_lobster(*lobster_pair(tmp_path))
    assert [tuple(r) for r in ds.book.select(BOOK_COLS).iter_rows()] == EXPECTED_BOOK
    msgs = ds.messages
    assert msgs["event"].to_list() == [Event.SNAPSHOT, Event.SNAPSHOT, Event.ADD,
                                       Event.EXECUTE, Event.CANCEL, Event.EXECUTE_HIDDEN,
                                       Event.DELETE, Event.HALT, Event.RESUME, Event.EXECUTE]
    # an execution's direction is the resting order's side: the aggressor is the other
    assert msgs["aggressor"].to_list() == [0, 0, 0, 1, 0, -1, 0, 0, 0, -1]
    assert msgs["predates"].to_list() == [False] * 6 + [True] + [False] * 3
    assert msgs["price_ticks"].to_list()[:3] == [10000, 10001, 9999]
    assert ds.book["halted"].to_list() == [False] * 7 + [True, False, False]
    assert ds.meta.sessions[0].session == "TEST_2024-03-01_34200000_57600000"
    # time: seconds after midnight of the day in the file name, in nanoseconds
    assert msgs["ts_ns"][2] - msgs["ts_ns"][0] == 500_000_000
    assert msgs["ts_ns"][0] == 1709251200_000_000_000 + 34200 * 1_000_000_000
    assert ds.meta.notes["inconsistent_messages"] == 0
    assert ds.meta.notes["checked_messages"] >= 4


def test_lobster_opening_block_can_be_turned_off(tmp_path: Path) -> None:
    ds = import_lobster(*lobster_pair(tmp_path), opening="none")
    assert ds.messages["event"].to_list()[:2] == [Event.ADD, Event.ADD]


@pytest.mark.parametrize(("change", "line", "field", "problem"), [
    (lambda t: t.replace("34205.000000000,4,11,60,1000000,1\n", "34205.000000000,4,11\n"),
     10, "size", "truncated"),
    (lambda t: t.replace("34201.250000000,2,", "34201.250000000,x,"), 5, "type",
     "not an integer"),
    (lambda t: t.replace("34201.250000000,2,", "34201.250000000,8,"), 5, "type", "not 1..7"),
    (lambda t: t.replace("999900,1\n", "999900,0\n"), 3, "direction", "not 1 or -1"),
    (lambda t: t.replace(",0,10,1000000,1", ",0,10,1000005,1"), 6, "price",
     "multiple of the tick"),
    (lambda t: t.replace("34202.500000000", "34199.000000000"), 7, "time", "backwards"),
    (lambda t: t.replace(",-1,-1\n", ",-5,-1\n"), 8, "price", "halt indicator"),
])
def test_lobster_malformed_message_file(tmp_path: Path, change, line, field, problem) -> None:
    m, o = lobster_pair(tmp_path, change(MESSAGES))
    with pytest.raises(DataError) as info:
        import_lobster(m, o)
    assert (info.value.line, info.value.field) == (line, field)
    assert problem in str(info.value) and m.name in str(info.value)
    assert "\n" not in str(info.value)


def test_lobster_date_must_fit_nanoseconds(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"within 1970\.\.2261") as info:
        import_lobster(*lobster_pair(tmp_path), date="2400-01-01")
    assert info.value.field == "date"


def test_lobster_truncated_orderbook_file(tmp_path: Path) -> None:
    m, o = lobster_pair(tmp_path, books=BOOKS[:-1])
    with pytest.raises(DataError) as info:
        import_lobster(m, o)
    assert info.value.path == str(o) and info.value.line == 10
    assert "truncated" in str(info.value)


def test_lobster_orderbook_errors(tmp_path: Path) -> None:
    books = list(BOOKS)
    books[3] = books[3].replace("1000100,30,1000000,100", "1000100,30,1000200,100")
    m, o = lobster_pair(tmp_path, books=books)
    with pytest.raises(DataError, match="crossed") as info:
        import_lobster(m, o)
    assert info.value.line == 4
    m, o = lobster_pair(tmp_path, books=[b + ",1" for b in BOOKS])
    with pytest.raises(DataError, match="4 per level") as info:
        import_lobster(m, o)


def test_lobster_files_that_are_not_a_pair(tmp_path: Path) -> None:
    """The book rows shifted by one line: most messages disagree with the book change."""
    m, o = lobster_pair(tmp_path, books=[BOOKS[0], *BOOKS[:-1]])
    with pytest.raises(DataError, match="do not match"):
        import_lobster(m, o)


def test_lobster_tick_size_must_fit_the_prices(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="multiple of the tick") as info:
        import_lobster(*lobster_pair(tmp_path), tick_size="0.05")
    assert info.value.line == 2 and info.value.field == "price"


# ----------------------------------------------------------------------------- L3 CSV

L3 = """\
timestamp,order_id,side,price,size,action
1000,7,sell,100.03,4,snapshot
2000,1,buy,100.00,5,add
3000,2,sell,100.05,3,add
4000,3,buy,100.01,2,add
5000,1,buy,100.00,2,cancel
6000,2,sell,100.05,1,trade
7000,7,sell,100.03,1,trade
8000,3,buy,100.01,1,modify
9000,3,buy,100.02,4,modify
9500,0,buy,100.01,2,hidden_trade
10000,,,,,halt
11000,,,,,resume
12000,2,sell,100.05,0,delete
12000,7,sell,100.03,3,cancel
"""
# (bid1, bq1, ask1, aq1, bid2, bq2, ask2, aq2) in ticks (0.01) and lots after each line
L3_EXPECTED = [
    (0, 0, 10003, 4, 0, 0, 0, 0),
    (10000, 5, 10003, 4, 0, 0, 0, 0),
    (10000, 5, 10003, 4, 0, 0, 10005, 3),
    (10001, 2, 10003, 4, 10000, 5, 10005, 3),
    (10001, 2, 10003, 4, 10000, 3, 10005, 3),
    (10001, 2, 10003, 4, 10000, 3, 10005, 2),
    (10001, 2, 10003, 3, 10000, 3, 10005, 2),  # order 7 rested before the file
    (10001, 1, 10003, 3, 10000, 3, 10005, 2),  # same price, less: keeps its place
    (10002, 4, 10003, 3, 10000, 3, 10005, 2),  # new price: moves
    (10002, 4, 10003, 3, 10000, 3, 10005, 2),  # hidden: no visible change
    (10002, 4, 10003, 3, 10000, 3, 10005, 2),
    (10002, 4, 10003, 3, 10000, 3, 10005, 2),
    (10002, 4, 10003, 3, 10000, 3, 0, 0),
    (10002, 4, 0, 0, 10000, 3, 0, 0),
]


def test_l3_book_after_each_line(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text(L3)
    ds = import_l3(path)
    assert [tuple(r) for r in ds.book.select(BOOK_COLS).iter_rows()] == L3_EXPECTED
    assert ds.book["halted"].to_list() == [False] * 10 + [True] + [False] * 3
    m = ds.messages
    events = list(zip(m["seq"].to_list(), m["event"].to_list(), strict=True))
    assert events == [(2, Event.SNAPSHOT), (3, Event.ADD), (4, Event.ADD), (5, Event.ADD),
                      (6, Event.CANCEL), (7, Event.EXECUTE), (8, Event.EXECUTE),
                      (9, Event.CANCEL), (10, Event.DELETE), (10, Event.ADD),
                      (11, Event.EXECUTE_HIDDEN), (12, Event.HALT), (13, Event.RESUME),
                      (14, Event.DELETE), (15, Event.DELETE)]
    trade = m.filter(m["event"] == Event.EXECUTE)
    assert trade["aggressor"].to_list() == [1, 1]  # sells rested: buyers took them


def test_l3_orders_before_the_file_change_their_level_only(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text("timestamp,order_id,side,price,size,action\n"
                    "1,1,buy,10.00,5,add\n"
                    "2,50,buy,10.00,2,trade\n"  # unknown order 50 rested at 10.00
                    "3,51,buy,9.99,4,cancel\n")  # unknown, and no level there: nothing
    ds = import_l3(path)
    assert ds.book["bid_qty_1"].to_list() == [5, 3, 3]
    assert ds.messages["predates"].to_list() == [False, True, True]
    assert ds.meta.notes["predating_messages"] == 2


@pytest.mark.parametrize(("line_text", "field", "problem"), [
    ("5,1,buy,100.00,5,teleport", "action", "is not one of"),
    ("5,1,up,100.00,5,add", "side", "is not buy or sell"),
    ("5,1,buy,100.001,5,add", "price", "multiple of 0.01"),
    ("5,1,buy,abc,5,add", "price", "is not a number"),
    ("5,x,buy,100.00,5,add", "order_id", "is not an integer"),
    ("5,1,buy,100.00", "size", "truncated line"),
    ("1,1,buy,100.00,5,add", "timestamp", "backwards"),
    ("5,1,buy,100.00,0,add", "size", "positive size"),
    (f"5,1,buy,100.00,{2**63},add", "size", "out of range"),
    (f"5,{2**64},buy,100.00,1,add", "order_id", "out of range"),
    (f"{2**63},1,buy,100.00,1,add", "timestamp", "out of range"),
    (f"5,1,buy,{2**62},1,add", "price", "out of range"),
    (f"5,1,sell,101.00,{2**63 - 1},add", "size", "beyond 64 bits"),
])
def test_l3_malformed_lines(tmp_path: Path, line_text: str, field: str, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,order_id,side,price,size,action\n2,9,sell,101.00,1,add\n"
                    + line_text + "\n")
    with pytest.raises(DataError) as info:
        import_l3(path)
    assert (info.value.line, info.value.field) == (3, field)
    assert problem in str(info.value)


@pytest.mark.parametrize(("option", "value", "problem"), [
    ("tick_size", "abc", "'abc' is not a number"), ("lot_size", "abc", "'abc' is not a number"),
    ("tick_size", "0", "must be positive"), ("lot_size", "-1", "must be positive")])
def test_l3_bad_tick_or_lot_size_names_the_option_not_a_line(
        tmp_path: Path, option: str, value: str, problem: str) -> None:
    path = tmp_path / "day.csv"
    path.write_text(L3)
    with pytest.raises(DataError) as info:
        import_l3(path, **{option: value})
    assert (info.value.line, info.value.field) == (None, option.replace("_", "-"))
    assert problem in str(info.value) and "line" not in str(info.value)


def test_l3_header_must_name_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,id,side,price,size,action\n1,1,buy,1.00,1,add\n")
    with pytest.raises(DataError, match="lacks timestamp, order_id") as info:
        import_l3(path)
    assert info.value.line == 1


# ----------------------------------------------------------------------------- CLI


def test_cli_imports_write_a_data_set_and_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    m, o = lobster_pair(tmp_path)
    out = tmp_path / "lob"
    result = runner.invoke(app, ["ml", "import-lobster", "--message", str(m), "--orderbook",
                                 str(o), "--out", str(out), "--regime", "calm"])
    assert result.exit_code == 0, result.output
    assert read_dataset(out).regimes() == {"TEST_2024-03-01_34200000_57600000": "calm"}
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,order_id,side,price,size,action\n1,1,buy,1.00\n")
    result = runner.invoke(app, ["ml", "import-l3", str(bad), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{bad}, line 2, field size: truncated line" in " ".join(result.output.split())


def test_cli_an_output_that_cannot_be_written_is_a_one_line_error(tmp_path: Path) -> None:
    """``--out`` under a regular file (or anywhere the user cannot write): exit status 1 and
    one line naming the path, never a traceback."""
    import numpy as np
    from test_features import random_dataset

    from matchbook.ml.schema import write_dataset

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    m, o = lobster_pair(tmp_path)
    l3 = tmp_path / "day.csv"
    l3.write_text(L3)
    data = write_dataset(tmp_path / "data", random_dataset(np.random.default_rng(0), 300))
    runs = {
        "import-lobster": ["ml", "import-lobster", "--message", str(m), "--orderbook", str(o),
                           "--out", str(blocker / "lob")],
        "import-l3": ["ml", "import-l3", str(l3), "--out", str(blocker / "l3")],
        "train": ["ml", "train", "--data", str(data), "--model", "logistic",
                  "--out", str(blocker / "model.pkl")],
    }
    for name, args in runs.items():
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, (name, result.output)
        assert isinstance(result.exception, SystemExit), (name, repr(result.exception))
        text = " ".join(result.output.split())
        assert "Traceback" not in text and "error:" in text, (name, text)
        assert f"{blocker}" in text and "cannot write" in text, (name, text)


def test_cli_refuses_counts_that_cannot_work(tmp_path: Path) -> None:
    """Zero training events or bootstrap resamples ended in a numpy/scikit-learn
    traceback, and ``backtest --every 0`` in an agent waking forever at the same instant:
    each is refused before any work, naming the option."""
    import numpy as np
    from test_features import random_dataset

    from matchbook.ml.schema import write_dataset

    data = write_dataset(tmp_path / "data", random_dataset(np.random.default_rng(0), 300))
    usage = {
        "--max-train": ["ml", "train", "--data", str(data), "--out", str(tmp_path / "m.pkl"),
                        "--model", "logistic", "--max-train", "0"],
        "--resamples": ["ml", "evaluate", "--data", str(data), "--resamples", "0"],
        "--folds": ["ml", "evaluate", "--data", str(data), "--folds", "-1"],
    }
    for option, args in usage.items():
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (option, result.output)
        assert f"Invalid value for '{option}'" in " ".join(result.output.split())
    for every, markout in (("0", "10"), ("-1", "10"), ("5", "-1")):
        result = CliRunner().invoke(app, ["ml", "backtest", "--model", str(tmp_path / "none"),
                                          "--every", every, "--markout", markout])
        assert result.exit_code == 1, result.output
        assert "--every must be positive" in " ".join(result.output.split())
    assert not (tmp_path / "m.pkl").exists()
