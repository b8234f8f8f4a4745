"""The exchange in one process: recovery, the sequencer, market data, the SQL projection
and the private streams, started and stopped together.

Every gateway (REST, WebSocket, FIX, the demo bot, the simulator over the network) uses
the same calls: ``await exchange.submit(command)`` (or ``submit_nowait`` with a
completion to call back) and the read-only views.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from matchbook.config import read_config, risk_limits
from matchbook.core import Engine, Markets, RiskLimits, load_markets
from matchbook.core.commands import AnyCommand
from matchbook.journal.durable import Applied, DurabilityConfig, DurableEngine
from matchbook.marketdata.feed import MarketData
from matchbook.runtime.sequencer import Completion, Result, Sequencer
from matchbook.settings import Settings

logger = logging.getLogger(__name__)


class Exchange:
    """Owns every running component; create with ``await Exchange.start(settings)``."""

    def __init__(self, settings: Settings, markets: Markets, durable: DurableEngine,
                 limits: RiskLimits | None = None) -> None:
        self.settings = settings
        self.markets = markets
        self.limits = limits
        self.durable = durable
        self.sequencer = Sequencer(durable, queue_size=settings.queue_size,
                                   max_batch=settings.max_batch)
        self.marketdata = MarketData(markets, durable.engine)
        self.started_ns = time.time_ns()
        self._listeners: list[Callable[[Sequence[Applied]], object]] = []
        self.sequencer.subscribe(self._on_batch)
        self.projector: object | None = None

    @property
    def engine(self) -> Engine:
        """The live engine: read it on the event loop only, never mutate it."""
        return self.durable.engine

    @classmethod
    async def start(cls, settings: Settings) -> Exchange:
        config = read_config(settings.markets_file or None)
        markets = load_markets(config)
        limits = risk_limits(markets, config)
        data_dir = Path(settings.data_dir)
        durable = await asyncio.to_thread(
            DurableEngine.open, data_dir, markets,
            config=DurabilityConfig(mode=settings.journal_mode,  # type: ignore[arg-type]
                                    snapshot_every_commands=settings.snapshot_every_commands,
                                    snapshot_every_seconds=settings.snapshot_every_seconds),
            limits=limits)
        info = durable.recovery
        logger.info("recovered: snapshot %d + %d journal records -> seq %d in %.3f s",
                    info.snapshot_seq, info.replayed, info.last_seq, info.seconds)
        exchange = cls(settings, markets, durable, limits)
        exchange.sequencer.start()
        return exchange

    async def stop(self) -> None:
        """Drain queued commands, write a snapshot, close the journal."""
        await self.sequencer.stop(snapshot=True)

    async def submit(self, command: AnyCommand) -> Result:
        return await self.sequencer.submit(command)

    def submit_nowait(self, command: AnyCommand, completion: Completion) -> None:
        """Queue ``command``; ``completion`` is called back with its ``Result``."""
        self.sequencer.submit_nowait(command, completion)

    def listen(self, listener: Callable[[Sequence[Applied]], object]) -> None:
        """Call ``listener(batch)`` after every applied batch (after market data)."""
        self._listeners.append(listener)

    def _on_batch(self, batch: Sequence[Applied]) -> None:
        published = self.marketdata.on_batch(batch)
        for listener in self._listeners:
            try:
                listener(batch)
            except Exception:
                logger.exception("batch listener failed")
        for fanout in self.marketdata.listeners:
            try:
                fanout(published)
            except Exception:
                logger.exception("market data listener failed")
