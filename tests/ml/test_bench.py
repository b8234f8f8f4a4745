"""``matchbook ml bench``: each stage in its own process, with its own peak memory."""

from __future__ import annotations

import json
import subprocess

import pytest
from typer.testing import CliRunner

from matchbook.cli import app

pytestmark = pytest.mark.slow


def test_bench_reports_time_and_peak_memory_per_stage() -> None:
    # 5,000 events (5 sessions) take every step a larger run takes: a train/test split
    # by session, both models, the figures of each stage
    run = CliRunner().invoke(app, ["ml", "bench", "--events", "5000", "--stage", "features",
                                   "--stage", "evaluate", "--json"])
    assert run.exit_code == 0, run.output
    result = json.loads(run.stdout)
    assert set(result["stages"]) == {"features", "evaluate"}
    for stage in result["stages"].values():
        assert stage["events"] == 5000
        assert 0 < stage["base_rss_mb"] <= stage["peak_rss_mb"] < 2048
        assert stage["cpu_s"] > 0 and stage["wall_s"] > 0
    assert result["stages"]["features"]["next-mid_samples"] > 4750
    assert result["stages"]["evaluate"]["n_test"] > 0
    assert len(result["load_average"]) == 3
    # the figures name the commit they were measured on (a str, so 'is not None' could
    # never fail; an empty one is a git that was not found)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert len(result["commit"]) >= 7 and head.startswith(result["commit"])


def test_synthetic_data_has_the_events_asked_for(tmp_path) -> None:
    from matchbook.ml.bench import write_synthetic
    from matchbook.ml.schema import read_meta

    for events, sessions in ((5000, 5), (20_001, 20), (1500, 1)):
        out = write_synthetic(tmp_path / str(events), events)
        metas = read_meta(out)
        assert len(metas) == sessions
        assert sum(m.sessions[0].book_rows for _, m in metas) == events


def test_bench_refuses_an_unknown_stage() -> None:
    run = CliRunner().invoke(app, ["ml", "bench", "--stage", "train"])
    assert run.exit_code == 1
    assert "--stage 'train'" in run.output
