"""What the sequencer hands out after every applied batch, and who takes it.

Every consumer of the event stream (market data, the SQL projector, metrics, the
WebSocket hub, a test) implements one method, ``consume(batch)``, and sits in one
ordered list that :class:`matchbook.runtime.exchange.Exchange` builds: the sequencer
calls them in that order, on the event loop, right after the batch's callers were
answered. A consumer must not block: it updates memory or queues its own work. An
exception is logged and the next consumer still runs: a broken consumer never stops
the exchange.

An earlier consumer may leave what it derived on the batch for a later one: the market
data step fills ``published`` (book deltas and trades) before the WebSocket hub fans
them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from matchbook.core.events import Applied


@dataclass(slots=True)
class Batch:
    """One applied batch, in sequence order.

    ``records`` are ``(seq, ts_ns, command, events)``; ``queued_ns[i]`` is when
    ``records[i]``'s command was queued and ``acked_ns`` when its caller was answered
    (``time.perf_counter_ns``: the difference is the gateway-to-acknowledgement
    latency). ``published`` holds market data's ``(kind, symbol, item)`` once that step
    has run (kind ``"book"`` with a ``Delta``, ``"trade"`` with a ``Trade``).
    """

    records: list[Applied]
    queued_ns: list[int] = field(default_factory=list)
    acked_ns: int = 0
    published: list[tuple[str, str, Any]] = field(default_factory=list)


class Consumer(Protocol):
    """A step after the sequencer: called once per applied batch, in list order, on the
    event loop; must not block or await."""

    def consume(self, batch: Batch, /) -> None: ...
