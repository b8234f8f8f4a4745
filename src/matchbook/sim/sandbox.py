"""A performance run on a sandbox engine: what ``POST /api/simulation`` executes.

``run_sandbox(num_orders, seed)`` builds its own ``Engine`` (the shipped markets,
accounts on, 200 funded users), generates a seeded order flow on BTC-USD with NumPy
(limit orders around a drifting mid, 15% of them crossing, market orders, and cancels
of open orders: an order leaves the cancel list when it is filled) and applies it
order by order, timing each ``Engine.apply`` with ``perf_counter_ns``. It answers
with plain data: counts, latency percentiles, a log-bucket latency histogram,
throughput over the run, the final spread and the volume traded (decimal strings).
It never sees the live exchange: the API runs it in a worker process.
"""

from __future__ import annotations

import gc
import time
from array import array
from decimal import Decimal
from typing import Any

import numpy as np

from matchbook.config import default_markets
from matchbook.core import Deposit, Engine, RiskLimits
from matchbook.core.commands import BUY, IOC, LIMIT, MARKET, SELL, CancelOrder, PlaceOrder
from matchbook.core.events import OrderAccepted, OrderFilled, OrderRejected, TradeExecuted

SYMBOL = "BTC-USD"
USERS = 200
MID_TICKS = 5_000_000
MIX = {"limit": 0.60, "market": 0.10, "cancel": 0.30}
CROSSING = 0.15
SERIES_POINTS = 50
# latency buckets (upper edges, microseconds): doubling from 0.5 us
BUCKET_EDGES_US = tuple(0.5 * 2**k for k in range(16))
MAX_ORDERS = 1_000_000


def _flow(num_orders: int, seed: int) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    u = rng.random(num_orders)
    kind = np.where(u < MIX["limit"], 0, np.where(u < MIX["limit"] + MIX["market"], 1, 2))
    side = np.where(rng.random(num_orders) < 0.5, BUY, SELL)
    mid = MID_TICKS + np.cumsum(rng.integers(-3, 4, num_orders))
    crossing = rng.random(num_orders) < CROSSING
    behind = rng.integers(1, 51, num_orders)
    through = rng.integers(0, 6, num_orders)
    offset = np.where(crossing, -through, behind)
    price = np.where(side == BUY, mid - offset, mid + offset)
    return {"kind": kind.tolist(), "side": side.tolist(), "price": price.tolist(),
            "qty": rng.integers(1, 21, num_orders).tolist(),
            "user": rng.integers(1, USERS + 1, num_orders).tolist(),
            "pick": rng.random(num_orders).tolist()}


