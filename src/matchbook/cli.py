"""The ``matchbook`` command line."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from matchbook.ml.cli import ml_app
from matchbook.serve import admin_app, db_app, serve
from matchbook.tools.journal_cli import journal_app, snapshot_app
from matchbook.tools.sim_cli import bench_sim, sim_app

app = typer.Typer(help="Matchbook: a price-time priority exchange.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks: throughput and latency percentiles.")
app.add_typer(bench_app, name="bench")
app.add_typer(journal_app, name="journal")
app.add_typer(snapshot_app, name="snapshot")
app.command("serve")(serve)
app.add_typer(admin_app, name="admin")
app.add_typer(db_app, name="db")
app.add_typer(sim_app, name="sim")
bench_app.command("sim")(bench_sim)
app.add_typer(ml_app, name="ml")
console = Console()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from matchbook import build_info

        try:
            number = version("matchbook")
        except PackageNotFoundError:  # run from a source tree that is not installed
            number = "unknown"
        typer.echo(f"matchbook {number}, core: {build_info()['label']}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and which build of the core runs (compiled or pure Python).",
    )] = False,
) -> None:
    """Matchbook: a price-time priority exchange."""


@contextmanager
def _stages(quiet: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A ``note(stage, done, total)`` that shows each stage as a progress bar."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, disable=quiet) as progress:
        tasks: dict[str, Any] = {}

        def note(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield note


def _report(result: dict[str, Any], as_json: bool, title: str) -> None:
    """A benchmark's result: one JSON object, or a table of its figures."""
    if as_json:
        typer.echo(json.dumps(result, default=str))
    else:
        _print_figures(title, result.items())


