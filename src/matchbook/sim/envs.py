"""Gymnasium environments on the production engine, against the simulator's agents.

Registered names (``import matchbook.sim.envs`` registers them; without that import,
``gymnasium.make("matchbook.sim.envs:Matchbook/Execution-v0")`` imports the module
first):

* ``Matchbook/Execution-v0``: buy (or sell) ``target_lots`` within ``horizon`` steps.
  Action ``Box(0, 1, (1,))``: the share of what is left to send now as a market order
  (everything left goes at the last step). Observation (6 floats): time left, quantity
  left (both 0..1), spread (bp), mid move since arrival (bp), top-of-book imbalance
  (-1..1), recent volatility (bp per minute). Reward: minus the implementation
  shortfall of the step's fills against the arrival mid, in bp of the target, and a
  penalty for what was not done at the end.
* ``Matchbook/MarketMaking-v0``: quote one bid and one ask of ``quote_lots`` every step.
  Action ``Box(0, 1, (2,))``: bid and ask distance from the mid, as a share of
  ``max_offset_bp``. Observation (6 floats): inventory (share of the limit), spread
  (bp), last mid move (bp), imbalance, time left, volatility. Reward: the change of the
  mark-to-mid value of the account (fees included, as the engine charges them), in bp
  of one quote's notional, minus ``inventory_penalty`` x inventory share squared.

One step = the policy's commands, then the background agents until ``step_seconds``
of simulated time have passed or ``max_background`` (100) messages were applied.

``reset()`` does not replay a warm-up: a warmed-up simulation is checkpointed once per
process (``Engine.snapshot()`` plus a copy of the agents and their schedule) and
restored with ``Engine.restore``; the background agents then draw from streams seeded
by the episode seed. ``ExecutionVectorEnv`` / ``MarketMakingVectorEnv`` are
``gymnasium.vector.VectorEnv`` s of ``num_envs`` simulations with batched ``(B, F)``
observations and ``(B, A)`` actions (next-step autoreset).
"""

from __future__ import annotations

import _random
import itertools
import math
import random
import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from matchbook.core.commands import BUY, IOC, LIMIT, MARKET, SELL, CancelAll, PlaceOrder
from matchbook.core.events import TradeExecuted
from matchbook.sim.agents import SECOND, Agent
from matchbook.sim.presets import GYM, Preset
from matchbook.sim.runner import Simulation, agent_key, fundamental_path

_seed = _random.Random.seed  # the C seeding under ``random.Random.seed`` for an int
_WARM: dict[tuple[Any, ...], tuple[Simulation, dict[str, Any]]] = {}


class PolicyAccount(Agent):
    """The environment's own user: funded like an agent, never woken by the loop."""

    kind = "policy"

    def first_wake(self, start_ns: int) -> int:
        return 0


def _warm(preset: Preset, seed: int, warmup_s: int) -> tuple[Simulation, dict[str, Any]]:
    """A simulation after ``warmup_s`` simulated seconds, and its checkpoint (built once
    per process and key; each environment gets a copy through ``rewind``)."""
    key = (preset.name, repr(preset), seed, warmup_s)
    if key not in _WARM:
        sim = Simulation(preset, seed, record=False,
                         extra_agents=[PolicyAccount("policy", usd=50_000_000, btc=1000)])
        sim.run_until(sim.start_ns + warmup_s * SECOND)
        _WARM[key] = (sim, sim.checkpoint(rngs=False))  # each reset seeds them afresh
    return _WARM[key]


