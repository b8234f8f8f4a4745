"""``matchbook bench pipeline``: the engine mix with the journal on and the SQL projector
following it, in one process, as the server runs them.

The exchange is started as the server starts it (``Exchange.start``: recovery, the
sequencer, market data, the SQL projector, metrics), and the seeded mix of ``bench
engine`` is submitted to it in chunks of ``batch`` commands: the sequencer journals
each chunk as one batch (group commit: one write, and in mode ``fsync`` one fsync) and
applies it, while the projector writes the events into SQLite or PostgreSQL from the
same event loop. Reported: commands/s through sequencer + journal + engine, the
projector's lag (commands applied but not yet in SQL) sampled after every chunk, and
how long it takes to catch up at the end.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from matchbook.bench.engine import Mix, funding, prepare
from matchbook.core import RiskLimits
from matchbook.runtime.exchange import Exchange
from matchbook.runtime.sequencer import Result
from matchbook.settings import Settings
from matchbook.store.follow import ProjectorTask


async def _run(commands: int, mode: str, batch: int, url: str, seed: int,
               data_dir: Path) -> dict[str, Any]:
    setup = funding()
    mix, gen = prepare(commands, seed, True, Mix(), setup, lambda stage, done, total: None)
    stream = setup + mix
    # the projector fed by the sequencer in this process (its queue, lag and drops are
    # what this bench reports)
    settings = Settings(data_dir=data_dir, database_url=url, journal_mode=mode,
                        max_batch=batch, queue_size=max(10_000, 2 * batch),
                        projector="thread")
    exchange = await Exchange.start(settings, markets=gen.markets,
                                    limits=RiskLimits(max_open_orders=10**9))
    task = exchange.projector
    assert isinstance(task, ProjectorTask)
    loop = asyncio.get_running_loop()
    lags: list[int] = []
    try:
        started = time.perf_counter()
        for i in range(0, len(stream), batch):
            pending: list[asyncio.Future[Result]] = []
            for command in stream[i:i + batch]:
                future: asyncio.Future[Result] = loop.create_future()
                exchange.submit_nowait(command, future)
                pending.append(future)
            await asyncio.gather(*pending)  # one batch through the sequencer
            lags.append(task.lag)
        elapsed = time.perf_counter() - started
        drained = time.perf_counter()
        while task.lag and time.perf_counter() - drained < 600:
            await asyncio.sleep(0.005)
        catch_up = time.perf_counter() - drained
        stats = task.projector.stats()
        dropped = task.dropped_batches
    finally:
        await exchange.stop()
    lags.sort()
    return {"commands": len(stream), "journal_mode": mode, "batch": batch,
            "dialect": url.split(":", 1)[0],
            "commands_per_sec": round(len(stream) / elapsed),
            "projector_lag_p50": lags[len(lags) // 2], "projector_lag_max": lags[-1],
            "projector_catch_up_seconds": round(catch_up, 3),
            "projector_rows": stats.rows,
            "projector_rows_per_sec": round(stats.rows_per_second),
            "projector_dropped_batches": dropped,
            "projected_to_seq": stats.last_seq}


def run(commands: int = 100_000, mode: str = "fsync", batch: int = 256, url: str = "",
        seed: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        target = url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return asyncio.run(_run(commands, mode, batch, target, seed, Path(tmp) / "data"))
