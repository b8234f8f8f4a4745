"""``matchbook bench api``: the whole server, measured from outside over loopback.

A server subprocess (``matchbook serve``, journal mode ``fsync`` by default, a fresh
temporary data directory with its SQLite read model) is driven by this process, the
load process, over real sockets on 127.0.0.1 only. Before the server starts, the bench
creates its users with ``UserStore`` (an administrator and three traders); once it runs,
the traders sign in over REST and are funded by the administrator's deposits.

Three phases, each bounded by a count and by ``seconds``:

* **REST order entry**: ``clients`` concurrent keep-alive connections, each sending
  ``POST /api/v1/orders`` and waiting for the answer before the next (closed loop).
  Half the clients buy for one trader and half sell for another, all at one price, so
  orders rest or fill at once and the book stays small. Latency is from writing the
  request to reading the whole acknowledgement.
* **WebSocket order entry**: ``ws_connections`` connections on ``/ws``, each keeping up
  to ``ws_window`` ``{"op": "place", "request_id": ...}`` requests in flight (the same
  buy/sell split). Latency is from sending a request to receiving the ``result`` (or
  ``error``) that carries its ``request_id``.
* **Book delta fan-out**: ``subscribers`` connections follow the BTC-USD ``book``
  channel; a third trader places ``fanout_orders`` resting bids, each at a new price
  level, one every ``fanout_interval`` seconds over REST. Each bid's submission is
  timestamped; each subscriber timestamps the ``book_delta`` frame that first shows the
  level. Latency is the difference, for every (subscriber, level) pair.

Each phase starts once the server's SQL projector caught up with the one before (the
time it took is reported), so that no phase pays for its predecessor's backlog. Server
figures per phase (commands, batches, fsyncs, projector lag) come from
``GET /api/v1/admin/stats``.

All timestamps are ``time.perf_counter()`` in this one process. The load process is
itself Python on the same two cores as the server, so a figure is a floor for what
the server can do only when the server, not the load, is the busy one: the report
carries both processes' CPU time per phase so that this can be checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec

from matchbook.bench.loadgen import HttpConnection

HOST = "127.0.0.1"
SYMBOL = "BTC-USD"
TRADE_PRICE = "50000.00"
TRADE_QUANTITY = "0.001"
FANOUT_BASE_TICKS = 4_600_000  # 46,000.00: inside the price band, below the trading
PASSWORD = "bench password, not a secret"
TARGETS = {"rest_orders_per_sec": 3000, "ws_orders_per_sec": 15000, "ws_ack_p99_ms": 25.0,
           "fanout_p99_ms": 100.0}

_decode = msgspec.json.Decoder().decode
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    clients: int = 32
    rest_orders: int = 20_000
    ws_connections: int = 8
    ws_window: int = 16  # requests in flight per connection (the server allows 64)
    ws_orders: int = 60_000
    subscribers: int = 500
    fanout_orders: int = 200
    fanout_interval: float = 0.02
    seconds: float = 15.0  # the most any phase runs
    journal_mode: str = "fsync"
    journal_writes: str = "auto"  # the server's Settings.journal_writes


# -- a small HTTP/1.1 client -------------------------------------------------------------


class _Http(HttpConnection):
    """One keep-alive HTTP/1.1 connection of one signed-in caller; requests are sent one
    at a time (the load generator's hand-parsed connection)."""

    def __init__(self, port: int, token: str = "") -> None:
        super().__init__(port)
        self.token = token

    def prepare(self, method: str, path: str, body: bytes | None = None,
                token: str = "") -> bytes:
        """The bytes of a request (built once, sent many times)."""
        return super().prepare(method, path, body, token or self.token)

    async def call(self, method: str, path: str, payload: Any = None) -> Any:
        body = msgspec.json.encode(payload) if payload is not None else None
        request = self.prepare(method, path, body)
        try:
            status, data = await self.send(request)
        except (asyncio.IncompleteReadError, ConnectionError):  # closed while idle
            await self.close()
            await self.connect()
            status, data = await self.send(request)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return _decode(data) if data else None


# -- the server subprocess ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


BENCH_USERS = ("buyer", "seller", "quoter")


async def _create_users(data_dir: Path, names: tuple[str, ...] = BENCH_USERS) -> None:
    """The administrator and the traders, in the server's user store (before it runs)."""
    from matchbook.api.users import create_users

    await create_users(f"sqlite+aiosqlite:///{data_dir / 'matchbook.db'}", [
        ("admin@bench.local", PASSWORD, "admin"),
        *((f"{name}@bench.local", PASSWORD, "user") for name in names)])


class ServerProcess:
    """``matchbook serve`` on a fresh data directory, on loopback, in a subprocess, with
    an administrator and the users ``users`` (signed in as ``NAME@bench.local``)."""

    ENV = {
        # the bench measures the exchange, not the per-user request budget
        "MATCHBOOK_RATE_LIMIT_PER_SECOND": "1000000000",
        "MATCHBOOK_RATE_LIMIT_BURST": "1000000000",
        "MATCHBOOK_QUEUE_SIZE": "100000",
        # all the load comes from one address: the per-address throttles stay out of it
        "MATCHBOOK_ANON_RATE_PER_SECOND": "1000000000",
        "MATCHBOOK_ANON_RATE_BURST": "1000000000",
        "MATCHBOOK_SIGNUP_BURST": "1000000",
        "MATCHBOOK_LOGIN_MAX_FAILURES": "1000000",
    }

    def __init__(self, config: BenchConfig, users: tuple[str, ...] = BENCH_USERS,
                 env: dict[str, str] | None = None) -> None:
        self.config = config
        self.users = users
        self.env = self.ENV if env is None else env
        self.tmp = Path(tempfile.mkdtemp(prefix="matchbook-bench-api-"))
        self.data_dir = self.tmp / "data"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.tmp / "server.log"

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True)
        asyncio.run(_create_users(self.data_dir, self.users))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHBOOK_")}
        env.update(self.env)
        command = [sys.executable, "-m", "matchbook.cli", "serve", "--data-dir",
                   str(self.data_dir), "--host", HOST, "--port", str(self.port),
                   "--journal-mode", self.config.journal_mode,
                   "--journal-writes", self.config.journal_writes, "--json-logs"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.tail()}")
            with contextlib.suppress(OSError), socket.create_connection(
                    (HOST, self.port), timeout=1) as sock:
                sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: bench\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {self.tail()}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server process so far."""
        assert self.process is not None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, remove: bool = True) -> None:
        """Stop the server gracefully (SIGINT), and remove its data unless ``remove`` is
        false (then :meth:`remove` does, once the journal has been read)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # graceful: drain, snapshot, close
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if remove:
            self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- figures -------------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def _latency(values: list[float]) -> dict[str, float]:
    return {"p50_ms": _ms(values, 0.50), "p90_ms": _ms(values, 0.90),
            "p99_ms": _ms(values, 0.99), "max_ms": _ms(values, 1.0)}


