"""``GET /api/v1/admin/orders`` and ``GET /api/v1/admin/trades`` against a real server, on
SQLite and PostgreSQL: every user's orders and trades with their owners, the filters
(user, symbol, status), cursor pages that neither skip nor repeat a row, and structured
errors for bad filters and non-administrators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_helpers import BACKENDS, Api, assert_error, caught_up, funded, rest_server

from matchbook.api.errors import ApiCode
from matchbook.core import Code
from server import RunningServer

pytestmark = pytest.mark.slow  # a real server


@pytest.fixture(scope="module", params=BACKENDS)
def market(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two users who traded with each other on two markets, with orders left open,
    cancelled and filled; the read model caught up."""
    with rest_server(request.param, tmp_path_factory.mktemp("admin-reads")) as server:
        admin = Api(server, server.make_admin())
        alice = Api(server, funded(server, USD="1000000", BTC="5", ETH="50"))
        bob = Api(server, funded(server, USD="1000000", BTC="5", ETH="50"))
        resting = alice.place("buy", "49000.00", "0.1")
        cancelled = alice.place("buy", "48000.00", "0.2")
        alice.ok("DELETE", f"/orders/{cancelled['order_id']}")
        maker = alice.place("sell", "50000.00", "0.3")
        taker = bob.place("buy", "50000.00", "0.3")  # fills alice's ask: one trade
        eth_maker = bob.place("sell", "3000.00", "1", symbol="ETH-USD")
        eth_taker = alice.place("buy", "3000.00", "1", symbol="ETH-USD")
        bob_open = bob.place("sell", "52000.00", "0.05")
        caught_up(server, admin)
        yield {"server": server, "admin": admin, "alice": alice, "bob": bob,
               "resting": resting, "cancelled": cancelled, "maker": maker, "taker": taker,
               "eth_maker": eth_maker, "eth_taker": eth_taker, "bob_open": bob_open}
        for api in (admin, alice, bob):
            api.close()


def _ids(page: dict[str, Any], key: str = "orders") -> list[str]:
    return [row["order_id" if key == "orders" else "trade_id"] for row in page[key]]


def test_all_orders_of_every_user_newest_first_with_their_owner(market: dict[str, Any]) -> None:
    admin, alice, bob = market["admin"], market["alice"], market["bob"]
    page = admin.ok("GET", "/admin/orders", params={"limit": 500})
    placed = [market[k]["order_id"] for k in ("resting", "cancelled", "maker", "taker",
                                               "eth_maker", "eth_taker", "bob_open")]
    assert _ids(page) == sorted(placed, key=int, reverse=True)
    assert page["next_cursor"] is None
    owners = {o["order_id"]: o["user_id"] for o in page["orders"]}
    assert owners[market["resting"]["order_id"]] == alice.account.user_id
    assert owners[market["taker"]["order_id"]] == bob.account.user_id
    row = next(o for o in page["orders"] if o["order_id"] == market["maker"]["order_id"])
    assert (row["status"], row["filled_quantity"], row["price"], row["symbol"]) == (
        "filled", "0.3000", "50000.00", "BTC-USD")
    # what the owner reads of the order is what the administrator reads, plus the owner
    own = alice.ok("GET", f"/orders/{market['maker']['order_id']}")
    assert {k: v for k, v in row.items() if k != "user_id"} == own


def test_order_filters_user_symbol_and_status(market: dict[str, Any]) -> None:
    admin, alice = market["admin"], market["alice"]
    mine = admin.ok("GET", "/admin/orders", params={"user_id": alice.account.user_id})
    assert {o["user_id"] for o in mine["orders"]} == {alice.account.user_id}
    assert len(mine["orders"]) == 4
    eth = admin.ok("GET", "/admin/orders", params={"symbol": "eth_usd"})
    assert _ids(eth) == [market["eth_taker"]["order_id"], market["eth_maker"]["order_id"]]
    opened = admin.ok("GET", "/admin/orders", params={"status": "open"})
    assert set(_ids(opened)) == {market["resting"]["order_id"], market["bob_open"]["order_id"]}
    cancelled = admin.ok("GET", "/admin/orders", params={"status": "cancelled"})
    assert _ids(cancelled) == [market["cancelled"]["order_id"]]
    closed = admin.ok("GET", "/admin/orders", params={
        "status": "closed", "user_id": alice.account.user_id, "symbol": "BTC-USD"})
    assert set(_ids(closed)) == {market["cancelled"]["order_id"], market["maker"]["order_id"]}
    nobody = admin.ok("GET", "/admin/orders", params={"user_id": 999_999})
    assert nobody == {"orders": [], "next_cursor": None}


