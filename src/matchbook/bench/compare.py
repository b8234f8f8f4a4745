"""``matchbook bench compare --base REV``: this engine against the one of a git revision,
in one process, on the same stream, in alternating chunks. ``matchbook bench
accounts-cost``: the engine with accounts against the engine without, the same way.

On a shared VM whose speed drifts by 10-30% from one minute to the next, two benchmark
runs taken one after the other compare the machine's moods as much as the code. Here
both engines run in the same process: the stream is cut into chunks, each chunk is
applied by one engine and then by the other (the order alternates), and the times are
summed per engine. Drift hits both alike, so the ratio is the code's.

The base revision's ``src/matchbook`` is taken with ``git archive`` into a temporary
folder and imported under another name (``matchbook_base``); its commands are built
from this tree's by field values. Both engines must end in the same state when the
change under test keeps the semantics; the result says whether they did.
"""

from __future__ import annotations

import gc
import importlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from matchbook.bench import engine as bench

BASE_PACKAGE = "matchbook_base"


def load_base(revision: str, repo: Path, into: Path) -> Any:
    """Import ``src/matchbook`` of ``revision`` as ``matchbook_base`` from ``into`` (which
    must stay until ``unload_base``); returns its ``bench.engine`` module."""
    archive = subprocess.run(["git", "-C", str(repo), "archive", revision, "src/matchbook"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / BASE_PACKAGE
    (into / "src" / "matchbook").rename(package)
    imports = re.compile(r"\bmatchbook(?=[.\s])")
    for path in package.rglob("*.py"):
        path.write_text(imports.sub(BASE_PACKAGE, path.read_text()))
    sys.path.insert(0, str(into))
    return importlib.import_module(f"{BASE_PACKAGE}.bench.engine")


def unload_base(into: Path) -> None:
    if str(into) in sys.path:
        sys.path.remove(str(into))
    for name in [m for m in sys.modules if m.split(".")[0] == BASE_PACKAGE]:
        del sys.modules[name]


def _converter() -> Callable[[Any], Any]:
    commands = importlib.import_module(f"{BASE_PACKAGE}.core.commands")

    def convert(command: Any) -> Any:
        return getattr(commands, type(command).__name__)(*msgspec.structs.astuple(command))

    return convert


def compare(revision: str, commands: int = 400_000, accounts: bool = True, seed: int = 7,
            chunk: int = 20_000, repo: Path | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Time this tree's engine and ``revision``'s on the same mix; see the module doc."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            base_bench = load_base(revision, repo or Path.cwd(), Path(tmp))
            return _compare(base_bench, revision, commands, accounts, seed, chunk,
                            progress or (lambda stage, done, total: None))
        finally:
            unload_base(Path(tmp))


def alternate(runs: dict[str, tuple[Any, list[Any], int]], commands: int, chunk: int,
              note: Callable[[str, int, int], None]) -> dict[str, int]:
    """Apply each run's stream in chunks of ``chunk`` commands, the runs taking turns
    (their order alternating from chunk to chunk); returns the nanoseconds each spent.
    A run is ``(engine, stream, first seq)``; every engine is ready for its stream."""
    spent = dict.fromkeys(runs, 0)
    names = list(runs)
    clock = time.perf_counter_ns
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        for n, low in enumerate(range(0, commands, chunk)):
            high = min(commands, low + chunk)
            for name in names if n % 2 == 0 else names[::-1]:
                engine, cmds, start = runs[name]
                apply = engine.apply
                t0 = clock()
                for i in range(low, high):
                    seq = start + i
                    apply(seq, seq, cmds[i])
                spent[name] += clock() - t0
            note("alternate", high, commands)
    finally:
        gc.enable()
        gc.unfreeze()
    return spent


def _compare(base_bench: Any, revision: str, commands: int, accounts: bool, seed: int,
             chunk: int, note: Callable[[str, int, int], None]) -> dict[str, Any]:
    convert = _converter()
    setup = bench.funding()
    stream, _ = bench.prepare(commands, seed, accounts, bench.Mix(), setup, note)
    base = base_bench._engine(accounts)
    for seq, cmd in enumerate(setup, 1):
        base.apply(seq, seq, convert(cmd))
    this = bench.ready_engine(accounts, setup)
    start = len(setup) + 1
    spent = alternate({"base": (base, [convert(c) for c in stream], start),
                       "this": (this, stream, start)}, commands, chunk, note)
    return {
        "base": revision, "commands": commands, "accounts": accounts, "seed": seed,
        "base_ops_per_sec": round(commands / spent["base"] * 1e9),
        "this_ops_per_sec": round(commands / spent["this"] * 1e9),
        "speedup": round(spent["base"] / spent["this"], 3),
        "same_state": base.state_hash() == this.state_hash(),
    }


def accounts_cost(commands: int = 400_000, seed: int = 7, chunk: int = 20_000,
                  progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """What accounts (holds, settlement, fees) cost: the mix through an engine with
    accounts and one without, taking turns in this one process as in ``compare``.
    ``accounts_cost`` is the share of throughput they take (the target is at most
    0.30)."""
    note = progress or (lambda stage, done, total: None)
    runs = {}
    setup = bench.funding()
    for name, accounts in (("no_accounts", False), ("accounts", True)):
        stream, _ = bench.prepare(commands, seed, accounts, bench.Mix(), setup, note)
        runs[name] = (bench.ready_engine(accounts, setup), stream, len(setup) + 1)
    spent = alternate(runs, commands, chunk, note)
    return {
        "commands": commands, "seed": seed,
        "no_accounts_ops_per_sec": round(commands / spent["no_accounts"] * 1e9),
        "accounts_ops_per_sec": round(commands / spent["accounts"] * 1e9),
        "accounts_cost": round(1 - spent["no_accounts"] / spent["accounts"], 3),
    }