class _MarketEnv(gym.Env[np.ndarray, np.ndarray]):
    metadata = {"render_modes": []}
    n_features = 6

    def __init__(self, *, preset: Preset = GYM, warm_seed: int = 0, warmup_s: int = 900,
                 step_seconds: float = 10.0, max_background: int = 100) -> None:
        super().__init__()
        self.preset = preset
        self.step_ns = int(step_seconds * SECOND)
        self.max_background = max_background
        template, self._checkpoint = _warm(preset, warm_seed, warmup_s)
        self.sim = _clone(template)
        self.sim._fundamental = template._fundamental.copy()  # written by each reset
        self.sim._activity = template._activity.copy()
        self._template_fundamental = template._fundamental
        self._template_activity = template._activity
        self.episode_seconds = 3600.0
        self.symbol = template.symbol
        self.observation_space = spaces.Box(-1e4, 1e4, (self.n_features,), np.float32)
        self._mid_prev = 0.0
        self._rngs: list[random.Random] = []  # the background's generators, reseeded

    # -- shared helpers ----------------------------------------------------------------

    @property
    def policy(self) -> Agent:
        return self.sim.agents[-1]

    def _restart(self, seed: int | None) -> None:
        super().reset(seed=seed)
        sim = self.sim
        sim.rewind(self._checkpoint)
        episode = int(self.np_random.integers(0, 2**62))
        # keyed by the agent's id, as in a run (see agent_seed); the previous episode's
        # generators are reseeded as ``random.Random(seed)`` would seed a new one (the C
        # seed, then no cached normal), without the Python-level constructor
        rngs = self._rngs
        if len(rngs) != len(sim.agents):
            rngs[:] = [random.Random() for _ in sim.agents]
        for agent, rng in zip(sim.agents, rngs, strict=True):
            _seed(rng, (episode << 64) | agent_key(agent.agent_id))
            rng.gauss_next = None  # type: ignore[attr-defined]
            agent.rng = rng
        # the latent fundamental goes on from where the warm-up left it along a path of
        # the episode's own (the background agents would otherwise replay one future)
        i = (sim.now_ns - sim.start_ns) // SECOND
        length = len(self._template_fundamental)
        ahead = min(length - i, int(self.episode_seconds) + 600)
        path, activity = fundamental_path(self.preset, episode,
                                          float(self._template_fundamental[i]), ahead,
                                          exact=False)
        # the whole day's paths (for ``Simulation.result``), written in place: the warm-up
        # part stays the template's, the episode's part and its end value follow (two
        # new day-long arrays at every reset cost more than the rest of the reset)
        for day, part in ((sim._fundamental, path), (sim._activity, activity)):
            day[i:i + ahead] = part[:ahead]
            day[i + ahead:] = part[ahead - 1]
        sim.view.set_paths(path[:ahead], activity[:ahead], first_second=i)

    # -- the gymnasium interface: a subclass gives ``_reset_row``, ``_act`` and ``_row``
    # (plain Python floats; a vector batches the rows into one array) ----------------

    def _reset_row(self, seed: int | None) -> list[float]:
        raise NotImplementedError

    def _reset_info(self) -> dict[str, Any]:
        return {}

    def _act(self, action: list[float]) -> tuple[float, bool, dict[str, Any]]:
        """Apply one (clipped) action and the background; ``(reward, terminated,
        info)``."""
        raise NotImplementedError

    def _row(self) -> list[float]:
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        row = self._reset_row(seed)
        return _observations([row])[0], self._reset_info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        clipped = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), 0.0, 1.0)
        reward, terminated, info = self._act(clipped.tolist())
        return _observations([self._row()])[0], reward, terminated, False, info

    def _book(self) -> tuple[int, int, int, int]:
        book = self.sim.engine.books[self.symbol.name]
        bids, asks = book.bid_heap, book.ask_heap
        bid = -bids[0] if bids else 0
        ask = asks[0] if asks else 0
        bq = book.bids[bid].total if bid else 0
        aq = book.asks[ask].total if ask else 0
        return bid, ask, bq, aq

    def _mid(self) -> float:
        return self.sim.view.mid()

    def _market_features(self) -> tuple[float, float, float]:
        bid, ask, bq, aq = self._book()
        sim = self.sim
        mid = sim.view.mid()
        spread_bp = (ask - bid) / mid * 1e4 if bid and ask else 0.0
        imbalance = (bq - aq) / (bq + aq) if bq + aq else 0.0
        vol_bp = sim._vol_ticks / mid * 1e4 if mid else 0.0
        return spread_bp, imbalance, vol_bp

    def _background(self) -> None:
        sim = self.sim
        sim.run_until(sim.now_ns + self.step_ns, max_messages=self.max_background)

    def _balances(self) -> tuple[int, int]:
        """The policy's USD and BTC (available + held), minor units."""
        engine, uid = self.sim.engine, self.policy.user_id
        usd = sum(engine.balance(uid, self.symbol.quote.code))
        btc = sum(engine.balance(uid, self.symbol.base.code))
        return usd, btc


