"""The P2P desk's clock: fires deadlines when no command comes.

The engine fires a passed P2P deadline (a payment window, an escalation) when the next
command's stamped time passes it, before that command. On a quiet exchange nothing
would come, so a trade would sit past its ``pay_by`` until somebody did something; this
task submits an ``AdvanceTime`` (a journaled no-op) as soon as the desk's next deadline
is due, so expiries and escalations happen on time and their events reach the read
model, the notifications and the WebSocket streams. It reads one integer per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from matchbook.core.commands import AdvanceTime
from matchbook.runtime.exchange import Exchange
from matchbook.runtime.sequencer import Busy, Stopped

logger = logging.getLogger(__name__)


class DeadlineClock:
    """Submits ``AdvanceTime`` when the desk's next deadline has passed."""

    def __init__(self, exchange: Exchange, interval_seconds: float = 0.5) -> None:
        self.exchange = exchange
        self.interval = interval_seconds
        self.ticks = 0  # AdvanceTime commands submitted
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="p2p-clock")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        desk = self.exchange.engine.p2p
        sequencer = self.exchange.sequencer
        while True:
            await asyncio.sleep(self.interval)
            if desk.next_deadline > sequencer.clock():  # the time commands are stamped with
                continue
            try:
                await self.exchange.submit(AdvanceTime())
                self.ticks += 1
            except (Busy, Stopped):
                continue  # a full queue brings commands anyway; stopping: done soon
            except Exception:
                logger.exception("the P2P clock could not advance the sequencer's time")
