"""``matchbook sim run|facts|export|presets`` and ``matchbook bench sim``.

Bad input (an unknown preset, a seed that is not a non-negative integer, a data
directory that is not empty, an unknown format) ends with one line on stderr naming
the option, and exit status 2; nothing is started.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sim_app = typer.Typer(help="The market simulator: agents on the production engine.",
                      no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    errors.print(f"error: {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _preset(name: str, day_hours: float | None = None) -> Any:
    from matchbook.sim.presets import PRESETS

    if name not in PRESETS:
        _fail(f"--preset: unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    preset = PRESETS[name]
    if day_hours is not None:
        if not 0 < day_hours <= 24 * 7:
            _fail(f"--day-hours: must be above 0 and at most 168, got {day_hours}")
        preset = preset.scaled(day_s=int(day_hours * 3600))
    return preset


def _seed(text: str, option: str = "--seed") -> int:
    try:
        value = int(text, 10)
    except ValueError:
        _fail(f"{option}: must be an integer from 0 to 2**63-1, got {text!r}")
    if not 0 <= value < 2**63:
        _fail(f"{option}: must be an integer from 0 to 2**63-1, got {text!r}")
    return value


def _progress(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,.0f}/{task.total:,.0f}"), TimeElapsedColumn(),
                    console=console, disable=quiet)


@sim_app.command("presets")
def presets() -> None:
    """The presets: agents, length of a simulated day."""
    from matchbook.sim.presets import PRESETS

    table = Table(title="simulator presets")
    for column in ("name", "agents", "day", "mix"):
        table.add_column(column)
    for p in PRESETS.values():
        table.add_row(p.name, str(p.agent_count), f"{p.day_s / 3600:g} h", p.description)
    console.print(table)


@sim_app.command("run")
def run(
    preset: Annotated[str, typer.Option(help="small, default, zi or gym.")] = "default",
    seed: Annotated[str, typer.Option(help="Seed of the run (0 to 2**63-1).")] = "1",
    data_dir: Annotated[Path | None, typer.Option(
        help="Journal the run here (an empty or new directory).")] = None,
    journal_mode: Annotated[str, typer.Option(help="os (write) or none (count only).")] = "os",
    day_hours: Annotated[float | None, typer.Option(
        help="Length of the simulated day (default: the preset's).")] = None,
    target: Annotated[str | None, typer.Option(
        help="Trade against a running server over the SDK (http://host:port).")] = None,
    admin_email: Annotated[str, typer.Option(help="With --target: an administrator, to "
                                             "create and fund the agents' users.")] = "",
    admin_password: Annotated[str, typer.Option(help="With --target.")] = "",
    agents: Annotated[int, typer.Option(help="With --target: how many of the preset's "
                                        "agents trade (a sample of every kind).")] = 40,
    seconds: Annotated[float, typer.Option(help="With --target: wall-clock seconds.")] = 30.0,
    speed: Annotated[float, typer.Option(
        help="With --target: simulated seconds per wall-clock second.")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run a preset for one simulated day at full speed, in process (or, with --target,
    against a running exchange)."""
    chosen = _preset(preset, day_hours)
    seed_value = _seed(seed)
    if journal_mode not in ("os", "none"):
        _fail(f"--journal-mode: must be os or none, got {journal_mode!r}")
    if target is not None:
        from matchbook.sim.remote import RemoteError, run_remote

        if not target.startswith(("http://", "https://")):
            _fail(f"--target: must be an http:// or https:// URL, got {target!r}")
        if not admin_email or not admin_password:
            _fail("--admin-email/--admin-password: needed with --target to create and fund "
                  "the agents' users")
        try:
            summary = run_remote(target, chosen, seed_value, admin_email=admin_email,
                                 admin_password=admin_password, agents=agents,
                                 seconds=seconds, speed=speed,
                                 log=None if as_json else console.print)
        except RemoteError as exc:
            _fail(f"--target: {exc}")
        _print(summary, as_json, f"sim run --target {target}")
        return
    if data_dir is not None and data_dir.exists() and (
            not data_dir.is_dir() or any(data_dir.iterdir())):
        _fail(f"--data-dir: {data_dir} is not an empty directory")
    from matchbook.sim.runner import SimError, Simulation

    try:
        sim = Simulation(chosen, seed_value, data_dir=data_dir, journal_mode=journal_mode)
    except SimError as exc:
        _fail(str(exc))
    with _progress(as_json or not console.is_terminal) as bar:
        task = bar.add_task(f"{chosen.name} seed {seed_value} (simulated seconds)",
                            total=chosen.day_s)
        result = sim.run(lambda done, total: bar.update(task, completed=done))
        bar.update(task, completed=chosen.day_s)
    _print(result.summary(), as_json, f"sim run: preset {chosen.name}, seed {seed_value}")


