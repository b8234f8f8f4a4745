"""The agents against a real server over the SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from matchbook.sim import PRESETS
from matchbook.sim.remote import RemoteError, run_remote, sample_agents
from server import PASSWORD, running_server

pytestmark = pytest.mark.slow


def test_sampled_agents_trade_against_a_running_server(tmp_path: Path) -> None:
    with running_server(tmp_path, rate_limit_per_second=1e6, rate_limit_burst=10**6) as server:
        admin = server.make_admin()
        summary = run_remote(server.base_url, PRESETS["small"], 3, admin_email=admin.email,
                             admin_password=PASSWORD, agents=8, seconds=6, speed=300)
        assert summary["agents"] >= 5
        assert summary["requests"] > 20 and summary["accepted"] > 10

        async def check() -> tuple[int, dict[str, int]]:
            engine = server.state.exchange.engine
            return engine.next_trade_id - 1, engine.asset_totals()

        trades, totals = server.call(check)
        assert trades > 0
        assert all(total == 0 for total in totals.values())
        with pytest.raises(RemoteError, match="cannot sign in"):
            run_remote(server.base_url, PRESETS["small"], 3, admin_email=admin.email,
                       admin_password="wrong password", agents=2, seconds=1)


def test_the_sample_covers_every_kind() -> None:
    chosen = sample_agents(PRESETS["default"], 40)
    assert {a.kind for a in chosen} == {k for k, _, _ in PRESETS["default"].agents}
    assert 30 <= len(chosen) <= 50
