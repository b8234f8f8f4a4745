"""Simulated sessions for research: run the simulator's agents on the production engine
(``matchbook.sim``), one journal per seed, and capture each into a data set.

Two regimes for the protocol's regime-shift test, both the simulator's ``default``
agent mix (~1,000 agents) on a shorter day, differing only in the latent fundamental
the value and informed traders follow:

* ``calm``: 0.25 bp/s volatility, no jumps;
* ``volatile``: 1.0 bp/s volatility, a 25 bp jump every 15 minutes on average, and
  trading that speeds up more with volatility.

A preset of the simulator with the same name wins over these.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matchbook.ml.capture import capture
from matchbook.ml.schema import Dataset, write_dataset

REGIMES = ("calm", "volatile")
DAY_S = 4 * 3600


def regime_preset(name: str, day_s: int = DAY_S) -> Any:
    """The simulator preset of a regime (or any simulator preset by name)."""
    from matchbook.sim import PRESETS, Fundamental

    if name in PRESETS:
        return PRESETS[name]
    base = PRESETS["default"]
    if name == "calm":
        fundamental = Fundamental(sigma_bp_per_s=0.25, jump_per_s=0.0, activity_beta=0.6)
    elif name == "volatile":
        fundamental = Fundamental(sigma_bp_per_s=1.0, jump_per_s=1 / 900, jump_bp=25.0,
                                  activity_beta=1.0)
    else:
        raise KeyError(f"unknown preset {name!r}; regimes: {', '.join(REGIMES)}; simulator "
                       f"presets: {', '.join(sorted(PRESETS))}")
    return base.scaled(name=name, description=f"default agents, {name} fundamental",
                       fundamental=fundamental, day_s=day_s, warmup_s=600)


def simulate_session(preset: Any, seed: int, *, keep_dir: Path | None = None
                     ) -> tuple[Dataset, dict[str, Any]]:
    """Run one seed and capture it: (data set tagged with the preset's name, the run's
    summary)."""
    from matchbook.config import default_markets
    from matchbook.sim import run_preset

    work = Path(tempfile.mkdtemp(prefix="matchbook-sim-")) if keep_dir is None else keep_dir
    try:
        result = run_preset(preset, seed, work / "data")
        found = capture(work / "data", default_markets(), symbols=[preset.symbol],
                        session=f"{preset.name}-{seed:04d}", regime=preset.name)
    finally:
        if keep_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return found[preset.symbol], result.summary()


def simulate(presets: list[str], seeds: int, out: Path, *, first_seed: int = 0,
             day_s: int = DAY_S, note: Callable[[str], None] = lambda _: None
             ) -> list[dict[str, Any]]:
    """``seeds`` sessions of each preset into ``out/<preset>-<seed>/``."""
    runs = []
    for name in presets:
        preset = regime_preset(name, day_s)
        for seed in range(first_seed, first_seed + seeds):
            note(f"{name} seed {seed}: simulating and capturing")
            ds, summary = simulate_session(preset, seed)
            write_dataset(out / f"{name}-{seed:04d}", ds)
            runs.append({**summary, "events": ds.book.height})
    return runs
