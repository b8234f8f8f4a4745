"""``matchbook journal ...`` and ``matchbook snapshot ...``: look into a data directory.

Every command takes ``--data-dir`` (default ``./data``; it holds ``journal/`` and
``snapshots/``) and ``--markets`` (the markets file the engine ran with: replaying
under another configuration gives another state). None of them modifies the journal,
so they are safe next to a running engine; ``snapshot create`` only adds a snapshot
file (and prunes old ones to ``--keep``).

* ``journal inspect [--from SEQ] [--limit N]``: records as seq, UTC time, command;
* ``journal verify``: checksums and sequence continuity of every segment, every
  snapshot against a replay from seq 1, and snapshot + tail against that replay;
  exit status 1 on any problem;
* ``journal replay --to SEQ``: books, balances and open orders as of ``SEQ``;
* ``snapshot create`` / ``snapshot list``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from matchbook.core import Engine, Markets

journal_app = typer.Typer(help="Inspect, verify and replay the journal.", no_args_is_help=True)
snapshot_app = typer.Typer(help="Create and list snapshots.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

DataDir = Annotated[Path, typer.Option(
    "--data-dir", help="Directory holding journal/ and snapshots/.")]
MarketsFile = Annotated[Path | None, typer.Option(
    "--markets", help="Markets TOML the engine ran with (default: $MATCHBOOK_MARKETS, "
                      "else the shipped file).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
DEFAULT_DATA_DIR = Path("data")

_SIDES = {1: "buy", 2: "sell"}
_TYPES = {1: "limit", 2: "market", 3: "stop-limit", 4: "stop-market"}
_TIFS = {1: "GTC", 2: "IOC", 3: "FOK", 4: "GTD"}
_STPS = {1: "cancel-newest", 2: "cancel-oldest", 3: "cancel-both", 4: "decrement-and-cancel"}


# --------------------------------------------------------------------------- helpers


def _configuration(path: Path | None) -> Markets:
    """The markets of the configuration file. Risk limits are not read: a replay takes
    them from the journal and snapshots, as they were when each command ran."""
    from matchbook.config import read_config
    from matchbook.core import ConfigError, load_markets

    try:
        return load_markets(read_config(path))
    except (OSError, ValueError, ConfigError) as exc:  # TOMLDecodeError is a ValueError
        raise _fail(f"{path or 'the markets file'}: {exc}") from exc


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _require_journal(data_dir: Path) -> Path:
    journal = data_dir / "journal"
    if not journal.is_dir() and not (data_dir / "snapshots").is_dir():
        raise _fail(f"no journal in {data_dir} (expected {journal}/); see --data-dir")
    return journal


def utc(ts_ns: int, digits: int = 9) -> str:
    """``2024-03-01T12:00:00.123456789Z``: sequencer time, to ``digits`` decimals of a
    second (truncated)."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    try:
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{ts_ns} ns"
    return f"{stamp}.{nanos:09d}"[: len(stamp) + 1 + digits].rstrip(".") + "Z"


@contextmanager
def _progress(quiet: bool) -> Iterator[Progress]:
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed:,.0f} records"), TimeElapsedColumn(),
                  console=errors, disable=quiet or not errors.is_terminal,
                  transient=True) as progress:
        yield progress


def _recover(data_dir: Path, markets: Markets, to_seq: int | None,
             quiet: bool) -> tuple[Engine, Any]:
    """Read-only recovery (no truncation) with a progress bar; errors exit with status 1."""
    from matchbook.journal.codec import SnapshotMismatchError
    from matchbook.journal.durable import recover
    from matchbook.journal.segments import JournalError

    with _progress(quiet) as progress:
        task = progress.add_task("recovering (snapshot + journal)", total=None)

        def note(replayed: int) -> None:
            progress.update(task, completed=replayed)

        try:
            return recover(data_dir, markets, to_seq=to_seq, progress=note,
                           truncate=False)
        except (JournalError, SnapshotMismatchError) as exc:
            raise _fail(str(exc)) from exc


