"""``matchbook ml ...``: capture, import, evaluate (and backtest when the simulator is
installed). Every error a user can cause is one line on stderr and exit status 1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

ml_app = typer.Typer(help="Order-book data, features, models and their honest evaluation.",
                     no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

Out = Annotated[Path, typer.Option("--out", help="Directory to write the data set into.")]
Session = Annotated[str | None, typer.Option(help="Session id (default: from the file or "
                                                  "directory name).")]
Regime = Annotated[str, typer.Option(help="Regime tag of the session (e.g. calm, volatile).")]
TickSize = Annotated[str, typer.Option("--tick-size", help="Price tick as a decimal.")]


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@contextmanager
def _writing(target: Path) -> Iterator[None]:
    """An output that cannot be written (a missing parent, no permission, a full disk) is
    the user's one-line error, not a traceback."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or target
        raise _fail(f"{where}: cannot write ({exc.strerror or exc})") from exc


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str], None]]:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=errors, disable=quiet or not errors.is_terminal,
                  transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def note(text: str) -> None:
            progress.update(task, description=text)

        yield note


def _summary(title: str, datasets: dict[str, Any], out: Path, seconds: float) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("data set", "sessions", "messages", "book rows", "notes"):
        table.add_column(col, justify="right" if col in ("messages", "book rows") else "left")
    for path, ds in datasets.items():
        notes = ", ".join(f"{k} {v}" for k, v in ds.meta.notes.items()
                          if isinstance(v, int) and v)
        table.add_row(str(path), ", ".join(s.session for s in ds.meta.sessions),
                      f"{ds.messages.height:,}", f"{ds.book.height:,}", notes)
    console.print(table)
    console.print(f"written to {out} in {seconds:.1f} s", highlight=False)


# --------------------------------------------------------------------------- data


@ml_app.command("capture")
def capture_command(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Matchbook data directory "
                                                             "(journal/ and snapshots/).")],
    out: Out,
    symbol: Annotated[list[str] | None, typer.Option(help="Symbols to capture (repeatable; "
                                                          "default: every traded one).")] = None,
    session: Session = None,
    regime: Regime = "",
    markets_file: Annotated[Path | None, typer.Option("--markets", help="Markets TOML the "
                                                                        "engine ran with.")] = None,
) -> None:
    """Replay a journal through the core engine into L3 messages and 10-level books
    (Parquet), keyed by journal sequence number."""
    from matchbook.config import read_config
    from matchbook.core import ConfigError, load_markets
    from matchbook.ml.capture import capture
    from matchbook.ml.schema import DataError, write_dataset

    started = time.perf_counter()
    try:
        markets = load_markets(read_config(markets_file))
    except (OSError, ValueError, ConfigError) as exc:
        raise _fail(f"{markets_file or 'markets'}: {exc}") from exc
    with _progress(False) as note:
        try:
            found = capture(data_dir, markets, symbols=symbol, session=session, regime=regime,
                            progress=lambda n: note(f"replaying the journal: {n:,} commands"))
        except DataError as exc:
            raise _fail(str(exc)) from exc
    if not found:
        raise _fail(f"{data_dir}: no book activity in the journal for "
                    f"{', '.join(symbol) if symbol else 'any symbol'}")
    written = {}
    for name, ds in found.items():
        target = out if len(found) == 1 else out / name
        with _writing(target):
            write_dataset(target, ds)
        written[target] = ds
    _summary(f"captured {data_dir}", written, out, time.perf_counter() - started)


@ml_app.command("import-lobster")
def import_lobster_command(
    message: Annotated[Path, typer.Option("--message", help="LOBSTER message file.")],
    orderbook: Annotated[Path, typer.Option("--orderbook", help="LOBSTER orderbook file.")],
    out: Out,
    tick_size: TickSize = "0.01",
    session: Session = None,
    regime: Regime = "",
    date: Annotated[str | None, typer.Option(help="Trading day YYYY-MM-DD (default: from the "
                                                  "file name, else 1970-01-01).")] = None,
    opening: Annotated[str, typer.Option(help="Opening snapshot block: auto, none, or a "
                                              "number of leading messages.")] = "auto",
) -> None:
    """Import a LOBSTER message + orderbook pair (see docs/ml-data-formats.md)."""
    from matchbook.ml.lobster import import_lobster
    from matchbook.ml.schema import DataError, write_dataset

    started = time.perf_counter()
    try:
        ds = import_lobster(message, orderbook, tick_size=tick_size, session=session,
                            regime=regime, date=date, opening=opening)
    except DataError as exc:
        raise _fail(str(exc)) from exc
    with _writing(out):
        write_dataset(out, ds)
    _summary("LOBSTER import", {out: ds}, out, time.perf_counter() - started)


