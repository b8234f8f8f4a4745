"""``matchbook bench compare``: a git revision's engine runs beside this tree's."""

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from matchbook.bench.compare import BASE_PACKAGE, compare

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run

ROOT = Path(__file__).resolve().parents[2]


def _core_unchanged_since_head() -> bool:
    return subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--",
                           "src/matchbook/core"]).returncode == 0


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout")
@pytest.mark.parametrize("accounts", [True, False])
def test_compare_with_head_runs_both_engines_to_the_same_state(accounts: bool) -> None:
    result = compare("HEAD", commands=4000, accounts=accounts, chunk=1000, repo=ROOT)
    assert result["base"] == "HEAD" and result["commands"] == 4000
    assert result["base_ops_per_sec"] > 0 and result["this_ops_per_sec"] > 0
    assert result["speedup"] == pytest.approx(
        result["this_ops_per_sec"] / result["base_ops_per_sec"], rel=0.01)
    if _core_unchanged_since_head():
        assert result["same_state"] is True
    # the base is gone again: a second comparison imports it afresh
    assert not any(m.split(".")[0] == BASE_PACKAGE for m in sys.modules)
    assert not any(BASE_PACKAGE in p for p in sys.path)


def test_an_unknown_revision_fails_loudly() -> None:
    with pytest.raises(subprocess.CalledProcessError):
        compare("no-such-revision", commands=100, repo=ROOT)


def test_accounts_cost_takes_turns_and_reports_a_share() -> None:
    from matchbook.bench.compare import accounts_cost

    stages: list[str] = []
    result = accounts_cost(commands=4000, chunk=1000,
                           progress=lambda stage, done, total: stages.append(stage))
    assert result["no_accounts_ops_per_sec"] > 0 and result["accounts_ops_per_sec"] > 0
    # the share is the two measured rates' own relation (no timing is asserted)
    assert result["accounts_cost"] == pytest.approx(
        1 - result["accounts_ops_per_sec"] / result["no_accounts_ops_per_sec"], abs=0.01)
    assert {"generate", "alternate"} <= set(stages)


def test_alternate_applies_every_command_once_in_order_taking_turns() -> None:
    from matchbook.bench.compare import alternate

    log: list[tuple[str, int, str]] = []

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        def apply(self, seq: int, ts: int, command: str) -> None:
            assert ts == seq
            log.append((self.name, seq, command))

    notes: list[int] = []
    spent = alternate({"a": (Recorder("a"), list("vwxyz"), 10),
                       "b": (Recorder("b"), list("VWXYZ"), 20)},
                      commands=5, chunk=2, note=lambda stage, done, total: notes.append(done))
    assert log == [("a", 10, "v"), ("a", 11, "w"), ("b", 20, "V"), ("b", 21, "W"),
                   ("b", 22, "X"), ("b", 23, "Y"), ("a", 12, "x"), ("a", 13, "y"),
                   ("a", 14, "z"), ("b", 24, "Z")]
    assert notes == [2, 4, 5] and set(spent) == {"a", "b"}
    assert all(ns > 0 for ns in spent.values())
    assert gc.isenabled()  # collection is back on after the timed turns
