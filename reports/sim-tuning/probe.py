"""Probe the default preset on a few seeds: facts 1, 4, 5, 6 and where the execution
agents' flow goes (who takes, who is hit, the impact of the labelled parents by size).

    python reports/sim-tuning/probe.py --seeds 1-4 [--set kind.param=value ...]

``--set`` changes one agent parameter of the preset (``execution.child_wait_s=3``) or
of the fundamental (``fundamental.season=0.5``); the figures are printed, not saved.
"""

from __future__ import annotations

import argparse
import ast
import math
import multiprocessing
import sys
from dataclasses import replace
from typing import Any

import numpy as np

from matchbook.core.events import TradeExecuted
from matchbook.sim.facts import fact_passes, measure, minute_mids
from matchbook.sim.presets import DEFAULT, Preset
from matchbook.sim.runner import DAY_START_NS, SECOND, Simulation


class _Recorder:
    """The engine, with the maker of every trade recorded."""

    def __init__(self, engine: Any, makers: list[int]) -> None:
        self._engine, self._makers = engine, makers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def apply(self, seq: int, ts: int, command: Any) -> Any:
        events = self._engine.apply(seq, ts, command)
        for e in events:
            if type(e) is TradeExecuted:
                self._makers.append(e.maker_user_id)
        return events


def preset_with(changes: list[str]) -> Preset:
    preset = DEFAULT
    for change in changes:
        key, value = change.split("=", 1)
        owner, param = key.split(".", 1)
        parsed = ast.literal_eval(value)
        if owner == "fundamental":
            preset = replace(preset, fundamental=replace(preset.fundamental, **{param: parsed}))
        elif owner == "preset":
            preset = replace(preset, **{param: parsed})
        else:
            agents = []
            for kind, count, params in preset.agents:
                if kind == owner:
                    if param == "count":
                        count = parsed
                    else:
                        params = {**params, param: parsed}
                agents.append((kind, count, params))
            preset = replace(preset, agents=tuple(agents))
    return preset


