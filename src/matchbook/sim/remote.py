"""The simulator's agents against a running exchange, over the SDK: a load test with
realistic flow (``matchbook sim run --target http://host:port``).

A sample of the preset's agents (every kind, in proportion) each gets a user on the
server (signed up, then funded by an administrator's deposits) and its own
``AsyncClient``. Each agent runs as an asyncio task: it sleeps until its next wake
(simulated time runs ``speed`` times faster than the wall clock), reads the shared
view of the market (``GET /depth``, refreshed every 200 ms) and sends the commands it
decided as REST calls: ``PlaceOrder`` -> ``POST /orders``, ``CancelAll`` ->
``DELETE /orders``. Agents' own orders are known from the answers (an order that rests
counts as open until the agent cancels all). A market maker learns the fills its
orders get when they are placed (the answer of ``POST /orders``), not those of its
resting quotes, so its inventory skew sees only part of its inventory over the
network.

The summary counts orders sent, accepted and refused (by error code), and the REST
latency percentiles seen by the agents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from matchbook.client import AsyncClient, MatchbookError
from matchbook.core.commands import BUY, IOC, LIMIT, CancelAll, PlaceOrder
from matchbook.sim.agents import SECOND, Agent
from matchbook.sim.presets import Preset, build_agents
from matchbook.sim.runner import agent_random, fundamental_path

PASSWORD = "sim-agent-password-0"


class RemoteError(RuntimeError):
    """The target cannot be used (unreachable, bad administrator credentials)."""


class _RemoteView:
    """The ``Market`` the agents read: the server's book, polled."""

    def __init__(self, preset: Preset, seed: int, tick: Decimal, lot: Decimal,
                 price_ticks: int, start_ns: int) -> None:
        self.symbol = preset.symbol
        self.day_start_ns = start_ns
        self.tick, self.lot = tick, lot
        self.bid = self.ask = 0
        self.price_ticks = price_ticks
        self._fundamental, self._activity = fundamental_path(preset, seed, price_ticks)
        self.minute_mids: list[float] = []
        self._vol = preset.fundamental.sigma_bp_per_s * 60**0.5 * price_ticks * 1e-4
        self.open: dict[int, int] = {}
        self._parents = 0

    def best_bid(self) -> int:
        return self.bid

    def best_ask(self) -> int:
        return self.ask

    def mid(self) -> float:
        if self.bid and self.ask:
            return (self.bid + self.ask) / 2
        return float(self.bid or self.ask or self.price_ticks)

    def mid_minutes_ago(self, minutes: int) -> float:
        return self.minute_mids[-minutes] if len(self.minute_mids) >= minutes else 0.0

    def vol_ticks(self) -> float:
        return self._vol

    def bp_ticks(self) -> float:
        return self.price_ticks * 1e-4

    def fundamental(self, now_ns: int, ahead_s: int = 0) -> float:
        i = min((now_ns - self.day_start_ns) // SECOND + ahead_s, len(self._fundamental) - 1)
        return float(self._fundamental[max(0, i)])

    def activity(self, now_ns: int) -> float:
        i = min((now_ns - self.day_start_ns) // SECOND, len(self._activity) - 1)
        return float(self._activity[max(0, i)])

    def open_order_count(self, user_id: int) -> int:
        return self.open.get(user_id, 0)

    def parent_started(self, agent: Agent, side: int, lots: int, now_ns: int) -> int:
        self._parents += 1
        return self._parents

    def parent_finished(self, parent_id: int, now_ns: int) -> None:
        pass

    def on_minute(self) -> None:
        mid = self.mid()
        if self.minute_mids:
            self._vol = 0.9 * self._vol + 0.1 * abs(mid - self.minute_mids[-1])
        self.minute_mids.append(mid)


def sample_agents(preset: Preset, count: int) -> list[Agent]:
    """``count`` of the preset's agents, every kind in proportion (at least one each)."""
    agents = build_agents(preset)
    total = len(agents)
    by_kind: dict[str, list[Agent]] = {}
    for agent in agents:
        by_kind.setdefault(agent.kind, []).append(agent)
    chosen: list[Agent] = []
    for members in by_kind.values():
        take = max(1, round(len(members) * count / total))
        chosen.extend(members[:take])
    return chosen


def run_remote(target: str, preset: Preset, seed: int, *, admin_email: str,
               admin_password: str, agents: int = 40, seconds: float = 30.0,
               speed: float = 60.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the sampled agents against ``target`` for ``seconds``; the summary."""
    return asyncio.run(_run(target, preset, seed, admin_email, admin_password, agents,
                            seconds, speed, log or (lambda _: None)))


async def _run(target: str, preset: Preset, seed: int, admin_email: str, admin_password: str,
               count: int, seconds: float, speed: float,
               log: Callable[[str], None]) -> dict[str, Any]:
    admin = AsyncClient(target)
    try:
        await admin.login(admin_email, admin_password)
        symbols = {s.symbol: s for s in await admin.symbols()}
    except (MatchbookError, OSError) as exc:
        await admin.aclose()
        raise RemoteError(f"cannot sign in at {target}: {exc}") from None
    if preset.symbol not in symbols:
        await admin.aclose()
        raise RemoteError(f"the server has no symbol {preset.symbol}")
    info = symbols[preset.symbol]
    tick, lot = Decimal(str(info.tick_size)), Decimal(str(info.lot_size))
    price_ticks = int(Decimal(preset.price) / tick)
    start_ns = time.time_ns()
    view = _RemoteView(preset, seed, tick, lot, price_ticks, start_ns)
    chosen = sample_agents(preset, count)
    clients: dict[int, AsyncClient] = {}
    run_tag = f"{seed}-{start_ns // 10**6}"
    log(f"creating and funding {len(chosen)} users on {target}")
    for agent in chosen:
        email = f"{agent.agent_id}.{run_tag}@sim.matchbook"
        client = AsyncClient(target)
        user = await client.signup(email, PASSWORD)
        await client.login(email, PASSWORD)
        agent.user_id = user.user_id
        agent.rng = agent_random(seed, agent.agent_id)
        for asset, units in sorted(agent.funding_units.items()):
            await admin.admin_deposit(user.user_id, asset, str(units), reference="sim")
        clients[user.user_id] = client
    latencies: list[float] = []
    refused: dict[str, int] = {}
    sent = accepted = 0
    deadline = time.monotonic() + seconds
    wall0 = time.monotonic()

    def sim_now() -> int:
        return start_ns + int((time.monotonic() - wall0) * speed * SECOND)

    async def poll() -> None:
        next_minute = start_ns + 60 * SECOND
        while time.monotonic() < deadline:
            try:
                depth = await admin.depth(preset.symbol, 1)
                view.bid = int(depth.bids[0][0] / tick) if depth.bids else 0
                view.ask = int(depth.asks[0][0] / tick) if depth.asks else 0
            except (MatchbookError, OSError):
                pass
            while sim_now() >= next_minute:
                view.on_minute()
                next_minute += 60 * SECOND
            await asyncio.sleep(0.2)

    async def send(agent: Agent, command: Any) -> None:
        nonlocal sent, accepted
        client = clients[agent.user_id]
        started = time.perf_counter()
        sent += 1
        try:
            if isinstance(command, CancelAll):
                await client.cancel_all(command.symbol)
                view.open[agent.user_id] = 0
            elif isinstance(command, PlaceOrder):
                side = "buy" if command.side == BUY else "sell"
                price = command.price_ticks * tick if command.order_type == LIMIT else None
                order = await client.place_order(
                    command.symbol, side, command.qty_lots * lot, price,
                    time_in_force="ioc" if command.tif == IOC else "gtc")
                if order.is_open:
                    view.open[agent.user_id] = view.open.get(agent.user_id, 0) + 1
                if agent.wants_fills:
                    for fill in order.fills:
                        agent.on_fill(command.side, int(fill.price / tick),
                                      int(fill.quantity / lot))
            accepted += 1
        except MatchbookError as exc:
            refused[str(exc.code)] = refused.get(str(exc.code), 0) + 1
        except OSError:
            refused["connection"] = refused.get("connection", 0) + 1
        latencies.append(time.perf_counter() - started)

    async def live(agent: Agent) -> None:
        wake = agent.first_wake(start_ns)
        while wake and time.monotonic() < deadline:
            delay = (wake - sim_now()) / SECOND / speed
            if delay > 0:
                await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                if time.monotonic() >= deadline:
                    break
            out: list[Any] = []
            wake = agent.wake(sim_now(), view, out)
            for command in out:
                await send(agent, command)

    log(f"trading for {seconds:g} s at {speed:g}x simulated time")
    try:
        await asyncio.gather(poll(), *(live(agent) for agent in chosen))
    finally:
        for client in clients.values():
            await client.aclose()
        await admin.aclose()
    elapsed = time.monotonic() - wall0
    lat = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return {"target": target, "preset": preset.name, "seed": seed, "agents": len(chosen),
            "seconds": round(elapsed, 2), "requests": sent, "accepted": accepted,
            "refused": dict(sorted(refused.items())),
            "requests_per_sec": round(sent / elapsed, 1) if elapsed else 0.0,
            "latency_p50_ms": round(float(np.percentile(lat, 50)), 2),
            "latency_p99_ms": round(float(np.percentile(lat, 99)), 2)}
