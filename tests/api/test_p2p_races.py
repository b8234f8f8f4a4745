"""Races against a real server: concurrent clients on their own sockets send conflicting
P2P actions at the same moment, round after round, and the money moves exactly once.

* two releases at once: one answer 200, the other 409; one payout;
* a release against the payment window's expiry: the trade either completes (paid in
  time) or expires with the escrow back, never both;
* takes against the ad's cancel: what was taken plus what came back is the ad;
* a cancel against a mark-paid: exactly one of them happens;
* the same idempotency key twice at once: one trade, one payout;
* a restart in the middle of a trade keeps it, with its deadline moved by the downtime.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from p2p_rest_helpers import desk, escrow, minor
from rest_helpers import Api, funded

from matchbook.core.codes import Code
from server import RunningServer, running_server

pytestmark = pytest.mark.slow  # a real server and concurrent clients
ROUNDS = 12
QTY = 10_000_000  # 0.1 BTC in minor units


def _client(server: RunningServer, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url + "/api/v1", timeout=30,
                             headers={"Authorization": f"Bearer {token}"})


async def _at_once(*calls: tuple[httpx.AsyncClient, str, dict[str, Any]]
                   ) -> list[httpx.Response]:
    """Send every ``(client, path, json)`` POST at the same moment, each on its own
    connection, and return the answers in order."""
    return list(await asyncio.gather(*(client.post(path, json=body)
                                       for client, path, body in calls)))


def _fee(qty: int) -> int:
    return qty * 10 // 10_000  # fee_bps = 10 in the shipped markets.toml


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_server(Path(tmp_path_factory.mktemp("p2p-races")),
                        rate_limit_per_second=1e6, rate_limit_burst=10**6) as running:
        yield running


def test_two_releases_at_once_pay_once(server: RunningServer) -> None:
    d = desk(server, btc="5", quantity="3")
    buyer_id = d.buyer.account.user_id

    async def main() -> None:
        a, b = _client(server, d.seller.account.token), _client(server, d.seller.account.token)
        async with a, b:
            for _ in range(ROUNDS):
                trade = await asyncio.to_thread(d.paid, "0.1")
                before = minor(server, buyer_id, "BTC")[0]
                path = f"/p2p/trades/{trade['trade_id']}/release"
                answers = await _at_once((a, path, {"expected_state": "paid"}),
                                         (b, path, {"expected_state": "paid"}))
                assert sorted(r.status_code for r in answers) == [200, 409]
                refused = next(r for r in answers if r.status_code == 409).json()
                assert (refused["code"], refused["state"]) == (Code.STATE_MISMATCH,
                                                               "completed")
                assert minor(server, buyer_id, "BTC")[0] - before == QTY - _fee(QTY)

    asyncio.run(main())


def test_a_release_against_the_expiry_moves_the_money_once(server: RunningServer) -> None:
    d = desk(server, btc="5", quantity="3", window=300)
    seller_id = d.seller.account.user_id
    outcomes: Counter[str] = Counter()

    async def main() -> None:
        buyer = _client(server, d.buyer.account.token)
        seller = _client(server, d.seller.account.token)
        async with buyer, seller:
            for round_ in range(ROUNDS):
                # a new buyer each round: expiries count against the buyer (a ban at 3)
                d.buyer = Api(server, funded(server, USD="1"))
                buyer_id = d.buyer.account.user_id
                buyer.headers["Authorization"] = f"Bearer {d.buyer.account.token}"
                trade = await asyncio.to_thread(d.take, "0.1")
                tid = trade["trade_id"]
                buyer_before = minor(server, buyer_id, "BTC")[0]
                ad_before = _ad_remaining(server, d.ad_id)
                # the payment window ends around the moment the two requests arrive:
                # from 200 ms after it to 10 ms before it (requests take some ms to come)
                _clock_at(server, _ns(trade["pay_by"]) - 200_000_000
                          + 30_000_000 * (round_ % 8))
                answers = await _at_once(
                    (buyer, f"/p2p/trades/{tid}/paid", {"expected_state": "pending_payment"}),
                    (seller, f"/p2p/trades/{tid}/release", {"expected_state": "paid"}))
                if answers[0].status_code == 200 and answers[1].status_code != 200:
                    answers[1] = await seller.post(f"/p2p/trades/{tid}/release",
                                                   json={"expected_state": "paid"})
                final = (await buyer.get(f"/p2p/trades/{tid}")).json()["state"]
                outcomes[final] += 1
                got = minor(server, buyer_id, "BTC")[0] - buyer_before
                if final == "completed":
                    assert answers[0].status_code == 200
                    assert got == QTY - _fee(QTY)
                    assert _ad_remaining(server, d.ad_id) == ad_before
                else:
                    assert final == "expired"
                    assert answers[0].status_code == 400
                    assert answers[0].json()["code"] == Code.PAYMENT_WINDOW_PASSED
                    assert answers[1].status_code == 409
                    assert got == 0
                    assert _ad_remaining(server, d.ad_id) == ad_before + QTY  # escrow back
                assert minor(server, seller_id, "BTC")[0] == 200_000_000  # never the seller's

    asyncio.run(main())
    assert sum(outcomes.values()) == ROUNDS, outcomes
    print("release against expiry:", dict(outcomes))


def _clock_at(server: RunningServer, at_ns: int) -> None:
    """The sequencer's clock reads ``at_ns`` now (it only ever moves forward here)."""
    sequencer = server.state.exchange.sequencer
    offset = at_ns - time.time_ns()
    sequencer.test_offset_ns = offset
    sequencer.clock = lambda: time.time_ns() + offset


