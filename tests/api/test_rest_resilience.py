"""The REST API under pressure and across a restart, on SQLite and on PostgreSQL: a full
sequencer queue answers 503 with the BUSY code and loses nothing it acknowledged; a
restarted server on the same data keeps open orders, balances and closed orders."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_helpers import BACKENDS, Api, assert_error, caught_up, database, funded

from matchbook.api.errors import ApiCode
from server import Account, RunningServer, running_server

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run

PER_ACCOUNT = 30


async def _burst(server: RunningServer, accounts: list[Account], per_account: int,
                 start_price: int) -> list[tuple[int, dict[str, Any], dict[str, str]]]:
    """``per_account`` orders from each account, all sent at once over many connections."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=server.base_url + "/api/v1", limits=limits,
                                 timeout=60) as client:

        async def one(account: Account, i: int) -> tuple[int, dict[str, Any], dict[str, str]]:
            body = {"side": "buy", "price": f"{start_price + i}.00", "quantity": "0.001",
                    "client_order_id": f"burst-{start_price}-{i}"}
            response = await client.post("/orders", json=body, headers=account.headers)
            return response.status_code, response.json(), dict(response.headers)

        return await asyncio.gather(*(one(a, i) for a in accounts for i in range(per_account)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_queue_answers_busy_and_loses_nothing(backend: str, tmp_path: Path) -> None:
    with database(backend) as db, running_server(
            tmp_path, queue_size=2, max_batch=1, journal_mode="fsync",
            rate_limit_per_second=100_000.0, rate_limit_burst=100_000, **db) as server:
        accounts = [funded(server, USD="10000000") for _ in range(3)]
        accepted: dict[int, list[str]] = {a.user_id: [] for a in accounts}
        busy = 0
        for attempt in range(4):  # a burst big enough to overflow a queue of two
            results = asyncio.run(_burst(server, accounts, PER_ACCOUNT, 45_000 + attempt * 100))
            for (status, body, headers), (account, _) in zip(
                    results, [(a, i) for a in accounts for i in range(PER_ACCOUNT)], strict=True):
                assert status in (201, 503), (status, body)
                if status == 201:
                    accepted[account.user_id].append(body["order_id"])
                else:
                    assert body["code"] == ApiCode.BUSY and body["message"], body
                    assert int(headers["retry-after"]) >= 1
                    busy += 1
            if busy and sum(map(len, accepted.values())):
                break
        assert busy, "no request was refused: the queue never filled"
        assert sum(map(len, accepted.values())), "every request was refused"

        # every acknowledged order exists, and nothing refused slipped in
        for account in accounts:
            api = Api(server, account)
            open_ids = [o["order_id"] for o in api.ok("GET", "/orders", params={"limit": 1000})]
            assert sorted(open_ids, key=int) == sorted(accepted[account.user_id], key=int)
            for order_id in accepted[account.user_id][:20]:
                assert api.ok("GET", f"/orders/{order_id}")["status"] == "new"
        stats = Api(server, server.make_admin()).ok("GET", "/admin/stats")
        assert stats["busy_rejections"] >= busy
        assert stats["open_orders"] == sum(map(len, accepted.values()))


def _snapshot(server: RunningServer, accounts: list[Account]) -> dict[str, Any]:
    """What each user sees: open orders, balances, closed orders, fills, ledger."""
    seen = {}
    for account in accounts:
        api = Api(server, account)
        closed = api.ok("GET", "/orders", params={"status": "closed", "limit": 1000})
        for order in closed:
            order.pop("updated_ns", None)
        seen[account.email] = {
            "open": api.ok("GET", "/orders", params={"limit": 1000}),
            "balances": api.ok("GET", "/balances"),
            "closed": closed,
            "fills": api.ok("GET", "/fills", params={"limit": 1000}),
            "ledger": api.ok("GET", "/ledger", params={"limit": 1000}),
        }
        api.close()
    public = Api(server)
    seen["market"] = {
        "trades": public.ok("GET", "/trades", params={"symbol": "BTC-USD"}),
        "ticker": public.ok("GET", "/ticker", params={"symbol": "BTC-USD"}),
        **{f"candles {interval}": public.ok("GET", "/candles", params={
            "symbol": "BTC-USD", "interval": interval}) for interval in ("1m", "1h", "1d")},
    }
    public.close()
    return seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_restart_keeps_orders_balances_and_history(backend: str, tmp_path: Path) -> None:
    with database(backend) as db:
        with running_server(tmp_path, **db) as server:
            admin = Api(server, server.make_admin())
            alice = funded(server, USD="500000", BTC="5")
            bob = funded(server, USD="500000", BTC="5")
            a, b = Api(server, alice), Api(server, bob)
            for i in range(5):
                a.place("sell", f"{50000 + 10 * i}.00", "0.2")
                b.place("buy", f"{49900 - 10 * i}.00", "0.3")
            b.place("buy", "50020.00", "0.5")  # takes three levels of alice's asks
            a.place("sell", "49890.00", "0.4")  # takes bob's best bids
            cancelled = a.place("sell", "54000.00", "0.1")
            a.ok("DELETE", f"/orders/{cancelled['order_id']}")
            resting = a.place("sell", "50500.00", "0.3")
            a.ok("PATCH", f"/orders/{resting['order_id']}", json={"quantity": "0.1"})
            a.ok("POST", "/withdrawals", json={"asset": "USD", "amount": "10"})
            caught_up(server, admin)
            before = _snapshot(server, [alice, bob])
            last = admin.ok("GET", "/admin/stats")["seq"]
        assert before[alice.email]["open"] and before[alice.email]["closed"]
        assert before[bob.email]["fills"]
        market = before["market"]
        assert len(market["trades"]) == 5 and market["ticker"]["trades"] == 5
        assert sum(c["trades"] for c in market["candles 1m"]) == 5

        with running_server(tmp_path, **db) as server:
            admin = Api(server, server.make_admin())
            assert admin.ok("GET", "/admin/stats")["seq"] >= last
            caught_up(server, admin)
            after = _snapshot(server, [alice, bob])
            assert after == before
            pending = admin.ok("GET", "/admin/withdrawals")
            assert [w["user_id"] for w in pending] == [alice.user_id]
            # the exchange carries on: new ids follow the old ones, the books are whole
            newest = max(int(o["order_id"]) for o in before[alice.email]["closed"])
            placed = Api(server, bob).place("buy", "49000.00", "0.1")
            assert int(placed["order_id"]) > newest
            depth = Api(server).ok("GET", "/depth", params={"symbol": "BTC-USD"})
            asks = {price for price, _ in depth["asks"]}
            assert asks == {o["price"] for o in before[alice.email]["open"]}
            assert_error(Api(server, alice).get("/orders/999999"), 404)
