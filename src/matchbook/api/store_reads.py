"""The API's reads of the SQL read model (``matchbook.store.queries``), formatted.

Live state (open orders, balances, books) is read from the engine; history comes from
the projection, which may lag the engine by a few milliseconds.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.api import views
from matchbook.core import Markets
from matchbook.store import queries


class StoreReads:
    """The read model's history as views."""

    def __init__(self, db: AsyncEngine, markets: Markets) -> None:
        self.db = db
        self.markets = markets

    async def closed_orders(self, user_id: int, symbol: str, limit: int) -> list[views.Order]:
        rows = await queries.closed_orders(self.db, user_id, symbol=symbol or None, limit=limit)
        symbols = self.markets.symbols
        return [views.order_of_row(symbols[r["symbol"]], r) for r in rows]

    async def order_row(self, user_id: int, order_id: int) -> dict[str, Any] | None:
        """``user_id``'s order ``order_id`` as the read model has recorded it, if it has."""
        return await queries.order(self.db, order_id, user_id=user_id)

    async def order(self, user_id: int, order_id: int) -> views.Order | None:
        row = await self.order_row(user_id, order_id)
        return views.order_of_row(self.markets.symbols[row["symbol"]], row) if row else None

    async def fills(self, user_id: int, symbol: str, limit: int) -> list[views.Fill]:
        symbols = self.markets.symbols
        return [views.fill_of_row(symbols[r["symbol"]], r)
                for r in await queries.fills(self.db, user_id, symbol=symbol or None,
                                             limit=limit)]

    async def ledger(self, user_id: int, asset: str | None, limit: int,
                     before_seq: int | None) -> list[views.LedgerEntry]:
        before = (before_seq, 0) if before_seq else None
        assets = self.markets.assets
        return [views.ledger_of_row(assets[r["asset"]], r)
                for r in await queries.ledger(self.db, user_id, asset=asset, limit=limit,
                                              before=before)]

    async def audit(self, limit: int, before_seq: int | None) -> list[views.AuditEntry]:
        rows = await queries.audit_log(self.db, limit=limit, before_seq=before_seq)
        return [views.audit_of_row(r, json.loads(r["command"])) for r in rows]

    async def all_orders(self, *, user_id: int | None, symbol: str, status: str | None,
                         limit: int, before_id: int | None) -> views.AdminOrders:
        """A page of every user's orders, newest first: ``status`` is one status, or
        ``open`` / ``closed`` for the group, or None for all."""
        groups = {"open": True, "closed": False}
        rows = await queries.all_orders(
            self.db, user_id=user_id, symbol=symbol or None,
            open_only=groups.get(status) if status else None,
            status=None if status is None or status in groups else status,
            limit=limit + 1, before_id=before_id)
        symbols = self.markets.symbols
        page = [views.admin_order_of_row(symbols[r["symbol"]], r) for r in rows[:limit]]
        more = len(rows) > limit
        return views.AdminOrders(orders=page,
                                 next_cursor=page[-1].order_id if more and page else None)

    async def all_trades(self, *, user_id: int | None, symbol: str, limit: int,
                         before_trade_id: int | None) -> views.AdminTrades:
        """A page of trades of every market and user, newest first."""
        rows = await queries.all_trades(self.db, user_id=user_id, symbol=symbol or None,
                                        limit=limit + 1, before_trade_id=before_trade_id)
        symbols = self.markets.symbols
        page = [views.admin_trade_of_row(symbols[r["symbol"]], r) for r in rows[:limit]]
        more = len(rows) > limit
        return views.AdminTrades(trades=page,
                                 next_cursor=page[-1].trade_id if more and page else None)

    async def projection_lag(self, last_seq: int) -> int:
        return await queries.projection_lag(self.db, last_seq)

