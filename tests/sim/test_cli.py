"""``matchbook sim``: one-line errors for bad input, and a run that journal verify accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matchbook.cli import app

runner = CliRunner()


@pytest.mark.parametrize(("args", "option"), [
    (["sim", "run", "--preset", "nope"], "--preset"),
    (["sim", "run", "--seed", "abc"], "--seed"),
    (["sim", "run", "--seed", "-1"], "--seed"),
    (["sim", "run", "--seed", "9223372036854775808"], "--seed"),
    (["sim", "run", "--journal-mode", "fsync"], "--journal-mode"),
    (["sim", "run", "--target", "ftp://x", "--admin-email", "a", "--admin-password", "b"],
     "--target"),
    (["sim", "run", "--target", "http://127.0.0.1:9"], "--admin-email"),
    (["sim", "facts", "--preset", "nope"], "--preset"),
    (["sim", "facts", "--first-seed", "x"], "--first-seed"),
    (["sim", "facts", "--seeds", "0"], "--seeds"),
    (["sim", "export", "--data-dir", "/nonexistent", "--out", "/tmp/x"], "--data-dir"),
    (["bench", "sim", "--part", "warp"], "--part"),
])
def test_bad_input_is_one_line_naming_the_option(args: list[str], option: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}"), result.stderr


def test_a_used_data_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["sim", "run", "--preset", "small", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "not an empty directory" in result.stderr


def test_run_then_verify_and_export(tmp_path: Path) -> None:
    data = tmp_path / "run"
    result = runner.invoke(app, ["sim", "run", "--preset", "small", "--seed", "4",
                                 "--day-hours", "0.25", "--data-dir", str(data), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["messages"] > 100 and summary["data_dir"] == str(data)
    verify = runner.invoke(app, ["journal", "verify", "--data-dir", str(data)])
    assert verify.exit_code == 0, verify.output
    exported = runner.invoke(app, ["sim", "export", "--data-dir", str(data), "--out",
                                   str(tmp_path / "out"), "--format", "lobster"])
    assert exported.exit_code == 0, exported.output
    assert len(list((tmp_path / "out").glob("BTC-USD_*_message_10.csv"))) == 1
