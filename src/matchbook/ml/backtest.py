"""Backtest: a trained model trading as a live agent inside the simulator, on the
production engine (not a replay of recorded data): its orders rest in the book, wait
in queues, move prices, pay fees and arrive after a latency.

How it works:

* ``ObservedSimulation`` is the simulator's ``Simulation`` that hands every command's
  events to the same recorder ``matchbook ml capture`` uses, so the features a live
  agent computes are built exactly as the training data were (the latest rows of the
  live book, the same code);
* ``SignalTrader`` wakes every ``decide_every_s`` simulated seconds, asks the model for
  P(next mid move is up) from the features of the book as it stands, and acts in one of
  two documented ways:

  - ``taker``: buy 1 lot at market when P(up) >= ``threshold``, sell when P(up) <=
    1 - ``threshold``, within an inventory limit: the edge must pay the spread and two
    taker fees;
  - ``maker``: quote one post-only lot at the best bid when P(up) >= ``threshold``, at
    the best ask when P(up) <= 1 - ``threshold`` (always on the side that reduces an
    inventory at its limit), cancelling what it quoted before: the edge is used to
    choose which queue to join;
  - ``skew``: a market maker quoting one post-only lot at the best bid *and* the best
    ask at every decision, except the side the model expects to be run over: no ask
    when P(up) >= ``threshold``, no bid when P(up) <= 1 - ``threshold``. The edge is
    used to avoid adverse fills (a quote about to be run over trades just before the
    price moves against it);

* a ``random`` twin of each trades the same way on a coin flip with the same
  decision rate; the ``skew`` strategy also has a ``symmetric`` twin that always
  quotes both sides (no signal), and a flat agent (no trades) is the zero line. The
  model's edge is its net P&L per trade minus its random twin's, with a paired
  bootstrap CI over sessions (the twins trade in the same simulated sessions);
* all strategy agents share each simulated market (each its own account, 1-lot
  orders against queues of several lots) on the exchange's ``vip`` fee tier (maker
  -1 bp, taker 3 bp: the tier market makers get in the shipped markets file).

Per trade (one fill), the net P&L is its mark-out: the mid ``markout_s`` seconds later
minus the fill price (sign by side) times the quantity, minus the fee the engine
charged (a rebate counts as income). Per session, the P&L is the cash flow plus the
inventory at the closing mid. Reported: net P&L per trade with a 95% bootstrap CI over
sessions, the hit rate, per-session P&L, Sharpe across sessions (mean / sd, not
annualised), worst drawdown of the marked-to-mid P&L, turnover, and the split of the
P&L between fills that took liquidity and fills that provided it (taking vs quoting).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matchbook.core.commands import (
    BUY,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    CancelAll,
    PlaceOrder,
    SetFeeTier,
)
from matchbook.core.events import OrderFilled
from matchbook.ml.capture import _EXEC, _HIDDEN, _Recorder, _Stream
from matchbook.ml.features import FEATURES, session_arrays
from matchbook.ml.schema import LEVELS, level_columns

SECOND = 1_000_000_000
STRATEGIES = ("maker", "taker", "skew")
# the agents each strategy runs as: the model's, and the twins it is judged against
TWINS = {"maker": ("model", "random"), "taker": ("model", "random"),
         "skew": ("model", "random", "symmetric")}
WINDOW_ROWS = 300  # book rows the live features are computed from (the longest window is 100)
MODEL_FORMAT = 1


class BacktestError(ValueError):
    pass


# --------------------------------------------------------------------------- models on disk


def save_model(path: str | Path, model: Any, *, label: str, trained_on: list[str],
               name: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump({"format": MODEL_FORMAT, "model": model, "features": FEATURES,
                     "label": label, "name": name, "trained_on": trained_on}, f)
    return path


def load_model(path: str | Path) -> dict[str, Any]:
    """A model written by ``save_model``. Only open files you wrote: this unpickles."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            bundle = pickle.load(f)
    except FileNotFoundError:
        raise BacktestError(f"{path}: no such model file") from None
    except OSError as exc:  # a directory, no permission
        raise BacktestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # unpickling other bytes can raise nearly any exception
        raise BacktestError(f"{path}: not a model file ({type(exc).__name__}: {exc})") from None
    if not isinstance(bundle, dict) or bundle.get("format") != MODEL_FORMAT or not all(
            key in bundle for key in ("model", "features", "label", "name", "trained_on")):
        raise BacktestError(f"{path}: not a model file of this version")
    if tuple(bundle["features"]) != FEATURES:
        raise BacktestError(f"{path}: trained on other features; retrain it")
    if bundle.get("label") != "next-mid":
        raise BacktestError(f"{path}: the backtest trades a next-mid model, this one "
                            f"predicts {bundle.get('label')}")
    return bundle


