"""The simulation: agents driving the production ``Engine`` in simulated time.

One run is one preset, one seed and (optionally) one data directory::

    sim = Simulation(preset, seed=7, data_dir="data/sim-7")
    result = sim.run()          # a simulated day at full speed

How it works:

* time is simulated sequencer time: a heap of ``(time_ns, tie, agent, payload)``; an
  agent's wake produces commands, which reach the engine at once or, with a per-agent
  ``latency_ns``, as a later arrival; each command is applied with the arrival time as
  its sequencer timestamp, so the journal replays to the same state;
* each agent is a funded user (deposits are the first commands of the journal); every
  order goes through the same risk checks, holds, matching, fees and settlement as on
  the live exchange (accounts on);
* randomness: one ``numpy.random.SeedSequence(seed)`` per run; each agent's stream is
  its child keyed by a hash of its stable id (``agent_seed``), and so is the latent
  fundamental's: adding an agent never shifts another's stream, and the same seed
  gives a byte-identical journal;
* with a ``data_dir`` the commands are journaled by the project's ``JournalWriter``
  (mode ``os`` by default: written, not fsynced) and a snapshot is written at the end,
  so ``matchbook journal verify|inspect|replay`` and anything that reads data
  directories can read a run; ``sim.json`` beside them names the preset, seed and
  every agent's user id.

What a run records for the realism report (trades with aggressor side and taker, the
top of the book and the depth every simulated minute, and the parent orders of the
execution agents) is in ``SimResult``.
"""

from __future__ import annotations

import copy
import functools
import gc
import hashlib
import heapq
import json
import math
import pickle
import random
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matchbook.config import default_markets
from matchbook.core import Deposit, Engine, Markets
from matchbook.core.commands import BUY, AnyCommand
from matchbook.core.events import OrderFilled, OrderRejected, TradeExecuted
from matchbook.journal import JournalWriter, SnapshotStore
from matchbook.journal.codec import encode_command, encode_snapshot
from matchbook.sim.agents import SECOND, Agent
from matchbook.sim.presets import Fundamental, Preset, build_agents

DAY_START_NS = 1_767_571_200 * SECOND  # 2026-01-05 00:00:00 UTC, the first simulated day
MINUTE = 60 * SECOND
DEPTH_LEVELS = 10
_JOURNAL_BATCH = 8192


class SimError(ValueError):
    """A simulation cannot start (a bad preset, seed or data directory)."""


def agent_seed(seed: int, agent_id: str) -> np.random.SeedSequence:
    """The child of the run's ``SeedSequence(seed)`` that belongs to ``agent_id``.

    Keyed by a hash of the id, not by the agent's position, so that adding or removing
    agents leaves every other agent's stream as it was."""
    # SeedSequence(seed) has entropy ``seed`` and no spawn key: its child keyed by the
    # agent is built directly (the same stream, one construction instead of two)
    return np.random.SeedSequence(seed, spawn_key=(agent_key(agent_id),))


@functools.lru_cache(maxsize=65536)
def agent_key(agent_id: str) -> int:
    """The 64-bit key of an agent's stream: a hash of its stable id."""
    return int.from_bytes(hashlib.blake2b(agent_id.encode(), digest_size=8).digest(), "big")


def agent_random(seed: int, agent_id: str) -> random.Random:
    """A ``random.Random`` seeded from the agent's ``SeedSequence`` child (the agents'
    hot path draws from it: a draw costs a tenth of a NumPy scalar draw)."""
    words = agent_seed(seed, agent_id).generate_state(4, dtype=np.uint64)
    return random.Random(int.from_bytes(words.tobytes(), "little"))


