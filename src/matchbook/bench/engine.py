"""``matchbook bench engine``: a seeded mixed workload through the core, in one process.

The mix (by command count), on BTC-USD around a mid price that drifts by a random walk:

* 60% new limit orders: 85% passive (1..50 ticks behind the mid on their own side),
  15% crossing (up to 5 ticks through the mid, so they take liquidity and often rest
  their remainder);
* 25% cancels of a random open order;
* 10% market orders (IOC, 1..5 lots);
* 5% amends of a random open order: half lower the quantity (keeps priority), half
  move the price by a few ticks (loses priority).

Orders come from 1,000 users. With accounts on (the default) each user is funded
first, so every order takes holds, every fill settles both sides and pays fees. The
command stream is generated first by a separate engine (which is how cancels and amends
know the ids of open orders); then a fresh engine is timed on the identical stream:
once for throughput (no per-command timer), once for per-command latency.
``--resting N`` first loads N passive orders, about 50 per price level (at most
10,000 levels a side), behind the price range the mix itself uses.

The cyclic garbage collector is frozen and disabled during timing, as the runtime does:
the core creates no reference cycles.
"""

from __future__ import annotations

import bisect
import gc
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matchbook.config import default_markets
from matchbook.core import Deposit, Engine, RiskLimits
from matchbook.core.commands import (
    BUY,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    AmendOrder,
    CancelOrder,
    PlaceOrder,
)
from matchbook.core.events import (
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    TradeExecuted,
)

SYMBOL = "BTC-USD"
MID_TICKS = 5_000_000  # 50,000.00
USERS = 1000


@dataclass(frozen=True, slots=True)
class Mix:
    limit: float = 0.60
    cancel: float = 0.25
    market: float = 0.10
    amend: float = 0.05
    crossing: float = 0.15  # share of limit orders that cross the mid


class _LiveSet:
    """Open order ids with O(1) add, remove and uniform random choice."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.pos: dict[int, int] = {}
        self.owner: dict[int, int] = {}

    def add(self, oid: int, uid: int) -> None:
        self.pos[oid] = len(self.ids)
        self.ids.append(oid)
        self.owner[oid] = uid

    def discard(self, oid: int) -> None:
        i = self.pos.pop(oid, None)
        if i is None:
            return
        del self.owner[oid]
        last = self.ids.pop()
        if last != oid:
            self.ids[i] = last
            self.pos[last] = i

    def choice(self, rng: random.Random) -> int:
        return self.ids[rng.randrange(len(self.ids))]


def _engine(accounts: bool) -> Engine:
    return Engine(default_markets(), accounts=accounts,
                  limits=RiskLimits(max_open_orders=10**9))


def ready_engine(accounts: bool, setup: list[Any]) -> Engine:
    """A fresh engine that has applied ``setup`` (seq 1, 2, ...): where a timed stream
    starts."""
    engine = _engine(accounts)
    for seq, cmd in enumerate(setup, 1):
        engine.apply(seq, seq, cmd)
    return engine


def prepare(commands: int, seed: int, accounts: bool, mix: Mix, setup: list[Any],
            note: Callable[[str, int, int], None]) -> tuple[list[Any], Engine]:
    """The timed stream after ``setup``, and the generating engine (in the state a timed
    run must end in). Raises if a setup command is rejected."""
    gen, live = _engine(accounts), _LiveSet()
    for seq, cmd in enumerate(setup, 1):
        events = gen.apply(seq, seq, cmd)
        if any(type(e) is OrderRejected or type(e).__name__ == "CommandRejected"
               for e in events):
            raise RuntimeError(f"bench setup command {seq} was rejected: {events}")
        _track(events, live)
    note("generate", 0, commands)
    stream = generate(commands, seed + 1, mix, gen, live, len(setup))
    note("generate", commands, commands)
    return stream, gen


def funding() -> list[Any]:
    """Every user gets 100 million USD and 100,000 BTC: far more than a user spends in a
    million-command mix, while every total stays within 64 bits (a SQL read model keeps
    them in BIGINT on SQLite)."""
    return [c for uid in range(1, USERS + 1)
            for c in (Deposit("USD", 10**14, user_id=uid), Deposit("BTC", 10**13, user_id=uid))]


def _deep_levels(n: int) -> int:
    """Price levels per side for a deep book of ``n`` orders: about 50 orders a level."""
    return min(10_000, max(100, n // 100))


def _deep_order(rng: random.Random, levels: int) -> PlaceOrder:
    """A passive order behind the mix's own range (more than 50 ticks from the mid)."""
    side = BUY if rng.random() < 0.5 else SELL
    offset = rng.randint(51, 50 + levels)
    price = MID_TICKS - offset if side == BUY else MID_TICKS + offset
    return PlaceOrder(rng.randint(1, USERS), SYMBOL, side, LIMIT,
                      qty_lots=rng.randint(1, 20), price_ticks=price)


