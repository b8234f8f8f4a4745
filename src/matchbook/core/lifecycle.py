"""An open order's life after it is placed: cancel-all. The everyday cancel, amend and
expiry are on the hot path (``core/matching.py``, compiled): amend is one command in
twenty of the standard mix, and interpreted it cost as much as the compiled rest."""

from __future__ import annotations

from collections.abc import Iterable

from matchbook.core.book import Order
from matchbook.core.codes import Code, message
from matchbook.core.commands import (
    CancelAll,
)
from matchbook.core.events import (
    CancelReason,
    Event,
    OrderRejected,
)
from matchbook.core.matching import MatchingCore


class Lifecycle(MatchingCore):
    """Cancel-all."""

    def _cancel_all(self, c: CancelAll, out: list[Event]) -> None:
        """Cancel every open order of a user (of everyone for user 0), optionally of one
        symbol, oldest first. O(k log k) for the k orders looked at (every open order
        for user 0)."""
        symbol = c.symbol
        if symbol and symbol not in self.books:
            out.append(OrderRejected(c.user_id, Code.UNKNOWN_SYMBOL,
                                     message(Code.UNKNOWN_SYMBOL), "", 0))
            return
        if c.user_id:
            pool: Iterable[Order] = self.user_orders.get(c.user_id, {}).values()
        else:
            pool = [o for mine in self.user_orders.values() for o in mine.values()]
        victims = sorted((o for o in pool if not symbol or o.symbol == symbol),
                         key=lambda o: o.order_id)
        for order in victims:
            self._remove_open(order, out, CancelReason.CANCEL_ALL)