def _print_figures(title: str, figures: Iterable[tuple[str, Any]]) -> None:
    """A two-column table of named figures (integers with thousands separators)."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures:
        if isinstance(value, float) and abs(value) >= 1000:
            value = round(value)
        table.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(
            value, bool) else str(value))
    console.print(table)


@app.command()
def demo(
    commands: Annotated[int, typer.Option(help="Orders to send through the engine.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the order stream.")] = 42,
) -> None:
    """Run a seeded stream of orders through the engine and print the book and trades."""
    from matchbook.demo import print_demo, run_demo

    print_demo(run_demo(commands=commands, seed=seed), console)


def _print_machine(meta: dict[str, Any]) -> None:
    """The line a benchmark prints first: the commit, the machine and its load."""
    console.print(f"commit {meta['commit']}{' (dirty)' if meta['dirty'] else ''}, "
                  f"{meta['cpu_model']}, {meta['cores']} cores, Python {meta['python']}, "
                  f"load {meta['load_average']['start']} -> {meta['load_average']['end']}")


@bench_app.command("engine")
def bench_engine(
    commands: Annotated[int, typer.Option(help="Commands in the timed mix.")] = 1_000_000,
    resting: Annotated[int, typer.Option(help="Resting orders loaded before the mix.")] = 0,
    accounts: Annotated[bool, typer.Option(help="Holds, settlement and fees on.")] = True,
    seed: Annotated[int, typer.Option()] = 7,
    repeat: Annotated[int, typer.Option(help="Timed passes; the best is reported.")] = 3,
    bytecode_sample: Annotated[int, typer.Option(
        help="Commands whose bytecodes are counted (0: none).")] = 10_000,
    build: Annotated[str, typer.Option(
        help="Builds of the core to run side by side, taking turns in chunks of the same "
             "stream, each in its own process: compiled, pure or compiled,pure "
             "(matchbook/bench/builds.py).")] = "",
    chunk: Annotated[int, typer.Option(help="With --build: commands per turn.")] = 20_000,
    memory_orders: Annotated[int, typer.Option(
        help="With --build: resting orders placed to measure bytes per resting order.",
    )] = 200_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A seeded mixed workload through the core in one process (the mix is described
    in ``matchbook/bench/engine.py``)."""
    from matchbook.bench.engine import run

    if build:
        _bench_builds(tuple(b.strip() for b in build.split(",") if b.strip()), commands,
                      resting, accounts, seed, repeat, chunk, memory_orders, as_json)
        return

    with _stages(as_json or not console.is_terminal) as note:
        result = run(commands=commands, resting=resting, accounts=accounts, seed=seed,
                     repeat=repeat, progress=note, bytecode_sample=bytecode_sample)
    if as_json:
        typer.echo(json.dumps(result))
        return
    _print_figures(f"bench engine: {commands:,} commands"
                   f"{f' on {resting:,} resting orders' if resting else ''}, accounts "
                   f"{'on' if accounts else 'off'}, best of {repeat}",
                   ((key, result[key]) for key in (
                       "ops_per_sec", "p50_us", "p90_us", "p99_us", "p999_us", "max_us",
                       "trades", "events", "rejects", "resting_after",
                       "bytes_per_resting_order", "bytecodes_per_command")
                       if key in result))
    kinds = Table(title="latency by kind of command (latency pass)")
    for column in ("kind", "share", "mean µs", "p99 µs", "bytecodes"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    for name, row in result["by_kind"].items():
        kinds.add_row(name, f"{row['share']:.1%}", str(row["mean_us"]), str(row["p99_us"]),
                      "" if row.get("bytecodes") is None else str(row["bytecodes"]))
    console.print(kinds)
    console.print(_latency_histogram(result["histogram"]))


def _bench_builds(builds: tuple[str, ...], commands: int, resting: int, accounts: bool,
                  seed: int, repeat: int, chunk: int, memory_orders: int,
                  as_json: bool) -> None:
    from matchbook.bench.builds import run as run_builds

    try:
        with _stages(as_json or not console.is_terminal) as note:
            result = run_builds(builds, commands=commands, resting=resting, accounts=accounts,
                                seed=seed, repeat=repeat, chunk=chunk,
                                memory_orders=memory_orders, progress=note)
    except ValueError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result))
        return
    _print_machine(result["meta"])
    table = Table(title=f"bench engine --build {','.join(builds)}: {commands:,} commands"
                  f"{f' on {resting:,} resting orders' if resting else ''}, accounts "
                  f"{'on' if accounts else 'off'}, {repeat} rounds, turns of {chunk:,}")
    for column in ("build", "commands/s (best)", "each round", "p50 µs", "p99 µs",
                   "p99.9 µs", "bytes/resting order"):
        table.add_column(column, justify="left" if column == "build" else "right")
    for row in result["builds"].values():
        table.add_row(row["label"], f"{row['ops_per_sec']:,}",
                      " ".join(f"{v:,}" for v in row["ops_per_sec_rounds"]),
                      str(row["p50_us"]), str(row["p99_us"]), str(row["p999_us"]),
                      f"{row['bytes_per_resting_order']} ({row['memory_orders']:,})")
    console.print(table)
    if "speedup_rounds" in result:
        console.print(f"compiled / interpreted, each round: {result['speedup_rounds']} "
                      f"(median {result['speedup_median']})")


