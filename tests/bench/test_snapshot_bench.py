"""``matchbook bench snapshot-latency``: every phase takes snapshots and answers orders."""

import pytest

from matchbook.bench.snapshot import run

pytestmark = pytest.mark.slow  # a long run


def test_each_way_takes_snapshots_and_reports_its_latency() -> None:
    result = run(resting=2_000, seconds=1.5, interval=0.3, clients=2)
    for way in ("inline", "thread", "fork"):
        assert result[f"{way}_snapshots"] >= 1, way
        assert result[f"{way}_acks"] > 0, way
        assert 0 < result[f"{way}_p50_ms"] <= result[f"{way}_p99_ms"] \
            <= result[f"{way}_p999_ms"] <= result[f"{way}_max_ms"], way
