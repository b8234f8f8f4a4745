"""Seeded random command streams for differential, determinism and snapshot tests.

``Workload(seed, ...)`` produces a realistic mix of trading commands over a few symbols
and users: limit orders around a drifting mid (some crossing), market orders (by
quantity, and with accounts also by quote amount), IOC/FOK, post-only, icebergs, stops,
GTD orders with advancing time, amends, cancels (mostly valid, some unknown or someone
else's), cancel-all, every self-trade prevention mode, and now and then a bad value
(zero or negative quantity, price 0, unknown symbol, duplicate client id, ...).

Like a trader, the generator looks at the market: which orders are open (to aim cancels
and amends) and the last trade price (its mid drifts, but not away from where the market
trades). Callers pass a ``MarketView``; ``engine_view`` and ``reference_view`` build one.
The same seed and the same market give the same commands.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from matchbook.core import (
    AdvanceTime,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    Deposit,
    Engine,
    Markets,
    PlaceOrder,
)
from reference import Reference

BUY, SELL = 1, 2
LIMIT, MARKET, STOP_LIMIT, STOP_MARKET = 1, 2, 3, 4
GTC, IOC, FOK, GTD = 1, 2, 3, 4

MS_NS = 1_000_000

# a plausible starting mid per symbol, in ticks, and the price step orders use around it:
# one tick where a level is a tiny fraction of the price (queues form, FIFO matters), a
# few ticks where the tick is coarse (sweeps reach the market protection band)
START_MID_TICKS = {
    "BTC-USD": 5_000_000,  # 50,000.00
    "ETH-USD": 300_000,  # 3,000.00
    "SOL-USD": 150_000,  # 150.000
    "ETH-BTC": 5_000,  # 0.05000
}
PRICE_STEP_TICKS = {"BTC-USD": 1, "ETH-USD": 1, "SOL-USD": 5, "ETH-BTC": 4}

DEFAULT_SYMBOLS = ("BTC-USD", "ETH-BTC")

Sequenced = tuple[int, int, Command]


@dataclass(frozen=True, slots=True)
class OpenOrderRow:
    """What the generator reads about an open order."""

    order_id: int
    user_id: int
    symbol: str
    side: int
    price: int
    qty: int
    leaves: int
    client_order_id: str
    pending: bool  # a stop waiting for its trigger


@dataclass(frozen=True, slots=True)
class MarketView:
    """What the generator may look at: the open orders (only fetched when a command
    needs them) and a symbol's last trade price (0 before the first trade)."""

    open_orders: Callable[[], Sequence[OpenOrderRow]]
    last_price: Callable[[str], int]


def engine_view(engine: Engine) -> MarketView:
    """The market as a real engine sees it."""

    def rows() -> list[OpenOrderRow]:
        return [OpenOrderRow(o.order_id, o.user_id, o.symbol, o.side, o.price, o.qty, o.leaves,
                             o.client_order_id, bool(o.stop_price))
                for o in engine.orders.values()]

    return MarketView(rows, lambda symbol: engine.books[symbol].last_price)


def reference_view(reference: Reference) -> MarketView:
    """The market as the reference engine sees it."""

    def rows() -> list[OpenOrderRow]:
        return [OpenOrderRow(o.order_id, o.user_id, o.symbol, o.side, o.limit, o.qty, o.leaves,
                             o.client_order_id, bool(o.stop))
                for o in reference.open_orders()]

    return MarketView(rows, reference.last_price)