@ml_app.command("import-l3")
def import_l3_command(
    file: Annotated[Path, typer.Argument(help="L3 CSV file.")],
    out: Out,
    tick_size: TickSize = "0.01",
    lot_size: Annotated[str, typer.Option("--lot-size", help="Quantity step as a decimal.")]
        = "1",
    session: Session = None,
    regime: Regime = "",
) -> None:
    """Import a generic L3 CSV: timestamp, order_id, side, price, size, action (see
    docs/ml-data-formats.md)."""
    from matchbook.ml.l3csv import import_l3
    from matchbook.ml.schema import DataError, write_dataset

    started = time.perf_counter()
    try:
        ds = import_l3(file, tick_size=tick_size, lot_size=lot_size, session=session,
                       regime=regime)
    except DataError as exc:
        raise _fail(str(exc)) from exc
    with _writing(out):
        write_dataset(out, ds)
    _summary("L3 CSV import", {out: ds}, out, time.perf_counter() - started)


# --------------------------------------------------------------------------- evaluate


@ml_app.command("evaluate")
def evaluate_command(
    data: Annotated[Path, typer.Option("--data", help="A data set directory, or a directory "
                                                      "of them (one per session).")],
    label: Annotated[str, typer.Option(help="next-mid, k10, k50, k100, k10-spread, "
                                            "k50-spread or k100-spread.")] = "next-mid",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    test_fraction: Annotated[float, typer.Option(help="Share of each regime's sessions held "
                                                      "out for the test.")] = 0.4,
    embargo: Annotated[int, typer.Option(help="Sessions dropped between train and test.",
                                         min=0)] = 1,
    train_regime: Annotated[str | None, typer.Option(help="Regime shift: train on this "
                                                          "regime ...")] = None,
    test_regime: Annotated[str | None, typer.Option(help="... and test on this one.")] = None,
    plots: Annotated[Path | None, typer.Option(help="Directory for the PNG plots (default: "
                                                    "DATA/report).")] = None,
    max_train: Annotated[int, typer.Option(help="Training events used at most (a seeded "
                                                "sample beyond).", min=1)] = 1_000_000,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", min=1)] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of sampling and models.")] = 0,
    folds: Annotated[int, typer.Option(help="Also report K expanding walk-forward folds "
                                           "over the sessions (0 = none).", min=0)] = 0,
    save_model: Annotated[Path | None, typer.Option("--save-model", help="Write the chosen "
                                                    "model (fitted on the training sessions) "
                                                    "here, for the backtest.")] = None,
) -> None:
    """Baselines and models on held-out sessions: accuracy with block-bootstrap CIs and
    binomial tests; with two tagged regimes also the regime-shift result."""
    import numpy as np

    from matchbook.ml.evaluate import EvaluationError, evaluate, regime_shift
    from matchbook.ml.labels import LabelError
    from matchbook.ml.report import plot_all, print_report
    from matchbook.ml.samples import build_samples
    from matchbook.ml.schema import DataError

    if not 0 < test_fraction < 1:
        raise _fail("--test-fraction must be between 0 and 1")
    if (train_regime is None) != (test_regime is None):
        raise _fail("--train-regime and --test-regime go together")
    with _progress(as_json) as note:
        try:
            note("features and labels, one session at a time")
            samples = build_samples(data, label)
            kwargs: dict[str, Any] = dict(test_fraction=test_fraction, embargo=embargo,
                                          resamples=resamples, seed=seed,
                                          max_train=max_train, note=note)
            if train_regime is not None:
                result, details = regime_shift(samples, train_regime, test_regime or "",
                                               **kwargs)
            else:
                result, details = evaluate(samples, **kwargs)
                tags = sorted({t for t in samples.regimes.values() if t})
                if len(tags) >= 2 and "calm" in tags and "volatile" in tags:
                    shift, _ = regime_shift(samples, "calm", "volatile", **kwargs)
                    result["regime_shift"] = _shift_summary(shift)
            if folds:
                result["walk_forward"] = _walk_forward(samples, folds, embargo, kwargs)
        except (DataError, LabelError, EvaluationError) as exc:
            raise _fail(str(exc)) from exc
    if save_model is not None:
        from matchbook.ml.backtest import save_model as write_model

        best = result["best"]["name"]
        train_names = sorted({samples.session_names[c] for c in np.unique(
            samples.session[details.train_mask])})
        with _writing(save_model):
            write_model(save_model, details.models[best], label=samples.label.name,
                        trained_on=train_names, name=best)
    if as_json:
        typer.echo(json.dumps(result))
        return
    print_report(result, console)
    if "regime_shift" in result and "best" in result["regime_shift"]:
        rs = result["regime_shift"]
        console.print(f"regime shift ({rs['train']} -> {rs['test']}): {rs['best']['name']} "
                      f"{rs['best']['accuracy']:.2%} (95% CI {rs['best']['ci_low']:.2%} .. "
                      f"{rs['best']['ci_high']:.2%}) vs {rs['best']['best_baseline']} "
                      f"{rs['best']['best_baseline_accuracy']:.2%}", highlight=False)
    target = plots or data / "report"
    with _writing(target):
        paths = plot_all(result, details, target)
    console.print("plots: " + ", ".join(str(p) for p in paths), highlight=False)


