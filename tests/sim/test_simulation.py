"""The simulator: determinism, per-agent streams, conservation, the journal it writes."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
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
from matchbook.sim.agents import SECOND

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

        def on_fill(self, side: int, price_ticks: int, qty_lots: int) -> None:
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


def _hourly_vol(fundamental: object) -> np.ndarray:
    """The fundamental's mean absolute 1-second move per hour of the day (6 seeds), and
    its activity rising with its volatility minute by minute."""
    from matchbook.sim.runner import fundamental_path

    day = PRESETS["default"]
    vols = []
    for seed in range(6):
        path, activity = fundamental_path(replace(day, fundamental=fundamental), seed,
                                          5_000_000.0, seconds=86_400)
        steps = np.abs(np.diff(np.log(path)))[:86_400].reshape(24, 3600)
        vols.append(steps.mean(axis=1))
        assert np.corrcoef(np.log(activity[:86_400:60]),
                           np.log(steps.reshape(-1, 60).mean(axis=1) + 1e-12))[0, 1] > 0.2
    return np.asarray(np.mean(vols, axis=0))


def test_the_fundamental_follows_its_daily_sessions() -> None:
    from matchbook.sim.presets import Fundamental

    hours = np.arange(24) + 0.5
    pattern = np.sin(2 * math.pi * hours / 24) + 0.5 * np.sin(4 * math.pi * hours / 24 + 1.0)
    with_sessions = _hourly_vol(Fundamental(season=0.55))
    assert np.corrcoef(np.log(with_sessions), pattern)[0, 1] > 0.8
    flat = _hourly_vol(Fundamental(season=0.0))
    assert abs(np.corrcoef(np.log(flat), pattern)[0, 1]) < 0.6


def test_the_default_fundamental_is_quiet_in_its_quiet_sessions() -> None:
    fundamental = PRESETS["default"].fundamental
    assert fundamental.quiet is not None
    depth, length, per_day = fundamental.quiet
    into = (np.arange(24) + 0.5) % (24 / per_day)
    pattern = 1.0 - depth * np.where(into < length,
                                     0.5 - 0.5 * np.cos(2 * math.pi * into / length), 0.0)
    quiet = _hourly_vol(fundamental)
    assert np.corrcoef(np.log(quiet), np.log(pattern))[0, 1] > 0.8
    # the quietest hour moves several times less than the busiest
    assert quiet.max() / quiet.min() > 3
    flat = _hourly_vol(replace(fundamental, quiet=None))
    assert abs(np.corrcoef(np.log(flat), np.log(pattern))[0, 1]) < 0.6


def test_agents_read_the_fundamental_up_to_the_end_of_its_path() -> None:
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


def _mix(**params: dict[str, object]) -> object:
    """``SHORT`` with some agents' parameters changed (``kind={param: value}``)."""
    return replace(SHORT, agents=tuple(
        (kind, count, {**p, **params.get(kind, {})}) for kind, count, p in SHORT.agents))


def test_post_only_makers_never_take_and_crossing_makers_do() -> None:
    def maker_taken_lots(post_only: bool) -> int:
        sim = Simulation(_mix(market_maker={"post_only": post_only}), 4)
        result = sim.run()
        makers = {a.user_id for a in sim.agents if a.kind == "market_maker"}
        return sum(q for q, u in zip(result.trade_qty_lots.tolist(),
                                     result.trade_taker.tolist(), strict=True) if u in makers)

    assert maker_taken_lots(True) == 0
    assert maker_taken_lots(False) > 0


def _watch_children(sim: Simulation) -> tuple[dict[int, Any], dict[tuple[int, int], int]]:
    """The execution agents by user id, and a map (user, time) -> the best opposite price
    when that agent sent a child, filled in as ``sim`` runs."""
    agents = {a.user_id: a for a in sim.agents if a.kind == "execution"}
    best: dict[tuple[int, int], int] = {}
    for agent in agents.values():
        wake = agent.wake

        def watched(now_ns: int, m: object, out: list[object], wake=wake,  # type: ignore[no-untyped-def]
                    agent=agent):
            nxt = wake(now_ns, m, out)
            if out:
                best[agent.user_id, now_ns] = (m.best_ask() if agent.side == 1  # type: ignore[attr-defined]
                                               else m.best_bid())  # type: ignore[attr-defined]
            return nxt

        agent.wake = watched
    return agents, best


