"""The research chain on simulated days: simulate, capture, features, labels, models
against baselines, then the model trading inside the simulator.

    python examples/ml_chain.py --seeds 6 --hours 1 --out /tmp/matchbook-ml

Every step is a function of ``matchbook.ml`` (the same code as ``matchbook ml ...``):

1. ``simulate_session``: the simulator's agents on the production engine, one journal
   per seed, captured into L3 messages and 10-level book rows;
2. ``build_samples``: the features and the next-mid label of every event;
3. ``evaluate``: baselines and models fitted on the first sessions, chosen on
   validation sessions, scored once on the last ones with bootstrap CIs;
4. ``run_session``: the fitted model as a live agent (taker, one-sided maker and a
   two-sided maker skewing its quotes) in a fresh simulated session, against random
   twins.

A handful of short sessions is a demonstration, not evidence: ``docs/ml.md`` says
how many sessions a claim needs and what the accuracy means.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from matchbook.ml import DataError, EvaluationError, build_samples, evaluate, write_dataset
from matchbook.ml.backtest import BacktestConfig, run_session, summarise
from matchbook.ml.models import LightGBM
from matchbook.ml.simulate import regime_preset, simulate_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6, help="simulated sessions per regime")
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours a session")
    parser.add_argument("--out", type=Path, default=Path("/tmp/matchbook-ml"))
    args = parser.parse_args()
    if args.seeds < 1 or args.hours <= 0:
        parser.error("--seeds and --hours must be positive")
    try:
        run(args)
    except (DataError, EvaluationError) as exc:  # e.g. sessions too short to evaluate
        raise SystemExit(f"error: {exc}") from None


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()

    print(f"1. simulating {args.seeds} calm and {args.seeds} volatile sessions ...")
    for regime in ("calm", "volatile"):
        preset = regime_preset(regime, int(args.hours * 3600))
        for seed in range(args.seeds):
            ds, summary = simulate_session(preset, seed)
            write_dataset(args.out / f"{regime}-{seed:04d}", ds)
            print(f"   {regime} seed {seed}: {summary['messages']:,} commands, "
                  f"{ds.book.height:,} book events")

    print("2. features and labels ...")
    samples = build_samples(args.out, "next-mid")  # read one session at a time
    print(f"   {len(samples):,} labelled events in {len(samples.session_names)} sessions")

    print("3. baselines and models, out of sample ...")
    result, _details = evaluate(samples, resamples=500)
    for group in ("baselines", "models"):
        for name, m in result[group].items():
            print(f"   {name:<26} {m['accuracy']:.2%}  (95% CI {m['ci_low']:.2%} .. "
                  f"{m['ci_high']:.2%})")
    best = result["best"]
    print(f"   chosen on validation: {best['name']} {best['accuracy']:.2%}, lead over "
          f"{best['best_baseline']} {best['lead']:+.2%} (95% CI {best['lead_ci_low']:+.2%} "
          f".. {best['lead_ci_high']:+.2%})")

    print("4. the model trading inside a fresh simulated session ...")
    model = LightGBM().fit(samples.X, samples.y)
    bundle = {"model": model, "name": "lightgbm"}
    preset = regime_preset("calm", int(args.hours * 3600))
    runs = run_session(bundle, preset, 10_000, BacktestConfig(start_after_s=300.0))
    from matchbook.config import default_markets

    decimals = default_markets().symbols[preset.symbol].quote.decimals
    for name, s in summarise(runs, quote_decimals=decimals).items():
        print(f"   {name:<14} {s['trades']:>5} trades, net {s['net_bp_per_trade']:+.2f} bp "
              f"per trade")
    print(f"done in {time.perf_counter() - started:.0f} s; data sets in {args.out}")


if __name__ == "__main__":
    main()