def _deep_book(n: int, rng: random.Random) -> list[PlaceOrder]:
    levels = _deep_levels(n)
    return [_deep_order(rng, levels) for _ in range(n)]


def generate(commands: int, seed: int, mix: Mix, gen: Engine, live: _LiveSet,
             start_seq: int) -> list[Any]:
    """The timed stream: drawn against ``gen`` so that cancels and amends name open
    orders. ``gen`` must already hold the same state the timed engine will start from."""
    rng = random.Random(seed)
    rand, randint = rng.random, rng.randint
    mid = MID_TICKS
    stream: list[Any] = []
    seq = start_seq
    c_limit = mix.limit
    c_cancel = c_limit + mix.cancel
    c_market = c_cancel + mix.market
    for _ in range(commands):
        mid += randint(-2, 2)
        r = rand()
        uid = randint(1, USERS)
        cmd: Any
        if r < c_limit or not live.ids:
            side = BUY if rand() < 0.5 else SELL
            if rand() < mix.crossing:
                through = randint(0, 5)
                price = mid + through if side == BUY else mid - through
            else:
                behind = randint(1, 50)
                price = mid - behind if side == BUY else mid + behind
            cmd = PlaceOrder(uid, SYMBOL, side, LIMIT, qty_lots=randint(1, 20), price_ticks=price)
        elif r < c_cancel:
            oid = live.choice(rng)
            cmd = CancelOrder(live.owner[oid], oid)
        elif r < c_market:
            cmd = PlaceOrder(uid, SYMBOL, BUY if rand() < 0.5 else SELL, MARKET,
                             qty_lots=randint(1, 5), tif=IOC)
        else:
            oid = live.choice(rng)
            order = gen.user_orders[live.owner[oid]][oid]
            if order.qty - order.filled > 1 and rand() < 0.5:
                cmd = AmendOrder(order.user_id, oid, qty_lots=order.qty - 1)
            else:
                cmd = AmendOrder(order.user_id, oid, price_ticks=order.price + randint(-3, 3)
                                 or order.price + 1)
        seq += 1
        _track(gen.apply(seq, seq, cmd), live)
        stream.append(cmd)
    return stream


def _track(events: list[Any], live: _LiveSet) -> None:
    for ev in events:
        t = type(ev)
        if t is OrderAccepted and ev.order_type == LIMIT and ev.tif == GTC:
            live.add(ev.order_id, ev.user_id)
        elif (t is OrderFilled and ev.leaves_lots == 0) or (
                t is OrderCancelled and ev.leaves_lots == 0):
            live.discard(ev.order_id)


