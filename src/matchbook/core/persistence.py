"""Persistence: the canonical snapshot, its hash, restore, and the invariant check."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Mapping
from typing import Any, Self

import msgspec

from matchbook.core.book import Order, pack_flags
from matchbook.core.commands import (
    BUY,
    SELL,
)
from matchbook.core.matching import MatchingCore
from matchbook.core.risk import RiskLimits
from matchbook.core.symbols import FeeSchedule, Markets
from matchbook.core.wallets import Withdrawal


class Persistence(MatchingCore):
    """Snapshot, state hash, restore and the invariant check."""

    def asset_totals(self) -> dict[str, int]:
        """Per asset: sum over every account (users, escrow, fees, external). Always all
        zero."""
        escrow = self.p2p.escrow
        totals = {a: self.fee_balances[a] + self.external_balances[a] + escrow[a]
                  for a in self.markets.assets}
        for account in self.accounts.values():
            for asset, i in account.slots.items():
                totals[asset] += account.balances[i] + account.balances[i + 1]
        return totals

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain, canonically ordered data (for hashing and snapshots).

        Resting orders are listed per level in time priority, so restoring keeps FIFO.
        """
        def order_row(o: Order) -> list[Any]:
            return [o.order_id, o.user_id, o.symbol, o.side, o.order_type, o.price, o.qty,
                    o.leaves, o.visible, o.display, o.tif, o.stp, o.post_only, o.stop_price,
                    o.expire_ts, o.client_order_id, o.hold, o.fee_maker, o.fee_taker]


        orders = self.orders
        books = {}
        for name in sorted(self.books):
            book = self.books[name]
            stops = sorted((o for o in orders.values() if o.symbol == name and o.stop_price),
                           key=lambda o: o.order_id)
            books[name] = {
                "bids": [order_row(o) for o in book.iter_orders(BUY)],
                "asks": [order_row(o) for o in book.iter_orders(SELL)],
                "stops": [order_row(o) for o in stops],
                "last_price": book.last_price,
                "halted": book.halted,
            }
        return {
            "books": books,
            "accounts": {
                uid: [sorted((a, v) for a, v in acct.available.items() if v),
                      sorted((a, v) for a, v in acct.held.items() if v), acct.tier]
                for uid, acct in sorted(self.accounts.items())
            },
            "fees": sorted(self.fee_balances.items()),
            "external": sorted(self.external_balances.items()),
            "withdrawals": [msgspec.structs.astuple(w)
                            for _, w in sorted(self.withdrawals.items())],
            "settled_withdrawals": sorted(self.settled_withdrawals),
            "addresses": sorted((a, u, s) for a, (u, s) in self.addresses.items()),
            "suspended": sorted(self.suspended),
            "halted": self.halted,
            "counters": [self.next_order_id, self.next_trade_id, self.next_wallet_op_id],
            "limits": [self.limits.max_open_orders,
                       sorted(self.limits.position_limits_minor.items())],
            "p2p": self.p2p.snapshot(),
            "last": [self.last_seq, self.last_ts],
        }

    def state_hash(self) -> str:
        """BLAKE2b of the canonical snapshot: equal states give equal hashes."""
        state = self.snapshot()
        del state["last"]  # the stamp of the last command is not state: a rejection keeps the hash
        if self.p2p.untouched():  # hashes as before the P2P desk: revisions stay comparable
            del state["p2p"]
        data = msgspec.json.encode(state)  # JSON: balances may exceed 64 bits
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    @classmethod
    def restore(
        cls,
        markets: Markets,
        state: Mapping[str, Any],
        *,
        accounts: bool = True,
    ) -> Self:
        """Rebuild an engine from ``snapshot()`` output (also after a JSON round trip),
        risk limits included."""
        engine = cls(markets, accounts=accounts)
        fee_schedules: dict[tuple[int, int], FeeSchedule] = {}  # shared, as when placed
        for name, data in state["books"].items():
            book = engine.books[name]
            book.last_price = data["last_price"]
            book.halted = data["halted"]
            for row in [*data["bids"], *data["asks"]]:
                order = _order_from_row(row, fee_schedules)
                book.rest(order)
                engine._register(order)
            for row in data["stops"]:
                order = _order_from_row(row, fee_schedules)
                engine._register(order)
                heap = book.stops_buy if order.side == BUY else book.stops_sell
                key = order.stop_price if order.side == BUY else -order.stop_price
                heapq.heappush(heap, (key, order.order_id, order))
        for uid, (available, held, tier) in state["accounts"].items():
            uid = int(uid)
            account = engine._account(uid)
            account.tier = tier
            balances, slots = account.balances, account.slots
            for asset, amount in available:
                balances[slots[asset]] = amount
            for asset, amount in held:
                balances[slots[asset] + 1] = amount
        engine.fee_balances.update(dict(state["fees"]))
        engine.external_balances.update(dict(state["external"]))
        for row in state["withdrawals"]:
            w = Withdrawal(*row)
            engine.withdrawals[w.withdrawal_id] = w
        engine.settled_withdrawals = set(state["settled_withdrawals"])
        for address, uid, asset in state["addresses"]:
            engine.addresses[address] = (uid, asset)
            engine.user_addresses[(uid, asset)] = address
        engine.suspended = set(state["suspended"])
        engine.halted = state["halted"]
        engine.next_order_id, engine.next_trade_id, engine.next_wallet_op_id = state["counters"]
        max_open, positions = state["limits"]
        engine._use_limits(RiskLimits(max_open, {asset: amount for asset, amount in positions}))
        engine.last_seq, engine.last_ts = state["last"]
        if "p2p" in state:  # a snapshot written before the P2P desk has none
            engine.p2p.restore(state["p2p"])
        return engine

    def _check(self) -> None:
        """Assert every invariant of the whole state (tests call it after each command)."""
        orders = self.orders
        live = 0
        for book in self.books.values():
            book._check()
            for side in (BUY, SELL):
                for order in book.iter_orders(side):
                    assert orders.get(order.order_id) is order, "resting order is indexed"
                    live += 1
        stops = [o for o in orders.values() if o.stop_price]
        assert live + len(stops) == len(orders), "every indexed order is live"
        for order in stops:
            book = self.books[order.symbol]
            heap = book.stops_buy if order.side == BUY else book.stops_sell
            assert any(entry[2] is order for entry in heap), "pending stop is in its heap"
        assert sum(len(m) for m in self.user_orders.values()) == len(orders)
        for uid, mine in self.user_orders.items():
            assert mine, "no empty user index is kept"
            for oid, order in mine.items():
                assert order.user_id == uid and orders[oid] is order
        assert len(self.client_ids) == sum(1 for o in orders.values() if o.client_order_id)
        for (uid, coid), oid in self.client_ids.items():
            order = orders[oid]
            assert order.user_id == uid and order.client_order_id == coid
        for order in orders.values():
            assert order.order_id < self.next_order_id
            if order.expire_ts:
                assert order.expire_ts > self.last_ts, "an expired order is still open"
                assert any(e[3] is order for e in self.expiries), "a GTD order is scheduled"
        self.p2p._check()
        if not self.accounts_enabled:
            return
        for asset, total in self.asset_totals().items():
            assert total == 0, f"{asset} is not conserved: {total}"
            assert 0 <= -self.external_balances[asset] <= (
                self.markets.assets[asset].max_supply_minor), f"{asset} passed its max supply"
            assert self.fee_balances[asset] >= 0, f"the {asset} fee account is negative"
        held_expected: dict[tuple[int, str], int] = {}
        for order in orders.values():
            sym = self.books[order.symbol].symbol
            asset = sym.quote.code if order.side == BUY else sym.base.code
            key = (order.user_id, asset)
            held_expected[key] = held_expected.get(key, 0) + order.hold
            assert order.hold >= 0
        for w in self.withdrawals.values():
            key = (w.user_id, w.asset)
            held_expected[key] = held_expected.get(key, 0) + w.amount_minor
        for uid, account in self.accounts.items():
            for asset, amount in account.available.items():
                assert amount >= 0, f"user {uid} {asset} available is negative"
            for asset, amount in account.held.items():
                assert amount == held_expected.get((uid, asset), 0), (
                    f"user {uid} {asset} held {amount} != holds of open orders and withdrawals")


def _order_from_row(row: list[Any], schedules: dict[tuple[int, int], FeeSchedule]) -> Order:
    (oid, uid, symbol, side, otype, price, qty, leaves, visible, display, tif, stp, post_only,
     stop, expire, coid, hold, maker_ppm, taker_ppm) = row
    fees = schedules.setdefault((maker_ppm, taker_ppm), FeeSchedule(maker_ppm, taker_ppm))
    return Order(oid, uid, symbol, side, price, qty, leaves, visible, display, hold,
                 pack_flags(otype, tif, stp, post_only), stop, expire, coid, fees)
