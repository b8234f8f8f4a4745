"""``examples/ml_move_by_confidence.py`` run as a program on data sets written to disk:
its table, and one-line errors for data it cannot use. (``examples/ml_chain.py``
simulates whole sessions, minutes: it is left to a manual run.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_features import random_dataset

from matchbook.ml.schema import Dataset, Meta, SessionInfo, write_dataset

pytestmark = pytest.mark.slow  # subprocesses

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ml_move_by_confidence.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True,
                          text=True, timeout=180, check=False)


def write_sessions(root: Path, regimes: list[str]) -> Path:
    rng = np.random.default_rng(4)
    for i, regime in enumerate(regimes):
        ds = random_dataset(rng, 600, session=f"{regime}-{i}")
        write_dataset(root / f"{regime}-{i:04d}", Dataset(ds.messages, ds.book, Meta(
            "test", "X", "0.01", "1", [SessionInfo(f"{regime}-{i}", regime)])))
    return root


def test_the_table_of_moves_by_confidence(tmp_path: Path) -> None:
    data = write_sessions(tmp_path / "data", ["calm"] * 5 + ["volatile"] * 5)
    result = run("--data", str(data), "--horizon", "0.001")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # per regime of 5, as `matchbook ml evaluate` splits: the last 2 test, 1 embargoed
    assert lines[0].startswith("4 training and 4 test sessions; ")
    rows = [line for line in lines if line.startswith("[")]
    assert rows
    # the bins' shares of the test events add up to all of them
    shares = [float(line.split()[2].rstrip("%")) for line in rows]
    assert sum(shares) == pytest.approx(100.0, abs=0.1 * len(rows))


@pytest.mark.parametrize(("layout", "problem"), [
    (None, "no such directory"),
    (["calm"], "needs at least two sessions"),
])
def test_data_it_cannot_use_is_a_one_line_error(tmp_path: Path, layout: list[str] | None,
                                                problem: str) -> None:
    data = tmp_path / "data"
    if layout is not None:
        write_sessions(data, layout)
    result = run("--data", str(data))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {data}") and problem in line


def test_the_chain_example_stops_with_one_line_on_sessions_too_short(tmp_path: Path) -> None:
    """Seven simulated seconds a session leave nothing to split: one error line."""
    chain = EXAMPLE.with_name("ml_chain.py")
    result = subprocess.run([sys.executable, str(chain), "--seeds", "1", "--hours", "0.002",
                             "--out", str(tmp_path / "ml")], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and ("no training or no test rows" in line
                                           or "too few to evaluate" in line), line
    assert "1. simulating 1 calm and 1 volatile sessions" in result.stdout
