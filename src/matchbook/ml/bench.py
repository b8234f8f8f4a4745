"""``matchbook ml bench``: time and peak memory of each step of the chain on N events.

Stages, each run in a fresh Python process so its peak resident memory (``ru_maxrss``)
is its own and not the high-water mark of an earlier stage:

* ``capture``: replay a journal through the core engine into messages and book rows and
  write the data set (the journal: a simulated calm session long enough for N book
  events, or ``--data-dir``);
* ``features``: read a data set from disk and compute features and labels (``next-mid``
  and ``k100``), one session at a time (a synthetic random-walk book of N events in 20
  sessions, or ``--data``);
* ``evaluate``: features, labels, the three baselines and the two models fitted and
  scored with block-bootstrap intervals: what ``matchbook ml evaluate`` does.

Reported per stage: events, wall and CPU seconds (CPU seconds are the steadier figure on
a shared machine), the interpreter's resident memory once the libraries are imported
(``base_rss_mb``) and the stage's peak (``peak_rss_mb``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from matchbook.ml.schema import (
    BOOK_SCHEMA,
    LEVELS,
    MESSAGE_SCHEMA,
    Dataset,
    Event,
    Meta,
    SessionInfo,
    write_dataset,
)

STAGES = ("capture", "features", "evaluate")
SYNTHETIC_SESSIONS = 20
CALM_EVENTS_PER_HOUR = 14_000  # book rows an hour of the calm regime makes, about


def synthetic_dataset(events: int, seed: int = 0, session: str = "bench") -> Dataset:
    """One session of ``events`` book rows: a random-walk best bid, a 1..3-tick spread,
    random queues on 10 levels a side, a trade on a third of the rows."""
    rng = np.random.default_rng(seed)
    bid = 1_000_000 + np.cumsum(rng.integers(-1, 2, events))
    spread = rng.integers(1, 4, events)
    data: dict[str, Any] = {"session": pl.repeat(session, events, dtype=pl.Utf8, eager=True),
                            "seq": np.arange(1, events + 1, dtype=np.int64),
                            "ts_ns": np.cumsum(rng.integers(1, 2_000_000, events)),
                            "halted": np.zeros(events, dtype=bool)}
    for i in range(1, LEVELS + 1):
        data[f"bid_px_{i}"] = bid - (i - 1)
        data[f"bid_qty_{i}"] = rng.integers(1, 50, events)
        data[f"ask_px_{i}"] = bid + spread + (i - 1)
        data[f"ask_qty_{i}"] = rng.integers(1, 50, events)
    book = pl.DataFrame(data, schema=BOOK_SCHEMA)
    trades = np.flatnonzero(rng.random(events) < 0.33) + 1
    n = trades.size
    messages = pl.DataFrame({
        "session": pl.repeat(session, n, dtype=pl.Utf8, eager=True), "seq": trades,
        "ts_ns": trades, "event": np.full(n, int(Event.EXECUTE), dtype=np.int8),
        "order_id": trades, "side": rng.choice(np.array([-1, 1], dtype=np.int8), n),
        "price_ticks": bid[trades - 1], "qty_lots": rng.integers(1, 10, n),
        "aggressor": rng.choice(np.array([-1, 1], dtype=np.int8), n),
        "predates": np.zeros(n, dtype=bool)}, schema=MESSAGE_SCHEMA)
    info = SessionInfo(session, "", n, events, 1, events)
    return Dataset(messages, book, Meta("bench", "X", "0.01", "1", [info]))


def write_synthetic(out: Path, events: int, sessions: int = SYNTHETIC_SESSIONS) -> Path:
    """``events`` synthetic book rows in up to ``sessions`` data set directories under
    ``out`` (at least 1,000 rows each)."""
    sessions = max(1, min(sessions, events // 1000))
    for i in range(sessions):
        size = events // sessions + (1 if i < events % sessions else 0)
        write_dataset(out / f"bench-{i:02d}", synthetic_dataset(size, seed=i,
                                                                session=f"bench-{i:02d}"))
    return out


def simulate_journal(out: Path, events: int, seed: int = 7) -> tuple[Path, dict[str, Any]]:
    """A calm simulated session long enough for about ``events`` book rows, journaled in
    ``out``."""
    from matchbook.ml.simulate import regime_preset
    from matchbook.sim import run_preset

    hours = max(1, math.ceil(events / CALM_EVENTS_PER_HOUR))
    started = time.perf_counter()
    result = run_preset(regime_preset("calm", hours * 3600), seed, out)
    return out, {"simulated_hours": hours,
                 "simulation_s": round(time.perf_counter() - started, 1),
                 "commands": result.summary()["messages"]}


# --------------------------------------------------------------------------- one stage


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_stage(stage: str, path: Path) -> dict[str, Any]:
    """Run one stage in this process on ``path`` (a data directory for ``capture``, a
    data set for the others) and return its figures."""
    import lightgbm  # noqa: F401  (imported before the base figure, as every stage uses it)
    import sklearn.linear_model  # noqa: F401

    from matchbook.ml.samples import build_samples

    base = _rss_mb()
    wall, cpu = time.perf_counter(), _cpu_s()
    out: dict[str, Any] = {"stage": stage, "input": str(path), "base_rss_mb": base}
    if stage == "capture":
        from matchbook.config import default_markets
        from matchbook.ml.capture import capture

        found = capture(path, default_markets())
        target = Path(tempfile.mkdtemp(prefix="matchbook-bench-"))
        try:
            for name, ds in found.items():
                write_dataset(target / name, ds)
                out["events"] = out.get("events", 0) + ds.book.height
                out["messages"] = out.get("messages", 0) + ds.messages.height
                out["commands"] = ds.meta.notes.get("commands", 0)
        finally:
            shutil.rmtree(target, ignore_errors=True)
    elif stage == "features":
        for label in ("next-mid", "k100"):
            t = time.perf_counter()
            samples = build_samples(path, label)
            out[f"{label}_s"] = round(time.perf_counter() - t, 2)
            out[f"{label}_samples"] = len(samples)
            out["feature_matrix_mb"] = round(samples.X.nbytes / 2**20, 1)
            del samples
        out["events"] = _book_rows(path)
    elif stage == "evaluate":
        from matchbook.ml.evaluate import evaluate

        samples = build_samples(path, "next-mid")
        out["events"] = _book_rows(path)
        out["samples"] = len(samples)
        out["features_peak_rss_mb"] = _rss_mb()
        result, _ = evaluate(samples)
        out["n_train"], out["n_test"] = result["n_train"], result["n_test"]
        out["best"] = result["best"]["name"]
    else:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    out["wall_s"] = round(time.perf_counter() - wall, 2)
    out["cpu_s"] = round(_cpu_s() - cpu, 2)
    out["events_per_cpu_s"] = round(out["events"] / max(out["cpu_s"], 1e-9))
    out["peak_rss_mb"] = _rss_mb()
    return out


def _book_rows(path: Path) -> int:
    from matchbook.ml.schema import BOOK_FILE, read_meta

    return sum(pl.scan_parquet(d / BOOK_FILE).select(pl.len()).collect().item()
               for d, _ in read_meta(path))


# --------------------------------------------------------------------------- the command


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
            "python": platform.python_version(), "commit": commit,
            "load_average": [round(x, 2) for x in load]}


def bench(stages: list[str], events: int, *, data: Path | None = None,
          data_dir: Path | None = None, note: Any = lambda _: None) -> dict[str, Any]:
    """Prepare the inputs, run each stage in a child process, collect the figures."""
    started = machine()  # the commit the stages import, read before they run
    work = Path(tempfile.mkdtemp(prefix="matchbook-ml-bench-"))
    result: dict[str, Any] = {"events_requested": events, "stages": {}}
    try:
        inputs: dict[str, Path] = {}
        if {"features", "evaluate"} & set(stages):
            if data is None:
                note(f"writing {events:,} synthetic events in {SYNTHETIC_SESSIONS} sessions")
                data = write_synthetic(work / "synthetic", events)
                result["data"] = (f"synthetic random-walk book, "
                                  f"{min(SYNTHETIC_SESSIONS, max(1, events // 1000))} sessions")
            else:
                result["data"] = str(data)
            inputs["features"] = inputs["evaluate"] = data
        if "capture" in stages:
            if data_dir is None:
                note("simulating a calm session to capture")
                data_dir, sim = simulate_journal(work / "journal", events)
                result["capture_input"] = {"simulated": "calm", **sim}
            else:
                result["capture_input"] = {"data_dir": str(data_dir)}
            inputs["capture"] = data_dir
        for stage in stages:
            note(f"stage {stage}")
            proc = subprocess.run(
                [sys.executable, "-m", "matchbook.ml.bench", stage, str(inputs[stage])],
                capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"stage {stage} failed: {tail}")
            result["stages"][stage] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.update(machine())
    result["commit"] = started["commit"]
    result["load_average_at_start"] = started["load_average"]
    return result


def main(argv: list[str]) -> int:
    """``python -m matchbook.ml.bench STAGE PATH``: one stage, its figures as JSON."""
    if len(argv) != 2 or argv[0] not in STAGES:
        print(f"usage: python -m matchbook.ml.bench {{{','.join(STAGES)}}} PATH",
              file=sys.stderr)
        return 2
    print(json.dumps(run_stage(argv[0], Path(argv[1]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
