"""The backtest's live agents inside the simulator: the features they see are the
capture's, and the fills they record are what the engine settled."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from matchbook.ml.backtest import (
    BacktestConfig,
    BacktestError,
    load_model,
    observed_simulation,
    run_session,
    save_model,
    signal_trader,
    summarise,
)
from matchbook.ml.features import FEATURES, session_arrays
from matchbook.ml.models import Majority
from matchbook.ml.simulate import regime_preset

pytestmark = pytest.mark.slow


def short_preset():
    return regime_preset("small").scaled(day_s=1500, warmup_s=120)


def test_live_features_and_fills_agree_with_the_capture_and_the_engine() -> None:
    agents = [signal_trader("ml-maker-random", mode="maker", model=None, threshold=0.55,
                            decide_every_s=2.0, start_after_s=120.0),
              signal_trader("ml-taker-random", mode="taker", model=None, threshold=0.55,
                            decide_every_s=5.0, start_after_s=120.0)]
    sim = observed_simulation(short_preset(), 3, agents, tier="vip")
    sim.run()
    feed, engine = sim.feed, sim.engine
    # the live features of the last row are those of the whole captured session
    _, book = feed.stream.frames()
    offline = session_arrays(book, _flow(feed), "all").features[-1]
    live = feed.features()
    assert live is not None
    same = [i for i, f in enumerate(FEATURES) if f not in ("since_move", "last_move")]
    np.testing.assert_allclose(live[same], offline[same], rtol=1e-5, atol=1e-6)
    # every recorded fill was settled by the engine: cash and coins add up
    symbol = sim.symbol
    for agent in agents:
        fills = np.asarray(feed.fills.get(agent.user_id, []), dtype=np.int64).reshape(-1, 6)
        assert fills.shape[0] > 0
        side, price, qty, fee = fills[:, 1], fills[:, 2], fills[:, 3], fills[:, 4]
        usd = sum(engine.balance(agent.user_id, "USD"))
        btc = sum(engine.balance(agent.user_id, "BTC"))
        usd0 = sim.markets.assets["USD"].to_minor(str(agent.funding_units["USD"]))
        btc0 = sim.markets.assets["BTC"].to_minor(str(agent.funding_units["BTC"]))
        assert usd - usd0 == -int((side * price * qty).sum()) * symbol.quote_per_tick_lot - int(
            fee.sum())
        assert btc - btc0 == int((side * qty).sum()) * symbol.base_per_lot
        makers = fills[:, 5].astype(bool)
        assert makers.all() if agent.mode == "maker" else not makers.any()
    # vip tier: makers earn a rebate (negative fee), takers pay
    maker_fees = np.asarray(feed.fills[agents[0].user_id])[:, 4]
    assert (maker_fees <= 0).all()


def _flow(feed):

    from matchbook.ml.features import message_flow

    messages, _ = feed.stream.frames()
    return message_flow(messages).select("seq", "signed_volume").sort("seq")


def test_run_session_reports_each_strategy(tmp_path: Path) -> None:
    from matchbook.ml.samples import Samples  # noqa: F401  (the model only needs fit/proba)

    X = np.zeros((10, len(FEATURES)), dtype=np.float32)
    y = np.array([1] * 6 + [-1] * 4)
    path = save_model(tmp_path / "m.pkl", Majority().fit(X, y), label="next-mid",
                      trained_on=["calm-0000"], name="majority")
    bundle = load_model(path)
    runs = run_session(bundle, short_preset(), 5, BacktestConfig(start_after_s=120.0,
                                                                  decide_every_s=5.0,
                                                                  threshold=0.55))
    report = summarise(runs, quote_decimals=8, resamples=200)
    assert set(report) == {"maker-model", "maker-random", "taker-model", "taker-random",
                           "skew-model", "skew-random", "skew-symmetric", "flat"}
    # the majority model always says up (P = 0.6 >= 0.55): its taker only buys, to the limit
    taker = report["taker-model"]
    assert taker["trades"] == 5 and taker["maker_share"] == 0.0
    assert taker["taking"]["trades"] == 5 and taker["quoting"]["trades"] == 0
    # ... and its skewing maker never quotes an ask: it only buys, to the limit
    skew = report["skew-model"]
    assert skew["trades"] == 5 and skew["maker_share"] == 1.0
    assert skew["quoting"]["trades"] == 5 and skew["taking"]["trades"] == 0
    skew_fills = next(r for r in runs if r.name == "skew-model").fills
    assert [f[1] for f in skew_fills] == [1] * 5
    # without a signal the market maker quotes both sides and trades both ways
    assert report["skew-symmetric"]["trades"] > 5
    # the edges are paired over the same sessions
    for name in ("taker-model", "maker-model", "skew-model"):
        edge = report[name]["edge_vs_random"]
        assert edge["sessions"] == 1 and edge["ci_low"] <= edge["bp"] <= edge["ci_high"]
    assert "edge_vs_symmetric" in skew and "edge_vs_symmetric" not in taker
    assert report["flat"]["trades"] == 0


def test_model_files_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(BacktestError, match="not a model file"):
        load_model(bad)
    with pytest.raises(BacktestError, match="no such model file"):
        load_model(tmp_path / "none.pkl")
    with pytest.raises(BacktestError, match="cannot read"):
        load_model(tmp_path)  # a directory
    # text that unpickles to an error other than UnpicklingError ('g' is protocol 0's GET)
    (tmp_path / "text.pkl").write_bytes(b"garbage\n")
    with pytest.raises(BacktestError, match="not a model file"):
        load_model(tmp_path / "text.pkl")
    (tmp_path / "partial.pkl").write_bytes(pickle.dumps({"format": 1}))
    with pytest.raises(BacktestError, match="not a model file of this version"):
        load_model(tmp_path / "partial.pkl")
    X = np.zeros((4, len(FEATURES)), dtype=np.float32)
    path = save_model(tmp_path / "k.pkl", Majority().fit(X, np.array([1, 0, -1, 1])),
                      label="k10", trained_on=[], name="majority")
    with pytest.raises(BacktestError, match="predicts k10"):
        load_model(path)


def test_paired_edge_is_the_difference_of_net_bp_per_trade() -> None:
    from matchbook.ml.backtest import StrategyRun, _paired_edge

    def run(name: str, session: str, net: list[float], notional: list[float]) -> StrategyRun:
        fills = [(0, 1, 1, 1, 0, True)] * len(net)
        return StrategyRun(name, session, fills, np.asarray(net), np.asarray(net),
                           np.asarray(notional), 0.0, 0.0, len(net), 0, 0)

    model = [run("x-model", "s1", [2.0, 2.0], [1e4, 1e4]), run("x-model", "s2", [1.0], [1e4])]
    twin = [run("x-random", "s2", [0.0], [1e4]), run("x-random", "s1", [1.0, 1.0], [1e4, 1e4])]
    edge = _paired_edge(model, twin, resamples=500, seed=0)
    # model: 5 / 3e4 = 1.667 bp; twin: 2 / 3e4 = 0.667 bp
    assert edge["bp"] == pytest.approx(1.0)
    assert edge["sessions"] == 2
    # each session alone: s1 2 - 1 = 1 bp, s2 1 - 0 = 1 bp: every resample gives 1
    assert edge["ci_low"] == pytest.approx(1.0) and edge["ci_high"] == pytest.approx(1.0)