class _Cpu:
    """CPU seconds of the server and of this load process over one phase."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.server_start = server.cpu_seconds()
        self.load_start = time.process_time()
        self.wall_start = time.perf_counter()

    def figures(self, operations: int = 0) -> dict[str, float]:
        """CPU shares (1.0 = one core busy all along) and server CPU per operation."""
        wall = time.perf_counter() - self.wall_start
        server = self.server.cpu_seconds() - self.server_start
        load = time.process_time() - self.load_start
        out = {"server_cpu_share": round(server / wall, 2) if wall else 0.0,
               "load_cpu_share": round(load / wall, 2) if wall else 0.0}
        if operations:
            out["server_cpu_ms_per_order"] = round(server * 1000 / operations, 3)
        return out


# -- phases --------------------------------------------------------------------------------


def _order_body(side: str, price: str = TRADE_PRICE, quantity: str = TRADE_QUANTITY) -> bytes:
    return msgspec.json.encode({"symbol": SYMBOL, "side": side, "price": price,
                                "quantity": quantity})


async def _rest_phase(server: ServerProcess, tokens: dict[str, str],
                      note: Progress) -> dict[str, Any]:
    config = server.config
    total = config.rest_orders
    remaining = total
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + config.seconds
    clock = time.perf_counter

    async def client(i: int) -> None:
        nonlocal remaining
        side = "buy" if i % 2 == 0 else "sell"
        http = _Http(server.port, tokens["buyer" if side == "buy" else "seller"])
        await http.connect()
        request = http.prepare("POST", "/api/v1/orders", _order_body(side))
        append = latencies.append
        try:
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                started = clock()
                status, body = await http.send(request)
                append(clock() - started)
                if status == 201:
                    statuses[_decode(body)["status"]] += 1
                else:
                    statuses[f"http_{status}"] += 1
                if len(latencies) % 1000 == 0:
                    note("REST orders", len(latencies), total)
        finally:
            await http.close()

    cpu = _Cpu(server)
    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(config.clients)))
    elapsed = time.perf_counter() - started
    note("REST orders", len(latencies), len(latencies))
    return {"clients": config.clients, "orders": len(latencies),
            "seconds": round(elapsed, 3),
            "orders_per_sec": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
            "ack": _latency(latencies), "statuses": dict(statuses),
            **cpu.figures(len(latencies))}


async def _ws_phase(server: ServerProcess, tokens: dict[str, str],
                    note: Progress) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    config = server.config
    total = config.ws_orders
    remaining = total
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + config.seconds
    clock = time.perf_counter
    url = f"ws://{HOST}:{server.port}/ws"

    async def connection(i: int) -> None:
        nonlocal remaining
        side = "buy" if i % 2 == 0 else "sell"
        async with connect(url, compression=None, max_size=None, open_timeout=30,
                           ping_interval=None) as ws:
            await ws.send(msgspec.json.encode(
                {"op": "auth", "token": tokens["buyer" if side == "buy" else "seller"]}).decode())
            answer = _decode(await ws.recv())
            if answer.get("type") != "authenticated":
                raise RuntimeError(f"WebSocket sign-in failed: {answer}")
            template = ('{"op":"place","request_id":%d,"symbol":"' + SYMBOL + '","side":"'
                        + side + '","price":"' + TRADE_PRICE + '","quantity":"'
                        + TRADE_QUANTITY + '"}')
            window = asyncio.Semaphore(config.ws_window)
            sent: dict[int, float] = {}
            finished = asyncio.Event()

            async def read() -> None:
                append = latencies.append
                async for frame in ws:
                    now = clock()
                    message = _decode(frame)
                    request_id = message.get("request_id")
                    started = sent.pop(request_id, None) if request_id is not None else None
                    if started is None:
                        continue
                    append(now - started)
                    if message.get("type") == "result":
                        outcomes[message["data"].get("status", "ok")] += 1
                    else:
                        outcomes[f"error_{message.get('code')}"] += 1
                    window.release()
                    if len(latencies) % 2000 == 0:
                        note("WebSocket orders", len(latencies), total)
                    if not sent and (remaining <= 0 or time.monotonic() >= deadline):
                        finished.set()
                        return

            reader = asyncio.create_task(read())
            request_id = i * 10_000_000
            while True:
                await window.acquire()
                if remaining <= 0 or time.monotonic() >= deadline:
                    break
                remaining -= 1
                request_id += 1
                sent[request_id] = clock()
                await ws.send(template % request_id)
            if sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(finished.wait(), 30)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    cpu = _Cpu(server)
    started = time.perf_counter()
    await asyncio.gather(*(connection(i) for i in range(config.ws_connections)))
    elapsed = time.perf_counter() - started
    note("WebSocket orders", len(latencies), len(latencies))
    return {"connections": config.ws_connections, "window": config.ws_window,
            "orders": len(latencies), "seconds": round(elapsed, 3),
            "orders_per_sec": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
            "ack": _latency(latencies), "outcomes": dict(outcomes),
            **cpu.figures(len(latencies))}


async def _fanout_phase(server: ServerProcess, tokens: dict[str, str],
                        note: Progress) -> dict[str, Any]:
    from websockets.asyncio.client import ClientConnection, connect

    config = server.config
    url = f"ws://{HOST}:{server.port}/ws"
    subscribe = msgspec.json.encode({"op": "subscribe", "channel": "book",
                                     "symbol": SYMBOL}).decode()
    received: list[list[tuple[float, str | bytes]]] = [[] for _ in range(config.subscribers)]
    connections: list[ClientConnection] = []
    opening = asyncio.Semaphore(50)
    stop = asyncio.Event()

    async def subscriber(i: int) -> None:
        async with opening:
            ws = await connect(url, compression=None, max_size=None, open_timeout=60,
                               ping_interval=None)
            connections.append(ws)
            await ws.send(subscribe)
            while _decode(await ws.recv()).get("type") != "book_snapshot":
                pass
        note("subscribers", len(connections), config.subscribers)
        frames = received[i]
        clock = time.perf_counter
        with contextlib.suppress(Exception):
            async for frame in ws:
                frames.append((clock(), frame))
                if stop.is_set():
                    return

    tasks = [asyncio.create_task(subscriber(i)) for i in range(config.subscribers)]
    while len(connections) < config.subscribers:
        failed = [t.exception() for t in tasks if t.done() and t.exception()]
        if failed:
            raise RuntimeError(f"a subscriber failed: {failed[0]!r}")
        await asyncio.sleep(0.05)

    from matchbook.config import default_markets

    sym = default_markets().symbols[SYMBOL]
    quoter = _Http(server.port, tokens["quoter"])
    await quoter.connect()
    submitted: dict[str, float] = {}
    cpu = _Cpu(server)
    deadline = time.monotonic() + config.seconds
    next_at = time.perf_counter()
    for k in range(config.fanout_orders):
        if time.monotonic() >= deadline:
            break
        price = sym.format_price(FANOUT_BASE_TICKS + k)
        request = quoter.prepare("POST", "/api/v1/orders",
                                 _order_body("buy", price, "0.0001" if k % 2 else "0.0002"))
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        submitted[price] = time.perf_counter()
        status, body = await quoter.send(request)
        if status != 201:
            raise RuntimeError(f"a fan-out order was refused: {status} {body[:200]!r}")
        next_at += config.fanout_interval
        note("fan-out orders", k + 1, config.fanout_orders)

    # wait until the frames stop coming (every subscriber drained), at most 10 s
    give_up = time.monotonic() + 10
    count = -1
    while time.monotonic() < give_up:
        now = sum(len(frames) for frames in received)
        if now == count:
            break
        count = now
        await asyncio.sleep(0.5)
    figures = cpu.figures()
    stop.set()
    await quoter.call("DELETE", f"/api/v1/orders?symbol={SYMBOL}")
    await quoter.close()
    await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    latencies: list[float] = []
    missing = 0
    resyncs = 0
    for frames in received:
        first_seen: dict[str, float] = {}
        for at, frame in frames:
            message = _decode(frame)
            kind = message.get("type")
            if kind == "resync":
                resyncs += 1
            if kind != "book_delta":
                continue
            for price, _ in message["bids"]:
                if price in submitted and price not in first_seen:
                    first_seen[price] = at
        latencies.extend(first_seen[p] - submitted[p] for p in first_seen)
        missing += len(submitted) - len(first_seen)
    return {"subscribers": config.subscribers, "levels": len(submitted),
            "interval_ms": round(config.fanout_interval * 1000, 3),
            "deliveries": len(latencies), "missing": missing, "resyncs": resyncs,
            "delivery": _latency(latencies), **figures}


# -- the run ---------------------------------------------------------------------------------


async def _sign_in_and_fund(server: ServerProcess) -> tuple[_Http, dict[str, str]]:
    public = _Http(server.port)
    await public.connect()
    tokens = {}
    for name in ("admin", "buyer", "seller", "quoter"):
        answer = await public.call("POST", "/api/v1/auth/login",
                                   {"email": f"{name}@bench.local", "password": PASSWORD})
        tokens[name] = answer["access_token"]
        if name != "admin":
            me = _Http(server.port, answer["access_token"])
            await me.connect()
            user_id = (await me.call("GET", "/api/v1/me"))["user_id"]
            await me.close()
            tokens[f"{name}_id"] = str(user_id)
    await public.close()
    admin = _Http(server.port, tokens["admin"])
    await admin.connect()
    funding = {"buyer": {"USD": "1000000000"}, "seller": {"BTC": "100000"},
               "quoter": {"USD": "100000000"}}
    for name, amounts in funding.items():
        for asset, amount in amounts.items():
            await admin.call("POST", "/api/v1/admin/deposits", {
                "user_id": int(tokens[f"{name}_id"]), "asset": asset, "amount": amount,
                "reference": "bench funding"})
    return admin, tokens


async def _stats(admin: _Http) -> dict[str, Any]:
    stats: dict[str, Any] = await admin.call("GET", "/api/v1/admin/stats")
    return stats


async def _settle(admin: _Http, stats: dict[str, Any], limit: float = 120.0) -> float:
    """Seconds until the projector lag is 0 (at most ``limit``)."""
    started = time.perf_counter()
    while stats["projector_lag"] > 0 and time.perf_counter() - started < limit:
        await asyncio.sleep(0.2)
        stats = await _stats(admin)
    return round(time.perf_counter() - started, 2)


def _server_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    commands = after["commands"] - before["commands"]
    batches = after["batches"] - before["batches"]
    return {"commands": commands, "batches": batches,
            "mean_batch": round(commands / batches, 1) if batches else 0.0,
            "fsyncs": after["journal"]["fsyncs"] - before["journal"]["fsyncs"],
            "fsync_seconds": round(after["journal"]["fsync_seconds"]
                                   - before["journal"]["fsync_seconds"], 3),
            "busy_rejections": after["busy_rejections"] - before["busy_rejections"],
            "projector_lag_after": after["projector_lag"]}


async def _run(server: ServerProcess, phases: tuple[str, ...], note: Progress) -> dict[str, Any]:
    admin, tokens = await _sign_in_and_fund(server)
    results: dict[str, Any] = {}
    runners = {"rest": _rest_phase, "ws": _ws_phase, "fanout": _fanout_phase}
    try:
        for phase in phases:
            gc.collect()
            gc.freeze()
            before = await _stats(admin)
            results[phase] = await runners[phase](server, tokens, note)
            after = await _stats(admin)
            results[phase]["server"] = _server_delta(before, after)
            # the next phase starts once the SQL read model caught up with this one
            results[phase]["server"]["projector_catch_up_seconds"] = await _settle(admin, after)
            gc.unfreeze()
    finally:
        await admin.close()
    return results


def run(config: BenchConfig | None = None, phases: tuple[str, ...] = ("rest", "ws", "fanout"),
        progress: Progress | None = None) -> dict[str, Any]:
    """Start a server, run ``phases`` against it, stop it; the figures as a dict."""
    config = config or BenchConfig()
    note = progress or (lambda stage, done, total: None)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = config.subscribers + config.clients + config.ws_connections + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    server = ServerProcess(config)
    started = time.perf_counter()
    try:
        note("server start", 0, 1)
        server.start()
        note("server start", 1, 1)
        results = asyncio.run(_run(server, phases, note))
    finally:
        server.stop()
    return {"config": asdict(config), "phases": list(phases), "host": HOST,
            "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "seconds": round(time.perf_counter() - started, 1), "targets": TARGETS, **results}
