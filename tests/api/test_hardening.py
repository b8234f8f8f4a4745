"""Limits that hold before a request is parsed, throttles that hold under concurrency,
and the smaller defects a hostile probe found: each test failed on the server before
these limits existed.

One server (SQLite) with small limits serves the whole module; tests that change a
limit start their own.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_helpers import assert_error
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from matchbook.api.errors import ApiCode
from matchbook.core.codes import Code
from server import RunningServer, running_server

pytestmark = pytest.mark.slow  # real servers

LIMITS = {"max_body_bytes": 4096, "max_admin_body_bytes": 65536, "max_url_bytes": 2048,
          "max_header_bytes": 4096, "body_timeout_seconds": 0.5, "ws_max_message_bytes": 4096}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("hardening"), **LIMITS) as running:
        yield running


def _raw(server: RunningServer, head: bytes, body: bytes = b"", *,
         wait: float = 5.0) -> tuple[int, dict[str, Any], float]:
    """Send ``head`` and the start of a body on a raw socket, never the rest; return the
    status, the JSON body and how long the answer took."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        started = time.monotonic()
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data or not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - started
    header, _, payload = data.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    return status, json.loads(payload) if payload else {}, elapsed


def _complete(data: bytes) -> bool:
    header, _, payload = data.partition(b"\r\n\r\n")
    for line in header.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(payload) >= int(line.split(b":")[1])
    return True


