"""Throughput of the SQL projector: rows and commands per second into a database.

``await bench_projector(url, commands)`` runs a seeded mixed workload through a fresh
engine first (untimed), then times projecting its records into the read model at
``url`` in batches, as the projector task does when it keeps up (``batch_size``
records per transaction). The read model at ``url`` must be empty (a new SQLite file or
a new PostgreSQL database).

The mix, over three symbols and ``users`` funded users: 55% limit orders (80% passive
within 20 ticks of a drifting mid, 20% crossing), 20% cancels and 5% amends of open
orders, 8% market orders, 4% stop orders, 8% wallet operations (transfers between
users, withdrawals requested then completed or rejected).
"""

from __future__ import annotations

import random
import time
from typing import Any

from matchbook.config import default_markets
from matchbook.core import (
    AmendOrder,
    CancelOrder,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    Engine,
    Markets,
    PlaceOrder,
    RejectWithdrawal,
    RequestWithdrawal,
    RiskLimits,
    Transfer,
)
from matchbook.core.commands import BUY, IOC, LIMIT, MARKET, SELL, STOP_LIMIT
from matchbook.core.events import (
    AddressCreated,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    WithdrawalRequested,
)
from matchbook.store.projector import Projector, Record

_MIDS = {"BTC-USD": 5_000_000, "ETH-USD": 300_000, "ETH-BTC": 5_000}


def workload(commands: int, *, users: int = 200, seed: int = 7,
             markets: Markets | None = None) -> list[Record]:
    """Apply the mix to a fresh engine; returns its records (funding first)."""
    markets = markets or default_markets()
    rng = random.Random(seed)
    engine = Engine(markets, limits=RiskLimits(max_open_orders=10**6))
    records: list[Record] = []
    live: list[int] = []
    live_set: set[int] = set()
    pending: list[int] = []
    addresses: dict[tuple[int, str], str] = {}
    mids = dict(_MIDS)
    symbols = list(mids)
    ts = 1_700_000_000_000_000_000

    def apply(command: Any) -> None:
        nonlocal ts
        ts += rng.randint(0, 2_000_000)
        seq = len(records) + 1
        events = engine.apply(seq, ts, command)
        records.append((seq, ts, command, events))
        ev: Any
        for ev in events:
            t = type(ev)
            if t is OrderAccepted and ev.order_type == LIMIT:
                live.append(ev.order_id)
                live_set.add(ev.order_id)
            elif ((t is OrderFilled or t is OrderCancelled) and not ev.leaves_lots) or (
                    t is OrderExpired):
                live_set.discard(ev.order_id)
            elif t is WithdrawalRequested:
                pending.append(ev.withdrawal_id)
            elif t is AddressCreated:
                addresses[(ev.user_id, ev.asset)] = ev.address

    def open_order() -> int | None:
        while live:
            i = rng.randrange(len(live))
            oid = live[i]
            if oid in live_set:
                return oid
            live[i] = live[-1]
            live.pop()
        return None

    for uid in range(1, users + 1):
        apply(Deposit("USD", 10**15, user_id=uid))
        apply(Deposit("BTC", 10**12, user_id=uid))
        apply(Deposit("ETH", 10**13, user_id=uid))
        apply(CreateAddress(uid, "USD"))
    for _ in range(commands):
        uid = rng.randint(1, users)
        r = rng.random()
        symbol = rng.choice(symbols)
        mids[symbol] += rng.randint(-2, 2)
        mid = mids[symbol]
        side = BUY if rng.random() < 0.5 else SELL
        command: Any
        if r < 0.55:
            offset = rng.randint(-5, 0) if rng.random() < 0.2 else rng.randint(1, 20)
            price = mid - offset if side == BUY else mid + offset
            command = PlaceOrder(uid, symbol, side, LIMIT, qty_lots=rng.randint(1, 20),
                                 price_ticks=price)
        elif r < 0.75 and (oid := open_order()) is not None:
            command = CancelOrder(engine.orders[oid].user_id, oid)
        elif r < 0.80 and (oid := open_order()) is not None:
            order = engine.orders[oid]
            command = AmendOrder(order.user_id, oid, price_ticks=order.price + rng.choice(
                (-1, 1)))
        elif r < 0.88:
            command = PlaceOrder(uid, symbol, side, MARKET, qty_lots=rng.randint(1, 5), tif=IOC)
        elif r < 0.92:
            stop = mid + 10 if side == BUY else mid - 10
            command = PlaceOrder(uid, symbol, side, STOP_LIMIT, qty_lots=rng.randint(1, 10),
                                 price_ticks=stop, stop_price_ticks=stop)
        elif r < 0.96:
            to = addresses[(rng.randint(1, users), "USD")]
            command = Transfer(uid, to, "USD", rng.randint(1, 1000) * 10**6)
        elif pending and rng.random() < 0.6:
            wid = pending.pop(rng.randrange(len(pending)))
            command = (CompleteWithdrawal(wid) if rng.random() < 0.7
                       else RejectWithdrawal(wid, "review"))
        else:
            command = RequestWithdrawal(uid, "USD", rng.randint(1, 100) * 10**6, "bank")
        apply(command)
    return records


async def bench_projector(url: str, commands: int, *, batch_size: int = 1000,
                          users: int = 200, seed: int = 7) -> dict[str, Any]:
    """Project ``commands`` commands (plus the opening deposits) into ``url``; returns
    ``commands_per_sec``, ``rows_per_sec``, ``rows``, ``seconds``, ``batches`` and the
    parameters. Raises ``ValueError`` if the read model at ``url`` is not empty."""
    markets = default_markets()
    records = workload(commands, users=users, seed=seed, markets=markets)
    projector = Projector(url, markets)
    await projector.start()
    try:
        if projector.last_seq:
            raise ValueError(f"the read model at {url} is not empty (seq "
                             f"{projector.last_seq}); bench into a fresh database")
        started = time.perf_counter()
        for start in range(0, len(records), batch_size):
            await projector.project(records[start:start + batch_size])
        seconds = time.perf_counter() - started
        stats = projector.stats()
    finally:
        await projector.stop()
    return {
        "dialect": projector.url.split(":", 1)[0],
        "commands": stats.commands,
        "rows": stats.rows,
        "batches": stats.batches,
        "batch_size": batch_size,
        "seconds": round(seconds, 3),
        "commands_per_sec": round(stats.commands / seconds),
        "rows_per_sec": round(stats.rows / seconds),
        "rows_per_command": round(stats.rows / stats.commands, 2),
        "users": users,
        "seed": seed,
    }


__all__ = ["bench_projector", "workload"]
