"""The private streams: each followed user's ``orders`` (one message per state change of
one of their orders) and ``balances`` (after every change).

An order's state is followed with ``views.OrderState``, the same fold the trading
service uses for its answers, so an order has the same shape and status here as in
the REST API. The state of a user's open orders is seeded from the engine when the
first of their connections subscribes, then kept from the events alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matchbook.api import views
from matchbook.api.reads import Reads
from matchbook.api.ws.connection import Connection, text
from matchbook.core.events import (
    AdChanged,
    AdPosted,
    Applied,
    BalanceAdjusted,
    Deposited,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    P2PTradeChanged,
    P2PTradeOpened,
    Transferred,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)

ORDER_EVENTS = frozenset({OrderAccepted, OrderFilled, OrderCancelled, OrderExpired,
                          OrderTriggered, OrderAmended, OrderRejected})
WALLET_EVENTS = frozenset({Deposited, WithdrawalRequested, WithdrawalCompleted,
                           WithdrawalRejected, BalanceAdjusted})


P2P_MONEY = frozenset({AdPosted, AdChanged, P2PTradeOpened, P2PTradeChanged})


def _p2p_users(ev: Event) -> tuple[int, ...]:
    """Whose balance a P2P event may have moved."""
    if type(ev) is AdPosted or type(ev) is AdChanged:
        return (ev.user_id,)  # type: ignore[attr-defined]
    return (ev.buyer_id, ev.seller_id)  # type: ignore[attr-defined]


class PrivateStreams:
    """Subscribers by user id, and the open orders of every followed user."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads
        self.symbols = reads.markets.symbols
        self.orders: dict[int, set[Connection]] = {}
        self.balances: dict[int, set[Connection]] = {}
        self._open: dict[int, dict[int, views.OrderState]] = {}

    def follow(self, uid: int) -> None:
        """Start following ``uid``'s orders (their first ``orders`` subscriber)."""
        if uid not in self._open:
            self._open[uid] = {o.order_id: views.OrderState.of_order(o)
                               for o in self.reads.open_orders(uid)}

    def forget(self, uid: int) -> None:
        """``uid``'s last ``orders`` subscriber left."""
        self._open.pop(uid, None)

    def open_orders(self, uid: int) -> list[views.Order]:
        """``uid``'s open orders as followed, oldest first (the ``orders_snapshot``)."""
        found = self._open.get(uid, {})
        return [st.view(self.symbols[st.symbol]) for _, st in sorted(found.items())]

    def balances_of(self, uid: int, assets: Sequence[str] | None = None) -> list[views.Balance]:
        return views.balances_live(self.reads, uid, assets)

    def on_batch(self, batch: Sequence[Applied]) -> None:
        """Route the users' events of one applied batch; called by the sequencer."""
        orders, balances = self.orders, self.balances
        if not orders and not balances:
            return
        touched: dict[int, set[str]] = {}
        symbols = self.symbols
        for seq, ts_ns, _, events in batch:
            for ev in events:
                t = type(ev)
                if t in ORDER_EVENTS:
                    uid: int = ev.user_id  # type: ignore[attr-defined]
                    if uid in orders:
                        message = self._order_message(uid, ev, seq, ts_ns)
                        if message is not None:
                            frame = text(message)
                            for conn in orders[uid]:
                                conn.offer(frame)
                    if uid in balances and t is not OrderTriggered and t is not OrderRejected:
                        sym = symbols[ev.symbol]  # type: ignore[attr-defined]
                        touched.setdefault(uid, set()).update((sym.base.code, sym.quote.code))
                elif t in WALLET_EVENTS:
                    uid = ev.user_id  # type: ignore[attr-defined]
                    if uid in balances:
                        touched.setdefault(uid, set()).add(ev.asset)  # type: ignore[attr-defined]
                elif t is Transferred:
                    assert isinstance(ev, Transferred)
                    for uid in (ev.from_user_id, ev.to_user_id):
                        if uid in balances:
                            touched.setdefault(uid, set()).add(ev.asset)
                elif t in P2P_MONEY:  # escrow in or out (P2P desk)
                    for uid in _p2p_users(ev):
                        if uid in balances and ev.asset:  # type: ignore[attr-defined]
                            touched.setdefault(uid, set()).add(ev.asset)  # type: ignore[attr-defined]
        if touched:
            last_seq = batch[-1][0]
            for uid, assets in touched.items():
                frame = text({"type": "balances", "seq": last_seq,
                              "balances": self.balances_of(uid, sorted(assets))})
                for conn in balances[uid]:
                    conn.offer(frame)

    def _order_message(self, uid: int, ev: Event, seq: int,
                       ts_ns: int) -> dict[str, Any] | None:
        followed = self._open.setdefault(uid, {})
        t = type(ev)
        extra: dict[str, Any] = {}
        if t is OrderRejected:
            assert isinstance(ev, OrderRejected)
            return {"type": "order", "event": "rejected", "seq": seq, "timestamp_ns": ts_ns,
                    "order": None, "order_id": str(ev.order_id) if ev.order_id else None,
                    "client_order_id": ev.client_order_id or None, "code": ev.code,
                    "message": ev.message}
        if t is OrderAccepted:
            assert isinstance(ev, OrderAccepted)
            st = followed[ev.order_id] = views.OrderState.of_accepted(ev, ts_ns)
            event = "accepted"
        else:
            oid: int = ev.order_id  # type: ignore[attr-defined]
            found = followed.get(oid)
            if found is None:  # not followed when it was placed (cannot happen once seeded)
                live = self.reads.open_order(uid, oid)
                if live is None:
                    return None
                found = followed[oid] = views.OrderState.of_order(live)
            st = found
            event = st.apply(ev, ts_ns)
            sym = self.symbols[st.symbol]
            if t is OrderFilled:
                extra["fill"] = views.fill_of(sym, ev, ts_ns)  # type: ignore[arg-type]
            elif t is OrderCancelled:
                assert isinstance(ev, OrderCancelled)
                extra["cancel_reason"] = views.REASONS.get(ev.reason)
                extra["cancelled_quantity"] = sym.format_qty(ev.cancelled_lots)
            elif t is OrderAmended:
                extra["priority_kept"] = ev.priority_kept  # type: ignore[attr-defined]
        order = st.view(self.symbols[st.symbol])
        if not st.is_open:
            followed.pop(st.order_id, None)
        return {"type": "order", "event": event, "seq": seq, "timestamp_ns": ts_ns,
                "order": order, **extra}
