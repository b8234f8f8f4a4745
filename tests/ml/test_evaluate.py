"""Splits, the fitting protocol and the statistics of the evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from matchbook.cli import app
from matchbook.ml.evaluate import bootstrap, evaluate, metrics
from matchbook.ml.features import FEATURES
from matchbook.ml.labels import parse_label
from matchbook.ml.samples import Samples, session_holdout, time_holdout, walk_forward
from matchbook.ml.schema import Dataset, Meta, SessionInfo, write_dataset


def synthetic(sessions: int = 12, per: int = 1500, signal: float = 0.0, seed: int = 0,
              regimes: tuple[str, ...] = ("calm", "volatile")) -> Samples:
    """Random features; with ``signal`` the sign of ``ofi_1_10`` (a feature no baseline
    reads) decides the label that often beyond chance."""
    rng = np.random.default_rng(seed)
    n = sessions * per
    X = rng.standard_normal((n, len(FEATURES))).astype(np.float32)
    X[:, FEATURES.index("last_move")] = rng.choice([-1.0, 1.0], n)
    ofi = X[:, FEATURES.index("ofi_1_10")]
    informed = rng.random(n) < signal
    y = np.where(informed, np.sign(ofi), rng.choice([-1, 1], n)).astype(np.int8)
    session = np.repeat(np.arange(sessions), per).astype(np.int32)
    index = np.tile(np.arange(per), sessions).astype(np.int64)
    names = [f"s{i:02d}" for i in range(sessions)]
    tags = {name: regimes[i % len(regimes)] for i, name in enumerate(names)}
    return Samples(parse_label("next-mid"), X, y, y.astype(float), session, names, tags,
                   index + 1, index, index + 1)


def test_session_holdout_keeps_sessions_whole_and_embargoes() -> None:
    s = synthetic(sessions=10)
    split = session_holdout(s, test_fraction=0.4, embargo=1)
    train, test = set(s.session[split.train]), set(s.session[split.test])
    assert not train & test
    # per regime (even = calm, odd = volatile): 5 sessions, the last 2 test, 1 embargoed
    assert test == {6, 8, 7, 9}
    assert train == {0, 2, 1, 3}
    assert set(split.blocks) == test


def test_time_holdout_purges_labels_that_reach_the_test() -> None:
    s = synthetic(sessions=1, per=5000)
    s.end = s.index + np.random.default_rng(1).integers(1, 400, len(s))
    split = time_holdout(s, test_fraction=0.3, embargo=100)
    cut = int(s.index[split.test].min()) - 100
    assert np.all(s.end[split.train] < cut)
    assert np.all(s.index[split.train] < cut)
    assert np.all(s.index[split.test] >= cut + 100)
    assert split.train.sum() < np.sum(s.index < cut)  # some rows were purged


def test_walk_forward_tests_only_after_training() -> None:
    s = synthetic(sessions=8)
    folds = walk_forward(s, folds=3, embargo=1)
    assert len(folds) == 3
    for f in folds:
        assert s.session[f.train].max() + 1 < s.session[f.test].min()


def test_metrics_and_bootstrap_by_hand() -> None:
    y = np.array([1, 1, -1, -1])
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1], [0.3, 0.7]])
    m = metrics(y, proba, np.array([-1, 1]))
    assert m["accuracy"] == 0.5 and m["n"] == 4
    assert m["brier"] == pytest.approx(np.mean([0.2**2, 0.6**2, 0.1**2, 0.7**2]))
    assert m["confusion"] == [[1, 1], [1, 1]]
    # two blocks, one always right, one always wrong: a resample is 0, 1/2 or 1
    boot = bootstrap({"m": np.array([True, True, False, False])}, np.array([0, 0, 1, 1]),
                     resamples=500)
    assert set(np.round(boot["m"], 6)) <= {0.0, 0.5, 1.0}
    assert 0.4 < boot["m"].mean() < 0.6


@pytest.mark.slow
def test_a_planted_signal_is_found_and_scalers_see_training_rows_only() -> None:
    s = synthetic(signal=0.3, per=800)
    result, details = evaluate(s, resamples=300, rounds=60)
    assert set(result) >= {"label", "n_train", "n_test", "baselines", "models", "best"}
    for group in ("baselines", "models"):
        for entry in result[group].values():
            assert {"accuracy", "balanced_accuracy", "macro_f1", "brier", "n"} <= set(entry)
    best = result["best"]
    assert best["name"] in ("logistic", "lightgbm")
    assert best["accuracy"] > 0.6 and best["lead_ci_low"] > 0.05
    assert best["p_vs_best_baseline"] < 1e-6
    # the logistic model's scaler was fitted on the training sessions alone
    split = session_holdout(s)
    scaler = details.models["logistic"][0]
    np.testing.assert_allclose(scaler.mean_, s.X[split.train].mean(axis=0), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.slow
def test_no_signal_no_discovery() -> None:
    result, _ = evaluate(synthetic(signal=0.0, seed=3, per=800), resamples=300, rounds=60)
    best = result["best"]
    assert best["lead_ci_low"] < 0 < best["lead_ci_high"] or best["lead"] < 0.01
    assert abs(best["accuracy"] - 0.5) < 0.03


@pytest.mark.slow
def test_cli_evaluate_prints_one_json_object(tmp_path: Path) -> None:
    """Features, labels and models end to end from data set files."""
    from test_features import random_dataset

    rng = np.random.default_rng(0)
    for i in range(8):
        ds = random_dataset(rng, 400, session=f"d{i}")
        tagged = Dataset(ds.messages, ds.book, Meta("test", "X", "0.01", "1", [
            SessionInfo(f"d{i}", "calm" if i % 2 else "volatile")]))
        write_dataset(tmp_path / f"d{i}", tagged)
    model = tmp_path / "model.pkl"
    result = CliRunner().invoke(app, ["ml", "evaluate", "--data", str(tmp_path), "--json",
                                      "--resamples", "200", "--folds", "2",
                                      "--save-model", str(model)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["label"] == "next-mid" and data["n_test"] > 0
    assert set(data["baselines"]) == {"majority", "continuation_or_reversal", "queue_imbalance"}
    assert set(data["models"]) == {"logistic", "lightgbm"}
    assert {"name", "accuracy", "ci_low", "ci_high", "p_vs_best_baseline"} <= set(data["best"])
    assert data["regime_shift"]["train"] == "calm"
    assert len(data["walk_forward"]) == 2
    from matchbook.ml.backtest import load_model

    bundle = load_model(model)
    assert bundle["name"] == data["best"]["name"]
    assert not set(bundle["trained_on"]) & {f"d{i}" for i in (5, 6, 7)}  # test sessions
    # without --json: the readable report and its four plots
    plots = tmp_path / "plots"
    readable = CliRunner().invoke(app, ["ml", "evaluate", "--data", str(tmp_path),
                                        "--resamples", "200", "--plots", str(plots)])
    assert readable.exit_code == 0, readable.output
    assert "held-out test results" in readable.output and "lead" in readable.output
    pngs = {p.name for p in plots.glob("*.png")}
    assert pngs == {"confusion.png", "calibration.png", "accuracy_by_session.png",
                    "feature_importance.png"}
    assert all((plots / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    bad = CliRunner().invoke(app, ["ml", "evaluate", "--data", str(tmp_path / "none")])
    assert bad.exit_code == 1 and "no such directory" in bad.output
