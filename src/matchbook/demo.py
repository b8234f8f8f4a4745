"""A seeded demo market: a few funded users trade BTC-USD through the engine.

Makers quote around a drifting mid, takers send limit, market, IOC, iceberg and stop
orders; the demo then prints the book, the last trades and everyone's balances.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from matchbook.config import default_markets
from matchbook.core import (
    CancelOrder,
    Deposit,
    Engine,
    PlaceOrder,
    Symbol,
)
from matchbook.core.commands import BUY, IOC, LIMIT, MARKET, SELL, STOP_MARKET
from matchbook.core.events import Event, OrderAccepted, OrderRejected, TradeExecuted


@dataclass
class DemoResult:
    engine: Engine
    events: list[Event]
    trades: list[TradeExecuted]
    rejected: int


def run_demo(commands: int = 2000, seed: int = 42, symbol: str = "BTC-USD") -> DemoResult:
    """Run ``commands`` seeded orders through a fresh engine; returns what happened."""
    markets = default_markets()
    engine = Engine(markets)
    sym = markets.symbol(symbol)
    rng = random.Random(seed)
    users = range(1, 7)
    seq = 0

    def apply(cmd: object) -> list[Event]:
        nonlocal seq
        seq += 1
        return engine.apply(seq, seq * 1_000_000, cmd)  # one command per simulated ms

    events: list[Event] = []
    for uid in users:
        events += apply(Deposit(sym.quote.code, sym.quote.to_minor("5000000"), user_id=uid))
        events += apply(Deposit(sym.base.code, sym.base.to_minor("100"), user_id=uid))
    mid = sym.price_to_ticks("50000")
    open_ids: list[tuple[int, int]] = []
    for _ in range(commands):
        mid += rng.randint(-300, 300)
        uid = rng.choice(users)
        roll = rng.random()
        if roll < 0.55:
            side = rng.choice((BUY, SELL))
            offset = rng.randint(1, 2_000)
            price = mid - offset if side == BUY else mid + offset
            display = 50 if rng.random() < 0.05 else 0
            cmd: object = PlaceOrder(uid, sym.name, side, LIMIT, qty_lots=rng.randint(1, 200),
                                     price_ticks=price, display_lots=display)
        elif roll < 0.75:
            side = rng.choice((BUY, SELL))
            cmd = PlaceOrder(uid, sym.name, side, LIMIT, qty_lots=rng.randint(1, 100),
                             price_ticks=mid + (500 if side == BUY else -500), tif=IOC)
        elif roll < 0.85:
            cmd = PlaceOrder(uid, sym.name, rng.choice((BUY, SELL)), MARKET,
                             qty_lots=rng.randint(1, 50))
        elif roll < 0.88 and engine.books[sym.name].last_price:
            last = engine.books[sym.name].last_price
            side = rng.choice((BUY, SELL))
            stop = last + 1_500 if side == BUY else last - 1_500
            cmd = PlaceOrder(uid, sym.name, side, STOP_MARKET, qty_lots=rng.randint(1, 30),
                             stop_price_ticks=stop)
        elif open_ids:
            owner, oid = open_ids.pop(rng.randrange(len(open_ids)))
            cmd = CancelOrder(owner, oid)
        else:
            continue
        out = apply(cmd)
        events += out
        open_ids += [(e.user_id, e.order_id) for e in out if type(e) is OrderAccepted]
    trades = [e for e in events if type(e) is TradeExecuted]
    rejected = sum(1 for e in events if type(e) is OrderRejected)
    engine._check()
    return DemoResult(engine, events, trades, rejected)


def print_demo(result: DemoResult, console: Console | None = None, depth: int = 10) -> None:
    console = console or Console()
    engine = result.engine
    book = next(iter(b for b in engine.books.values() if b.last_price or b.bids or b.asks))
    sym = book.symbol
    console.rule(f"[bold]Matchbook demo: {sym.name}")
    console.print(f"{len(result.events):,} events, {len(result.trades):,} trades, "
                  f"{result.rejected:,} rejected orders, {engine.open_order_count:,} open orders; "
                  f"last price {_price(sym, book.last_price)}; state hash {engine.state_hash()}")
    ladder = Table(title="Order book (top levels)", show_lines=False)
    for col in ("bid orders", "bid qty", "bid", "ask", "ask qty", "ask orders"):
        ladder.add_column(col, justify="right")
    bids, asks = book.depth(BUY, depth), book.depth(SELL, depth)
    for i in range(max(len(bids), len(asks))):
        b = bids[i] if i < len(bids) else None
        a = asks[i] if i < len(asks) else None
        ladder.add_row(
            str(b[2]) if b else "", str(sym.lots_to_qty(b[1])) if b else "",
            f"[green]{_price(sym, b[0])}" if b else "", f"[red]{_price(sym, a[0])}" if a else "",
            str(sym.lots_to_qty(a[1])) if a else "", str(a[2]) if a else "")
    console.print(ladder)
    tape = Table(title="Last trades")
    for col in ("trade", "side", "price", "quantity", "maker", "taker"):
        tape.add_column(col, justify="right")
    for t in result.trades[-12:]:
        tape.add_row(str(t.trade_id), "[green]buy" if t.aggressor_side == BUY else "[red]sell",
                     _price(sym, t.price_ticks), str(sym.lots_to_qty(t.qty_lots)),
                     f"#{t.maker_order_id}", f"#{t.taker_order_id}")
    console.print(tape)
    wallets = Table(title="Balances (available / held)")
    wallets.add_column("user", justify="right")
    for asset in (sym.base, sym.quote):
        wallets.add_column(asset.code, justify="right")
    for uid in sorted(engine.accounts):
        row = [str(uid)]
        for asset in (sym.base, sym.quote):
            available, held = engine.balance(uid, asset.code)
            row.append(f"{asset.format(available)} / {asset.format(held)}")
        wallets.add_row(*row)
    fee = engine.fee_balances[sym.quote.code]
    wallets.add_row("fees", "", sym.quote.format(fee))
    console.print(wallets)


def _price(sym: Symbol, ticks: int) -> str:
    return str(sym.ticks_to_price(ticks)) if ticks else "-"