def _ad_remaining(server: RunningServer, ad_id: int) -> int:
    async def read() -> int:
        return int(server.state.exchange.engine.p2p.ads[ad_id].remaining_minor)

    return server.call(read)


def test_takes_against_the_ads_cancel(server: RunningServer) -> None:
    for round_ in range(4):
        escrow_before = escrow(server)
        d = desk(server, btc="1", quantity="1")
        seller_id = d.seller.account.user_id
        takers = [Api(server, funded(server, USD="1")) for _ in range(8)]

        answers = asyncio.run(_takes_and_cancel(server, d.ad_id, d.seller.account.token,
                                                [t.account.token for t in takers], 2 + round_))
        cancel = answers.pop(2 + round_)
        assert cancel.status_code == 200 and cancel.json()["state"] == "cancelled"
        takes = answers
        taken = sum(1 for r in takes if r.status_code == 201)
        for r in takes:
            assert r.status_code in (201, 400), r.text
            if r.status_code == 400:
                assert r.json()["code"] == Code.AD_NOT_OPEN
        # what was taken is in escrow for the trades; the rest came back to the maker
        assert minor(server, seller_id, "BTC") == (100_000_000 - taken * QTY, 0)
        assert escrow(server) - escrow_before == taken * QTY


async def _takes_and_cancel(server: RunningServer, ad_id: int, maker_token: str,
                            taker_tokens: list[str], at: int) -> list[httpx.Response]:
    """Every taker takes 0.1 while the maker cancels (the cancel is ``at`` among them)."""
    clients = [_client(server, token) for token in taker_tokens]
    maker = _client(server, maker_token)
    try:
        calls = [(c, f"/p2p/ads/{ad_id}/take", {"quantity": "0.1"}) for c in clients]
        calls.insert(at, (maker, f"/p2p/ads/{ad_id}/cancel", {}))
        return await _at_once(*calls)
    finally:
        for c in [*clients, maker]:
            await c.aclose()