def _observations(rows: list[list[float]]) -> np.ndarray:
    """Observation rows as one ``(n, F)`` float32 array, clipped to the space."""
    out = np.array(rows, dtype=np.float32)
    np.maximum(out, -1e4, out=out)  # as np.clip, without its Python wrappers
    return np.minimum(out, 1e4, out=out)


def _clone(template: Simulation) -> Simulation:
    """A new simulation object sharing nothing mutable with ``template`` (its state
    comes from the checkpoint at the first reset)."""
    import copy

    sim = copy.copy(template)
    sim.view = copy.copy(template.view)
    sim.view.sim = sim
    sim.rejects = {}
    return sim


class ExecutionEnv(_MarketEnv):
    """Optimal execution: work a parent order against the background agents."""

    def __init__(self, *, target_lots: int = 400, horizon: int = 60, side: str = "buy",
                 **kw: Any) -> None:
        super().__init__(**kw)
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, got {side!r}")
        self.side = BUY if side == "buy" else SELL
        self.target_lots = target_lots
        self.horizon = horizon
        self.episode_seconds = horizon * self.step_ns / SECOND
        self.action_space = spaces.Box(0.0, 1.0, (1,), np.float32)

    def _reset_row(self, seed: int | None) -> list[float]:
        self._restart(seed)
        self.t = 0
        self.left = self.target_lots
        self.arrival = self._mid()
        self.cost_bp = 0.0
        return self._row()

    def _reset_info(self) -> dict[str, Any]:
        return {"arrival_mid_ticks": self.arrival}

    def _row(self) -> list[float]:
        spread, imbalance, vol = self._market_features()
        move = (self._mid() - self.arrival) / self.arrival * 1e4
        return [1 - self.t / self.horizon, self.left / self.target_lots, spread, move,
                imbalance, vol]

    def _act(self, action: list[float]) -> tuple[float, bool, dict[str, Any]]:
        share = action[0]
        last = self.t == self.horizon - 1
        lots = self.left if last else min(self.left, round(share * self.left))
        reward = 0.0
        filled = 0
        sim = self.sim
        if lots > 0:
            policy = sim.agents[-1]
            (events,) = sim.submit([PlaceOrder(policy.user_id, self.symbol.name, self.side,
                                               MARKET, qty_lots=lots, tif=IOC)], policy)
            sign = 1 if self.side == BUY else -1
            arrival = self.arrival
            for e in events:
                if type(e) is TradeExecuted:
                    filled += e.qty_lots
                    slip_bp = sign * (e.price_ticks - arrival) / arrival * 1e4
                    reward -= slip_bp * e.qty_lots / self.target_lots
            self.left -= filled
        self.t += 1
        sim.run_until(sim.now_ns + self.step_ns, None, self.max_background)
        terminated = self.left == 0 or self.t >= self.horizon
        if terminated and self.left:
            reward -= 50.0 * self.left / self.target_lots  # not done: 50 bp on the rest
        self.cost_bp -= reward
        return float(reward), bool(terminated), {
            "filled_lots": filled, "left_lots": self.left, "shortfall_bp": self.cost_bp}


