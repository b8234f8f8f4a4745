"""What the API reads of the running exchange, in one place.

Routes, services and the WebSocket hub read the live state through ``Reads`` instead
of reaching into the engine's dictionaries (``user_orders``, ``suspended``,
``withdrawals``) or the journal writer. Every method reads on the event loop, between
batches, so it sees one consistent state; none mutates anything. Each is O(1) unless
it says otherwise.
"""

from __future__ import annotations

from typing import Any

from matchbook.core import Markets, Order
from matchbook.core.engine import Withdrawal
from matchbook.runtime.exchange import Exchange


class Reads:
    """The read facade over one running ``Exchange``."""

    __slots__ = ("exchange", "markets")

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.markets: Markets = exchange.markets

    @property
    def last_seq(self) -> int:
        """The sequence number of the last applied command."""
        return self.exchange.engine.last_seq

    # -- orders ----------------------------------------------------------------------

    def open_order(self, user_id: int, order_id: int) -> Order | None:
        """``user_id``'s open order ``order_id`` (resting or a waiting stop), else None.
        The engine owns the object: read it now, before any ``await``."""
        mine = self.exchange.engine.user_orders.get(user_id)
        return mine.get(order_id) if mine else None

    def open_orders(self, user_id: int, symbol: str = "") -> list[Order]:
        """``user_id``'s open orders (on ``symbol``, or all), oldest first. O(n log n)."""
        return self.exchange.engine.open_orders(user_id, symbol)

    def open_order_count(self, user_id: int | None = None) -> int:
        """Open orders of ``user_id``, or of everybody."""
        engine = self.exchange.engine
        if user_id is None:
            return engine.open_order_count
        return len(engine.user_orders.get(user_id, ()))

    # -- accounts --------------------------------------------------------------------

    def balance(self, user_id: int, asset: str) -> tuple[int, int]:
        """``(available, held)`` in minor units."""
        return self.exchange.engine.balance(user_id, asset)

    def address(self, user_id: int, asset: str) -> str | None:
        """``user_id``'s deposit address for ``asset``, once created."""
        return self.exchange.engine.user_addresses.get((user_id, asset))

    def is_suspended(self, user_id: int) -> bool:
        return user_id in self.exchange.engine.suspended

    def pending_withdrawals(self) -> list[Withdrawal]:
        """Withdrawals waiting for a decision, oldest first. O(n)."""
        return list(self.exchange.engine.withdrawals.values())

    def pending_withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        return self.exchange.engine.withdrawals.get(withdrawal_id)

    # -- markets ---------------------------------------------------------------------

    def is_halted(self, symbol: str) -> bool:
        """Whether ``symbol`` cannot trade (halted itself, or trading as a whole)."""
        engine = self.exchange.engine
        return engine.halted or engine.books[symbol].halted

    # -- the pipeline ----------------------------------------------------------------

    def queue_depth(self) -> int:
        return self.exchange.sequencer.queue_depth

    def journal(self) -> tuple[str, int | None, int, float]:
        """The journal's ``(mode, last written seq, fsyncs, seconds spent in fsync)``."""
        durable = self.exchange.durable
        writer = durable.writer.stats()
        return durable.config.mode, writer.last_seq, writer.fsyncs, writer.fsync_seconds

    def snapshot_seq(self) -> int:
        """The sequence number of the last snapshot written."""
        return self.exchange.durable.last_snapshot_seq

    def now_ns(self) -> int:
        """The sequencer's clock: the time the next command would be stamped with (the
        P2P deadlines are in this time)."""
        return int(self.exchange.sequencer.clock())

    # -- P2P escrow trading (the engine's desk: core/p2p.py) ------------------------------
    # The engine owns these objects: read them now, before any ``await``.

    def p2p_ad(self, ad_id: int) -> Any:
        """The ad ``ad_id`` (any state), else None. O(1)."""
        return self.exchange.engine.p2p.ads.get(ad_id)

    def p2p_ads(self) -> list[Any]:
        """Every ad, oldest first. O(n)."""
        return list(self.exchange.engine.p2p.ads.values())

    def p2p_paused_by_admin(self, ad_id: int) -> bool:
        """An administrator paused ``ad_id`` (only one can resume it). O(1)."""
        return ad_id in self.exchange.engine.p2p.admin_paused

    def p2p_trade(self, trade_id: int) -> Any:
        """The trade ``trade_id`` (any state), else None. O(1)."""
        return self.exchange.engine.p2p.trades.get(trade_id)

    def p2p_trades(self) -> list[Any]:
        """Every trade, oldest first. O(n)."""
        return list(self.exchange.engine.p2p.trades.values())

    def p2p_methods(self, user_id: int) -> list[Any]:
        """``user_id``'s payment methods, oldest first. O(methods)."""
        return list(self.exchange.engine.p2p.methods_of(user_id))

    def p2p_method(self, method_id: int) -> Any:
        return self.exchange.engine.p2p.methods.get(method_id)

    def p2p_banned_until(self, user_id: int) -> int:
        """The end of ``user_id``'s P2P ban in ns, 0 if none."""
        return int(self.exchange.engine.p2p.banned_until(user_id))

    def p2p_escrow(self, user_id: int) -> dict[str, int]:
        """What ``user_id`` has in P2P escrow per asset (as a seller)."""
        return dict(self.exchange.engine.p2p.escrow_of(user_id))

    def best_prices(self, symbol: str) -> tuple[int, int]:
        """``(best bid, best ask)`` of ``symbol`` in ticks, 0 for an empty side. O(1)."""
        book = self.exchange.engine.books[symbol]
        return book.best_bid(), book.best_ask()
