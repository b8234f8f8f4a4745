"""``examples/execution_baselines.py`` run as a program: the three policies' shortfalls,
and a usage error (not a ZeroDivisionError) for counts below one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "execution_baselines.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_each_policy_gets_a_shortfall() -> None:
    result = run("--episodes", "2", "--horizon", "5", "--target-lots", "50")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "buy 50 lots in 5 steps, 2 episodes"
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in lines[2:]}
    assert set(rows) == {"twap", "immediate", "last"}
    for mean, median, stderr in rows.values():
        assert stderr >= 0 and abs(mean) < 1_000 and abs(median) < 1_000


@pytest.mark.parametrize("option", ["--episodes", "--horizon", "--target-lots"])
def test_a_count_below_one_is_a_usage_error(option: str) -> None:
    result = run(option, "0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "must be at least 1" in result.stderr.strip().splitlines()[-1]