class MarketMakingEnv(_MarketEnv):
    """Market making: quote around the mid, earn the spread, carry the inventory."""

    def __init__(self, *, quote_lots: int = 10, max_offset_bp: float = 10.0,
                 inventory_limit: int = 400, inventory_penalty: float = 0.5,
                 horizon: int = 360, **kw: Any) -> None:
        super().__init__(**kw)
        self.quote_lots = quote_lots
        self.max_offset_bp = max_offset_bp
        self.inventory_limit = inventory_limit
        self.inventory_penalty = inventory_penalty
        self.horizon = horizon
        self.episode_seconds = horizon * self.step_ns / SECOND
        self.action_space = spaces.Box(0.0, 1.0, (2,), np.float32)

    def _value(self) -> float:
        usd, btc = self._balances()
        sym = self.symbol
        mid = self._mid()
        return usd + btc / sym.base_per_lot * mid * sym.quote_per_tick_lot

    def _inventory(self) -> int:
        return (self._balances()[1] - self.start_btc) // self.symbol.base_per_lot

    def _reset_row(self, seed: int | None) -> list[float]:
        self._restart(seed)
        self.t = 0
        self.start_btc = self._balances()[1]
        self.value = self._value()
        self._mid_prev = self._mid()
        self._move_bp = 0.0
        return self._row()

    def _row(self) -> list[float]:
        spread, imbalance, vol = self._market_features()
        return [self._inventory() / self.inventory_limit, spread, self._move_bp, imbalance,
                1 - self.t / self.horizon, vol]

    def _act(self, a: list[float]) -> tuple[float, bool, dict[str, Any]]:
        mid = self._mid()
        bp = mid * 1e-4
        uid, name = self.policy.user_id, self.symbol.name
        inventory = self._inventory()
        commands: list[Any] = [CancelAll(uid, name)]
        if inventory < self.inventory_limit:
            commands.append(PlaceOrder(uid, name, BUY, LIMIT, qty_lots=self.quote_lots,
                                       price_ticks=max(1, int(mid - (0.5 + a[0]
                                                                      * self.max_offset_bp) * bp))))
        if inventory > -self.inventory_limit:
            commands.append(PlaceOrder(uid, name, SELL, LIMIT, qty_lots=self.quote_lots,
                                       price_ticks=math.ceil(mid + (0.5 + a[1]
                                                                    * self.max_offset_bp) * bp)))
        self.sim.submit(commands, self.policy)
        self.t += 1
        self._background()
        value = self._value()
        notional = self.quote_lots * mid * self.symbol.quote_per_tick_lot
        pnl_bp = (value - self.value) / notional * 1e4 if notional else 0.0
        self.value = value
        share = self._inventory() / self.inventory_limit
        reward = pnl_bp - self.inventory_penalty * share * share
        new_mid = self._mid()
        self._move_bp = (new_mid - mid) / mid * 1e4 if mid else 0.0
        terminated = self.t >= self.horizon
        return float(reward), bool(terminated), {
            "inventory_lots": self._inventory(), "pnl_bp": pnl_bp}


class _EnvGroup:
    """Some environments of a vector, stepped one after another (next-step autoreset):
    the whole vector in one process, or one worker process's share of it."""

    def __init__(self, env_class: type[_MarketEnv], count: int, kw: dict[str, Any]) -> None:
        self.envs = [env_class(**kw) for _ in range(count)]
        self.done = [False] * count

    def reset(self, seeds: list[int | None]) -> np.ndarray:
        rows = [env._reset_row(seed) for env, seed in zip(self.envs, seeds, strict=True)]
        self.done = [False] * len(self.envs)
        return _observations(rows)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
        count = len(self.envs)
        rows: list[list[float]] = []
        rewards = [0.0] * count
        terminated = [False] * count
        done = self.done
        for i, (env, action) in enumerate(zip(
                self.envs, np.minimum(np.maximum(actions.astype(np.float64), 0.0),
                                      1.0).tolist(),
                strict=True)):
            if done[i]:
                rows.append(env._reset_row(None))
                continue
            rewards[i], terminated[i], _ = env._act(action)
            rows.append(env._row())
        self.done = terminated
        return (_observations(rows), np.array(rewards, dtype=np.float64),
                np.array(terminated, dtype=np.bool_), np.zeros(count, dtype=np.bool_))


def _group_worker(conn: Any, env_class: type[_MarketEnv], count: int,
                  kw: dict[str, Any]) -> None:
    """A worker process: its share of the environments, driven over a pipe."""
    group = _EnvGroup(env_class, count, kw)
    conn.send("ready")
    while True:
        command, payload = conn.recv()
        if command == "step":
            conn.send(group.step(payload))
        elif command == "reset":
            conn.send(group.reset(payload))
        elif command == "cpu":
            conn.send(time.process_time())
        else:
            conn.close()
            return


