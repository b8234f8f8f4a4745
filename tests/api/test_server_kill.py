"""kill -9 of a real ``matchbook serve`` in the middle of WebSocket order entry: after a
restart on the same data directory every acknowledged order is there, with its status,
and no order exists that was neither acknowledged nor in flight."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from matchbook.api.users import create_users

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run

PASSWORD = "correct horse battery"
HOST = "127.0.0.1"
TRADERS = ("buyer@kill.test", "seller@kill.test")


async def _create_users(data_dir: Path) -> None:
    await create_users(f"sqlite+aiosqlite:///{data_dir / 'matchbook.db'}", [
        ("admin@kill.test", PASSWORD, "admin"), *((email, PASSWORD, "user") for email in TRADERS)])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve(data_dir: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``matchbook serve`` (journal ``fsync``) in a subprocess; yields it and its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHBOOK_")}
    env.update(MATCHBOOK_RATE_LIMIT_PER_SECOND="1000000", MATCHBOOK_RATE_LIMIT_BURST="1000000")
    command = [sys.executable, "-m", "matchbook.cli", "serve", "--data-dir", str(data_dir),
               "--host", HOST, "--port", str(port), "--journal-mode", "fsync"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _login(url: str, email: str) -> str:
    response = httpx.post(f"{url}/api/v1/auth/login",
                          json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _trade(ws_url: str, token: str, side: str, acked: list[str], stop: threading.Event) -> None:
    """Place orders with 16 in flight until the connection dies; note every ack."""
    with contextlib.suppress(ConnectionClosed, OSError, TimeoutError), \
            connect(ws_url, open_timeout=5) as ws:
        ws.send(json.dumps({"op": "auth", "token": token, "request_id": "auth"}))
        sent = 0
        in_flight = 0
        while True:
            while in_flight < 16 and not stop.is_set():
                sent += 1
                in_flight += 1
                price = f"{49990 + sent % 21}.00"  # buys and sells cross often
                ws.send(json.dumps({"op": "place", "symbol": "BTC-USD", "side": side,
                                    "price": price, "quantity": "0.001",
                                    "request_id": sent}))
            message = json.loads(ws.recv(timeout=10))
            if message.get("type") == "result" and message.get("op") == "place":
                acked.append(message["data"]["order_id"])
                in_flight -= 1
            elif message.get("type") == "error" and isinstance(message.get("request_id"), int):
                in_flight -= 1
            if stop.is_set() and not in_flight:
                return


def test_kill_9_mid_burst_keeps_every_acknowledged_order(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    asyncio.run(_create_users(data_dir))
    log = tmp_path / "server.log"
    acked: dict[str, list[str]] = {email: [] for email in TRADERS}
    with _serve(data_dir, log) as (process, url):
        admin = {"Authorization": f"Bearer {_login(url, 'admin@kill.test')}"}
        tokens = {email: _login(url, email) for email in TRADERS}
        users = {u["email"]: u["user_id"] for u in
                 httpx.get(f"{url}/api/v1/admin/users", headers=admin).json()}
        for email in TRADERS:
            for asset, amount in (("USD", "10000000"), ("BTC", "1000")):
                response = httpx.post(f"{url}/api/v1/admin/deposits", headers=admin, json={
                    "user_id": users[email], "asset": asset, "amount": amount})
                assert response.status_code in (200, 201), response.text
        stop = threading.Event()
        ws_url = url.replace("http://", "ws://") + "/ws"
        threads = [threading.Thread(target=_trade, args=(
            ws_url, tokens[email], side, acked[email], stop), daemon=True)
            for email, side in zip(TRADERS, ("buy", "sell"), strict=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while sum(map(len, acked.values())) < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)  # no drain, no snapshot, no goodbye
        process.wait(10)
        stop.set()
        for thread in threads:
            thread.join(15)
    assert sum(map(len, acked.values())) >= 1000, "too few orders were acknowledged"

    with _serve(data_dir, log) as (_, url):
        for email in TRADERS:
            headers = {"Authorization": f"Bearer {_login(url, email)}"}
            with httpx.Client(base_url=url, headers=headers) as client:
                for order_id in acked[email]:
                    response = client.get(f"/api/v1/orders/{order_id}")
                    assert response.status_code == 200, (order_id, response.text)
                    assert response.json()["status"] in ("new", "partially_filled", "filled")
        # nothing invented: order ids are sequential and only these traders placed
        # orders, so the next id tells how many were accepted before the kill: every
        # acknowledged one and at most the 16 in flight on each of the 4 connections
        headers = {"Authorization": f"Bearer {_login(url, TRADERS[0])}"}
        response = httpx.post(f"{url}/api/v1/orders", headers=headers, json={
            "symbol": "BTC-USD", "side": "buy", "type": "limit", "price": "49980.00",
            "quantity": "0.001"})
        assert response.status_code == 201, response.text
        accepted = int(response.json()["order_id"]) - 1
        placed = sum(map(len, acked.values()))
        assert placed <= accepted <= placed + 4 * 16