def _amount(markets: Markets, asset: str, amount_minor: int) -> str:
    found = markets.assets.get(asset)
    return f"{found.format(amount_minor) if found else amount_minor} {asset}"


def _fields(command: Any) -> dict[str, Any] | None:
    if command is None:
        return None
    return {name: getattr(command, name) for name in command.__struct_fields__}


def describe(command: Any, markets: Markets) -> str:
    """One line a person can read: ``user 7 buy 0.0100 BTC-USD limit @ 50000.00 GTC``."""
    name = type(command).__name__
    c = command
    if name == "PlaceOrder":
        sym = markets.symbols.get(c.symbol)
        parts = [f"user {c.user_id}", _SIDES.get(c.side, f"side {c.side}")]
        if c.quote_amount_minor:
            quote = sym.quote.code if sym else "quote"
            parts.append(f"for {_amount(markets, quote, c.quote_amount_minor)}")
        else:
            parts.append(sym.format_qty(c.qty_lots) if sym else f"{c.qty_lots} lots")
        parts += [c.symbol, _TYPES.get(c.order_type, f"type {c.order_type}")]
        if c.price_ticks:
            parts.append(f"@ {sym.format_price(c.price_ticks) if sym else c.price_ticks}")
        if c.stop_price_ticks:
            stop = sym.format_price(c.stop_price_ticks) if sym else c.stop_price_ticks
            parts.append(f"stop {stop}")
        parts.append(_TIFS.get(c.tif, f"tif {c.tif}"))
        if c.expire_ts_ns:
            parts.append(f"until {utc(c.expire_ts_ns)}")
        if c.post_only:
            parts.append("post-only")
        if c.display_lots:
            parts.append(f"iceberg {sym.format_qty(c.display_lots) if sym else c.display_lots}")
        if c.stp != 1:
            parts.append(f"stp {_STPS.get(c.stp, c.stp)}")
        if c.client_order_id:
            parts.append(f"client id {c.client_order_id!r}")
        return " ".join(parts)
    if name == "CancelOrder":
        target = f"#{c.order_id}" if c.order_id else f"client id {c.client_order_id!r}"
        return f"user {c.user_id} cancels order {target}"
    if name == "AmendOrder":
        changes = []
        if c.price_ticks:
            changes.append(f"price {c.price_ticks} ticks")
        if c.qty_lots:
            changes.append(f"quantity {c.qty_lots} lots")
        return f"user {c.user_id} amends order #{c.order_id}: {', '.join(changes) or 'nothing'}"
    if name == "CancelAll":
        who = f"user {c.user_id}" if c.user_id else "operator"
        return f"{who} cancels all orders in {c.symbol or 'every symbol'}" + (
            "" if c.user_id else " of every user")
    if name == "AdvanceTime":
        return "clock tick"
    if name == "Deposit":
        to = f"user {c.user_id}" if c.user_id else f"address {c.address}"
        ref = f" (ref {c.reference})" if c.reference else ""
        return f"deposit {_amount(markets, c.asset, c.amount_minor)} to {to}{ref}"
    if name == "CreateAddress":
        return f"user {c.user_id} creates a {c.asset} address"
    if name == "RequestWithdrawal":
        dest = f" to {c.destination}" if c.destination else ""
        return f"user {c.user_id} withdraws {_amount(markets, c.asset, c.amount_minor)}{dest}"
    if name == "CompleteWithdrawal":
        return f"withdrawal #{c.withdrawal_id} completed"
    if name == "RejectWithdrawal":
        return f"withdrawal #{c.withdrawal_id} rejected" + (f": {c.reason}" if c.reason else "")
    if name == "Transfer":
        return (f"user {c.user_id} transfers {_amount(markets, c.asset, c.amount_minor)} "
                f"to {c.to_address}")
    if name == "AdjustBalance":
        return (f"adjust user {c.user_id} by {_amount(markets, c.asset, c.amount_minor)}: "
                f"{c.reason}")
    if name in ("HaltTrading", "ResumeTrading"):
        verb = "halt" if name == "HaltTrading" else "resume"
        return f"{verb} trading in {c.symbol or 'every symbol'}"
    if name == "SuspendUser":
        return f"suspend user {c.user_id}" + (" and end their P2P ads" if c.end_p2p_ads else "")
    if name == "ReinstateUser":
        return f"reinstate user {c.user_id}"
    if name == "SetFeeTier":
        return f"user {c.user_id} fee tier {c.tier or 'default'}"
    if name == "SetRiskLimits":
        positions = ", ".join(_amount(markets, asset, amount)
                              for asset, amount in c.position_limits)
        return (f"risk limits: {c.max_open_orders} open orders per user"
                f"{f', positions at most {positions}' if positions else ''}")
    return repr(command)


