"""``matchbook bench api --sustained``: the server under a sustained load, from outside.

What a run is, for each scenario (``rest:closed``, ``ws:closed``, ``rest:open:2000``,
``ws:open:8000`` ...):

1. A fresh server (``matchbook serve`` in a subprocess, a new data directory) runs as in
   production: the journal in ``fsync`` mode, the SQL projector writing to its SQLite
   read model with its production settings. Only the per-user rate limit is raised
   (the load comes from 8 traders).
2. Traders sign in and the administrator funds them over REST.
3. Load generator processes (``matchbook.bench.loadgen``, one by default) connect
   every slot, then all start together: a warm-up (``warmup`` seconds), the measurement
   window (``duration`` seconds), then the load stops (an open loop drains what it
   scheduled).
4. At the window's edges this process (which sends no load) samples the server's CPU
   time (``/proc/PID/stat``: all its threads, and the SQLite projector's when it runs
   as a thread), the CPU time of the server's child processes (the SQL projector's
   process, and the fork server that started it), the
   machine's busy time (``/proc/stat``), the load average and the server's
   ``/api/v1/admin/stats``. The SQL projector defers its writes at most 5 s during a
   burst; a window of tens of seconds therefore holds its writes, and the report gives
   its lag at both edges and the rows it wrote, so this can be checked.
5. After the load: the time the projector took to catch up; then the correctness check
   of ``matchbook.bench.check`` (the API's balances and book against a replay of the
   journal, the generators' own counts, conservation).

Figures per scenario: orders/s (answers in the window / its length), latency percentiles
(HdrHistogram; open loop from the intended send time), **server CPU per order** (server
CPU seconds in the window / orders answered in it), the **projector process's CPU per
order** beside it (its own process's CPU seconds in the window / the same orders; 0 when
the projector runs as a thread of the server, whose CPU then holds it) and the sum of
both, the CPU shares of the server, its projector process, the generators and everything
else on the machine, and, for an open loop, whether the run is void (the generator fell
behind) or saturated (the server did not keep the rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from matchbook.bench.api import PASSWORD, BenchConfig, ServerProcess
from matchbook.bench.check import discrepancies, expected_state
from matchbook.bench.hdr import Latency
from matchbook.bench.loadgen import (
    SYMBOL,
    GeneratorSpec,
    HttpConnection,
    Window,
)
from matchbook.settings import JOURNAL_WRITES

Progress = Callable[[str, int, int], None]

TRANSPORTS = ("rest", "ws")
LOOPS = ("closed", "open")
FUNDING = {"buyer": ("USD", "1000000000"), "seller": ("BTC", "100000")}
MAX_PAIRS = 4
"""Traders come in (buyer, seller) pairs, shared by the connections beyond this: each
sign-up and sign-in costs an argon2 hash (about a second on a busy 2-core machine)."""

# The server as in production, but for the per-user request budget: the load comes from
# at most 8 traders, each far above the default 200 requests/s.
SERVER_ENV = {"MATCHBOOK_RATE_LIMIT_PER_SECOND": "1000000000",
              "MATCHBOOK_RATE_LIMIT_BURST": "1000000000"}


SUSTAINED_SHARE = 0.95
"""An open loop is saturated when the answers in its window fall below this share of
the requests due in it (or its backlog does not drain)."""


class ScenarioError(ValueError):
    """A scenario string that does not parse."""


@dataclass(frozen=True, slots=True)
class Scenario:
    transport: str  # rest | ws
    loop: str  # closed | open
    rate: float = 0.0  # open loop: orders per second

    @property
    def name(self) -> str:
        return f"{self.transport}:{self.loop}" + (f":{self.rate:g}" if self.loop == "open"
                                                  else "")

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """``rest:closed``, ``ws:closed``, ``rest:open:2000``, ``ws:open:5000``."""
        parts = text.strip().lower().split(":")
        if len(parts) not in (2, 3) or parts[0] not in TRANSPORTS or parts[1] not in LOOPS:
            raise ScenarioError(f"scenario {text!r}: expected TRANSPORT:LOOP[:RATE] with "
                                f"TRANSPORT rest or ws and LOOP closed or open")
        if parts[1] == "closed":
            if len(parts) == 3:
                raise ScenarioError(f"scenario {text!r}: a closed loop takes no rate")
            return cls(parts[0], "closed")
        try:
            rate = float(parts[2]) if len(parts) == 3 else float("nan")
        except ValueError:
            rate = float("nan")
        if not rate > 0 or rate > 1_000_000:
            raise ScenarioError(f"scenario {text!r}: an open loop needs a rate in orders/s "
                                f"between 0 and 1,000,000, e.g. rest:open:2000")
        return cls(parts[0], "open", rate)


DEFAULT_SCENARIOS = ("rest:closed", "ws:closed", "rest:open:2000")


@dataclass(frozen=True, slots=True)
class SustainedConfig:
    connections: int = 50  # REST connections / WebSocket connections
    window: int = 1  # WebSocket requests in flight per connection
    duration: float = 30.0  # the measurement window, seconds
    warmup: float = 5.0
    generators: int = 1  # load generator processes
    journal_mode: str = "fsync"
    journal_writes: str = "auto"  # the server's Settings.journal_writes
    drain_seconds: float = 10.0  # open loop: how long the backlog may take after the end
    max_issue_lag_ms: float = 5.0  # open loop: void above this generator lag p99
    check: bool = True  # the correctness check after the run

    def validate(self) -> None:
        for name, value, low in (("connections", self.connections, 1),
                                 ("window", self.window, 1),
                                 ("duration", self.duration, 1),
                                 ("warmup", self.warmup, 0),
                                 ("generators", self.generators, 1)):
            if value < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        if self.generators > self.connections:
            raise ValueError(f"generators ({self.generators}) must not exceed connections "
                             f"({self.connections})")
        if self.journal_mode not in ("fsync", "os", "none"):
            raise ValueError(f"journal mode must be fsync, os or none, got "
                             f"{self.journal_mode!r}")
        if self.journal_writes not in JOURNAL_WRITES:
            raise ValueError(f"journal writes must be one of {', '.join(JOURNAL_WRITES)}, "
                             f"got {self.journal_writes!r}")


# -- measurements of the machine ---------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, ``/proc/stat``)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(v) for v in fields[:8]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children ...), from ``/proc``."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def children_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each process below ``pid``: the SQL projector's process (and the
    fork server that started it, which idles)."""
    return {child: process_cpu_seconds(child) for child in descendants(pid)}


