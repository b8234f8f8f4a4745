"""``matchbook bench sim``: the simulator's speed figures, each with its target.

* ``agents``: one simulated day of a preset (default: the ~1,000-agent one) in this
  process: messages per second of wall time, and the peak resident memory;
* ``batch``: ``apply_batch`` on a structured array of orders (limit orders around a
  drifting mid, market orders, cancels), messages per second of wall time and of CPU
  time, and the engine's share: the same rows as ready-made commands applied one by
  one to a fresh engine, in CPU time;
* ``gym``: ``Matchbook/Execution-v0`` steps per second (a step = the action and up to
  100 background messages) and ``reset()`` time;
* ``vector``: a vector of 64 execution environments, environment-steps per second,
  stepped by one worker process per core (``vector_workers``), and per CPU-second of
  the processes that step them (what one core would do with nothing else running);
* ``api``: ``matchbook serve`` in a subprocess; ``POST /api/simulation`` with 100,000
  orders (after one small warm-up run that starts the worker), timed from the client,
  while another client reads ``GET /api/v1/depth`` in a loop: its p99; and the
  engine's share of the sandbox's loop (the sum of its timed ``Engine.apply`` calls).

The machine's load average is recorded before and after (``load_average``): the
wall-clock figures of a shared machine depend on it, the CPU-time ones much less.
"""

from __future__ import annotations

