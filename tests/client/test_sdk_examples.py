"""The SDK examples (``examples/``) run as a user runs them: as programs, against a real
server, and end with a one-line error (no traceback) when the server is not there or
refuses them."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from matchbook.client import Client
from server import Account, RunningServer, running_server

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("examples")) as running:
        yield running


def funded(server: RunningServer) -> Account:
    return server.funded(USD="1000000", BTC="10", ETH="100")


def example(name: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def signed_in(server: RunningServer, account: Account) -> list[str]:
    return ["--url", server.base_url, "--email", account.email, "--password", account.password]


def book_around(server: RunningServer, symbol: str, bid: str, ask: str) -> None:
    """A resting bid and ask of another user, so the book has a mid."""
    other = funded(server)
    with Client(server.base_url, token=other.token) as mb:
        mb.place_order(symbol, "buy", "1", bid)
        mb.place_order(symbol, "sell", "1", ask)


def open_orders(server: RunningServer, account: Account) -> list[str]:
    with Client(server.base_url, token=account.token) as mb:
        return [o.order_id for o in mb.list_orders()]


def test_place_and_cancel(server: RunningServer) -> None:
    alice = funded(server)
    book_around(server, "BTC-USD", "50000", "50100")
    run = example("place_and_cancel.py", *signed_in(server, alice), "--symbol", "btc-usd")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    # 2% under the best bid, on the tick grid
    assert "best bid 50000.00, best ask 50100.00" in out
    assert "buy 0.0001 @ 49000.00, status new" in out
    assert "cancelled 0.0001 of order" in out
    assert out.rstrip().endswith("USD: available 1000000.000000, held 0.000000")
    assert open_orders(server, alice) == []


def test_stream_book_ends_on_time_on_a_quiet_book_and_matches_depth(
        server: RunningServer) -> None:
    book_around(server, "ETH-USD", "2990", "3010")
    run = example("stream_book.py", "--url", server.base_url, "--symbol", "ETH-USD",
                  "--seconds", "2", "--levels", "1", timeout=30)
    assert run.returncode == 0, run.stderr
    assert "ETH-USD update" in run.stdout
    assert run.stdout.rstrip().endswith("identical")


def test_market_maker_quotes_around_the_mid_and_cancels_on_exit(
        server: RunningServer) -> None:
    bob = funded(server)
    book_around(server, "ETH-USD", "2990", "3010")  # mid 3000
    run = example("market_maker.py", *signed_in(server, bob), "--symbol", "ETH-USD",
                  "--seconds", "2", "--interval", "0.5", "--spread-bps", "20")
    assert run.returncode == 0, run.stderr
    quotes = [line for line in run.stdout.splitlines() if " quotes " in line]
    assert quotes, run.stdout
    # 10 bp either side of 3000, rounded away from the mid; no position, no skew
    assert all("quotes 2997.00 / 3003.00 position +0" in line for line in quotes), quotes
    assert "cancelled 2 quotes; 0 fills" in run.stdout
    assert open_orders(server, bob) == []
    with Client(server.base_url, token=bob.token) as mb:
        assert mb.balance("USD").held == Decimal(0)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("name", ["place_and_cancel.py", "stream_book.py", "market_maker.py"])
def test_no_server_is_a_one_line_error(name: str) -> None:
    run = example(name, "--url", f"http://127.0.0.1:{_closed_port()}", timeout=60)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("error: ") and "127.0.0.1" in line


@pytest.mark.parametrize(("name", "args", "message"), [
    ("place_and_cancel.py", ["--password", "wrong-password"], "error: Wrong email or password"),
    ("market_maker.py", ["--password", "wrong-password"], "error: Wrong email or password"),
    ("market_maker.py", ["--symbol", "NOPE-USD"], "error: Unknown symbol 'NOPE-USD'"),
    ("stream_book.py", ["--symbol", "NOPE-USD"], "error: Unknown symbol 'NOPE-USD'"),
])
def test_a_refusal_is_a_one_line_error(server: RunningServer, name: str, args: list[str],
                                       message: str) -> None:
    account = funded(server)
    login = signed_in(server, account) if name != "stream_book.py" else ["--url",
                                                                          server.base_url]
    run = example(name, *login, *args, timeout=60)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(message), line