@dataclass(slots=True)
class _Sample:
    wall: float
    server_cpu: float
    children_cpu: dict[int, float]
    machine_busy: float
    stats: dict[str, Any]
    load: list[float]


# -- the run ---------------------------------------------------------------------------------


def _pairs(connections: int) -> int:
    return min(MAX_PAIRS, max(1, (connections + 1) // 2))


def _user_names(pairs: int) -> tuple[str, ...]:
    return tuple(f"{role}{i}" for i in range(pairs) for role in ("buyer", "seller"))


async def _sign_in(port: int, names: tuple[str, ...]) -> tuple[str, dict[str, tuple[int, str]]]:
    """The administrator's token and each trader's (user id, token); traders funded."""
    decode = msgspec.json.decode
    public = HttpConnection(port)
    await public.connect()

    async def call(http: HttpConnection, method: str, path: str, token: str = "",
                   payload: Any = None) -> Any:
        body = msgspec.json.encode(payload) if payload is not None else None
        status, data = await http.send(http.prepare(method, path, body, token))
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return decode(data) if data else None

    try:
        admin = (await call(public, "POST", "/api/v1/auth/login", payload={
            "email": "admin@bench.local", "password": PASSWORD}))["access_token"]
        traders: dict[str, tuple[int, str]] = {}
        for name in names:
            token = (await call(public, "POST", "/api/v1/auth/login", payload={
                "email": f"{name}@bench.local", "password": PASSWORD}))["access_token"]
            user_id = int((await call(public, "GET", "/api/v1/me", token))["user_id"])
            traders[name] = (user_id, token)
            asset, amount = FUNDING["buyer" if name.startswith("buyer") else "seller"]
            await call(public, "POST", "/api/v1/admin/deposits", admin, {
                "user_id": user_id, "asset": asset, "amount": amount,
                "reference": "bench funding"})
    finally:
        await public.close()
    return admin, traders


def _specs(scenario: Scenario, config: SustainedConfig, port: int,
           traders: dict[str, tuple[int, str]]) -> list[GeneratorSpec]:
    pairs = _pairs(config.connections)
    slots: list[tuple[str, str]] = []
    for i in range(config.connections):
        pair = i % pairs if scenario.transport == "rest" else (i // 2) % pairs
        buyer, seller = traders[f"buyer{pair}"][1], traders[f"seller{pair}"][1]
        if scenario.transport == "rest":
            slots.append((buyer, seller))
        else:
            slots.append((buyer, "buy") if i % 2 == 0 else (seller, "sell"))
    count = config.generators
    return [GeneratorSpec(port=port, transport=scenario.transport, loop=scenario.loop,
                          traders=tuple(slots[g::count]), window=config.window,
                          rate=scenario.rate / count, phase=g / count,
                          drain_seconds=config.drain_seconds, generator=g)
            for g in range(count)]


async def _stats(port: int, admin: str) -> dict[str, Any]:
    http = HttpConnection(port)
    await http.connect()
    try:
        status, data = await http.send(http.prepare("GET", "/api/v1/admin/stats", token=admin))
    finally:
        await http.close()
    return dict(msgspec.json.decode(data)) if status == 200 else {}


async def _sample(server: ServerProcess, admin: str) -> _Sample:
    assert server.process is not None
    wall, cpu, busy = time.time(), server.cpu_seconds(), machine_busy_seconds()
    children = children_cpu_seconds(server.process.pid)
    return _Sample(wall, cpu, children, busy, await _stats(server.port, admin),
                   load_average())


async def _sleep_until(at: float, note: Progress, stage: str, start: float,
                       total: float) -> None:
    while True:
        left = at - time.time()
        note(stage, int(min(total, max(0.0, time.time() - start))), int(total))
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.5))


async def _observe(port: int, traders: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """The book and every trader's balances, over the API."""
    decode = msgspec.json.decode
    http = HttpConnection(port)
    await http.connect()
    try:
        balances: dict[str, dict[str, list[str]]] = {}
        for user_id, token in traders.values():
            status, data = await http.send(http.prepare("GET", "/api/v1/balances", token=token))
            if status != 200:
                raise RuntimeError(f"GET /api/v1/balances: {status} {data[:200]!r}")
            rows = decode(data)
            balances[str(user_id)] = {row["asset"]: [row["available"], row["held"]]
                                      for row in rows}
        status, data = await http.send(http.prepare(
            "GET", f"/api/v1/depth?symbol={SYMBOL}&limit=1000"))
        if status != 200:
            raise RuntimeError(f"GET /api/v1/depth: {status} {data[:200]!r}")
        depth = decode(data)
    finally:
        await http.close()
    return {"balances": balances, "bids": depth["bids"], "asks": depth["asks"]}


async def _settle(port: int, admin: str, limit: float = 120.0) -> float:
    """Seconds until the projector's lag is 0 (at most ``limit``)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        stats = await _stats(port, admin)
        if not stats.get("projector_lag"):
            break
        await asyncio.sleep(0.2)
    return round(time.perf_counter() - started, 2)


class _Generator:
    """A load generator process (``python -m matchbook.bench.loadgen``) and its link."""

    def __init__(self, spec: GeneratorSpec) -> None:
        self.spec = spec
        self.process = subprocess.Popen(
            [sys.executable, "-m", "matchbook.bench.loadgen"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.send(spec)

    def send(self, message: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(msgspec.json.encode(message).decode() + "\n")
        self.process.stdin.flush()

    def receive(self, timeout: float, what: str) -> Any:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"load generator {self.spec.generator} did not report {what}"
                               f" within {timeout:.0f} s")
        message = msgspec.json.decode(line)
        if isinstance(message, dict) and "error" in message:
            raise RuntimeError(f"load generator {self.spec.generator} failed: "
                               f"{message['error']}")
        return message

    def stop(self) -> None:
        """Wait for the process to end (it ends once it reported; a closed stdin ends it
        while it waits for its window), killing it after 5 s."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Session:
    """A fresh server with its traders signed in and funded, for one or more loads in
    turn (:meth:`load`), then the correctness check over all of them (:meth:`check`).
    A context manager: the server is stopped and its data removed on exit."""

    def __init__(self, config: SustainedConfig, note: Progress | None = None) -> None:
        config.validate()
        self.config = config
        self.note = note or (lambda stage, done, total: None)
        self.pairs = _pairs(config.connections)
        self.names = _user_names(self.pairs)
        self.server = ServerProcess(BenchConfig(journal_mode=config.journal_mode,
                                                journal_writes=config.journal_writes),
                                    users=self.names, env=SERVER_ENV)
        self.admin = ""
        self.traders: dict[str, tuple[int, str]] = {}
        self.results: list[dict[str, Any]] = []  # every generator's, for the check

    def __enter__(self) -> Session:
        try:
            self.note("server start", 0, 1)
            self.server.start()
            self.admin, self.traders = asyncio.run(_sign_in(self.server.port, self.names))
            self.note("server start", 1, 1)
        except BaseException:
            self.server.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def load(self, scenario: Scenario, duration: float | None = None) -> dict[str, Any]:
        """Run ``scenario`` (its measurement window ``duration`` seconds, by default the
        configuration's); its figures, once the projector caught up with it."""
        config = self.config
        duration = config.duration if duration is None else duration
        server = self.server
        generators: list[_Generator] = []
        try:
            generators = [_Generator(spec) for spec in _specs(scenario, config, server.port,
                                                               self.traders)]
            for generator in generators:
                generator.receive(120, "that it connected")
            warmup_at = time.time() + 0.5
            window = Window(warmup_at, warmup_at + config.warmup,
                            warmup_at + config.warmup + duration)
            for generator in generators:
                generator.send(window)
            first, last = asyncio.run(_measure(server, self.admin, window, self.note,
                                               scenario.name))
            results = [generator.receive(2 * config.drain_seconds + 120, "its figures")
                       for generator in generators]
        finally:
            for generator in generators:
                generator.stop()
        self.results.extend(results)
        after = asyncio.run(_stats(server.port, self.admin))
        catch_up = asyncio.run(_settle(server.port, self.admin))
        result = _figures(scenario, config, first, last, after, results)
        result["server"]["projector_catch_up_seconds"] = catch_up
        return result

    def check(self) -> dict[str, Any]:
        """The correctness check over every load so far (see ``matchbook.bench.check``);
        stops the server."""
        self.note("correctness check", 0, 1)
        observed = asyncio.run(_observe(self.server.port, self.traders))
        self.server.stop(remove=False)
        outcome = _check(self.server, self.traders, observed, self.results, self.pairs)
        self.note("correctness check", 1, 1)
        return outcome


def run_scenario(scenario: Scenario, config: SustainedConfig,
                 note: Progress | None = None) -> dict[str, Any]:
    """One scenario on a fresh server, then the correctness check (unless the
    configuration turns it off); its figures (see the module doc)."""
    with Session(config, note) as session:
        result = session.load(scenario)
        if config.check:
            result["check"] = session.check()
    return result


def step_up(transport: str, rates: list[float], config: SustainedConfig,
            median_limit_ms: float, note: Progress | None = None) -> dict[str, Any]:
    """Open loops at rising ``rates`` on one server, each for ``config.duration``
    seconds, until the median latency passes ``median_limit_ms`` or the server does not
    sustain the rate; then the correctness check. A void step (the generator fell
    behind: its latencies are overstated by its own lag) is kept and marked, and the
    step-up goes on. Returns every step and the highest rate whose median stayed within
    the limit on a valid step."""
    steps: list[dict[str, Any]] = []
    best: float | None = None
    stopped = "every rate was run"
    with Session(config, note) as session:
        for rate in rates:
            step = session.load(Scenario(transport, "open", rate))
            steps.append(step)
            if step.get("saturated"):
                stopped = f"the server did not sustain {rate:g}/s"
                break
            if step["latency"]["p50_ms"] > median_limit_ms:
                stopped = (f"the median passed {median_limit_ms:g} ms at {rate:g}/s "
                           f"({step['latency']['p50_ms']} ms)")
                break
            if not step.get("void"):  # a void step's latency holds the generator's lag
                best = rate
        check = session.check() if config.check else None
    return {"transport": transport, "rates": rates, "median_limit_ms": median_limit_ms,
            "duration_seconds": config.duration, "connections": config.connections,
            "steps": steps, "stopped": stopped, "highest_rate_within_limit": best,
            "check": check}


async def _measure(server: ServerProcess, admin: str, window: Window, note: Progress,
                   name: str) -> tuple[_Sample, _Sample]:
    total = window.end_at - window.warmup_at
    await _sleep_until(window.start_at, note, f"{name}: load", window.warmup_at, total)
    first = await _sample(server, admin)
    await _sleep_until(window.end_at, note, f"{name}: load", window.warmup_at, total)
    last = await _sample(server, admin)
    return first, last


def _check(server: ServerProcess, traders: dict[str, tuple[int, str]],
           observed: dict[str, Any], results: list[dict[str, Any]],
           pairs: int) -> dict[str, Any]:
    from matchbook.config import default_markets

    started = time.perf_counter()
    expected = expected_state(server.data_dir / "journal", default_markets(),
                              [uid for uid, _ in traders.values()], SYMBOL)
    accepted = sum(r["accepted"] for r in results)
    filled = str(sum((Decimal(r["filled"]) for r in results), Decimal(0)))
    deposited = {asset: str(Decimal(amount) * pairs) for asset, amount in FUNDING.values()}
    lost = sum(r.get("lost", 0) for r in results)
    problems = discrepancies(observed, expected, accepted=accepted, filled=filled,
                             deposited=deposited, unanswered=lost)
    return {"passed": not problems, "problems": problems[:20],
            "accepted_orders": accepted, "unanswered_orders": lost,
            "traded": expected["traded"],
            "open_levels": len(expected["bids"]) + len(expected["asks"]),
            "seconds": round(time.perf_counter() - started, 2)}


def _figures(scenario: Scenario, config: SustainedConfig, first: _Sample, last: _Sample,
             after: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    wall = last.wall - first.wall
    orders = sum(r["completed_in_window"] for r in results)
    server_cpu = last.server_cpu - first.server_cpu
    # a child that started in the window counts from 0; one that ended is not counted
    projector_cpu = sum(cpu - first.children_cpu.get(pid, 0.0)
                        for pid, cpu in last.children_cpu.items())
    machine = last.machine_busy - first.machine_busy
    load_cpu = sum(r["cpu_seconds"] / max(r["wall_seconds"], 1e-9) for r in results)
    latency = Latency.of(r["latency"] for r in results)
    outcomes: Counter[str] = Counter()
    for r in results:
        outcomes.update(r["outcomes"])
    before_stats, end_stats = first.stats, last.stats

    def delta(*path: str) -> Any:
        a: Any = before_stats
        b: Any = end_stats
        for key in path:
            a, b = (a or {}).get(key), (b or {}).get(key)
        return (b - a) if isinstance(a, int | float) and isinstance(b, int | float) else None

    commands = delta("commands")
    batches = delta("batches")
    server_share = server_cpu / wall if wall else 0.0
    projector_share = projector_cpu / wall if wall else 0.0
    out: dict[str, Any] = {
        "scenario": scenario.name, "transport": scenario.transport, "loop": scenario.loop,
        "connections": config.connections,
        "window": config.window if scenario.transport == "ws" else 1,
        "generators": config.generators, "duration_seconds": round(wall, 3),
        "warmup_seconds": config.warmup, "journal_mode": config.journal_mode,
        "journal_writes": config.journal_writes,
        "orders": orders, "orders_per_sec": round(orders / wall, 1) if wall else 0.0,
        "latency": latency.figures(),
        "server_cpu_ms_per_order": round(server_cpu * 1000 / orders, 4) if orders else None,
        "projector_cpu_ms_per_order": round(projector_cpu * 1000 / orders, 4)
        if orders else None,
        "server_and_projector_cpu_ms_per_order": round(
            (server_cpu + projector_cpu) * 1000 / orders, 4) if orders else None,
        "server_cpu_share": round(server_share, 3),
        "projector_cpu_share": round(projector_share, 3),
        "load_cpu_share": round(load_cpu, 3),
        "other_cpu_share": round(max(0.0, machine / wall - server_share - projector_share
                                     - load_cpu), 3)
        if wall else 0.0,
        "load_average": {"start": first.load, "end": last.load},
        "outcomes": dict(outcomes),
        "server": {
            "commands": commands, "batches": batches,
            "mean_batch": round(commands / batches, 1) if commands and batches else None,
            "fsyncs": delta("journal", "fsyncs"),
            "loop_writes": delta("journal", "loop_writes"),
            "busy_rejections": delta("busy_rejections"),
            "projector_lag_start": before_stats.get("projector_lag"),
            "projector_lag_end": end_stats.get("projector_lag"),
            "projector_lag_after_load": after.get("projector_lag"),
        },
    }
    if scenario.loop == "open":
        lag = Latency.of(r["issue_lag"] for r in results)
        scheduled = sum(r["scheduled"] for r in results)
        answered = sum(r["answered"] for r in results)
        lag_figures = lag.figures()
        void = lag_figures["p99_ms"] > config.max_issue_lag_ms
        # the server kept the rate if it answered (nearly) as many as were due in the
        # window, and the backlog drained in time
        kept = orders >= SUSTAINED_SHARE * scenario.rate * wall
        saturated = any(r["saturated"] for r in results) or not kept
        out.update({
            "rate": scenario.rate, "scheduled": scheduled, "answered": answered,
            "never_sent": sum(r.get("never_sent", 0) for r in results),
            "lost": sum(r.get("lost", 0) for r in results),
            "issue_lag": {k: lag_figures[k] for k in ("p50_ms", "p99_ms", "max_ms")},
            "most_waiting": max(r["most_waiting"] for r in results),
            "void": void, "saturated": saturated,
            # requests given up on count with the time they had waited: a lower bound
            "latency_is_lower_bound": any(r["saturated"] for r in results),
            "valid": not void and not saturated,
        })
        if void:
            out["void_reason"] = (f"the generator's issue lag p99 {lag_figures['p99_ms']} ms "
                                  f"exceeds {config.max_issue_lag_ms} ms")
    return out


def run(scenarios: list[Scenario], config: SustainedConfig, repeat: int = 1,
        progress: Progress | None = None) -> dict[str, Any]:
    """Every scenario ``repeat`` times, taking turns (so drift hits each alike); per
    scenario its runs and a summary (the median of each headline figure)."""
    config.validate()
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in scenarios}
    for _ in range(repeat):
        for scenario in scenarios:
            runs[scenario.name].append(run_scenario(scenario, config, progress))
    return {"config": asdict(config), "repeat": repeat,
            "scenarios": {name: {"summary": summarize(rs), "runs": rs}
                          for name, rs in runs.items()}}


HEADLINE = ("orders_per_sec", "server_cpu_ms_per_order", "projector_cpu_ms_per_order",
            "server_and_projector_cpu_ms_per_order", "latency.p50_ms", "latency.p90_ms",
            "latency.p99_ms", "latency.p999_ms", "latency.max_ms")


def _get(run: dict[str, Any], path: str) -> Any:
    value: Any = run
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median over runs of each headline figure (and every run's value), whether
    every correctness check passed, and whether every open-loop run was valid."""
    out: dict[str, Any] = {}
    for path in HEADLINE:
        values = [v for v in (_get(r, path) for r in runs) if isinstance(v, int | float)]
        if values:
            ordered = sorted(values)
            middle = len(ordered) // 2
            median = ordered[middle] if len(ordered) % 2 else (
                ordered[middle - 1] + ordered[middle]) / 2
            out[path.replace("latency.", "")] = round(median, 4)
            out[path.replace("latency.", "") + "_runs"] = values
    checks = [r["check"]["passed"] for r in runs if "check" in r]
    out["check_passed"] = all(checks) if checks else None
    if any("valid" in r for r in runs):
        out["valid"] = all(r.get("valid", True) for r in runs)
    return out


__all__ = ["DEFAULT_SCENARIOS", "Scenario", "ScenarioError", "Session", "SustainedConfig",
           "run", "run_scenario", "step_up", "summarize"]