def test_execution_children_reach_at_most_their_limit_through_the_best() -> None:
    limit_bp = 1.0
    mix = _mix(execution={"limit_bp": limit_bp, "child_lots": 20, "child_lots_max": 60,
                          "child_wait_s": 2.0})
    sim = Simulation(mix, 6)
    agents, best = _watch_children(sim)
    result = sim.run()
    reach = limit_bp * sim.view.bp_ticks()
    seen = 0
    for ts, px, sign, taker in zip(result.trade_ts_ns.tolist(), result.trade_price_ticks.tolist(),
                                   result.trade_sign.tolist(), result.trade_taker.tolist(),
                                   strict=True):
        if taker in agents and best.get((taker, ts)):
            seen += 1
            assert sign * (px - best[taker, ts]) <= reach
    assert seen > 100


def test_execution_parents_draw_their_child_size_per_parent() -> None:
    sim = Simulation(_mix(execution={"child_lots": 3, "child_lots_max": 30}), 2)
    sizes: list[int] = []
    started = sim.view.parent_started

    def record(agent: object, side: int, lots: int, now_ns: int) -> int:
        sizes.append(agent.lots)  # type: ignore[attr-defined]
        assert lots % agent.lots == 0  # type: ignore[attr-defined]
        return started(agent, side, lots, now_ns)  # type: ignore[arg-type]

    sim.view.parent_started = record  # type: ignore[method-assign]
    sim.run()
    assert len(sizes) > 20
    assert min(sizes) >= 3 and max(sizes) <= 30
    assert min(sizes) < 6 and max(sizes) > 15


def test_makers_with_a_view_time_scale_keep_their_view_error_for_a_while() -> None:
    sim = Simulation(_mix(market_maker={"view_noise_bp": 3.0, "view_tau_s": 36_000.0}), 3)
    errors: dict[str, list[float]] = {}
    for agent in sim.agents:
        if agent.kind != "market_maker":
            continue
        wake = agent.wake

        def watched(now_ns: int, m: object, out: list[object], wake=wake,  # type: ignore[no-untyped-def]
                    agent=agent):
            nxt = wake(now_ns, m, out)
            errors.setdefault(agent.agent_id, []).append(agent.view_err_bp)
            return nxt

        agent.wake = watched  # type: ignore[method-assign]
    sim.run()
    steps = [abs(b - a) for e in errors.values() for a, b in itertools.pairwise(e)]
    levels = [abs(x) for e in errors.values() for x in e]
    assert len(steps) > 100
    # half an hour against a 10-hour time scale: the error moves by a small part of
    # its size (fresh noise of 3 bp would move it by about 3.4 bp a wake)
    assert float(np.mean(steps)) < 0.1 * 3.0 * 2 / math.sqrt(math.pi)
    assert 0.5 < float(np.mean(levels)) < 5.0


def test_the_vectorised_recursion_is_the_step_by_step_one() -> None:
    """``_ar1`` (a gym reset's path) is the AR(1) recursion of an exact run, up to the
    rounding of the last bits, also over many blocks (a short time scale)."""
    from matchbook.sim.runner import _ar1, fundamental_path

    shocks = np.random.default_rng(4).standard_normal(5000)
    for phi in (1.0, 1.0 - 1e-5, 0.996, 0.5, 0.01):
        x, expected = 0.7, []
        for e in shocks.tolist():
            x = phi * x + e
            expected.append(x)
        np.testing.assert_allclose(_ar1(shocks, phi, 0.7), expected, rtol=1e-9, atol=1e-12)
    for seed in range(3):
        exact = fundamental_path(PRESETS["gym"], seed, 5_000_000.0, 1200)
        fast = fundamental_path(PRESETS["gym"], seed, 5_000_000.0, 1200, exact=False)
        for a, b in zip(exact, fast, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-12)


