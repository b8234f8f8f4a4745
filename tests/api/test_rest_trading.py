"""REST trading against a real server on loopback, on SQLite and on PostgreSQL: sign-up
to trade to balances, two users crossing (fills, fees and balances to the minor unit),
the order life cycle, history once the read model caught up, market data, the wallet,
the operator's routes and the simple endpoints.

Each test that trades gets a fresh server, so no other test's orders rest in its books.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_helpers import BACKENDS, Api, assert_error, caught_up, eventually, funded, rest_server

from matchbook.api.errors import ApiCode
from matchbook.core.codes import Code
from server import RunningServer

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh server per test, on each backend."""
    with rest_server(request.param, tmp_path) as running:
        yield running


@pytest.fixture
def admin(server: RunningServer) -> Iterator[Api]:
    api = Api(server, server.make_admin())
    yield api
    api.close()


def ledger_sums(api: Api) -> dict[str, tuple[Decimal, Decimal]]:
    """Per asset, the sum of the caller's ledger changes: ``(available, held)``."""
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    for entry in api.ok("GET", "/ledger", params={"limit": 1000}):
        available, held = sums.get(entry["asset"], (Decimal(0), Decimal(0)))
        sums[entry["asset"]] = (available + Decimal(entry["available_change"]),
                                held + Decimal(entry["held_change"]))
    return sums


def assert_ledger_matches_balances(api: Api) -> None:
    """Every balance is exactly the sum of the caller's ledger entries."""

    def check() -> None:
        sums = ledger_sums(api)
        for asset, (available, held) in api.balances().items():
            if Decimal(available) or Decimal(held) or asset in sums:
                assert sums.get(asset) == (Decimal(available), Decimal(held)), asset

    eventually(check)


# -- end to end --------------------------------------------------------------------------


def test_signup_login_deposit_trade_and_balances(server: RunningServer, admin: Api) -> None:
    anonymous = Api(server)
    signed_up = anonymous.post("/auth/signup", json={"email": "Carol@Example.test",
                                                     "password": "a long enough secret"})
    assert signed_up.status_code == 201
    user_id = signed_up.json()["user_id"]
    assert isinstance(user_id, int) and signed_up.json()["email"] == "carol@example.test"
    assert_error(anonymous.post("/auth/signup", json={"email": "carol@example.test",
                                                      "password": "another secret!"}),
                 409, ApiCode.EMAIL_TAKEN)

    tokens = anonymous.ok("POST", "/auth/login", json={"email": "carol@example.test",
                                                        "password": "a long enough secret"})
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == server.settings.access_token_seconds
    assert tokens["access_token"] and tokens["refresh_token"]
    carol = Api(server, token=tokens["access_token"])
    me = carol.ok("GET", "/me")
    assert (me["user_id"], me["email"], me["role"]) == (user_id, "carol@example.test", "user")

    deposit = admin.post("/admin/deposits", json={"user_id": user_id, "asset": "USD",
                                                  "amount": "60000"})
    assert deposit.status_code == 201, deposit.text
    assert deposit.json()["amount"] == "60000.000000"
    assert carol.balances()["USD"] == ("60000.000000", "0.000000")

    order = carol.place("buy", "50000.00", "0.5", client_order_id="first-order")
    assert order["status"] == "new" and order["client_order_id"] == "first-order"
    assert (order["price"], order["quantity"], order["filled_quantity"]) == (
        "50000.00", "0.5000", "0.0000")
    for key in ("order_id", "client_order_id", "symbol", "side", "type", "price", "quantity",
                "filled_quantity", "status"):
        assert key in order
    # the hold is the most the order can spend: 25,000 plus the 0.05% taker fee
    assert carol.balances()["USD"] == ("34987.500000", "25012.500000")
    assert [o["order_id"] for o in carol.ok("GET", "/orders")] == [order["order_id"]]
    assert carol.ok("GET", f"/orders/{order['order_id']}")["status"] == "new"

    cancelled = carol.ok("DELETE", f"/orders/{order['order_id']}")
    assert cancelled == {"order_id": order["order_id"], "symbol": "BTC-USD",
                         "status": "cancelled", "cancelled_quantity": "0.5000"}
    assert carol.balances()["USD"] == ("60000.000000", "0.000000")
    assert carol.ok("GET", "/orders") == []
    closed = eventually(lambda: _single(carol.ok("GET", "/orders", params={"status": "closed"})))
    assert (closed["order_id"], closed["status"]) == (order["order_id"], "cancelled")
    assert_ledger_matches_balances(carol)


