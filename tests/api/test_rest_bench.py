"""``matchbook bench api`` end to end, tiny: a server subprocess on loopback, every phase."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from matchbook.cli import app

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


def test_bench_api_runs_every_phase_and_reports_json() -> None:
    result = CliRunner().invoke(app, [
        "bench", "api", "--json", "--clients", "4", "--rest-orders", "200",
        "--ws-connections", "2", "--ws-window", "4", "--ws-orders", "200",
        "--subscribers", "20", "--fanout-orders", "10", "--fanout-interval", "0.01",
        "--seconds", "20", "--journal-mode", "os"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["host"] == "127.0.0.1" and figures["phases"] == ["rest", "ws", "fanout"]
    rest, ws, fanout = figures["rest"], figures["ws"], figures["fanout"]
    assert rest["orders"] == 200 and set(rest["statuses"]) <= {"new", "filled",
                                                                 "partially_filled"}
    assert ws["orders"] == 200 and set(ws["outcomes"]) <= {"new", "filled", "partially_filled"}
    assert rest["server"]["commands"] >= 200 and ws["server"]["commands"] >= 200
    assert rest["orders_per_sec"] > 0 and ws["orders_per_sec"] > 0
    assert 0 < rest["ack"]["p50_ms"] <= rest["ack"]["p99_ms"] <= rest["ack"]["max_ms"]
    assert fanout["levels"] == 10 and fanout["missing"] == 0
    assert fanout["deliveries"] == 10 * 20
    assert 0 < fanout["delivery"]["p50_ms"] <= fanout["delivery"]["p99_ms"]
