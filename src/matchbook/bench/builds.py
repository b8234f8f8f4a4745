"""``matchbook bench engine --build compiled,pure``: the builds of the core side by side.

The stream of ``bench engine`` (its mix, ``--resting`` deep book, accounts on or off) is
generated once, in this process, and written to a file. One worker process per build
(``python -m matchbook.bench.builds``; the interpreted one with
``MATCHBOOK_PURE_PYTHON=1``, so each runs exactly what a server would) reads it and
holds its own engine. The workers never run at once: this process hands them the stream
in chunks of ``chunk`` commands, taking turns (their order swapping from chunk to chunk),
as ``bench compare`` does within one process, so both builds see the same spells of the
shared machine. Each of ``repeat`` rounds is a throughput pass (no timer per command)
and a latency pass (one timer per command) on a fresh engine of each build. Every pass
of every build must end in the state hash of the generating engine.

Reported per build: commands/s (the best round), the latency percentiles of the round
with the lowest median, and resident bytes per resting order (``memory_orders`` orders
placed in the worker, as ``bench engine`` measures them); and the speed-up of each round
(the interpreted build's time over the compiled one's, in the same round).
"""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import msgspec

BUILDS = ("compiled", "pure")
_ENV = {"compiled": {"MATCHBOOK_PURE_PYTHON": "0"}, "pure": {"MATCHBOOK_PURE_PYTHON": "1"}}


