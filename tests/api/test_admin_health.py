"""``GET /api/v1/admin/health`` against a real server: the figures of ``/admin/stats`` and
the cumulative counters a dashboard derives rates and latency percentiles from."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_helpers import Api, assert_error, rest_server

from matchbook.api.errors import ApiCode


@pytest.mark.slow
def test_health_counts_orders_trades_and_ack_latency(tmp_path: Path) -> None:
    with rest_server("sqlite", tmp_path) as server:
        admin = Api(server, server.make_admin())
        maker, taker = server.make_user(), server.make_user()
        server.deposit(maker.user_id, "BTC", "1")
        server.deposit(taker.user_id, "USD", "100000")
        before = admin.get("/admin/health").json()
        order = {"symbol": "BTC-USD", "type": "limit", "price": "50000.00", "quantity": "0.1"}
        assert Api(server, maker).post("/orders", json={**order, "side": "sell"}).status_code == 201
        assert Api(server, taker).post("/orders", json={**order, "side": "buy"}).status_code == 201
        after = admin.get("/admin/health").json()

        for key in ("seq", "queue_depth", "journal", "projector_lag", "websocket_clients",
                    "uptime_seconds", "version"):
            assert key in after, key
        placed = after["commands_by_type"]["PlaceOrder"] - before["commands_by_type"].get(
            "PlaceOrder", 0)
        assert placed == 2
        assert after["trades_by_symbol"]["BTC-USD"] - before["trades_by_symbol"].get(
            "BTC-USD", 0) == 1
        buckets = after["ack_latency_seconds"]["buckets"]
        assert buckets[-1]["le"] == "+Inf"
        counts = [b["count"] for b in buckets]
        assert counts == sorted(counts)  # cumulative
        assert counts[-1] - before["ack_latency_seconds"]["buckets"][-1]["count"] >= 2

        user = Api(server, maker)
        assert_error(user.get("/admin/health"), 403, ApiCode.FORBIDDEN)
        assert_error(Api(server).get("/admin/health"), 401, ApiCode.UNAUTHENTICATED)
