"""``matchbook bench p2p``: P2P desk actions per second, through the core and through
REST, with latency percentiles (HdrHistogram, :mod:`matchbook.bench.hdr`).

The workload is the desk's everyday cycle: a buyer takes a slice of a seller's sell ad
(``TakeAd``), marks it paid (``MarkPaid``), and the seller releases the escrow
(``ReleaseEscrow``): three actions per trade, each moving the trade through the state
machine (and the last one money out of escrow). Sellers hold ads big enough for the
whole run; every buyer trades with every seller in turn.

* **core**: the commands applied to a ``matchbook.core.Engine`` in this process, one at
  a time (no journal, no sequencer): what the state machine itself costs. Latency is
  one ``Engine.apply``.
* **rest**: a ``matchbook serve`` subprocess (journal mode ``fsync`` by default, SQLite
  read model) driven over loopback by ``clients`` concurrent keep-alive connections,
  each a buyer running take, paid (its own connection) and release (the seller's
  connection), waiting for each answer before the next (closed loop). Latency is from
  writing the request to reading the whole answer (the trade view). The load process
  is Python on the same cores as the server, as in ``bench api``; both CPU shares are
  reported.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from matchbook.bench.api import BenchConfig as ApiConfig
from matchbook.bench.api import ServerProcess, _Cpu, _Http, _server_delta, _settle, _stats
from matchbook.bench.hdr import Latency
from matchbook.bench.results import machine_meta

Progress = Callable[[str, int, int], None]
ASSET, FIAT, PRICE_MINOR = "BTC", "EUR", 6_000_000  # 60,000.00 EUR per BTC
SLICE = "0.001"  # BTC per trade


@dataclass(frozen=True, slots=True)
class P2PBenchConfig:
    trades: int = 20_000  # core: trades (three actions each)
    sellers: int = 8
    buyers: int = 64
    rest_trades: int = 1_500  # rest: trades (three requests each)
    clients: int = 16  # rest: concurrent buyers
    journal_mode: str = "fsync"
    phases: tuple[str, ...] = ("core", "rest")


# -- core ------------------------------------------------------------------------------


def _core(config: P2PBenchConfig, note: Progress) -> dict[str, Any]:
    from matchbook.config import default_markets
    from matchbook.core import Engine
    from matchbook.core.commands import (
        AddPaymentMethod,
        Deposit,
        MarkPaid,
        PostAd,
        ReleaseEscrow,
        TakeAd,
        TradeState,
    )
    from matchbook.core.events import P2PTradeOpened

    markets = default_markets()
    engine = Engine(markets)
    seq = 0
    ts = 1_700_000_000 * 10**9

    def apply(command: Any) -> list[Any]:
        nonlocal seq, ts
        seq += 1
        ts += 1_000  # 1 µs of sequencer time per command: deadlines never pass
        return engine.apply(seq, ts, command)

    asset = markets.assets[ASSET]
    slice_minor = asset.to_minor(SLICE)
    per_seller = slice_minor * (config.trades // config.sellers + 1)
    sellers = list(range(1, config.sellers + 1))
    buyers = list(range(1000, 1000 + config.buyers))
    ads: list[int] = []
    for uid in sellers:
        apply(Deposit(ASSET, per_seller, user_id=uid, reference="bench"))
        method = apply(AddPaymentMethod(uid, "SEPA", f"DE00 {uid:04d}"))[0].method_id
        posted = apply(PostAd(uid, 1, ASSET, FIAT, PRICE_MINOR, 0, "", per_seller,
                              slice_minor, per_seller, (method,), 900, ""))
        ads.append(posted[0].ad_id)
    latency = {"take": Latency(), "paid": Latency(), "release": Latency()}
    clock = time.perf_counter_ns
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    for i in range(config.trades):
        buyer = buyers[i % len(buyers)]
        k = i % len(sellers)
        t0 = clock()
        events = apply(TakeAd(buyer, ads[k], slice_minor, 0))
        t1 = clock()
        opened = events[0]
        if type(opened) is not P2PTradeOpened:
            raise RuntimeError(f"take refused: {opened}")
        trade_id = opened.trade_id
        apply(MarkPaid(buyer, trade_id, TradeState.PENDING_PAYMENT))
        t2 = clock()
        apply(ReleaseEscrow(sellers[k], trade_id, TradeState.PAID))
        t3 = clock()
        latency["take"].record_us(max(1, (t1 - t0) // 1000))
        latency["paid"].record_us(max(1, (t2 - t1) // 1000))
        latency["release"].record_us(max(1, (t3 - t2) // 1000))
        if i % 1000 == 0:
            note("core", i, config.trades)
    seconds = time.perf_counter() - started
    gc.unfreeze()
    note("core", config.trades, config.trades)
    engine._check()  # every invariant, the escrow's included, after the run
    actions = 3 * config.trades
    merged = Latency()
    for histogram in latency.values():
        merged.merge(histogram)
    return {"trades": config.trades, "actions": actions,
            "actions_per_sec": round(actions / seconds), "seconds": round(seconds, 3),
            "latency_us": _us(merged),
            "by_action_us": {name: _us(h) for name, h in latency.items()}}


def _us(latency: Latency) -> dict[str, float]:
    """p50/p99/p99.9/max in microseconds (the histogram records microseconds)."""
    h = latency.histogram
    return {"p50_us": h.get_value_at_percentile(50.0), "p99_us": h.get_value_at_percentile(99.0),
            "p999_us": h.get_value_at_percentile(99.9), "max_us": h.get_max_value()}


# -- rest ------------------------------------------------------------------------------

def _users(config: P2PBenchConfig) -> tuple[str, ...]:
    return (*(f"seller{i}" for i in range(config.sellers)),
            *(f"buyer{i}" for i in range(config.clients)))


async def _sign_in(server: ServerProcess, names: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    from matchbook.bench.api import PASSWORD

    public = _Http(server.port)
    await public.connect()
    found: dict[str, tuple[str, int]] = {}
    try:
        for name in ("admin", *names):
            answer = await public.call("POST", "/api/v1/auth/login",
                                       {"email": f"{name}@bench.local", "password": PASSWORD})
            found[name] = (answer["access_token"], int(answer["user_id"]))
    finally:
        await public.close()
    return found


async def _rest(config: P2PBenchConfig, server: ServerProcess,
                note: Progress) -> dict[str, Any]:
    users = await _sign_in(server, _users(config))
    admin = _Http(server.port, users["admin"][0])
    await admin.connect()
    per_seller = str(Decimal(SLICE) * (config.rest_trades // config.sellers + 1))
    sellers: list[tuple[_Http, int]] = []
    for i in range(config.sellers):
        token, uid = users[f"seller{i}"]
        await admin.call("POST", "/api/v1/admin/deposits", {
            "user_id": uid, "asset": ASSET, "amount": per_seller, "reference": "bench"})
        conn = _Http(server.port, token)
        await conn.connect()
        method = await conn.call("POST", "/api/v1/p2p/payment-methods",
                                 {"name": "SEPA", "details": f"DE00 {uid:04d}"})
        ad = await conn.call("POST", "/api/v1/p2p/ads", {
            "side": "sell", "asset": ASSET, "fiat": FIAT, "price": "60000",
            "quantity": per_seller, "min_quantity": SLICE,
            "payment_method_ids": [method["method_id"]]})
        sellers.append((conn, int(ad["ad_id"])))
    latency = {"take": Latency(), "paid": Latency(), "release": Latency()}
    done = 0
    total = config.rest_trades
    lock = asyncio.Lock()

    async def client(i: int) -> None:
        nonlocal done
        token, _ = users[f"buyer{i}"]
        me = _Http(server.port, token)
        release_conn = _Http(server.port)  # this buyer's own connection for the seller
        await me.connect()
        await release_conn.connect()
        try:
            while True:
                async with lock:
                    if done >= total:
                        return
                    done += 1
                    n = done
                seller, ad_id = sellers[n % len(sellers)]
                t0 = time.perf_counter()
                trade = await me.call("POST", f"/api/v1/p2p/ads/{ad_id}/take",
                                      {"quantity": SLICE})
                t1 = time.perf_counter()
                path = f"/api/v1/p2p/trades/{trade['trade_id']}"
                await me.call("POST", f"{path}/paid", {"expected_state": "pending_payment"})
                t2 = time.perf_counter()
                release_conn.token = seller.token
                await release_conn.call("POST", f"{path}/release", {"expected_state": "paid"})
                t3 = time.perf_counter()
                latency["take"].record_seconds(t1 - t0)
                latency["paid"].record_seconds(t2 - t1)
                latency["release"].record_seconds(t3 - t2)
                if n % 100 == 0:
                    note("rest", n, total)
        finally:
            await me.close()
            await release_conn.close()

    before = await _stats(admin)
    cpu = _Cpu(server)
    gc.collect()
    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(config.clients)))
    seconds = time.perf_counter() - started
    shares = cpu.figures()
    note("rest", total, total)
    after = await _stats(admin)
    server_delta = _server_delta(before, after)
    server_delta["projector_catch_up_seconds"] = await _settle(admin, after)
    for conn, _ in sellers:
        await conn.close()
    await admin.close()
    merged = Latency()
    for histogram in latency.values():
        merged.merge(histogram)
    actions = 3 * total
    return {"trades": total, "actions": actions, "clients": config.clients,
            "actions_per_sec": round(actions / seconds), "seconds": round(seconds, 3),
            "latency_ms": merged.figures(),
            "by_action_ms": {name: h.figures() for name, h in latency.items()},
            **shares, "server": server_delta}


def run(config: P2PBenchConfig | None = None,
        progress: Progress | None = None) -> dict[str, Any]:
    """Run the phases of ``config``; the figures, with the commit and the machine."""
    config = config or P2PBenchConfig()
    note = progress or (lambda stage, done, total: None)
    result: dict[str, Any] = {"meta": machine_meta("matchbook bench p2p"),
                              "config": asdict(config)}
    if "core" in config.phases:
        result["core"] = _core(config, note)
    if "rest" in config.phases:
        server = ServerProcess(ApiConfig(journal_mode=config.journal_mode), _users(config))
        try:
            note("server start", 0, 1)
            server.start()
            note("server start", 1, 1)
            result["rest"] = asyncio.run(_rest(config, server, note))
        finally:
            server.stop()
    result["meta"]["load_average"]["end"] = [round(v, 2) for v in os.getloadavg()]
    return result
