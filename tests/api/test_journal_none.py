"""A server without a journal (``journal_mode = "none"``) and risk limits of its own: the
limits are applied at start-up, before any request, and the read model still gets every
command (there is no journal for the projector to catch up from)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from rest_helpers import Api, caught_up, funded, rest_server

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


def test_the_read_model_follows_a_server_without_journal(tmp_path: Path) -> None:
    markets = tmp_path / "markets.toml"
    text = resources.files("matchbook.config").joinpath("markets.toml").read_text("utf-8")
    assert "max_open_orders = 1000" in text
    markets.write_text(text.replace("max_open_orders = 1000", "max_open_orders = 50"))
    with rest_server("sqlite", tmp_path, journal_mode="none",
                     markets_file=str(markets)) as server:
        assert server.state.exchange.engine.limits.max_open_orders == 50
        admin = Api(server, server.make_admin())
        alice = Api(server, funded(server, BTC="1"))
        bob = Api(server, funded(server, USD="100000"))
        alice.place("sell", "50000.00", "0.1")
        bob.place("buy", "50000.00", "0.1")
        caught_up(server, admin)
        fills = bob.ok("GET", "/fills")
        assert [(f["side"], f["price"], f["quantity"]) for f in fills] == [
            ("buy", "50000.00", "0.1000")]
        for api in (admin, alice, bob):
            api.close()