# --------------------------------------------------------------------------- inspect


@journal_app.command("inspect")
def inspect(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    from_seq: Annotated[int, typer.Option("--from", help="First sequence number.")] = 1,
    limit: Annotated[int, typer.Option(help="Records to show (0 = to the end).", min=0)] = 50,
    markets_file: MarketsFile = None,
    as_json: AsJson = False,
) -> None:
    """Journal records, one a line: seq, UTC time and the decoded command."""
    import msgspec

    from matchbook.journal.codec import decode_command
    from matchbook.journal.segments import JournalError, iter_records

    journal = _require_journal(data_dir)
    markets = _configuration(markets_file)
    shown = 0
    try:
        for seq, ts_ns, payload in iter_records(journal, from_seq=from_seq):
            try:
                command: Any = decode_command(payload)
            except msgspec.MsgspecError as exc:
                command = None
                text, name = f"undecodable payload ({len(payload)} bytes): {exc}", "?"
            else:
                name, text = type(command).__name__, describe(command, markets)
            if as_json:
                typer.echo(json.dumps({"seq": seq, "ts_ns": ts_ns, "time": utc(ts_ns),
                                       "command": name,
                                       "fields": _fields(command)}))
            else:
                console.print(f"{seq:>10}  {utc(ts_ns)}  [bold]{name:<18}[/bold] {text}",
                              highlight=False, markup=True, soft_wrap=True)
            shown += 1
            if limit and shown >= limit:
                break
    except JournalError as exc:
        raise _fail(f"{exc}\n(records before the damage are shown above)") from exc
    if not shown and not as_json:
        errors.print(f"no records at or after seq {from_seq}")


# --------------------------------------------------------------------------- verify


