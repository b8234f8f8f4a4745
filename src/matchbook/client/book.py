"""A local L2 order book kept from one snapshot and contiguous deltas.

Deltas carry absolute level quantities (0 removes the level) and update ids. The book at
update id ``U`` accepts a delta whose ``first_update_id <= U + 1 <= last_update_id``;
one that ends at or before ``U`` is old and ignored; one that starts after ``U + 1``
means deltas were missed: :class:`BookGap` is raised and the book must be reloaded
(the stream does that itself by resubscribing with ``since``).
"""

from __future__ import annotations

from decimal import Decimal

from matchbook.client.messages import BookDelta, BookSnapshot
from matchbook.client.models import Level

ZERO = Decimal(0)


class BookGap(Exception):
    """Deltas are missing between the book's update id and the delta received."""

    def __init__(self, symbol: str, have: int, first: int) -> None:
        super().__init__(f"{symbol}: have update {have}, received a delta from {first}")
        self.symbol = symbol
        self.have = have
        self.first = first


class LocalOrderBook:
    """Bids and asks by price. Applying a delta is O(levels in the delta); reading the
    sorted sides is O(n log n) after a change, O(1) otherwise (the order is cached)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.update_id = -1
        self.epoch: str | None = None
        self.gaps = 0
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._sorted_bids: list[Level] | None = None
        self._sorted_asks: list[Level] | None = None

    @property
    def ready(self) -> bool:
        """True once a snapshot was loaded (and until :meth:`clear`)."""
        return self.update_id >= 0

    def clear(self) -> None:
        self.update_id = -1
        self._bids.clear()
        self._asks.clear()
        self._sorted_bids = self._sorted_asks = None

    def load(self, snapshot: BookSnapshot) -> None:
        """Replace everything with ``snapshot``."""
        self._bids = {p: q for p, q in snapshot.bids if q}
        self._asks = {p: q for p, q in snapshot.asks if q}
        self._sorted_bids = self._sorted_asks = None
        self.update_id = snapshot.update_id
        if snapshot.epoch is not None:
            self.epoch = snapshot.epoch

    def apply(self, delta: BookDelta) -> bool:
        """Apply ``delta``; False if it is older than the book (ignored).

        Raises :class:`BookGap` if deltas are missing before it, or if no snapshot was
        loaded yet.
        """
        have = self.update_id
        if have < 0 or delta.first_update_id > have + 1:
            self.gaps += 1
            raise BookGap(self.symbol, have, delta.first_update_id)
        if delta.last_update_id <= have:
            return False
        for side, changes in ((self._bids, delta.bids), (self._asks, delta.asks)):
            for price, qty in changes:
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)
        if delta.bids:
            self._sorted_bids = None
        if delta.asks:
            self._sorted_asks = None
        self.update_id = delta.last_update_id
        return True

    # -- reading -------------------------------------------------------------------------

    def bids(self, limit: int | None = None) -> list[Level]:
        """``(price, quantity)`` best (highest) first."""
        if self._sorted_bids is None:
            self._sorted_bids = sorted(self._bids.items(), reverse=True)
        return self._sorted_bids[:limit] if limit else list(self._sorted_bids)

    def asks(self, limit: int | None = None) -> list[Level]:
        """``(price, quantity)`` best (lowest) first."""
        if self._sorted_asks is None:
            self._sorted_asks = sorted(self._asks.items())
        return self._sorted_asks[:limit] if limit else list(self._sorted_asks)

    @property
    def best_bid(self) -> Level | None:
        if not self._bids:
            return None
        if self._sorted_bids is not None:
            return self._sorted_bids[0]
        price = max(self._bids)
        return price, self._bids[price]

    @property
    def best_ask(self) -> Level | None:
        if not self._asks:
            return None
        if self._sorted_asks is not None:
            return self._sorted_asks[0]
        price = min(self._asks)
        return price, self._asks[price]

    @property
    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid, self.best_ask
        return (bid[0] + ask[0]) / 2 if bid and ask else None

    @property
    def spread(self) -> Decimal | None:
        bid, ask = self.best_bid, self.best_ask
        return ask[0] - bid[0] if bid and ask else None

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def __repr__(self) -> str:
        return (f"LocalOrderBook({self.symbol!r}, update_id={self.update_id}, "
                f"bid={self.best_bid}, ask={self.best_ask})")
