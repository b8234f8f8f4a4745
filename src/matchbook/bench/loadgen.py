"""The load generator of the sustained server benchmark: closed and open loop.

Runs in a process of its own (:func:`generator_main`, started by
``matchbook.bench.sustained`` through ``multiprocessing``), never in the server's.

**Slots.** A slot is one request in flight at a time: a REST slot owns one keep-alive
HTTP/1.1 connection; a WebSocket connection carries ``window`` slots (requests are
matched to their answers by ``request_id``). A REST slot alternates a buy for one
trader and a sell for another at the same price, so the book stays small and every
other order trades; a WebSocket connection signs in as one trader and only buys or only
sells (half the connections each).

**Closed loop** (:func:`closed_loop`): every slot sends its next request as soon as the
previous one is answered. Latency is from sending to the answer.

**Open loop** (:func:`open_loop`), coordinated-omission free: request ``k`` is *due* at
``start + k / rate`` whatever happened before. A dispatcher puts each request into a
backlog at its due time; the first free slot takes it. Latency is from the **intended**
(due) time to the answer, so a request that waited for a free slot, because the server
was slow to answer the ones before, carries that wait in its latency, as a user's
would. The dispatcher's own lateness (when it put a request in the backlog minus when
it was due) is the generator's: it is recorded apart (``issue_lag``), and a run whose
issue lag p99 exceeds ``max_issue_lag_ms`` is **void** (the generator, not the server,
fell behind). A run whose backlog is still not served ``drain_seconds`` after the
schedule ended is **saturated**: the server did not sustain the rate.

Both record only requests whose start (closed) or due time (open) falls in the
measurement window ``[start, end)``: what comes before is warm-up. Completions inside the
window are counted for the throughput and the server CPU per order.

The clock and the sleep are parameters, so the scheduler is tested deterministically on
a virtual clock (``tests/bench/test_loadgen.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from matchbook.bench.hdr import Latency

HOST = "127.0.0.1"
SYMBOL = "BTC-USD"
TRADE_PRICE = "50000.00"
TRADE_QUANTITY = "0.001"

_decode = msgspec.json.Decoder().decode

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


@dataclass(slots=True)
class Outcome:
    """What one answer said: ``status`` (the order's status, or ``http_NNN`` /
    ``error_CODE`` for a refusal) and the quantity it filled at once (as a taker)."""

    status: str
    filled: Decimal = Decimal(0)
    accepted: bool = True


Send = Callable[[], Awaitable[Outcome]]
"""One slot's request: send it, await the answer."""


@dataclass(slots=True)
class Recorder:
    """Latencies of the requests that began in ``[start, end)``; answers that came in
    that window; every answer's outcome over the whole run (warm-up and drain too, for
    the correctness check)."""

    start: float
    end: float
    latency: Latency = field(default_factory=Latency)
    completed_in_window: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    filled: Decimal = Decimal(0)
    answers: int = 0

    def done(self, began: float, finished: float, outcome: Outcome) -> None:
        self.answers += 1
        self.outcomes[outcome.status] += 1
        if outcome.accepted:
            self.accepted += 1
            self.filled += outcome.filled
        if self.start <= began < self.end:
            self.latency.record_seconds(finished - began)
        if self.start <= finished < self.end:
            self.completed_in_window += 1

    def dropped(self, due: float, now: float) -> None:
        """A request due at ``due`` was given up at ``now`` without being sent: its
        latency would have been more than ``now - due``, which is recorded (so a
        saturated run's percentiles are lower bounds, never flattered by leaving out
        the requests it could not send)."""
        if self.start <= due < self.end:
            self.latency.record_seconds(now - due)


async def closed_loop(slots: Sequence[Send], recorder: Recorder, clock: Clock) -> None:
    """Every slot sends, awaits the answer and sends again, until ``recorder.end``."""

    async def run(send: Send) -> None:
        end = recorder.end
        while True:
            began = clock()
            if began >= end:
                return
            outcome = await send()
            recorder.done(began, clock(), outcome)

    await asyncio.gather(*(run(send) for send in slots))


@dataclass(slots=True)
class OpenLoopReport:
    scheduled: int = 0
    answered: int = 0
    issue_lag: Latency = field(default_factory=Latency)
    most_waiting: int = 0  # the longest the backlog got (requests due, no slot free)
    saturated: bool = False
    never_sent: int = 0  # dropped from the backlog when the drain timed out
    lost: int = 0  # sent but not answered even then


