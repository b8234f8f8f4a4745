"""The sustained server bench and bench all end to end, tiny: real server subprocesses,
real generator processes, real sockets. Slow; no timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matchbook.bench import results
from matchbook.cli import app

pytestmark = pytest.mark.slow


def test_sustained_closed_and_open_loops_report_figures_and_pass_the_check(
        tmp_path: Path) -> None:
    out = tmp_path / "sustained.json"
    result = CliRunner().invoke(app, [
        "bench", "api", "--sustained", "--scenario", "rest:closed", "--scenario",
        "ws:open:100", "--connections", "4", "--duration", "3", "--warmup", "1",
        "--repeat", "1", "--journal-mode", "os", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = results.validate(json.loads(result.output))
    assert results.load(out)["sections"].keys() == {"server"}
    server = data["sections"]["server"]
    assert server["check"]["passed"], server["check"]
    scenarios = server["detail"]["scenarios"]
    rest = scenarios["rest:closed"]["runs"][0]
    ws = scenarios["ws:open:100"]["runs"][0]
    for run in (rest, ws):
        assert run["orders"] > 0 and run["latency"]["count"] > 0
        assert run["server_cpu_ms_per_order"] > 0 and run["server"]["commands"] > 0
        # the projector's own process (the server's default) is counted beside it
        assert run["projector_cpu_ms_per_order"] > 0
        assert run["server_and_projector_cpu_ms_per_order"] == pytest.approx(
            run["server_cpu_ms_per_order"] + run["projector_cpu_ms_per_order"], abs=2e-4)
        assert run["check"]["passed"] and run["check"]["accepted_orders"] >= run["orders"]
        assert set(run["outcomes"]) <= {"new", "filled", "partially_filled"}
        assert run["load_average"]["start"]
    assert ws["scheduled"] >= 390 and "issue_lag" in ws and "valid" in ws
    assert server["figures"]["rest_closed_orders_per_sec"] == rest["orders_per_sec"]
    assert server["figures"]["ws_open_100_p99_ms"] == ws["latency"]["p99_ms"]
    assert (server["figures"]["rest_closed_projector_cpu_ms_per_order"]
            == rest["projector_cpu_ms_per_order"])


def test_bench_all_writes_a_result_file_that_diffs_against_itself(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["bench", "all", "--quick", "--section", "journal",
                                      "--section", "pipeline", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = results.load(out)
    assert list(data["sections"]) == ["journal", "pipeline"]
    assert data["sections"]["pipeline"]["check"]["passed"]
    assert data["sections"]["pipeline"]["figures"]["commands_per_sec"] > 0
    assert data["meta"]["quick"] is True and data["workload"]["seed"] == 7
    same = CliRunner().invoke(app, ["bench", "diff", str(out), str(out), "--strict"])
    assert same.exit_code == 0 and "no regression beyond noise" in same.output