def test_a_cancel_against_a_mark_paid(server: RunningServer) -> None:
    d = desk(server, btc="5", quantity="3")
    wins: Counter[str] = Counter()

    async def main() -> None:
        for _ in range(ROUNDS):
            # A new buyer each round: a buyer whose cancels win more than the desk's
            # cancel limit (3 a day) is banned from P2P, which is not what this tests.
            buyer = await asyncio.to_thread(lambda: Api(server, funded(server, USD="1")))
            trade = await asyncio.to_thread(
                buyer.ok, "POST", f"/p2p/ads/{d.ad_id}/take", json={"quantity": "0.1"})
            tid = trade["trade_id"]
            body = {"expected_state": "pending_payment"}
            a, b = _client(server, buyer.account.token), _client(server, buyer.account.token)
            async with a, b:
                paid, cancelled = await _at_once((a, f"/p2p/trades/{tid}/paid", body),
                                                 (b, f"/p2p/trades/{tid}/cancel", body))
            assert sorted([paid.status_code, cancelled.status_code]) == [200, 409]
            winner = paid if paid.status_code == 200 else cancelled
            loser = cancelled if winner is paid else paid
            assert loser.json()["state"] == winner.json()["state"]
            assert winner.json()["state"] == ("paid" if winner is paid else "cancelled")
            wins[winner.json()["state"]] += 1

    asyncio.run(main())
    assert sum(wins.values()) == ROUNDS
    # what was cancelled went back on the ad; what was paid stays taken
    ad = d.seller.ok("GET", f"/p2p/ads/{d.ad_id}")
    assert Decimal(ad["remaining"]) == Decimal("3") - Decimal("0.1") * wins["paid"]


def test_the_same_idempotency_key_twice_at_once_has_one_effect(
        server: RunningServer) -> None:
    d = desk(server, btc="5", quantity="3")
    buyer_id = d.buyer.account.user_id

    async def main() -> None:
        a, b = _client(server, d.buyer.account.token), _client(server, d.buyer.account.token)
        sa, sb = (_client(server, d.seller.account.token),
                  _client(server, d.seller.account.token))
        async with a, b, sa, sb:
            for round_ in range(ROUNDS):
                remaining = _ad_remaining(server, d.ad_id)
                key = {"quantity": "0.1", "idempotency_key": f"take-{round_}"}
                first, second = await _at_once((a, f"/p2p/ads/{d.ad_id}/take", key),
                                               (b, f"/p2p/ads/{d.ad_id}/take", key))
                assert first.status_code == second.status_code == 201
                assert first.json()["trade_id"] == second.json()["trade_id"]
                assert _ad_remaining(server, d.ad_id) == remaining - QTY
                tid = first.json()["trade_id"]
                await a.post(f"/p2p/trades/{tid}/paid",
                             json={"expected_state": "pending_payment"})
                before = minor(server, buyer_id, "BTC")[0]
                body = {"expected_state": "paid", "idempotency_key": f"release-{round_}"}
                r1, r2 = await _at_once((sa, f"/p2p/trades/{tid}/release", body),
                                        (sb, f"/p2p/trades/{tid}/release", body))
                assert r1.status_code == r2.status_code == 200
                assert r1.json()["state"] == r2.json()["state"] == "completed"
                assert minor(server, buyer_id, "BTC")[0] - before == QTY - _fee(QTY)

    asyncio.run(main())


def test_a_restart_keeps_the_trade_and_moves_its_deadline_by_the_downtime(
        tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        d = desk(server, window=300)
        trade = d.take("0.2")
        tid, pay_by = trade["trade_id"], trade["pay_by"]
        seller, buyer = d.seller.account, d.buyer.account
        stopped = time.time_ns()
    time.sleep(2.0)  # the exchange is down
    with running_server(tmp_path) as server:
        restarted = time.time_ns()
        again = httpx.get(f"{server.base_url}/api/v1/p2p/trades/{tid}",
                          headers={"Authorization": f"Bearer {buyer.token}"}).json()
        assert again["state"] == "pending_payment"
        moved = _ns(again["pay_by"]) - _ns(pay_by)
        assert 2.0e9 - 0.1e9 <= moved <= restarted - stopped + 0.1e9  # by the downtime
        paid = httpx.post(f"{server.base_url}/api/v1/p2p/trades/{tid}/paid",
                          json={"expected_state": "pending_payment"},
                          headers={"Authorization": f"Bearer {buyer.token}"})
        assert paid.status_code == 200, paid.text
        done = httpx.post(f"{server.base_url}/api/v1/p2p/trades/{tid}/release",
                          json={"expected_state": "paid"},
                          headers={"Authorization": f"Bearer {seller.token}"})
        assert done.json()["state"] == "completed"


def _ns(iso: str) -> int:
    from datetime import datetime

    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    whole = int(moment.timestamp()) * 1_000_000_000
    return whole + moment.microsecond * 1000