def run(commands: int = 1_000_000, resting: int = 0, accounts: bool = True, seed: int = 7,
        mix: Mix | None = None, progress: Callable[[str, int, int], None] | None = None,
        repeat: int = 1, memory_sample: int = 200_000,
        bytecode_sample: int = 10_000) -> dict[str, Any]:
    """Run the benchmark and return its figures (see ``matchbook bench engine --json``).

    Throughput is the best of ``repeat`` passes (this machine is a shared VM: the
    best pass is the one least disturbed); latency percentiles are those of the pass
    with the lowest median. Every pass must end in the generating run's state hash.
    """
    mix = mix or Mix()
    # memory first, in a process that has not yet freed memory it could reuse
    bytes_per_order = _bytes_per_resting_order(max(resting, memory_sample), seed, accounts)
    rng = random.Random(seed)
    note = progress or (lambda stage, done, total: None)
    setup = funding() + _deep_book(resting, rng)
    stream, gen = prepare(commands, seed, accounts, mix, setup, note)

    results: dict[str, Any] = {"ops_per_sec_passes": []}
    best_latency: dict[str, Any] | None = None
    for round_ in range(repeat):
        for phase in ("throughput", "latency"):
            measured = _timed(phase, stream, setup, accounts)
            if phase == "throughput":
                results["ops_per_sec_passes"].append(measured["ops_per_sec"])
                if measured["ops_per_sec"] >= max(results["ops_per_sec_passes"]):
                    results.update(measured)
            elif best_latency is None or measured["p50_us"] < best_latency["p50_us"]:
                best_latency = measured
            if measured.pop("state_hash") != gen.state_hash():
                raise AssertionError("the timed run diverged from the generating run")
            note(phase, round_ + 1, repeat)
    assert best_latency is not None
    results.update(best_latency)
    if bytecode_sample:
        note("count bytecodes", 0, 1)
        _add_bytecodes(results, stream[:bytecode_sample], setup, accounts)
        note("count bytecodes", 1, 1)
    results["bytes_per_resting_order"] = bytes_per_order
    results.update(commands=commands, resting=resting, accounts=accounts, seed=seed,
                   mix={"limit": mix.limit, "cancel": mix.cancel, "market": mix.market,
                        "amend": mix.amend, "crossing_share_of_limits": mix.crossing})
    return results


def _timed(phase: str, stream: list[Any], setup: list[Any], accounts: bool) -> dict[str, Any]:
    engine = ready_engine(accounts, setup)
    base = len(setup)
    commands = len(stream)
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        apply = engine.apply
        if phase == "throughput":
            events = 0
            t0 = time.perf_counter_ns()
            for i, cmd in enumerate(stream, base + 1):
                events += len(apply(i, i, cmd))
            elapsed = time.perf_counter_ns() - t0
            result: dict[str, Any] = {"ops_per_sec": round(commands / (elapsed / 1e9)),
                                      "events": events, "seconds": round(elapsed / 1e9, 3)}
        else:
            clock = time.perf_counter_ns
            lat = [0] * commands
            kinds: dict[str, list[int]] = {}
            trades = rejects = 0
            for i, cmd in enumerate(stream):
                s = base + 1 + i
                t0 = clock()
                out = apply(s, s, cmd)
                lat[i] = clock() - t0
                fills = 0
                for ev in out:
                    t = type(ev)
                    if t is OrderRejected:
                        rejects += 1
                    elif t is TradeExecuted:
                        fills += 1
                trades += fills
                kinds.setdefault(_kind(cmd, fills), []).append(lat[i])
            lat.sort()
            result = _percentiles(lat)
            result.update(trades=trades, rejects=rejects, resting_after=engine.open_order_count,
                          by_kind=_by_kind(kinds, commands), histogram=_histogram(lat))
    finally:
        gc.enable()
        gc.unfreeze()
    result["state_hash"] = engine.state_hash()
    return result


def _add_bytecodes(results: dict[str, Any], sample: list[Any], setup: list[Any],
                   accounts: bool) -> None:
    """Bytecodes the interpreter executes per command, overall and by kind, over the
    first commands of the stream: a measure of the engine's work that is the same on
    every run, where wall time on a shared VM drifts by 10-30% between hours. (It does
    not see memory stalls: a command that misses the caches costs more than its count.)

    Adds ``bytecodes_per_command`` and a ``bytecodes`` mean to each ``by_kind`` row."""
    engine = ready_engine(accounts, setup)
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "opcode":
            count += 1
        return local

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        return local

    kinds: dict[str, list[int]] = {}
    previous = sys.gettrace()
    base = len(setup)
    total = 0
    try:
        for i, cmd in enumerate(sample, base + 1):
            count = 0
            sys.settrace(on_call)
            out = engine.apply(i, i, cmd)
            sys.settrace(previous)
            fills = sum(1 for ev in out if type(ev) is TradeExecuted)
            kinds.setdefault(_kind(cmd, fills), []).append(count)
            total += count
    finally:
        sys.settrace(previous)
    results["bytecodes_per_command"] = round(total / max(1, len(sample)), 1)
    for name, row in results["by_kind"].items():
        counts = kinds.get(name)
        row["bytecodes"] = round(sum(counts) / len(counts), 1) if counts else None