def check_seed(seed: object) -> int:
    """A seed is a non-negative integer below 2**63; ``SimError`` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise SimError(f"seed must be an integer from 0 to 2**63-1, got {seed!r}")
    return seed


@dataclass
class SimResult:
    """What one run produced: counts, speed, the tape and the per-minute book."""

    preset: str
    seed: int
    agents: int
    messages: int
    trades: int
    rejects: dict[str, int]
    sim_seconds: float
    wall_seconds: float
    state_hash: str
    data_dir: str | None
    # the tape: one row per trade
    trade_ts_ns: np.ndarray
    trade_price_ticks: np.ndarray
    trade_qty_lots: np.ndarray
    trade_sign: np.ndarray  # +1 buyer-initiated, -1 seller-initiated
    trade_taker: np.ndarray  # taker user id
    # one row per simulated minute (the book at the minute's end)
    minute_bid_ticks: np.ndarray
    minute_ask_ticks: np.ndarray
    minute_depth_lots: np.ndarray  # (minutes, 2, DEPTH_LEVELS): bids, asks
    parents: np.ndarray  # (n, 5): user id, side (+1/-1), lots, start ns, end ns
    second_mid_ticks: np.ndarray  # the mid at the end of every simulated second
    warmup_minutes: int
    tick_size: str
    memory_peak_mb: float = 0.0
    fundamental_ticks: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def messages_per_sec(self) -> float:
        return self.messages / self.wall_seconds if self.wall_seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {"preset": self.preset, "seed": self.seed, "agents": self.agents,
                "messages": self.messages, "trades": self.trades,
                "rejects": dict(sorted(self.rejects.items())),
                "sim_seconds": self.sim_seconds, "wall_seconds": round(self.wall_seconds, 3),
                "messages_per_sec": round(self.messages_per_sec),
                "parents": len(self.parents), "state_hash": self.state_hash,
                "data_dir": self.data_dir}


class _View:
    """The ``Market`` the agents read in process: straight from the engine's book."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.symbol = sim.symbol.name
        self.day_start_ns = sim.start_ns
        book = sim.engine.books[self.symbol]
        self._bids, self._asks = book.bid_heap, book.ask_heap
        self._book = book
        self._user_orders = sim.engine.user_orders
        self._bp = sim.price_ticks * 1e-4

    def rebind(self, engine: Engine) -> None:
        book = engine.books[self.symbol]
        self._bids, self._asks = book.bid_heap, book.ask_heap
        self._book = book
        self._user_orders = engine.user_orders

    def best_bid(self) -> int:
        return -self._bids[0] if self._bids else 0

    def best_ask(self) -> int:
        return self._asks[0] if self._asks else 0

    def mid(self) -> float:
        bids, asks = self._bids, self._asks
        if bids and asks:
            return (asks[0] - bids[0]) * 0.5
        return float(self._book.last_price or (asks[0] if asks else 0)
                     or (-bids[0] if bids else 0) or self.sim.price_ticks)

    def mid_minutes_ago(self, minutes: int) -> float:
        mids = self.sim._minute_mid
        return mids[-minutes] if len(mids) >= minutes else 0.0

    def vol_ticks(self) -> float:
        return self.sim._vol_ticks

    def bp_ticks(self) -> float:
        return self._bp

    def set_paths(self, fundamental: np.ndarray, activity: np.ndarray,
                  first_second: int = 0) -> None:
        """The fundamental and activity paths the agents read, from ``first_second`` of
        the day on (as Python lists: an agent's read of one value is a list index, not
        a NumPy scalar; a read past either end gives the value at that end)."""
        self._f_path = fundamental.tolist()
        self._a_path = activity.tolist()
        self._f_last = len(self._f_path) - 1
        self._a_last = len(self._a_path) - 1
        self._path_start_ns = self.day_start_ns + first_second * SECOND

    def fundamental(self, now_ns: int, ahead_s: int = 0) -> float:
        i = (now_ns - self._path_start_ns) // SECOND + ahead_s
        return self._f_path[i if i < self._f_last else self._f_last] if i > 0 else (
            self._f_path[0])

    def activity(self, now_ns: int) -> float:
        i = (now_ns - self._path_start_ns) // SECOND
        return self._a_path[i if i < self._a_last else self._a_last] if i > 0 else (
            self._a_path[0])

    def open_order_count(self, user_id: int) -> int:
        mine = self._user_orders.get(user_id)
        return len(mine) if mine else 0

    def parent_started(self, agent: Agent, side: int, lots: int, now_ns: int) -> int:
        parents = self.sim._parents
        parents.append([agent.user_id, 1 if side == BUY else -1, lots, now_ns, 0])
        return len(parents)

    def parent_finished(self, parent_id: int, now_ns: int) -> None:
        self.sim._parents[parent_id - 1][4] = now_ns