def _walk_forward(samples: Any, folds: int, embargo: int, kwargs: dict[str, Any]
                  ) -> list[dict[str, Any]]:
    """Per fold: the split and the test accuracy of every baseline and model."""
    from matchbook.ml.evaluate import evaluate
    from matchbook.ml.samples import walk_forward

    out = []
    args = {k: v for k, v in kwargs.items() if k not in ("test_fraction", "embargo")}
    for split in walk_forward(samples, folds, embargo):
        result, _ = evaluate(samples, split=split, **args)
        out.append({"split": split.description, "n_test": result["n_test"],
                    "best": result["best"]["name"],
                    "accuracy": {k: v["accuracy"] for group in ("baselines", "models")
                                 for k, v in result[group].items()}})
    return out


def _shift_summary(shift: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "ci_low", "ci_high", "n")
    return {**shift["regime_shift"], "n_train": shift["n_train"], "n_test": shift["n_test"],
            "best": shift["best"],
            "baselines": {k: {f: v[f] for f in keys} for k, v in shift["baselines"].items()},
            "models": {k: {f: v[f] for f in keys} for k, v in shift["models"].items()}}


# --------------------------------------------------------------------------- simulate


@ml_app.command("simulate")
def simulate_command(
    out: Out,
    preset: Annotated[list[str], typer.Option(help="Regime or simulator preset (repeatable): "
                                                   "calm, volatile, small, default ...")],
    seeds: Annotated[int, typer.Option(help="Sessions (seeds) per preset.")] = 24,
    first_seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    hours: Annotated[float, typer.Option(help="Simulated hours per session (calm and "
                                              "volatile only).")] = 4.0,
) -> None:
    """Simulated sessions on the production engine (matchbook.sim agents), each journaled
    and captured into DIR/<preset>-<seed>/, tagged with its regime."""
    from rich.table import Table

    from matchbook.ml.simulate import simulate

    if seeds < 1 or hours <= 0:
        raise _fail("--seeds and --hours must be positive")
    started = time.perf_counter()
    with _progress(False) as note, _writing(out):
        try:
            runs = simulate(preset, seeds, out, first_seed=first_seed,
                            day_s=int(hours * 3600), note=note)
        except KeyError as exc:
            raise _fail(str(exc.args[0])) from exc
        except ValueError as exc:  # SimError and DataError
            raise _fail(str(exc)) from exc
    table = Table(title=f"simulated sessions in {out}")
    for col in ("preset", "seed", "agents", "commands", "trades", "book events", "wall s"):
        table.add_column(col, justify="left" if col == "preset" else "right")
    for r in runs:
        table.add_row(r["preset"], str(r["seed"]), f"{r['agents']:,}", f"{r['messages']:,}",
                      f"{r['trades']:,}", f"{r['events']:,}", f"{r['wall_seconds']:.1f}")
    console.print(table)
    console.print(f"{len(runs)} sessions in {time.perf_counter() - started:.0f} s",
                  highlight=False)


# --------------------------------------------------------------------------- train, backtest


