"""Does any confidence of the next-mid model predict a move that pays a taker?

    python examples/ml_move_by_confidence.py --data ml/sim [--horizon 10] [--fee-bp 3]

Per regime the sessions are split as ``matchbook ml evaluate`` splits them (the last 40%
test, one session embargoed, the rest train); LightGBM is fitted on the training
events and, on every test event, the mid-price move over the next ``--horizon``
seconds is read in basis points, signed by the model's call (up when P(up) >= 0.5).
Printed per bin of P(up): the events, the mean signed move, and the share of events
whose move beats a taker's round trip (the spread plus two fees). A taker can only
earn where the mean signed move exceeds half the spread plus one fee on entry (and
the same again to get out).
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np

from matchbook.ml.features import iter_sessions
from matchbook.ml.labels import next_mid
from matchbook.ml.models import LightGBM
from matchbook.ml.schema import DataError, read_meta

BINS = (0.0, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 1.0001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--horizon", type=float, default=10.0, help="seconds")
    parser.add_argument("--fee-bp", type=float, default=3.0, help="taker fee a side")
    parser.add_argument("--max-train", type=int, default=300_000)
    args = parser.parse_args()
    try:
        run(args)
    except DataError as exc:  # no data sets there, a damaged file
        raise SystemExit(f"error: {exc}") from None


def run(args: argparse.Namespace) -> None:
    horizon_ns = int(args.horizon * 1e9)

    regimes: dict[str, list[str]] = {}
    for _, meta in read_meta(args.data):
        for s in meta.sessions:
            regimes.setdefault(s.regime, []).append(s.session)
    test_sessions, train_sessions = set(), set()
    for names in regimes.values():
        k = min(len(names) - 1, math.ceil(len(names) * 0.4))
        test_sessions |= set(names[len(names) - k:])
        train_sessions |= set(names[: max(1, len(names) - k - 1)])

    train, test = [], []
    for s in iter_sessions(args.data):
        if s.session not in train_sessions | test_sessions:
            continue
        label, end = next_mid(s)
        rows = np.flatnonzero(s.valid & (end >= 0))
        later = np.searchsorted(s.ts_ns, s.ts_ns[rows] + horizon_ns, side="right") - 1
        move_bp = (s.mid2[later] - s.mid2[rows]) / s.mid2[rows] * 1e4
        spread_bp = s.spread[rows] * 2 / s.mid2[rows] * 1e4
        part = (s.features[rows], label[rows], move_bp, spread_bp)
        (test if s.session in test_sessions else train).append(part)
    if not train or not test:
        raise DataError(args.data, None, None, "needs at least two sessions of a regime (one "
                        "to train on, one to test)")
    X = np.concatenate([p[0] for p in train])
    y = np.concatenate([p[1] for p in train])
    pick = np.sort(np.random.default_rng(0).choice(y.size, min(args.max_train, y.size),
                                                   replace=False))
    model = LightGBM(seed=0).fit(X[pick], y[pick])
    del X, y
    X_test = np.concatenate([p[0] for p in test])
    y_test = np.concatenate([p[1] for p in test])
    move = np.concatenate([p[2] for p in test])
    spread = np.concatenate([p[3] for p in test])
    p_up = model.predict_proba(X_test)[:, list(model.classes_).index(1)]
    print(f"{len(train_sessions)} training and {len(test_sessions)} test sessions; "
          f"{p_up.size:,} test events; accuracy {np.mean((p_up >= 0.5) == (y_test > 0)):.2%}")
    print(f"median spread {np.median(spread):.2f} bp; median |move| over {args.horizon:g} s "
          f"{np.median(np.abs(move)):.2f} bp; taker fee {args.fee_bp:g} bp a side")
    print(f"{'P(up)':>12} {'events':>9} {'share':>7} {'signed move bp':>15} "
          f"{'entry cost bp':>14} {'beats round trip':>17}")
    for lo, hi in itertools.pairwise(BINS):
        sel = (p_up >= lo) & (p_up < hi)
        if not sel.any():
            continue
        signed = move[sel] * (1 if lo >= 0.5 else -1)
        entry = spread[sel] / 2 + args.fee_bp
        round_trip = spread[sel] + 2 * args.fee_bp
        print(f"[{lo:.2f},{min(hi, 1):.2f}) {sel.sum():>9,} {sel.mean():>7.1%} "
              f"{signed.mean():>+15.3f} {entry.mean():>14.2f} "
              f"{np.mean(signed > round_trip):>17.2%}")


if __name__ == "__main__":
    main()