def test_order_pages_follow_the_cursor_without_gaps_or_repeats(market: dict[str, Any]) -> None:
    admin = market["admin"]
    everything = _ids(admin.ok("GET", "/admin/orders", params={"limit": 500}))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = admin.ok("GET", "/admin/orders", params=params)
        seen += _ids(page)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["orders"]) == 2
    assert seen == everything and pages == (len(everything) + 1) // 2


def test_all_trades_with_both_sides_filters_and_pages(market: dict[str, Any]) -> None:
    admin, alice, bob = market["admin"], market["alice"], market["bob"]
    page = admin.ok("GET", "/admin/trades")
    assert len(page["trades"]) == 2 and page["next_cursor"] is None
    eth, btc = page["trades"]  # newest first
    assert int(eth["trade_id"]) > int(btc["trade_id"])
    assert btc == {**btc, "symbol": "BTC-USD", "price": "50000.00", "quantity": "0.3000",
                   "notional": "15000.000000", "side": "buy",
                   "maker_user_id": alice.account.user_id,
                   "maker_order_id": market["maker"]["order_id"],
                   "taker_user_id": bob.account.user_id,
                   "taker_order_id": market["taker"]["order_id"], "fee_asset": "USD"}
    taker_fill = next(f for f in market["taker"]["fills"])
    assert btc["trade_id"] == taker_fill["trade_id"] and btc["taker_fee"] == taker_fill["fee"]
    assert (eth["maker_user_id"], eth["taker_user_id"], eth["side"]) == (
        bob.account.user_id, alice.account.user_id, "buy")

    assert _ids(admin.ok("GET", "/admin/trades", params={"symbol": "ETH-USD"}),
                "trades") == [eth["trade_id"]]
    for user in (alice, bob):  # as maker or as taker
        found = admin.ok("GET", "/admin/trades", params={"user_id": user.account.user_id})
        assert _ids(found, "trades") == [eth["trade_id"], btc["trade_id"]]
    first = admin.ok("GET", "/admin/trades", params={"limit": 1})
    assert _ids(first, "trades") == [eth["trade_id"]] and first["next_cursor"] == eth["trade_id"]
    second = admin.ok("GET", "/admin/trades", params={"limit": 1, "cursor": first["next_cursor"]})
    assert _ids(second, "trades") == [btc["trade_id"]] and second["next_cursor"] is None


@pytest.mark.parametrize("path", ["/admin/orders", "/admin/trades"])
def test_bad_filters_are_structured_errors(market: dict[str, Any], path: str) -> None:
    admin = market["admin"]
    for params in ({"cursor": "abc"}, {"cursor": "99999999999999999999"}, {"cursor": "-1"},
                   {"limit": 0},
                   {"limit": 501}, {"user_id": 0}, {"user_id": "x"}, {"symbol": "BTC"}):
        assert_error(admin.get(path, params=params), 422, ApiCode.VALIDATION)
    assert_error(admin.get(path, params={"symbol": "DOG-USD"}), 404, Code.UNKNOWN_SYMBOL)
    # a cursor the schema allows is never refused: past every id is the first page,
    # 0 the end
    key = "orders" if path == "/admin/orders" else "trades"
    first = admin.ok("GET", path, params={"status": "open"} if key == "orders" else {})
    beyond = admin.ok("GET", path, params={"cursor": "9999999999999999999",
                                           **({"status": "open"} if key == "orders" else {})})
    assert beyond == first
    assert admin.ok("GET", path, params={"cursor": "0"}) == {key: [], "next_cursor": None}
    if path == "/admin/orders":
        assert_error(admin.get(path, params={"status": "resting"}), 422, ApiCode.VALIDATION)


@pytest.mark.parametrize("path", ["/admin/orders", "/admin/trades"])
def test_only_administrators_read_every_users_orders_and_trades(market: dict[str, Any],
                                                                 path: str) -> None:
    server: RunningServer = market["server"]
    assert_error(market["alice"].get(path), 403, ApiCode.FORBIDDEN)
    assert_error(Api(server).get(path), 401, ApiCode.UNAUTHENTICATED)