def _kind(cmd: Any, fills: int) -> str:
    """The command's row in the by-kind table: what it is and how many fills it made."""
    if type(cmd) is PlaceOrder:
        name = "market" if cmd.order_type == MARKET else "limit"
        return f"{name}, " + ("3+ fills" if fills >= 3 else "1 fill" if fills == 1 else
                              f"{fills} fills")
    return "cancel" if type(cmd) is CancelOrder else "amend"


def _by_kind(kinds: dict[str, list[int]], commands: int) -> dict[str, dict[str, float]]:
    """Share, mean and p99 of each kind of command (where the time and the tail go)."""
    rows = {}
    for name in sorted(kinds):
        ns = sorted(kinds[name])
        rows[name] = {"share": round(len(ns) / commands, 4),
                      "mean_us": round(sum(ns) / len(ns) / 1000, 2),
                      "p99_us": _quantile_us(ns, 0.99)}
    return rows


HISTOGRAM_US = (1, 2, 3, 5, 7, 10, 20, 50, 100)
"""Upper bounds (µs) of the latency histogram's buckets; a last one holds the rest."""


def _histogram(sorted_ns: list[int]) -> list[dict[str, float | int | None]]:
    """Commands per latency bucket: ``{"upto_us": bound or None for the rest, "count"}``."""
    rows: list[dict[str, float | int | None]] = []
    below = 0
    for bound in HISTOGRAM_US:
        upto = bisect.bisect_left(sorted_ns, bound * 1000)
        rows.append({"upto_us": bound, "count": upto - below})
        below = upto
    rows.append({"upto_us": None, "count": len(sorted_ns) - below})
    return rows


def _quantile_us(sorted_ns: list[int], q: float) -> float:
    """The ``q`` quantile of sorted nanoseconds, in microseconds (two decimals)."""
    return round(sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000, 2)


def _percentiles(sorted_ns: list[int]) -> dict[str, float]:
    at = _quantile_us
    return {"p50_us": at(sorted_ns, 0.50), "p90_us": at(sorted_ns, 0.90),
            "p99_us": at(sorted_ns, 0.99), "p999_us": at(sorted_ns, 0.999),
            "max_us": round(sorted_ns[-1] / 1000, 2),
            "mean_us": round(sum(sorted_ns) / len(sorted_ns) / 1000, 3)}


def _bytes_per_resting_order(n: int, seed: int, accounts: bool) -> int:
    """Memory of ``n`` resting orders (book, indexes, order objects) / n.

    Measured as the growth of the process's resident memory while the orders are placed
    (``/proc/self/statm``): what the orders really cost, allocator overhead included. The
    commands are built and dropped inside the loop, so what stays is the orders' own.
    Falls back to ``tracemalloc`` (much slower) where ``/proc`` is missing.
    """
    setup = funding()
    engine = ready_engine(accounts, setup)
    rng = random.Random(seed)
    levels = _deep_levels(n)
    gc.collect()
    statm = Path("/proc/self/statm")
    page = os.sysconf("SC_PAGE_SIZE") if statm.exists() else 0

    def resident() -> int:
        return int(statm.read_text().split()[1]) * page

    if not page:
        tracemalloc.start()
    before = resident() if page else tracemalloc.get_traced_memory()[0]
    seq = len(setup)
    for _ in range(n):
        seq += 1
        engine.apply(seq, seq, _deep_order(rng, levels))
    after = resident() if page else tracemalloc.get_traced_memory()[0]
    if not page:
        tracemalloc.stop()
    return round((after - before) / max(1, engine.open_order_count))
