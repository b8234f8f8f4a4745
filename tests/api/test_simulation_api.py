"""``/api/simulation``: shape, limits, sandbox isolation and a live loop while it runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import running_server

pytestmark = pytest.mark.slow


def _live_hash(server: Any) -> str:
    async def read() -> str:
        return str(server.state.exchange.engine.state_hash())

    return server.call(read)


@pytest.mark.parametrize(("body", "field"), [
    ({"num_orders": 0}, "num_orders"),
    ({"num_orders": -5}, "num_orders"),
    ({"num_orders": 1.5}, "num_orders"),
    ({"num_orders": "100"}, "num_orders"),
    ({"num_orders": 1_000_001}, "num_orders"),
    ({}, "num_orders"),
    ({"num_orders": 10, "speed": 2}, "speed"),
    ({"num_orders": 10, "seed": -1}, "seed"),
])
def test_bad_input_is_422_naming_the_field(tmp_path: Path, body: dict, field: str) -> None:
    with running_server(tmp_path) as server:
        r = httpx.post(server.base_url + "/api/simulation", json=body)
        assert r.status_code == 422
        error = r.json()
        assert error["code"] == 6001 and error["field"] == field
        assert field in error["message"]
        assert httpx.get(server.base_url + "/api/simulation").json() == []  # nothing started


def test_a_run_answers_its_figures_and_leaves_the_live_market_alone(tmp_path: Path) -> None:
    with running_server(tmp_path, demo=True) as server:
        url = server.base_url
        time.sleep(0.5)
        before = _live_hash(server)
        seq_before = server.call(_seq(server))
        r = httpx.post(url + "/api/simulation", json={"num_orders": 5000, "seed": 7}, timeout=120)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"] is True and body["run_id"] == 1
        m = body["metrics"]
        assert m["orders_submitted"] == 5000 and m["trades_executed"] > 0
        ladder = [m[k] for k in ("min_latency_us", "p50_latency_us", "p90_latency_us",
                                 "p99_latency_us", "p999_latency_us", "max_latency_us")]
        assert ladder == sorted(ladder) and ladder[0] > 0
        assert sum(b["count"] for b in m["latency_histogram"]) == 5000
        assert len(m["throughput_series"]) == 50
        assert sum(m["order_mix"].values()) == 5000
        assert isinstance(m["total_volume_traded"], str) and isinstance(m["current_spread"], str)
        assert m["seed"] == 7
        # the same seed and count give the same sandbox state
        again = httpx.post(url + "/api/simulation", json={"num_orders": 5000, "seed": 7},
                           timeout=120).json()
        assert again["metrics"]["state_hash"] == m["state_hash"]
        # the live exchange saw none of it: same state (the demo bot may have traded:
        # then the journal moved by its own commands only)
        if server.call(_seq(server)) == seq_before:
            assert _live_hash(server) == before
        runs = httpx.get(url + "/api/simulation").json()
        assert [run["run_id"] for run in runs] == [2, 1]
        assert runs[0]["status"] == "done" and runs[0]["metrics"]["orders_submitted"] == 5000


def _seq(server: Any) -> Any:
    async def read() -> int:
        return int(server.state.exchange.engine.last_seq)

    return read


def test_live_state_hash_unchanged_without_other_traffic(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        before = _live_hash(server)
        r = httpx.post(server.base_url + "/api/simulation", json={"num_orders": 20_000},
                       timeout=120)
        assert r.status_code == 200
        assert _live_hash(server) == before


def test_a_large_run_answers_202_and_the_loop_keeps_serving(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        url = server.base_url
        r = httpx.post(url + "/api/simulation", json={"num_orders": 400_000, "seed": 1},
                       timeout=60)
        assert r.status_code == 202
        run = r.json()
        assert run["status"] == "running" and r.headers["location"] == "/api/simulation/1"
        busy = httpx.post(url + "/api/simulation", json={"num_orders": 10})
        assert busy.status_code == 429 and busy.json()["code"] == 5005
        served = 0
        while httpx.get(url + "/api/simulation/1").json()["status"] == "running":
            assert httpx.get(url + "/api/v1/depth", params={"symbol": "BTC-USD"},
                             timeout=10).status_code == 200
            if httpx.get(url + "/api/simulation/1").json()["status"] == "running":
                served += 1  # answered while the run was still going
            time.sleep(0.05)
        assert served > 0
        done = httpx.get(url + "/api/simulation/1").json()
        assert done["status"] == "done" and done["metrics"]["orders_submitted"] == 400_000
        assert httpx.get(url + "/api/simulation/99").status_code == 404


def test_openapi_types_the_endpoint(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        spec = httpx.get(server.base_url + "/openapi.json").json()
        post = spec["paths"]["/api/simulation"]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "SimulationRequest")
        assert post["responses"]["200"]["content"]["application/json"]["schema"][
            "$ref"].endswith("SimulationResponse")
        assert "SimulationMetrics" in spec["components"]["schemas"]
        assert "/api/simulation/{run_id}" in spec["paths"]


def test_stopping_the_server_ends_a_run_still_going(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        r = httpx.post(server.base_url + "/api/simulation",
                       json={"num_orders": 1_000_000, "seed": 3}, timeout=60)
        assert r.status_code == 202
        service = server.app.state.simulation
        deadline = time.monotonic() + 30
        while service.process is None and time.monotonic() < deadline:
            time.sleep(0.01)
        worker = service.process
        assert worker is not None and worker.is_alive()
        run = service.runs[1]
        stopped_at = time.monotonic()
    # the server has stopped: the worker with it, long before a million orders are done
    assert not worker.is_alive() and worker.exitcode is not None
    assert time.monotonic() - stopped_at < 10
    assert run.status == "stopped" and "server shut down" in run.message