@bench_app.command("compare")
def bench_compare(
    base: Annotated[str, typer.Option(help="The git revision to compare with.")] = "HEAD",
    commands: Annotated[int, typer.Option(help="Commands in the mix.")] = 400_000,
    accounts: Annotated[bool, typer.Option(help="Holds, settlement and fees on.")] = True,
    seed: Annotated[int, typer.Option()] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """This tree's engine against a git revision's, in one process, in alternating
    chunks of the same stream: a ratio the machine's drift does not move (run it from
    the checkout)."""
    from matchbook.bench.compare import compare

    with _stages(as_json or not console.is_terminal) as note:
        result = compare(base, commands=commands, accounts=accounts, seed=seed,
                         progress=note)
    _report(result, as_json, f"bench compare: this tree against {base}, {commands:,} "
            f"commands, accounts {'on' if accounts else 'off'}")


@bench_app.command("p2p")
def bench_p2p(
    trades: Annotated[int, typer.Option(help="Core: trades (take, paid, release).")] = 20_000,
    rest_trades: Annotated[int, typer.Option(help="REST: trades.")] = 1_500,
    clients: Annotated[int, typer.Option(help="REST: concurrent buyers.")] = 16,
    journal_mode: Annotated[str, typer.Option(help="The server's journal mode.")] = "fsync",
    core_only: Annotated[bool, typer.Option(help="Only the core phase.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """P2P desk actions per second (take, mark paid, release) through the core and
    through REST, with latency percentiles (``matchbook/bench/p2p.py``)."""
    from matchbook.bench.p2p import P2PBenchConfig, run

    config = P2PBenchConfig(trades=trades, rest_trades=rest_trades, clients=clients,
                            journal_mode=journal_mode,
                            phases=("core",) if core_only else ("core", "rest"))
    with _stages(as_json or not console.is_terminal) as note:
        result = run(config, note)
    if as_json:
        typer.echo(json.dumps(result))
        return
    _print_machine(result["meta"])
    core = result["core"]
    figures: list[tuple[str, Any]] = [
        ("core actions/s", core["actions_per_sec"]),
        *((f"core {k}", v) for k, v in core["latency_us"].items())]
    for name, values in core["by_action_us"].items():
        figures.append((f"core {name} p99_us", values["p99_us"]))
    if "rest" in result:
        rest = result["rest"]
        figures += [("rest actions/s", rest["actions_per_sec"]),
                    *((f"rest {k}", rest["latency_ms"][k]) for k in (
                        "p50_ms", "p90_ms", "p99_ms", "max_ms")),
                    *((f"rest {name} p99_ms", v["p99_ms"])
                      for name, v in rest["by_action_ms"].items()),
                    ("rest server_cpu_share", rest["server_cpu_share"]),
                    ("rest load_cpu_share", rest["load_cpu_share"])]
    _print_figures(f"bench p2p: {trades:,} core trades, {rest_trades:,} REST trades x 3 "
                   f"actions", figures)


@bench_app.command("accounts-cost")
def bench_accounts_cost(
    commands: Annotated[int, typer.Option(help="Commands in the mix.")] = 400_000,
    seed: Annotated[int, typer.Option()] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The share of throughput accounts (holds, settlement, fees) cost: the mix with and
    without them, taking turns in one process, so the machine's drift hits both alike."""
    from matchbook.bench.compare import accounts_cost

    with _stages(as_json or not console.is_terminal) as note:
        result = accounts_cost(commands=commands, seed=seed, progress=note)
    _report(result, as_json, f"bench accounts-cost: {commands:,} commands")


def _latency_histogram(buckets: list[dict[str, Any]]) -> Table:
    """Commands per latency bucket as bars (log-scaled: the tail stays visible)."""
    table = Table(title="latency distribution (latency pass)")
    table.add_column("latency", justify="right")
    table.add_column("commands", justify="right")
    table.add_column("log scale")
    total = sum(b["count"] for b in buckets) or 1
    top = math.log10(max(b["count"] for b in buckets) + 1)
    lower = 0
    for bucket in buckets:
        upto, count = bucket["upto_us"], bucket["count"]
        label = f"{lower} to {upto} µs" if upto is not None else f"> {lower} µs"
        bar = "█" * round(40 * math.log10(count + 1) / top) if top else ""
        table.add_row(label, f"{count:,} ({count / total:.2%})", f"[cyan]{bar}[/cyan]")
        lower = upto if upto is not None else lower
    return table


@bench_app.command("pipeline")
def bench_pipeline(
    commands: Annotated[int, typer.Option(help="Commands in the mix.")] = 100_000,
    journal: Annotated[str, typer.Option(help="Journal mode: fsync, os or none.")] = "fsync",
    batch: Annotated[int, typer.Option(help="Commands per group commit.")] = 256,
    url: Annotated[str, typer.Option(help="Database URL (default: a temporary SQLite).")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The engine mix with the journal on and the SQL projector following: throughput
    and projector lag."""
    from matchbook.bench.pipeline import run as run_pipeline

    result = run_pipeline(commands, journal, batch, url)
    _report(result, as_json, f"bench pipeline: {result['commands']:,} commands, journal "
            f"{journal}")


@bench_app.command("projector")
def bench_projector_command(
    commands: Annotated[int, typer.Option(help="Commands to project.")] = 20_000,
    batch: Annotated[int, typer.Option(help="Commands per transaction.")] = 1000,
    url: Annotated[str, typer.Option(help="Database URL (default: a temporary SQLite).")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """SQL projection throughput (commands/s and rows/s) into SQLite or PostgreSQL."""
    import asyncio

    from matchbook.store.bench import bench_projector

    with tempfile.TemporaryDirectory() as tmp:
        target = url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        result = asyncio.run(bench_projector(target, commands, batch_size=batch))
    _report(result, as_json, f"bench projector: {commands:,} commands, batches of {batch:,}")


@bench_app.command("snapshot-latency")
def bench_snapshot_latency(
    resting: Annotated[int, typer.Option(help="Resting orders in the state.")] = 200_000,
    seconds: Annotated[float, typer.Option(help="Seconds of load per phase.")] = 10.0,
    interval: Annotated[float, typer.Option(help="Seconds between snapshots.")] = 1.0,
    clients: Annotated[int, typer.Option(help="Closed-loop clients.")] = 4,
    mode: Annotated[str, typer.Option(help="Journal mode: fsync, os or none.")] = "os",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Ack latency while periodic snapshots are taken: written on the event loop
    (inline) and on the snapshot thread (background), on the same state."""
    from matchbook.bench.snapshot import run

    with _stages(as_json or not console.is_terminal) as note:
        result = run(resting=resting, seconds=seconds, interval=interval, clients=clients,
                     mode=mode, progress=note)
    _report(result, as_json, f"bench snapshot-latency: {resting:,} resting orders, a "
                             f"snapshot due every {interval:g} s, {clients} clients")


@bench_app.command("journal")
def bench_journal(
    records: Annotated[int, typer.Option(help="Records per run.")] = 200_000,
    directory: Annotated[Path | None, typer.Option(help="Where to write (default: temp).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Journal appends per second in each durability mode, batch of 1 and of 256."""
    from matchbook.bench.journal import bench_journal_append

    rows = []
    for mode in ("fsync", "os", "none"):
        for batch in (1, 256):
            n = min(records, 5_000) if (mode == "fsync" and batch == 1) else records
            with tempfile.TemporaryDirectory(dir=directory) as tmp:
                rows.append(bench_journal_append(Path(tmp), mode, batch, n))
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(title="bench journal (64-byte payloads)")
    for col in ("mode", "batch", "records", "appends/s", "batch p50 us", "batch p99 us", "fsyncs"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["mode"]), str(r["batch_size"]), f"{r['records']:,}",
                      f"{r['appends_per_sec']:,.0f}", f"{r['batch_latency_us_p50']:.1f}",
                      f"{r['batch_latency_us_p99']:.1f}", f"{r['fsyncs']:,}")
    console.print(table)


@bench_app.command("api")
def bench_api(
    clients: Annotated[int, typer.Option(help="Concurrent REST keep-alive clients.")] = 32,
    rest_orders: Annotated[int, typer.Option(help="Most REST orders to send.")] = 20_000,
    ws_connections: Annotated[int, typer.Option(help="WebSocket order-entry connections.")] = 8,
    ws_window: Annotated[int, typer.Option(help="Requests in flight per connection.")] = 16,
    ws_orders: Annotated[int, typer.Option(help="Most WebSocket orders to send.")] = 60_000,
    subscribers: Annotated[int, typer.Option(help="WebSocket book subscribers.")] = 500,
    fanout_orders: Annotated[int, typer.Option(help="Book deltas to time.")] = 200,
    fanout_interval: Annotated[float, typer.Option(help="Seconds between them.")] = 0.02,
    seconds: Annotated[float, typer.Option(help="The most any phase runs.")] = 15.0,
    journal_mode: Annotated[str, typer.Option(help="fsync, os or none.")] = "fsync",
    journal_writes: Annotated[str, typer.Option(
        help="Where the server writes batches: auto, loop or thread.")] = "auto",
    phase: Annotated[list[str] | None, typer.Option(
        help="rest, ws, fanout (repeat the option; default all three).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    sustained: Annotated[bool, typer.Option(
        "--sustained", help="Sustained mode: fixed duration, load from separate processes, "
        "closed and open loop, server CPU per order (the options below).")] = False,
    scenario: Annotated[list[str] | None, typer.Option(
        help="Sustained: TRANSPORT:LOOP[:RATE], e.g. rest:closed, ws:closed, rest:open:2000 "
        "(repeat; default those three).")] = None,
    connections: Annotated[int, typer.Option(
        help="Sustained: REST or WebSocket connections.")] = 50,
    window: Annotated[int, typer.Option(
        help="Sustained: WebSocket requests in flight per connection.")] = 1,
    duration: Annotated[float, typer.Option(
        help="Sustained: seconds of each measurement window.")] = 30.0,
    warmup: Annotated[float, typer.Option(help="Sustained: seconds of load before it.")] = 5.0,
    generators: Annotated[int, typer.Option(
        help="Sustained: load generator processes.")] = 1,
    repeat: Annotated[int, typer.Option(
        help="Sustained: runs of each scenario, taking turns (a fresh server each).")] = 2,
    max_issue_lag_ms: Annotated[float, typer.Option(
        help="Sustained: an open loop is void when the generator's lag p99 exceeds this.")
    ] = 5.0,
    check: Annotated[bool, typer.Option(
        help="Sustained: check balances and book against a replay of the journal.")] = True,
    out: Annotated[Path | None, typer.Option(
        help="Sustained: also write the result file here.")] = None,
) -> None:
    """The server end to end over loopback: REST and WebSocket order entry, book fan-out
    (bursts, in this process); with --sustained, a sustained load from separate generator
    processes, reporting orders/s, latency percentiles and server CPU per order."""
    if sustained:
        _bench_sustained(scenario, connections, window, duration, warmup, generators, repeat,
                         journal_mode, journal_writes, max_issue_lag_ms, check, as_json, out)
        return
    from matchbook.bench.api import BenchConfig, run

    phases = tuple(phase or ("rest", "ws", "fanout"))
    unknown = set(phases) - {"rest", "ws", "fanout"}
    if unknown:
        raise typer.BadParameter(f"unknown phase {', '.join(sorted(unknown))}")
    config = BenchConfig(clients=clients, rest_orders=rest_orders,
                         ws_connections=ws_connections, ws_window=ws_window,
                         ws_orders=ws_orders, subscribers=subscribers,
                         fanout_orders=fanout_orders, fanout_interval=fanout_interval,
                         seconds=seconds, journal_mode=journal_mode,
                         journal_writes=journal_writes)
    with _stages(as_json or not console.is_terminal) as note:
        result = run(config, phases, progress=note)
    if as_json:
        typer.echo(json.dumps(result))
        return
    targets = result["targets"]
    table = Table(title=f"bench api: journal {journal_mode}, loopback, {result['cpus']} CPUs")
    for col in ("path", "orders/s", "p50 ms", "p99 ms", "max ms", "target", "CPU srv/load"):
        table.add_column(col, justify="left" if col == "path" else "right")
    notes = []

    def row(name: str, data: dict[str, Any], figures: dict[str, float], target: str) -> None:
        rate = f"{data['orders_per_sec']:,.0f}" if "orders_per_sec" in data else "-"
        table.add_row(name, rate, f"{figures['p50_ms']:.1f}", f"{figures['p99_ms']:.1f}",
                      f"{figures['max_ms']:.1f}", target,
                      f"{data['server_cpu_share']:.2f}/{data['load_cpu_share']:.2f}")

    if "rest" in result:
        rest = result["rest"]
        row("REST ack", rest, rest["ack"], f"{targets['rest_orders_per_sec']:,}/s")
        notes.append(f"REST: {rest['clients']} keep-alive clients, {rest['orders']:,} orders")
    if "ws" in result:
        ws = result["ws"]
        row("WebSocket ack", ws, ws["ack"],
            f"{targets['ws_orders_per_sec']:,}/s, p99<{targets['ws_ack_p99_ms']:g}")
        notes.append(f"WebSocket: {ws['connections']} connections x {ws['window']} in flight, "
                     f"{ws['orders']:,} orders")
    if "fanout" in result:
        fan = result["fanout"]
        row("book delta fan-out", fan, fan["delivery"], f"p99<{targets['fanout_p99_ms']:g}")
        notes.append(f"fan-out: {fan['subscribers']} subscribers, {fan['levels']} deltas every "
                     f"{fan['interval_ms']:g} ms, {fan['deliveries']:,} deliveries, "
                     f"{fan['missing']} missed")
    table.caption = "; ".join(notes)
    console.print(table)


def _wide(width: int) -> Console:
    """The console, or where output is not a terminal (a file, a pipe: 80 columns by
    default) one at least ``width`` wide, so that wide tables are not cut."""
    return console if console.is_terminal else Console(width=max(console.width, width))


def _fail(message: str) -> None:
    """A one-line error on stderr and exit status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _bench_sustained(scenarios: list[str] | None, connections: int, window: int,
                     duration: float, warmup: float, generators: int, repeat: int,
                     journal_mode: str, journal_writes: str, max_issue_lag_ms: float,
                     check: bool, as_json: bool,
                     out: Path | None) -> None:
    import time

    from matchbook.bench.results import finish, new_result, section
    from matchbook.bench.suite import server_check, server_figures
    from matchbook.bench.sustained import (
        DEFAULT_SCENARIOS,
        Scenario,
        SustainedConfig,
    )
    from matchbook.bench.sustained import run as run_sustained

    try:
        parsed = [Scenario.parse(s) for s in (scenarios or DEFAULT_SCENARIOS)]
        config = SustainedConfig(connections=connections, window=window, duration=duration,
                                 warmup=warmup, generators=generators,
                                 journal_mode=journal_mode, journal_writes=journal_writes,
                                 max_issue_lag_ms=max_issue_lag_ms,
                                 check=check)
        config.validate()
        if repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {repeat}")
    except ValueError as exc:
        _fail(str(exc))
    command = "matchbook bench api --sustained " + " ".join(
        f"--scenario {s.name}" for s in parsed) + (
        f" --connections {connections} --window {window} --duration {duration:g} "
        f"--warmup {warmup:g} --generators {generators} --repeat {repeat}") + (
        f" --journal-writes {journal_writes}" if journal_writes != "auto" else "")
    result = new_result({"scenarios": [s.name for s in parsed], "seed": None}, command)
    started = time.perf_counter()
    with _stages(as_json or not console.is_terminal) as note:
        data = run_sustained(parsed, config, repeat, note)
    figures, runs = server_figures(data["scenarios"])
    result["sections"]["server"] = section(
        "matchbook serve in a subprocess, load from separate generator processes",
        {"scenarios": [s.name for s in parsed], **data["config"], "repeat": repeat},
        figures, runs=runs, check=server_check(data["scenarios"]) if check else None,
        detail=data, seconds=time.perf_counter() - started)
    finish(result, time.perf_counter() - started)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _wide(175).print(_sustained_table(result))
    if check and not result["sections"]["server"]["check"]["passed"]:
        raise typer.Exit(1)


def _sustained_table(result: dict[str, Any]) -> Table:
    meta = result["meta"]
    body = result["sections"]["server"]
    config = body["detail"]["config"]
    table = Table(title=f"bench api --sustained: journal {config['journal_mode']} "
                        f"(writes {config.get('journal_writes', 'thread')}), "
                        f"{config['connections']} connections, {config['duration']:g} s "
                        f"windows, {meta['cores']} CPUs, commit {meta['commit'][:10]}")
    for column in ("scenario", "run", "orders/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
                   "max ms", "server CPU ms/order", "projector CPU ms/order",
                   "CPU srv/proj/load/other", "load avg",
                   "check"):
        table.add_column(column, justify="left" if column in ("scenario", "check")
                         else "right")
    for name, scenario in body["detail"]["scenarios"].items():
        for i, run in enumerate(scenario["runs"], 1):
            latency = run["latency"]
            verdict = "pass" if (run.get("check") or {}).get("passed") else (
                "-" if "check" not in run else "[red]FAIL[/red]")
            for flag in ("void", "saturated"):
                if run.get(flag):
                    verdict += f" [red]{flag}[/red]"
            table.add_row(name, str(i), f"{run['orders_per_sec']:,.0f}",
                          *(f"{latency[k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms",
                                                          "p999_ms", "max_ms")),
                          f"{run['server_cpu_ms_per_order'] or 0:.3f}",
                          f"{run.get('projector_cpu_ms_per_order') or 0:.3f}",
                          f"{run['server_cpu_share']:.2f}/"
                          f"{run.get('projector_cpu_share', 0):.2f}/"
                          f"{run['load_cpu_share']:.2f}/{run['other_cpu_share']:.2f}",
                          str((run["load_average"]["start"] or ["-"])[0]),
                          verdict)
    table.caption = ("latency: closed loop from sending, open loop from the intended send "
                     "time; server CPU per order = the server process's CPU time in the "
                     "window / orders answered in it; projector CPU per order = that of "
                     "its child processes (the SQL projector's own process), not in the "
                     "server's")
    return table


@bench_app.command("all")
def bench_all(
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the result file here (e.g. bench/results/NAME.json).")] = None,
    quick: Annotated[bool, typer.Option(help="Smaller workloads: a few minutes.")] = False,
    section_names: Annotated[list[str] | None, typer.Option(
        "--section", help="Run only these sections (repeat the option).")] = None,
    seed: Annotated[int, typer.Option()] = 7,
    connections: Annotated[int, typer.Option(help="Server connections.")] = 50,
    median_limit_ms: Annotated[float, typer.Option(
        help="The latency step-up stops once the median passes this.")] = 25.0,
    repeat: Annotated[int, typer.Option(
        help="Runs of each figure (0: 1 with --quick, else 2).")] = 0,
    plot: Annotated[Path | None, typer.Option(
        help="Write the latency-against-rate PNG here (default: beside --json).")] = None,
) -> None:
    """Every benchmark section (engine, journal, pipeline, server, latency) into one result
    file with the commit, the machine and every figure; compare two with bench diff."""
    import sys
    import time

    from matchbook.bench.plot import plot_result
    from matchbook.bench.suite import (
        SECTIONS,
        Options,
        failed_checks,
        load_optional_sections,
        run_all,
    )

    load_optional_sections()
    unknown = [n for n in section_names or [] if n not in SECTIONS]
    if unknown:
        _fail(f"--section: unknown {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    if json_out is not None and json_out.suffix != ".json":
        _fail(f"--json: {json_out} should end in .json")
    options = Options(quick=quick, seed=seed, connections=connections,
                      median_limit_ms=median_limit_ms, repeat=repeat)
    started = time.perf_counter()
    with _stages(not console.is_terminal) as note:
        result = run_all(options, section_names, " ".join(["matchbook", *sys.argv[1:]]),
                         note)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}")
    target = plot or (json_out.with_name(json_out.stem + "-latency.png") if json_out else None)
    if target is not None and "latency" in result["sections"]:
        console.print(f"wrote {plot_result(result, target)}")
    table = Table(title=f"bench all{' --quick' if quick else ''}: commit "
                        f"{result['meta']['commit'][:10]}, {result['meta']['cpu_model']}, "
                        f"load average {result['meta']['load_average']['start']} -> "
                        f"{result['meta']['load_average']['end']}, "
                        f"{time.perf_counter() - started:.0f} s")
    for column in ("section", "figure", "value", "runs"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for name, body in result["sections"].items():
        for figure, value in body["figures"].items():
            table.add_row(name, figure, f"{value:,}",
                          " / ".join(f"{v:,}" for v in body["runs"].get(figure, [])))
        if body.get("check"):
            table.add_row(name, "correctness check", "pass" if body["check"]["passed"]
                          else "[red]FAIL[/red]", "")
    _wide(130).print(table)
    failures = failed_checks(result)
    for failure in failures:
        console.print(f"[red]check failed[/red] {failure}")
    if failures:
        raise typer.Exit(1)


@bench_app.command("diff")
def bench_diff(
    a: Annotated[Path, typer.Argument(help="The earlier result file.")],
    b: Annotated[Path, typer.Argument(help="The later result file.")],
    noise: Annotated[float, typer.Option(
        help="Changes within this share (or a figure's own spread of runs) are noise.")
    ] = 0.10,
    strict: Annotated[bool, typer.Option(help="Exit 1 when a figure regressed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Two result files of bench all (or bench api --sustained --out), figure by figure,
    with regressions beyond the noise flagged."""
    from matchbook.bench.diff import diff, meta_warnings, regressions
    from matchbook.bench.results import ResultFileError, load

    if not 0 <= noise < 10:
        _fail(f"--noise: {noise} is not a share between 0 and 10")
    try:
        first, second = load(a), load(b)
    except ResultFileError as exc:
        _fail(str(exc))
    rows = diff(first, second, noise)
    warnings = meta_warnings(first, second)
    if as_json:
        typer.echo(json.dumps({"warnings": warnings, "rows": [
            {"section": r.section, "figure": r.figure, "a": r.a, "b": r.b, "change": r.change,
             "noise": r.noise, "verdict": r.verdict} for r in rows]}))
    else:
        ma, mb = first["meta"], second["meta"]
        table = Table(title=f"bench diff: A {ma['commit'][:10]} ({ma['created']}) -> "
                            f"B {mb['commit'][:10]} ({mb['created']})")
        for column in ("section", "figure", "A", "B", "change", "noise", "verdict"):
            table.add_column(column, justify="left" if column in (
                "section", "figure", "verdict") else "right")
        colours = {"better": "green", "REGRESSION": "bold red", "same": "dim",
                   "check": "red"}
        for r in rows:
            colour = colours.get(r.verdict, "")
            verdict = f"[{colour}]{r.verdict}[/{colour}]" if colour else r.verdict
            table.add_row(r.section, r.figure, "-" if r.a is None else f"{r.a:,}",
                          "-" if r.b is None else f"{r.b:,}",
                          "" if r.change is None else f"{r.change:+.1%}",
                          f"±{r.noise:.0%}" if r.change is not None else "", verdict)
        _wide(130).print(table)
        for warning in warnings:
            console.print(f"[yellow]warning[/yellow] {warning}")
        bad = regressions(rows)
        console.print(f"{len(bad)} regression(s) beyond noise" if bad else
                      "no regression beyond noise")
    if strict and regressions(rows):
        raise typer.Exit(1)


@bench_app.command("plot")
def bench_plot(
    result_file: Annotated[Path, typer.Argument(help="A result file with a latency section.")],
    out: Annotated[Path, typer.Option(help="The PNG to write.")] = Path("latency.png"),
) -> None:
    """Latency percentiles against the offered rate (the latency section), as a PNG."""
    from matchbook.bench.plot import plot_result
    from matchbook.bench.results import ResultFileError, load

    try:
        result = load(result_file)
        console.print(f"wrote {plot_result(result, out)}")
    except (ResultFileError, ValueError) as exc:
        _fail(str(exc))


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