def probe(args: tuple[Preset, int]) -> dict[str, Any]:
    preset, seed = args
    sim = Simulation(preset, seed)
    makers: list[int] = []
    sim.engine = _Recorder(sim.engine, makers)  # type: ignore[assignment]
    result = sim.run()
    m = measure(result)
    kinds = {a.user_id: a.kind for a in sim.agents}
    taker_kind = np.array([kinds[u] for u in result.trade_taker.tolist()])
    maker_kind = np.array([kinds[u] for u in makers])
    qty = result.trade_qty_lots
    volume = float(qty.sum())
    flows = {}
    for k in sorted(set(kinds.values())):
        flows[k] = (float(qty[taker_kind == k].sum()) / volume,
                    float(qty[maker_kind == k].sum()) / volume)
    hit = {}
    ex = taker_kind == "execution"
    for k in sorted(set(kinds.values())):
        hit[k] = float(qty[ex & (maker_kind == k)].sum()) / max(1.0, float(qty[ex].sum()))
    # labelled parents: the move over each, in daily sigma, by size bin
    p = result.parents
    p = p[(p[:, 4] > 0) & (p[:, 3] >= DAY_START_NS + preset.warmup_s * SECOND)]
    mids = result.second_mid_ticks
    r = np.diff(np.log(minute_mids(result)))
    r = r[np.isfinite(r)]
    sigma = float(np.std(r) * math.sqrt(len(r)))
    first = np.clip((p[:, 3] - DAY_START_NS) // SECOND - 1, 0, len(mids) - 1)
    last = np.clip((p[:, 4] - DAY_START_NS) // SECOND + 1, 0, len(mids) - 1)
    move = np.log(mids[last] / mids[first]) * p[:, 1] / sigma
    fund = np.repeat(result.fundamental_ticks, 60)[:len(mids)]
    end = len(fund) - 1
    fmove = np.log(fund[np.minimum(last, end)] / fund[np.minimum(first, end)]) * p[:, 1] / sigma
    x = p[:, 2] / volume
    bins = []
    for lo in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2):
        inside = (x >= lo) & (x < lo * 10)
        if inside.sum():
            bins.append((lo, int(inside.sum()), float(move[inside].mean()),
                         float(fmove[inside].mean()),
                         float(((p[inside, 4] - p[inside, 3]) / SECOND).mean())))
    # the parents the fact sees on the tape, by the kind of their taker
    from matchbook.sim.facts import parent_orders

    tape = parent_orders(result)
    tape_kinds = {}
    if len(tape):
        t_first = np.clip((tape[:, 3] - DAY_START_NS) // SECOND - 1, 0, len(mids) - 1)
        t_last = np.clip((tape[:, 4] - DAY_START_NS) // SECOND + 1, 0, len(mids) - 1)
        t_move = np.log(mids[t_last] / mids[t_first]) * tape[:, 1] / sigma
        t_kind = np.array([kinds[u] for u in tape[:, 0].tolist()])
        for k in sorted(set(t_kind.tolist())):
            sel = t_kind == k
            tape_kinds[k] = (int(sel.sum()), float(t_move[sel].mean()),
                             float(np.median(tape[sel, 2] / volume)))
    return {"seed": seed, "m": m, "tape_kinds": tape_kinds, "flows": flows, "hit": hit,
            "bins": bins, "sigma_bp": sigma * 1e4, "volume": volume, "messages": result.messages,
            "trades": result.trades}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1-4")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    lo, _, hi = a.seeds.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    preset = preset_with(a.set)
    jobs = [(preset, s) for s in seeds]
    with multiprocessing.get_context("spawn").Pool(a.workers) as pool:
        out = pool.map(probe, jobs)
    print("settings:", a.set)
    passes = {f: 0 for f in range(1, 8)}
    for o in out:
        m = o["m"]
        for f in range(1, 8):
            passes[f] += bool(fact_passes(f, m[f]))
        line = (f"seed {o['seed']}: msgs {o['messages']} trades {o['trades']} "
                f"sigma {o['sigma_bp']:.0f}bp | 1 lags {m[1]['lags_within']} "
                f"acf1 {m[1]['curve'][0]:+.3f} max {m[1]['max_abs_acf']:.3f} | "
                f"acf {np.round(m[1]['curve'], 2).tolist()} | "
                f"2 k {m[2]['excess_kurtosis']:.1f} a {m[2]['hill_alpha']:.2f} | "
                f"4 r1 {m[4]['acf_abs_1']:.3f} r10m {m[4]['acf_abs_10_margin']:+.3f} "
                f"dec {m[4]['decay_exponent']:.2f} | 5 g {m[5]['gamma']:.2f} "
                f"c100m {m[5]['c100_margin']:+.3f} | 6 d {m[6]['delta']:.2f} "
                f"r2 {m[6]['r2']:.2f} dec {m[6]['decades']:.1f} | 7 {m[7]['corr']:.2f}")
        print(line)
        if not a.quiet:
            print("   taker/maker share:", {k: (round(t, 3), round(mk, 3))
                                            for k, (t, mk) in o["flows"].items()})
            print("   execution hits:", {k: round(v, 3) for k, v in o["hit"].items()})
            for lo_, n, mv, fmv, dur in o["bins"]:
                print(f"   Q/V {lo_:.0e}: {n:5d} parents, move {mv:+.4f} sigma, "
                      f"fundamental {fmv:+.4f}, {dur:.0f} s")
            print("   tape parents (n, mean move, median Q/V):", {
                k: (n, round(mv, 4), f"{q:.1e}") for k, (n, mv, q) in o["tape_kinds"].items()})
            print("   fact-6 bins:", " ".join(f"{x:.1e}:{y:+.4f}" for x, y in zip(
                m[6]["bins_x"], m[6]["bins_y"], strict=True)))
    print("passing:", {f: f"{n}/{len(out)}" for f, n in passes.items()})


if __name__ == "__main__":
    sys.exit(main())
