"""Fact 6 on one simulated day against fact 6 on the parents of several days pooled.

    python reports/sim-tuning/pooled.py --seeds 21-52 --control-seeds 21-28 \\
        --probe reports/sim-tuning/fact6-levers/r4-baseline.txt \\
        --png reports/sim-tuning/fact6-levers/r6-pooled.png

Each seed's tape parents are taken, scaled (Q by the seed's daily volume, the signed
move by its daily sigma), binned and fitted by ``matchbook.sim.facts`` itself
(``impact_sample``, ``impact_fit``), so a seed's fit is the report's. Then the scaled
parents of k seeds are pooled (disjoint groups of consecutive seeds) and fitted the same
way; all seeds pooled get a bootstrap interval over seeds (seeds resampled with
replacement, their parents pooled). Two sampling checks: each seed's delta
bootstrapped over its own parents (the noise of one day's fit) against the spread of
delta over seeds, and "days" of one seed's size drawn from the pooled parents. The
zero-intelligence control is pooled the same way. Nothing is saved but the PNG; the
figures are printed.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import re
from pathlib import Path
from typing import Any

import numpy as np

from matchbook.sim.agents import SECOND
from matchbook.sim.facts import (
    IMPACT_MIN_PER_BIN,
    fact_passes,
    impact_edges,
    impact_fit,
    impact_sample,
    loglog_fit,
    measure,
    minute_returns,
    parent_orders,
)
from matchbook.sim.presets import DEFAULT, ZI, Preset
from matchbook.sim.runner import DAY_START_NS, Simulation

BOOT = 2000


def sample_seed(args: tuple[Preset, int]) -> dict[str, Any]:
    """One seed: the report's fact-6 metrics and the scaled parents behind them."""
    preset, seed = args
    result = Simulation(preset, seed, record=True).run()
    metrics: dict[Any, Any] = measure(result)
    m6 = metrics[6]
    sample = impact_sample(result, minute_returns(result))
    x, move = sample if sample is not None else (np.zeros(0), np.zeros(0))
    # the hour of each parent's first child (impact_sample keeps parent_orders' order)
    hour = ((parent_orders(result)[:, 3] - DAY_START_NS) // (3600 * SECOND)
            if sample is not None else np.zeros(0, dtype=np.int64))
    return {"seed": seed, "hour": hour, "report": {k: m6[k] for k in ("delta", "r2", "decades",
                                                        "parents", "bins_x", "bins_y")},
            "x": x, "move": move}


def fit(x: np.ndarray, move: np.ndarray) -> dict[str, Any]:
    out = impact_fit(x, move)
    out["pass"] = bool(fact_passes(6, out))
    return out


def bin_errors(x: np.ndarray, move: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                          np.ndarray, np.ndarray]:
    """The fit's bins (same edges and minimum count) with count and standard error."""
    bx, by, bn, se = [], [], [], []
    edges = impact_edges(x)
    for lo, hi in itertools.pairwise(edges):
        inside = (x >= lo) & (x < hi)
        n = int(inside.sum())
        if n >= IMPACT_MIN_PER_BIN:
            bx.append(x[inside].mean())
            by.append(move[inside].mean())
            bn.append(n)
            se.append(move[inside].std(ddof=1) / math.sqrt(n))
    return np.asarray(bx), np.asarray(by), np.asarray(bn), np.asarray(se)


def rng_text(v: np.ndarray) -> str:
    v = v[np.isfinite(v)]
    if not len(v):
        return "n/a"
    return f"{np.median(v):.3f} [{v.min():.3f}, {v.max():.3f}]"