import asyncio
import platform
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PARTS = ("agents", "batch", "gym", "vector", "api")
Note = Callable[[str, int, int], None]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=False).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    import os

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "commit": commit}


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages (empty where the system has none)."""
    import os

    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _agents(preset: Any, seed: int, note: Note | None) -> dict[str, Any]:
    from matchbook.sim.runner import Simulation

    sim = Simulation(preset, seed)
    day = preset.day_s
    cpu = time.process_time()
    result = sim.run(None if note is None else lambda done, total: note("agents (sim s)",
                                                                       done, total))
    cpu = time.process_time() - cpu
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"messages": result.messages, "trades": result.trades, "sim_seconds": day,
            "wall_seconds": round(result.wall_seconds, 2),
            "messages_per_sec": round(result.messages_per_sec),
            "cpu_seconds": round(cpu, 2),
            "messages_per_cpu_sec": round(result.messages / cpu) if cpu else 0,
            "peak_rss_mb": round(rss_mb, 1)}


def batch_orders(n: int, seed: int, users: int = 200) -> np.ndarray:
    """A seeded structured array for ``apply_batch``: 60% limit orders (15% crossing),
    10% market orders, 30% cancels of earlier rows' orders (resolved by order id,
    which the engine gives in sequence: a cancel names a likely-open id)."""
    from matchbook.sim.batch import CANCEL, ORDER_DTYPE, PLACE

    rng = np.random.default_rng(seed)
    orders = np.zeros(n, dtype=ORDER_DTYPE)
    u = rng.random(n)
    side = np.where(rng.random(n) < 0.5, 1, 2)
    mid = 5_000_000 + np.cumsum(rng.integers(-3, 4, n))
    offset = np.where(rng.random(n) < 0.15, -rng.integers(0, 6, n), rng.integers(1, 51, n))
    orders["action"] = np.where(u < 0.7, PLACE, CANCEL)
    orders["user_id"] = rng.integers(1, users + 1, n)
    orders["side"] = side
    orders["order_type"] = np.where(u < 0.6, 1, 2)
    orders["tif"] = np.where(u < 0.6, 1, 2)
    orders["price_ticks"] = np.where(u < 0.6, np.where(side == 1, mid - offset, mid + offset), 0)
    orders["qty_lots"] = rng.integers(1, 21, n)
    # a cancel names an order placed a little earlier (ids follow the rows' places)
    placed = np.cumsum(orders["action"] == PLACE)
    target = np.maximum(1, placed - rng.integers(1, 200, n))
    place_rows = np.flatnonzero(orders["action"] == PLACE)
    cancel = orders["action"] == CANCEL
    orders["order_id"] = np.where(cancel, target, 0)
    if len(place_rows):  # the owner of the targeted order, as the engine requires
        owner = orders["user_id"][place_rows[np.minimum(target, len(place_rows)) - 1]]
        orders["user_id"] = np.where(cancel, owner, orders["user_id"])
    orders["ts_ns"] = 1_767_571_200 * 10**9 + np.arange(n) * 1000
    return orders


def funded_engine(users: int = 200) -> Any:
    from matchbook.config import default_markets
    from matchbook.core import Deposit, Engine, RiskLimits

    markets = default_markets()
    engine = Engine(markets, limits=RiskLimits(max_open_orders=10**6))
    seq = 0
    for uid in range(1, users + 1):
        for asset, amount in (("USD", "10000000"), ("BTC", "200")):
            seq += 1
            engine.apply(seq, seq, Deposit(asset, markets.assets[asset].to_minor(amount),
                                           user_id=uid))
    return engine


def _commands(orders: np.ndarray, symbol: str) -> list[Any]:
    """The rows of ``orders`` as the commands ``apply_batch`` builds from them."""
    from matchbook.core.commands import AmendOrder, CancelOrder, PlaceOrder
    from matchbook.sim.batch import CANCEL, PLACE

    out: list[Any] = []
    for action, uid, side, otype, tif, price, qty, oid in zip(*(orders[name].tolist() for name in (
            "action", "user_id", "side", "order_type", "tif", "price_ticks", "qty_lots",
            "order_id")), strict=True):
        if action == PLACE:
            out.append(PlaceOrder(uid, symbol, side, otype, qty, price, tif or 1))
        elif action == CANCEL:
            out.append(CancelOrder(uid, oid))
        else:
            out.append(AmendOrder(uid, oid, price, qty))
    return out


def _batch(n: int, seed: int, note: Note | None) -> dict[str, Any]:
    """Best of three passes, each on a fresh engine (the cancels name owners' ids, so
    a cancel of another user's order is a reject: it is a message all the same); each
    pass is followed by the engine alone on the same rows (built as commands before
    the clock starts, the events dropped): the batch call's cost beyond it is what it
    does around the engine."""
    import gc

    from matchbook.sim.batch import apply_batch

    orders = batch_orders(n, seed)
    commands = _commands(orders, "BTC-USD")
    stamps = orders["ts_ns"].tolist()
    best = None
    engine_cpu = []
    for attempt in range(3):
        engine = funded_engine()
        gc.collect()
        gc.disable()
        started, cpu = time.perf_counter(), time.process_time()
        result = apply_batch(engine, "BTC-USD", orders)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        gc.enable()
        if best is None or elapsed < best[0]:
            best = (elapsed, cpu, result)
        engine = funded_engine()
        apply, seq = engine.apply, engine.last_seq
        gc.collect()
        gc.disable()
        alone = time.process_time()
        for command, ts in zip(commands, stamps, strict=True):
            seq += 1
            apply(seq, ts, command)
        engine_cpu.append(time.process_time() - alone)
        gc.enable()
        if note:
            note("batch passes", attempt + 1, 3)
    assert best is not None
    elapsed, cpu, result = best
    engine_s = min(engine_cpu)
    return {"messages": n, "fills": result.fill_count,
            "deltas": len(result.deltas["row"]), "rejects": len(result.rejects["row"]),
            "seconds": round(elapsed, 3), "messages_per_sec": round(n / elapsed),
            "cpu_seconds": round(cpu, 3), "messages_per_cpu_sec": round(n / cpu) if cpu else 0,
            "engine_cpu_seconds": round(engine_s, 3),
            "engine_messages_per_cpu_sec": round(n / engine_s) if engine_s else 0,
            "engine_share_of_cpu": round(engine_s / cpu, 2) if cpu else 0}


def _gym(steps: int, note: Note | None) -> dict[str, Any]:
    from matchbook.sim.envs import ExecutionEnv

    env = ExecutionEnv()
    resets = []
    for i in range(20):
        started = time.perf_counter()
        env.reset(seed=i)
        resets.append(time.perf_counter() - started)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.random((steps, 1)).astype(np.float32) * 0.1
    messages = 0
    started = time.perf_counter()
    for i in range(steps):
        before = env.sim.messages
        _, _, terminated, truncated, _ = env.step(actions[i])
        messages += env.sim.messages - before
        if terminated or truncated:
            env.reset()
        if note and i % 500 == 0:
            note("gym steps", i, steps)
    elapsed = time.perf_counter() - started
    return {"steps": steps, "steps_per_sec": round(steps / elapsed),
            "background_messages_per_step": round(messages / steps, 1),
            "reset_ms_p50": round(float(np.median(resets)) * 1000, 2),
            "reset_ms_max": round(max(resets) * 1000, 2)}


def _vector(envs: int, steps: int, workers: int, note: Note | None) -> dict[str, Any]:
    from matchbook.sim.envs import ExecutionVectorEnv

    vec = ExecutionVectorEnv(num_envs=envs, workers=workers)
    try:
        vec.reset(seed=0)
        rng = np.random.default_rng(0)
        cpu = vec.cpu_seconds()
        started = time.perf_counter()
        for i in range(steps):
            vec.step(rng.random((envs, 1)).astype(np.float32) * 0.1)
            if note:
                note("vector steps", i + 1, steps)
        elapsed = time.perf_counter() - started
        cpu = vec.cpu_seconds() - cpu
    finally:
        vec.close()
    return {"envs": envs, "steps": steps, "workers": workers,
            "env_steps_per_sec": round(envs * steps / elapsed),
            "cpu_seconds": round(cpu, 3),
            "env_steps_per_cpu_sec": round(envs * steps / cpu) if cpu else 0,
            # the cores the workers had on average (workers when the machine is theirs)
            "cores_used": round(cpu / elapsed, 2)}


def _api(orders: int, note: Note | None) -> dict[str, Any]:
    import httpx

    from matchbook.bench.api import BenchConfig, ServerProcess

    server = ServerProcess(BenchConfig(journal_mode="os"))
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            started = time.perf_counter()
            warm = client.post("/api/simulation", json={"num_orders": 1000, "seed": 1})
            warm_s = time.perf_counter() - started
            warm.raise_for_status()

        async def measure() -> tuple[float, dict[str, Any], list[float]]:
            latencies: list[float] = []
            done = asyncio.Event()

            async def reader() -> None:
                async with httpx.AsyncClient(base_url=base, timeout=30) as c:
                    while not done.is_set():
                        t0 = time.perf_counter()
                        r = await c.get("/api/v1/depth", params={"symbol": "BTC-USD"})
                        latencies.append(time.perf_counter() - t0)
                        r.raise_for_status()
                        await asyncio.sleep(0.005)

            task = asyncio.create_task(reader())
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient(base_url=base, timeout=120) as c:
                t0 = time.perf_counter()
                r = await c.post("/api/simulation", json={"num_orders": orders, "seed": 2})
                elapsed = time.perf_counter() - t0
            done.set()
            await task
            r.raise_for_status()
            return elapsed, r.json(), latencies

        elapsed, body, latencies = asyncio.run(measure())
        if note:
            note("api", 1, 1)
    finally:
        server.stop()
    lat_ms = np.asarray(latencies) * 1000
    metrics = body["metrics"]
    return {"orders": orders, "post_seconds": round(elapsed, 3),
            "first_call_1000_orders_seconds": round(warm_s, 3),
            "sandbox_orders_per_sec": metrics["throughput_per_sec"],
            "sandbox_p99_latency_us": metrics["p99_latency_us"],
            "sandbox_loop_ms": metrics["simulation_duration_ms"],
            "sandbox_engine_share": round(metrics["avg_latency_us"] * orders / 1000
                                          / metrics["simulation_duration_ms"], 2),
            "depth_requests": len(lat_ms),
            "depth_p50_ms": round(float(np.percentile(lat_ms, 50)), 2),
            "depth_p99_ms": round(float(np.percentile(lat_ms, 99)), 2)}


def run_bench(preset: Any, seed: int, *, parts: tuple[str, ...] = PARTS,
              batch_orders: int = 400_000, gym_steps: int = 3000, vector_envs: int = 64,
              vector_steps: int = 40, vector_workers: int = 0,
              sandbox_orders: int = 100_000,
              progress: Note | None = None) -> dict[str, Any]:
    """Every requested part; ``figures`` lists each headline figure with its target."""
    out: dict[str, Any] = {"machine": machine(), "preset": preset.name, "seed": seed,
                           "load_average": {"start": load_average()}}
    figures: list[dict[str, Any]] = []
    if "agents" in parts:
        a = out["agents"] = _agents(preset, seed, progress)
        figures.append({"name": f"agent simulation, preset {preset.name} "
                                f"({preset.agent_count:,} agents), messages/s",
                        "value": f"{a['messages_per_sec']:,}", "target": ">= 20,000",
                        "met": a["messages_per_sec"] >= 20_000})
        figures.append({"name": "the same, messages per second of this process's CPU time",
                        "value": f"{a['messages_per_cpu_sec']:,}", "target": "",
                        "met": None})
        figures.append({"name": f"peak RSS, {preset.day_s / 3600:g} h simulated",
                        "value": f"{a['peak_rss_mb']:,.0f} MB", "target": "< 2,048 MB",
                        "met": a["peak_rss_mb"] < 2048})
    if "batch" in parts:
        b = out["batch"] = _batch(batch_orders, seed, progress)
        figures.append({"name": "batch call, messages/s", "value": f"{b['messages_per_sec']:,}",
                        "target": ">= 100,000", "met": b["messages_per_sec"] >= 100_000})
        figures.append({"name": "the same, per CPU-second (engine alone on the same rows; "
                                "its share)",
                        "value": f"{b['messages_per_cpu_sec']:,} "
                                 f"({b['engine_messages_per_cpu_sec']:,}; "
                                 f"{b['engine_share_of_cpu']:.0%})",
                        "target": "", "met": None})
    if "gym" in parts:
        g = out["gym"] = _gym(gym_steps, progress)
        figures.append({"name": f"execution env, steps/s ({g['background_messages_per_step']} "
                                "background messages a step)",
                        "value": f"{g['steps_per_sec']:,}", "target": ">= 1,000",
                        "met": g["steps_per_sec"] >= 1000})
        figures.append({"name": "reset(), ms (median / max of 20)",
                        "value": f"{g['reset_ms_p50']} / {g['reset_ms_max']}",
                        "target": "<= 50", "met": g["reset_ms_max"] <= 50})
    if "vector" in parts:
        import os

        workers = vector_workers or os.cpu_count() or 1
        v = out["vector"] = _vector(vector_envs, vector_steps, workers, progress)
        figures.append({"name": f"vector of {vector_envs} envs ({workers} worker processes), "
                                "env-steps/s",
                        "value": f"{v['env_steps_per_sec']:,}", "target": ">= 10,000",
                        "met": v["env_steps_per_sec"] >= 10_000})
        figures.append({"name": "the same, per CPU-second of the processes stepping them "
                                "(the cores they had)",
                        "value": f"{v['env_steps_per_cpu_sec']:,} ({v['cores_used']:.2f} of "
                                 f"{workers})", "target": "", "met": None})
    if "api" in parts:
        p = out["api"] = _api(sandbox_orders, progress)
        figures.append({"name": f"POST /api/simulation {sandbox_orders:,} orders, s",
                        "value": f"{p['post_seconds']}", "target": "< 2",
                        "met": p["post_seconds"] < 2})
        figures.append({"name": "its sandbox loop, ms (the engine's share of it)",
                        "value": f"{p['sandbox_loop_ms']:,.0f} ({p['sandbox_engine_share']:.0%})",
                        "target": "", "met": None})
        figures.append({"name": "GET /api/v1/depth p99 during it, ms",
                        "value": f"{p['depth_p99_ms']}", "target": "< 50",
                        "met": p["depth_p99_ms"] < 50})
    out["figures"] = figures
    out["load_average"]["end"] = load_average()
    return out
