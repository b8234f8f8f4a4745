"""The P2P REST contract against a real server: every route, its answers and its
refusals (409 on a state mismatch with the current state, 403 for a role, 404 for what
is not yours), idempotency keys, payment details kept to the parties, disputes with a
second administrator, deadlines fired by the clock, the read model (timeline, chat,
notifications, stats, audit log) on SQLite and PostgreSQL, and the private stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from p2p_rest_helpers import desk, escrow, minor, shift_clock
from rest_helpers import BACKENDS, Api, assert_error, caught_up, eventually, funded, rest_server

from matchbook.api.errors import ApiCode
from matchbook.core.codes import Code
from server import RunningServer, running_server

pytestmark = pytest.mark.slow  # a real server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(Path(tmp_path_factory.mktemp("p2p"))) as running:
        yield running


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_trade_from_ad_to_feedback_with_its_read_model(backend: str,
                                                         tmp_path: Path) -> None:
    with rest_server(backend, tmp_path) as server:
        admin = Api(server, server.make_admin())
        d = desk(server, btc="3", quantity="2")
        ad = d.ad
        assert (ad["state"], ad["side"], ad["price"], ad["remaining"]) == (
            "open", "sell", "60000.00", "2.00000000")
        assert ad["payment_methods"] == [{"method_id": d.method_id, "name": "SEPA"}]
        assert "DE89" not in json.dumps(ad)  # no payment details on the board
        assert minor(server, d.seller.account.user_id, "BTC") == (100_000_000, 0)
        assert escrow(server) == 200_000_000
        wallet = {b["asset"]: b for b in d.seller.ok("GET", "/balances")}["BTC"]
        assert (wallet["available"], wallet["escrow"], wallet["total"]) == (
            "1.00000000", "2.00000000", "3.00000000")

        public = Api(server)
        board = public.ok("GET", "/p2p/ads", params={"side": "sell", "asset": "BTC",
                                                       "fiat": "EUR"})
        assert [a["ad_id"] for a in board] == [d.ad_id]
        assert public.ok("GET", "/p2p/ads", params={"side": "buy"}) == []
        assert public.ok("GET", "/p2p/ads", params={"fiat": "GBP"}) == []
        assert public.ok("GET", f"/p2p/ads/{d.ad_id}")["ad_id"] == d.ad_id

        trade = d.take("0.5")
        tid = trade["trade_id"]
        assert (trade["state"], trade["my_role"], trade["fiat_amount"], trade["quantity"]) == (
            "pending_payment", "buyer", "30000.00", "0.50000000")
        assert trade["allowed_actions"] == ["paid", "cancel"]
        assert trade["payment_method"]["details"].startswith("DE89")  # the buyer pays there
        assert trade["pay_by"] and trade["now"] < trade["pay_by"]
        assert public.ok("GET", f"/p2p/ads/{d.ad_id}")["remaining"] == "1.50000000"

        seller_view = d.seller.ok("GET", f"/p2p/trades/{tid}")
        assert (seller_view["my_role"], seller_view["allowed_actions"]) == ("seller", [])
        paid = d.buyer.ok("POST", f"/p2p/trades/{tid}/paid",
                          json={"expected_state": "pending_payment"})
        assert (paid["state"], paid["allowed_actions"], paid["pay_by"]) == (
            "paid", ["cancel"], None)
        assert paid["appeal_after"] and paid["escalate_at"]
        assert d.seller.ok("GET", f"/p2p/trades/{tid}")["allowed_actions"] == ["release"]
        done = d.seller.ok("POST", f"/p2p/trades/{tid}/release",
                           json={"expected_state": "paid"})
        assert (done["state"], done["fee"]) == ("completed", "0.00050000")  # 10 bp
        assert minor(server, d.buyer.account.user_id, "BTC") == (49_950_000, 0)
        assert escrow(server) == 150_000_000

        message = d.buyer.ok("POST", f"/p2p/trades/{tid}/messages", json={"text": "got it"})
        assert (message["author"], message["text"]) == ("buyer", "got it")
        feedback = d.buyer.ok("POST", f"/p2p/trades/{tid}/feedback",
                              json={"positive": True, "comment": "fast"})
        assert feedback["to_user_id"] == d.seller.account.user_id
        assert_error(d.buyer.post(f"/p2p/trades/{tid}/feedback", json={"positive": False}),
                     400, Code.FEEDBACK_NOT_ALLOWED)  # once only

        caught_up(server, admin)
        detail = d.buyer.ok("GET", f"/p2p/trades/{tid}")
        assert [(s["from_state"], s["to_state"], s["actor"]) for s in detail["timeline"]] == [
            (None, "pending_payment", "buyer"), ("pending_payment", "paid", "buyer"),
            ("paid", "completed", "seller")]
        assert [f["comment"] for f in detail["feedback"]] == ["fast"]
        assert detail["fee"] == "0.00050000"  # as the release charged it
        chat = d.seller.ok("GET", f"/p2p/trades/{tid}/messages")
        assert [m["author"] for m in chat] == ["system", "system", "system", "buyer"]
        assert d.seller.ok("GET", f"/p2p/trades/{tid}/messages",
                           params={"after_seq": chat[-2]["seq"]})[-1]["text"] == "got it"

        stats = public.ok("GET", f"/p2p/users/{d.seller.account.user_id}/stats")
        assert (stats["completed_trades"], stats["finished_trades"], stats["completion_rate"],
                stats["positive_feedback"], stats["negative_feedback"]) == (1, 1, "1", 1, 0)
        assert stats["median_release_seconds"] == 0

        inbox = d.seller.ok("GET", "/notifications")
        kinds = [n["kind"] for n in inbox["notifications"]]
        assert kinds == ["feedback", "message", "trade_paid", "trade_opened"]
        assert inbox["unread"] == 4
        first = inbox["notifications"][-1]["notification_id"]
        assert d.seller.ok("POST", "/notifications/read", json={"ids": [first]})["unread"] == 3
        page = d.seller.ok("GET", "/notifications", params={"limit": 2})
        assert page["next_before"] is not None and len(page["notifications"]) == 2
        rest = d.seller.ok("GET", "/notifications", params={"before": page["next_before"]})
        assert [n["read"] for n in rest["notifications"]] == [False, True]
        newest = inbox["notifications"][0]["notification_id"]
        assert d.seller.ok("POST", "/notifications/read", json={"up_to": newest})["unread"] == 0
        assert d.seller.ok("GET", "/notifications", params={"unread": True})[
            "notifications"] == []
        assert [n["kind"] for n in d.buyer.ok("GET", "/notifications")["notifications"]] == [
            "trade_released"]

        audit = admin.ok("GET", "/admin/audit", params={"limit": 50})
        kinds = {e["command_type"] for e in audit}
        assert {"AddPaymentMethod", "PostAd", "TakeAd", "MarkPaid", "ReleaseEscrow",
                "PostTradeMessage", "LeaveFeedback"} <= kinds
        refused = [e for e in audit if e["command_type"] == "LeaveFeedback"
                   and e["result_code"] == Code.FEEDBACK_NOT_ALLOWED]
        assert refused and refused[0]["user_id"] == d.buyer.account.user_id


def test_refusals_name_the_code_and_the_status(server: RunningServer) -> None:
    d = desk(server)
    stranger = Api(server, funded(server, USD="1"))
    trade = d.take()
    tid = trade["trade_id"]
    # 409: the trade is not where the client thinks, and the answer says where it is
    body = assert_error(d.buyer.post(f"/p2p/trades/{tid}/release",
                                     json={"expected_state": "paid"}), 403, Code.NOT_YOUR_ROLE)
    body = assert_error(d.seller.post(f"/p2p/trades/{tid}/release",
                                      json={"expected_state": "paid"}), 409,
                        Code.STATE_MISMATCH)
    assert body["state"] == "pending_payment"
    assert_error(d.seller.post(f"/p2p/trades/{tid}/paid",
                               json={"expected_state": "pending_payment"}), 403,
                 Code.NOT_YOUR_ROLE)
    assert_error(d.seller.post(f"/p2p/trades/{tid}/cancel",
                               json={"expected_state": "pending_payment"}), 403,
                 Code.NOT_YOUR_ROLE)  # the seller never cancels a taken trade
    # 404: not theirs, or not there
    assert_error(stranger.get(f"/p2p/trades/{tid}"), 404, Code.UNKNOWN_P2P_TRADE)
    assert_error(stranger.post(f"/p2p/trades/{tid}/paid",
                               json={"expected_state": "pending_payment"}), 404,
                 Code.UNKNOWN_P2P_TRADE)
    assert_error(stranger.get(f"/p2p/trades/{tid}/messages"), 404, Code.UNKNOWN_P2P_TRADE)
    assert_error(d.buyer.get("/p2p/trades/999999"), 404, Code.UNKNOWN_P2P_TRADE)
    assert_error(d.buyer.get("/p2p/ads/999999"), 404, Code.UNKNOWN_AD)
    assert_error(d.buyer.post("/p2p/ads/999999/take", json={"quantity": "0.1"}), 404,
                 Code.UNKNOWN_AD)
    # ads: only the maker changes them; nobody takes their own
    assert_error(stranger.post(f"/p2p/ads/{d.ad_id}/pause"), 403, Code.AD_NOT_YOURS)
    assert_error(d.seller.post(f"/p2p/ads/{d.ad_id}/take", json={"quantity": "0.1"}), 400,
                 Code.OWN_AD)
    assert_error(d.buyer.post(f"/p2p/ads/{d.ad_id}/take", json={"quantity": "99"}), 400,
                 Code.QUANTITY_OUT_OF_RANGE)
    assert_error(d.buyer.post(f"/p2p/ads/{d.ad_id}/take", json={"quantity": "0.000000001"}),
                 400, Code.INVALID_QUANTITY)  # beyond the asset's decimals
    # the buyer paid: a cancel needs confirm, a dispute waits for appeal_after
    d.buyer.ok("POST", f"/p2p/trades/{tid}/paid", json={"expected_state": "pending_payment"})
    assert_error(d.buyer.post(f"/p2p/trades/{tid}/cancel", json={"expected_state": "paid"}),
                 400, Code.CONFIRM_REQUIRED)
    assert_error(d.buyer.post(f"/p2p/trades/{tid}/dispute", json={
        "expected_state": "paid", "reason": "other", "text": "?"}), 400, Code.APPEAL_TOO_EARLY)
    # request shape
    assert_error(d.buyer.post(f"/p2p/trades/{tid}/paid", json={"expected_state": "nope"}),
                 422, ApiCode.VALIDATION)
    assert_error(d.buyer.post(f"/p2p/trades/{tid}/paid", json={}), 422, ApiCode.VALIDATION)
    assert_error(Api(server).get("/p2p/trades"), 401, ApiCode.UNAUTHENTICATED)
    assert_error(d.buyer.get("/admin/p2p/disputes"), 403, ApiCode.FORBIDDEN)
    assert_error(d.buyer.post(f"/admin/p2p/disputes/{tid}/resolve",
                              json={"outcome": "release", "note": "x"}), 403,
                 ApiCode.FORBIDDEN)
    # a buy ad's taker needs the funds and a method of the kind the ad accepts
    maker = Api(server, funded(server, USD="1"))
    method = maker.ok("POST", "/p2p/payment-methods", json={"name": "Revolut", "details": "@m"})
    buy_ad = maker.ok("POST", "/p2p/ads", json={
        "side": "buy", "asset": "BTC", "fiat": "EUR", "price": "59000", "quantity": "1",
        "payment_method_ids": [method["method_id"]]})
    assert_error(stranger.post(f"/p2p/ads/{buy_ad['ad_id']}/take", json={"quantity": "0.5"}),
                 404, Code.UNKNOWN_PAYMENT_METHOD)
    assert_error(maker.post("/p2p/ads", json={
        "side": "sell", "asset": "BTC", "fiat": "EUR", "price": "1", "quantity": "1"}), 400)
    assert_error(maker.post("/p2p/ads", json={
        "side": "sell", "asset": "BTC", "fiat": "XXX", "price": "1", "quantity": "1"}), 404,
        Code.UNKNOWN_FIAT)
    assert_error(maker.post("/p2p/ads", json={
        "side": "sell", "asset": "BTC", "fiat": "EUR", "quantity": "1"}), 400,
        Code.INVALID_AD)  # neither a price nor a margin


def test_ad_lifecycle_and_a_buy_ad(server: RunningServer) -> None:
    d = desk(server, btc="2", quantity="1")
    seller_id = d.seller.account.user_id
    assert d.seller.ok("POST", f"/p2p/ads/{d.ad_id}/pause")["state"] == "paused"
    assert d.buyer.ok("GET", "/p2p/ads", params={"asset": "BTC"}) == [] or all(
        a["ad_id"] != d.ad_id for a in d.buyer.ok("GET", "/p2p/ads"))
    assert_error(d.buyer.post(f"/p2p/ads/{d.ad_id}/take", json={"quantity": "0.1"}), 400,
                 Code.AD_NOT_OPEN)
    assert d.seller.ok("POST", f"/p2p/ads/{d.ad_id}/resume")["state"] == "open"
    d.take("0.4")  # a live trade keeps its escrow through the ad's cancel
    cancelled = d.seller.ok("POST", f"/p2p/ads/{d.ad_id}/cancel")
    assert (cancelled["state"], cancelled["remaining"]) == ("cancelled", "0.00000000")
    assert minor(server, seller_id, "BTC") == (160_000_000, 0)
    mine = d.seller.ok("GET", "/p2p/ads/mine")
    assert [a["ad_id"] for a in mine] == [d.ad_id]

    # a buy ad: the taker (seller) puts the asset in escrow at take
    maker = Api(server, funded(server, USD="1"))
    method = maker.ok("POST", "/p2p/payment-methods", json={"name": "SEPA", "details": "FR76"})
    buy_ad = maker.ok("POST", "/p2p/ads", json={
        "side": "buy", "asset": "BTC", "fiat": "EUR", "price": "61000", "quantity": "1",
        "payment_method_ids": [method["method_id"]]})
    taken = d.seller.ok("POST", f"/p2p/ads/{buy_ad['ad_id']}/take", json={"quantity": "0.5"})
    assert (taken["my_role"], taken["ad_side"], taken["buyer_id"]) == (
        "seller", "buy", maker.account.user_id)
    assert taken["payment_method"]["details"].startswith("DE89")  # the seller's own method
    assert minor(server, seller_id, "BTC") == (110_000_000, 0)
    listed = d.seller.ok("GET", "/p2p/trades", params={"status": "live"})
    assert listed[0]["trade_id"] == taken["trade_id"]
    assert all(t["state"] in ("pending_payment", "paid", "disputed") for t in listed)
    methods = d.seller.ok("GET", "/p2p/payment-methods")
    assert [m["method_id"] for m in methods] == [d.method_id]
    assert d.seller.ok("DELETE", f"/p2p/payment-methods/{d.method_id}")["removed"]
    assert d.seller.ok("GET", "/p2p/payment-methods") == []


def test_the_same_idempotency_key_answers_the_first_answer(server: RunningServer) -> None:
    d = desk(server)
    first = d.take("0.2", idempotency_key="take-1")
    again = d.buyer.post(f"/p2p/ads/{d.ad_id}/take", json={"quantity": "0.2"},
                         headers={"Idempotency-Key": "take-1"})
    assert again.status_code == 201 and again.json()["trade_id"] == first["trade_id"]
    assert d.buyer.ok("GET", f"/p2p/ads/{d.ad_id}")["remaining"] == "1.80000000"
    tid = first["trade_id"]
    body = {"expected_state": "pending_payment", "idempotency_key": "pay-1"}
    paid = d.buyer.ok("POST", f"/p2p/trades/{tid}/paid", json=body)
    repeat = d.buyer.post(f"/p2p/trades/{tid}/paid", json=body)
    assert repeat.status_code == 200 and repeat.json()["state"] == paid["state"] == "paid"
    # a refusal repeats as the same refusal
    wrong = {"expected_state": "pending_payment", "idempotency_key": "pay-2"}
    assert_error(d.buyer.post(f"/p2p/trades/{tid}/paid", json=wrong), 409,
                 Code.STATE_MISMATCH)
    assert_error(d.buyer.post(f"/p2p/trades/{tid}/paid", json=wrong), 409,
                 Code.STATE_MISMATCH)
    assert_error(d.buyer.post(f"/p2p/trades/{tid}/paid", json={
        "expected_state": "paid"}, headers={"Idempotency-Key": "bad key with spaces"}), 422)


def test_payment_details_only_to_the_parties_and_to_admins_in_a_dispute(
        server: RunningServer) -> None:
    d = desk(server)
    admin = Api(server, server.make_admin())
    trade = d.paid()
    tid = trade["trade_id"]
    assert_error(admin.get(f"/p2p/trades/{tid}"), 404, Code.UNKNOWN_P2P_TRADE)  # no dispute
    shift_clock(server, 901)  # appeal_after: 15 minutes after marking paid
    opened = d.buyer.ok("POST", f"/p2p/trades/{tid}/dispute", json={
        "expected_state": "paid", "reason": "payment_not_confirmed", "text": "sent on time"})
    assert opened["state"] == "disputed" and opened["dispute"]["opened_by"] == (
        d.buyer.account.user_id)
    assert opened["allowed_actions"] == ["withdraw-dispute"]
    seen = admin.ok("GET", f"/p2p/trades/{tid}")
    assert (seen["my_role"], seen["allowed_actions"]) == ("admin", ["resolve"])
    assert seen["payment_method"]["details"].startswith("DE89")
    eventually(lambda: _dispute_recorded(admin, tid))
    posted = admin.ok("POST", f"/p2p/trades/{tid}/messages",
                      json={"text": "Upload the receipt."})
    assert posted["author"] == "admin"

    def in_chat() -> None:
        chat = d.buyer.ok("GET", f"/p2p/trades/{tid}/messages")
        assert chat[-1]["author"] == "admin"

    eventually(in_chat)
    withdrawn = d.buyer.ok("POST", f"/p2p/trades/{tid}/withdraw-dispute",
                           json={"expected_state": "disputed"})
    assert withdrawn["state"] == "paid"


def _dispute_recorded(admin: Api, tid: int) -> None:
    queue = admin.ok("GET", "/admin/p2p/disputes")
    found = [t for t in queue if t["trade_id"] == tid]
    assert found and found[0]["dispute"]["reason"] == "payment_not_confirmed"
    assert found[0]["dispute"]["text"] == "sent on time"
    assert found[0]["timeline"][-1]["to_state"] == "disputed"


def test_a_large_dispute_needs_a_second_admin(server: RunningServer) -> None:
    d = desk(server, btc="5", quantity="3")  # BTC above 1 needs a second admin (config)
    first, second = Api(server, server.make_admin()), Api(server, server.make_admin())
    trade = d.paid("1.5")
    tid = trade["trade_id"]
    shift_clock(server, 901)
    d.seller.ok("POST", f"/p2p/trades/{tid}/dispute", json={
        "expected_state": "paid", "reason": "payment_not_received", "text": "nothing came"})
    proposed = first.ok("POST", f"/admin/p2p/disputes/{tid}/resolve",
                        json={"outcome": "refund", "note": "no transfer shown"})
    assert proposed["state"] == "disputed"
    assert (proposed["dispute"]["proposed_outcome"], proposed["dispute"]["proposed_by"]) == (
        "refund", first.account.user_id)
    assert proposed["allowed_actions"] == []  # the proposer cannot confirm it
    assert_error(first.post(f"/admin/p2p/disputes/{tid}/resolve",
                            json={"outcome": "refund", "note": "again"}), 400, Code.SAME_ADMIN)
    before = minor(server, d.seller.account.user_id, "BTC")
    done = second.ok("POST", f"/admin/p2p/disputes/{tid}/resolve",
                     json={"outcome": "refund", "note": "agreed"})
    assert done["state"] == "resolved_refund"
    after = minor(server, d.seller.account.user_id, "BTC")
    assert after[0] - before[0] == 150_000_000  # back to the seller (a sell ad's trade)
    assert_error(second.post(f"/admin/p2p/disputes/{tid}/resolve",
                             json={"outcome": "release", "note": "late"}), 409,
                 Code.STATE_MISMATCH)
    # moderation: an admin removes an ad and its maker is told why
    removed = first.ok("POST", f"/admin/p2p/ads/{d.ad_id}/cancel", json={"reason": "spam"})
    assert removed["state"] == "cancelled"
    assert any(a["ad_id"] == d.ad_id for a in first.ok("GET", "/admin/p2p/ads",
                                                        params={"status": "cancelled"}))

    def told() -> None:
        kinds = [n["kind"] for n in d.seller.ok("GET", "/notifications")["notifications"]]
        assert "ad_cancelled" in kinds and "dispute_resolved" in kinds

    eventually(told)


def test_the_clock_expires_an_unpaid_trade_and_tells_the_stream(
        server: RunningServer) -> None:
    d = desk(server)
    seller_before = minor(server, d.seller.account.user_id, "BTC")

    async def watch() -> list[dict[str, Any]]:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"op": "auth", "token": d.buyer.account.token}))
            await ws.send(json.dumps({"op": "subscribe", "channel": "p2p"}))
            seen: list[dict[str, Any]] = []
            loop = asyncio.get_running_loop()
            taken = await loop.run_in_executor(None, d.take, "0.3")
            await loop.run_in_executor(None, shift_clock, server, 301)
            while not any(m.get("type") == "p2p_trade" and m["trade"]["state"] == "expired"
                          for m in seen):
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            assert taken["trade_id"] == seen[-1]["trade"]["trade_id"]
            while not any(m.get("type") == "notification" for m in seen):
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return seen

    seen = asyncio.run(watch())
    types = [m["type"] for m in seen]
    assert types[:2] == ["authenticated", "subscribed"] or "subscribed" in types
    assert "p2p_snapshot" in types
    trades = [m for m in seen if m["type"] == "p2p_trade"]
    assert [(m["event"], m["trade"]["state"]) for m in trades] == [
        ("opened", "pending_payment"), ("changed", "expired")]
    assert trades[-1]["trade"]["my_role"] == "buyer" and trades[-1]["reason"]
    assert any(m["type"] == "p2p_message" and m["message"]["author"] == "system" for m in seen)
    note = next(m for m in seen if m["type"] == "notification")["notification"]
    assert note["kind"] == "trade_expired"
    # the escrow went back to the sell ad, not lost
    assert d.buyer.ok("GET", f"/p2p/ads/{d.ad_id}")["remaining"] == "2.00000000"
    assert minor(server, d.seller.account.user_id, "BTC") == seller_before

    def in_inbox() -> None:
        ids = [n["notification_id"] for n in d.buyer.ok("GET", "/notifications")[
            "notifications"]]
        assert note["notification_id"] in ids  # the push and the inbox agree

    eventually(in_inbox)


def test_admins_hear_the_dispute_queue_move_on_the_stream(server: RunningServer) -> None:
    """A dispute opened, a resolution proposed (waiting for a second administrator) and a
    dispute closed reach every administrator following ``p2p``, and no trader."""
    d = desk(server, btc="5", quantity="3")
    first, second = Api(server, server.make_admin()), Api(server, server.make_admin())
    tid = d.paid("1.5")["trade_id"]  # above 1 BTC: two administrators
    shift_clock(server, 901)

    async def listen(token: str, seen: list[dict[str, Any]], until: Any) -> None:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"op": "auth", "token": token}))
            await ws.send(json.dumps({"op": "subscribe", "channel": "p2p"}))
            while not any(m.get("type") == "p2p_snapshot" for m in seen):
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            if not until.done():
                until.set_result(None)
            deadline = asyncio.get_running_loop().time() + 30  # heartbeats keep it talking
            while asyncio.get_running_loop().time() < deadline:
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
                if any(m.get("type") == "p2p_dispute" and m["event"] == "closed" for m in seen):
                    return
                if token == d.buyer.account.token and any(
                        m.get("type") == "p2p_trade" and m["trade"]["state"] == "resolved_refund"
                        for m in seen):
                    return

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        admin_seen: list[dict[str, Any]] = []
        buyer_seen: list[dict[str, Any]] = []
        ready = [loop.create_future(), loop.create_future()]
        tasks = [asyncio.create_task(listen(first.account.token, admin_seen, ready[0])),
                 asyncio.create_task(listen(d.buyer.account.token, buyer_seen, ready[1]))]
        await asyncio.gather(*ready)

        def act() -> None:
            d.seller.ok("POST", f"/p2p/trades/{tid}/dispute", json={
                "expected_state": "paid", "reason": "payment_not_received", "text": "no money"})
            first.ok("POST", f"/admin/p2p/disputes/{tid}/resolve",
                     json={"outcome": "refund", "note": "no transfer shown"})
            second.ok("POST", f"/admin/p2p/disputes/{tid}/resolve",
                      json={"outcome": "refund", "note": "agreed"})

        await loop.run_in_executor(None, act)
        await asyncio.gather(*tasks)
        return admin_seen, buyer_seen

    admin_seen, buyer_seen = asyncio.run(run())
    pushed = [m for m in admin_seen if m["type"] == "p2p_dispute" and m["trade_id"] == tid]
    assert [m["event"] for m in pushed] == ["opened", "proposed", "closed"]
    proposal = pushed[1]["trade"]
    assert (proposal["state"], proposal["my_role"]) == ("disputed", "admin")
    assert (proposal["dispute"]["proposed_outcome"], proposal["dispute"]["proposed_by"]) == (
        "refund", first.account.user_id)
    assert pushed[2]["trade"]["state"] == "resolved_refund"
    assert [m["seq"] for m in pushed] == sorted(m["seq"] for m in pushed)
    assert not any(m["type"] == "p2p_dispute" for m in buyer_seen)  # a trader hears their
    assert any(m["type"] == "p2p_trade" for m in buyer_seen)  # own trade, not the queue


def test_margin_ads_price_from_the_book(server: RunningServer) -> None:
    maker = Api(server, funded(server, BTC="1", USD="100000"))
    other = Api(server, funded(server, BTC="1", USD="100000"))
    maker.place("buy", "49000.00", "0.1")
    other.place("sell", "51000.00", "0.1")
    method = maker.ok("POST", "/p2p/payment-methods", json={"name": "ACH", "details": "123"})
    ad = maker.ok("POST", "/p2p/ads", json={
        "side": "sell", "asset": "BTC", "fiat": "USD", "price_margin_bps": 100,
        "price_symbol": "BTC-USD", "quantity": "0.5", "payment_method_ids": [
            method["method_id"]]})
    assert (ad["price"], ad["price_margin_bps"], ad["price_symbol"]) == (
        "50500.00", 100, "BTC-USD")  # the mid 50,000 plus 1 %
    taker = Api(server, funded(server, USD="1"))
    trade = taker.ok("POST", f"/p2p/ads/{ad['ad_id']}/take", json={"quantity": "0.1"})
    assert (trade["price"], trade["fiat_amount"]) == ("50500.00", "5050.00")
    assert Decimal(trade["fiat_amount"]) == Decimal(trade["price"]) * Decimal("0.1")


def test_the_maker_hears_the_take_of_their_ad(server: RunningServer) -> None:
    d = desk(server)

    async def watch() -> list[dict[str, Any]]:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"op": "auth", "token": d.seller.account.token}))
            await ws.send(json.dumps({"op": "subscribe", "channel": "p2p"}))
            seen: list[dict[str, Any]] = []
            while not any(m.get("type") == "p2p_snapshot" for m in seen):
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            await asyncio.get_running_loop().run_in_executor(None, d.take, "0.5")
            while not any(m.get("type") == "notification" for m in seen):
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return seen

    seen = asyncio.run(watch())
    ad = next(m for m in seen if m["type"] == "p2p_ad")["ad"]
    assert (ad["ad_id"], ad["remaining"]) == (d.ad_id, "1.50000000")
    trade = next(m for m in seen if m["type"] == "p2p_trade")
    assert (trade["event"], trade["trade"]["my_role"], trade["trade"]["allowed_actions"]) == (
        "opened", "seller", [])
    note = next(m for m in seen if m["type"] == "notification")["notification"]
    assert (note["kind"], note["trade_id"]) == ("trade_opened", trade["trade"]["trade_id"])


def test_the_desk_settings_are_the_servers_markets_file(server: RunningServer) -> None:
    answer = httpx.get(f"{server.base_url}/api/v1/p2p/config")  # public: no credentials
    assert answer.status_code == 200
    body = answer.json()
    markets = server.state.exchange.markets
    assert body["fiats"] == [{"code": f.code, "decimals": f.decimals}
                             for f in sorted(markets.fiats.values(), key=lambda f: f.code)]
    assert {"EUR", "USD", "GBP"} <= {f["code"] for f in body["fiats"]}
    assert body["fee_bps"] == markets.p2p.fee_bps
    assert body["appeal_after_seconds"] == markets.p2p.appeal_after_s
    assert (body["min_payment_window_seconds"], body["max_payment_window_seconds"]) == (
        300, 21_600)


def held_in_escrow(user: Api) -> str:
    """What ``user`` has in P2P escrow in BTC, as their wallet says."""
    return str({b["asset"]: b for b in user.ok("GET", "/balances")}["BTC"]["escrow"])


def test_an_admin_pauses_and_resumes_an_ad_its_maker_cannot_resume(
        server: RunningServer) -> None:
    d = desk(server, btc="3", quantity="1")
    admin = Api(server, server.make_admin())
    trade = d.take("0.2")  # a trade in flight goes on through the pause
    paused = admin.ok("POST", f"/admin/p2p/ads/{d.ad_id}/pause", json={"reason": "odd terms"})
    assert (paused["state"], paused["paused_by_admin"], paused["remaining"]) == (
        "paused", True, "0.80000000")
    assert d.seller.ok("GET", f"/p2p/ads/{d.ad_id}")["paused_by_admin"] is True
    assert held_in_escrow(d.seller) == "1.00000000"  # a pause moves no money
    assert_error(d.buyer.post(f"/p2p/ads/{d.ad_id}/take", json={"quantity": "0.1"}), 400,
                 Code.AD_NOT_OPEN)
    assert_error(d.seller.post(f"/p2p/ads/{d.ad_id}/resume"), 403, Code.AD_PAUSED_BY_ADMIN)
    assert_error(admin.post(f"/admin/p2p/ads/{d.ad_id}/pause", json={"reason": "again"}), 400,
                 Code.AD_NOT_OPEN)
    assert_error(admin.post(f"/admin/p2p/ads/{d.ad_id}/pause", json={"reason": ""}), 422,
                 ApiCode.VALIDATION)
    assert_error(admin.post("/admin/p2p/ads/999999/pause", json={"reason": "x"}), 404,
                 Code.UNKNOWN_AD)
    assert_error(d.seller.post(f"/admin/p2p/ads/{d.ad_id}/resume"), 403, ApiCode.FORBIDDEN)
    d.buyer.ok("POST", f"/p2p/trades/{trade['trade_id']}/paid",
               json={"expected_state": "pending_payment"})
    d.seller.ok("POST", f"/p2p/trades/{trade['trade_id']}/release",
                json={"expected_state": "paid"})
    resumed = admin.ok("POST", f"/admin/p2p/ads/{d.ad_id}/resume")
    assert (resumed["state"], resumed["paused_by_admin"]) == ("open", False)
    assert_error(admin.post(f"/admin/p2p/ads/{d.ad_id}/resume"), 400, Code.AD_NOT_OPEN)
    d.take("0.1")

    def told_and_audited() -> None:
        kinds = [n["kind"] for n in d.seller.ok("GET", "/notifications")["notifications"]]
        assert "ad_paused" in kinds and "ad_resumed" in kinds
        audit = admin.ok("GET", "/admin/audit", params={"limit": 100})
        pauses = [e for e in audit if e["command_type"] == "PauseAd"
                  and e["command"]["ad_id"] == d.ad_id and e["result_code"] == 0]
        assert [(e["command"]["admin_id"], e["command"]["reason"]) for e in pauses] == [
            (admin.account.user_id, "odd terms")]
        resumes = [e for e in audit if e["command_type"] == "ResumeAd"
                   and e["command"]["ad_id"] == d.ad_id and e["result_code"] == 0]
        assert [e["command"]["admin_id"] for e in resumes] == [admin.account.user_id]

    eventually(told_and_audited)


def test_suspending_a_user_cancels_their_ads_and_their_trades_go_on(
        server: RunningServer) -> None:
    d = desk(server, btc="3", quantity="1")
    admin = Api(server, server.make_admin())
    trade = d.take("0.3")
    seller_id = d.seller.account.user_id
    suspended = admin.ok("POST", f"/admin/users/{seller_id}/suspend")
    assert suspended["cancelled_ads"] == [d.ad_id]
    ad = d.buyer.ok("GET", f"/p2p/ads/{d.ad_id}")
    assert (ad["state"], ad["remaining"]) == ("cancelled", "0.00000000")
    assert minor(server, seller_id, "BTC") == (270_000_000, 0)  # the ad's 0.7 came back
    assert held_in_escrow(d.seller) == "0.30000000"  # the trade keeps its 0.3
    assert_error(d.buyer.post(f"/p2p/ads/{d.ad_id}/take", json={"quantity": "0.1"}), 400,
                 Code.AD_NOT_OPEN)
    # the trade in flight runs to its end: the buyer pays, the suspended seller releases
    d.buyer.ok("POST", f"/p2p/trades/{trade['trade_id']}/paid",
               json={"expected_state": "pending_payment"})
    done = d.seller.ok("POST", f"/p2p/trades/{trade['trade_id']}/release",
                       json={"expected_state": "paid"})
    assert done["state"] == "completed" and held_in_escrow(d.seller) == "0.00000000"
    reinstated = admin.ok("POST", f"/admin/users/{seller_id}/reinstate")
    assert reinstated["cancelled_ads"] == []
    assert d.buyer.ok("GET", f"/p2p/ads/{d.ad_id}")["state"] == "cancelled"  # not reopened

    def told() -> None:
        texts = [n["text"] for n in d.seller.ok("GET", "/notifications")["notifications"]
                 if n["kind"] == "ad_cancelled"]
        assert texts == [f"Your ad #{d.ad_id} was cancelled: user suspended."]

    eventually(told)
