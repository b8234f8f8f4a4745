"""The crash test: SIGKILL a journaling engine (mode fsync) at random moments, recover,
and check that nothing acknowledged was lost and the state is a clean replay's.

``make crash-test`` runs 50 trials; the normal suite runs 3.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from matchbook.core import Engine
from matchbook.tools import crash
from matchbook.tools.crash import CommandStream, markets_and_limits, run_trial, run_trials

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


def test_three_kill_and_recover_trials(tmp_path: Path) -> None:
    results = run_trials(3, seed=101, directory=tmp_path)
    for result in results:
        assert result.ok, f"seed {result.seed}: {result.problems}"
        assert result.recovered_seq >= result.last_ack
    assert any(result.acks for result in results)
    assert list(tmp_path.iterdir()) == []  # passed trials clean up after themselves


def test_a_trial_notices_lost_acknowledged_commands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks are not vacuous: a 'disk' that drops the newest segment after the kill
    (acknowledged records included) fails the trial."""

    def lose_the_newest_segment(data_dir: Path, after_seq: int, rng: random.Random) -> str:
        segments = sorted((data_dir / "journal").glob("journal-*.seg"))
        segments[-1].write_bytes(b"")
        return "cut everything"

    monkeypatch.setattr(crash, "_tear_unacknowledged", lose_the_newest_segment)
    result = run_trial(tmp_path / "trial", seed=7, tear=1.0)
    assert result.acks > 0
    assert not result.ok
    assert any("lost" in p or "recovery failed" in p for p in result.problems), result.problems


def test_the_command_stream_is_seeded() -> None:
    markets, limits = markets_and_limits()
    runs = []
    for _ in range(2):
        engine = Engine(markets, limits=limits)
        stream = CommandStream(5, engine, users=10)
        seq = 0
        commands = []
        batches = [stream.stamp(stream.funding())]
        for index in range(41):
            applied = []
            for command, ts_ns in batches[index]:
                seq += 1
                commands.append((command, ts_ns))
                applied.append((seq, ts_ns, command, engine.apply(seq, ts_ns, command)))
            stream.observe(applied)  # what DurableEngine.submit would hand back
            batches.append(stream.batch(50))
        engine._check()
        runs.append((commands, engine.state_hash()))
    assert runs[0] == runs[1]
    kinds = {type(command).__name__ for command, _ in runs[0][0]}
    assert {"Deposit", "CreateAddress", "PlaceOrder", "CancelOrder", "AmendOrder",
            "RequestWithdrawal", "Transfer"} <= kinds
