"""Scenario helpers for the core tests: an engine on the default markets, driven by a
sequencer stand-in that stamps every command with the next ``seq`` and ``ts_ns``.

Amounts are written as decimal strings (``"1.5"`` BTC, ``"100.00"`` USD) and converted
exactly with the symbol's grid, so a test reads in the units a trader would use.
Every command is followed by ``Engine._check()``.

BTC-USD (the default symbol): tick 0.01 USD, lot 0.0001 BTC, USD has 6 decimals and
BTC 8, so one lot at one tick is 1 minor unit of USD (``quote_per_tick_lot == 1``) and
a lot is 10_000 satoshi. Fees: maker 0.02% (200 ppm), taker 0.05% (500 ppm); the
``vip`` tier has a maker rebate of 0.01% (-100 ppm) and a taker fee of 0.03%.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TypeVar

from matchbook.config import default_markets
from matchbook.core import (
    AdvanceTime,
    Deposit,
    Engine,
    Markets,
    OrderType,
    PlaceOrder,
    RiskLimits,
    Symbol,
)
from matchbook.core.codes import message
from matchbook.core.events import (
    BookLevelChanged,
    CommandRejected,
    Deposited,
    Event,
    OrderAccepted,
    OrderRejected,
    TradeExecuted,
)

MARKETS: Markets = default_markets()
BTC_USD: Symbol = MARKETS.symbol("BTC-USD")
USD = MARKETS.assets["USD"]
BTC = MARKETS.assets["BTC"]

START_TS_NS = 1_000_000_000
"""The clock of a fresh scenario; every command advances it by one nanosecond."""

E = TypeVar("E", bound=Event)


def ticks(price: str, symbol: Symbol = BTC_USD) -> int:
    """Exact price in ticks (``"100.01"`` -> 10001 on BTC-USD)."""
    return symbol.price_to_ticks(price)


def lots(qty: str, symbol: Symbol = BTC_USD) -> int:
    """Exact quantity in lots (``"0.5"`` -> 5000 on BTC-USD)."""
    return symbol.qty_to_lots(qty)


def usd(amount: str) -> int:
    """Exact USD amount in minor units (``"1.5"`` -> 1_500_000)."""
    return USD.to_minor(amount)


def btc(amount: str) -> int:
    """Exact BTC amount in minor units (``"1"`` -> 100_000_000)."""
    return BTC.to_minor(amount)


def events_of_type(events: Iterable[Event], kind: type[E]) -> list[E]:
    """The events of one class, in the order the engine emitted them."""
    return [e for e in events if type(e) is kind]


def one(events: Iterable[Event], kind: type[E]) -> E:
    """The single event of ``kind`` (fails if there is none or more than one)."""
    found = events_of_type(events, kind)
    assert len(found) == 1, f"expected one {kind.__name__}, got {found}"
    return found[0]


def names(events: Iterable[Event]) -> list[str]:
    """Event class names in order: a compact way to assert what a command produced."""
    return [type(e).__name__ for e in events]


def fills(events: Iterable[Event]) -> list[tuple[int, int, int]]:
    """Every ``TradeExecuted`` as ``(price_ticks, qty_lots, maker_order_id)``, in order."""
    return [(e.price_ticks, e.qty_lots, e.maker_order_id)
            for e in events_of_type(events, TradeExecuted)]


def assert_rejected(events: list[Event], code: int) -> None:
    """The command produced exactly one rejection, with ``code`` and its sentence."""
    assert len(events) == 1, events
    [event] = events
    assert isinstance(event, OrderRejected | CommandRejected), event
    assert event.code == code, f"expected code {code}, got {event.code}: {event.message}"
    assert event.message == message(code)


def funded(*user_ids: int, **options: Any) -> Market:
    """A fresh market whose users each hold plenty of USD and BTC."""
    market = Market(**options)
    market.fund(*user_ids)
    return market


class Market:
    """One engine, its clock, and shortcuts for the commands tests use most.

    ``apply`` stamps the next ``seq`` and ``ts_ns`` (or the ``ts_ns`` given, which must
    not go back in time), applies the command and checks every invariant.
    """

    def __init__(
        self,
        *,
        accounts: bool = True,
        limits: RiskLimits | None = None,
        markets: Markets = MARKETS,
    ) -> None:
        self.engine = Engine(markets, accounts=accounts, limits=limits)
        self.markets = markets
        self.seq = 0
        self.ts_ns = START_TS_NS

    # -- the sequencer --------------------------------------------------------------

    def apply(self, command: object, *, ts_ns: int | None = None) -> list[Event]:
        self.seq += 1
        if ts_ns is None:
            ts_ns = self.ts_ns + 1
        assert ts_ns >= self.ts_ns, "the sequencer's clock never goes back"
        self.ts_ns = ts_ns
        events = self.engine.apply(self.seq, ts_ns, command)
        self.engine._check()
        return events

    def apply_unchanged(self, command: object) -> list[Event]:
        """Apply ``command`` and assert it left the engine exactly as a no-op would.

        ``state_hash()`` covers the last applied ``seq`` and ``ts_ns``, which every
        command advances, so the reference is a copy of the engine that receives an
        ``AdvanceTime`` at the same ``seq`` and ``ts_ns`` instead.
        """
        twin = copy.deepcopy(self.engine)
        events = self.apply(command)
        twin.apply(self.seq, self.ts_ns, AdvanceTime())
        assert self.engine.state_hash() == twin.state_hash(), "a rejection changed the state"
        return events

    def advance(self, ts_ns: int) -> list[Event]:
        """Let the clock reach ``ts_ns`` with an ``AdvanceTime``."""
        return self.apply(AdvanceTime(), ts_ns=ts_ns)

    # -- wallets --------------------------------------------------------------------

    def deposit(self, user_id: int, asset: str, amount: str) -> None:
        """Credit ``amount`` (a decimal string) of ``asset`` to ``user_id``."""
        amount_minor = self.markets.assets[asset].to_minor(amount)
        [event] = self.apply(Deposit(asset, amount_minor, user_id=user_id))
        assert isinstance(event, Deposited), event

    def fund(self, *user_ids: int, usd: str = "1000000", btc: str = "1000") -> None:
        """Give each user plenty of USD and BTC."""
        for user_id in user_ids:
            self.deposit(user_id, "USD", usd)
            self.deposit(user_id, "BTC", btc)

    def balance(self, user_id: int, asset: str) -> tuple[int, int]:
        """``(available, held)`` in minor units."""
        return self.engine.balance(user_id, asset)

    # -- orders ---------------------------------------------------------------------

    def place(
        self,
        user_id: int,
        side: int,
        qty: str = "",
        price: str = "",
        *,
        symbol: str = "BTC-USD",
        order_type: int | None = None,
        stop: str = "",
        display: str = "",
        **fields: Any,
    ) -> list[Event]:
        """Place an order written in decimals: ``place(1, BUY, "0.5", "100.00")``.

        Without ``order_type`` it is a LIMIT when a price is given, else a MARKET; a
        ``stop`` makes it the stop variant. Other ``PlaceOrder`` fields pass through.
        """
        sym = self.markets.symbol(symbol)
        if order_type is None:
            if stop:
                order_type = OrderType.STOP_LIMIT if price else OrderType.STOP_MARKET
            else:
                order_type = OrderType.LIMIT if price else OrderType.MARKET
        command = PlaceOrder(
            user_id=user_id,
            symbol=sym.name,
            side=side,
            order_type=order_type,
            qty_lots=sym.qty_to_lots(qty) if qty else 0,
            price_ticks=sym.price_to_ticks(price) if price else 0,
            stop_price_ticks=sym.price_to_ticks(stop) if stop else 0,
            display_lots=sym.qty_to_lots(display) if display else 0,
            **fields,
        )
        return self.apply(command)

    def rest(self, user_id: int, side: int, qty: str, price: str, **fields: Any) -> int:
        """Place a limit order that must rest untouched; return its order id."""
        events = self.place(user_id, side, qty, price, **fields)
        assert names(events) == ["OrderAccepted", "BookLevelChanged"], events
        return one(events, OrderAccepted).order_id

    # -- the book -------------------------------------------------------------------

    def depth(self, side: int, symbol: str = "BTC-USD") -> list[tuple[str, str, int]]:
        """L2 of one side as ``(price, qty, order_count)`` decimal strings, best first."""
        book = self.engine.books[symbol]
        sym = book.symbol
        return [
            (str(sym.ticks_to_price(p)), str(sym.lots_to_qty(q)), n)
            for p, q, n in book.depth(side)
        ]

    def queue(self, side: int, price: str, symbol: str = "BTC-USD") -> list[int]:
        """L3 of one level: order ids in time priority."""
        book = self.engine.books[symbol]
        return [o.order_id for o in book.orders_at(side, book.symbol.price_to_ticks(price))]

    def last_price(self, symbol: str = "BTC-USD") -> Decimal:
        """The symbol's last trade price as a decimal (0.00 before any trade)."""
        book = self.engine.books[symbol]
        return book.symbol.ticks_to_price(book.last_price)


def level_totals(events: Iterable[Event]) -> dict[tuple[int, int], tuple[int, int]]:
    """The final ``(qty_lots, order_count)`` each ``BookLevelChanged`` reported, per
    ``(side, price_ticks)``."""
    return {(e.side, e.price_ticks): (e.qty_lots, e.order_count)
            for e in events_of_type(events, BookLevelChanged)}
