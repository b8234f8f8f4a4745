"""The WebSocket endpoints against a real server on loopback: ``/ws`` and ``/ws/market``."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from matchbook.core import CancelAll, PlaceOrder
from matchbook.core.commands import BUY, LIMIT, SELL
from server import Account, RunningServer, running_server

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


class WS:
    """A blocking WebSocket client that reads JSON messages."""

    def __init__(self, url: str, sock: socket.socket | None = None) -> None:
        self._stack = ExitStack()
        self.conn: ClientConnection = self._stack.enter_context(
            connect(url, open_timeout=5, sock=sock, max_size=None))
        self._ids = 0

    def send(self, **message: Any) -> None:
        self.conn.send(json.dumps(message))

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(self.conn.recv(timeout=timeout))  # type: ignore[no-any-return]

    def until(self, predicate: Callable[[dict[str, Any]], bool],
              timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.recv(max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message

    def request(self, **message: Any) -> dict[str, Any]:
        """Send with a fresh request id; the answer (result, error, ack) carrying it."""
        self._ids += 1
        request_id = f"r{self._ids}"
        self.send(**message, request_id=request_id)
        return self.until(lambda m: m.get("request_id") == request_id)

    def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """Every message until none came for ``quiet`` seconds (heartbeats left out)."""
        out = []
        while True:
            try:
                message = self.recv(quiet)
            except TimeoutError:
                return out
            if message["type"] != "heartbeat":
                out.append(message)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> WS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("ws"), ws_heartbeat_seconds=1.0) as running:
        yield running


def funded(server: RunningServer) -> Account:
    return server.funded(USD="10000000", BTC="100", ETH="1000", SOL="100000")


def place(server: RunningServer, account: Account, **order: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.base_url}/api/v1/orders", headers=account.headers,
                          json=order)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def depth(server: RunningServer, symbol: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/api/v1/depth",
                         params={"symbol": symbol, "limit": 1000})
    return response.json()  # type: ignore[no-any-return]


def apply(book: dict[str, dict[str, str]], message: dict[str, Any]) -> None:
    for side in ("bids", "asks"):
        for price, qty in message[side]:
            if Decimal(qty) == 0:
                book[side].pop(price, None)
            else:
                book[side][price] = qty


def as_depth(book: dict[str, dict[str, str]]) -> tuple[list[list[str]], list[list[str]]]:
    bids = sorted(book["bids"].items(), key=lambda kv: Decimal(kv[0]), reverse=True)
    asks = sorted(book["asks"].items(), key=lambda kv: Decimal(kv[0]))
    return [list(b) for b in bids], [list(a) for a in asks]


# -- public channels ---------------------------------------------------------------------


def test_book_sends_a_snapshot_then_contiguous_deltas(server: RunningServer) -> None:
    maker = funded(server)
    place(server, maker, symbol="SOL-USD", side="buy", price="140", quantity="1")
    with WS(server.ws_url) as ws:
        ack = ws.request(op="subscribe", channel="book", symbol="sol/usd")
        assert ack["type"] == "subscribed" and ack["symbol"] == "SOL-USD"
        assert ack["resumed"] is False and ack["epoch"]
        snapshot = ws.until(lambda m: m["type"] == "book_snapshot")
        assert snapshot["symbol"] == "SOL-USD"
        assert [Decimal(p) for p, _ in snapshot["bids"]] == [Decimal(140)]
        book = {"bids": dict(map(tuple, snapshot["bids"])),
                "asks": dict(map(tuple, snapshot["asks"]))}
        last = snapshot["update_id"]
        order = place(server, maker, symbol="SOL-USD", side="sell", price="160", quantity="2")
        httpx.delete(f"{server.base_url}/api/v1/orders/{order['order_id']}",
                     headers=maker.headers)
        place(server, maker, symbol="SOL-USD", side="buy", price="141", quantity="3")
        target = depth(server, "SOL-USD")["last_update_id"]
        deltas = []
        while last < target:
            delta = ws.until(lambda m: m["type"] == "book_delta")
            assert delta["first_update_id"] == last + 1
            apply(book, delta)
            deltas.append(delta)
            last = delta["last_update_id"]
        rest = depth(server, "SOL-USD")
        assert as_depth(book) == (rest["bids"], rest["asks"])
        removals = [(p, q) for d in deltas for p, q in d["asks"] if q == "0"]
        assert [Decimal(p) for p, _ in removals] == [Decimal(160)]
        httpx.delete(f"{server.base_url}/api/v1/orders", headers=maker.headers)


def test_since_replays_missed_deltas_or_sends_a_snapshot(server: RunningServer) -> None:
    maker = funded(server)
    sym = server.state.exchange.markets.symbols["ETH-USD"]
    with WS(server.ws_url) as ws:
        ws.request(op="subscribe", channel="book", symbol="ETH-USD")
        snapshot = ws.until(lambda m: m["type"] == "book_snapshot")
    since, epoch = snapshot["update_id"], snapshot["epoch"]
    for i in range(3):
        place(server, maker, symbol="ETH-USD", side="buy", price=f"{2900 + i}", quantity="1")
    now = depth(server, "ETH-USD")
    with WS(server.ws_url) as ws:  # resumed: one merged delta since..now
        ack = ws.request(op="subscribe", channel="book", symbol="ETH-USD", since=since,
                         epoch=epoch)
        assert ack["resumed"] is True
        delta = ws.recv()
        assert delta["type"] == "book_delta"
        assert (delta["first_update_id"], delta["last_update_id"]) == (
            since + 1, now["last_update_id"])
        assert sorted(p for p, _ in delta["bids"]) == ["2900.00", "2901.00", "2902.00"]
    with WS(server.ws_url) as ws:  # another epoch (a restarted server): a snapshot
        ack = ws.request(op="subscribe", channel="book", symbol="ETH-USD", since=since,
                         epoch="1")
        assert ack["resumed"] is False
        assert ws.recv()["type"] == "book_snapshot"
    # push the window (4096 deltas) past `since`: place and cancel many orders
    commands: list[Any] = []
    for i in range(4200):
        commands.append(PlaceOrder(maker.user_id, "ETH-USD", SELL, LIMIT,
                                   qty_lots=sym.min_qty_lots, price_ticks=sym.price_to_ticks(
                                       str(3100 + i % 50))))
        if i % 50 == 49:
            commands.append(CancelAll(maker.user_id, "ETH-USD"))
    commands.append(CancelAll(maker.user_id, "ETH-USD"))
    server.submit_many(commands)
    assert server.state.exchange.marketdata.feeds["ETH-USD"].deltas_since(since) is None
    with WS(server.ws_url) as ws:
        ack = ws.request(op="subscribe", channel="book", symbol="ETH-USD", since=since,
                         epoch=epoch)
        assert ack["resumed"] is False
        fresh = ws.recv()
        assert fresh["type"] == "book_snapshot"
        rest = depth(server, "ETH-USD")
        assert fresh["update_id"] == rest["last_update_id"]
        assert (fresh["bids"], fresh["asks"]) == (rest["bids"], rest["asks"])


def test_trades_ticker_and_candles(server: RunningServer) -> None:
    maker, taker = funded(server), funded(server)
    with WS(server.ws_url) as ws:
        for channel in ("trades", "ticker", "candles"):
            ack = ws.request(op="subscribe", channel=channel, symbol="BTC-USD")
            assert ack["type"] == "subscribed"
        place(server, maker, symbol="BTC-USD", side="sell", price="50000", quantity="0.5")
        place(server, taker, symbol="BTC-USD", side="buy", price="50000", quantity="0.2")
        trade = ws.until(lambda m: m["type"] == "trade")
        assert trade == {"type": "trade", "symbol": "BTC-USD", "trade_id": trade["trade_id"],
                         "price": "50000.00", "quantity": "0.2000", "side": "buy",
                         "timestamp_ns": trade["timestamp_ns"]}
        ticker = ws.until(lambda m: m["type"] == "ticker" and m["last"] == "50000.00")
        assert ticker["symbol"] == "BTC-USD" and ticker["best_ask"] == "50000.00"
        candle = ws.until(lambda m: m["type"] == "candle" and m["close"] == "50000.00")
        assert candle["interval"] == "1m" and candle["trades"] >= 1
        gone = ws.request(op="unsubscribe", channel="trades", symbol="BTC-USD")
        assert gone == {"type": "unsubscribed", "channel": "trades", "symbol": "BTC-USD",
                        "request_id": gone["request_id"], "was_subscribed": True}
        place(server, taker, symbol="BTC-USD", side="buy", price="50000", quantity="0.1")
        assert not [m for m in ws.drain() if m["type"] == "trade"]
        httpx.delete(f"{server.base_url}/api/v1/orders", headers=maker.headers)
        bad = ws.request(op="subscribe", channel="candles", symbol="BTC-USD", interval="7m")
        assert bad["type"] == "error" and bad["code"] == 6001
        bad = ws.request(op="subscribe", channel="book", symbol="DOGE-USD")
        assert bad["type"] == "error" and bad["code"] == 1001


# -- private channels ----------------------------------------------------------------------


def test_private_channels_need_auth_and_reach_only_their_user(server: RunningServer) -> None:
    alice, bob = funded(server), funded(server)
    with WS(server.ws_url) as a, WS(server.ws_url) as b:
        refused = a.request(op="subscribe", channel="orders")
        assert refused["type"] == "error" and refused["code"] == 5001
        bad = a.request(op="auth", token="not-a-token")
        assert bad["type"] == "error" and bad["code"] == 5003
        for ws, who in ((a, alice), (b, bob)):
            ok = ws.request(op="auth", token=who.token)
            assert ok["type"] == "authenticated" and ok["user_id"] == who.user_id
            ws.request(op="subscribe", channel="orders")
            assert ws.recv()["type"] == "orders_snapshot"
            ws.request(op="subscribe", channel="balances")
            first = ws.recv()
            assert first["type"] == "balances" and len(first["balances"]) >= 4
        resting = place(server, alice, symbol="BTC-USD", side="sell", price="51000",
                        quantity="0.3")
        accepted = a.until(lambda m: m["type"] == "order")
        assert accepted["event"] == "accepted"
        assert accepted["order"]["order_id"] == resting["order_id"]
        assert accepted["order"]["status"] == "new"
        held = a.until(lambda m: m["type"] == "balances")
        btc = next(x for x in held["balances"] if x["asset"] == "BTC")
        assert Decimal(btc["held"]) == Decimal("0.3")
        # a cross between alice and another user: alice sees the fill, bob sees nothing
        taker = funded(server)
        place(server, taker, symbol="BTC-USD", side="buy", price="51000", quantity="0.1")
        filled = a.until(lambda m: m["type"] == "order" and m["event"] == "filled")
        assert filled["order"]["status"] == "partially_filled"
        assert filled["order"]["filled_quantity"] == "0.1000"
        assert filled["fill"]["is_maker"] is True and filled["fill"]["price"] == "51000.00"
        after = a.until(lambda m: m["type"] == "balances")
        assert {x["asset"] for x in after["balances"]} == {"BTC", "USD"}
        httpx.delete(f"{server.base_url}/api/v1/orders/{resting['order_id']}",
                     headers=alice.headers)
        cancelled = a.until(lambda m: m["type"] == "order" and m["event"] == "cancelled")
        assert cancelled["order"]["status"] == "cancelled"
        assert cancelled["order"]["remaining_quantity"] == "0.0000"
        assert cancelled["cancel_reason"] == "user"
        assert b.request(op="ping")["type"] == "pong"
        assert [m for m in b.drain() if m["type"] in ("order", "balances")] == []
        switch = b.request(op="auth", token=alice.token)
        assert switch["type"] == "error" and switch["code"] == 5004


def test_api_key_auth_and_scopes(server: RunningServer) -> None:
    alice = funded(server)
    response = httpx.post(f"{server.base_url}/api/v1/api-keys", headers=alice.headers,
                          json={"scopes": ["read"], "label": "watcher"})
    key = response.json()["api_key"]
    with WS(server.ws_url) as ws:
        ok = ws.request(op="auth", token=key)
        assert ok["type"] == "authenticated" and ok["scopes"] == ["read"]
        assert ws.request(op="subscribe", channel="balances")["type"] == "subscribed"
        denied = ws.request(op="place", symbol="BTC-USD", side="buy", price="1",
                            quantity="1")
        assert denied["type"] == "error" and denied["code"] == 5009


# -- order entry -----------------------------------------------------------------------------


def test_order_entry_echoes_request_ids_and_errors(server: RunningServer) -> None:
    alice = funded(server)
    with WS(server.ws_url) as ws:
        early = ws.request(op="place", symbol="BTC-USD", side="buy", price="49000",
                           quantity="0.01")
        assert early["type"] == "error" and early["code"] == 5001
        ws.request(op="auth", token=alice.token)
        placed = ws.request(op="place", symbol="BTC-USD", side="buy", price="49000",
                            quantity="0.01", client_order_id="ws-1")
        assert placed["type"] == "result" and placed["op"] == "place"
        order = placed["data"]
        assert order["status"] == "new" and order["client_order_id"] == "ws-1"
        assert order["price"] == "49000.00" and order["fills"] == []
        amended = ws.request(op="amend", order_id=order["order_id"], quantity="0.005")
        assert amended["type"] == "result" and amended["data"]["priority_kept"] is True
        assert amended["data"]["quantity"] == "0.0050"
        cancelled = ws.request(op="cancel", order_id=order["order_id"])
        assert cancelled["data"] == {"order_id": order["order_id"], "symbol": "BTC-USD",
                                     "status": "cancelled", "cancelled_quantity": "0.0050"}
        again = ws.request(op="cancel", order_id=order["order_id"])
        assert again["type"] == "error" and again["code"] == 1012
        assert again["request_id"] == f"r{ws._ids}"
        bad_price = ws.request(op="place", symbol="BTC-USD", side="buy", price="49000.001",
                               quantity="0.01")
        assert bad_price["type"] == "error" and bad_price["code"] == 1003
        invalid = ws.request(op="place", symbol="BTC-USD", side="sideways", price="1",
                             quantity="1")
        assert invalid["type"] == "error" and invalid["code"] == 6001
        assert invalid["message"].startswith("side")
        broke = ws.request(op="place", symbol="BTC-USD", side="buy", price="49000",
                           quantity="999")
        assert broke["type"] == "error" and broke["code"] == 2001
        for _ in range(3):
            ws.request(op="place", symbol="BTC-USD", side="buy", price="48000",
                       quantity="0.01")
        everything = ws.request(op="cancel_all", symbol="BTC-USD")
        assert everything["type"] == "result" and everything["data"]["count"] == 3
        unknown = ws.request(op="explode")
        assert unknown["type"] == "error" and unknown["code"] == 6001
        ws.conn.send("this is not json")
        assert ws.until(lambda m: m["type"] == "error")["code"] == 6001


def test_an_expired_access_token_cannot_trade(server: RunningServer) -> None:
    alice = funded(server)
    expires = int(time.time()) + 2  # exp has a one-second resolution: at least 1 s left
    token = server.state.tokens.issue(alice.user_id, "user",
                                      now=expires - server.settings.access_token_seconds)
    with WS(server.ws_url) as ws:
        signed_in = ws.request(op="auth", token=token)
        assert signed_in["type"] == "authenticated"
        assert signed_in["expires_ns"] == expires * 10**9  # the token's own exp
        time.sleep(max(0.0, expires - time.time()) + 0.05)
        late = ws.request(op="cancel_all")
        assert late["type"] == "error" and late["code"] == 5002
        assert ws.request(op="auth", token=alice.token)["type"] == "authenticated"
        assert ws.request(op="cancel_all")["type"] == "result"


def test_heartbeat_when_idle_and_pong_on_ping(server: RunningServer) -> None:
    with WS(server.ws_url) as ws:
        pong = ws.request(op="ping")
        assert pong["type"] == "pong" and pong["time_ns"] > 0
        started = time.monotonic()
        assert ws.recv(timeout=10.0) == {"type": "heartbeat"}
        assert 0.5 < time.monotonic() - started < 10.0  # after the interval, not at once
        metrics = httpx.get(f"{server.base_url}/metrics").text
        assert "matchbook_websocket_clients" in metrics


def test_messages_are_rate_limited_per_connection(server: RunningServer) -> None:
    hub = server.state.ws_hub
    rate, burst = hub.rate, hub.burst
    hub.rate, hub.burst = 5.0, 5  # for connections opened from now on (read before accept)
    try:
        ws = WS(server.ws_url)
    finally:
        hub.rate, hub.burst = rate, burst
    with ws:
        for i in range(12):
            ws.send(op="ping", request_id=i)
        answers = [ws.until(lambda m: m["type"] != "heartbeat") for _ in range(12)]
        limited = [m for m in answers if m["type"] == "error"]
        assert len(limited) >= 6 and all(m["code"] == 5005 for m in limited)
        assert len([m for m in answers if m["type"] == "pong"]) <= 6


# -- slow consumers ------------------------------------------------------------------------


def _tiny_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


def test_slow_consumers_are_resynced_or_dropped_without_stalling_others(
        tmp_path: Any) -> None:
    with running_server(tmp_path, ws_queue_size=20, send_buffer=8192) as srv:
        maker = funded(srv)
        sym = srv.state.exchange.markets.symbols["BTC-USD"]
        hub = srv.state.ws_hub
        slow_private = WS(srv.ws_url, _tiny_socket(srv.port))
        slow_private.request(op="auth", token=maker.token)
        slow_private.request(op="subscribe", channel="orders")
        slow_public = WS(srv.ws_url, _tiny_socket(srv.port))
        slow_public.request(op="subscribe", channel="book", symbol="BTC-USD")
        with WS(srv.ws_url) as fast:
            fast.request(op="subscribe", channel="book", symbol="BTC-USD")
            snapshot = fast.until(lambda m: m["type"] == "book_snapshot")
            last = snapshot["update_id"]
            # neither slow client reads from here on
            for _ in range(150):  # one command per batch: one delta message each
                srv.submit_each([*(PlaceOrder(maker.user_id, "BTC-USD", BUY, LIMIT,
                                              qty_lots=sym.min_qty_lots,
                                              price_ticks=sym.price_to_ticks(str(45000 + i)))
                                   for i in range(100)), CancelAll(maker.user_id)])
                while True:  # the fast client keeps up the whole time
                    delta = fast.until(lambda m: m["type"] == "book_delta")
                    assert delta["first_update_id"] == last + 1
                    last = delta["last_update_id"]
                    if last >= srv.state.exchange.marketdata.feeds["BTC-USD"].update_id:
                        break
                if hub.dropped and hub.resyncs:
                    break
            # "without stalling": the fast client got every delta in order above, in the
            # same rounds that saw the slow ones dropped or resynced (no wall-clock bound:
            # how long that takes depends on the machine's load, not on the server)
            assert hub.dropped >= 1, "the private slow consumer was not dropped"
            assert hub.resyncs >= 1, "the public slow consumer was not told to resync"
            deadline = time.monotonic() + 5
            while hub.client_count > 2 and time.monotonic() < deadline:
                time.sleep(0.01)  # the dropped connection is forgotten by its own task
            assert hub.client_count == 2  # fast + the resynced public one
        # the resynced client finds a resync message in what was queued for it
        seen = read_all(slow_public)
        assert any(m["type"] == "resync" and m["channel"] == "book" for m in seen)
        resync = next(m for m in seen if m["type"] == "resync")
        assert resync["symbol"] == "BTC-USD" and resync["update_id"] > 0
        ack = slow_public.request(op="subscribe", channel="book", symbol="BTC-USD",
                                  since=resync["update_id"], epoch=snapshot["epoch"])
        assert ack["type"] == "subscribed"
        slow_public.close()
        read_all(slow_private)
        assert slow_private.conn.close_code == 1013
        slow_private.close()


def read_all(ws: WS, timeout: float = 0.5) -> list[dict[str, Any]]:
    """What arrives until nothing came for ``timeout`` seconds or the server closed."""
    seen = []
    try:
        while True:
            seen.append(ws.recv(timeout=timeout))
    except (TimeoutError, ConnectionClosed):
        return seen


# -- /ws/market ----------------------------------------------------------------------------


def test_ws_market_sends_the_simple_book_and_trades(server: RunningServer) -> None:
    maker, taker = funded(server), funded(server)
    httpx.delete(f"{server.base_url}/api/v1/orders", headers=maker.headers)
    with WS(server.ws_url.replace("/ws", "/ws/market")) as ws:
        first = ws.recv()
        assert first["type"] == "order_book"
        rest = httpx.get(f"{server.base_url}/api/orderbook").json()
        assert {k: first[k] for k in ("bids", "asks", "best_bid", "best_ask")} == {
            k: rest[k] for k in ("bids", "asks", "best_bid", "best_ask")}
        place(server, maker, symbol="BTC-USD", side="sell", price="50500", quantity="0.25")
        book = ws.until(lambda m: m["type"] == "order_book" and m["best_ask"] == "50500.00")
        assert ["50500.00", "0.25"] in book["asks"] or book["asks"][0][0] == "50500.00"
        rest = httpx.get(f"{server.base_url}/api/orderbook").json()
        assert {k: book[k] for k in ("bids", "asks", "best_bid", "best_ask")} == {
            k: rest[k] for k in ("bids", "asks", "best_bid", "best_ask")}
        place(server, taker, symbol="BTC-USD", side="buy", price="50500", quantity="0.05")
        trade = ws.until(lambda m: m["type"] == "trade")
        assert set(trade) == {"type", "timestamp", "price", "quantity", "side"}
        assert (trade["price"], trade["quantity"], trade["side"]) == ("50500.00", "0.05", "buy")
        assert trade["timestamp"].endswith("Z")
        ws.send(op="ping")
        assert ws.until(lambda m: m["type"] == "pong")["time_ns"] > 0
        httpx.delete(f"{server.base_url}/api/v1/orders", headers=maker.headers)


def test_revoking_an_api_key_closes_its_sockets(server: RunningServer) -> None:
    alice = funded(server)
    created = [httpx.post(f"{server.base_url}/api/v1/api-keys", headers=alice.headers,
                          json={"scopes": ["read", "trade"], "label": label}).json()
               for label in ("revoked", "kept")]
    with WS(server.ws_url) as revoked, WS(server.ws_url) as kept:
        assert revoked.request(op="auth", token=created[0]["api_key"])["type"] == "authenticated"
        assert kept.request(op="auth", token=created[1]["api_key"])["type"] == "authenticated"
        response = httpx.delete(
            f"{server.base_url}/api/v1/api-keys/{created[0]['api_key_id']}",
            headers=alice.headers)
        assert response.status_code == 200 and response.json()["revoked"] is True
        with pytest.raises(ConnectionClosed) as closed:
            revoked.until(lambda message: False, timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason == "API key revoked"
        assert kept.request(op="subscribe", channel="orders")["type"] == "subscribed"
    with WS(server.ws_url) as again:
        refused = again.request(op="auth", token=created[0]["api_key"])
        assert refused["type"] == "error" and refused["code"] == 5001