# --------------------------------------------------------------------------- the live feed


class Feed:
    """The live market as the capture sees it, and features of its latest rows."""

    def __init__(self, engine: Any, symbol: str) -> None:
        self.stream = _Stream(symbol)
        self.recorder = _Recorder(engine, {symbol: self.stream})
        self.fills: dict[int, list[tuple[int, int, int, int, int, bool]]] = {}
        self.mids: list[tuple[int, int]] = []  # (ts, mid2) at every book row
        self.watch: set[int] = set()

    def on_command(self, seq: int, ts: int, events: list[Any]) -> None:
        rows = len(self.stream.book_keys)
        self.recorder.apply(seq, ts, events)
        if len(self.stream.book_keys) != rows:
            flat = self.stream.book_flat
            bid, ask = flat[-4 * LEVELS], flat[-4 * LEVELS + 2]
            if bid and ask:
                self.mids.append((ts, bid + ask))
        watch = self.watch
        for e in events:
            if type(e) is OrderFilled and e.user_id in watch:
                side = 1 if e.side == BUY else -1
                self.fills.setdefault(e.user_id, []).append(
                    (ts, side, e.price_ticks, e.qty_lots, e.fee_minor, e.is_maker))

    def features(self) -> np.ndarray | None:
        """Features of the latest book row, or None while the book is one-sided."""
        keys, flat = self.stream.book_keys, self.stream.book_flat
        n = min(len(keys) // 3, WINDOW_ROWS)
        if n < 2:
            return None
        k = np.asarray(keys[-3 * n:], dtype=np.int64).reshape(n, 3)
        lv = np.asarray(flat[-4 * LEVELS * n:], dtype=np.int64).reshape(n, 4 * LEVELS)
        book: dict[str, np.ndarray] = {"seq": k[:, 0], "ts_ns": k[:, 1],
                                       "halted": k[:, 2].astype(bool)}
        for i, name in enumerate(level_columns()):
            book[name] = lv[:, i]
        first = int(k[0, 0])
        cols = self.stream.cols
        volume: dict[int, int] = {}
        for j in range(len(cols[0]) - 1, -1, -1):
            s = cols[0][j]
            if s < first:
                break
            if cols[2][j] == _EXEC or cols[2][j] == _HIDDEN:
                volume[s] = volume.get(s, 0) + cols[6][j] * cols[7][j]
        seqs = sorted(volume)
        flow = {"seq": np.asarray(seqs, dtype=np.int64),
                "signed_volume": np.asarray([volume[s] for s in seqs], dtype=np.int64)}
        arrays = session_arrays(book, flow, "live")
        if not arrays.valid[-1]:
            return None
        return arrays.features[-1]


def _observed_simulation_class() -> type:
    from matchbook.sim import Simulation

    class ObservedSimulation(Simulation):  # type: ignore[misc, valid-type]
        """The simulator, with every command's events handed to ``self.feed``."""

        feed: Feed | None = None

        def _apply_all(self, t: int, commands: list[Any], agent: Any,
                       collect: bool = False) -> list[list[Any]]:
            if self.feed is None:  # the first commands (the agents' funding) start it
                self.feed = Feed(self.engine, self.symbol.name)
            results = super()._apply_all(t, commands, agent, collect=True)
            first = self.seq - len(commands) + 1
            on_command = self.feed.on_command
            for i, events in enumerate(results):
                on_command(first + i, t, events)
            return results if collect else []

    return ObservedSimulation


# --------------------------------------------------------------------------- the agent


def _signal_trader_class() -> type:
    from matchbook.sim import Agent

    class SignalTrader(Agent):  # type: ignore[misc, valid-type]
        """Trades the model's P(up) (or a coin flip) as a taker or a maker."""

        kind = "ml_signal"

        def __init__(self, agent_id: str, *, mode: str, feed: Feed, model: Any | None,
                     threshold: float, decide_every_s: float, max_inventory: int,
                     start_after_s: float, latency_ns: int, signal: bool = True) -> None:
            super().__init__(agent_id, latency_ns=latency_ns)
            self.mode, self.feed, self.model = mode, feed, model
            self.signal = signal  # False: no signal at all (P(up) = 0.5 always)
            self.threshold = threshold
            self.every_ns = int(decide_every_s * SECOND)
            self.max_inventory = max_inventory
            self.start_after_ns = int(start_after_s * SECOND)
            self.inventory = 0
            self.decisions = 0
            self.signals = 0
            self._up_col = None

        def first_wake(self, start_ns: int) -> int:
            return start_ns + self.start_after_ns + int(self.rng.random() * self.every_ns)

        def _p_up(self) -> float | None:
            if not self.signal:
                return 0.5
            if self.model is None:
                return self.rng.random()
            x = self.feed.features()
            if x is None:
                return None
            proba = self.model.predict_proba(x[None, :])[0]
            if self._up_col is None:
                self._up_col = int(np.flatnonzero(np.asarray(self.model.classes_) == 1)[0])
            return float(proba[self._up_col])

        def wake(self, now_ns: int, m: Any, out: list[Any]) -> int:
            nxt = now_ns + self.every_ns
            fills = self.feed.fills.get(self.user_id, ())
            self.inventory = sum(f[1] * f[3] for f in fills)
            p = self._p_up()
            if p is None:
                return nxt
            self.decisions += 1
            uid, sym = self.user_id, m.symbol
            up, down = p >= self.threshold, p <= 1 - self.threshold
            if up or down:
                self.signals += 1
            if self.mode == "skew":
                if m.open_order_count(uid):
                    out.append(CancelAll(uid, sym))
                bid, ask = m.best_bid(), m.best_ask()
                if bid and not down and self.inventory < self.max_inventory:
                    out.append(PlaceOrder(uid, sym, BUY, LIMIT, qty_lots=1, price_ticks=bid,
                                          post_only=True))
                if ask and not up and self.inventory > -self.max_inventory:
                    out.append(PlaceOrder(uid, sym, SELL, LIMIT, qty_lots=1, price_ticks=ask,
                                          post_only=True))
            elif self.mode == "maker":
                if m.open_order_count(uid):
                    out.append(CancelAll(uid, sym))
                side = BUY if up else SELL if down else 0
                if self.inventory >= self.max_inventory:
                    side = SELL
                elif self.inventory <= -self.max_inventory:
                    side = BUY
                price = m.best_bid() if side == BUY else m.best_ask() if side == SELL else 0
                if side and price:
                    out.append(PlaceOrder(uid, sym, side, LIMIT, qty_lots=1, price_ticks=price,
                                          post_only=True))
            else:
                if up and self.inventory < self.max_inventory:
                    out.append(PlaceOrder(uid, sym, BUY, MARKET, qty_lots=1, tif=IOC))
                elif down and self.inventory > -self.max_inventory:
                    out.append(PlaceOrder(uid, sym, SELL, MARKET, qty_lots=1, tif=IOC))
            return nxt

    return SignalTrader


# --------------------------------------------------------------------------- running


@dataclass(slots=True)
class StrategyRun:
    name: str
    session: str
    fills: list[tuple[int, int, int, int, int, bool]]
    markout_minor: np.ndarray  # per fill, net of fees
    gross_minor: np.ndarray  # per fill, before fees
    notional_minor: np.ndarray  # per fill
    pnl_minor: float  # cash + inventory at the closing mid
    drawdown_minor: float
    turnover_lots: int
    decisions: int
    signals: int


@dataclass(slots=True)
class BacktestConfig:
    threshold: float = 0.6
    decide_every_s: float = 5.0
    max_inventory: int = 5
    markout_s: float = 10.0
    latency_ms: float = 1.0
    start_after_s: float = 900.0
    tier: str = "vip"
    strategies: tuple[str, ...] = ("maker", "taker", "skew")
    extra: dict[str, Any] = field(default_factory=dict)


def _mid_at(mids_ts: np.ndarray, mids2: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The mid (half-ticks) in force at each time in ``t``."""
    pos = np.searchsorted(mids_ts, t, side="right") - 1
    return mids2[np.clip(pos, 0, mids2.size - 1)]


def observed_simulation(preset: Any, seed: int, agents: list[Any], *, tier: str = "") -> Any:
    """A simulation of ``preset`` with ``agents`` (``SignalTrader``s) added, their fills
    recorded by the feed, on fee tier ``tier`` ("" = the default rates)."""
    from matchbook.config import default_markets

    cls = _observed_simulation_class()
    sim = cls(preset, seed, extra_agents=agents, markets=default_markets())
    for a in agents:
        a.feed = sim.feed
        sim.feed.watch.add(a.user_id)
    if tier:
        sim.submit([SetFeeTier(a.user_id, tier) for a in agents])
    return sim


def signal_trader(agent_id: str, *, mode: str, model: Any | None, threshold: float = 0.6,
                  decide_every_s: float = 5.0, max_inventory: int = 5,
                  start_after_s: float = 900.0, latency_ns: int = 1_000_000) -> Any:
    """A ``SignalTrader`` (``model`` None: the random twin)."""
    return _signal_trader_class()(
        agent_id, mode=mode, feed=None, model=model, threshold=threshold,
        decide_every_s=decide_every_s, max_inventory=max_inventory,
        start_after_s=start_after_s, latency_ns=latency_ns)


def run_session(bundle: dict[str, Any], preset: Any, seed: int,
                config: BacktestConfig) -> list[StrategyRun]:
    """One simulated session with a model agent and a random twin per strategy."""
    from matchbook.config import default_markets

    markets = default_markets()
    symbol = markets.symbols[preset.symbol]
    trader = _signal_trader_class()
    agents = [trader(f"ml-{strategy}-{kind}", mode=strategy, feed=None,
                     model=bundle["model"] if kind == "model" else None,
                     threshold=config.threshold, decide_every_s=config.decide_every_s,
                     max_inventory=config.max_inventory, start_after_s=config.start_after_s,
                     latency_ns=int(config.latency_ms * 1e6), signal=kind != "symmetric")
              for strategy in config.strategies for kind in TWINS[strategy]]
    sim = observed_simulation(preset, seed, agents, tier=config.tier)
    sim.run()
    mids = np.asarray(sim.feed.mids, dtype=np.int64).reshape(-1, 2)
    mids_ts, mids2 = mids[:, 0], mids[:, 1]
    qptl = symbol.quote_per_tick_lot
    close_mid2 = int(mids2[-1]) if mids2.size else 0
    runs = []
    for a in agents:
        fills = sim.feed.fills.get(a.user_id, [])
        f = np.asarray(fills, dtype=np.int64).reshape(-1, 6)
        ts, side, price, qty, fee = f[:, 0], f[:, 1], f[:, 2], f[:, 3], f[:, 4]
        later = _mid_at(mids_ts, mids2, ts + int(config.markout_s * SECOND))
        gross = side * (later - 2 * price) * qty * qptl / 2.0
        net = gross - fee
        cash = -(side * price * qty * qptl).sum() - fee.sum()
        inventory = int((side * qty).sum())
        pnl = float(cash + inventory * close_mid2 * qptl / 2.0)
        # the P&L path marked to the mid at each fill
        path_cash = np.cumsum(-(side * price * qty * qptl) - fee)
        path_inv = np.cumsum(side * qty)
        marked = path_cash + path_inv * _mid_at(mids_ts, mids2, ts) * qptl / 2.0
        peak = np.maximum.accumulate(np.concatenate([[0.0], marked]))
        drawdown = float(np.max(peak - np.concatenate([[0.0], marked]))) if marked.size else 0.0
        runs.append(StrategyRun(a.agent_id.removeprefix("ml-"), f"{preset.name}-{seed}",
                                fills, net, gross, (price * qty * qptl).astype(float), pnl,
                                drawdown, int(qty.sum()), a.decisions, a.signals))
    return runs


def _bp(net: np.ndarray, notional: np.ndarray) -> float:
    total = float(notional.sum())
    return float(net.sum()) / total * 1e4 if total else 0.0


def _part(runs: list[StrategyRun], *, maker: bool) -> dict[str, Any]:
    """Trades and net bp per trade of the fills that provided (``maker``) or took
    liquidity."""
    net, notional = [], []
    for r in runs:
        which = np.asarray([bool(f[5]) == maker for f in r.fills], dtype=bool)
        net.append(r.markout_minor[which] if which.size else np.zeros(0))
        notional.append(r.notional_minor[which] if which.size else np.zeros(0))
    n = np.concatenate(net) if net else np.zeros(0)
    value = np.concatenate(notional) if notional else np.zeros(0)
    return {"trades": int(n.size), "net_bp_per_trade": _bp(n, value)}


def _paired_edge(model: list[StrategyRun], twin: list[StrategyRun], *, resamples: int,
                 seed: int) -> dict[str, float]:
    """Net bp per trade of ``model`` minus ``twin``'s, with a 95% CI from resampling the
    sessions both traded in (the same draws for both: the difference is paired)."""
    by_session = {r.session: r for r in twin}
    pairs = [(m, by_session[m.session]) for m in model if m.session in by_session]
    if not pairs:
        return {"bp": 0.0, "ci_low": 0.0, "ci_high": 0.0, "sessions": 0}
    rows = np.array([[m.markout_minor.sum(), m.notional_minor.sum(),
                      t.markout_minor.sum(), t.notional_minor.sum()] for m, t in pairs])
    draws = np.random.default_rng(seed + 1).integers(0, len(pairs), (resamples, len(pairs)))
    tot = rows[draws].sum(axis=1)
    diff = (tot[:, 0] / np.maximum(tot[:, 1], 1) - tot[:, 2] / np.maximum(tot[:, 3], 1)) * 1e4
    whole = rows.sum(axis=0)
    point = (whole[0] / max(whole[1], 1) - whole[2] / max(whole[3], 1)) * 1e4
    lo, hi = np.quantile(diff, [0.025, 0.975])
    return {"bp": float(point), "ci_low": float(lo), "ci_high": float(hi),
            "sessions": len(pairs)}


def summarise(runs: list[StrategyRun], *, quote_decimals: int, resamples: int = 2000,
              seed: int = 0) -> dict[str, Any]:
    """Per strategy: net P&L per trade with a bootstrap CI over sessions, and the rest."""
    scale = 10.0 ** quote_decimals
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    names = sorted({r.name for r in runs})
    for name in names:
        mine = [r for r in runs if r.name == name]
        sums = np.array([r.markout_minor.sum() for r in mine])
        counts = np.array([r.markout_minor.size for r in mine], dtype=float)
        trades = int(counts.sum())
        per_trade = float(sums.sum() / trades) if trades else 0.0
        draws = rng.integers(0, len(mine), size=(resamples, len(mine)))
        boot = sums[draws].sum(1) / np.maximum(counts[draws].sum(1), 1)
        lo, hi = np.quantile(boot, [0.025, 0.975]) if trades else (0.0, 0.0)
        notional = np.array([r.notional_minor.sum() for r in mine])
        bp = sums[draws].sum(1) / np.maximum(notional[draws].sum(1), 1) * 1e4
        bp_lo, bp_hi = np.quantile(bp, [0.025, 0.975]) if trades else (0.0, 0.0)
        pnl = np.array([r.pnl_minor for r in mine])
        gross = np.concatenate([r.gross_minor for r in mine]) if trades else np.zeros(0)
        net = np.concatenate([r.markout_minor for r in mine]) if trades else np.zeros(0)
        out[name] = {
            "trades": trades,
            "net_pnl_per_trade": per_trade / scale,
            "ci_low": float(lo) / scale, "ci_high": float(hi) / scale,
            "net_bp_per_trade": float(sums.sum() / notional.sum() * 1e4) if trades else 0.0,
            "bp_ci_low": float(bp_lo), "bp_ci_high": float(bp_hi),
            "gross_pnl_per_trade": float(gross.mean()) / scale if trades else 0.0,
            "gross_bp_per_trade": float(gross.sum() / notional.sum() * 1e4) if trades else 0.0,
            "hit_rate": float(np.mean(net > 0)) if trades else 0.0,
            "session_pnl_mean": float(pnl.mean()) / scale,
            "sharpe_sessions": float(pnl.mean() / pnl.std(ddof=1))
            if len(pnl) > 1 and pnl.std(ddof=1) > 0 else 0.0,
            "max_drawdown": float(max(r.drawdown_minor for r in mine)) / scale,
            "turnover_lots_per_session": float(np.mean([r.turnover_lots for r in mine])),
            "maker_share": float(np.mean([f[5] for r in mine for f in r.fills]))
            if trades else 0.0,
            "taking": _part(mine, maker=False),
            "quoting": _part(mine, maker=True),
            "decisions": int(sum(r.decisions for r in mine)),
            "signals": int(sum(r.signals for r in mine)),
            "sessions": len(mine),
        }
    for name in names:
        strategy, _, kind = name.rpartition("-")
        if kind != "model":
            continue
        for twin in ("random", "symmetric"):
            other = f"{strategy}-{twin}"
            if other in out:
                out[name][f"edge_vs_{twin}"] = _paired_edge(
                    [r for r in runs if r.name == name], [r for r in runs if r.name == other],
                    resamples=resamples, seed=seed)
    out["flat"] = {"trades": 0, "net_pnl_per_trade": 0.0, "ci_low": 0.0, "ci_high": 0.0,
                   "net_bp_per_trade": 0.0, "bp_ci_low": 0.0, "bp_ci_high": 0.0,
                   "session_pnl_mean": 0.0, "sharpe_sessions": 0.0, "max_drawdown": 0.0,
                   "turnover_lots_per_session": 0.0, "sessions": len(runs) // max(len(names), 1)}
    return out