def run_sandbox(num_orders: int, seed: int = 1) -> dict[str, Any]:
    """Run ``num_orders`` orders (1 to ``MAX_ORDERS``) through a fresh engine and
    measure it. Raises ``ValueError`` for a count out of range."""
    if not 1 <= num_orders <= MAX_ORDERS:
        raise ValueError(f"num_orders must be 1 to {MAX_ORDERS}, got {num_orders}")
    markets = default_markets()
    sym = markets.symbols[SYMBOL]
    engine = Engine(markets, limits=RiskLimits(max_open_orders=100_000))
    seq = 0
    start_ns = 1_767_571_200 * 10**9
    for uid in range(1, USERS + 1):
        for asset, amount in (("USD", "10000000"), ("BTC", "200")):
            seq += 1
            engine.apply(seq, start_ns, Deposit(asset, markets.assets[asset].to_minor(amount),
                                                user_id=uid))
    flow = _flow(num_orders, seed)
    latency = array("q")
    record_latency = latency.append
    chunk = max(1, num_orders // SERIES_POINTS)
    series: list[dict[str, float]] = []
    live: list[tuple[int, int]] = []  # (order id, user) of open limit orders
    where: dict[int, int] = {}  # order id -> its index in ``live``

    def forget(oid: int) -> None:
        i = where.pop(oid, None)
        if i is not None:
            last = live.pop()
            if last[0] != oid:
                live[i] = last
                where[last[0]] = i
    trades = rejected = 0
    volume_lots = 0
    apply = engine.apply
    clock = time.perf_counter_ns
    collecting = gc.isenabled()
    gc.disable()
    began = last_mark = clock()
    try:
        for i, (kind, side, price, qty, uid, pick) in enumerate(zip(
                flow["kind"], flow["side"], flow["price"], flow["qty"], flow["user"],
                flow["pick"], strict=True)):
            if kind == 0:
                command: Any = PlaceOrder(uid, SYMBOL, side, LIMIT, qty_lots=qty,
                                          price_ticks=price)
            elif kind == 1:
                command = PlaceOrder(uid, SYMBOL, side, MARKET, qty_lots=qty, tif=IOC)
            elif live:
                oid, owner = live[int(pick * len(live))]
                forget(oid)
                command = CancelOrder(owner, oid)
            else:
                command = PlaceOrder(uid, SYMBOL, side, LIMIT, qty_lots=qty, price_ticks=price)
                kind = 0
            seq += 1
            t0 = clock()
            events = apply(seq, start_ns + i * 1000, command)
            record_latency(clock() - t0)
            for e in events:
                k = type(e)
                if k is TradeExecuted:
                    trades += 1
                    volume_lots += e.qty_lots
                elif k is OrderFilled:
                    if not e.leaves_lots:
                        forget(e.order_id)
                elif k is OrderAccepted:
                    if kind == 0:
                        where[e.order_id] = len(live)
                        live.append((e.order_id, e.user_id))
                elif k is OrderRejected:
                    rejected += 1
            if (i + 1) % chunk == 0:
                now = clock()
                series.append({"t_ms": round((now - began) / 1e6, 3),
                               "orders_per_sec": round(chunk / max(now - last_mark, 1) * 1e9)})
                last_mark = now
    finally:
        if collecting:
            gc.enable()
    elapsed_ns = clock() - began
    book = engine.books[SYMBOL]
    bid, ask = book.best_bid(), book.best_ask()
    us = np.frombuffer(latency, dtype=np.int64) / 1000.0
    counts, _ = np.histogram(us, bins=[0.0, *BUCKET_EDGES_US, np.inf])
    histogram = [{"le_us": edge, "count": int(c)}
                 for edge, c in zip([*BUCKET_EDGES_US, None], counts, strict=True)]
    p50, p90, p99, p999 = np.percentile(us, [50, 90, 99, 99.9])  # one partition, not four
    kinds = np.bincount(np.asarray(flow["kind"]), minlength=3)
    return {
        "orders_submitted": num_orders,
        "trades_executed": trades,
        "orders_rejected": rejected,
        "avg_latency_us": round(float(us.mean()), 3),
        "min_latency_us": round(float(us.min()), 3),
        "max_latency_us": round(float(us.max()), 3),
        "p50_latency_us": round(float(p50), 3),
        "p90_latency_us": round(float(p90), 3),
        "p99_latency_us": round(float(p99), 3),
        "p999_latency_us": round(float(p999), 3),
        "throughput_per_sec": round(num_orders / (elapsed_ns / 1e9)),
        "simulation_duration_ms": round(elapsed_ns / 1e6, 3),
        "current_spread": str(sym.tick_size * (ask - bid)) if bid and ask else None,
        "best_bid": sym.format_price(bid) if bid else None,
        "best_ask": sym.format_price(ask) if ask else None,
        "total_volume_traded": f"{Decimal(volume_lots) * sym.lot_size:f}",
        "latency_histogram": histogram,
        "throughput_series": series,
        "order_mix": {"limit": int(kinds[0]), "market": int(kinds[1]), "cancel": int(kinds[2])},
        "seed": seed,
        "symbol": SYMBOL,
        "state_hash": engine.state_hash(),
    }


def run_in_worker(conn: Any, num_orders: int, seed: int) -> None:
    """A worker process's entry point: run the sandbox and send ``("done", figures)`` or
    ``("failed", reason)`` back on ``conn`` (a ``multiprocessing`` connection)."""
    try:
        outcome: tuple[str, Any] = ("done", run_sandbox(num_orders, seed))
    except Exception as exc:  # reported to the API as the run's message
        outcome = ("failed", f"{type(exc).__name__}: {exc}")
    conn.send(outcome)
    conn.close()
