"""Scenario helpers for the P2P desk's tests: a ``Market`` (see ``helpers``) with
shortcuts for payment methods, ads and trades, written in decimals.

Quantities are BTC (8 decimals) unless an ad says otherwise; prices are USD per whole
BTC in the fiat's decimals (2): ``price="50000.00"`` is 5,000,000 cents. The shipped
``[p2p]`` settings apply: a fee of 10 bp on release, an appeal delay of 15 minutes,
escalation after 24 h, a ban after 3 cancels or expiries as a buyer.
"""

from __future__ import annotations

from typing import Any

from helpers import MARKETS, Market, one

from matchbook.core.codes import message
from matchbook.core.commands import (
    AddPaymentMethod,
    CancelTrade,
    MarkPaid,
    OpenDispute,
    P2PSide,
    PostAd,
    ReleaseEscrow,
    TakeAd,
)
from matchbook.core.events import AdPosted, Event, P2PRejected, P2PTradeOpened
from matchbook.core.p2p import DISPUTED, PAID, PENDING, Ad, Trade

CONFIG = MARKETS.p2p
FEE_BPS = CONFIG.fee_bps


def fiat(amount: str, code: str = "USD") -> int:
    """Fiat minor units (``"50000.00"`` USD -> 5_000_000)."""
    decimals = MARKETS.fiats[code].decimals
    from decimal import Decimal
    value = Decimal(amount).scaleb(decimals)
    assert value == value.to_integral_value(), amount
    return int(value)


def minor(amount: str, asset: str = "BTC") -> int:
    return MARKETS.assets[asset].to_minor(amount)


def assert_refused(events: list[Event], code: int, state: int | None = None) -> P2PRejected:
    """Exactly one ``P2PRejected`` with ``code`` and its sentence (and ``state``)."""
    assert len(events) == 1, events
    [event] = events
    assert isinstance(event, P2PRejected), event
    assert event.code == code, f"expected code {code}, got {event.code}: {event.message}"
    assert event.message == message(code)
    if state is not None:
        assert event.state == state, event
    return event


class Desk(Market):
    """A market with P2P shortcuts; users 1..4 funded with BTC and USD."""

    def __init__(self, *users: int, **options: Any) -> None:
        super().__init__(**options)
        self.log: list[Event] = []  # every event, in order
        self.fund(*(users or (1, 2, 3, 4)))

    def apply(self, command: object, *, ts_ns: int | None = None) -> list[Event]:
        events = super().apply(command, ts_ns=ts_ns)
        self.log.extend(events)
        return events

    def method(self, user_id: int, name: str = "SEPA", details: str = "DE89 3704 0044") -> int:
        [event] = self.apply(AddPaymentMethod(user_id, name, details))
        return int(event.method_id)

    def post(self, user_id: int, side: int = P2PSide.SELL, qty: str = "1", *,
             price: str = "50000.00", min_qty: str = "0.01", max_qty: str = "",
             window_s: int = 900, asset: str = "BTC", fiat_code: str = "USD",
             margin_bps: int = 0, price_symbol: str = "", methods: tuple[int, ...] = (),
             terms: str = "") -> int:
        """Post an ad (a payment method is created for the maker if none is given)."""
        if not methods:
            methods = (self.method(user_id),)
        command = PostAd(user_id, side, asset, fiat_code, fiat(price, fiat_code) if price else 0,
                         margin_bps, price_symbol, minor(qty, asset), minor(min_qty, asset),
                         minor(max_qty or qty, asset), methods, window_s, terms)
        return one(self.apply(command), AdPosted).ad_id

    def take(self, user_id: int, ad_id: int, qty: str = "0.1", method_id: int = 0,
             asset: str = "BTC") -> int:
        events = self.apply(TakeAd(user_id, ad_id, minor(qty, asset), method_id))
        return one(events, P2PTradeOpened).trade_id

    def ad(self, ad_id: int) -> Ad:
        return self.engine.p2p.ads[ad_id]

    def trade(self, trade_id: int) -> Trade:
        return self.engine.p2p.trades[trade_id]

    def escrow(self, asset: str = "BTC") -> int:
        return self.engine.escrow_balances[asset]

    def free(self, user_id: int, asset: str = "BTC") -> int:
        return self.balance(user_id, asset)[0]

    # -- a trade brought to a state: seller 1 (sell ad), buyer 2 ------------------------

    def pending(self, amount: str = "0.1", **ad: Any) -> int:
        ad_id = self.post(1, **ad)
        return self.take(2, ad_id, amount)

    def paid(self, amount: str = "0.1", **ad: Any) -> int:
        tid = self.pending(amount, **ad)
        self.apply(MarkPaid(2, tid, PENDING))
        assert self.trade(tid).state == PAID
        return tid

    def disputed(self, amount: str = "0.1", by: int = 2, **ad: Any) -> int:
        tid = self.paid(amount, **ad)
        self.advance(self.trade(tid).appeal_after_ns)
        self.apply(OpenDispute(by, tid, PAID, "not received", "no money arrived"))
        assert self.trade(tid).state == DISPUTED
        return tid

    def completed(self, amount: str = "0.1", **ad: Any) -> int:
        tid = self.paid(amount, **ad)
        self.apply(ReleaseEscrow(1, tid, PAID))
        return tid

    def cancelled(self, amount: str = "0.1", **ad: Any) -> int:
        tid = self.pending(amount, **ad)
        self.apply(CancelTrade(2, tid, PENDING))
        return tid