def test_a_run_that_records_nothing_plays_the_same_market() -> None:
    """Without recording the loop stops only at the minutes' ends (not every second):
    the same commands, the same state."""
    states = []
    for record in (True, False):
        sim = Simulation(SHORT, 5, record=record)
        sim.run_until(sim.end_ns)
        states.append((sim.engine.state_hash(), sim.messages, sim._vol_ticks,
                       sim._minute_mid))
    assert states[0] == states[1]


class _Keeper(NoiseTrader):
    """An agent with a mutable attribute of its own (a list it appends to)."""

    def __init__(self, agent_id: str, **kw: object) -> None:
        super().__init__(agent_id, **kw)  # type: ignore[arg-type]
        self.seen: list[int] = []
        self.book: dict[str, list[int]] = {"a": [1]}

    def wake(self, now_ns: int, m: object, out: list[object]) -> int:
        self.seen.append(now_ns)
        self.book["a"].append(now_ns)
        return super().wake(now_ns, m, out)  # type: ignore[arg-type]


def test_a_rewind_copies_the_agents_as_unpickling_would() -> None:
    """``rewind`` copies the checkpoint's agents without unpickling them: the copies
    equal the unpickled ones, and what one episode's agents change (a list, a nested
    dict) never reaches the checkpoint or the next copy."""
    import pickle

    from matchbook.sim.runner import _Copier

    sim = Simulation(SHORT, 2, record=False, extra_agents=[_Keeper("keeper")])
    sim.run_until(sim.start_ns + 600 * SECOND)
    checkpoint = sim.checkpoint(rngs=False)
    copier = _Copier(checkpoint["rest"])
    assert copier.plan is not None
    assert pickle.dumps(copier.copy()) == pickle.dumps(tuple(pickle.loads(checkpoint["rest"])))
    sim.rewind(checkpoint)
    keeper = sim.agents[-1]
    before = (list(keeper.seen), [*keeper.book["a"]])
    for agent in sim.agents:
        agent.rng = agent_random(3, agent.agent_id)
    sim.run_until(sim.now_ns + 1200 * SECOND)
    assert len(sim.agents[-1].seen) > len(before[0])
    sim.rewind(checkpoint)
    assert (sim.agents[-1].seen, sim.agents[-1].book["a"]) == before


class _Reducing(NoiseTrader):
    """An agent that pickles itself its own way."""

    def __reduce__(self) -> tuple[object, ...]:
        return (_Reducing, (self.agent_id,), dict(vars(self)))


def test_agents_that_pickle_themselves_are_unpickled() -> None:
    import pickle

    from matchbook.sim.runner import _Copier

    sim = Simulation(SHORT, 2, record=False, extra_agents=[_Reducing("own")])
    rest = sim.checkpoint(rngs=False)["rest"]
    copier = _Copier(rest)
    assert copier.plan is None
    assert pickle.dumps(copier.copy()) == pickle.dumps(tuple(pickle.loads(rest)))


