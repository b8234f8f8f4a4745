"""``matchbook serve`` and ``matchbook admin``: run the exchange, manage users."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import structlog
import typer

from matchbook.settings import Settings

admin_app = typer.Typer(help="Operator commands (work whether or not the server runs).")


def configure_logging(json_logs: bool) -> None:
    """Structured logs: JSON lines in production, readable in a terminal."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    shared: list[structlog.typing.Processor] = [
        structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True)]
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=shared)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory())


def serve(
    data_dir: Annotated[Path | None, typer.Option(help="Journal, snapshots, SQLite.")] = None,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    demo: Annotated[bool, typer.Option(help="Demo users and a market-making bot.")] = False,
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
    journal_mode: Annotated[str | None, typer.Option(help="fsync, os or none.")] = None,
    journal_writes: Annotated[str | None, typer.Option(
        help="Where batches are written: auto, loop or thread.")] = None,
    json_logs: Annotated[bool | None, typer.Option("--json-logs/--text-logs")] = None,
) -> None:
    """Run the exchange: REST /api/v1, WebSocket /ws, /docs, /metrics."""
    import uvicorn

    from matchbook.api.app import create_app
    from matchbook.api.server import uvicorn_options

    settings = Settings.load(config, data_dir=data_dir, host=host, port=port,
                             demo=demo or None, journal_mode=journal_mode,
                             journal_writes=journal_writes, log_json=json_logs)
    try:
        settings.check()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_json)
    app = create_app(settings)
    typer.echo(f"Matchbook on http://{settings.host}:{settings.port}  (API docs: /docs, "
               f"data: {settings.data_dir}{', demo market' if settings.demo else ''})")
    uvicorn.run(app, host=settings.host, port=settings.port, **uvicorn_options(settings))


@admin_app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option()],
    admin: Annotated[bool, typer.Option("--admin/--user")] = False,
    data_dir: Annotated[Path | None, typer.Option()] = None,
    config: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Create a user (``--admin`` for an administrator); promotes an existing one."""
    from matchbook.api.users import EmailTaken, user_store
    from matchbook.store.db import database_url

    settings = Settings.load(config, data_dir=data_dir)
    url = settings.database_url or database_url(settings.data_dir)
    role = "admin" if admin else "user"

    async def run() -> str:
        async with user_store(url) as users:
            try:
                user = await users.create_user(email, password, role)
                return f"created {role} {user.email} with user_id {user.user_id}"
            except EmailTaken:
                existing = await users.authenticate(email, password)
                if existing is None:
                    raise typer.BadParameter("that email exists with another password") from None
                await users.set_role(existing.user_id, role)
                return f"{existing.email} (user_id {existing.user_id}) is now {role}"

    typer.echo(asyncio.run(run()))


db_app = typer.Typer(help="The SQL read model (SQLite by default, PostgreSQL by URL).")


@db_app.command("migrate")
def db_migrate(
    data_dir: Annotated[Path | None, typer.Option()] = None,
    config: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Bring the database schema to the newest migration."""
    from matchbook.store.db import database_url
    from matchbook.store.migrate import upgrade

    settings = Settings.load(config, data_dir=data_dir)
    url = settings.database_url or database_url(settings.data_dir)
    upgrade(url)
    typer.echo(f"migrated {url.split('@')[-1]}")


@db_app.command("rebuild")
def db_rebuild(
    data_dir: Annotated[Path | None, typer.Option()] = None,
    config: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Drop and rebuild the read model (orders, trades, ledger, balances, audit) from the
    journal. Users and API keys are kept. Stop the server first."""
    from rich.progress import Progress

    from matchbook.config import read_config
    from matchbook.core import load_markets
    from matchbook.store.db import database_url
    from matchbook.store.projector import rebuild

    settings = Settings.load(config, data_dir=data_dir)
    url = settings.database_url or database_url(settings.data_dir)
    markets = load_markets(read_config(settings.markets_file or None))
    with Progress() as progress:
        task = progress.add_task("projecting the journal", total=None)
        stats = asyncio.run(rebuild(settings.data_dir, markets, url,
                                    progress=lambda n: progress.update(task, completed=n)))
    typer.echo(f"rebuilt to seq {stats.last_seq}: {stats.commands:,} commands, "
               f"{stats.rows:,} rows in {stats.busy_seconds:.1f} s "
               f"({stats.rows_per_second:,.0f} rows/s)")