def _print(summary: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(summary, default=str))
        return
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else (
            json.dumps(value) if isinstance(value, dict) else str(value))
        table.add_row(key, text)
    console.print(table)


@sim_app.command("facts")
def facts(
    preset: Annotated[str, typer.Option(help="The preset to judge.")] = "default",
    seeds: Annotated[int, typer.Option(help="How many seeds (at least 20 for the "
                                       "report's verdicts).")] = 20,
    first_seed: Annotated[str, typer.Option(help="Seeds are first_seed, first_seed+1...")] = "1",
    control: Annotated[bool, typer.Option(
        help="Also run the zero-intelligence negative control.")] = True,
    control_seeds: Annotated[int, typer.Option(help="Seeds of the control.")] = 20,
    day_hours: Annotated[float | None, typer.Option(
        help="Length of the simulated day (default: the preset's).")] = None,
    workers: Annotated[int, typer.Option(help="Processes running seeds.")] = 2,
    out: Annotated[Path, typer.Option(help="Where facts.json and the PNGs go.")] = Path(
        "reports/sim-facts"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """The eight stylised facts over many seeds: medians, 5-95% bands, PASS/FAIL, plots."""
    chosen = _preset(preset, day_hours)
    start = _seed(first_seed, "--first-seed")
    if not 1 <= seeds <= 1000:
        _fail(f"--seeds: must be 1 to 1000, got {seeds}")
    if not 1 <= workers <= 64:
        _fail(f"--workers: must be 1 to 64, got {workers}")
    from matchbook.sim.facts import run_report, save_report
    from matchbook.sim.presets import PRESETS

    zi = PRESETS["zi"].scaled(day_s=chosen.day_s) if control else None
    with _progress(as_json or not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def note(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        result = run_report(chosen, range(start, start + seeds), control=zi,
                            control_seeds=range(start, start + control_seeds),
                            workers=workers, progress=note)
    files = save_report(result, out)
    if as_json:
        typer.echo(json.dumps({"files": files, "report": result["report"],
                               "control": result.get("control")}, default=str))
        return
    _facts_table(result["report"], f"realism report: preset {chosen.name}, {seeds} seeds, "
                 f"{chosen.day_s / 3600:g} h simulated day")
    if control:
        _facts_table(result["control"], "negative control (zero intelligence)")
        verdict = "yes" if result["control_fails_5_and_6"] else "NO"
        console.print(f"negative control fails facts 5 and 6: {verdict}")
    console.print(f"saved: {', '.join(files.values())}")


def _facts_table(report: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    for column in ("fact", "metric", "median", "5-95% of seeds", "band", "seeds passing",
                   "verdict"):
        table.add_column(column)
    for number, fact in report["facts"].items():
        first = True
        for name, m in fact["metrics"].items():
            colour = {"PASS": "green", "FAIL": "red"}.get(fact["verdict"], "white")
            share = fact["seeds_passing"]
            table.add_row(f"{number}. {fact['title']}" if first else "", name,
                          f"{m['median']:.3f}", f"{m['p5']:.3f} .. {m['p95']:.3f}",
                          m["band"] or "reported",
                          "" if share is None or not first else f"{share:.0%}",
                          f"[{colour}]{fact['verdict']}[/{colour}]" if first else "")
            first = False
    console.print(table, width=max(console.width, 140))


@sim_app.command("export")
def export_command(
    data_dir: Annotated[Path, typer.Option(help="A run's data directory.")],
    out: Annotated[Path, typer.Option(help="Where the files go.")],
    symbol: Annotated[str, typer.Option(help="The symbol to export.")] = "BTC-USD",
    levels: Annotated[int, typer.Option(help="Book levels per side in the orderbook "
                                        "file.")] = 10,
    fmt: Annotated[list[str] | None, typer.Option(
        "--format", help="lobster, parquet (repeat; default both).")] = None,
) -> None:
    """LOBSTER message + orderbook files and Parquet tables of one symbol's book."""
    from matchbook.sim.export import ExportError, export

    formats = tuple(fmt or ("lobster", "parquet"))
    if not (data_dir / "journal").is_dir():
        _fail(f"--data-dir: {data_dir} has no journal/ directory")
    try:
        with _progress(not console.is_terminal) as bar:
            task = bar.add_task("messages exported", total=None)
            result = export(data_dir, out, symbol=symbol, levels=levels, formats=formats,
                            progress=lambda n: bar.update(task, completed=n))
    except ExportError as exc:
        _fail(str(exc))
    except OSError as exc:  # --out under a file, no permission, a full disk
        _fail(f"--out: cannot write {exc.filename or out} ({exc.strerror or exc})")
    console.print(f"{result['messages']:,} messages of {symbol}:")
    for kind, path in result["files"].items():
        console.print(f"  {kind}: {path}")


def bench_sim(
    preset: Annotated[str, typer.Option(help="The agent simulation's preset.")] = "default",
    seed: Annotated[str, typer.Option()] = "1",
    day_hours: Annotated[float | None, typer.Option(
        help="Simulated hours of the agent run (default: the preset's day).")] = None,
    batch_orders: Annotated[int, typer.Option(help="Rows in the batch-call run.")] = 400_000,
    gym_steps: Annotated[int, typer.Option(help="Steps of the single environment.")] = 3000,
    vector_envs: Annotated[int, typer.Option(help="Environments in the vector.")] = 64,
    vector_steps: Annotated[int, typer.Option(help="Vector steps.")] = 40,
    vector_workers: Annotated[int, typer.Option(
        help="Worker processes of the vector (0: one per core).", min=0)] = 0,
    sandbox_orders: Annotated[int, typer.Option(
        help="Orders of the sandbox simulation (POST /api/simulation's run).")] = 100_000,
    parts: Annotated[list[str] | None, typer.Option(
        "--part", help="agents, batch, gym, vector, api (repeat; default all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The simulator's figures: agent messages/s and peak RSS for a simulated day, the
    batch call's messages/s, gym steps/s (single and vector) and reset time, and the
    sandbox run behind POST /api/simulation."""
    from matchbook.bench.sim import PARTS, run_bench

    chosen = _preset(preset, day_hours)
    seed_value = _seed(seed)
    wanted = tuple(parts or PARTS)
    unknown = set(wanted) - set(PARTS)
    if unknown:
        _fail(f"--part: unknown {', '.join(sorted(unknown))}; use {', '.join(PARTS)}")
    with _progress(as_json or not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def note(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = run_bench(chosen, seed_value, parts=wanted, batch_orders=batch_orders,
                           gym_steps=gym_steps, vector_envs=vector_envs,
                           vector_steps=vector_steps, vector_workers=vector_workers,
                           sandbox_orders=sandbox_orders,
                           progress=note)
    if as_json:
        typer.echo(json.dumps(result, default=str))
        return
    load = result["load_average"]
    console.print(f"load average {load['start']} -> {load['end']}")
    table = Table(title=f"bench sim ({result['machine']['cpu']}, {result['machine']['cores']} "
                        f"cores, commit {result['machine']['commit']})")
    for column in ("figure", "value", "target", "met"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in result["figures"]:
        met = row.get("met")
        table.add_row(row["name"], row["value"], row.get("target", ""),
                      "" if met is None else ("[green]yes[/green]" if met else "[red]no[/red]"))
    console.print(table)
    console.print("the machine is shared: figures vary from run to run; best of the "
                  "repeats is shown where a part repeats", style="dim")


if __name__ == "__main__":  # pragma: no cover
    sim_app(sys.argv[1:])