async def open_loop(slots: Sequence[Send], recorder: Recorder, rate: float, first_due: float,
                    clock: Clock, sleep: Sleep, drain_seconds: float = 10.0,
                    phase: float = 0.0) -> OpenLoopReport:
    """Requests due at ``first_due + (k + phase) / rate`` until ``recorder.end``, each
    taken by the first free slot; latency from the due time (see the module doc)."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    report = OpenLoopReport()
    backlog: asyncio.Queue[float | None] = asyncio.Queue()
    interval = 1.0 / rate

    async def serve(send: Send) -> None:
        while True:
            due = await backlog.get()
            if due is None:
                return
            outcome = await send()
            recorder.done(due, clock(), outcome)
            report.answered += 1

    workers = [asyncio.create_task(serve(send)) for send in slots]
    end = recorder.end
    k = 0
    due = first_due + phase * interval
    lag = report.issue_lag
    try:
        while due < end:
            now = clock()
            if now < due:
                await sleep(due - now)
                continue
            while due <= now and due < end:
                backlog.put_nowait(due)
                if now >= recorder.start:
                    lag.record_seconds(now - due)
                k += 1
                due = first_due + (k + phase) * interval
            waiting = backlog.qsize()
            if waiting > report.most_waiting:
                report.most_waiting = waiting
        report.scheduled = k
        for _ in workers:
            backlog.put_nowait(None)
        done, pending = await asyncio.wait(workers, timeout=drain_seconds)
        if pending:
            # the server did not keep up: drop what was never sent, let what is in flight
            # be answered (its outcome is in the journal either way)
            report.saturated = True
            now = clock()
            while not backlog.empty():
                dropped = backlog.get_nowait()
                if dropped is not None:
                    report.never_sent += 1
                    recorder.dropped(dropped, now)
            for _ in pending:
                backlog.put_nowait(None)
            more, pending = await asyncio.wait(pending, timeout=drain_seconds)
            done |= more
            report.lost = len(pending)  # still unanswered: outcome unknown
        for task in done:
            task.result()  # a slot's failure is the run's
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return report


# -- the REST and WebSocket slots ---------------------------------------------------------


def order_body(side: str) -> bytes:
    return msgspec.json.encode({"symbol": SYMBOL, "side": side, "price": TRADE_PRICE,
                                "quantity": TRADE_QUANTITY})


def _outcome(status_code: int, body: bytes) -> Outcome:
    if status_code in (200, 201):
        answer = _decode(body)
        filled = answer.get("filled_quantity")
        return Outcome(str(answer.get("status", "ok")), Decimal(filled) if filled else Decimal(0))
    return Outcome(f"http_{status_code}", accepted=False)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, one request at a time, parsed by hand: far
    cheaper per request than a general client, so the generator waits on the server
    rather than on its own parsing."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    def prepare(self, method: str, path: str, body: bytes | None = None,
                token: str = "") -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode() + (body or b"")

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Write ``request``; the status and body of the answer."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"content-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at)
            return status, await self.reader.readexactly(int(lower[at + 15:end]))
        body = b""
        while True:  # chunked
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()


async def rest_slot(port: int, buy_token: str, sell_token: str) -> tuple[Send, HttpConnection]:
    """A connected REST slot alternating a buy (``buy_token``) and a sell."""
    http = HttpConnection(port)
    await http.connect()
    requests = [http.prepare("POST", "/api/v1/orders", order_body(side), token)
                for side, token in (("buy", buy_token), ("sell", sell_token))]
    turn = 0

    async def send() -> Outcome:
        nonlocal turn
        turn ^= 1
        status, body = await http.send(requests[turn])
        return _outcome(status, body)

    return send, http


class WsConnection:
    """One signed-in ``/ws`` connection placing orders on one side; answers are matched
    to requests by ``request_id``."""

    def __init__(self, port: int, token: str, side: str, base_id: int) -> None:
        self.url = f"ws://{HOST}:{port}/ws"
        self.token = token
        self.template = ('{"op":"place","request_id":%d,"symbol":"' + SYMBOL + '","side":"'
                         + side + '","price":"' + TRADE_PRICE + '","quantity":"'
                         + TRADE_QUANTITY + '"}')
        self.next_id = base_id
        self.pending: dict[int, asyncio.Future[Outcome]] = {}
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.url, compression=None, max_size=None, open_timeout=30,
                                ping_interval=None)
        await self.ws.send(msgspec.json.encode({"op": "auth", "token": self.token}).decode())
        answer = _decode(await self.ws.recv())
        if answer.get("type") != "authenticated":
            raise RuntimeError(f"WebSocket sign-in failed: {answer}")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        pending = self.pending
        try:
            async for frame in self.ws:
                message = _decode(frame)
                future = pending.pop(message.get("request_id"), None)
                if future is None or future.done():
                    continue
                if message.get("type") == "result":
                    data = message.get("data") or {}
                    filled = data.get("filled_quantity")
                    future.set_result(Outcome(str(data.get("status", "ok")),
                                              Decimal(filled) if filled else Decimal(0)))
                else:
                    future.set_result(Outcome(f"error_{message.get('code')}", accepted=False))
        finally:
            error = ConnectionError("the WebSocket closed with requests in flight")
            for future in pending.values():
                if not future.done():
                    future.set_exception(error)
            pending.clear()

    async def send(self) -> Outcome:
        self.next_id += 1
        request_id = self.next_id
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        await self.ws.send(self.template % request_id)
        return await future

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


# -- one generator process -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    """What one generator process runs. ``traders`` is one (buy token, sell token) pair
    per REST connection, or one (token, side) per WebSocket connection."""

    port: int
    transport: str  # "rest" or "ws"
    loop: str  # "closed" or "open"
    traders: tuple[tuple[str, str], ...]
    window: int = 1  # WebSocket requests in flight per connection
    rate: float = 0.0  # open loop: this generator's requests per second
    phase: float = 0.0  # open loop: this generator's offset, as a fraction of an interval
    drain_seconds: float = 10.0
    generator: int = 0


@dataclass(frozen=True, slots=True)
class Window:
    """When the load starts, the measurement window opens and closes: ``time.time()``
    seconds (the processes share the machine's clock)."""

    warmup_at: float
    start_at: float
    end_at: float


class Pipe:
    """The generator's side of its link to the parent: lines of JSON on stdin/stdout."""

    def __init__(self, reader: Any = None, writer: Any = None) -> None:
        import sys

        self.reader = reader or sys.stdin
        self.writer = writer or sys.stdout

    def send(self, message: Any) -> None:
        self.writer.write(msgspec.json.encode(message).decode() + "\n")
        self.writer.flush()

    def recv(self) -> Any:
        line = self.reader.readline()
        if not line:
            raise EOFError("the parent closed the link")
        return msgspec.json.decode(line)


def main() -> None:
    """``python -m matchbook.bench.loadgen``: one generator process. Reads its
    :class:`GeneratorSpec` as a JSON line, connects every slot, writes ``"ready"``,
    reads the :class:`Window`, runs, writes its figures (or ``{"error": ...}``)."""
    pipe = Pipe()
    try:
        spec = msgspec.convert(pipe.recv(), GeneratorSpec)
        result = asyncio.run(_generate(spec, pipe))
    except BaseException as exc:  # reported to the parent, which names the generator
        result = {"error": f"{type(exc).__name__}: {exc}"}
    pipe.send(result)


async def _generate(spec: GeneratorSpec, pipe: Any) -> dict[str, Any]:
    import gc

    clock = time.perf_counter
    slots: list[Send] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        if spec.transport == "rest":
            for buy_token, sell_token in spec.traders:
                send, http = await rest_slot(spec.port, buy_token, sell_token)
                slots.append(send)
                closers.append(http.close)
        else:
            for i, (token, side) in enumerate(spec.traders):
                ws = WsConnection(spec.port, token, side, (spec.generator * 1000 + i) * 10**9)
                closers.append(ws.close)
                await ws.connect()
                slots.extend([ws.send] * spec.window)
        pipe.send("ready")
        window = msgspec.convert(pipe.recv(), Window)
        offset = clock() - time.time()  # wall time -> perf_counter
        recorder = Recorder(window.start_at + offset, window.end_at + offset)
        gc.collect()
        gc.freeze()  # the long-lived set-up is never traversed again
        delay = window.warmup_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        cpu_before = time.process_time()
        report: OpenLoopReport | None = None
        if spec.loop == "closed":
            await closed_loop(slots, recorder, clock)
        else:
            report = await open_loop(slots, recorder, spec.rate, window.warmup_at + offset,
                                     clock, asyncio.sleep, spec.drain_seconds, spec.phase)
        cpu = time.process_time() - cpu_before
    finally:
        for close in closers:
            await close()
    out: dict[str, Any] = {
        "generator": spec.generator, "latency": recorder.latency.encode(),
        "clamped": recorder.latency.clamped,
        "completed_in_window": recorder.completed_in_window,
        "outcomes": dict(recorder.outcomes), "answers": recorder.answers,
        "accepted": recorder.accepted, "filled": str(recorder.filled),
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(time.time() - window.warmup_at, 3)}
    if report is not None:
        out.update(scheduled=report.scheduled, answered=report.answered,
                   issue_lag=report.issue_lag.encode(), most_waiting=report.most_waiting,
                   saturated=report.saturated, never_sent=report.never_sent,
                   lost=report.lost)
    return out


if __name__ == "__main__":
    main()