class Workload:
    """A seeded stream of commands. ``next_command`` returns ``(seq, ts_ns, command)``.

    ``users`` are 1..users. With ``accounts``, ``funding()`` gives the opening deposits
    (the last two users are poor, so funds checks fail now and then), and the mix adds
    orders by a user without any deposit, top-up deposits and quote-amount market buys.
    """

    def __init__(
        self,
        seed: int,
        markets: Markets,
        *,
        symbols: Sequence[str] = DEFAULT_SYMBOLS,
        users: int = 8,
        accounts: bool = False,
        start_ts_ns: int = 1_700_000_000_000_000_000,
    ) -> None:
        self.rng = random.Random(seed)
        self.markets = markets
        self.symbols = list(symbols)
        self.users = list(range(1, users + 1))
        self.accounts = accounts
        self.mid = {s: START_MID_TICKS[s] for s in self.symbols}
        self.trend = dict.fromkeys(self.symbols, 0)
        self.seq = 0
        self.ts_ns = start_ts_ns
        self.client_serial = 0
        self.unfunded_user = users + 1
        self.market = MarketView(list, lambda symbol: 0)  # replaced by each next_command

    # ------------------------------------------------------------------ stream

    def _stamp(self, command: Command, advance_ns: int | None = None) -> Sequenced:
        self.seq += 1
        if advance_ns is None:
            advance_ns = self.rng.choice((0, 1, 1, 2, 3, 5, 10)) * 100_000  # 0 .. 1 ms
        self.ts_ns += advance_ns
        return self.seq, self.ts_ns, command

    def funding(self) -> list[Sequenced]:
        """Opening deposits for every user and asset of the symbols traded."""
        assets = sorted({a for s in self.symbols for a in (self.markets.symbols[s].base.code,
                                                            self.markets.symbols[s].quote.code)})
        out = []
        for user in self.users:
            poor = user > len(self.users) - 2
            for asset in assets:
                unit = 10 ** self.markets.assets[asset].decimals
                if asset == "USD":
                    amount = 300 * unit if poor else 5_000_000 * unit
                else:
                    amount = unit // 20 if poor else 1_000 * unit
                out.append(self._stamp(Deposit(asset, amount, user_id=user, reference="open")))
        return out

    def commands(self, n: int, market: MarketView) -> Iterator[Sequenced]:
        for _ in range(n):
            yield self.next_command(market)

    def next_command(self, market: MarketView) -> Sequenced:
        rng = self.rng
        self.market = market
        open_orders = market.open_orders
        roll = rng.random()
        if roll < 0.44:
            return self._stamp(self._limit())
        if roll < 0.50:
            return self._stamp(self._market())
        if roll < 0.55:
            return self._stamp(self._stop())
        if roll < 0.71:
            return self._stamp(self._cancel(open_orders()))
        if roll < 0.83:
            return self._stamp(self._amend(open_orders()))
        if roll < 0.837:
            return self._stamp(self._cancel_all())
        if roll < 0.857:
            return self._stamp(AdvanceTime(), rng.randint(1, 400) * MS_NS)
        if roll < 0.867 and self.accounts:
            return self._stamp(self._top_up())
        if roll < 0.907:
            return self._stamp(self._bad_order(open_orders))
        return self._stamp(self._limit())

    # ------------------------------------------------------------------ pieces

    def _symbol(self) -> str:
        """A symbol to trade. Its mid drifts a step now and then, rarely jumps, now and
        then trends for a while (resting orders fall out of the price band), and is pulled
        back when it strays more than 3% from the last trade price."""
        rng = self.rng
        symbol = rng.choice(self.symbols)
        step = PRICE_STEP_TICKS[symbol]
        roll = rng.random()
        mid = self.mid[symbol]
        if roll < 0.002:
            mid += rng.choice((-40, 40)) * step  # sweeps and stops
        elif roll < 0.5:
            mid += rng.choice((-1, 1)) * step
        if rng.random() < 0.0005:
            self.trend[symbol] = rng.choice((-1, 0, 0, 1))
        if rng.random() < 0.25:
            mid += self.trend[symbol] * step
        last = self.market.last_price(symbol)
        if last and abs(mid - last) * 100 > 3 * last:
            mid = (mid + last) // 2
        self.mid[symbol] = max(mid, 1000)
        return symbol

    def _near(self, symbol: str, side: int, low: int, high: int) -> int:
        """A price ``low..high`` steps on the passive side of the mid (negative: crossing)."""
        offset = self.rng.randint(low, high) * PRICE_STEP_TICKS[symbol]
        return max(1, self.mid[symbol] - offset if side == BUY else self.mid[symbol] + offset)

    def _sized(self, symbol: str, qty: int) -> int:
        """``qty`` raised so that its notional at the mid reaches the symbol's minimum."""
        sym = self.markets.symbols[symbol]
        per_lot = self.mid[symbol] * sym.quote_per_tick_lot
        return max(qty, -(-sym.min_notional_minor // per_lot))

    def _user(self) -> int:
        if self.accounts and self.rng.random() < 0.01:
            return self.unfunded_user
        return self.rng.choice(self.users)

    def _qty(self) -> int:
        roll = self.rng.random()
        if roll < 0.7:
            return self.rng.randint(1, 10)
        if roll < 0.95:
            return self.rng.randint(10, 60)
        return self.rng.randint(60, 400)

    def _stp(self) -> int:
        return self.rng.choices((1, 2, 3, 4), weights=(40, 25, 15, 20))[0]

    def _client_id(self) -> str:
        if self.rng.random() < 0.3:
            self.client_serial += 1
            return f"c{self.client_serial}"
        return ""

    def _price(self, symbol: str, side: int) -> int:
        return self._near(symbol, side, -3, 12)  # mostly passive, a fair share crossing

    def _expiry(self) -> int:
        return self.ts_ns + self.rng.randint(1, 600) * MS_NS

    def _limit(self) -> PlaceOrder:
        rng = self.rng
        symbol, side = self._symbol(), rng.choice((BUY, SELL))
        qty = self._sized(symbol, self._qty())
        tif = rng.choices((GTC, IOC, FOK, GTD), weights=(60, 12, 8, 20))[0]
        display = post_only = 0
        if tif in (GTC, GTD):
            if qty > 1 and rng.random() < 0.12:
                display = rng.randint(1, qty - 1)
            post_only = rng.random() < 0.1
        return PlaceOrder(
            self._user(), symbol, side, LIMIT, qty_lots=qty, price_ticks=self._price(symbol, side),
            tif=tif, post_only=bool(post_only), display_lots=display,
            client_order_id=self._client_id(), stp=self._stp(),
            expire_ts_ns=self._expiry() if tif == GTD else 0,
        )

    def _market(self) -> PlaceOrder:
        rng = self.rng
        symbol, side = self._symbol(), rng.choice((BUY, SELL))
        tif = rng.choices((GTC, IOC, FOK), weights=(40, 40, 20))[0]
        if self.accounts and side == BUY and rng.random() < 0.3:
            sym = self.markets.symbols[symbol]
            lots = rng.randint(1, 40)
            amount = self.mid[symbol] * lots * sym.quote_per_tick_lot
            if rng.random() < 0.05:
                amount = sym.min_notional_minor - 1
            return PlaceOrder(self._user(), symbol, side, MARKET, tif=tif, stp=self._stp(),
                              quote_amount_minor=amount, client_order_id=self._client_id())
        qty = self._sized(symbol, self._qty())
        return PlaceOrder(self._user(), symbol, side, MARKET, qty_lots=qty, tif=tif,
                          stp=self._stp(), client_order_id=self._client_id())

    def _stop(self) -> PlaceOrder:
        rng = self.rng
        symbol, side = self._symbol(), rng.choice((BUY, SELL))
        step = PRICE_STEP_TICKS[symbol]
        # a buy stop above the mid, a sell stop below (a few already reached)
        stop = self._near(symbol, SELL if side == BUY else BUY, -2, 15)
        qty = self._sized(symbol, self._qty())
        if rng.random() < 0.5:
            slip = rng.randint(-2, 8) * step
            price = max(1, stop + slip if side == BUY else stop - slip)
            tif = rng.choices((GTC, IOC, FOK, GTD), weights=(55, 15, 10, 20))[0]
            display = rng.randint(1, qty - 1) if qty > 1 and tif in (GTC, GTD) and (
                rng.random() < 0.1) else 0
            return PlaceOrder(
                self._user(), symbol, side, STOP_LIMIT, qty_lots=qty, price_ticks=price,
                tif=tif, stop_price_ticks=stop, display_lots=display, stp=self._stp(),
                client_order_id=self._client_id(),
                expire_ts_ns=self._expiry() if tif == GTD else 0,
            )
        tif = rng.choice((GTC, IOC, FOK))
        return PlaceOrder(self._user(), symbol, side, STOP_MARKET, qty_lots=qty, tif=tif,
                          stop_price_ticks=stop, stp=self._stp(),
                          client_order_id=self._client_id())

    def _cancel(self, orders: Sequence[OpenOrderRow]) -> CancelOrder:
        rng = self.rng
        roll = rng.random()
        if not orders or roll < 0.04:
            return CancelOrder(self._user(), rng.randint(10**6, 10**7))  # unknown id
        order = rng.choice(orders)
        owner, oid, coid = order.user_id, order.order_id, order.client_order_id
        if roll < 0.09:
            other = rng.choice([u for u in self.users if u != owner] or [owner + 1])
            return CancelOrder(other, oid)  # someone else's order
        if roll < 0.11:
            return CancelOrder(owner, 0, f"x{rng.randint(1, 10**6)}")  # unknown client id
        if roll < 0.12:
            return CancelOrder(owner, 0, "")  # neither id
        if roll < 0.13 and coid:
            return CancelOrder(owner, -1, coid)  # no such order id (ids are positive)
        if roll < 0.24 and coid:
            return CancelOrder(owner, 0, coid)
        return CancelOrder(owner, oid)

    def _amend(self, orders: Sequence[OpenOrderRow]) -> AmendOrder:
        rng = self.rng
        if not orders:
            return AmendOrder(self._user(), rng.randint(10**6, 10**7), qty_lots=5)
        order = rng.choice(orders)
        owner, oid, side, symbol = order.user_id, order.order_id, order.side, order.symbol
        qty, price, filled = order.qty, order.price, order.qty - order.leaves
        roll = rng.random()
        if roll < 0.03:
            other = rng.choice([u for u in self.users if u != owner] or [owner + 1])
            return AmendOrder(other, oid, qty_lots=qty + 1)
        if roll < 0.05:
            return AmendOrder(owner, rng.randint(10**6, 10**7), qty_lots=qty + 1)
        if roll < 0.07:
            return AmendOrder(owner, oid, price_ticks=price, qty_lots=qty)  # no change
        if roll < 0.09 and filled:
            return AmendOrder(owner, oid, qty_lots=filled)  # at or below filled
        if roll < 0.10:
            return AmendOrder(owner, oid, price_ticks=rng.choice((-1, 0)), qty_lots=-3)
        if roll < 0.35 and qty - filled > 1:
            return AmendOrder(owner, oid, qty_lots=qty - rng.randint(1, qty - filled - 1))
        if roll < 0.50:
            return AmendOrder(owner, oid, qty_lots=qty + rng.randint(1, 20))
        new_price = self._near(symbol, side, -3, 10) if symbol in self.mid else price
        new_qty = 0
        if rng.random() < 0.3:
            new_qty = max(1, filled + rng.randint(1, 30))
        return AmendOrder(owner, oid, price_ticks=new_price, qty_lots=new_qty)

    def _cancel_all(self) -> CancelAll:
        rng = self.rng
        roll = rng.random()
        if roll < 0.01:
            return CancelAll(0, rng.choice(self.symbols))  # operator mass cancel
        if roll < 0.02:
            return CancelAll(self._user(), "NOPE-USD")
        symbol = rng.choice(self.symbols) if roll < 0.6 else ""
        return CancelAll(self._user(), symbol)

    def _top_up(self) -> Deposit:
        symbol = self.rng.choice(self.symbols)
        sym = self.markets.symbols[symbol]
        asset = self.rng.choice((sym.base, sym.quote))
        amount = self.rng.randint(1, 50) * 10**asset.decimals
        if asset.code in ("BTC", "ETH"):
            amount //= 100
        return Deposit(asset.code, amount, user_id=self.rng.choice(self.users), reference="top")

    def _bad_order(self, open_orders: Callable[[], Sequence[OpenOrderRow]]) -> PlaceOrder:
        """A place that some check rejects (or, for a few, that is only unusual)."""
        rng = self.rng
        symbol, side = self._symbol(), rng.choice((BUY, SELL))
        user = self._user()
        price = self._price(symbol, side)
        sym = self.markets.symbols[symbol]
        kind = rng.randrange(22)
        five = self._sized(symbol, 5)
        if kind == 0:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=0, price_ticks=price)
        if kind == 1:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=-rng.randint(1, 9),
                              price_ticks=price)
        if kind == 2:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=5, price_ticks=0)
        if kind == 3:
            return PlaceOrder(user, "DOGE-USD", side, LIMIT, qty_lots=five, price_ticks=price)
        if kind == 4:
            return PlaceOrder(user, symbol, 3, LIMIT, qty_lots=five, price_ticks=price)
        if kind == 5:
            return PlaceOrder(rng.choice((0, -1)), symbol, side, LIMIT, qty_lots=five,
                              price_ticks=price)
        if kind == 6:
            return PlaceOrder(user, symbol, side, rng.choice((0, 5)), qty_lots=five,
                              price_ticks=price)
        if kind == 7:
            return PlaceOrder(user, symbol, side, MARKET, qty_lots=five, price_ticks=price)
        if kind == 8:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                              tif=rng.choice((0, 5)))
        if kind == 9:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                              stop_price_ticks=price)
        if kind == 10:
            return PlaceOrder(user, symbol, side, STOP_LIMIT, qty_lots=five, price_ticks=price)
        if kind == 11:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                              display_lots=rng.choice((five, five + 2, -1)))
        if kind == 12:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                              tif=IOC, post_only=True)
        if kind == 13:
            tif = rng.choice((GTC, IOC))
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                              tif=tif, expire_ts_ns=rng.choice((self._expiry(), -1)))
        if kind == 14:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                              tif=GTD, expire_ts_ns=rng.choice((0, self.ts_ns)))
        if kind == 15:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                              stp=rng.choice((0, 5)))
        if kind == 16:
            coid = rng.choice(("x" * 65, "tab\there"))
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                              client_order_id=coid)
        if kind == 17:
            mine = [o for o in open_orders()
                    if o.client_order_id and o.user_id == user]
            coid = mine[0].client_order_id if mine else "c1"
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                              client_order_id=coid)
        if kind == 18:
            far = self.mid[symbol] * rng.choice((80, 120)) // 100
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=far)
        if kind == 19:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=sym.max_qty_lots + 1,
                              price_ticks=price)
        if kind == 20:
            return PlaceOrder(user, symbol, side, LIMIT, qty_lots=1, price_ticks=1)
        # a quote amount where none is allowed
        return PlaceOrder(user, symbol, side, LIMIT, qty_lots=five, price_ticks=price,
                          quote_amount_minor=10**7)
