"""An order has one shape everywhere: an amend that fills the order completely answers the
whole order (REST, WebSocket, SDK), an order reads the same open and closed, and an
answer describes its own command even when later commands of the same batch changed
the order before its caller resumed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from matchbook.api import views
from matchbook.api.schemas import NewOrder
from matchbook.client import AsyncClient, Client
from server import Account, RunningServer, running_server

pytestmark = pytest.mark.slow  # a real server
ORDER_KEYS = {f.encode_name for f in msgspec.structs.fields(views.Order)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(Path(tmp_path_factory.mktemp("orders"))) as running:
        yield running


def funded(server: RunningServer) -> Account:
    return server.funded(USD="1000000", ETH="100")


def rest(server: RunningServer, account: Account, method: str, path: str,
         **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.base_url}/api/v1{path}", headers=account.headers,
                         timeout=30, **kwargs)


def crossable(server: RunningServer) -> tuple[Account, Account, str]:
    """A buyer with a resting bid under a seller's 0.5 ETH ask at 3000: amending the bid
    to 3000 fills it completely. Returns the buyer, the seller, the bid's id."""
    buyer, seller = funded(server), funded(server)
    ask = rest(server, seller, "POST", "/orders",
               json={"symbol": "ETH-USD", "side": "sell", "price": "3000", "quantity": "0.5"})
    assert ask.status_code == 201, ask.text
    bid = rest(server, buyer, "POST", "/orders",
               json={"symbol": "ETH-USD", "side": "buy", "price": "2990", "quantity": "0.5"})
    assert bid.status_code == 201 and bid.json()["status"] == "new", bid.text
    return buyer, seller, bid.json()["order_id"]


def assert_filled_by_amend(order: dict[str, Any], order_id: str) -> None:
    assert set(order) == ORDER_KEYS
    assert (order["order_id"], order["status"], order["price"]) == (order_id, "filled",
                                                                    "3000.00")
    assert (order["filled_quantity"], order["remaining_quantity"]) == ("0.500", "0.000")
    assert order["priority_kept"] is False and order["side"] == "buy"
    assert [(f["price"], f["quantity"], f["is_maker"]) for f in order["fills"]] == [
        ("3000.00", "0.500", False)]


def test_rest_amend_that_fills_the_order_answers_the_whole_order(server: RunningServer) -> None:
    buyer, _, order_id = crossable(server)
    answer = rest(server, buyer, "PATCH", f"/orders/{order_id}", json={"price": "3000"})
    assert answer.status_code == 200, answer.text
    assert_filled_by_amend(answer.json(), order_id)


def test_websocket_amend_that_fills_the_order_answers_the_whole_order(
        server: RunningServer) -> None:
    buyer, _, order_id = crossable(server)

    async def scenario() -> Any:
        async with AsyncClient(server.base_url, token=buyer.token) as client, \
                client.stream() as stream:  # the answer's data as sent
            return await stream.order_request("amend", {"order_id": order_id, "price": "3000"})

    assert_filled_by_amend(asyncio.run(scenario()), order_id)


def test_sdk_amend_that_fills_the_order_decodes(server: RunningServer) -> None:
    buyer, _, order_id = crossable(server)
    with Client(server.base_url, token=buyer.token) as client:
        order = client.amend_order(order_id, price="3000")
    assert (order.status, order.filled_quantity, order.is_open) == ("filled", Decimal("0.5"),
                                                                     False)
    assert order.fee is not None and order.fee > 0 and order.fee_asset == "USD"
    buyer, _, order_id = crossable(server)

    async def over_the_stream() -> Any:
        async with AsyncClient(server.base_url, token=buyer.token) as client, \
                client.stream() as stream:
            return await stream.amend_order(order_id, price="3000")

    streamed = asyncio.run(over_the_stream())
    assert (streamed.status, streamed.remaining_quantity) == ("filled", Decimal("0"))


def test_an_order_reads_with_the_same_fields_open_and_closed(server: RunningServer) -> None:
    buyer, seller, order_id = crossable(server)
    opened = rest(server, buyer, "GET", f"/orders/{order_id}").json()
    assert set(opened) == ORDER_KEYS and opened["status"] == "new"
    listed = rest(server, buyer, "GET", "/orders", params={"symbol": "ETH-USD"}).json()
    assert [set(o) for o in listed] == [ORDER_KEYS]
    assert rest(server, seller, "POST", "/orders", json={
        "symbol": "ETH-USD", "side": "sell", "price": "2990", "quantity": "0.5"}).status_code == 201
    deadline = time.monotonic() + 15
    while True:  # the bid is now closed; it is read from history once projected
        closed = rest(server, buyer, "GET", f"/orders/{order_id}").json()
        if closed.get("status") == "filled" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert set(closed) == ORDER_KEYS and closed["status"] == "filled"
    for key in ("order_id", "symbol", "side", "type", "price", "time_in_force", "post_only",
                "client_order_id", "fee_asset"):
        assert closed[key] == opened[key], key
    assert closed["created_ns"] is not None and closed["fee"] is not None


def test_an_amend_is_answered_from_its_own_events(server: RunningServer) -> None:
    """The amend and a sell that then fills the amended order, in one sequencer batch:
    the amend's answer is the order as the amend left it (open, its new quantity), not
    as the engine holds it when the caller resumes (filled and gone)."""
    buyer, seller = funded(server), funded(server)
    trading = server.state.trading
    exchange = server.state.exchange
    bid = rest(server, buyer, "POST", "/orders", json={
        "symbol": "ETH-USD", "side": "buy", "price": "2990", "quantity": "0.5"}).json()

    async def same_batch() -> dict[str, Any]:
        sell = trading.order_command(seller.user_id, NewOrder(
            symbol="ETH-USD", side="sell", price="2990", quantity="0.4"))
        batches = exchange.sequencer.stats.batches
        amended, placed = await asyncio.gather(
            trading.amend(buyer.user_id, int(bid["order_id"]), None, "0.4"),
            trading.place(sell))
        assert exchange.sequencer.stats.batches == batches + 1  # one batch
        assert placed.status == "filled"
        return msgspec.to_builtins(amended)  # type: ignore[no-any-return]

    amended = server.call(same_batch)
    assert (amended["status"], amended["quantity"], amended["remaining_quantity"]) == (
        "new", "0.400", "0.400")
    assert amended["priority_kept"] is True and amended["fills"] == []
    assert server.state.reads.open_order(buyer.user_id, int(bid["order_id"])) is None
