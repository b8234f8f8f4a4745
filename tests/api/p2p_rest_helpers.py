"""What the P2P API tests share: a seller with an ad, a buyer, the sequencer's clock
moved forward, and a trade taken to a given state through the REST API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rest_helpers import Api, funded

from server import RunningServer


@dataclass
class Desk:
    server: RunningServer
    seller: Api
    buyer: Api
    method_id: int
    ad: dict[str, Any]

    @property
    def ad_id(self) -> int:
        return int(self.ad["ad_id"])

    def take(self, quantity: str = "0.1", **fields: Any) -> dict[str, Any]:
        trade: dict[str, Any] = self.buyer.ok("POST", f"/p2p/ads/{self.ad_id}/take",
                                              json={"quantity": quantity, **fields})
        return trade

    def paid(self, quantity: str = "0.1") -> dict[str, Any]:
        trade = self.take(quantity)
        paid: dict[str, Any] = self.buyer.ok(
            "POST", f"/p2p/trades/{trade['trade_id']}/paid",
            json={"expected_state": "pending_payment"})
        return paid


def desk(server: RunningServer, btc: str = "5", quantity: str = "2", price: str = "60000",
         window: int = 300, **ad: Any) -> Desk:
    """A seller holding ``btc`` with a sell ad of ``quantity`` BTC for EUR, and a buyer."""
    seller = Api(server, funded(server, BTC=btc))
    buyer = Api(server, funded(server, USD="1"))
    method = seller.ok("POST", "/p2p/payment-methods",
                       json={"name": "SEPA", "details": "DE89 3704 0044 0532 0130 00"})
    body = {"side": "sell", "asset": "BTC", "fiat": "EUR", "price": price,
            "quantity": quantity, "min_quantity": "0.01", "max_quantity": quantity,
            "payment_method_ids": [method["method_id"]], "payment_window_seconds": window,
            "terms": "SEPA instant only", **ad}
    posted = seller.ok("POST", "/p2p/ads", json=body)
    return Desk(server, seller, buyer, method["method_id"], posted)


def shift_clock(server: RunningServer, seconds: float) -> None:
    """Move the sequencer's clock ``seconds`` later (from now on, on top of earlier
    shifts): commands are stamped with it, so P2P deadlines pass without waiting."""
    sequencer = server.state.exchange.sequencer
    offset = getattr(sequencer, "test_offset_ns", 0) + int(seconds * 1e9)
    sequencer.test_offset_ns = offset
    sequencer.clock = lambda: time.time_ns() + offset


def minor(server: RunningServer, user_id: int, asset: str) -> tuple[int, int]:
    """``(available, held)`` of ``user_id`` in minor units, read on the server's loop."""

    async def read() -> tuple[int, int]:
        return server.state.reads.balance(user_id, asset)  # type: ignore[no-any-return]

    return server.call(read)


def escrow(server: RunningServer, asset: str = "BTC") -> int:
    async def read() -> int:
        return int(server.state.exchange.engine.p2p.escrow[asset])

    return server.call(read)
