"""``matchbook bench engine`` on a small mix: the figures it reports are consistent."""

import pytest

import matchbook
from matchbook.bench.engine import run

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


@pytest.mark.parametrize("accounts", [True, False])
def test_small_mix_reports_consistent_figures(accounts: bool) -> None:
    result = run(commands=3000, accounts=accounts, repeat=1, memory_sample=2000)
    assert result["commands"] == 3000 and result["accounts"] is accounts
    assert result["ops_per_sec"] > 0 and result["trades"] > 0
    assert result["p50_us"] <= result["p90_us"] <= result["p99_us"] <= result["p999_us"]
    assert result["p999_us"] <= result["max_us"]
    kinds = result["by_kind"]
    assert abs(sum(row["share"] for row in kinds.values()) - 1) < 0.01
    assert {"cancel", "amend", "limit, 0 fills", "market, 1 fill"} <= set(kinds)
    for row in kinds.values():
        assert row["mean_us"] > 0 and row["p99_us"] > 0
    # the deterministic work count: the bytecodes the interpreter runs per command
    if matchbook.build_info()["build"] == "compiled":
        # the hot path runs as C: next to nothing is left for the interpreter (the
        # interpreted build runs 200 to 1,800 bytecodes per command of the mix)
        assert result["bytecodes_per_command"] < 10
        assert all(row["bytecodes"] < 100 for row in kinds.values())
    else:  # every kind was sampled, and a fill costs work (`make test-pure` runs this)
        assert result["bytecodes_per_command"] > 0
        assert all(row["bytecodes"] > 0 for row in kinds.values())
        assert kinds["limit, 1 fill"]["bytecodes"] > kinds["limit, 0 fills"]["bytecodes"]
    histogram = result["histogram"]
    assert sum(bucket["count"] for bucket in histogram) == 3000
    assert histogram[-1]["upto_us"] is None
    bounds = [bucket["upto_us"] for bucket in histogram[:-1]]
    assert bounds == sorted(bounds)


def test_the_cli_prints_the_tables() -> None:
    from typer.testing import CliRunner

    from matchbook.cli import app

    result = CliRunner().invoke(app, ["bench", "engine", "--commands", "2000", "--repeat", "1"])
    assert result.exit_code == 0, result.output
    for title in ("bench engine: 2,000 commands", "latency by kind of command",
                  "latency distribution"):
        assert title in result.output


def test_same_seed_same_stream_and_state() -> None:
    first = run(commands=2000, repeat=1, memory_sample=1000)
    second = run(commands=2000, repeat=1, memory_sample=1000)
    assert (first["trades"], first["events"], first["rejects"], first["resting_after"]) == (
        second["trades"], second["events"], second["rejects"], second["resting_after"])


def test_bytecode_counts_are_deterministic_and_leave_no_tracer() -> None:
    import sys

    first = run(commands=1500, repeat=1, memory_sample=500, bytecode_sample=1500)
    second = run(commands=1500, repeat=1, memory_sample=500, bytecode_sample=1500)
    assert first["bytecodes_per_command"] == second["bytecodes_per_command"]
    assert {k: r["bytecodes"] for k, r in first["by_kind"].items()} == {
        k: r["bytecodes"] for k, r in second["by_kind"].items()}
    assert sys.gettrace() is None or "coverage" in type(sys.gettrace()).__module__