class _VectorMarketEnv(VectorEnv[np.ndarray, np.ndarray, np.ndarray]):
    """``num_envs`` environments stepped in one call (next-step autoreset).

    With ``workers`` > 1 the environments are split into that many contiguous shares,
    each stepped in its own process (as gymnasium's ``AsyncVectorEnv``, but a process
    runs a share of the environments, not one: a machine has a few cores, a vector
    dozens of environments); a step sends each worker its actions and gathers the
    results. Episodes are the same whatever the number of workers (each environment
    depends only on its own seed)."""

    env_class: type[_MarketEnv] = _MarketEnv
    action_dim = 1

    def __init__(self, num_envs: int = 8, *, workers: int = 1, **kw: Any) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.num_envs = num_envs
        self.single_observation_space = spaces.Box(-1e4, 1e4, (self.env_class.n_features,),
                                                   np.float32)
        self.single_action_space = spaces.Box(0.0, 1.0, (self.action_dim,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}
        workers = min(workers, num_envs)
        bounds = np.linspace(0, num_envs, workers + 1).round().astype(int).tolist()
        self._shares = list(itertools.pairwise(bounds))
        self._group: _EnvGroup | None = None
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        if workers == 1:
            self._group = _EnvGroup(self.env_class, num_envs, kw)
            self.envs = self._group.envs
            return
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        for lo, hi in self._shares:
            parent, child = context.Pipe()
            proc = context.Process(target=_group_worker, daemon=True,
                                   args=(child, self.env_class, hi - lo, kw))
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        for conn in self._conns:
            try:
                conn.recv()
            except EOFError:  # pragma: no cover - the worker died while starting
                self.close_extras()
                raise RuntimeError("a vector environment worker did not start (a script "
                                   "that makes a vector with workers needs an "
                                   "`if __name__ == \"__main__\":` guard)") from None
        self.envs = []

    def _call(self, command: str, payloads: list[Any]) -> list[Any]:
        for conn, payload in zip(self._conns, payloads, strict=True):
            conn.send((command, payload))
        return [conn.recv() for conn in self._conns]

    def reset(self, *, seed: int | list[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        seeds = seed if isinstance(seed, list) else [
            None if seed is None else seed + i for i in range(self.num_envs)]
        if self._group is not None:
            return self._group.reset(seeds), {}
        parts = self._call("reset", [seeds[lo:hi] for lo, hi in self._shares])
        return np.concatenate(parts), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, -1)
        if self._group is not None:
            return (*self._group.step(actions), {})
        parts = self._call("step", [actions[lo:hi] for lo, hi in self._shares])
        obs, rewards, terminated, truncated = (np.concatenate(column)
                                               for column in zip(*parts, strict=True))
        return obs, rewards, terminated, truncated, {}

    def cpu_seconds(self) -> float:
        """CPU time used so far by the processes that step the environments: this one
        without workers, else the workers' sum (for a per-CPU-second figure)."""
        if self._group is not None:
            return time.process_time()
        return float(sum(self._call("cpu", [None] * len(self._conns))))

    def close_extras(self, **kwargs: Any) -> None:
        for conn in self._conns:
            try:
                conn.send(("close", None))
                conn.close()
            except OSError:  # pragma: no cover - the worker is gone already
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():  # pragma: no cover
                proc.terminate()
        self._conns, self._procs = [], []


class ExecutionVectorEnv(_VectorMarketEnv):
    env_class = ExecutionEnv


class MarketMakingVectorEnv(_VectorMarketEnv):
    env_class = MarketMakingEnv
    action_dim = 2


def register_envs() -> None:
    """Register the environments with gymnasium (idempotent)."""
    for name, cls, vec in (("Matchbook/Execution-v0", "ExecutionEnv", "ExecutionVectorEnv"),
                           ("Matchbook/MarketMaking-v0", "MarketMakingEnv",
                            "MarketMakingVectorEnv")):
        if name not in gym.registry:
            gym.register(id=name, entry_point=f"matchbook.sim.envs:{cls}",
                         vector_entry_point=f"matchbook.sim.envs:{vec}",
                         disable_env_checker=True)


register_envs()
