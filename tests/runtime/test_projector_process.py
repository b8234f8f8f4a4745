"""The SQL read model of a real server, written by the projector process: orders,
trades, P2P steps and withdrawals reach the history routes; the admin stats and the
metrics report its health; a server killed with SIGKILL leaves no projector behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from server import Account, RunningServer, eventually, running_server

pytestmark = pytest.mark.slow  # a server and a child process

T = TypeVar("T")


class Caller:
    def __init__(self, server: RunningServer, account: Account) -> None:
        self.account = account
        self.http = httpx.Client(base_url=server.base_url + "/api/v1",
                                 headers=account.headers, timeout=30)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


def test_the_history_routes_read_what_the_projector_process_wrote(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        exchange = server.state.exchange
        process = exchange.projector
        assert type(process).__name__ == "ProjectorProcess"
        assert process.pid not in (None, os.getpid())
        admin = Caller(server, server.make_admin())
        seller = Caller(server, server.funded(BTC="5"))
        buyer = Caller(server, server.funded(USD="100000"))
        sid, bid = seller.account.user_id, buyer.account.user_id
        # trading: a resting sell, a crossing buy
        sell = seller.ok("POST", "/orders", json={"symbol": "BTC-USD", "side": "sell",
                                                  "price": "60000", "quantity": "0.5"})
        buyer.ok("POST", "/orders", json={"symbol": "BTC-USD", "side": "buy",
                                          "price": "60000", "quantity": "0.2"})
        # a withdrawal
        buyer.ok("POST", "/withdrawals", json={"asset": "USD", "amount": "10",
                                               "destination": "acct-1"})
        # P2P: an ad, a trade taken, a chat line
        method = seller.ok("POST", "/p2p/payment-methods",
                           json={"name": "SEPA", "details": "DE89 3704 0044 0532 0130 00"})
        ad = seller.ok("POST", "/p2p/ads", json={
            "side": "sell", "asset": "BTC", "fiat": "EUR", "price": "60000",
            "quantity": "1", "min_quantity": "0.01", "max_quantity": "1",
            "payment_method_ids": [method["method_id"]], "payment_window_seconds": 300})
        trade = buyer.ok("POST", f"/p2p/ads/{ad['ad_id']}/take", json={"quantity": "0.1"})
        buyer.ok("POST", f"/p2p/trades/{trade['trade_id']}/messages", json={"text": "sent"})
        last = exchange.engine.last_seq

        def history() -> dict[str, Any]:
            stats = admin.ok("GET", "/admin/stats")
            assert stats["projector_lag"] == 0 and stats["projector"]["last_seq"] == last
            return stats

        stats = eventually(history, timeout=15.0)
        health = stats["projector"]
        assert (health["lag"], health["errors"], health["dead_letters"]) == (0, 0, 0)
        orders = admin.ok("GET", "/admin/orders", params={"user_id": sid})["orders"]
        assert [o["order_id"] for o in orders] == [sell["order_id"]]
        assert Decimal(orders[0]["filled_quantity"]) == Decimal("0.2")
        trades = admin.ok("GET", "/admin/trades", params={"user_id": bid})["trades"]
        assert [(Decimal(t["price"]), Decimal(t["quantity"])) for t in trades] == [
            (Decimal(60000), Decimal("0.2"))]
        fills = buyer.ok("GET", "/fills")
        assert [Decimal(f["quantity"]) for f in fills] == [Decimal("0.2")]
        audit = [a["command_type"] for a in admin.ok("GET", "/admin/audit",
                                                      params={"limit": 100})]
        assert "RequestWithdrawal" in audit
        ledger = buyer.ok("GET", "/ledger", params={"asset": "USD"})
        assert any(Decimal(e["held_change"]) == 10 for e in ledger), ledger
        chat = seller.ok("GET", f"/p2p/trades/{trade['trade_id']}/messages")
        assert chat[-1]["text"] == "sent"
        detail = seller.ok("GET", f"/p2p/trades/{trade['trade_id']}")
        assert detail["trade_id"] == trade["trade_id"]
        metrics = httpx.get(server.base_url + "/metrics", timeout=10).text
        assert "matchbook_projector_lag 0.0" in metrics
        assert "matchbook_projector_dead_letters_total 0.0" in metrics
    assert not process.process.is_alive() and process.process.exitcode == 0


SERVER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from matchbook.runtime.exchange import Exchange
    from matchbook.settings import Settings

    async def main():
        exchange = await Exchange.start(Settings(data_dir=Path(sys.argv[1]),
                                                 journal_mode="os"))
        print(exchange.projector.pid, flush=True)
        await asyncio.sleep(60)

    if __name__ == "__main__":
        asyncio.run(main())
""")


def test_a_server_killed_with_sigkill_leaves_no_projector_behind(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    server = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        pid = int(server.stdout.readline())
        family = _descendants(server.pid)  # the projector, the fork server, the tracker
        assert pid != server.pid and _alive(pid) and pid in family
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 10
        while left := [p for p in family if _alive(p)]:
            assert time.monotonic() < deadline, f"{left} outlived their server ({pid})"
            time.sleep(0.02)
    finally:
        server.kill()
        server.wait(10)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                todo += children
    return found
