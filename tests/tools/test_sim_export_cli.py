"""``matchbook sim export`` on a real journal: its files, and a one-line error (exit
status 2, as for every bad option of ``matchbook sim``) when ``--out`` cannot be
written."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from matchbook.cli import app
from matchbook.config import default_markets
from matchbook.core import Deposit, PlaceOrder
from matchbook.core.commands import BUY, LIMIT, SELL
from matchbook.journal.durable import DurabilityConfig, DurableEngine

TS = 1_700_000_000 * 10**9


def journal(data_dir: Path) -> Path:
    with DurableEngine.open(data_dir, default_markets(),
                            config=DurabilityConfig(mode="os")) as durable:
        durable.submit([(Deposit("USD", 10**12, user_id=1), TS),
                        (Deposit("BTC", 10**10, user_id=2), TS)])
        durable.submit([(PlaceOrder(1, "BTC-USD", BUY, LIMIT, qty_lots=5,
                                    price_ticks=4_999_000), TS + 1),
                        (PlaceOrder(2, "BTC-USD", SELL, LIMIT, qty_lots=3,
                                    price_ticks=4_999_000), TS + 2)])
    return data_dir


def test_export_writes_files_and_an_unwritable_out_is_one_line(tmp_path: Path) -> None:
    data = journal(tmp_path / "data")
    good = CliRunner().invoke(app, ["sim", "export", "--data-dir", str(data), "--out",
                                    str(tmp_path / "out"), "--format", "lobster"])
    assert good.exit_code == 0, good.output
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".csv", ".csv"]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    bad = CliRunner().invoke(app, ["sim", "export", "--data-dir", str(data), "--out",
                                   str(blocker / "out")])
    assert bad.exit_code == 2, bad.output
    assert isinstance(bad.exception, SystemExit), repr(bad.exception)
    text = " ".join(bad.output.split())
    assert text.startswith("error: --out: cannot write") and str(blocker) in text