@ml_app.command("train")
def train_command(
    data: Annotated[Path, typer.Option("--data", help="Data set directory (or a directory "
                                                      "of them).")],
    out: Annotated[Path, typer.Option("--out", help="Model file to write.")],
    model: Annotated[str, typer.Option(help="lightgbm or logistic.")] = "lightgbm",
    max_train: Annotated[int, typer.Option(help="Training events used at most.", min=1)
                         ] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed of sampling and the model.")] = 0,
) -> None:
    """Fit a next-mid model on every session of a data set, for the backtest."""
    import numpy as np

    from matchbook.ml.backtest import save_model
    from matchbook.ml.models import LightGBM, logistic
    from matchbook.ml.samples import build_samples
    from matchbook.ml.schema import DataError

    if model not in ("lightgbm", "logistic"):
        raise _fail(f"--model {model!r}: use lightgbm or logistic")
    with _progress(False) as note:
        try:
            note("features and labels")
            samples = build_samples(data, "next-mid")
        except DataError as exc:
            raise _fail(str(exc)) from exc
        if len(samples) < 100:
            raise _fail(f"{data}: only {len(samples)} labelled events")
        rows = np.arange(len(samples))
        if rows.size > max_train:
            rows = np.sort(np.random.default_rng(seed).choice(rows, max_train, replace=False))
        note(f"fitting {model} on {rows.size:,} events")
        fitted = (LightGBM(seed=seed) if model == "lightgbm" else logistic()).fit(
            samples.X[rows], samples.y[rows])
    with _writing(out):
        path = save_model(out, fitted, label="next-mid", trained_on=samples.session_names,
                          name=model)
    console.print(f"{model} trained on {rows.size:,} events of {len(samples.session_names)} "
                  f"sessions -> {path}", highlight=False)