class Worker:
    """One build in its own process; requests and answers are JSON lines."""

    def __init__(self, build: str) -> None:
        env = {**os.environ, **_ENV[build]}
        self.build = build
        self.process = subprocess.Popen(
            [sys.executable, "-m", "matchbook.bench.builds"], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.info: dict[str, Any] = self.ask({"op": "hello"})

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.build} worker stopped (exit {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the {self.build} worker: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=60)


def run(builds: tuple[str, ...] = BUILDS, commands: int = 1_000_000, resting: int = 0,
        accounts: bool = True, seed: int = 7, repeat: int = 3, chunk: int = 20_000,
        memory_orders: int = 200_000,
        progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run the builds on one stream; see the module doc. Raises ``AssertionError`` when
    a build ends a pass in another state than the generating engine."""
    from matchbook.bench import engine as bench
    from matchbook.bench.results import load_average, machine_meta
    from matchbook.journal.codec import encode_command

    unknown = set(builds) - set(BUILDS)
    if unknown or not builds:
        raise ValueError(f"--build takes {', '.join(BUILDS)} (comma-separated), not {builds}")
    note = progress or (lambda stage, done, total: None)
    meta = machine_meta(f"bench engine --build {','.join(builds)}")
    setup = bench.funding() + bench._deep_book(resting, random.Random(seed))
    stream, gen = bench.prepare(commands, seed, accounts, bench.Mix(), setup, note)
    expected_hash = gen.state_hash()
    del gen
    workers: dict[str, Worker] = {}
    with tempfile.TemporaryDirectory(prefix="mb-builds-") as tmp:
        path = Path(tmp) / "stream.msgpack"
        path.write_bytes(msgspec.msgpack.encode(
            [[encode_command(c) for c in setup], [encode_command(c) for c in stream]]))
        del stream
        try:
            for build in builds:
                workers[build] = Worker(build)
                note(f"{build}: bytes per resting order", 0, 1)
                workers[build].info.update(workers[build].ask(
                    {"op": "memory", "orders": memory_orders, "seed": seed,
                     "accounts": accounts}))
                workers[build].ask({"op": "load", "path": str(path), "accounts": accounts})
            rounds = _rounds(workers, commands, chunk, repeat, expected_hash, note)
        finally:
            for worker in workers.values():
                worker.close()
    meta["load_average"]["end"] = load_average()
    return _summary(meta, workers, rounds, builds, commands, resting, accounts, seed, chunk)


def _rounds(workers: dict[str, Worker], commands: int, chunk: int, repeat: int,
            expected_hash: str, note: Callable[[str, int, int], None]) -> list[dict[str, Any]]:
    names = list(workers)
    rounds = []
    for round_ in range(repeat):
        measured: dict[str, dict[str, Any]] = {name: {} for name in names}
        for phase in ("throughput", "latency"):
            for name in names:
                workers[name].ask({"op": "start", "phase": phase})
            spent = dict.fromkeys(names, 0)
            for n, low in enumerate(range(0, commands, chunk)):
                high = min(commands, low + chunk)
                for name in names if n % 2 == 0 else names[::-1]:
                    spent[name] += workers[name].ask(
                        {"op": "chunk", "low": low, "high": high})["ns"]
                note(f"round {round_ + 1}/{repeat}: {phase}", high, commands)
            for name in names:
                result = workers[name].ask({"op": "finish"})
                if result.pop("state_hash") != expected_hash:
                    raise AssertionError(f"the {name} build's {phase} pass ended in another "
                                         "state than the generating engine")
                if phase == "throughput":
                    measured[name]["ops_per_sec"] = round(commands / spent[name] * 1e9)
                    measured[name]["throughput_ns"] = spent[name]
                else:
                    measured[name].update(result)
        rounds.append(measured)
    return rounds


def _summary(meta: dict[str, Any], workers: dict[str, Worker], rounds: list[dict[str, Any]],
             builds: tuple[str, ...], commands: int, resting: int, accounts: bool, seed: int,
             chunk: int) -> dict[str, Any]:
    out: dict[str, Any] = {"meta": meta, "commands": commands, "resting": resting,
                           "accounts": accounts, "seed": seed, "chunk": chunk,
                           "rounds": len(rounds), "builds": {}}
    for name in builds:
        runs = [r[name] for r in rounds]
        best = max(runs, key=lambda r: r["ops_per_sec"])
        calm = min(runs, key=lambda r: r["p50_us"])
        out["builds"][name] = {
            "label": workers[name].info["label"],
            "ops_per_sec": best["ops_per_sec"],
            "ops_per_sec_rounds": [r["ops_per_sec"] for r in runs],
            **{k: calm[k] for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us",
                                     "mean_us")},
            "bytes_per_resting_order": workers[name].info["bytes_per_resting_order"],
            "memory_orders": workers[name].info["memory_orders"],
        }
    if "compiled" in builds and "pure" in builds:
        out["speedup_rounds"] = [round(r["pure"]["throughput_ns"] / r["compiled"]["throughput_ns"],
                                       3) for r in rounds]
        ratios = sorted(out["speedup_rounds"])
        out["speedup_median"] = ratios[len(ratios) // 2]
    return out


# ------------------------------------------------------------------------ the worker


class _State:
    def __init__(self) -> None:
        self.setup: list[Any] = []
        self.stream: list[Any] = []
        self.accounts = True
        self.engine: Any = None
        self.phase = ""
        self.latencies: list[int] = []
        self.events = 0


def _serve(state: _State, request: dict[str, Any]) -> dict[str, Any]:
    from matchbook import build_info
    from matchbook.bench import engine as bench
    from matchbook.journal.codec import decode_command

    op = request["op"]
    if op == "hello":
        info = build_info()
        return {"label": info["label"], "build": info["build"]}
    if op == "memory":
        n = request["orders"]
        return {"memory_orders": n, "bytes_per_resting_order":
                bench._bytes_per_resting_order(n, request["seed"], request["accounts"])}
    if op == "load":
        setup, stream = msgspec.msgpack.decode(Path(request["path"]).read_bytes())
        state.setup = [decode_command(c) for c in setup]
        state.stream = [decode_command(c) for c in stream]
        state.accounts = request["accounts"]
        return {"commands": len(state.stream)}
    if op == "start":
        state.engine = None
        gc.unfreeze()
        gc.enable()
        gc.collect()
        state.engine = bench.ready_engine(state.accounts, state.setup)
        state.phase, state.latencies, state.events = request["phase"], [], 0
        gc.collect()
        gc.freeze()
        gc.disable()  # the core makes no reference cycles, as the runtime runs it
        return {}
    if op == "chunk":
        return {"ns": _chunk(state, request["low"], request["high"])}
    if op == "finish":
        result: dict[str, Any] = {"state_hash": state.engine.state_hash(),
                                  "events": state.events}
        if state.phase == "latency":
            state.latencies.sort()
            result.update(bench._percentiles(state.latencies))
        return result
    raise ValueError(f"unknown request {op!r}")


def _chunk(state: _State, low: int, high: int) -> int:
    apply = state.engine.apply
    stream = state.stream
    base = len(state.setup) + 1
    clock = time.perf_counter_ns
    if state.phase == "throughput":
        events = 0
        t0 = clock()
        for i in range(low, high):
            seq = base + i
            events += len(apply(seq, seq, stream[i]))
        spent = clock() - t0
        state.events += events
        return spent
    latencies = state.latencies
    spent = 0
    for i in range(low, high):
        seq = base + i
        t0 = clock()
        apply(seq, seq, stream[i])
        took = clock() - t0
        latencies.append(took)
        spent += took
    return spent


def _worker(stdin: IO[str], stdout: IO[str]) -> None:
    state = _State()
    for line in stdin:
        try:
            answer = _serve(state, json.loads(line))
        except Exception as exc:  # reported to the parent, which stops the run
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


if __name__ == "__main__":
    _worker(sys.stdin, sys.stdout)