def pooled_table(samples: list[dict[str, Any]], ks: list[int]) -> list[dict[str, Any]]:
    rows = []
    for k in ks:
        fits = []
        for g in range(len(samples) // k):
            group = samples[g * k:(g + 1) * k]
            f = fit(np.concatenate([s["x"] for s in group]),
                    np.concatenate([s["move"] for s in group]))
            f["seeds"] = [s["seed"] for s in group]
            fits.append(f)
        d = np.array([f["delta"] for f in fits])
        r2 = np.array([f["r2"] for f in fits])
        dec = np.array([f["decades"] for f in fits])
        rows.append({"k": k, "groups": len(fits), "passing": sum(f["pass"] for f in fits),
                     "delta": rng_text(d), "r2": rng_text(r2), "decades": rng_text(dec),
                     "delta_high": int(np.sum(d > 0.7)), "delta_low": int(np.sum(d < 0.4)),
                     "r2_low": int(np.sum(~(r2 >= 0.8))), "dec_low": int(np.sum(dec < 2)),
                     "parents": int(np.median([f["parents"] for f in fits])),
                     "fits": fits})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| k seeds pooled | groups | passing | parents a group (median) | delta median "
          "[range] | R^2 median [range] | decades median [range] | delta > 0.7 | "
          "delta < 0.4 | R^2 < 0.8 | decades < 2 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['k']} | {r['groups']} | {r['passing']} | {r['parents']:,} | "
              f"{r['delta']} | {r['r2']} | {r['decades']} | {r['delta_high']} | "
              f"{r['delta_low']} | {r['r2_low']} | {r['dec_low']} |")


def bootstrap_seeds(samples: list[dict[str, Any]], rng: np.random.Generator,
                    reps: int) -> dict[str, Any]:
    n = len(samples)
    d, r2, passes = [], [], 0
    for _ in range(reps):
        pick = rng.integers(0, n, n)
        f = fit(np.concatenate([samples[i]["x"] for i in pick]),
                np.concatenate([samples[i]["move"] for i in pick]))
        d.append(f["delta"])
        r2.append(f["r2"])
        passes += f["pass"]
    return {"delta": np.percentile(d, [5, 50, 95]), "r2": np.percentile(r2, [5, 50, 95]),
            "share_passing": passes / reps}


def within_seed_delta_se(sample: dict[str, Any], rng: np.random.Generator,
                         reps: int) -> float:
    """The standard deviation of one seed's delta over its own parents resampled."""
    x, move = sample["x"], sample["move"]
    d = []
    for _ in range(reps):
        pick = rng.integers(0, len(x), len(x))
        d.append(impact_fit(x[pick], move[pick])["delta"])
    d_a = np.asarray(d)
    return float(np.nanstd(d_a, ddof=1))


def synthetic_days(samples: list[dict[str, Any]], rng: np.random.Generator,
                   reps: int) -> dict[str, Any]:
    """Days of one seed's number of parents drawn from every seed's parents pooled."""
    x = np.concatenate([s["x"] for s in samples])
    move = np.concatenate([s["move"] for s in samples])
    size = int(np.median([len(s["x"]) for s in samples]))
    fits = []
    for _ in range(reps):
        pick = rng.integers(0, len(x), size)
        fits.append(fit(x[pick], move[pick]))
    d = np.array([f["delta"] for f in fits])
    r2 = np.array([f["r2"] for f in fits])
    return {"size": size, "share_passing": float(np.mean([f["pass"] for f in fits])),
            "delta_high": float(np.mean(d > 0.7)), "delta_low": float(np.mean(d < 0.4)),
            "r2_low": float(np.mean(~(r2 >= 0.8))),
            "delta": np.percentile(d[np.isfinite(d)], [5, 50, 95])}