def _post_head(path: str, length: int, token: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {length}\r\n\r\n").encode()


# -- limits before parsing ------------------------------------------------------------


def test_an_anonymous_order_is_refused_before_its_body_is_read(server: RunningServer) -> None:
    # 64 MB announced, 10 bytes sent: a server waiting for the body would time it out
    # (408) or never answer (the socket gives up after 5 s)
    status, body, _ = _raw(server, _post_head("/api/v1/orders", 64 << 20), b'{"side": "')
    assert status == 401 and body["code"] == ApiCode.UNAUTHENTICATED


def test_a_bad_token_is_refused_before_the_body_is_read(server: RunningServer) -> None:
    status, body, _ = _raw(server, _post_head("/api/v1/orders", 1000, "not-a-token"), b"{")
    assert status == 401 and body["code"] == ApiCode.TOKEN_INVALID


def test_a_declared_body_beyond_the_limit_is_refused_before_it_is_read(
        server: RunningServer) -> None:
    token = server.make_user().token
    status, body, _ = _raw(server, _post_head("/api/v1/orders", 64 << 20, token), b"{")
    assert status == 413 and body["code"] == ApiCode.BODY_TOO_LARGE
    assert "4096 bytes" in body["message"]


def test_a_streamed_body_is_cut_off_when_it_crosses_the_limit(server: RunningServer) -> None:
    user = server.make_user()

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        yield b'{"side": "buy", "client_order_id": "'
        for _ in range(100):
            yield b"x" * 1000

    response = httpx.post(server.base_url + "/api/v1/orders", content=chunks(),
                          headers={**user.headers, "content-type": "application/json"})
    assert_error(response, 413, ApiCode.BODY_TOO_LARGE)


def test_admin_routes_take_a_larger_body(server: RunningServer) -> None:
    admin = server.make_admin()
    body = {"user_id": 1, "asset": "USD", "amount": "1", "reason": "x" * 10_000}
    response = httpx.post(server.base_url + "/api/v1/admin/adjustments", json=body,
                          headers=admin.headers)
    assert_error(response, 422, ApiCode.VALIDATION)  # past the size check, to the rules


def test_a_stalled_body_times_out(server: RunningServer) -> None:
    token = server.make_user().token
    status, body, elapsed = _raw(server, _post_head("/api/v1/orders", 100, token), b'{"si')
    assert status == 408 and body["code"] == ApiCode.REQUEST_TIMEOUT
    assert 0.4 < elapsed < 10.0  # the timeout (0.5 s here) fired, not the client's own


def test_long_urls_and_large_headers_are_refused(server: RunningServer) -> None:
    response = httpx.get(server.base_url + "/api/v1/depth", params={"symbol": "X" * 3000})
    assert_error(response, 414, ApiCode.URL_TOO_LONG)
    response = httpx.get(server.base_url + "/api/v1/depth", headers={"X-Padding": "p" * 5000})
    assert_error(response, 431, ApiCode.HEADERS_TOO_LARGE)


def test_a_websocket_message_beyond_the_limit_closes_the_connection(
        server: RunningServer) -> None:
    with connect(server.ws_url) as ws:
        ws.send(json.dumps({"op": "ping"}))
        json.loads(ws.recv(timeout=5))
        ws.send(json.dumps({"op": "ping", "pad": "x" * 10_000}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


# -- throttles ------------------------------------------------------------------------


def test_concurrent_wrong_logins_are_throttled_at_the_limit(tmp_path: Path) -> None:
    with running_server(tmp_path, login_max_failures=5) as server:
        user = server.make_user()

        async def attempt(client: httpx.AsyncClient) -> httpx.Response:
            return await client.post("/api/v1/auth/login",
                                     json={"email": user.email, "password": "wrong password"})

        async def storm() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
                return list(await asyncio.gather(*(attempt(client) for _ in range(60))))

        statuses = sorted(r.status_code for r in asyncio.run(storm()))
        assert statuses == [401] * 5 + [429] * 55
        refused = httpx.post(server.base_url + "/api/v1/auth/login",
                             json={"email": user.email, "password": user.password})
        assert_error(refused, 429, ApiCode.LOGIN_THROTTLED)  # even the right password
        assert int(refused.headers["Retry-After"]) >= 1


def test_anonymous_calls_and_sign_ups_are_limited_per_address(tmp_path: Path) -> None:
    with running_server(tmp_path, anon_rate_per_second=0.001, anon_rate_burst=20,
                        signup_per_hour=1.0, signup_burst=3) as server:
        signed_in = server.make_user()
        with httpx.Client(base_url=server.base_url) as client:
            statuses = [client.get("/api/v1/ticker").status_code for _ in range(40)]
            assert statuses == [200] * 20 + [429] * 20
            refused = client.get("/api/v1/depth", headers={"Authorization": "Bearer made-up"})
            assert_error(refused, 429, ApiCode.RATE_LIMITED)  # headers do not bypass it
            assert int(refused.headers["Retry-After"]) >= 1
            # a signed-in caller of a private route has its own limit
            assert client.get("/api/v1/balances", headers=signed_in.headers).status_code == 200

    with running_server(tmp_path / "signups", signup_per_hour=1.0, signup_burst=3) as server:
        with httpx.Client(base_url=server.base_url) as client:
            statuses = [client.post("/api/v1/auth/signup", json={
                "email": f"new{i}@test.local", "password": "long enough pass"}).status_code
                for i in range(5)]
        assert statuses == [201, 201, 201, 429, 429]


def test_the_client_address_comes_from_trusted_proxies_only(tmp_path: Path) -> None:
    def statuses(server: RunningServer, forwarded: list[str]) -> list[int]:
        with httpx.Client(base_url=server.base_url) as client:
            return [client.get("/api/v1/ticker",
                               headers={"X-Forwarded-For": f"{hop}, 127.0.0.1"}).status_code
                    for hop in forwarded]

    spread = [f"203.0.113.{i}" for i in range(6)]  # six addresses, two requests each
    forwarded = [hop for hop in spread for _ in range(2)]
    limits = {"anon_rate_per_second": 0.01, "anon_rate_burst": 2}
    with running_server(tmp_path / "direct", **limits) as server:
        assert statuses(server, forwarded).count(429) == 10  # one client: the peer
    with running_server(tmp_path / "proxied", trusted_proxies=("127.0.0.1/32",),
                        **limits) as server:
        assert statuses(server, forwarded).count(429) == 0  # six clients behind the proxy


# -- smaller defects ------------------------------------------------------------------


@pytest.mark.parametrize(("path", "allowed"), [
    ("/api/v1/orders", "DELETE, GET, OPTIONS, POST"),
    ("/api/v1/orders/7", "DELETE, GET, OPTIONS, PATCH"),
    ("/api/v1/api-keys", "GET, OPTIONS, POST"),
])
def test_options_and_405_name_every_method_of_the_path(server: RunningServer, path: str,
                                                        allowed: str) -> None:
    options = httpx.request("OPTIONS", server.base_url + path)
    assert options.status_code == 204 and options.headers["allow"] == allowed
    refused = httpx.put(server.base_url + path, headers=server.make_user().headers)
    assert_error(refused, 405, ApiCode.METHOD_NOT_ALLOWED)
    assert refused.headers["allow"] == allowed


def test_error_messages_never_echo_long_input(server: RunningServer) -> None:
    user = server.make_user()
    response = httpx.get(server.base_url + "/api/v1/depth", params={"symbol": "X" * 1900})
    body = assert_error(response, 422, ApiCode.VALIDATION)
    assert "XXX" not in response.text and body["field"] == "symbol"
    response = httpx.get(server.base_url + "/api/v1/depth", params={"symbol": "X" * 9 + "-USD"})
    assert_error(response, 404, Code.UNKNOWN_SYMBOL)
    response = httpx.post(server.base_url + "/api/v1/orders", headers=user.headers,
                          json={"side": "buy", "k" * 3000: 1})
    body = assert_error(response, 422, ApiCode.VALIDATION)
    assert len(response.content) < 2000
    assert all(len(e["field"]) <= 100 for e in body["errors"])


def test_an_error_message_is_clipped_whatever_it_quotes() -> None:
    from matchbook.api.errors import MAX_MESSAGE, error_body

    body = error_body(ApiCode.VALIDATION, "Unknown symbol " + "X" * 20_000)
    assert len(str(body["message"])) == MAX_MESSAGE and str(body["message"]).endswith("…")
    assert error_body(ApiCode.VALIDATION, "short")["message"] == "short"
