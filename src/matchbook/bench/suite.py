"""``matchbook bench all``: every benchmark section, one result file.

The sections are a registry (:data:`SECTIONS`, filled by the :func:`section` decorator)
run in registration order. Each takes the suite's :class:`Options` and a progress
callback and returns one section of the result file (``results.section``). Adding a
benchmark to the suite is one decorated function; a package that is not always present
registers its own section when imported: :data:`OPTIONAL_SECTION_MODULES` lists the
modules ``bench all`` imports if they exist (the result file's
``meta.optional_sections`` says which were loaded). The simulator's is
``matchbook.bench.sim``: a ``@section`` function there is all it takes::

    from matchbook.bench.suite import Options, section
    from matchbook.bench.results import section as result_section

    @section("sim", "the ~1,000-agent preset through the engine")
    def sim_section(options: Options, note) -> dict:
        figures = ...  # e.g. {"messages_per_sec": ..., "batch_messages_per_sec": ...}
        return result_section("...", {"preset": ..., "seed": options.seed}, figures)

The sections here:

* ``engine``: ``bench engine`` (the seeded mix through the core); its check is that the
  timed engine ends in the generating engine's state hash.
* ``journal``: journal appends in ``fsync`` mode (batches of 1 and 256) and ``os``.
* ``pipeline``: ``bench pipeline`` (journal in ``fsync`` mode, engine, SQL projector on
  SQLite); its check is that the projection reached every command, none dropped.
* ``server``: the sustained server scenarios of ``bench api --sustained`` (REST and
  WebSocket closed loop at 50 connections, REST open loop at 2,000 orders/s), each
  with the correctness check against a replay of the journal.
* ``latency``: open loops at rising rates (REST, and WebSocket unless ``--quick``) until
  the median passes ``median_limit_ms`` or the server does not keep the rate:
  HdrHistogram percentiles per rate, plotted by ``matchbook.bench.plot``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from matchbook.bench.results import median
from matchbook.bench.results import section as result_section

Progress = Callable[[str, int, int], None]
SectionRun = Callable[["Options", Progress], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Options:
    quick: bool = False
    seed: int = 7
    connections: int = 50
    median_limit_ms: float = 25.0
    repeat: int = 0  # 0: 1 when quick, else 2


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    description: str
    run: SectionRun


SECTIONS: dict[str, Section] = {}
OPTIONAL_SECTION_MODULES = ("matchbook.bench.sim",)


def section(name: str, description: str) -> Callable[[SectionRun], SectionRun]:
    """Register ``run`` as the section ``name`` of ``bench all``."""

    def register(run: SectionRun) -> SectionRun:
        SECTIONS[name] = Section(name, description, run)
        return run

    return register


def load_optional_sections() -> dict[str, str]:
    """Import the optional modules (they register their sections): for each, ``"loaded"``,
    ``"absent"``, or why it could not be imported (a missing dependency of its own: the
    suite runs without it and the result file says so)."""
    status = {}
    for module in OPTIONAL_SECTION_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            absent = exc.name is not None and module.startswith(exc.name)
            status[module] = "absent" if absent else f"not imported: {exc}"
            continue
        except ImportError as exc:
            status[module] = f"not imported: {exc}"
            continue
        status[module] = "loaded"
    return status


def _repeat(options: Options) -> int:
    return options.repeat or (1 if options.quick else 2)


def _runs(passes: list[dict[str, Any]], keys: tuple[str, ...]) -> tuple[dict[str, float],
                                                                          dict[str, list[float]]]:
    figures: dict[str, float] = {}
    runs: dict[str, list[float]] = {}
    for key in keys:
        values = [p[key] for p in passes if isinstance(p.get(key), int | float)]
        if values:
            figures[key] = round(median(values), 4)
            if len(values) > 1:
                runs[key] = values
    return figures, runs


@section("engine", "the seeded mix through the core in one process (bench engine)")
def engine_section(options: Options, note: Progress) -> dict[str, Any]:
    from matchbook.bench.engine import run

    commands = 200_000 if options.quick else 1_000_000
    repeat = 1 if options.quick else 3
    started = time.perf_counter()
    try:
        result = run(commands=commands, seed=options.seed, repeat=repeat, progress=note,
                     memory_sample=50_000 if options.quick else 200_000)
        check = {"passed": True, "what": "every timed pass ended in the generating engine's "
                                           "state hash"}
    except AssertionError as exc:
        return result_section("bench engine", {"commands": commands}, {},
                              check={"passed": False, "problems": [str(exc)]})
    figures = {k: result[k] for k in ("ops_per_sec", "p50_us", "p90_us", "p99_us", "p999_us",
                                      "max_us", "bytecodes_per_command",
                                      "bytes_per_resting_order") if k in result}
    runs = {"ops_per_sec": result["ops_per_sec_passes"]} if repeat > 1 else {}
    return result_section(
        "the seeded mix through the core (accounts on): throughput is the best pass, "
        "latency the pass with the lowest median",
        {"commands": commands, "accounts": True, "seed": options.seed, "mix": result["mix"],
         "passes": repeat}, figures, runs=runs, check=check,
        detail={"by_kind": result.get("by_kind")}, seconds=time.perf_counter() - started)


@section("journal", "journal appends per durability mode and batch size")
def journal_section(options: Options, note: Progress) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    from matchbook.bench.journal import bench_journal_append

    cases = (("fsync", 1, 1_000 if options.quick else 5_000),
             ("fsync", 256, 50_000 if options.quick else 200_000),
             ("os", 256, 50_000 if options.quick else 200_000))
    repeat = _repeat(options)
    started = time.perf_counter()
    passes: dict[str, list[dict[str, Any]]] = {}
    for n in range(repeat):
        for i, (mode, batch, records) in enumerate(cases):
            note("journal", n * len(cases) + i, repeat * len(cases))
            with tempfile.TemporaryDirectory() as tmp:
                row = bench_journal_append(Path(tmp), mode, batch, records)  # type: ignore[arg-type]
            name = f"{mode}_batch{batch}"
            passes.setdefault(name, []).append({
                f"{name}_appends_per_sec": round(float(row["appends_per_sec"])),
                f"{name}_batch_p99_us": round(float(row["batch_latency_us_p99"]), 1)})
    note("journal", 1, 1)
    figures: dict[str, float] = {}
    runs: dict[str, list[float]] = {}
    for name, rows in passes.items():
        f, r = _runs(rows, (f"{name}_appends_per_sec", f"{name}_batch_p99_us"))
        figures.update(f)
        runs.update(r)
    return result_section(
        "64-byte records appended to the journal: per mode and batch size",
        {"cases": [list(c) for c in cases], "payload_bytes": 64, "passes": repeat},
        figures, runs=runs, seconds=time.perf_counter() - started)


@section("pipeline", "journal (fsync), engine and SQL projector in one process")
def pipeline_section(options: Options, note: Progress) -> dict[str, Any]:
    from matchbook.bench.pipeline import run

    commands = 20_000 if options.quick else 100_000
    repeat = _repeat(options)
    started = time.perf_counter()
    passes = []
    problems = []
    for n in range(repeat):
        note("pipeline", n, repeat)
        result = run(commands=commands, mode="fsync", batch=256, seed=options.seed)
        passes.append(result)
        # every command, and the risk limits journaled when the engine opened
        if result["projected_to_seq"] != result["commands"] + 1:
            problems.append(f"pass {n + 1}: projected to seq {result['projected_to_seq']}, "
                            f"expected {result['commands'] + 1}")
        if result["projector_dropped_batches"]:
            problems.append(f"pass {n + 1}: {result['projector_dropped_batches']} batches "
                            f"dropped")
    note("pipeline", repeat, repeat)
    figures, runs = _runs(passes, ("commands_per_sec", "projector_catch_up_seconds",
                                   "projector_rows_per_sec"))
    return result_section(
        "the mix through DurableEngine (journal fsync, batches of 256) with the SQL "
        "projector writing SQLite on the same loop",
        {"commands": commands, "journal_mode": "fsync", "batch": 256, "dialect": "sqlite",
         "seed": options.seed, "passes": repeat},
        figures, runs=runs, check={"passed": not problems, "problems": problems,
                                   "what": "the read model reached every command"},
        seconds=time.perf_counter() - started)


def server_figures(scenarios: dict[str, Any]) -> tuple[dict[str, float],
                                                          dict[str, list[float]]]:
    """Flat figures of ``sustained.run``'s scenarios: ``rest_closed_orders_per_sec``,
    ``rest_open_2000_p99_ms`` ... (medians over runs) and their runs."""
    figures: dict[str, float] = {}
    runs: dict[str, list[float]] = {}
    for name, body in scenarios.items():
        prefix = name.replace(":", "_").replace(".", "_")
        summary = body["summary"]
        for key in ("orders_per_sec", "server_cpu_ms_per_order",
                    "projector_cpu_ms_per_order", "p50_ms", "p90_ms", "p99_ms", "p999_ms",
                    "max_ms"):
            if key in summary:
                figures[f"{prefix}_{key}"] = summary[key]
                if len(summary.get(f"{key}_runs", [])) > 1:
                    runs[f"{prefix}_{key}"] = summary[f"{key}_runs"]
    return figures, runs


def server_check(scenarios: dict[str, Any]) -> dict[str, Any]:
    problems = [f"{name} run {i + 1}: {problem}" for name, body in scenarios.items()
                for i, run in enumerate(body["runs"])
                for problem in (run.get("check") or {}).get("problems", [])]
    invalid = [f"{name} run {i + 1}: {'void' if run.get('void') else 'saturated'}"
               for name, body in scenarios.items() for i, run in enumerate(body["runs"])
               if run.get("valid") is False]
    return {"passed": not problems, "problems": problems, "invalid_open_loops": invalid,
            "what": "balances and book over the API equal a replay of the journal; the "
                    "generators' accepted orders and fills equal the journal's; money "
                    "conserved"}


@section("server", "the sustained server: REST and WebSocket at 50 connections, REST at "
                   "2,000 orders/s")
def server_section(options: Options, note: Progress) -> dict[str, Any]:
    from matchbook.bench.sustained import DEFAULT_SCENARIOS, Scenario, SustainedConfig, run

    config = SustainedConfig(connections=options.connections,
                             duration=8.0 if options.quick else 30.0,
                             warmup=2.0 if options.quick else 5.0)
    repeat = _repeat(options)
    started = time.perf_counter()
    result = run([Scenario.parse(s) for s in DEFAULT_SCENARIOS], config, repeat, note)
    figures, runs = server_figures(result["scenarios"])
    return result_section(
        "matchbook serve in a subprocess (journal fsync, SQLite projector), load from a "
        "separate generator process over loopback; server CPU per order from /proc",
        {"scenarios": list(DEFAULT_SCENARIOS), **result["config"], "repeat": repeat},
        figures, runs=runs, check=server_check(result["scenarios"]), detail=result,
        seconds=time.perf_counter() - started)


REST_RATES = (100, 250, 500, 1000, 1500, 2000, 3000, 4000, 6000)
WS_RATES = (250, 500, 1000, 2000, 4000, 8000, 12000, 16000)
QUICK_REST_RATES = (250, 500, 1000, 2000, 4000)


@section("latency", "open loops at rising rates until the median passes the limit")
def latency_section(options: Options, note: Progress) -> dict[str, Any]:
    from matchbook.bench.sustained import SustainedConfig, step_up

    config = SustainedConfig(connections=options.connections,
                             duration=5.0 if options.quick else 15.0,
                             warmup=1.0 if options.quick else 3.0)
    plans = [("rest", QUICK_REST_RATES if options.quick else REST_RATES)]
    if not options.quick:
        plans.append(("ws", WS_RATES))
    started = time.perf_counter()
    figures: dict[str, float] = {}
    detail = []
    problems = []
    for transport, rates in plans:
        result = step_up(transport, [float(r) for r in rates], config,
                         options.median_limit_ms, note)
        detail.append(result)
        for step in result["steps"]:
            prefix = f"{transport}_open_{step['rate']:g}"
            for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "p9999_ms", "max_ms"):
                figures[f"{prefix}_{key}"] = step["latency"][key]
            figures[f"{prefix}_orders_per_sec"] = step["orders_per_sec"]
        if result["highest_rate_within_limit"] is not None:
            figures[f"{transport}_highest_rate_per_sec"] = result["highest_rate_within_limit"]
        problems += [f"{transport}: {p}" for p in (result["check"] or {}).get("problems", [])]
    return result_section(
        f"open loop (latency from the intended send time), rates stepped up until the "
        f"median passes {options.median_limit_ms:g} ms or the server does not keep the "
        f"rate (a step where the generator fell behind is kept, marked void)",
        {"connections": options.connections, "duration_seconds": config.duration,
         "median_limit_ms": options.median_limit_ms,
         "rates": {t: list(r) for t, r in plans}},
        figures, check={"passed": not problems, "problems": problems}, detail=detail,
        seconds=time.perf_counter() - started)


def run_all(options: Options, names: list[str] | None = None, command: str = "",
            progress: Progress | None = None) -> dict[str, Any]:
    """Run the sections ``names`` (default: all registered) into one result file."""
    from matchbook.bench.results import finish, new_result

    note = progress or (lambda stage, done, total: None)
    optional = load_optional_sections()
    chosen = names or list(SECTIONS)
    unknown = [n for n in chosen if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section {', '.join(unknown)}; known: "
                         f"{', '.join(SECTIONS)}")
    started = time.perf_counter()
    result = new_result({"seed": options.seed, "quick": options.quick,
                         "connections": options.connections,
                         "median_limit_ms": options.median_limit_ms,
                         "sections": chosen}, command, options.quick)
    result["meta"]["optional_sections"] = optional
    for name in chosen:
        note(f"section {name}", 0, 1)
        result["sections"][name] = SECTIONS[name].run(options, note)
        note(f"section {name}", 1, 1)
    return finish(result, time.perf_counter() - started)


def failed_checks(result: dict[str, Any]) -> list[str]:
    return [f"{name}: {problem}" for name, body in result["sections"].items()
            if body.get("check") and not body["check"].get("passed", True)
            for problem in (body["check"].get("problems") or ["failed"])]


__all__ = ["OPTIONAL_SECTION_MODULES", "SECTIONS", "Options", "Section", "failed_checks",
           "load_optional_sections", "run_all", "section"]