def hour_block_days(samples: list[dict[str, Any]], rng: np.random.Generator,
                    reps: int) -> dict[str, Any]:
    """Days made of whole hours: each hour of the day taken, parents and all, from a seed
    drawn at random (the parents of one hour keep the price path they share)."""
    hours = int(max(s["hour"].max() for s in samples)) + 1
    blocks = [[np.flatnonzero(s["hour"] == h) for h in range(hours)] for s in samples]
    fits = []
    for _ in range(reps):
        pick = rng.integers(0, len(samples), hours)
        x = np.concatenate([samples[i]["x"][blocks[i][h]] for h, i in enumerate(pick)])
        move = np.concatenate([samples[i]["move"][blocks[i][h]] for h, i in enumerate(pick)])
        fits.append(fit(x, move))
    d = np.array([f["delta"] for f in fits])
    r2 = np.array([f["r2"] for f in fits])
    return {"hours": hours, "share_passing": float(np.mean([f["pass"] for f in fits])),
            "delta_high": float(np.mean(d > 0.7)), "delta_low": float(np.mean(d < 0.4)),
            "r2_low": float(np.mean(~(r2 >= 0.8))),
            "delta": np.percentile(d[np.isfinite(d)], [5, 50, 95])}


def probe_verdicts(path: Path) -> dict[int, tuple[float, float, float]]:
    """``seed -> (delta, R^2, decades)`` as a ``probe.py`` output printed them."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"seed (\d+):.*\| 6 d (\S+) r2 (\S+) dec (\S+) \|", line)
        if m:
            out[int(m.group(1))] = (float(m.group(2)), float(m.group(3)), float(m.group(4)))
    return out


def per_seed(samples: list[dict[str, Any]], probe: dict[int, tuple[float, float, float]]
             ) -> int:
    print("| seed | parents | delta | R^2 | decades | pass | refit = report | "
          "probe.py (delta, R^2, decades) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    passing = 0
    for s in samples:
        f = fit(s["x"], s["move"])
        rep = s["report"]
        same = all(
            (math.isnan(f[k]) and math.isnan(rep[k])) or f[k] == rep[k]
            for k in ("delta", "r2", "decades")) and f["bins_y"] == rep["bins_y"]
        if not same:
            raise SystemExit(f"seed {s['seed']}: the refit differs from the report's fit")
        passing += f["pass"]
        p = probe.get(s["seed"])
        agree = ""
        if p is not None:
            agree = ("same" if (round(f["delta"], 2), round(f["r2"], 2),
                                round(f["decades"], 1)) == p else "DIFFERENT") + f" {p}"
        print(f"| {s['seed']} | {f['parents']} | {f['delta']:.3f} | {f['r2']:.3f} | "
              f"{f['decades']:.2f} | {'yes' if f['pass'] else 'no'} | yes | {agree} |")
    print(f"seeds passing fact 6: {passing} of {len(samples)}")
    return passing


def plot(samples: list[dict[str, Any]], control: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, group, name in ((axes[0], samples, DEFAULT.name), (axes[1], control, ZI.name)):
        if not group:
            continue
        for s in group:
            bx, by = np.asarray(s["report"]["bins_x"]), np.asarray(s["report"]["bins_y"])
            ok = by > 0
            ax.plot(bx[ok], by[ok], "-", color="0.6", alpha=0.25, lw=0.8)
        x = np.concatenate([s["x"] for s in group])
        move = np.concatenate([s["move"] for s in group])
        f = fit(x, move)
        bx, by, _, se = bin_errors(x, move)
        ok = by > 0
        ax.errorbar(bx[ok], by[ok], yerr=np.minimum(se[ok], by[ok] * 0.999), fmt="o",
                    color="C0" if name == DEFAULT.name else "C3", capsize=3,
                    label=f"{len(group)} seeds pooled ({len(x):,} parents): bin mean ± s.e. "
                          "(a bar reaching 0 ends at 0.001 x the mean)")
        if (~ok).any():
            ax.plot(bx[~ok], np.full((~ok).sum(), ax.get_ylim()[0] if ok.any() else 1e-4),
                    "v", color="k", label="bin mean <= 0 (not on a log axis)")
        if ok.sum() >= 2 and np.isfinite(f["delta"]):
            # the line loglog_fit fits: the positive bins, log y on log x
            slope, intercept = np.polyfit(np.log(bx[ok]), np.log(by[ok]), 1)
            line = np.exp(intercept) * bx ** slope
            ax.plot(bx, line, "--", color="k",
                    label=f"fit: delta {f['delta']:.3f}, R^2 {f['r2']:.3f}, "
                          f"{f['decades']:.1f} decades")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("Q / daily volume")
        ax.set_ylabel("sign x log move / daily sigma (bin mean)")
        ax.set_title(f"preset {name}: per-seed bins (grey) and pooled")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(preset: Preset, seeds: list[int], workers: int) -> list[dict[str, Any]]:
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(sample_seed, [(preset, s) for s in seeds])


def seeds_of(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="21-52")
    ap.add_argument("--control-seeds", default="21-28")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--probe", type=Path, default=None)
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument("--boot", type=int, default=BOOT)
    ap.add_argument("--report-seeds", action="store_true",
                    help="allow seeds 1 to 20 (the report's): a diagnostic of a default "
                         "already chosen, never a tuning run")
    a = ap.parse_args()
    seeds = seeds_of(a.seeds)
    if min(seeds) <= 20 and not a.report_seeds:
        raise SystemExit("seeds 1 to 20 are the report's, not for tuning "
                         "(--report-seeds for a diagnostic of the chosen default)")
    rng = np.random.default_rng(6)
    samples = run(DEFAULT, seeds, a.workers)
    probe = probe_verdicts(a.probe) if a.probe else {}

    print(f"preset {DEFAULT.name}, seeds {a.seeds}")
    print("\n(a) per seed, as the report fits it")
    per_seed(samples, probe)
    bx, by, bn, se = bin_errors(samples[0]["x"], samples[0]["move"])
    print(f"seed {samples[0]['seed']}'s bins (Q/V, mean, n, s.e./|mean|): " + "  ".join(
        f"{x:.1e} {y:+.4f} {n} {s / abs(y):.0%}" for x, y, n, s in zip(bx, by, bn, se,
                                                                     strict=True)))

    ks = [k for k in (1, 2, 4, 8) if k <= len(samples)]
    print("\n(b) parents of k seeds pooled (disjoint groups of consecutive seeds)")
    rows = pooled_table(samples, ks)
    print_table(rows)
    for r in rows[1:]:
        print(f"k={r['k']} groups failing: " + "; ".join(
            f"{f['seeds'][0]}-{f['seeds'][-1]} delta {f['delta']:.3f} R^2 {f['r2']:.3f} "
            f"dec {f['decades']:.2f}" for f in r["fits"] if not f["pass"]) or "none")

    print(f"\n(c) all {len(samples)} seeds pooled")
    x = np.concatenate([s["x"] for s in samples])
    move = np.concatenate([s["move"] for s in samples])
    f = fit(x, move)
    print(f"parents {len(x):,}: delta {f['delta']:.3f}, R^2 {f['r2']:.3f}, decades "
          f"{f['decades']:.2f}, {'PASS' if f['pass'] else 'FAIL'}")
    bx, by, bn, se = bin_errors(x, move)
    print("bins (Q/V, mean move in daily sigma, n, s.e.): " + "  ".join(
        f"{x_:.1e} {y:+.5f} {n} {s:.5f}" for x_, y, n, s in zip(bx, by, bn, se, strict=True)))
    # the pooled bins over the span one seed's fit covers (medians over the seeds of its
    # smallest and largest positive bin mean), to part the larger sample from the wider span
    spans = [(min(s["report"]["bins_x"]), max(s["report"]["bins_x"]))
             for s in samples if s["report"]["bins_x"]]
    lo, hi = (float(np.median([sp[0] for sp in spans])),
              float(np.median([sp[1] for sp in spans])))
    pbx, pby = np.asarray(f["bins_x"]), np.asarray(f["bins_y"])
    in_span = (pbx >= lo * 0.9) & (pbx <= hi * 1.1)
    d_w, r2_w = loglog_fit(pbx[in_span], pby[in_span])
    print(f"the pooled bins within one seed's span ({lo:.1e} to {hi:.1e}, medians over "
          f"the seeds, +-10%; {int(in_span.sum())} of {len(pbx)} bins): delta {d_w:.3f}, "
          f"R^2 {r2_w:.3f}, decades {math.log10(pbx[in_span].max() / pbx[in_span].min()):.2f}")
    thirds = np.array_split(np.arange(len(pbx)), 3)
    print("local slope of the pooled bins (log-log fit of each third of the bins): " + "; ".join(
        f"Q/V {pbx[t[0]]:.1e} to {pbx[t[-1]]:.1e}: {loglog_fit(pbx[t], pby[t])[0]:.3f}"
        for t in thirds))
    boot = bootstrap_seeds(samples, rng, a.boot)
    print(f"bootstrap over seeds ({a.boot} resamples of {len(samples)} seeds): delta 90% "
          f"interval [{boot['delta'][0]:.3f}, {boot['delta'][2]:.3f}] (median "
          f"{boot['delta'][1]:.3f}); R^2 [{boot['r2'][0]:.3f}, {boot['r2'][2]:.3f}]; "
          f"resamples passing {boot['share_passing']:.1%}")

    print("\n(d) is one day's spread sampling noise?")
    within = [within_seed_delta_se(s, rng, 200) for s in samples]
    deltas = np.array([fit(s["x"], s["move"])["delta"] for s in samples])
    print(f"delta over seeds: sd {np.std(deltas, ddof=1):.3f}; one seed's delta over its "
          f"own parents resampled (200 each): sd median {np.median(within):.3f} "
          f"[{min(within):.3f}, {max(within):.3f}]")
    syn = synthetic_days(samples, rng, a.boot)
    print(f"'days' of {syn['size']:,} parents drawn from the {len(x):,} pooled "
          f"({a.boot}): passing {syn['share_passing']:.1%}, delta > 0.7 "
          f"{syn['delta_high']:.1%}, delta < 0.4 {syn['delta_low']:.1%}, R^2 < 0.8 "
          f"{syn['r2_low']:.1%}; delta 5-50-95% {np.round(syn['delta'], 3).tolist()}")

    blk = hour_block_days(samples, rng, a.boot)
    print(f"days of {blk['hours']} whole hours, each from a seed drawn at random "
          f"({a.boot}): passing {blk['share_passing']:.1%}, delta > 0.7 "
          f"{blk['delta_high']:.1%}, delta < 0.4 {blk['delta_low']:.1%}, R^2 < 0.8 "
          f"{blk['r2_low']:.1%}; delta 5-50-95% {np.round(blk['delta'], 3).tolist()}")

    control: list[dict[str, Any]] = []
    if a.control_seeds:
        control = run(ZI, seeds_of(a.control_seeds), a.workers)
        print(f"\n(e) negative control: preset {ZI.name}, seeds {a.control_seeds}")
        per_seed(control, {})
        crow = pooled_table(control, [k for k in (1, 2, 4, 8) if k <= len(control)])
        print_table(crow)
        cx = np.concatenate([s["x"] for s in control])
        cm = np.concatenate([s["move"] for s in control])
        cf = fit(cx, cm)
        print(f"all {len(control)} pooled, {len(cx):,} parents: delta {cf['delta']:.3f}, R^2 "
              f"{cf['r2']:.3f}, decades {cf['decades']:.2f}, "
              f"{'PASS' if cf['pass'] else 'FAIL'}")
        bx, by, bn, se = bin_errors(cx, cm)
        print("bins (Q/V, mean, n, s.e.): " + "  ".join(
            f"{x_:.1e} {y:+.5f} {n} {s:.5f}" for x_, y, n, s in zip(bx, by, bn, se,
                                                                   strict=True)))
    if a.png:
        plot(samples, control, a.png)
        print(f"\nplot: {a.png}")


if __name__ == "__main__":
    main()