def fundamental_path(preset: Preset, seed: int, price_ticks: float,
                     seconds: int | None = None, *, exact: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The latent fundamental (ticks, one value per simulated second from
    ``price_ticks``, for ``seconds`` or the day plus one hour for the informed traders'
    look-ahead) and the activity multiplier.

    Its three AR(1) recursions run one step at a time in Python with ``exact`` (a
    run's journal depends on every bit of the path); without it they run in NumPy a
    block at a time (``_ar1``: the same draws, the same recursion, rounded differently
    in the last bits, about ten times faster), which a gym episode's reset uses."""
    f = preset.fundamental
    n = (seconds if seconds is not None else preset.day_s + 3600) + 1
    rng = np.random.Generator(np.random.PCG64(agent_seed(seed, "fundamental")))
    h = np.zeros(n)
    for tau, sd in f.vol_components:
        phi = math.exp(-1.0 / tau)
        shocks = rng.standard_normal(n) * sd * math.sqrt(1 - phi * phi)
        x = rng.standard_normal() * sd
        if not exact:
            h += _ar1(shocks, phi, x)
            continue
        comp: list[float] = []
        append = comp.append
        for e in shocks.tolist():
            x = phi * x + e
            append(x)
        h += np.asarray(comp)
    if f.season:
        h += _season(f.season, n)
    var_h = sum(sd * sd for _, sd in f.vol_components) + 0.625 * f.season ** 2
    sigma = f.sigma_bp_per_s * 1e-4 * np.exp(h - var_h)  # E[sigma^2] = sigma0^2
    quiet = _quiet_factor(f, n)
    if quiet is not None:
        sigma *= quiet
    jumps = (rng.random(n) < f.jump_per_s) * rng.standard_normal(n) * f.jump_bp * 1e-4
    if quiet is not None and f.jumps_follow_quiet:
        jumps *= quiet
    steps = sigma * rng.standard_normal(n) + jumps
    kappa = math.log(2) / f.half_life_s
    if exact:
        x = 0.0
        path: list[float] = []
        append = path.append
        for s in steps.tolist():
            x += s - kappa * x
            append(x)
        log_price = np.asarray(path)
    else:
        log_price = _ar1(steps, 1.0 - kappa, 0.0)
    activity = np.exp(f.activity_beta * (h - var_h / 2))
    if quiet is not None:
        activity *= quiet ** f.activity_beta
    return price_ticks * np.exp(log_price), activity


@functools.lru_cache(maxsize=16)
def _season(amplitude: float, n: int) -> np.ndarray:
    """The daily pattern of the log-volatility over ``n`` seconds (the same for every
    seed: computed once per length, read-only)."""
    day = 2 * math.pi * np.arange(n) / 86_400
    pattern = amplitude * (np.sin(day) + 0.5 * np.sin(2 * day + 1.0))
    pattern.flags.writeable = False
    return pattern


def _ar1(shocks: np.ndarray, phi: float, x0: float) -> np.ndarray:
    """``x[t] = phi * x[t-1] + shocks[t]`` from ``x[-1] = x0``, vectorised a block at a
    time: within a block ``x[j] = phi**(j+1) * (x0 + sum(shocks[i] / phi**(i+1), i <= j))``,
    the block short enough (``phi**-block`` at most ``e**40``) that nothing overflows or
    loses more than a few bits."""
    n = len(shocks)
    out = np.empty(n)
    if not 0.0 < phi <= 1.0:
        raise ValueError(f"phi must be in (0, 1], got {phi}")
    block = n if phi == 1.0 else max(1, min(n, int(40.0 / -math.log(phi))))
    powers = np.exp(np.arange(1, block + 1, dtype=np.float64) * math.log(phi))
    x = x0
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        p = powers[:hi - lo]
        seg = np.cumsum(shocks[lo:hi] / p)
        seg += x
        seg *= p
        out[lo:hi] = seg
        x = float(seg[-1])
    return out


def _quiet_factor(f: Fundamental, n: int) -> np.ndarray | None:
    """The volatility's quiet sessions as one factor per second (normalised to a mean
    square of 1), or ``None`` without them. Volatility that clusters by dips rather
    than by bursts keeps the returns' sample autocorrelation steady: its variance over
    seeds grows with ``E[sigma_t^2 sigma_(t-k)^2] / E[sigma^2]^2``, which bursts raise
    much more than dips for the same autocorrelation of ``|r|``."""
    if f.quiet is None:
        return None
    depth, hours, per_day = f.quiet
    into = (np.arange(n) % (86_400 / per_day)) / 3600.0  # hours into each period
    window = np.where(into < hours, 0.5 - 0.5 * np.cos(2 * math.pi * into / hours), 0.0)
    factor = 1.0 - depth * window
    return factor / math.sqrt(float(np.mean(factor * factor)))


class Simulation:
    """Agents and an engine in simulated time. Not thread-safe; one run per object."""

    def __init__(self, preset: Preset, seed: int, *, data_dir: str | Path | None = None,
                 journal_mode: str = "os", extra_agents: Iterable[Agent] = (),
                 markets: Markets | None = None, record: bool = True,
                 agents: list[Agent] | None = None) -> None:
        self.preset = preset
        self.seed = check_seed(seed)
        self.markets = markets or default_markets()
        if preset.symbol not in self.markets.symbols:
            raise SimError(f"preset {preset.name}: unknown symbol {preset.symbol}")
        self.symbol = self.markets.symbols[preset.symbol]
        self.price_ticks = self.symbol.price_to_ticks(preset.price)
        self.start_ns = DAY_START_NS
        self.end_ns = DAY_START_NS + preset.day_s * SECOND
        self.engine = Engine(self.markets)
        self.agents = (agents if agents is not None else build_agents(preset)) + list(
            extra_agents)
        ids = [a.agent_id for a in self.agents]
        if len(set(ids)) != len(ids):
            raise SimError("agent ids must be unique")
        for uid, agent in enumerate(self.agents, 1):
            agent.user_id = uid
            agent.rng = agent_random(seed, agent.agent_id)
        self._fill_agents = {a.user_id: a for a in self.agents if a.wants_fills}
        self._fundamental, self._activity = fundamental_path(preset, seed, self.price_ticks)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.writer: JournalWriter | None = None
        if self.data_dir is not None:
            if journal_mode not in ("os", "none", "fsync"):
                raise SimError(f"journal mode must be os, none or fsync, got {journal_mode!r}")
            if self.data_dir.exists() and any(self.data_dir.iterdir()):
                raise SimError(f"data dir {self.data_dir} is not empty: a run needs a "
                               "fresh directory")
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.writer = JournalWriter(self.data_dir / "journal", journal_mode)  # type: ignore[arg-type]
        self.record = record
        self._pending: list[tuple[int, int, bytes]] = []
        self.seq = 0
        self.now_ns = self.start_ns
        self.messages = 0
        self.rejects: dict[str, int] = {}
        self._tie = 0
        self._heap: list[tuple[int, int, int, list[Any] | None]] = []
        self._t_ts, self._t_px, self._t_qty = array("q"), array("q"), array("q")
        self._t_sign, self._t_taker = array("b"), array("q")
        self._minute_bid, self._minute_ask = array("q"), array("q")
        self._minute_mid: list[float] = []
        self._depth: list[list[int]] = []
        self._parents: list[list[int]] = []
        self._next_minute = self.start_ns + MINUTE
        self._next_second = self.start_ns + SECOND
        self._second_mid = array("d")
        f = preset.fundamental
        self._vol_ticks = f.sigma_bp_per_s * math.sqrt(60) * self.price_ticks * 1e-4
        self.view = _View(self)
        self.view.set_paths(self._fundamental, self._activity)
        self._fund()
        for index, agent in enumerate(self.agents):
            self._schedule(agent.first_wake(self.start_ns + SECOND), index, None)
        self.wall_seconds = 0.0

    # -- set-up ----------------------------------------------------------------------

    def _fund(self) -> None:
        """Every agent's deposits, as the journal's first commands."""
        assets = self.markets.assets
        commands = [Deposit(asset, assets[asset].to_minor(str(units)), user_id=a.user_id,
                            reference=f"sim funding {a.agent_id}")
                    for a in self.agents for asset, units in sorted(a.funding_units.items())
                    if asset in assets and units]
        self._apply_all(self.start_ns, commands, None)

    def _schedule(self, t: int, index: int, payload: list[Any] | None) -> None:
        if not t:
            return  # an agent that never wakes (it trades through ``submit``)
        self._tie += 1
        heapq.heappush(self._heap, (t, self._tie, index, payload))

    # -- the loop ----------------------------------------------------------------------

    def run(self, progress: Callable[[int, int], None] | None = None) -> SimResult:
        """Run to the end of the simulated day; ``progress(sim_seconds, day_seconds)``
        is called about every simulated minute."""
        started = time.perf_counter()
        collecting = gc.isenabled()
        gc.disable()  # the core and the agents make no reference cycles
        try:
            self.run_until(self.end_ns, progress)
        finally:
            if collecting:
                gc.enable()
        self.wall_seconds += time.perf_counter() - started
        self.close()
        return self.result()

    def run_until(self, end_ns: int, progress: Callable[[int, int], None] | None = None,
                  max_messages: int = 0) -> int:
        """Process every wake and arrival before ``end_ns`` (or until ``max_messages``
        more messages were applied); returns the messages applied."""
        heap, agents, view = self._heap, self.agents, self.view
        pop, push = heapq.heappop, heapq.heappush
        apply_all = self._apply_all
        first = self.messages
        limit = first + max_messages if max_messages else 0
        # without recording, a second's end has nothing to record: the loop stops at the
        # minutes' ends only (the volatility and the mids the agents read)
        record = self.record
        next_second = self._next_second if record else self._next_minute
        tie = self._tie  # nothing else schedules while the loop runs
        try:
            while heap and heap[0][0] < end_ns:
                t, _, index, payload = pop(heap)
                if t >= next_second:
                    self._close_seconds(t)
                    next_second = self._next_second if record else self._next_minute
                    if progress is not None:
                        progress((t - self.start_ns) // SECOND, self.preset.day_s)
                self.now_ns = t
                agent = agents[index]
                if payload is None:
                    out: list[Any] = []
                    nxt = agent.wake(t, view, out)
                    if out:
                        if agent.latency_ns:
                            tie += 1
                            push(heap, (t + agent.latency_ns, tie, index, out))
                        else:
                            apply_all(t, out, agent)
                    if nxt:
                        tie += 1
                        push(heap, (nxt if nxt > t else t + 1, tie, index, None))
                else:
                    apply_all(t, payload, agent)
                if limit and self.messages >= limit:
                    return self.messages - first
        finally:
            self._tie = tie
        if not (heap and heap[0][0] < end_ns) and end_ns > self.now_ns:
            self._close_seconds(end_ns)
            self.now_ns = end_ns
        return self.messages - first

    def submit(self, commands: list[Any], agent: Agent | None = None) -> list[list[Any]]:
        """Apply commands from outside the agent loop (a gym policy) at the current
        simulated time; returns each command's events."""
        return self._apply_all(self.now_ns, commands, agent, collect=True)

    def _apply_all(self, t: int, commands: list[Any], agent: Agent | None,
                   collect: bool = False) -> list[list[Any]]:
        apply = self.engine.apply
        fill_agents = self._fill_agents
        results: list[list[Any]] = []
        seq = self.seq
        if self.writer is None and not collect and not self.record:
            # a gym environment's background: only the fills (to the agents that follow
            # theirs) and the rejects are read
            for command in commands:
                seq += 1
                for e in apply(seq, t, command):
                    kind = type(e)
                    if kind is OrderFilled:
                        listener = fill_agents.get(e.user_id)
                        if listener is not None:
                            listener.on_fill(e.side, e.price_ticks, e.qty_lots)
                    elif kind is OrderRejected:
                        name = str(e.code)
                        self.rejects[name] = self.rejects.get(name, 0) + 1
            self.messages += seq - self.seq
            self.seq = seq
            return results
        pending = self._pending if self.writer is not None else None
        record = self.record
        for command in commands:
            seq += 1
            events = apply(seq, t, command)
            if pending is not None:
                pending.append((seq, t, encode_command(command)))
            if collect:
                results.append(events)
            for e in events:
                kind = type(e)
                if kind is OrderFilled:
                    listener = fill_agents.get(e.user_id)
                    if listener is not None:
                        listener.on_fill(e.side, e.price_ticks, e.qty_lots)
                elif kind is TradeExecuted:
                    if record:
                        self._t_ts.append(t)
                        self._t_px.append(e.price_ticks)
                        self._t_qty.append(e.qty_lots)
                        self._t_sign.append(1 if e.aggressor_side == BUY else -1)
                        self._t_taker.append(e.taker_user_id)
                elif kind is OrderRejected:
                    name = str(e.code)
                    self.rejects[name] = self.rejects.get(name, 0) + 1
        self.messages += seq - self.seq
        self.seq = seq
        if pending is not None and len(pending) >= _JOURNAL_BATCH:
            self._flush()
        return results

    def _flush(self) -> None:
        if self.writer is not None and self._pending:
            self.writer.append_batch(self._pending)
            self._pending = []

    def _close_seconds(self, t: int) -> None:
        """Record the mid at every second boundary up to ``t``, and the book at every
        minute boundary."""
        if self.record:
            count = (t - self._next_second) // SECOND + 1
            self._second_mid.extend([self.view.mid()] * count)
            self._next_second += count * SECOND
        else:
            self._next_second = t - (t - self.start_ns) % SECOND + SECOND
        if t >= self._next_minute:
            self._close_minutes(t)

    def _close_minutes(self, t: int) -> None:
        """Record the book at every minute boundary up to ``t``."""
        book = self.engine.books[self.symbol.name]
        while self._next_minute <= t:
            bid = -book.bid_heap[0] if book.bid_heap else 0
            ask = book.ask_heap[0] if book.ask_heap else 0
            mid = (bid + ask) / 2 if bid and ask else self.view.mid()
            if self._minute_mid:
                move = abs(mid - self._minute_mid[-1])
                self._vol_ticks = 0.9 * self._vol_ticks + 0.1 * move
            self._minute_mid.append(mid)
            if self.record:
                self._minute_bid.append(bid)
                self._minute_ask.append(ask)
                row = [0] * (2 * DEPTH_LEVELS)
                for i, (_, lots, _) in enumerate(book.depth(BUY, DEPTH_LEVELS)):
                    row[i] = lots
                for i, (_, lots, _) in enumerate(book.depth(2, DEPTH_LEVELS)):
                    row[DEPTH_LEVELS + i] = lots
                self._depth.append(row)
            self._next_minute += MINUTE

    # -- state for the gym environments ------------------------------------------------

    def checkpoint(self, *, rngs: bool = True) -> dict[str, Any]:
        """The whole simulation state: the engine as ``Engine.snapshot()`` plus a copy
        of the agents, their schedule and the clock (see ``rewind``). With ``rngs``
        false the agents' random streams are left out (a rewind then leaves each
        agent's ``rng`` at ``None``, for a caller that seeds them afresh)."""
        saved = [agent.rng for agent in self.agents]
        if not rngs:
            for agent in self.agents:
                agent.rng = None  # type: ignore[assignment]
        try:
            rest = pickle.dumps((self.agents, self._heap, self._tie, self.seq,
                                 self.now_ns, self.messages, self._next_minute,
                                 self._next_second, self._minute_mid,
                                 self._vol_ticks, self._parents),
                                protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            for agent, rng in zip(self.agents, saved, strict=True):
                agent.rng = rng
        return {"engine": self.engine.snapshot(), "rest": rest}

    def rewind(self, checkpoint: dict[str, Any]) -> None:
        """Put the simulation back in a ``checkpoint``'s state: the engine is restored
        from its snapshot (``Engine.restore``), nothing is replayed."""
        self.engine = Engine.restore(self.markets, checkpoint["engine"])
        copier = checkpoint.get("copier")
        if copier is None:  # built at the first rewind, kept in the checkpoint
            copier = checkpoint["copier"] = _Copier(checkpoint["rest"])
        (agents, self._heap, self._tie, self.seq, self.now_ns, self.messages,
         self._next_minute, self._next_second, self._minute_mid,
         self._vol_ticks, self._parents) = copier.copy()
        self.agents = agents
        self._fill_agents = {a.user_id: a for a in agents if a.wants_fills}
        self.view.rebind(self.engine)

    # -- the end -----------------------------------------------------------------------

    def close(self) -> None:
        """Flush the journal, write the end-of-run snapshot and ``sim.json``."""
        if self.writer is None or self.data_dir is None:
            return
        self._flush()
        self.writer.close()
        engine = self.engine
        if self.writer.mode != "none" and engine.last_seq:
            SnapshotStore(self.data_dir / "snapshots").write(
                engine.last_seq, engine.last_ts, encode_snapshot(engine))
        manifest = {
            "preset": self.preset.name, "seed": self.seed, "symbol": self.symbol.name,
            "day_start_ns": self.start_ns, "day_seconds": self.preset.day_s,
            "last_seq": engine.last_seq, "messages": self.messages,
            "agents": [{"agent_id": a.agent_id, "kind": a.kind, "user_id": a.user_id}
                       for a in self.agents],
        }
        (self.data_dir / "sim.json").write_text(json.dumps(manifest, indent=1) + "\n")
        self.writer = None

    def result(self) -> SimResult:
        minutes = len(self._minute_bid)
        depth = np.asarray(self._depth, dtype=np.int64).reshape(minutes, 2, DEPTH_LEVELS)
        parents = np.asarray(self._parents, dtype=np.int64).reshape(-1, 5)
        return SimResult(
            preset=self.preset.name, seed=self.seed, agents=len(self.agents),
            messages=self.messages, trades=len(self._t_ts), rejects=dict(self.rejects),
            sim_seconds=(self.now_ns - self.start_ns) / SECOND,
            wall_seconds=self.wall_seconds, state_hash=self.engine.state_hash(),
            data_dir=str(self.data_dir) if self.data_dir is not None else None,
            trade_ts_ns=np.frombuffer(self._t_ts, dtype=np.int64).copy(),
            trade_price_ticks=np.frombuffer(self._t_px, dtype=np.int64).copy(),
            trade_qty_lots=np.frombuffer(self._t_qty, dtype=np.int64).copy(),
            trade_sign=np.frombuffer(self._t_sign, dtype=np.int8).astype(np.int64),
            trade_taker=np.frombuffer(self._t_taker, dtype=np.int64).copy(),
            minute_bid_ticks=np.frombuffer(self._minute_bid, dtype=np.int64).copy(),
            minute_ask_ticks=np.frombuffer(self._minute_ask, dtype=np.int64).copy(),
            minute_depth_lots=depth, parents=parents,
            second_mid_ticks=np.frombuffer(self._second_mid, dtype=np.float64).copy(),
            warmup_minutes=self.preset.warmup_s // 60,
            tick_size=str(self.symbol.tick_size),
            fundamental_ticks=self._fundamental[:self.preset.day_s:60].copy(),
        )


_SCALARS = (int, float, str, bool, bytes, type(None))


def _immutable(value: object) -> bool:
    return type(value) in _SCALARS or (type(value) is tuple
                                       and all(_immutable(v) for v in value))


def _plain(cls: type) -> bool:
    """Instances of ``cls`` are pickled as their ``__dict__`` and nothing else."""
    return (all("__slots__" not in vars(c) for c in cls.__mro__)
            and cls.__reduce_ex__ is object.__reduce_ex__
            and cls.__reduce__ is object.__reduce__
            and getattr(cls, "__getstate__", object.__getstate__) is object.__getstate__
            and not hasattr(cls, "__setstate__"))


class _Copier:
    """Fresh copies of a checkpoint's agents and schedule, as ``pickle.loads`` of its
    bytes would give, made faster: each agent is a new instance of its class with a copy
    of the saved ``__dict__`` (the scalars shared, a flat list, dict or set of scalars
    copied, anything else deep-copied). Agents that pickle themselves otherwise, or that
    share a mutable object, are unpickled as before."""

    def __init__(self, rest: bytes) -> None:
        self.rest = rest
        state = pickle.loads(rest)
        agents, heap = state[0], state[1]
        self.plan: list[tuple[type, dict[str, Any], list[str], list[str]]] | None = []
        shared: set[int] = set()
        for agent in agents:
            cls = type(agent)
            if not _plain(cls) or not hasattr(agent, "__dict__"):
                self.plan = None
                break
            flat, deep = [], []
            for key, value in vars(agent).items():
                if _immutable(value):
                    continue
                if id(value) in shared:
                    self.plan = None
                    break
                shared.add(id(value))
                if type(value) in (list, dict, set) and all(
                        _immutable(v) for v in (value.values() if type(value) is dict
                                                else value)):
                    flat.append(key)
                else:
                    deep.append(key)
            if self.plan is None:
                break
            self.plan.append((cls, dict(vars(agent)), flat, deep))
        if not all(payload is None or all(_immutable(c) or type(c).__module__.startswith(
                "matchbook.core") for c in payload) for _, _, _, payload in heap):
            self.plan = None  # a latency payload holds something unknown
        self.heap = heap
        self.rest_state = state[2:]

    def copy(self) -> tuple[Any, ...]:
        if self.plan is None:
            return tuple(pickle.loads(self.rest))
        agents = []
        for cls, saved, flat, deep in self.plan:
            agent = cls.__new__(cls)
            state = saved.copy()
            for key in flat:
                state[key] = state[key].copy()
            for key in deep:
                state[key] = copy.deepcopy(state[key])
            agent.__dict__.update(state)
            agents.append(agent)
        heap = [entry if entry[3] is None else (*entry[:3], list(entry[3]))
                for entry in self.heap]
        (tie, seq, now_ns, messages, next_minute, next_second, minute_mid, vol_ticks,
         parents) = self.rest_state
        return (agents, heap, tie, seq, now_ns, messages, next_minute, next_second,
                list(minute_mid), vol_ticks, [list(row) for row in parents])


def run_preset(preset: Preset | str, seed: int, data_dir: str | Path | None = None, *,
               journal_mode: str = "os", extra_agents: Iterable[Agent] = (),
               progress: Callable[[int, int], None] | None = None) -> SimResult:
    """Run ``preset`` (a ``Preset`` or its name) with ``seed`` for one simulated day;
    with ``data_dir``, journal it there. Raises ``SimError`` for a bad preset, seed or
    data directory."""
    from matchbook.sim.presets import preset_named

    if isinstance(preset, str):
        try:
            preset = preset_named(preset)
        except KeyError as exc:
            raise SimError(str(exc.args[0])) from None
    sim = Simulation(preset, seed, data_dir=data_dir, journal_mode=journal_mode,
                     extra_agents=extra_agents)
    return sim.run(progress)


def journal_digest(data_dir: str | Path) -> str:
    """BLAKE2b of every journal segment's bytes, in order: equal journals, equal digests."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted((Path(data_dir) / "journal").iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def commands_of(data_dir: str | Path) -> Iterable[tuple[int, int, AnyCommand]]:
    """``(seq, ts_ns, command)`` of every journaled command of a run."""
    from matchbook.journal import iter_records
    from matchbook.journal.codec import decode_command

    for seq, ts_ns, payload in iter_records(Path(data_dir) / "journal"):
        yield seq, ts_ns, decode_command(payload)
