"""``matchbook bench pipeline``: the engine mix with the journal on and the SQL projector
following it, in one process, as the server runs them.

The seeded mix of ``bench engine`` goes through a ``DurableEngine`` in batches (group
commit: one write, and in mode ``fsync`` one fsync, per batch) while a ``ProjectorTask``
writes the events into SQLite or PostgreSQL from the same event loop. Reported:
commands/s through journal + engine, the projector's lag (commands applied but not yet
in SQL) sampled after every batch, and how long it takes to catch up at the end.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from matchbook.bench.engine import Mix, _funding, prepare
from matchbook.core import RiskLimits
from matchbook.journal.durable import DurabilityConfig, DurableEngine
from matchbook.store.follow import ProjectorTask
from matchbook.store.projector import Projector


async def _run(commands: int, mode: str, batch: int, url: str, seed: int,
               data_dir: Path) -> dict[str, Any]:
    limits = RiskLimits(max_open_orders=10**9)
    setup = _funding()
    mix, gen = prepare(commands, seed, True, Mix(), setup, lambda stage, done, total: None)
    stream = setup + mix
    durable = DurableEngine.open(data_dir, gen.markets,
                                 config=DurabilityConfig(mode=mode),  # type: ignore[arg-type]
                                 limits=limits)
    projection = Projector(url, gen.markets)
    await projection.start()
    task = ProjectorTask(projection, data_dir=data_dir)
    await task.start()
    task.offer(durable.opened)  # the configured risk limits, journaled at start-up
    lags: list[int] = []
    ts = time.time_ns()
    started = time.perf_counter()
    for i in range(0, len(stream), batch):
        ts += 1_000_000
        applied = durable.submit([(c, ts) for c in stream[i:i + batch]])
        task.offer(applied)
        lags.append(task.lag)
        await asyncio.sleep(0)  # let the projector take its turn, as on the server's loop
    elapsed = time.perf_counter() - started
    drained = time.perf_counter()
    await task.stop(drain=True, timeout=600)
    catch_up = time.perf_counter() - drained
    stats = projection.stats()
    await projection.stop()
    durable.close()
    lags.sort()
    return {"commands": len(stream), "journal_mode": mode, "batch": batch,
            "dialect": url.split(":", 1)[0],
            "commands_per_sec": round(len(stream) / elapsed),
            "projector_lag_p50": lags[len(lags) // 2], "projector_lag_max": lags[-1],
            "projector_catch_up_seconds": round(catch_up, 3),
            "projector_rows": stats.rows,
            "projector_rows_per_sec": round(stats.rows_per_second),
            "projector_dropped_batches": task.dropped_batches,
            "projected_to_seq": stats.last_seq}


def run(commands: int = 100_000, mode: str = "fsync", batch: int = 256, url: str = "",
        seed: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        target = url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return asyncio.run(_run(commands, mode, batch, target, seed, Path(tmp) / "data"))