def test_paced_execution_works_large_parents_with_shorter_waits() -> None:
    def child_gaps(pace: int) -> tuple[float, float]:
        """Mean wait between children (s) of the finished parents of at most 4
        children and of at least 16."""
        execution = {"child_wait_s": 2.0, "idle_wait_s": 60.0, "pace_children": pace,
                     "pace_power": 0.5}
        sim = Simulation(replace(PRESETS["small"], agents=tuple(
            (kind, count, {**p, **execution} if kind == "execution" else p)
            for kind, count, p in PRESETS["small"].agents)), 5)
        children: dict[int, int] = {}
        started = sim.view.parent_started

        def record(agent: object, side: int, lots: int, now_ns: int) -> int:
            parent_id = started(agent, side, lots, now_ns)  # type: ignore[arg-type]
            children[parent_id] = agent.remaining  # type: ignore[attr-defined]
            return parent_id

        sim.view.parent_started = record  # type: ignore[method-assign]
        result = sim.run()
        small, large = [], []
        for parent_id, row in enumerate(result.parents.tolist(), start=1):
            n, length_s = children[parent_id], (row[4] - row[3]) / 1e9
            if row[4] and n <= 4:
                small.append(length_s / (n - 1))
            elif row[4] and n >= 16:
                large.append(length_s / (n - 1))
        assert len(small) > 100 and len(large) > 10
        return float(np.mean(small)), float(np.mean(large))

    small, large = child_gaps(0)
    assert 0.75 < large / small < 1.33  # unpaced: one wait for every parent
    small, large = child_gaps(4)
    assert large / small < 0.6  # paced: (4 / n) ** 0.5, at most 0.5 from 16 children on


def test_book_following_children_take_only_the_touch_and_fill_their_parent() -> None:
    mix = _mix(execution={"follow_book": True, "child_lots": 20, "child_lots_max": 60,
                          "child_wait_s": 2.0, "idle_wait_s": 60.0,
                          "book_max_children": 100.0})
    sim = Simulation(mix, 6)
    agents, best = _watch_children(sim)
    parents: list[tuple[int, int, int]] = []  # (user, lots, start) of each parent
    started = sim.view.parent_started

    def record(agent: object, side: int, lots: int, now_ns: int) -> int:
        parents.append((agent.user_id, lots, now_ns))  # type: ignore[attr-defined]
        return started(agent, side, lots, now_ns)  # type: ignore[arg-type]

    sim.view.parent_started = record  # type: ignore[method-assign]
    result = sim.run()
    ts, px = result.trade_ts_ns.tolist(), result.trade_price_ticks.tolist()
    qty, taker = result.trade_qty_lots.tolist(), result.trade_taker.tolist()
    seen = 0
    for t, p, u in zip(ts, px, taker, strict=True):
        if u in agents:
            seen += 1
            assert p == best[u, t]  # at the touch itself, never behind it
    assert seen > 100
    # a finished parent got its lots, carried over children that took less than a slice
    done = 0
    for (user, lots, start), row in zip(parents, result.parents.tolist(), strict=True):
        if row[4]:
            got = sum(q for t, q, u in zip(ts, qty, taker, strict=True)
                      if u == user and start <= t <= row[4])
            done += got == lots
    finished = sum(1 for row in result.parents.tolist() if row[4])
    assert finished > 20 and done >= 0.9 * finished


def test_a_concave_skew_shifts_the_ladder_as_a_power_of_the_inventory() -> None:
    def shift_bp(power: float, inventory: int) -> float:
        """How far a maker's ladder centre moves against an inventory, in bp."""
        sim = Simulation(_mix(market_maker={"skew_power": power, "skew_ref_lots": 50.0,
                                            "skew_bp_per_lot": 0.02, "max_skew_bp": 15.0,
                                            "view_noise_bp": 0.0}), 3)
        sim.run_until(sim.start_ns + 60 * SECOND)
        maker = next(a for a in sim.agents if a.kind == "market_maker")
        centres = []
        for lots in (0, inventory):
            maker.inventory_lots, maker.center, maker.quoted = lots, 0.0, 0
            maker.wake(sim.now_ns, sim.view, [])
            centres.append(maker.center)
        return (centres[0] - centres[1]) / sim.view.bp_ticks()

    for lots in (8, 50, 200, 450):
        assert shift_bp(1.0, lots) == pytest.approx(min(15.0, 0.02 * lots), abs=0.01)
        assert shift_bp(0.5, lots) == pytest.approx(0.02 * 50 * math.sqrt(lots / 50), abs=0.01)
    assert shift_bp(0.5, -200) == pytest.approx(-0.02 * 50 * 2, abs=0.01)
    assert shift_bp(0.5, 200_000) == pytest.approx(15.0, abs=0.01)  # still capped
