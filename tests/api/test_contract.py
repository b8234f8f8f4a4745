"""The server and the SDK agree: every REST route of a real server is called with the
SDK's own request description (``matchbook.client._api``) and its answer decoded with the
SDK's model for it, and the keys the server sends are exactly the model's fields, at
every depth. A field added on one side only, a renamed one, a type that changed, or a
route the SDK cannot call fails here. Each answer must also be valid against its
operation's 2xx schema in ``/openapi.json``, and every operation of the document must be
called, so a new route needs its SDK call (and model) too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jsonschema_rs
import msgspec
import pytest
from p2p_rest_helpers import shift_clock

from matchbook.client import _api
from matchbook.client._api import Call
from server import RunningServer, running_server

pytestmark = pytest.mark.slow  # a real server
T = TypeVar("T")


def key_mismatches(value: Any, tp: Any, where: str = "$") -> list[str]:
    """Where the JSON ``value`` has keys the SDK type ``tp`` lacks, or lacks its fields."""
    return _walk(value, msgspec.inspect.type_info(tp), where)


def _walk(value: Any, info: msgspec.inspect.Type, where: str) -> list[str]:
    if isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            if isinstance(value, dict) and isinstance(member, msgspec.inspect.StructType):
                return _walk(value, member, where)
            if isinstance(value, list) and isinstance(member, msgspec.inspect.ListType):
                return _walk(value, member, where)
        return []
    if isinstance(info, msgspec.inspect.StructType):
        assert isinstance(value, dict), where
        fields = {f.encode_name: f for f in info.fields}
        if info.tag_field is not None:
            fields.pop(info.tag_field, None)
        sent = set(value) - {info.tag_field}
        problems = [f"{where}: the SDK lacks {sorted(sent - set(fields))}"] if (
            sent - set(fields)) else []
        if set(fields) - sent:
            problems.append(f"{where}: the server does not send {sorted(set(fields) - sent)}")
        for name in sent & set(fields):
            problems += _walk(value[name], fields[name].type, f"{where}.{name}")
        return problems
    if isinstance(info, msgspec.inspect.ListType):
        assert isinstance(value, list), where
        problems: list[str] = []
        for i, item in enumerate(value):
            problems += _walk(item, info.item_type, f"{where}[{i}]")
        return problems
    return []


class Contract:
    """Runs SDK calls against the server; records which operations were called."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.base_url, timeout=30)
        self.called: set[tuple[str, str]] = set()
        self.token: str | None = None
        self.document = self.http.get("/openapi.json").json()

    def documented(self, method: str, path: str, status: int, body: Any) -> None:
        """``body`` is valid against the OpenAPI schema of that operation's answer."""
        operation = self.document["paths"][_template(path, self.document["paths"])]
        answer = operation[method.lower()]["responses"][str(status)]
        schema = answer["content"]["application/json"]["schema"]
        validator = jsonschema_rs.Draft202012Validator(
            {**schema, "components": self.document["components"]})
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, (method, path, errors[:5])

    def __call__(self, call: Call[T], token: str | None = None, status: int = 0) -> T:
        token = token or self.token
        headers = {"Authorization": f"Bearer {token}"} if call.auth and token else {}
        response = self.http.request(call.method, call.path, params=call.params or None,
                                     json=call.body, headers=headers)
        assert 200 <= response.status_code < 300, (call.method, call.path, response.text)
        if status:
            assert response.status_code == status, (call.path, response.status_code)
        decoded: T = msgspec.json.decode(response.content, type=call.result)  # the SDK's way
        body = json.loads(response.content)
        problems = key_mismatches(body, call.result)
        assert not problems, (call.method, call.path, problems)
        self.documented(call.method, call.path, response.status_code, body)
        self.called.add((call.method, call.path))
        return decoded

    def eventually(self, call: Callable[[], Call[list[T]]], token: str | None = None,
                   timeout: float = 15.0) -> list[T]:
        """A history read, once the read model has caught up (it lags the engine)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self(call(), token)
            if found or time.monotonic() > deadline:
                assert found, "the read model did not catch up"
                return found
            time.sleep(0.1)

    def until(self, call: Callable[[], Call[T]], done: Callable[[T], bool],
              token: str | None = None, timeout: float = 15.0) -> T:
        """A read whose answer ``done`` accepts, once the read model has caught up."""
        deadline = time.monotonic() + timeout
        while True:
            found = self(call(), token)
            if done(found) or time.monotonic() > deadline:
                assert done(found), "the read model did not catch up"
                return found
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(Path(tmp_path_factory.mktemp("contract"))) as running:
        yield running


def test_every_route_answers_what_the_sdk_decodes(server: RunningServer) -> None:
    run = Contract(server)
    # accounts
    user = run(_api.signup("contract@test.local", "contract-password"), status=201)
    session = run(_api.login("contract@test.local", "contract-password"))
    session = run(_api.refresh(session.refresh_token))
    run.token = session.access_token
    assert run(_api.me()).user_id == user.user_id
    key = run(_api.create_api_key(["read", "trade", "withdraw"], "bot"), status=201)
    assert [k.api_key_id for k in run(_api.list_api_keys())] == [key.api_key_id]
    admin = server.make_admin().token
    other = server.make_user()

    # funding
    run(_api.admin_deposit(user.user_id, "USD", "100000", "wire"), admin, status=201)
    run(_api.admin_deposit(other.user_id, "BTC", "5"), admin)
    address = run(_api.create_address("BTC"), status=201)
    run(_api.admin_chain_deposit(address.address, "BTC", "1", "tx 1"), admin, status=201)
    other_address = run(_api.create_address("USD"), other.token)

    # trading: a resting order, read live, amended, filled, read closed
    resting = run(_api.place_order("BTC-USD", "buy", "0.5", "49000"), status=201)
    assert [o.order_id for o in run(_api.list_orders())] == [resting.order_id]
    live = run(_api.get_order(resting.order_id))
    assert live.status == "new" and live.remaining_quantity == resting.remaining_quantity
    run(_api.place_order("BTC-USD", "sell", "0.2", "49500"), other.token)
    amended = run(_api.amend_order(resting.order_id, price="49500"))
    assert amended.status == "partially_filled" and len(amended.fills) == 1
    run(_api.place_order("BTC-USD", "sell", "0.3", "49500"), other.token)
    closed = run.eventually(lambda: _api.list_orders("closed"))
    assert closed[0].order_id == resting.order_id and closed[0].status == "filled"
    assert run(_api.get_order(resting.order_id)).status == "filled"
    assert len(run.eventually(lambda: _api.fills("BTC-USD"))) == 2
    cancelled = run(_api.place_order("BTC-USD", "buy", "0.1", "48000"))
    run(_api.cancel_order(cancelled.order_id))
    run(_api.place_order("BTC-USD", "buy", "0.1", "48000"))
    assert run(_api.cancel_all("BTC-USD")).count == 1
    assert run(_api.simple_order("buy", "48000", "0.01")).success
    run(_api.cancel_all())

    # market data
    run(_api.health())
    run(_api.simple_health())
    assert run(_api.symbols()) and run(_api.assets())
    run(_api.depth("BTC-USD"))
    assert run(_api.trades("BTC-USD"))
    run(_api.ticker("BTC-USD"))
    assert run(_api.candles("BTC-USD", "1m"))
    run(_api.simple_orderbook())

    # wallet
    assert {b.asset for b in run(_api.balances())} >= {"BTC", "USD"}
    assert run.eventually(lambda: _api.ledger())
    run(_api.transfer(other_address.address, "USD", "10"), status=201)
    first = run(_api.withdraw("USD", "5", "bank 1"), status=201)
    second = run(_api.withdraw("USD", "6", "bank 2"))
    assert {w.withdrawal_id for w in run(_api.admin_withdrawals(), admin)} == {
        first.withdrawal_id, second.withdrawal_id}
    assert run(_api.admin_approve_withdrawal(first.withdrawal_id), admin).status == "completed"
    rejected = run(_api.admin_reject_withdrawal(second.withdrawal_id, "no"), admin)
    assert (rejected.status, rejected.reason, rejected.destination) == ("rejected", "no", "bank 2")

    # administration
    run(_api.admin_adjust(user.user_id, "USD", "-1.5", "correction"), admin, status=201)
    assert run(_api.admin_halt("BTC-USD"), admin).halted
    assert not run(_api.admin_resume("BTC-USD"), admin).halted
    run(_api.place_order("BTC-USD", "buy", "0.1", "48000"))
    suspension = run(_api.admin_suspend(user.user_id), admin)
    assert len(suspension.cancelled_orders) == 1 and suspension.cancelled_ads == []
    assert not run(_api.admin_reinstate(user.user_id), admin).suspended
    assert run(_api.admin_users(), admin)
    assert run.eventually(lambda: _api.admin_audit(), admin)
    # the read model writes in spaced transactions: wait until it holds the user's orders
    orders = run.until(lambda: _api.admin_orders(user_id=user.user_id, symbol="BTC-USD", limit=2),
                       lambda page: page.next_cursor is not None, admin)
    assert {o.user_id for o in orders.orders} == {user.user_id} and orders.next_cursor
    older = run(_api.admin_orders(status="closed", cursor=orders.next_cursor), admin)
    assert all(int(o.order_id) < int(orders.next_cursor) for o in older.orders)
    trades = run(_api.admin_trades(symbol="BTC-USD", limit=1), admin)
    assert trades.trades[0].maker_user_id in (user.user_id, other.user_id)
    assert run(_api.admin_trades(user_id=other.user_id, cursor=trades.next_cursor),
               admin).trades
    assert run(_api.admin_stats(), admin).seq > 0
    assert run(_api.admin_health(), admin).ack_latency_seconds.buckets
    assert run(_api.delete_api_key(key.api_key_id)).revoked

    # P2P escrow trading
    seller, buyer = server.make_user(), server.make_user()
    server.deposit(seller.user_id, "BTC", "2")
    method = run(_api.add_payment_method("SEPA", "DE89 3704"), seller.token, status=201)
    assert [m.method_id for m in run(_api.payment_methods(), seller.token)] == [
        method.method_id]
    ad = run(_api.post_ad("sell", "BTC", "EUR", "1", price="60000",
                          payment_method_ids=[method.method_id]), seller.token, status=201)
    assert [a.ad_id for a in run(_api.ads("sell", "BTC", "EUR"))] == [ad.ad_id]
    assert run(_api.get_ad(ad.ad_id)).remaining == ad.quantity
    assert run(_api.my_ads(), seller.token)
    assert run(_api.pause_ad(ad.ad_id), seller.token).state == "paused"
    assert run(_api.resume_ad(ad.ad_id), seller.token).state == "open"
    trade = run(_api.take_ad(ad.ad_id, "0.1", idempotency_key="contract-1"), buyer.token,
                status=201)
    assert run(_api.mark_paid(trade.trade_id), buyer.token).state == "paid"
    assert run(_api.p2p_trades(), buyer.token)
    assert run(_api.release(trade.trade_id), seller.token).state == "completed"
    run(_api.post_trade_message(trade.trade_id, "thanks"), buyer.token, status=201)
    run(_api.leave_feedback(trade.trade_id, True, "fast"), buyer.token, status=201)
    assert run.eventually(lambda: _api.trade_messages(trade.trade_id), buyer.token)
    assert run(_api.p2p_trade(trade.trade_id), buyer.token).timeline
    cancelled = run(_api.take_ad(ad.ad_id, "0.1"), buyer.token)
    assert run(_api.cancel_trade(cancelled.trade_id), buyer.token).state == "cancelled"
    disputed = run(_api.take_ad(ad.ad_id, "0.1"), buyer.token)
    run(_api.mark_paid(disputed.trade_id), buyer.token)
    shift_clock(server, 901)  # the earliest a dispute may be opened
    run(_api.open_dispute(disputed.trade_id, "payment_not_received", "nothing"), seller.token)
    assert run(_api.withdraw_dispute(disputed.trade_id), seller.token).state == "paid"
    run(_api.open_dispute(disputed.trade_id, "payment_not_received", "still nothing"),
        seller.token)
    assert run.eventually(lambda: _api.admin_p2p_disputes(), admin)
    resolved = run(_api.admin_resolve_dispute(disputed.trade_id, "refund", "no proof"), admin)
    assert resolved.state == "resolved_refund"
    assert run(_api.admin_p2p_ads(), admin)
    paused = run(_api.admin_pause_ad(ad.ad_id, "review"), admin)
    assert (paused.state, paused.paused_by_admin) == ("paused", True)
    resumed = run(_api.admin_resume_ad(ad.ad_id), admin)
    assert (resumed.state, resumed.paused_by_admin) == ("open", False)
    assert run(_api.admin_cancel_ad(ad.ad_id, "moderation"), admin).state == "cancelled"
    other_ad = run(_api.post_ad("sell", "BTC", "EUR", "0.5", price="61000",
                                payment_method_ids=[method.method_id]), seller.token)
    assert run(_api.cancel_ad(other_ad.ad_id), seller.token).state == "cancelled"
    assert run(_api.remove_payment_method(method.method_id), seller.token).removed
    assert run(_api.p2p_stats(seller.user_id)).trades >= 1
    desk = run(_api.p2p_config())
    assert "EUR" in {f.code for f in desk.fiats} and desk.max_payment_window_seconds == 21_600
    deadline = time.monotonic() + 15
    while run(_api.admin_stats(), admin).projector_lag and time.monotonic() < deadline:
        time.sleep(0.05)  # the inbox is the read model's
    page = run(_api.notifications(), seller.token)
    assert page.notifications and page.unread
    assert run(_api.mark_notifications_read(up_to=page.notifications[0].notification_id),
               seller.token).unread == 0

    # every operation of the OpenAPI document was called
    document = run.document
    operations = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item}
    called = {(method, _template(path, document["paths"])) for method, path in run.called}
    # the sandbox performance runs have no SDK call yet (the web UI's performance page
    # is their client; tests/api/test_simulation_api.py holds their contract)
    sandbox = {op for op in operations if op[1].startswith("/api/simulation")}
    assert operations - sandbox - called == set()


def _template(path: str, templates: dict[str, Any]) -> str:
    """The OpenAPI path (``/api/v1/orders/{order_id}``) that ``path`` matched."""
    if path in templates:
        return path
    for template in templates:
        if "{" in template and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            return template
    return path
