"""The compiled and the interpreted core answer the same stream with the same events and
end in the same state.

A seeded stream of ``tests/workload.py`` (limit, market, stop, IOC/FOK, GTD, post-only,
iceberg, amends, cancels, cancel-all, every self-trade prevention mode, bad values; with
accounts also deposits and quote-amount market buys) is drawn against an engine in this
process, then replayed by ``replay_stream.py`` in two processes: one on the compiled build
(the default) and one with ``MATCHBOOK_PURE_PYTHON=1``. Every command's events (encoded)
and the final state hash must be identical across the three. The full size is 200,000
commands per stream (marked slow); ``make test-fast`` runs 4,000.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from matchbook.config import default_markets
from matchbook.core import Engine, RiskLimits
from matchbook.journal.codec import encode_command
from workload import Workload, engine_view

HERE = Path(__file__).resolve().parent
MARKETS = default_markets()
SYMBOLS = ("BTC-USD", "ETH-BTC", "SOL-USD")


def _stream(commands: int, accounts: bool, seed: int) -> tuple[dict[str, Any], list[bytes], str]:
    """The stream, drawn against (and applied to) an engine here: its document, the
    events of each command and the final state hash."""
    engine = Engine(MARKETS, accounts=accounts, limits=RiskLimits(max_open_orders=10**9))
    workload = Workload(seed, MARKETS, symbols=SYMBOLS, users=10, accounts=accounts)
    view = engine_view(engine)
    rows: list[list[Any]] = []
    events: list[bytes] = []
    encode = msgspec.json.encode

    def apply(seq: int, ts_ns: int, command: Any) -> None:
        rows.append([seq, ts_ns, encode_command(command)])
        events.append(encode(engine.apply(seq, ts_ns, command)))

    if accounts:
        for seq, ts_ns, command in workload.funding():
            apply(seq, ts_ns, command)
    for _ in range(commands):
        apply(*workload.next_command(view))
    engine._check()
    return {"accounts": accounts, "commands": rows}, events, engine.state_hash()


def _replay(stream: Path, out: Path, pure: bool) -> dict[str, Any]:
    env = {**os.environ, "MATCHBOOK_PURE_PYTHON": "1" if pure else "0"}
    subprocess.run([sys.executable, str(HERE / "replay_stream.py"), str(stream), str(out)],
                   env=env, check=True, timeout=1800)
    result: dict[str, Any] = msgspec.msgpack.decode(out.read_bytes())
    return result


def _first_difference(a: list[bytes], b: list[bytes]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"command {i + 1}:\n  {x.decode()}\n  {y.decode()}"
    return f"{len(a)} against {len(b)} commands"


def _check(tmp_path: Path, commands: int, accounts: bool, seed: int) -> None:
    document, here_events, here_hash = _stream(commands, accounts, seed)
    stream = tmp_path / "stream.msgpack"
    stream.write_bytes(msgspec.msgpack.encode(document))
    compiled = _replay(stream, tmp_path / "compiled.msgpack", pure=False)
    pure = _replay(stream, tmp_path / "pure.msgpack", pure=True)
    assert pure["build"]["build"] == "pure"
    if not compiled["build"]["modules"]:
        pytest.skip("no compiled core in this tree (no C compiler at build time?)")
    assert compiled["build"]["build"] == "compiled", compiled["build"]["label"]
    trades = sum(e.count(b'"TradeExecuted"') for e in here_events)
    assert trades > commands // 50, "the stream hardly trades: it tests little"
    assert compiled["events"] == pure["events"], _first_difference(compiled["events"],
                                                                   pure["events"])
    assert compiled["events"] == here_events, _first_difference(compiled["events"],
                                                                here_events)
    assert compiled["state_hash"] == pure["state_hash"] == here_hash


@pytest.mark.parametrize("accounts", [True, False], ids=["accounts", "no-accounts"])
def test_both_builds_answer_a_short_stream_alike(tmp_path: Path, accounts: bool) -> None:
    _check(tmp_path, 4_000, accounts, seed=160 + accounts)


@pytest.mark.slow
@pytest.mark.parametrize("accounts", [True, False], ids=["accounts", "no-accounts"])
def test_both_builds_answer_200000_commands_alike(tmp_path: Path, accounts: bool) -> None:
    _check(tmp_path, 200_000, accounts, seed=16 + accounts)
