"""A seeded stream of commands for the read-model tests, applied to a real engine.

Trading: limit orders around a drifting mid (GTC, IOC, FOK, GTD; some crossing, some
post-only, some icebergs), market orders by quantity and by quote amount, stop-limit
and stop-market orders, every self-trade prevention mode, amends (down, up, new
price), cancels (by id, by client id, unknown, someone else's), cancel-all, time
advancing past GTD expiries, and orders that fail a check. Wallets and operations:
deposits (to users and to addresses), addresses, transfers, withdrawals (completed,
rejected, unknown), balance adjustments, fee tiers, halts and suspensions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from matchbook.config import default_markets
from matchbook.core import (
    AdjustBalance,
    AdvanceTime,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    Engine,
    HaltTrading,
    Markets,
    PlaceOrder,
    ReinstateUser,
    RejectWithdrawal,
    RequestWithdrawal,
    ResumeTrading,
    SetFeeTier,
    SuspendUser,
    Transfer,
)
from matchbook.core.commands import (
    BUY,
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
)
from matchbook.core.events import (
    AddressCreated,
    Applied,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)

MARKETS: Markets = default_markets()
SYMBOLS = ("BTC-USD", "ETH-BTC", "SOL-USD")
ASSETS = ("BTC", "ETH", "SOL", "USD")
MID_TICKS = {"BTC-USD": 5_000_000, "ETH-BTC": 5_000, "SOL-USD": 150_000}
STEP_TICKS = {"BTC-USD": 1, "ETH-BTC": 4, "SOL-USD": 5}
MS_NS = 1_000_000

Record = Applied


@dataclass
class Stream:
    """The commands with their timestamps, what the engine made of them, and the engine."""

    commands: list[tuple[Any, int]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    engine: Engine = field(default_factory=lambda: Engine(MARKETS))


def make_stream(seed: int, n: int, users: int = 8) -> Stream:
    """``n`` commands after the opening deposits and addresses, applied to a fresh
    engine. Users ``users - 1`` and ``users`` are poor (funds checks fail now and then)."""
    return _Generator(seed, users).run(n)


class _Generator:
    def __init__(self, seed: int, users: int) -> None:
        self.rng = random.Random(seed)
        self.users = list(range(1, users + 1))
        self.stream = Stream()
        self.engine = self.stream.engine
        self.ts = 1_700_000_000_000_000_000
        self.mid = dict(MID_TICKS)
        self.client_serial = 0
        self.addresses: dict[tuple[int, str], str] = {}
        self.pending: list[int] = []
        self.settled: list[int] = []
        self.undo: list[tuple[int, Any]] = []  # (seq to run it at, resume / reinstate)

    # -- driving the engine ------------------------------------------------------------

    def apply(self, command: Any, advance_ns: int | None = None) -> None:
        rng = self.rng
        if advance_ns is None:
            advance_ns = rng.choice((0, 1, 1, 2, 5, 10)) * 100_000
        self.ts += advance_ns
        seq = len(self.stream.records) + 1
        events = self.engine.apply(seq, self.ts, command)
        self.stream.commands.append((command, self.ts))
        self.stream.records.append((seq, self.ts, command, events))
        for ev in events:
            t = type(ev)
            if t is AddressCreated:
                self.addresses[(ev.user_id, ev.asset)] = ev.address
            elif t is WithdrawalRequested:
                self.pending.append(ev.withdrawal_id)
            elif t is WithdrawalCompleted or t is WithdrawalRejected:
                self.pending.remove(ev.withdrawal_id)
                self.settled.append(ev.withdrawal_id)

    def run(self, n: int) -> Stream:
        rng = self.rng
        for user in self.users:
            poor = user > len(self.users) - 2
            for asset in ASSETS:
                unit = 10 ** MARKETS.assets[asset].decimals
                amount = (300 if asset == "USD" else 1) * unit // (1 if asset == "USD" else 20)
                if not poor:
                    amount = (5_000_000 if asset == "USD" else 1_000) * unit
                self.apply(Deposit(asset, amount, user_id=user, reference="open"))
                if rng.random() < 0.6:
                    self.apply(CreateAddress(user, asset))
        for _ in range(n):
            seq = len(self.stream.records) + 1
            if self.undo and self.undo[0][0] <= seq:
                self.apply(self.undo.pop(0)[1])
                continue
            roll = rng.random()
            if roll < 0.005:  # a quiet spell: candles get more than one interval
                self.apply(AdvanceTime(), rng.randint(5, 90) * 1_000 * MS_NS)
            elif roll < 0.025:
                self.apply(AdvanceTime(), rng.randint(1, 400) * MS_NS)
            elif roll < 0.85:
                self.apply(self.trading_command())
            else:
                self.apply(self.wallet_command(seq))
        return self.stream

    # -- trading ----------------------------------------------------------------------

    def trading_command(self) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            return self.limit()
        if roll < 0.53:
            return self.market()
        if roll < 0.59:
            return self.stop()
        if roll < 0.75:
            return self.cancel()
        if roll < 0.86:
            return self.amend()
        if roll < 0.87:
            return self.cancel_all()
        if roll < 0.92:
            return self.bad_order()
        return self.limit()

    def symbol(self) -> str:
        rng = self.rng
        symbol = rng.choice(SYMBOLS)
        step = STEP_TICKS[symbol]
        roll = rng.random()
        if roll < 0.003:
            self.mid[symbol] += rng.choice((-40, 40)) * step  # sweeps and stops
        elif roll < 0.5:
            self.mid[symbol] += rng.choice((-1, 1)) * step
        self.mid[symbol] = max(self.mid[symbol], 1000)
        return symbol

    def near(self, symbol: str, side: int, low: int, high: int) -> int:
        """A price low..high steps on the passive side of the mid (negative: crossing)."""
        offset = self.rng.randint(low, high) * STEP_TICKS[symbol]
        return max(1, self.mid[symbol] - offset if side == BUY else self.mid[symbol] + offset)

    def qty(self, symbol: str) -> int:
        rng = self.rng
        roll = rng.random()
        qty = rng.randint(1, 10) if roll < 0.7 else (
            rng.randint(10, 60) if roll < 0.95 else rng.randint(60, 300))
        sym = MARKETS.symbols[symbol]
        return max(qty, -(-sym.min_notional_minor // (self.mid[symbol] * sym.quote_per_tick_lot)))

    def user(self) -> int:
        if self.rng.random() < 0.01:
            return len(self.users) + 1  # never funded
        return self.rng.choice(self.users)

    def stp(self) -> int:
        return self.rng.choices((1, 2, 3, 4), weights=(40, 25, 15, 20))[0]

    def client_id(self) -> str:
        if self.rng.random() < 0.3:
            self.client_serial += 1
            return f"c{self.client_serial}"
        return ""

    def expiry(self) -> int:
        return self.ts + self.rng.randint(1, 600) * MS_NS

    def limit(self) -> PlaceOrder:
        rng = self.rng
        symbol, side = self.symbol(), rng.choice((BUY, SELL))
        qty = self.qty(symbol)
        tif = rng.choices((GTC, IOC, FOK, GTD), weights=(60, 12, 8, 20))[0]
        display, post_only = 0, False
        if tif in (GTC, GTD):
            if qty > 1 and rng.random() < 0.12:
                display = rng.randint(1, qty - 1)
            post_only = rng.random() < 0.1
        return PlaceOrder(self.user(), symbol, side, LIMIT, qty_lots=qty,
                          price_ticks=self.near(symbol, side, -3, 12), tif=tif,
                          post_only=post_only, display_lots=display,
                          client_order_id=self.client_id(), stp=self.stp(),
                          expire_ts_ns=self.expiry() if tif == GTD else 0)

    def market(self) -> PlaceOrder:
        rng = self.rng
        symbol, side = self.symbol(), rng.choice((BUY, SELL))
        tif = rng.choices((GTC, IOC, FOK), weights=(40, 40, 20))[0]
        if side == BUY and rng.random() < 0.3:
            sym = MARKETS.symbols[symbol]
            amount = self.mid[symbol] * rng.randint(1, 40) * sym.quote_per_tick_lot
            return PlaceOrder(self.user(), symbol, side, MARKET, tif=tif, stp=self.stp(),
                              quote_amount_minor=amount, client_order_id=self.client_id())
        return PlaceOrder(self.user(), symbol, side, MARKET, qty_lots=self.qty(symbol), tif=tif,
                          stp=self.stp(), client_order_id=self.client_id())

    def stop(self) -> PlaceOrder:
        rng = self.rng
        symbol, side = self.symbol(), rng.choice((BUY, SELL))
        stop = self.near(symbol, SELL if side == BUY else BUY, -2, 15)  # beyond the mid
        qty = self.qty(symbol)
        if rng.random() < 0.5:
            slip = rng.randint(-2, 8) * STEP_TICKS[symbol]
            tif = rng.choices((GTC, IOC, FOK, GTD), weights=(55, 15, 10, 20))[0]
            return PlaceOrder(self.user(), symbol, side, STOP_LIMIT, qty_lots=qty,
                              price_ticks=max(1, stop + slip if side == BUY else stop - slip),
                              tif=tif, stop_price_ticks=stop, stp=self.stp(),
                              client_order_id=self.client_id(),
                              expire_ts_ns=self.expiry() if tif == GTD else 0)
        return PlaceOrder(self.user(), symbol, side, STOP_MARKET, qty_lots=qty,
                          tif=rng.choice((GTC, IOC, FOK)), stop_price_ticks=stop,
                          stp=self.stp(), client_order_id=self.client_id())

    def open_orders(self) -> list[Any]:
        return sorted(self.engine.orders.values(), key=lambda o: o.order_id)

    def cancel(self) -> CancelOrder:
        rng = self.rng
        orders = self.open_orders()
        roll = rng.random()
        if not orders or roll < 0.04:
            return CancelOrder(self.user(), rng.randint(10**6, 10**7))  # unknown
        order = rng.choice(orders)
        if roll < 0.09:
            return CancelOrder(order.user_id % len(self.users) + 1, order.order_id)  # not theirs
        if roll < 0.11:
            return CancelOrder(order.user_id, 0, f"x{rng.randint(1, 10**6)}")
        if roll < 0.25 and order.client_order_id:
            return CancelOrder(order.user_id, 0, order.client_order_id)
        return CancelOrder(order.user_id, order.order_id)

    def amend(self) -> AmendOrder:
        rng = self.rng
        orders = self.open_orders()
        if not orders:
            return AmendOrder(self.user(), rng.randint(10**6, 10**7), qty_lots=5)
        order = rng.choice(orders)
        owner, oid, filled = order.user_id, order.order_id, order.qty - order.leaves
        roll = rng.random()
        if roll < 0.05:
            return AmendOrder(owner, oid, price_ticks=order.price, qty_lots=order.qty)
        if roll < 0.08 and filled:
            return AmendOrder(owner, oid, qty_lots=filled)
        if roll < 0.35 and order.leaves > 1:
            return AmendOrder(owner, oid, qty_lots=order.qty - rng.randint(1, order.leaves - 1))
        if roll < 0.50:
            return AmendOrder(owner, oid, qty_lots=order.qty + rng.randint(1, 20))
        price = self.near(order.symbol, order.side, -3, 10)
        qty = filled + rng.randint(1, 30) if rng.random() < 0.3 else 0
        return AmendOrder(owner, oid, price_ticks=price, qty_lots=qty)

    def cancel_all(self) -> CancelAll:
        rng = self.rng
        roll = rng.random()
        if roll < 0.05:
            return CancelAll(0, rng.choice(SYMBOLS))  # an operator's mass cancel
        if roll < 0.1:
            return CancelAll(self.user(), "NOPE-USD")
        return CancelAll(self.user(), rng.choice(SYMBOLS) if roll < 0.6 else "")

    def bad_order(self) -> PlaceOrder:
        rng = self.rng
        symbol, side, user = self.symbol(), rng.choice((BUY, SELL)), self.user()
        price = self.near(symbol, side, 0, 10)
        qty = self.qty(symbol)
        return rng.choice((
            PlaceOrder(user, symbol, side, LIMIT, qty_lots=0, price_ticks=price),
            PlaceOrder(user, symbol, side, LIMIT, qty_lots=qty, price_ticks=0),
            PlaceOrder(user, "DOGE-USD", side, LIMIT, qty_lots=qty, price_ticks=price),
            PlaceOrder(user, symbol, 3, LIMIT, qty_lots=qty, price_ticks=price),
            PlaceOrder(user, symbol, side, MARKET, qty_lots=qty, price_ticks=price),
            PlaceOrder(user, symbol, side, LIMIT, qty_lots=qty, price_ticks=price, tif=IOC,
                       post_only=True),
            PlaceOrder(user, symbol, side, LIMIT, qty_lots=qty, price_ticks=price, tif=GTD,
                       expire_ts_ns=self.ts),
            PlaceOrder(user, symbol, side, LIMIT, qty_lots=qty,
                       price_ticks=self.mid[symbol] * rng.choice((80, 120)) // 100),
            PlaceOrder(user, symbol, side, LIMIT, qty_lots=10**9, price_ticks=price),
            PlaceOrder(user, symbol, side, LIMIT, qty_lots=qty, price_ticks=price, stp=9),
        ))

    # -- wallets and operations ---------------------------------------------------------

    def wallet_command(self, seq: int) -> Any:
        rng = self.rng
        user = rng.choice(self.users)
        asset = rng.choice(ASSETS)
        unit = 10 ** MARKETS.assets[asset].decimals
        roll = rng.random()
        if roll < 0.22:
            targets = [key for key in self.addresses if key[1] == asset and key[0] != user]
            if not targets or rng.random() < 0.05:
                return Transfer(user, "mb1nowhere", asset, unit)  # unknown address
            to = self.addresses[rng.choice(targets)]
            return Transfer(user, to, asset, rng.randint(1, 5) * unit // 100)
        if roll < 0.42:
            amount = 10**17 if rng.random() < 0.05 else rng.randint(1, 20) * unit // 100
            return RequestWithdrawal(user, asset, amount, destination=f"ext-{rng.randint(1, 99)}")
        if roll < 0.60:
            if self.pending and rng.random() < 0.9:
                wid = rng.choice(self.pending)
            else:
                wid = rng.choice(self.settled) if self.settled else 10**6
            if rng.random() < 0.6:
                return CompleteWithdrawal(wid)
            return RejectWithdrawal(wid, reason="compliance")
        if roll < 0.70:
            if self.addresses and rng.random() < 0.9:
                (_, a), address = rng.choice(sorted(self.addresses.items()))
                amount = rng.randint(1, 50) * 10 ** MARKETS.assets[a].decimals // 10
                return Deposit(a, amount, address=address, reference=f"tx{seq}")
            return Deposit(asset, unit, address="mb1unknown")
        if roll < 0.78:
            amount = rng.randint(1, 30) * unit // 1000 * rng.choice((1, -1))
            return AdjustBalance(user, asset, amount or 1, reason="correction")
        if roll < 0.86:
            return SetFeeTier(user, rng.choice(("vip", "", "vip", "platinum")))
        if roll < 0.90:
            return CreateAddress(user, asset)
        if roll < 0.95:
            symbol = rng.choice(SYMBOLS)
            self.undo.append((seq + rng.randint(2, 6), ResumeTrading(symbol)))
            return HaltTrading(symbol)
        self.undo.append((seq + rng.randint(2, 20), ReinstateUser(user)))
        return SuspendUser(user)
