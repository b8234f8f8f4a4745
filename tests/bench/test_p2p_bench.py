"""``matchbook bench p2p``: the core phase runs the whole cycle (take, paid, release)
and reports its figures with the commit; no timing is asserted."""

from __future__ import annotations

from matchbook.bench.p2p import P2PBenchConfig, run


def test_the_core_phase_counts_every_action_and_reports_the_machine() -> None:
    result = run(P2PBenchConfig(trades=300, sellers=3, buyers=7, phases=("core",)))
    core = result["core"]
    assert (core["trades"], core["actions"]) == (300, 900)
    assert core["actions_per_sec"] > 0
    assert set(core["by_action_us"]) == {"take", "paid", "release"}
    assert core["latency_us"]["p50_us"] <= core["latency_us"]["p99_us"]
    assert result["meta"]["commit"] and result["meta"]["cores"]
    assert "rest" not in result