def _single(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def test_two_users_crossing_fills_fees_and_balances_exact(server: RunningServer,
                                                          admin: Api) -> None:
    alice = Api(server, funded(server, BTC="1"))
    bob = Api(server, funded(server, USD="100000"))

    ask = alice.place("sell", "50000.00", "0.5")
    assert alice.balances()["BTC"] == ("0.50000000", "0.50000000")
    bought = bob.place("buy", "50000.00", "0.5")
    assert bought["status"] == "filled" and bought["filled_quantity"] == "0.5000"
    [fill] = bought["fills"]
    assert (fill["price"], fill["quantity"], fill["is_maker"], fill["fee"]) == (
        "50000.00", "0.5000", False, "12.500000")

    # maker 0.02%, taker 0.05% of the 25,000 notional, both in USD
    assert alice.balances()["BTC"] == ("0.50000000", "0.00000000")
    assert alice.balances()["USD"] == ("24995.000000", "0.000000")
    assert bob.balances()["BTC"] == ("0.50000000", "0.00000000")
    assert bob.balances()["USD"] == ("74987.500000", "0.000000")
    assert alice.ok("GET", "/orders") == []

    # a partial fill: the maker's order stays open with what is left
    rest = alice.place("sell", "50100.00", "0.3")
    partial = bob.place("buy", "50100.00", "0.1")
    assert partial["status"] == "filled"
    [open_ask] = alice.ok("GET", "/orders", params={"status": "open", "symbol": "BTC-USD"})
    assert (open_ask["order_id"], open_ask["status"]) == (rest["order_id"], "partially_filled")
    assert (open_ask["filled_quantity"], open_ask["remaining_quantity"]) == ("0.1000", "0.2000")
    assert alice.balances()["BTC"] == ("0.20000000", "0.20000000")
    assert alice.balances()["USD"] == ("30003.998000", "0.000000")  # + 5,010 - 1.002
    assert bob.balances()["USD"] == ("69974.995000", "0.000000")  # - 5,010 - 2.505
    assert bob.balances()["BTC"] == ("0.60000000", "0.00000000")

    # history, once the read model caught up
    caught_up(server, admin)
    alice_fills = alice.ok("GET", "/fills", params={"symbol": "BTC-USD"})
    assert [(f["side"], f["price"], f["quantity"], f["is_maker"], f["fee"])
            for f in alice_fills] == [("sell", "50100.00", "0.1000", True, "1.002000"),
                                      ("sell", "50000.00", "0.5000", True, "5.000000")]
    bob_fills = bob.ok("GET", "/fills")
    assert [(f["side"], f["is_maker"], f["fee"], f["order_id"]) for f in bob_fills] == [
        ("buy", False, "2.505000", partial["order_id"]),
        ("buy", False, "12.500000", bought["order_id"])]
    assert {f["trade_id"] for f in alice_fills} == {f["trade_id"] for f in bob_fills}
    filled = alice.ok("GET", f"/orders/{ask['order_id']}")
    assert (filled["status"], filled["filled_quantity"]) == ("filled", "0.5000")
    closed = bob.ok("GET", "/orders", params={"status": "closed"})
    assert {o["order_id"]: o["status"] for o in closed} == {
        bought["order_id"]: "filled", partial["order_id"]: "filled"}
    assert_ledger_matches_balances(alice)
    assert_ledger_matches_balances(bob)
    references = {e["reference"].split(":")[0] for e in bob.ok("GET", "/ledger")}
    assert {"deposit", "order", "trade"} <= references

    # market data saw the same trades
    public = Api(server)
    trades = public.ok("GET", "/trades", params={"symbol": "BTC-USD"})
    assert [(t["price"], t["quantity"], t["side"]) for t in trades] == [
        ("50100.00", "0.1000", "buy"), ("50000.00", "0.5000", "buy")]
    ticker = public.ok("GET", "/ticker", params={"symbol": "BTC-USD"})
    assert (ticker["last"], ticker["best_ask"], ticker["best_bid"]) == ("50100.00", "50100.00",
                                                                       None)
    assert ticker["volume"] == "0.6000" and ticker["trades"] == 2
    depth = public.ok("GET", "/depth", params={"symbol": "BTC-USD", "limit": 5})
    assert depth["asks"] == [["50100.00", "0.2000"]] and depth["bids"] == []
    candles = public.ok("GET", "/candles", params={"symbol": "BTC-USD", "interval": "1m",
                                                   "start": 0, "end": 2**62})
    assert sum(Decimal(c["volume"]) for c in candles) == Decimal("0.6")
    assert sum(c["trades"] for c in candles) == 2
    assert candles[0]["open"] == "50000.00" and candles[-1]["close"] == "50100.00"
    later = public.ok("GET", "/candles", params={"symbol": "BTC-USD", "interval": "1m",
                                                 "start": 2**61})
    assert later == []

    # what memory no longer keeps, the read model answers: the same candles
    caught_up(server, admin)
    feed = server.state.exchange.marketdata.feeds["BTC-USD"]

    async def forget() -> list[Any]:
        kept = list(feed.candles["1m"])
        feed.candles["1m"].clear()
        return kept

    kept = server.call(forget)
    try:
        assert public.ok("GET", "/candles", params={"symbol": "BTC-USD"}) == candles
    finally:
        async def restore() -> None:
            feed.candles["1m"].extend(kept)

        server.call(restore)
    newest = public.ok("GET", "/candles", params={"symbol": "BTC-USD", "limit": 1})
    assert newest == candles[-1:]
    for limit in (0, 1001):
        assert_error(public.get("/candles", params={"limit": limit}), 422, ApiCode.VALIDATION)


def test_order_life_cycle_amend_cancel_and_cancel_all(server: RunningServer,
                                                      admin: Api) -> None:
    alice = Api(server, funded(server, USD="200000", ETH="10"))
    first = alice.place("buy", "49000.00", "0.4")
    second = alice.place("buy", "48000.00", "0.2")
    eth = alice.place("sell", "3000.00", "1", symbol="ETH-USD")

    smaller = alice.ok("PATCH", f"/orders/{first['order_id']}", json={"quantity": "0.3"})
    assert (smaller["quantity"], smaller["priority_kept"]) == ("0.3000", True)
    moved = alice.ok("PATCH", f"/orders/{first['order_id']}", json={"price": "49500.00"})
    assert (moved["price"], moved["priority_kept"]) == ("49500.00", False)
    assert_error(alice.patch(f"/orders/{first['order_id']}", json={"price": "49500.00"}),
                 400, Code.AMEND_NO_CHANGE)
    assert_error(alice.patch(f"/orders/{first['order_id']}", json={}), 422)
    # the hold followed the amendments: 0.3 at 49,500 and 0.2 at 48,000, with fees
    held = Decimal("0.3") * 49500 * Decimal("1.0005") + Decimal("0.2") * 48000 * Decimal(
        "1.0005")
    assert Decimal(alice.balances()["USD"][1]) == held

    duplicate = alice.post("/orders", json={"side": "buy", "price": "47000", "quantity": "0.1",
                                            "client_order_id": "dup"})
    assert duplicate.status_code == 201
    assert_error(alice.post("/orders", json={"side": "buy", "price": "47000", "quantity": "0.1",
                                             "client_order_id": "dup"}),
                 409, Code.DUPLICATE_CLIENT_ORDER_ID)

    stop = alice.place("buy", "52000.00", "0.1", type="stop_limit", stop_price="51000.00")
    assert stop["status"] == "pending_trigger" and stop["stop_price"] == "51000.00"

    cancelled = alice.ok("DELETE", "/orders", params={"symbol": "BTC-USD"})
    assert set(cancelled["cancelled"]) == {first["order_id"], second["order_id"],
                                           duplicate.json()["order_id"], stop["order_id"]}
    assert [o["order_id"] for o in alice.ok("GET", "/orders")] == [eth["order_id"]]
    assert alice.balances()["USD"] == ("200000.000000", "0.000000")
    assert_error(alice.delete(f"/orders/{first['order_id']}"), 404, Code.UNKNOWN_ORDER)
    assert_error(alice.patch(f"/orders/{first['order_id']}", json={"quantity": "0.1"}), 404)

    everything = alice.ok("DELETE", "/orders")
    assert everything == {"cancelled": [eth["order_id"]], "count": 1}
    assert alice.balances()["ETH"] == ("10.00000000", "0.00000000")
    caught_up(server, admin)
    closed = alice.ok("GET", "/orders", params={"status": "closed", "limit": 10})
    assert len(closed) == 5 and {o["status"] for o in closed} == {"cancelled"}
    only_eth = alice.ok("GET", "/orders", params={"status": "closed", "symbol": "ETH-USD"})
    assert [o["order_id"] for o in only_eth] == [eth["order_id"]]
    assert alice.ok("GET", f"/orders/{stop['order_id']}")["status"] == "cancelled"
    assert_ledger_matches_balances(alice)


def test_market_and_time_in_force_orders(server: RunningServer) -> None:
    maker = Api(server, funded(server, BTC="2"))
    taker = Api(server, funded(server, USD="100000"))
    maker.place("sell", "50000.00", "0.2")
    maker.place("sell", "50010.00", "0.2")

    market = taker.place("buy", None, "0.3", type="market")
    assert (market["status"], market["filled_quantity"], market["price"]) == (
        "filled", "0.3000", None)
    assert [f["price"] for f in market["fills"]] == ["50000.00", "50010.00"]
    ioc = taker.place("buy", "50010.00", "0.5", time_in_force="ioc")
    assert (ioc["status"], ioc["filled_quantity"]) == ("cancelled", "0.1000")
    assert_error(taker.post("/orders", json={"side": "buy", "price": "50010", "quantity": "1",
                                             "time_in_force": "fok"}), 400, Code.FOK_NOT_FILLABLE)
    assert_error(taker.post("/orders", json={"side": "buy", "type": "market",
                                             "quote_quantity": "100"}), 400, Code.NO_LIQUIDITY)
    maker.place("sell", "50020.00", "0.1")
    assert_error(taker.post("/orders", json={"side": "buy", "price": "50020", "quantity": "0.1",
                                             "post_only": True}),
                 400, Code.POST_ONLY_WOULD_TAKE)
    assert_error(taker.post("/orders", json={"side": "buy", "price": "50000", "quantity": "100"}),
                 400, Code.INSUFFICIENT_FUNDS)
    assert taker.balances()["USD"][1] == "0.000000"
    assert taker.balances()["BTC"] == ("0.40000000", "0.00000000")


# -- wallet ------------------------------------------------------------------------------


def test_addresses_transfers_and_withdrawals(server: RunningServer, admin: Api) -> None:
    alice = Api(server, funded(server, USD="1000"))
    bob = Api(server, funded(server))
    address = bob.post("/wallets/usd/address")
    assert address.status_code == 201 and address.json()["asset"] == "USD"
    assert bob.ok("POST", "/wallets/USD/address") == address.json()  # idempotent
    assert_error(bob.post("/wallets/XYZ/address"), 404, Code.UNKNOWN_ASSET)

    sent = alice.post("/transfers", json={"to_address": address.json()["address"],
                                          "asset": "USD", "amount": "100.5"})
    assert sent.status_code == 201 and sent.json()["amount"] == "100.500000"
    assert alice.balances()["USD"] == ("899.500000", "0.000000")
    assert bob.balances()["USD"] == ("100.500000", "0.000000")
    assert_error(alice.post("/transfers", json={"to_address": "nowhere", "asset": "USD",
                                                "amount": "1"}), 404, Code.UNKNOWN_ADDRESS)
    assert_error(alice.post("/transfers", json={"to_address": address.json()["address"],
                                                "asset": "USD", "amount": "5000"}),
                 400, Code.INSUFFICIENT_FUNDS)

    first = alice.post("/withdrawals", json={"asset": "USD", "amount": "200",
                                             "destination": "bank account 1"})
    assert first.status_code == 201 and first.json()["status"] == "pending"
    assert alice.balances()["USD"] == ("699.500000", "200.000000")
    second = alice.ok("POST", "/withdrawals", json={"asset": "USD", "amount": "300"})
    pending = {w["withdrawal_id"] for w in admin.ok("GET", "/admin/withdrawals")}
    assert pending == {first.json()["withdrawal_id"], second["withdrawal_id"]}

    approved = admin.ok("POST", f"/admin/withdrawals/{first.json()['withdrawal_id']}/approve")
    assert approved["status"] == "completed"
    rejected = admin.ok("POST", f"/admin/withdrawals/{second['withdrawal_id']}/reject",
                        json={"reason": "destination not verified"})
    assert rejected["status"] == "rejected"
    assert alice.balances()["USD"] == ("699.500000", "0.000000")
    assert_error(admin.post(f"/admin/withdrawals/{second['withdrawal_id']}/approve"), 409,
                 Code.WITHDRAWAL_NOT_PENDING)
    assert_error(admin.post("/admin/withdrawals/999999/approve"), 404, Code.UNKNOWN_WITHDRAWAL)

    chain = admin.post("/admin/deposits/chain", json={"address": address.json()["address"],
                                                      "asset": "USD", "amount": "1.25"})
    assert chain.status_code == 201 and chain.json()["user_id"] == bob.account.user_id
    assert bob.balances()["USD"] == ("101.750000", "0.000000")
    assert_ledger_matches_balances(alice)
    assert_ledger_matches_balances(bob)
    usd_only = alice.ok("GET", "/ledger", params={"asset": "usd", "limit": 2})
    assert len(usd_only) == 2 and {e["asset"] for e in usd_only} == {"USD"}
    assert_error(alice.get("/ledger", params={"asset": "NOPE"}), 404, Code.UNKNOWN_ASSET)


# -- the operator --------------------------------------------------------------------------


def test_admin_halt_resume_suspend_users_audit_stats(server: RunningServer, admin: Api) -> None:
    alice = Api(server, funded(server, USD="100000"))
    resting = alice.place("buy", "40000.00", "0.1")

    assert admin.ok("POST", "/admin/symbols/BTC-USD/halt") == {"symbol": "BTC-USD",
                                                               "halted": True}
    assert {s["symbol"]: s["halted"] for s in Api(server).ok("GET", "/symbols")}["BTC-USD"]
    assert_error(alice.post("/orders", json={"side": "buy", "price": "40000", "quantity": "0.1"}),
                 409, Code.SYMBOL_HALTED)
    alice.place("buy", "3000.00", "1", symbol="ETH-USD")  # other symbols still trade
    assert admin.ok("POST", "/admin/symbols/BTC-USD/resume")["halted"] is False
    alice.place("buy", "40000.00", "0.1")
    assert_error(admin.post("/admin/symbols/NOPE-USD/halt"), 404, Code.UNKNOWN_SYMBOL)

    suspended = admin.ok("POST", f"/admin/users/{alice.account.user_id}/suspend")
    assert suspended["suspended"] is True and resting["order_id"] in suspended["cancelled_orders"]
    assert alice.ok("GET", "/orders") == []
    assert_error(alice.post("/orders", json={"side": "buy", "price": "40000", "quantity": "0.1"}),
                 403, Code.USER_SUSPENDED)
    assert alice.ok("GET", "/me")["suspended"] is True
    assert alice.balances()["USD"] == ("100000.000000", "0.000000")
    # an unknown user is not found (it was a 400 "invalid user id")
    assert_error(admin.post("/admin/users/987654/suspend"), 404, ApiCode.NOT_FOUND)
    assert_error(admin.post("/admin/users/987654/reinstate"), 404, ApiCode.NOT_FOUND)

    users = {u["user_id"]: u for u in admin.ok("GET", "/admin/users")}
    assert users[alice.account.user_id]["suspended"] is True
    assert users[admin.account.user_id]["role"] == "admin"  # type: ignore[union-attr]
    assert len(admin.ok("GET", "/admin/users", params={"limit": 1, "offset": 1})) == 1

    caught_up(server, admin)
    audit = admin.ok("GET", "/admin/audit", params={"limit": 1000})
    kinds = [entry["command_type"] for entry in audit]
    assert {"Deposit", "PlaceOrder", "HaltTrading", "ResumeTrading", "SuspendUser"} <= set(kinds)
    assert [e["seq"] for e in audit] == sorted((e["seq"] for e in audit), reverse=True)
    refusals = {e["result_code"] for e in audit if e["command_type"] == "PlaceOrder"}
    assert refusals == {0, Code.SYMBOL_HALTED, Code.USER_SUSPENDED}
    older = admin.ok("GET", "/admin/audit", params={"before_seq": audit[0]["seq"], "limit": 2})
    assert [e["seq"] for e in older] == [audit[1]["seq"], audit[2]["seq"]]
    stats = admin.ok("GET", "/admin/stats")
    assert stats["seq"] == audit[0]["seq"] and stats["projector_lag"] == 0
    assert stats["open_orders"] == 0 and stats["journal"]["mode"] == "os"


# -- public and simple endpoints -------------------------------------------------------------


def test_public_market_data(server: RunningServer) -> None:
    public = Api(server)
    health = public.ok("GET", "/health")
    assert health["status"] == "ok" and health["service"] == "matchbook"
    symbols = {s["symbol"]: s for s in public.ok("GET", "/symbols")}
    assert {"BTC-USD", "ETH-USD"} <= set(symbols)
    btc = symbols["BTC-USD"]
    assert (btc["base"], btc["quote"], btc["tick_size"], btc["lot_size"]) == (
        "BTC", "USD", "0.01", "0.0001")
    assert {a["asset"]: a["decimals"] for a in public.ok("GET", "/assets")}["USD"] == 6

    empty = public.ok("GET", "/depth", params={"symbol": "BTC-USD"})
    assert (empty["bids"], empty["asks"]) == ([], [])
    maker = Api(server, funded(server, USD="200000"))
    for price in ("49950.00", "49940.00", "49930.00"):
        maker.place("buy", price, "0.5")
    maker.place("buy", "49950.00", "1")
    depth = public.ok("GET", "/depth", params={"symbol": "btc-usd", "limit": 2})
    assert depth["symbol"] == "BTC-USD"
    assert depth["bids"] == [["49950.00", "1.5000"], ["49940.00", "0.5000"]]
    assert depth["last_update_id"] > empty["last_update_id"]
    assert public.ok("GET", "/ticker", params={"symbol": "BTC-USD"})["best_bid"] == "49950.00"
    assert public.ok("GET", "/trades", params={"symbol": "BTC-USD"}) == []

    assert_error(public.get("/depth", params={"symbol": "DOGE-USD"}), 404, Code.UNKNOWN_SYMBOL)
    assert_error(public.get("/depth", params={"limit": 0}), 422, ApiCode.VALIDATION)
    assert_error(public.get("/candles", params={"interval": "7m"}), 422, ApiCode.VALIDATION)
    # not a symbol at all: refused by the schema's pattern, never looked up
    assert_error(public.get("/ticker", params={"symbol": "???"}), 422, ApiCode.VALIDATION)


def test_simple_endpoints(server: RunningServer) -> None:
    root = httpx.Client(base_url=server.base_url + "/api", timeout=30)
    assert root.get("/health").json() == {"service": "matchbook", "status": "healthy"}
    order = {"side": "buy", "price": "50000.00", "quantity": "0.5"}
    assert_error(root.post("/orders", json=order), 401, ApiCode.UNAUTHENTICATED)

    trader = funded(server, USD="200000")
    placed = root.post("/orders", json=order, headers=trader.headers)
    assert placed.status_code == 200, placed.text
    body = placed.json()
    assert body["success"] is True and body["order_id"] and isinstance(body["message"], str)
    root.post("/orders", json={"side": "buy", "price": "49950.00", "quantity": "1.5"},
              headers=trader.headers).raise_for_status()
    seller = funded(server, BTC="1")
    root.post("/orders", json={"side": "sell", "price": "50100.00", "quantity": "0.25"},
              headers=seller.headers).raise_for_status()

    book = root.get("/orderbook").json()
    assert book["symbol"] == "BTC/USD"
    assert book["bids"] == [["50000.00", "0.5"], ["49950.00", "1.5"]]
    assert book["asks"] == [["50100.00", "0.25"]]
    assert (book["best_bid"], book["best_ask"], book["spread"]) == ("50000.00", "50100.00",
                                                                   "100.00")

    refused = root.post("/orders", json={"side": "buy", "price": "1.001", "quantity": "0.5"},
                        headers=trader.headers)
    assert refused.status_code == 400 and refused.json()["success"] is False
    assert isinstance(refused.json()["message"], str)
    invalid = root.post("/orders", json={"side": "up", "price": "1", "quantity": "1"},
                        headers=trader.headers)
    assert_error(invalid, 422, ApiCode.VALIDATION)


def test_an_acknowledgement_describes_its_own_command(server: RunningServer,
                                                      admin: Api) -> None:
    """Two orders in one sequencer batch: the resting one, filled by the next command of
    the same batch, is acknowledged as it stood after its own command (``new``), not as
    the engine holds it by the time its caller resumes (gone, which once read
    ``cancelled``)."""
    import msgspec

    from matchbook.api.schemas import NewOrder

    buyer = funded(server, USD="10000")
    seller = funded(server, BTC="1")
    exchange = server.state.exchange
    trading = server.state.trading

    async def same_batch() -> list[dict[str, Any]]:
        buy = trading.order_command(buyer.user_id,
                                    NewOrder(side="buy", price="50000", quantity="0.1"))
        sell = trading.order_command(seller.user_id,
                                     NewOrder(side="sell", price="50000", quantity="0.1"))
        batches = exchange.sequencer.stats.batches
        answers = await asyncio.gather(trading.place(buy), trading.place(sell))
        assert exchange.sequencer.stats.batches == batches + 1  # one batch
        return [msgspec.to_builtins(a) for a in answers]

    rested, took = server.call(same_batch)
    assert (rested["status"], rested["filled_quantity"], rested["remaining_quantity"]) == (
        "new", "0.0000", "0.1000")
    assert rested["fills"] == [] and rested["cancel_reason"] is None
    assert (took["status"], took["filled_quantity"]) == ("filled", "0.1000")
    caught_up(server, admin)
    assert Api(server, buyer).ok("GET", f"/orders/{rested['order_id']}")["status"] == "filled"


# -- metrics -------------------------------------------------------------------------------


def _samples(server: RunningServer) -> dict[str, float]:
    """``/metrics`` as ``{'name{labels}': value}``."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    return {name: float(value) for name, _, value in (
        line.rpartition(" ") for line in text.splitlines() if line and line[0] != "#")}


def test_metrics_count_requests_commands_trades_and_rejections(server: RunningServer) -> None:
    buyer = Api(server, funded(server, USD="100000"))
    seller = Api(server, funded(server, BTC="10"))
    before = _samples(server)
    seller.place("sell", "50000.00", "0.5")
    buyer.place("buy", "50000.00", "0.5")
    code = assert_error(buyer.post("/orders", json={"side": "buy", "price": "50000.00",
                                                    "quantity": "5"}), 400)["code"]

    def check() -> None:
        after = _samples(server)
        counted = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in (
            'matchbook_http_request_seconds_count{method="POST",status="201"}',
            'matchbook_http_request_seconds_count{method="POST",status="400"}',
            'matchbook_commands_total{type="PlaceOrder"}',
            'matchbook_trades_total{symbol="BTC-USD"}',
            f'matchbook_rejects_total{{code="{code}"}}')}
        assert list(counted.values()) == [2, 1, 3, 1, 1], counted

    eventually(check)