@ml_app.command("backtest")
def backtest_command(
    model: Annotated[Path, typer.Option("--model", help="Model file from `matchbook ml "
                                                        "train`.")],
    preset: Annotated[str, typer.Option(help="Regime or simulator preset.")] = "calm",
    seeds: Annotated[int, typer.Option(help="Simulated sessions.")] = 5,
    first_seed: Annotated[int, typer.Option(help="First seed (use seeds the model was not "
                                                 "trained on).")] = 1000,
    hours: Annotated[float, typer.Option(help="Simulated hours per session.")] = 2.0,
    threshold: Annotated[float, typer.Option(help="Act when P(up) >= this or <= 1 - this.")]
        = 0.6,
    every: Annotated[float, typer.Option(help="Seconds between decisions.")] = 5.0,
    markout: Annotated[float, typer.Option(help="Mark-out horizon per trade, seconds.")]
        = 10.0,
    latency_ms: Annotated[float, typer.Option(help="The agents' order latency, ms.")] = 1.0,
    tier: Annotated[str, typer.Option(help="Fee tier of the strategy agents ('' = the "
                                           "default rates).")] = "vip",
    strategy: Annotated[list[str] | None, typer.Option(
        help="maker, taker or skew (repeatable; default: all three).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The model trading live inside the simulator on the production engine, as a taker,
    as a one-sided maker and as a two-sided maker skewing its quotes, each against a
    random twin (and a no-signal twin for skew) and a flat agent."""
    from rich.table import Table

    from matchbook.config import default_markets
    from matchbook.ml.backtest import (
        STRATEGIES,
        BacktestConfig,
        BacktestError,
        load_model,
        run_session,
        summarise,
    )
    from matchbook.ml.simulate import regime_preset

    strategies = tuple(strategy or STRATEGIES)
    if set(strategies) - set(STRATEGIES):
        raise _fail(f"--strategy: one of {', '.join(STRATEGIES)}")
    if seeds < 1 or hours <= 0 or not 0.5 < threshold < 1:
        raise _fail("--seeds and --hours must be positive, --threshold within (0.5, 1)")
    if every <= 0 or markout < 0 or latency_ms < 0:  # every 0: an agent waking forever
        raise _fail("--every must be positive, --markout and --latency-ms not negative")
    try:
        bundle = load_model(model)
        spec = regime_preset(preset, int(hours * 3600))
    except BacktestError as exc:
        raise _fail(str(exc)) from exc
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from exc
    overlap = {f"{spec.name}-{s:04d}" for s in range(first_seed, first_seed + seeds)} & set(
        bundle["trained_on"])
    if overlap:
        raise _fail(f"the model was trained on {', '.join(sorted(overlap))}: choose other "
                    f"seeds (--first-seed)")
    config = BacktestConfig(threshold=threshold, decide_every_s=every, markout_s=markout,
                            latency_ms=latency_ms, tier=tier, strategies=strategies,
                            start_after_s=min(900.0, spec.day_s / 4))
    markets = default_markets()
    quote = markets.symbols[spec.symbol].quote
    runs = []
    started = time.perf_counter()
    with _progress(as_json) as note:
        for seed in range(first_seed, first_seed + seeds):
            note(f"{spec.name} seed {seed}: simulating with the model's agents")
            runs += run_session(bundle, spec, seed, config)
    result = {"model": bundle["name"], "preset": spec.name, "seeds": seeds,
              "first_seed": first_seed, "hours": hours, "threshold": threshold,
              "every_s": every, "markout_s": markout, "tier": tier,
              "latency_ms": latency_ms, "quote": quote.code,
              "strategies": summarise(runs, quote_decimals=quote.decimals),
              "seconds": round(time.perf_counter() - started, 1)}
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"backtest of {bundle['name']} in {spec.name} ({seeds} sessions of "
                        f"{hours:g} h, tier {tier or 'default'}); P&L in {quote.code}")
    for col in ("strategy", "trades", "net bp/trade", "95% CI (bp)", "gross bp", "hit",
                "P&L/session", "Sharpe", "max DD", "lots/session", "maker"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    edges = Table(title="the model's edge: net bp per trade minus its twin's (paired "
                        "bootstrap over sessions), and where its P&L comes from")
    for col in ("strategy", "vs random (bp)", "95% CI", "vs no signal (bp)", "95% CI",
                "taking: trades", "taking bp", "quoting: trades", "quoting bp"):
        edges.add_column(col, justify="left" if col == "strategy" else "right")
    for name, s in result["strategies"].items():
        table.add_row(name, f"{s['trades']:,}", f"{s['net_bp_per_trade']:+.2f}",
                      f"{s['bp_ci_low']:+.2f} .. {s['bp_ci_high']:+.2f}",
                      f"{s.get('gross_bp_per_trade', 0.0):+.2f}", f"{s.get('hit_rate', 0):.0%}",
                      f"{s['session_pnl_mean']:.4f}", f"{s['sharpe_sessions']:.2f}",
                      f"{s['max_drawdown']:.4f}", f"{s['turnover_lots_per_session']:.0f}",
                      f"{s.get('maker_share', 0):.0%}")
        if "edge_vs_random" in s:
            r, n = s["edge_vs_random"], s.get("edge_vs_symmetric")
            edges.add_row(name, f"{r['bp']:+.2f}", f"{r['ci_low']:+.2f} .. {r['ci_high']:+.2f}",
                          f"{n['bp']:+.2f}" if n else "-",
                          f"{n['ci_low']:+.2f} .. {n['ci_high']:+.2f}" if n else "-",
                          f"{s['taking']['trades']:,}", f"{s['taking']['net_bp_per_trade']:+.2f}",
                          f"{s['quoting']['trades']:,}",
                          f"{s['quoting']['net_bp_per_trade']:+.2f}")
    wide = Console(width=max(console.width, 150))
    wide.print(table)
    wide.print(edges)


# --------------------------------------------------------------------------- bench


@ml_app.command("bench")
def bench_command(
    events: Annotated[int, typer.Option(help="Book events per stage.")] = 1_000_000,
    stage: Annotated[list[str] | None, typer.Option(
        help="capture, features or evaluate (repeatable; default: features and evaluate; "
             "capture first simulates a calm session long enough, minutes).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Data set for features and "
                                                             "evaluate (default: synthetic).")]
        = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory to "
                                                  "capture (default: simulated).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Seconds (wall and CPU) and peak resident memory of capture, features and evaluate
    on N events, each stage in its own process."""
    from rich.table import Table

    from matchbook.ml.bench import STAGES, bench

    stages = stage or ["features", "evaluate"]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise _fail(f"--stage {unknown[0]!r}: one of {', '.join(STAGES)}")
    if events < 1000:
        raise _fail("--events must be at least 1000")
    with _progress(as_json) as note:
        try:
            result = bench(stages, events, data=data, data_dir=data_dir, note=note)
        except (RuntimeError, ValueError, OSError) as exc:
            raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"matchbook ml bench, {events:,} events requested")
    for col in ("stage", "events", "wall s", "CPU s", "events/CPU s", "base RSS MB",
                "peak RSS MB"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for name, s in result["stages"].items():
        table.add_row(name, f"{s['events']:,}", f"{s['wall_s']:.1f}", f"{s['cpu_s']:.1f}",
                      f"{s['events_per_cpu_s']:,}", f"{s['base_rss_mb']:,.0f}",
                      f"{s['peak_rss_mb']:,.0f}")
    console.print(table)
    rest = {k: v for k, v in result.items() if k != "stages"}
    console.print(json.dumps(rest), highlight=False, soft_wrap=True)
