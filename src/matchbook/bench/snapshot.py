"""``matchbook bench snapshot-latency``: order acknowledgement latency while periodic
snapshots are taken, three ways: written on the event loop (``inline``, as the exchange
did before), copied on the loop then encoded and written on the snapshot thread
(``thread``), and copied by forking a child that encodes and writes it (``fork``, what
the exchange does where it can fork).

The exchange is started as the server starts it (``Exchange.start``, without the SQL
projector so that only the snapshots differ), loaded with ``resting`` passive orders
(the state a snapshot copies and encodes), then ``clients`` closed-loop clients place
and cancel small passive orders for ``seconds`` per phase, while a snapshot is due
every ``interval`` seconds. The phases run on the same exchange, one after the other,
each reporting the ack latency percentiles (from ``submit`` to the answer), the
snapshots written and how long one took.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matchbook.bench.engine import MID_TICKS, SYMBOL, USERS, funding
from matchbook.config import default_markets
from matchbook.core import RiskLimits
from matchbook.core.commands import BUY, LIMIT, SELL, CancelOrder, PlaceOrder
from matchbook.core.events import OrderAccepted
from matchbook.journal.snapshot import SnapshotPolicy
from matchbook.runtime.exchange import Exchange
from matchbook.runtime.sequencer import Result
from matchbook.settings import Settings

Note = Callable[[str, int, int], None]


def _resting(n: int, seed: int) -> list[PlaceOrder]:
    """Passive orders 100 to 10,100 ticks from the mid: they rest, nothing trades."""
    rng = random.Random(seed)
    orders = []
    for _ in range(n):
        side = BUY if rng.random() < 0.5 else SELL
        offset = rng.randint(100, 10_100)
        price = MID_TICKS - offset if side == BUY else MID_TICKS + offset
        orders.append(PlaceOrder(rng.randint(1, USERS), SYMBOL, side, LIMIT,
                                 qty_lots=rng.randint(1, 20), price_ticks=price))
    return orders


async def _load(exchange: Exchange, commands: list[Any], note: Note) -> None:
    loop = asyncio.get_running_loop()
    chunk = 1024
    for start in range(0, len(commands), chunk):
        futures: list[asyncio.Future[Result]] = []
        for command in commands[start:start + chunk]:
            future: asyncio.Future[Result] = loop.create_future()
            exchange.submit_nowait(command, future)
            futures.append(future)
        await asyncio.gather(*futures)
        note("load the state", min(start + chunk, len(commands)), len(commands))


async def _client(exchange: Exchange, user_id: int, until: float,
                  latencies: list[int]) -> None:
    """Place a passive order and cancel it, again and again, timing each answer."""
    clock = time.perf_counter_ns
    side, price = (BUY, MID_TICKS - 50) if user_id % 2 else (SELL, MID_TICKS + 50)
    while time.perf_counter() < until:
        started = clock()
        result = await exchange.submit(PlaceOrder(user_id, SYMBOL, side, LIMIT, qty_lots=1,
                                                  price_ticks=price))
        latencies.append(clock() - started)
        accepted = next((e for e in result.events if type(e) is OrderAccepted), None)
        if accepted is not None:
            started = clock()
            await exchange.submit(CancelOrder(user_id, accepted.order_id))
            latencies.append(clock() - started)


def _quantile_ms(ordered: list[int], q: float) -> float:
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6, 3)


async def _phase(exchange: Exchange, way: str, seconds: float, clients: int,
                 note: Note) -> dict[str, Any]:
    durable = exchange.durable
    background = way != "inline"
    durable.config = dataclasses.replace(durable.config, snapshot_in_background=background,
                                         snapshot_fork=way == "fork")
    await asyncio.to_thread(durable.wait_for_snapshots)
    written, longest_copy = durable.snapshots_written, 0.0
    latencies: list[int] = []
    until = time.perf_counter() + seconds
    tasks = [asyncio.create_task(_client(exchange, 1 + i, until, latencies))
             for i in range(clients)]
    started = time.perf_counter()
    while not all(task.done() for task in tasks):
        await asyncio.sleep(0.25)
        longest_copy = max(longest_copy, durable.snapshot_copy_seconds if background else 0)
        note(f"{way} snapshots",
             min(int(time.perf_counter() - started), int(seconds)), int(seconds))
    await asyncio.gather(*tasks)
    await asyncio.to_thread(durable.wait_for_snapshots)
    latencies.sort()
    return {"snapshots": durable.snapshots_written - written,
            "snapshot_seconds": round(durable.snapshot_seconds, 3),
            "state_copy_seconds_on_loop": round(longest_copy, 3) if background
            else round(durable.snapshot_seconds, 3),
            "acks": len(latencies),
            "p50_ms": _quantile_ms(latencies, 0.50), "p99_ms": _quantile_ms(latencies, 0.99),
            "p999_ms": _quantile_ms(latencies, 0.999),
            "max_ms": round(latencies[-1] / 1e6, 3) if latencies else 0.0}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parent,
                              timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


async def _run(resting: int, seconds: float, interval: float, clients: int, mode: str,
               seed: int, data_dir: Path, note: Note) -> dict[str, Any]:
    # no snapshot while the state is loaded; then one due every ``interval`` seconds
    settings = Settings(data_dir=data_dir, journal_mode=mode, snapshot_every_seconds=0,
                        snapshot_every_commands=0)
    exchange = await Exchange.start(settings, markets=default_markets(),
                                    limits=RiskLimits(max_open_orders=10**9), read_model=False)
    try:
        durable, engine = exchange.durable, exchange.engine
        await _load(exchange, [*funding(), *_resting(resting, seed)], note)
        durable.policy = SnapshotPolicy(0, interval, daily_midnight_utc=False,
                                        last_seq=engine.last_seq, last_ts_ns=engine.last_ts)
        phases = {way: await _phase(exchange, way, seconds, clients, note)
                  for way in ("inline", "thread", "fork")}
    finally:
        await exchange.stop()
    return {"resting_orders": resting, "seconds_per_phase": seconds,
            "snapshot_interval_seconds": interval, "clients": clients, "journal_mode": mode,
            "commit": _commit(), "machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
                                            f"Python {platform.python_version()}",
            **{f"{name}_{key}": value for name, figures in phases.items()
               for key, value in figures.items()}}


def run(resting: int = 200_000, seconds: float = 10.0, interval: float = 1.0,
        clients: int = 4, mode: str = "os", seed: int = 7,
        progress: Note | None = None) -> dict[str, Any]:
    note = progress or (lambda stage, done, total: None)
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_run(resting, seconds, interval, clients, mode, seed,
                                Path(tmp) / "data", note))