@journal_app.command("verify")
def verify(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    markets_file: MarketsFile = None,
) -> None:
    """Check every segment and snapshot, replay from seq 1 and from the newest snapshot;
    both must end in the same state hash. Exit status 1 on any problem."""
    from matchbook.journal.codec import SnapshotMismatchError, decode_command, decode_snapshot
    from matchbook.journal.durable import recover
    from matchbook.journal.segments import JournalError, iter_records, recover_journal
    from matchbook.journal.snapshot import SnapshotStore

    journal = _require_journal(data_dir)
    markets = _configuration(markets_file)
    problems: list[str] = []
    rows: list[tuple[str, str]] = []

    # 1. every segment: checksums and sequence continuity (read-only)
    try:
        report = recover_journal(journal, dry_run=True)
    except JournalError as exc:
        problems.append(f"journal: {exc}")
        report = None
    if report is not None:
        span = (f"{report.first_seq:,} .. {report.last_seq:,}" if report.records else "empty")
        rows += [("segments", f"{report.segments:,}"), ("records", f"{report.records:,}"),
                 ("sequence numbers", span)]
        if report.truncated is not None:
            t = report.truncated
            problems.append(f"torn tail in {t.path.name} at offset {t.offset:,}: {t.reason}, "
                            f"{t.bytes_removed:,} bytes after seq {t.first_lost_seq - 1} "
                            f"(the engine cuts it when it opens)")
        if report.removed_empty_segments:
            rows.append(("empty segment files", str(len(report.removed_empty_segments))))
    last = (report.last_seq or 0) if report is not None else 0

    # 2. snapshot files
    store = SnapshotStore(data_dir / "snapshots")
    snapshots = store.list()
    valid = [s for s in snapshots if s.valid]
    rows.append(("snapshots", f"{len(valid)} valid of {len(snapshots)}"))
    for s in snapshots:
        if not s.valid:
            problems.append(f"snapshot {s.path.name}: {s.problem}")
        elif report is not None and s.seq > last:
            problems.append(f"snapshot {s.seq} is newer than the journal's last record {last}")

    # 3. a clean replay from seq 1, checking each snapshot on the way
    full_hash: str | None = None
    if report is not None and report.records and report.first_seq != 1:
        problems.append(f"the journal starts at seq {report.first_seq}: "
                        f"no replay from seq 1 is possible")
    elif report is not None:
        checkpoints = {s.seq for s in valid if s.seq <= last}
        engine = Engine(markets)
        started = time.perf_counter()
        replayed = 0
        with _progress(False) as progress:
            task = progress.add_task("replaying from seq 1", total=report.records)
            try:
                for seq, ts_ns, payload in iter_records(journal, from_seq=1):
                    engine.apply(seq, ts_ns, decode_command(payload))
                    replayed += 1
                    if replayed & 4095 == 0:
                        progress.update(task, completed=replayed)
                    if seq in checkpoints:
                        problems += _compare_snapshot(store, seq, engine, markets,
                                                      decode_snapshot, SnapshotMismatchError)
                    if seq >= last:
                        break
            except Exception as exc:  # a bad record: report where, stop replaying
                problems.append(f"replay from seq 1 stopped after seq {engine.last_seq}: "
                                f"{type(exc).__name__}: {exc}")
            else:
                try:
                    engine._check()
                except AssertionError as exc:
                    problems.append(f"invariant broken after the replay: {exc}")
                full_hash = engine.state_hash()
        seconds = time.perf_counter() - started
        rate = f", {replayed / seconds:,.0f}/s" if seconds > 0 and replayed else ""
        rows.append(("replay from seq 1", f"{replayed:,} records in {seconds:.2f} s{rate}"))
        rows.append(("snapshots checked against it", str(len(checkpoints))))
        if full_hash is not None:
            rows.append(("state hash (replay from seq 1)", full_hash))

    # 4. what the engine would recover: newest usable snapshot + the journal after it
    if report is not None:
        try:
            recovered, info = recover(data_dir, markets, truncate=False)
        except (JournalError, SnapshotMismatchError) as exc:
            problems.append(f"recovery (snapshot + tail): {exc}")
        else:
            problems += [f"recovery skipped {s}" for s in info.skipped_snapshots]
            rows.append(("snapshot + tail", f"snapshot {info.snapshot_seq:,} + "
                                            f"{info.replayed:,} records in {info.seconds:.2f} s"))
            tail_hash = recovered.state_hash()
            rows.append(("state hash (snapshot + tail)", tail_hash))
            if full_hash is not None and (recovered.last_seq, tail_hash) != (last, full_hash):
                problems.append(f"snapshot + tail ends at seq {recovered.last_seq} with hash "
                                f"{tail_hash}; the replay from seq 1 at seq {last} with hash "
                                f"{full_hash}")

    table = Table(title=f"journal verify: {data_dir}", show_header=False)
    table.add_column("check")
    table.add_column("result", overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if problems:
        for problem in problems:
            console.print(f"[red]problem:[/red] {problem}", highlight=False)
        console.print(f"[red bold]FAILED[/red bold]: {len(problems)} problem(s)")
        raise typer.Exit(1)
    console.print("[green bold]OK[/green bold]: journal intact, every snapshot matches the "
                  "replay, snapshot + tail gives the same state")


def _compare_snapshot(store: Any, seq: int, engine: Engine, markets: Markets,
                      decode: Callable[..., Engine],
                      mismatch: type[Exception]) -> list[str]:
    snap = store.load_latest(max_seq=seq)
    if snap is None or snap.seq != seq:
        return [f"snapshot {seq} could not be read any more"]
    try:
        restored = decode(snap.payload, markets)
    except (mismatch, ValueError, KeyError, TypeError) as exc:
        return [f"snapshot {seq} cannot be restored: {exc}"]
    if restored.last_seq != seq or restored.state_hash() != engine.state_hash():
        return [f"snapshot {seq} differs from the state the journal replays to at seq {seq}"]
    return []


# --------------------------------------------------------------------------- replay


@journal_app.command("replay")
def replay(
    to_seq: Annotated[int, typer.Option("--to", help="Last sequence number to apply.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    depth: Annotated[int, typer.Option(help="Price levels per side (0 = all).", min=0)] = 5,
    user: Annotated[int | None, typer.Option(help="Only this user's balances and orders.")]
        = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol's book and orders.")]
        = None,
    orders: Annotated[int, typer.Option(help="Open orders to list (0 = all; JSON: all).",
                                        min=0)] = 20,
    markets_file: MarketsFile = None,
    as_json: AsJson = False,
) -> None:
    """The state as of any sequence number: books, balances per user, open orders."""
    if to_seq < 0:
        raise _fail("--to must be >= 0")
    _require_journal(data_dir)
    markets = _configuration(markets_file)
    if symbol is not None and symbol not in markets.symbols:
        raise _fail(f"unknown symbol {symbol}; configured: {', '.join(markets.symbols)}")
    engine, info = _recover(data_dir, markets, to_seq, as_json)
    if engine.last_seq < to_seq:
        errors.print(f"[yellow]note:[/yellow] the journal ends at seq {engine.last_seq}; "
                     f"showing that state")
    state = _state(engine, markets, depth, user, symbol)
    if as_json:
        state["recovery"] = {"snapshot_seq": info.snapshot_seq, "replayed": info.replayed,
                             "seconds": info.seconds}
        typer.echo(json.dumps(state))
        return
    _print_state(state, engine, markets, info, orders)


def _state(engine: Engine, markets: Markets, depth: int, user: int | None,
           symbol: str | None) -> dict[str, Any]:
    """The state as plain JSON-ready data; prices, quantities and amounts as decimal strings."""
    books: dict[str, Any] = {}
    for name, book in engine.books.items():
        if symbol is not None and name != symbol:
            continue
        sym = book.symbol

        def levels(side: int, sym: Any = sym, book: Any = book) -> list[list[Any]]:
            return [[sym.format_price(p), sym.format_qty(q), n] for p, q, n in
                    book.depth(side, depth)]

        books[name] = {
            "last_price": sym.format_price(book.last_price) if book.last_price else None,
            "halted": book.halted,
            "bids": levels(1),
            "asks": levels(2),
        }
    balances: dict[str, Any] = {}
    for uid in sorted(engine.accounts):
        if user is not None and uid != user:
            continue
        account = engine.accounts[uid]
        rows = {}
        for asset in sorted(account.slots):
            available, held = engine.balance(uid, asset)
            if available or held:
                spec = markets.assets[asset]
                rows[asset] = {"available": spec.format(available), "held": spec.format(held)}
        balances[str(uid)] = {"tier": account.tier, "balances": rows}
    open_orders = []
    for order in sorted(engine.orders.values(), key=lambda o: o.order_id):
        if (user is not None and order.user_id != user) or (
                symbol is not None and order.symbol != symbol):
            continue
        sym = markets.symbols[order.symbol]
        open_orders.append({
            "order_id": order.order_id, "user_id": order.user_id, "symbol": order.symbol,
            "side": _SIDES.get(order.side, str(order.side)),
            "type": _TYPES.get(order.order_type, str(order.order_type)),
            "price": sym.format_price(order.price) if order.price else None,
            "stop_price": sym.format_price(order.stop_price) if order.stop_price else None,
            "qty": sym.format_qty(order.qty), "leaves": sym.format_qty(order.leaves),
            "visible": sym.format_qty(order.visible), "tif": _TIFS.get(order.tif, str(order.tif)),
            "expires": utc(order.expire_ts, 3) if order.expire_ts else None,
            "client_order_id": order.client_order_id,
        })
    return {
        "seq": engine.last_seq,
        "ts_ns": engine.last_ts,
        "time": utc(engine.last_ts) if engine.last_seq else None,
        "state_hash": engine.state_hash(),
        "halted": engine.halted,
        "books": books,
        "balances": balances,
        "fees": {a: markets.assets[a].format(v) for a, v in engine.fee_balances.items() if v},
        "suspended_users": sorted(engine.suspended),
        "pending_withdrawals": len(engine.withdrawals),
        "open_orders": open_orders,
    }


def _print_state(state: dict[str, Any], engine: Engine, markets: Markets, info: Any,
                 orders: int) -> None:
    when = state["time"] or "-"
    console.rule(f"[bold]state as of seq {state['seq']:,}[/bold] ({when})")
    console.print(f"recovered from snapshot {info.snapshot_seq:,} + {info.replayed:,} journal "
                  f"records in {info.seconds:.2f} s; state hash {state['state_hash']}"
                  + ("; [red]trading halted[/red]" if state["halted"] else ""), highlight=False)
    for name, book in state["books"].items():
        flags = " [red](halted)[/red]" if book["halted"] else ""
        ladder = Table(title=f"{name}: last price {book['last_price'] or '-'}{flags}")
        for col in ("bid orders", "bid qty", "bid", "ask", "ask qty", "ask orders"):
            ladder.add_column(col, justify="right")
        bids, asks = book["bids"], book["asks"]
        for i in range(max(len(bids), len(asks))):
            b = bids[i] if i < len(bids) else ["", "", ""]
            a = asks[i] if i < len(asks) else ["", "", ""]
            ladder.add_row(str(b[2]), b[1], f"[green]{b[0]}[/green]", f"[red]{a[0]}[/red]",
                           a[1], str(a[2]))
        if not bids and not asks:
            ladder.add_row("", "", "empty", "empty", "", "")
        console.print(ladder)
    wallets = Table(title="balances")
    for col in ("user", "tier", "asset", "available", "held"):
        wallets.add_column(col, justify="left" if col in ("tier", "asset") else "right")
    for uid, account in state["balances"].items():
        for index, (asset, row) in enumerate(account["balances"].items()):
            wallets.add_row(uid if not index else "", account["tier"] if not index else "",
                            asset, row["available"], row["held"])
    for index, (asset, amount) in enumerate(sorted(state["fees"].items())):
        wallets.add_row("fees" if not index else "", "", asset, amount, "")
    console.print(wallets)
    listed = state["open_orders"] if not orders else state["open_orders"][:orders]
    table = Table(title=f"open orders: {len(state['open_orders']):,}")
    for col in ("id", "user", "order", "price", "leaves / qty", "notes"):
        table.add_column(col, justify="right" if col in ("id", "user", "price") else "left")
    for o in listed:
        notes = [f"stop {o['stop_price']}" if o["stop_price"] else "",
                 f"until {o['expires']}" if o["expires"] else "",
                 f"client id {o['client_order_id']!r}" if o["client_order_id"] else ""]
        table.add_row(str(o["order_id"]), str(o["user_id"]),
                      f"{o['side']} {o['symbol']} {o['type']} {o['tif']}", o["price"] or "",
                      f"{o['leaves']} / {o['qty']}", " ".join(n for n in notes if n))
    console.print(table)
    if len(listed) < len(state["open_orders"]):
        console.print(f"... and {len(state['open_orders']) - len(listed):,} more (--orders 0 "
                      f"lists all)")
    extra = []
    if state["suspended_users"]:
        extra.append(f"suspended users: {', '.join(map(str, state['suspended_users']))}")
    if state["pending_withdrawals"]:
        extra.append(f"pending withdrawals: {state['pending_withdrawals']:,}")
    if extra:
        console.print("; ".join(extra))


# --------------------------------------------------------------------------- snapshots


@snapshot_app.command("create")
def snapshot_create(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    keep: Annotated[int, typer.Option(help="Snapshots kept after writing (older ones are "
                                           "deleted).")] = 3,
    markets_file: MarketsFile = None,
    as_json: AsJson = False,
) -> None:
    """Recover the current state and write a snapshot of it now."""
    from matchbook.journal.codec import encode_snapshot
    from matchbook.journal.snapshot import SnapshotStore

    _require_journal(data_dir)
    if keep < 1:
        raise _fail("--keep must be at least 1")
    markets = _configuration(markets_file)
    engine, info = _recover(data_dir, markets, None, as_json)
    if engine.last_seq == 0:
        raise _fail("nothing to snapshot: the journal is empty")
    started = time.perf_counter()
    payload = encode_snapshot(engine)
    path = SnapshotStore(data_dir / "snapshots", keep=keep).write(
        engine.last_seq, engine.last_ts, payload)
    seconds = time.perf_counter() - started
    result = {"path": str(path), "seq": engine.last_seq, "ts_ns": engine.last_ts,
              "time": utc(engine.last_ts), "size_bytes": path.stat().st_size,
              "write_seconds": seconds, "recovery_seconds": info.seconds,
              "state_hash": engine.state_hash()}
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title="snapshot written", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("path", str(path))
    table.add_row("seq", f"{engine.last_seq:,}")
    table.add_row("time (UTC)", utc(engine.last_ts))
    table.add_row("size", f"{result['size_bytes']:,} bytes")
    table.add_row("encode + write", f"{seconds:.3f} s")
    table.add_row("recovery", f"snapshot {info.snapshot_seq:,} + {info.replayed:,} records in "
                              f"{info.seconds:.2f} s")
    table.add_row("state hash", result["state_hash"])
    console.print(table)


@snapshot_app.command("list")
def snapshot_list(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: AsJson = False,
) -> None:
    """Snapshot files with their seq, time, size and whether they verify."""
    from matchbook.journal.snapshot import SnapshotStore

    infos = SnapshotStore(data_dir / "snapshots").list()
    newest_valid = max((s.seq for s in infos if s.valid), default=None)
    if as_json:
        typer.echo(json.dumps([{"seq": s.seq, "ts_ns": s.ts_ns,
                                "time": utc(s.ts_ns) if s.ts_ns is not None else None,
                                "size_bytes": s.size, "valid": s.valid, "problem": s.problem,
                                "path": str(s.path)} for s in infos]))
        return
    if not infos:
        console.print(f"no snapshots in {data_dir / 'snapshots'}")
        return
    table = Table(title=f"snapshots in {data_dir / 'snapshots'}")
    for col in ("seq", "time (UTC)", "size", "valid", ""):
        table.add_column(col, justify="right" if col in ("seq", "size") else "left")
    for s in infos:
        note = "recovery starts here" if s.seq == newest_valid else (s.problem or "")
        table.add_row(f"{s.seq:,}", utc(s.ts_ns, 3) if s.ts_ns is not None else "?",
                      f"{s.size:,}", "[green]yes[/green]" if s.valid else "[red]no[/red]", note)
    console.print(table)
