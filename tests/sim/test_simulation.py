"""The simulator: determinism, per-agent streams, conservation, the journal it writes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchbook.config import default_markets
from matchbook.journal.durable import recover
from matchbook.sim import (
    PRESETS,
    NoiseTrader,
    SimError,
    Simulation,
    agent_random,
    journal_digest,
    run_preset,
)

SHORT = PRESETS["small"].scaled(day_s=1800)


def test_same_seed_gives_a_byte_identical_journal(tmp_path: Path) -> None:
    first = run_preset(SHORT, 11, tmp_path / "a")
    second = run_preset(SHORT, 11, tmp_path / "b")
    run_preset(SHORT, 12, tmp_path / "c")
    assert first.messages > 1000 and first.trades > 100
    assert journal_digest(tmp_path / "a") == journal_digest(tmp_path / "b")
    assert first.state_hash == second.state_hash
    assert journal_digest(tmp_path / "a") != journal_digest(tmp_path / "c")


def test_the_journal_replays_to_the_run_state(tmp_path: Path) -> None:
    result = run_preset(SHORT, 5, tmp_path / "run")
    snapshots = list((tmp_path / "run" / "snapshots").iterdir())
    for snapshot in snapshots:
        snapshot.unlink()  # replay from seq 1, not from the final snapshot
    engine, info = recover(tmp_path / "run", default_markets(), truncate=False)
    assert info.replayed == result.messages
    assert engine.state_hash() == result.state_hash
    assert (tmp_path / "run" / "sim.json").read_text().count('"agent_id"') == 60


def test_adding_an_agent_leaves_every_other_stream_unchanged() -> None:
    base = Simulation(SHORT, 3)
    more = replace(SHORT, agents=tuple(
        (kind, count + 1 if kind == "market_maker" else count, params)
        for kind, count, params in SHORT.agents))
    grown = Simulation(more, 3, extra_agents=[NoiseTrader("latecomer")])
    states = {a.agent_id: a.rng.getstate() for a in base.agents}
    grown_states = {a.agent_id: a.rng.getstate() for a in grown.agents}
    assert len(grown_states) == len(states) + 2
    for agent_id, state in states.items():
        assert grown_states[agent_id] == state, agent_id
    # keyed by id, not by position
    assert agent_random(3, "noise-0001").random() == agent_random(3, "noise-0001").random()
    assert agent_random(3, "noise-0001").random() != agent_random(3, "noise-0002").random()
    assert agent_random(3, "noise-0001").random() != agent_random(4, "noise-0001").random()


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63 - 1))
def test_balances_are_conserved_after_a_simulated_run(seed: int) -> None:
    sim = Simulation(SHORT.scaled(day_s=900), seed)
    result = sim.run()
    assert result.trades > 0
    engine = sim.engine
    assert all(total == 0 for total in engine.asset_totals().values())
    engine._check()  # holds equal open orders' needs, nothing negative, books consistent
    fees = engine.fee_balances["USD"]
    assert fees > 0  # fees were charged on the trades, and they are in the fee account


def test_an_extra_agent_plugs_in_and_trades() -> None:
    from matchbook.core.commands import BUY, IOC, MARKET, PlaceOrder
    from matchbook.sim import Agent

    class Buyer(Agent):
        kind = "buyer"
        wants_fills = True

        def __init__(self) -> None:
            super().__init__("buyer-1")
            self.bought = 0

        def on_fill(self, side: int, price_ticks: int, qty_lots: int,
                    is_maker: bool = True) -> None:
            self.bought += qty_lots

        def wake(self, now_ns: int, m: object, out: list[object]) -> int:
            out.append(PlaceOrder(self.user_id, "BTC-USD", BUY, MARKET, qty_lots=3, tif=IOC))
            return now_ns + 60 * 10**9

    buyer = Buyer()
    run_preset(SHORT, 2, extra_agents=[buyer])
    assert buyer.bought > 0


@pytest.mark.parametrize("seed", [-1, 2**63, "7", 1.5, True])
def test_a_bad_seed_is_refused(seed: object) -> None:
    with pytest.raises(SimError, match="seed"):
        Simulation(SHORT, seed)  # type: ignore[arg-type]


def test_an_unknown_preset_or_a_used_data_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SimError, match="unknown preset"):
        run_preset("nope", 1)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    with pytest.raises(SimError, match="not empty"):
        run_preset(SHORT, 1, tmp_path / "used")


def test_the_fundamental_follows_its_daily_sessions() -> None:
    import math

    import numpy as np

    from matchbook.sim.presets import Fundamental
    from matchbook.sim.runner import fundamental_path

    day = PRESETS["default"]
    hours = np.arange(24) + 0.5
    pattern = np.sin(2 * math.pi * hours / 24) + 0.5 * np.sin(4 * math.pi * hours / 24 + 1.0)

    def hourly_vol(fundamental: Fundamental) -> np.ndarray:
        vols = []
        for seed in range(6):
            path, activity = fundamental_path(replace(day, fundamental=fundamental), seed,
                                              5_000_000.0, seconds=86_400)
            steps = np.abs(np.diff(np.log(path)))[:86_400].reshape(24, 3600)
            vols.append(steps.mean(axis=1))
            assert np.corrcoef(np.log(activity[:86_400:60]),
                               np.log(steps.reshape(-1, 60).mean(axis=1) + 1e-12))[0, 1] > 0.2
        return np.mean(vols, axis=0)

    with_sessions = hourly_vol(day.fundamental)
    assert day.fundamental.season > 0
    assert np.corrcoef(np.log(with_sessions), pattern)[0, 1] > 0.8
    flat = hourly_vol(replace(day.fundamental, season=0.0))
    assert abs(np.corrcoef(np.log(flat), pattern)[0, 1]) < 0.6


def test_agents_read_the_fundamental_up_to_the_end_of_its_path() -> None:
    import numpy as np

    sim = Simulation(SHORT, 1)
    view = sim.view
    start = sim.start_ns
    assert view.fundamental(start) == float(sim._fundamental[0])
    assert view.fundamental(start, 30) == float(sim._fundamental[30])
    assert view.activity(start + 5 * 10**9) == float(sim._activity[5])
    beyond = start + 10**6 * 10**9
    assert view.fundamental(beyond) == float(sim._fundamental[-1])
    assert view.activity(beyond) == float(sim._activity[-1])
    view.set_paths(np.array([1.0, 2.0]), np.array([3.0]))
    assert view.fundamental(start, 1) == 2.0 and view.fundamental(start, 5) == 2.0
    assert view.activity(start) == 3.0
