"""The realism report: the eight stylised facts of ``SIM.md`` as numbers with bands.

``measure(result)`` computes every metric of one run (one seed, one simulated day);
``report(per_seed)`` decides each fact over the seeds: a fact passes when at least 80%
of the seeds pass it and the median of each of its metrics is inside its band. Each
metric also gets its 5-95% range over the seeds. ``run_report`` runs the seeds (in
worker processes), adds the zero-intelligence negative control, and ``save_report``
writes ``facts.json`` and the PNG plots.

Definitions (the numbers are those of ``SIM.md``):

1. returns: 1-minute log returns of the mid after the warm-up; ACF at lags 1..10,
   ``|rho| < max(0.05, 2/sqrt(n))`` for at least 9 of the 10 lags;
2. heavy tails: excess kurtosis of those returns > 3, Hill tail index on the top 5%
   of ``|r|`` in [2, 5];
3. aggregational Gaussianity: excess kurtosis at 1/5/15/30 minutes (non-overlapping
   sums) non-increasing, one violation allowed;
4. volatility clustering: ACF of ``|r|`` at lags 1..30: rho(1) >= 0.1,
   rho(10) > 2/sqrt(n), and the exponent of a power-law fit in [0.1, 0.5];
5. long memory of order signs: the aggressor sign of every trade, C(tau) for
   tau = 1..1000, a power-law fit of C on [5, 500] with exponent gamma in [0.3, 0.8],
   and C(100) > 2/sqrt(n);
6. square-root impact: per parent order, sign x log price move (mid one second before
   its first child to one second after its last) / daily sigma, against Q / daily
   volume; averaged in logarithmic bins of Q/V, the log-log slope delta in [0.4, 0.7]
   with R^2 >= 0.8 over at least two decades of Q/V;
7. volume-volatility: corr(|r|, volume) per minute > 0.3;
8. book shape: the spread in ticks (mean, percentiles) and the mean depth at levels
   1..10 (reported, no band).

A parent order is what the tape shows of one user working a large order: a user's
consecutive aggressive orders on the same side, each within ``PARENT_GAP_S`` of the
previous one, at least ``PARENT_MIN_CHILDREN`` of them. The definition needs no label
from the simulator, so the negative control is measured exactly as the real mix.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from matchbook.sim.runner import SECOND, SimResult

PARENT_GAP_S = 120
PARENT_MIN_CHILDREN = 3
MINUTE_SCALES = (1, 5, 15, 30)


@dataclass(frozen=True, slots=True)
class Band:
    """``low <= value <= high`` (either end may be open)."""

    low: float = -math.inf
    high: float = math.inf

    def holds(self, value: float) -> bool:
        return not math.isnan(value) and self.low <= value <= self.high

    def text(self) -> str:
        if self.low == -math.inf:
            return f"<= {self.high:g}"
        if self.high == math.inf:
            return f">= {self.low:g}"
        return f"[{self.low:g}, {self.high:g}]"


# fact -> (title, {metric: band}); a metric without a band is only reported
FACTS: dict[int, tuple[str, dict[str, Band | None]]] = {
    1: ("no linear autocorrelation of returns",
        {"lags_within": Band(9, 10), "max_abs_acf": None}),
    2: ("heavy tails", {"excess_kurtosis": Band(3.0000001), "hill_alpha": Band(2, 5)}),
    3: ("aggregational Gaussianity", {"violations": Band(0, 1), "kurtosis_1m": None,
                                      "kurtosis_30m": None}),
    4: ("volatility clustering", {"acf_abs_1": Band(0.1), "acf_abs_10_margin": Band(1e-12),
                                  "decay_exponent": Band(0.1, 0.5)}),
    5: ("long memory of order signs", {"gamma": Band(0.3, 0.8),
                                       "c100_margin": Band(1e-12)}),
    6: ("square-root impact", {"delta": Band(0.4, 0.7), "r2": Band(0.8),
                               "decades": Band(2.0)}),
    7: ("volume-volatility correlation", {"corr": Band(0.3000001)}),
    8: ("book shape", {"spread_mean_ticks": None, "spread_p50_ticks": None,
                       "spread_p95_ticks": None}),
}


# -- helpers ---------------------------------------------------------------------------


def acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 1..max_lag (FFT, biased estimator)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 3:
        return np.full(max_lag, np.nan)
    x = x - x.mean()
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    corr = np.fft.irfft(spectrum * np.conj(spectrum), size)[:max_lag + 1]
    if corr[0] <= 0:
        return np.full(max_lag, np.nan)
    out = corr[1:] / corr[0]
    if len(out) < max_lag:
        out = np.concatenate([out, np.full(max_lag - len(out), np.nan)])
    return out


def excess_kurtosis(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 4:
        return math.nan
    d = x - x.mean()
    m2 = float(np.mean(d * d))
    return float(np.mean(d ** 4) / (m2 * m2) - 3.0) if m2 > 0 else math.nan


def hill_alpha(x: np.ndarray, share: float = 0.05) -> float:
    """Hill estimator of the tail index on the largest ``share`` of ``|x|``."""
    a = np.sort(np.abs(np.asarray(x, dtype=np.float64)))[::-1]
    a = a[a > 0]
    k = int(len(a) * share)
    if k < 5:
        return math.nan
    logs = np.log(a[:k] / a[k])
    mean = float(logs.mean())
    return 1.0 / mean if mean > 0 else math.nan


def loglog_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(slope, R^2)`` of log y on log x over the points where both are positive."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return math.nan, math.nan
    lx, ly = np.log(x[keep]), np.log(y[keep])
    slope, intercept = np.polyfit(lx, ly, 1)
    residual = ly - (slope * lx + intercept)
    total = float(((ly - ly.mean()) ** 2).sum())
    return float(slope), (1.0 - float((residual ** 2).sum()) / total) if total > 0 else math.nan


def minute_mids(result: SimResult) -> np.ndarray:
    """The mid at the end of each minute after the warm-up (a one-sided book carries
    the previous mid forward)."""
    bid = result.minute_bid_ticks.astype(np.float64)
    ask = result.minute_ask_ticks.astype(np.float64)
    mid = np.where((bid > 0) & (ask > 0), (bid + ask) / 2, np.nan)
    for i in range(len(mid)):
        if np.isnan(mid[i]):
            mid[i] = mid[i - 1] if i else np.nan
    return mid[result.warmup_minutes:]


def minute_returns(result: SimResult) -> np.ndarray:
    """The 1-minute log returns of the mid after the warm-up (fact 1's sample)."""
    r = np.diff(np.log(minute_mids(result)))
    return r[np.isfinite(r)]


def minute_volume(result: SimResult) -> np.ndarray:
    minutes = len(result.minute_bid_ticks)
    index = (result.trade_ts_ns - _day_start(result)) // (60 * SECOND)
    volume = np.bincount(index[index < minutes], weights=result.trade_qty_lots[index < minutes],
                         minlength=minutes)
    return volume[result.warmup_minutes:]


def _day_start(result: SimResult) -> int:
    from matchbook.sim.runner import DAY_START_NS

    return DAY_START_NS


def parent_orders(result: SimResult) -> np.ndarray:
    """Parent orders as the tape shows them: ``(n, 4)`` rows of taker user, sign, lots,
    first and last child's second of the day (see the module docstring)."""
    ts, sign, taker, qty = (result.trade_ts_ns, result.trade_sign, result.trade_taker,
                            result.trade_qty_lots)
    if not len(ts):
        return np.zeros((0, 5), dtype=np.int64)
    start = _day_start(result) + result.warmup_minutes * 60 * SECOND
    keep = ts >= start
    ts, sign, taker, qty = ts[keep], sign[keep], taker[keep], qty[keep]
    order = np.lexsort((ts, taker))
    ts, sign, taker, qty = ts[order], sign[order], taker[order], qty[order]
    rows: list[tuple[int, int, int, int, int]] = []
    gap = PARENT_GAP_S * SECOND
    i, n = 0, len(ts)
    ts_l, sign_l, taker_l, qty_l = ts.tolist(), sign.tolist(), taker.tolist(), qty.tolist()
    while i < n:
        j = i
        lots = qty_l[i]
        children = 1
        while (j + 1 < n and taker_l[j + 1] == taker_l[i] and sign_l[j + 1] == sign_l[i]
               and ts_l[j + 1] - ts_l[j] <= gap):
            j += 1
            lots += qty_l[j]
            if ts_l[j] != ts_l[j - 1]:
                children += 1  # fills of one order share its timestamp
        if children >= PARENT_MIN_CHILDREN:
            rows.append((taker_l[i], sign_l[i], lots, ts_l[i], ts_l[j]))
        i = j + 1
    return np.asarray(rows, dtype=np.int64).reshape(-1, 5)


# -- one run ---------------------------------------------------------------------------


def measure(result: SimResult) -> dict[str, Any]:
    """Every fact's metrics (and the curves the plots draw) for one run."""
    r = minute_returns(result)
    n = len(r)
    out: dict[str, Any] = {"seed": result.seed, "preset": result.preset, "minutes": n,
                           "trades": result.trades, "messages": result.messages}
    threshold = max(0.05, 2 / math.sqrt(n)) if n else math.nan
    rho = acf(r, 10)
    out[1] = {"lags_within": int(np.sum(np.abs(rho) < threshold)),
              "max_abs_acf": float(np.nanmax(np.abs(rho))) if n else math.nan,
              "curve": rho.tolist(), "threshold": threshold}
    out[2] = {"excess_kurtosis": excess_kurtosis(r), "hill_alpha": hill_alpha(r),
              "std_bp": float(r.std() * 1e4) if n else math.nan}
    kurt = []
    for k in MINUTE_SCALES:
        m = (len(r) // k) * k
        kurt.append(excess_kurtosis(r[:m].reshape(-1, k).sum(axis=1)) if m else math.nan)
    violations = sum(1 for a, b in itertools.pairwise(kurt) if not b <= a)
    out[3] = {"violations": violations, "kurtosis_1m": kurt[0], "kurtosis_30m": kurt[-1],
              "curve": kurt}
    rho_abs = acf(np.abs(r), 30)
    lags = np.arange(1, 31)
    slope, _ = loglog_fit(lags, rho_abs)
    out[4] = {"acf_abs_1": float(rho_abs[0]),
              "acf_abs_10_margin": float(rho_abs[9] - 2 / math.sqrt(n)) if n else math.nan,
              "decay_exponent": -slope, "curve": rho_abs.tolist()}
    signs = result.trade_sign.astype(np.float64)
    m = len(signs)
    c = acf(signs, 1000) * (np.var(signs) if m else 0.0)
    taus = np.arange(1, 1001)
    window = (taus >= 5) & (taus <= 500)
    gamma_slope, _ = loglog_fit(taus[window], c[window])
    out[5] = {"gamma": -gamma_slope,
              "c100_margin": float(c[99] - 2 / math.sqrt(m)) if m > 100 else math.nan,
              "curve": c.tolist()}
    out[6] = _impact(result, r)
    volume = minute_volume(result)[1:][:n]
    ok = len(volume) == n and n > 2 and volume.std() > 0
    out[7] = {"corr": float(np.corrcoef(np.abs(r), volume)[0, 1]) if ok else math.nan}
    bid = result.minute_bid_ticks[result.warmup_minutes:]
    ask = result.minute_ask_ticks[result.warmup_minutes:]
    two_sided = (bid > 0) & (ask > 0)
    spread = (ask - bid)[two_sided]
    depth = result.minute_depth_lots[result.warmup_minutes:].mean(axis=0) if len(
        result.minute_depth_lots) > result.warmup_minutes else np.zeros((2, 10))
    out[8] = {"spread_mean_ticks": float(spread.mean()) if len(spread) else math.nan,
              "spread_p50_ticks": float(np.median(spread)) if len(spread) else math.nan,
              "spread_p95_ticks": float(np.percentile(spread, 95)) if len(spread) else math.nan,
              "one_sided_minutes": int((~two_sided).sum()),
              "spread_hist": np.histogram(spread, bins=30)[0].tolist() if len(spread) else [],
              "spread_edges": np.histogram(spread, bins=30)[1].tolist() if len(spread) else [],
              "depth_bid": depth[0].tolist(), "depth_ask": depth[1].tolist()}
    return out


IMPACT_BINS = 12
IMPACT_MIN_PER_BIN = 8
IMPACT_MIN_PARENTS = 20


def impact_sample(result: SimResult, r: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Fact 6's sample of one run: ``(Q / V, signed move in daily sigma)`` per tape
    parent, ``r`` the run's minute returns (``None`` when there are fewer than
    ``IMPACT_MIN_PARENTS`` parents or no volume, sigma or mids to scale by)."""
    parents = parent_orders(result)
    mids = result.second_mid_ticks
    daily_sigma = float(r.std() * math.sqrt(len(r))) if len(r) else math.nan
    start = _day_start(result)
    after = result.trade_ts_ns >= start + result.warmup_minutes * 60 * SECOND
    volume = float(result.trade_qty_lots[after].sum())
    if len(parents) < IMPACT_MIN_PARENTS or not volume or not daily_sigma or len(mids) < 2:
        return None
    first = (parents[:, 3] - start) // SECOND - 1
    last = (parents[:, 4] - start) // SECOND + 1
    first = np.clip(first, 0, len(mids) - 1)
    last = np.clip(last, 0, len(mids) - 1)
    move = np.log(mids[last] / mids[first]) * parents[:, 1] / daily_sigma
    x = parents[:, 2] / volume
    return x, move


def impact_edges(x: np.ndarray) -> np.ndarray:
    """The ``IMPACT_BINS`` logarithmic bins of Q/V spanning the sample."""
    return np.logspace(np.log10(x.min()), np.log10(x.max()) + 1e-9, IMPACT_BINS + 1)


def impact_fit(x: np.ndarray, move: np.ndarray) -> dict[str, Any]:
    """Fact 6's fit of a sample: bin means of the move over logarithmic bins of Q/V
    (bins of at least ``IMPACT_MIN_PER_BIN`` parents), their log-log slope, R^2 and
    the decades of Q/V the positive bins span."""
    bx, by = [], []
    for lo, hi in itertools.pairwise(impact_edges(x)):
        inside = (x >= lo) & (x < hi)
        if inside.sum() >= IMPACT_MIN_PER_BIN:
            bx.append(float(x[inside].mean()))
            by.append(float(move[inside].mean()))
    bx_a, by_a = np.asarray(bx), np.asarray(by)
    positive = by_a > 0
    delta, r2 = loglog_fit(bx_a, by_a)
    decades = float(np.log10(bx_a[positive].max() / bx_a[positive].min())) if (
        positive.sum() >= 2) else 0.0
    return {"delta": delta, "r2": r2, "decades": decades, "parents": len(x),
            "bins_x": bx, "bins_y": by, "positive_bins": int(positive.sum()),
            "bins": len(bx)}


def _impact(result: SimResult, r: np.ndarray) -> dict[str, Any]:
    sample = impact_sample(result, r)
    if sample is None:
        return {"delta": math.nan, "r2": math.nan, "decades": 0.0,
                "parents": len(parent_orders(result)), "bins_x": [], "bins_y": []}
    return impact_fit(*sample)


# -- over seeds ------------------------------------------------------------------------


def fact_passes(fact: int, metrics: dict[str, Any]) -> bool | None:
    """Whether one run passes ``fact`` (``None``: a reported fact without a band)."""
    bands = {k: b for k, b in FACTS[fact][1].items() if b is not None}
    if not bands:
        return None
    return all(band.holds(float(metrics[k])) for k, band in bands.items())


def report(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each fact over the seeds: per metric the median and 5-95% range, the share of
    seeds that pass, PASS/FAIL."""
    facts: dict[str, Any] = {}
    for fact, (title, bands) in FACTS.items():
        metrics: dict[str, Any] = {}
        for name, band in bands.items():
            values = np.asarray([float(s[fact][name]) for s in per_seed], dtype=np.float64)
            finite = values[np.isfinite(values)]
            median = float(np.median(finite)) if len(finite) else math.nan
            metrics[name] = {
                "median": median,
                "p5": float(np.percentile(finite, 5)) if len(finite) else math.nan,
                "p95": float(np.percentile(finite, 95)) if len(finite) else math.nan,
                "band": band.text() if band else None,
                "median_in_band": band.holds(median) if band else None,
            }
        passes = [fact_passes(fact, s[fact]) for s in per_seed]
        if passes and passes[0] is None:
            verdict, share = "REPORTED", None
        else:
            share = sum(1 for p in passes if p) / len(passes) if passes else 0.0
            ok = share >= 0.8 and all(m["median_in_band"] for m in metrics.values()
                                      if m["band"] is not None)
            verdict = "PASS" if ok else "FAIL"
        facts[str(fact)] = {"title": title, "verdict": verdict, "seeds_passing": share,
                            "metrics": metrics}
    return {"seeds": [s["seed"] for s in per_seed], "facts": facts}


def _measure_seed(args: tuple[Any, int]) -> dict[str, Any]:
    from matchbook.sim.runner import Simulation

    preset, seed = args
    result = Simulation(preset, seed, record=True).run()
    metrics = measure(result)
    metrics["wall_seconds"] = result.wall_seconds
    return metrics


def run_seeds(preset: Any, seeds: Sequence[int], *, workers: int = 2,
              progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Measure ``preset`` on every seed, ``workers`` processes at a time (results in seed
    order)."""
    jobs = [(preset, s) for s in seeds]
    results: list[dict[str, Any]] = []
    if workers <= 1:
        for i, job in enumerate(jobs, 1):
            results.append(_measure_seed(job))
            if progress:
                progress(i, len(jobs))
        return results
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for i, item in enumerate(pool.imap(_measure_seed, jobs), 1):
            results.append(item)
            if progress:
                progress(i, len(jobs))
    return results


def run_report(preset: Any, seeds: Sequence[int], *, control: Any = None,
               control_seeds: Sequence[int] = (), workers: int = 2,
               progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """The realism report of ``preset`` over ``seeds`` and, with ``control``, of the
    negative control over ``control_seeds``: ``{"report", "per_seed", "control",
    "control_per_seed", "control_fails_5_and_6"}``."""
    def note(stage: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(stage, done, total)

    per_seed = run_seeds(preset, seeds, workers=workers, progress=note(f"{preset.name} seeds"))
    out: dict[str, Any] = {"preset": preset.name, "day_seconds": preset.day_s,
                           "agents": preset.agent_count, "report": report(per_seed),
                           "per_seed": per_seed}
    if control is not None:
        control_seed = run_seeds(control, control_seeds, workers=workers,
                                 progress=note(f"{control.name} (control) seeds"))
        control_report = report(control_seed)
        out["control"] = control_report
        out["control_per_seed"] = control_seed
        out["control_preset"] = control.name
        out["control_fails_5_and_6"] = all(
            control_report["facts"][f]["verdict"] == "FAIL" for f in ("5", "6"))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.integer | np.floating):
        return _jsonable(value.item())
    return value


def save_report(result: dict[str, Any], out_dir: Any) -> dict[str, str]:
    """``facts.json`` (every figure, per seed too) and the PNG plots in ``out_dir``."""
    import json
    from pathlib import Path

    from matchbook.sim.plots import plot_facts

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": str(out / "facts.json")}
    (out / "facts.json").write_text(json.dumps(_jsonable(result), indent=1) + "\n")
    files["png"] = str(plot_facts(result["per_seed"], result["report"],
                                  out / "facts.png", title=f"preset {result['preset']}"))
    if "control_per_seed" in result:
        files["control_png"] = str(plot_facts(
            result["control_per_seed"], result["control"], out / "facts-control.png",
            title=f"negative control ({result['control_preset']})"))
    return files
