"""A real Matchbook server on loopback, for tests that talk HTTP and WebSocket to it.

    from server import running_server

    def test_something(tmp_path):
        with running_server(tmp_path, ws_queue_size=50) as server:
            admin = server.make_admin()
            alice = server.make_user("alice@test.local")
            server.deposit(alice.user_id, "USD", "1000")
            httpx.get(server.base_url + "/api/v1/depth")

The server (``create_app`` under uvicorn) runs in a background thread with its own
event loop, on a port the OS picked, with its data in ``tmp_path / "data"`` (journal
mode ``os``, SQLite). ``server.call(coroutine_function)`` runs code on the server's
loop (the engine, the user store), so tests can set up state without going through
HTTP. Keyword arguments are ``Settings`` fields; unknown names go to
``Settings.extra``.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from matchbook.settings import Settings

T = TypeVar("T")
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Account:
    user_id: int
    email: str
    password: str
    token: str  # an access token
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class RunningServer:
    def __init__(self, settings: Settings, app: Any, server: uvicorn.Server,
                 loop: asyncio.AbstractEventLoop, port: int) -> None:
        self.settings = settings
        self.app = app
        self.server = server
        self.loop = loop
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"
        self._users = 0

    @property
    def state(self) -> Any:
        """The running ``ApiState`` (exchange, users, tokens, ws_hub ...)."""
        return self.app.state.api

    def call(self, function: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run ``await function()`` on the server's event loop and return its result."""

        async def run() -> T:
            return await function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def make_user(self, email: str | None = None, password: str = PASSWORD,
                  role: str = "user", *, login: bool = False) -> Account:
        """Create a user and give it tokens.

        By default the user row is written with a password hash computed once per test
        run and the tokens are issued directly (a password hash costs about half a
        second); ``login=True`` goes through ``UserStore.create_user`` (as ``matchbook
        admin create-user`` does) and ``POST /api/v1/auth/login`` instead.
        """
        self._users += 1
        email = email or f"user{self._users}-{time.time_ns()}@test.local"
        state = self.state
        if login:
            user = self.call(lambda: state.users.create_user(email, password, role))
            response = httpx.post(f"{self.base_url}/api/v1/auth/login",
                                  json={"email": email, "password": password}, timeout=30)
            response.raise_for_status()
            body = response.json()
            return Account(user.user_id, email, password, body["access_token"],
                           body["refresh_token"])

        async def create() -> tuple[int, str]:
            from matchbook.store.users_schema import users

            async with state.db.begin() as conn:
                result = await conn.execute(users.insert().values(
                    email=email, password_hash=password_hash(password), role=role,
                    created_ns=time.time_ns()))
                user_id = int(result.inserted_primary_key[0])
            refresh = await state.users.issue_refresh(user_id,
                                                      self.settings.refresh_token_seconds)
            return user_id, refresh

        user_id, refresh = self.call(create)
        return Account(user_id, email, password, state.tokens.issue(user_id, role), refresh)

    def make_admin(self, email: str | None = None, password: str = PASSWORD) -> Account:
        return self.make_user(email or f"admin{self._users + 1}-{time.time_ns()}@test.local",
                              password, role="admin")

    def funded(self, **amounts: str) -> Account:
        """A new user holding ``amounts`` (``USD="1000"``), deposited through the
        sequencer."""
        account = self.make_user()
        for asset, amount in amounts.items():
            self.deposit(account.user_id, asset, amount)
        return account

    def deposit(self, user_id: int, asset: str, amount: str) -> None:
        """Credit ``amount`` (a decimal string) of ``asset`` through the sequencer."""
        from matchbook.core import Deposit

        exchange = self.state.exchange
        minor = exchange.markets.assets[asset].to_minor(amount)
        self.call(lambda: exchange.submit(Deposit(asset, minor, user_id=user_id,
                                                  reference="test")))

    def submit(self, command: Any) -> Any:
        """Submit an engine command; returns its ``Result`` (seq, ts_ns, events)."""
        return self.call(lambda: self.state.exchange.submit(command))

    def submit_many(self, commands: list[Any]) -> list[Any]:
        """Submit ``commands`` all at once (the sequencer batches them), in order."""

        async def run() -> list[Any]:
            submit = self.state.exchange.submit
            return list(await asyncio.gather(*(submit(c) for c in commands)))

        return self.call(run)

    def submit_each(self, commands: list[Any]) -> list[Any]:
        """Submit ``commands`` one after the other (each in its own batch)."""

        async def run() -> list[Any]:
            submit = self.state.exchange.submit
            return [await submit(c) for c in commands]

        return self.call(run)


@functools.cache
def password_hash(password: str) -> str:
    from matchbook.api.users import hash_password

    return hash_password(password)


def make_settings(data_dir: Path, port: int, **overrides: Any) -> Settings:
    names = {f.name for f in fields(Settings)}
    extra = {k: v for k, v in overrides.items() if k not in names}
    known = {k: v for k, v in overrides.items() if k in names}
    values: dict[str, Any] = {"data_dir": data_dir, "host": "127.0.0.1", "port": port,
                              "journal_mode": "os", "jwt_secret": "test-secret-" + "x" * 40,
                              "snapshot_every_seconds": 1e9, "cors_origins": (),
                              # tests call public routes and sign up from one address
                              "anon_rate_per_second": 1e6, "anon_rate_burst": 10**6,
                              "signup_per_hour": 1e9, "signup_burst": 10**6}
    values.update(known)
    if extra:
        values["extra"] = {**values.get("extra", {}), **extra}
    return replace(Settings(), **values)


@contextmanager
def running_server(tmp_path: Path, *, startup_timeout: float = 30.0,
                   send_buffer: int | None = None, ws: Any = None,
                   **overrides: Any) -> Iterator[RunningServer]:
    """Start a server for the duration of the ``with`` block, with the options of
    ``matchbook serve`` (``ws`` replaces its WebSocket protocol).

    ``send_buffer`` sets the kernel send buffer of accepted connections (bytes), to make
    a client that stops reading back up quickly.
    """
    from matchbook.api.app import create_app
    from matchbook.api.server import uvicorn_options

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says TCP (proto 0 would leave Nagle on: 40 ms per response)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = make_settings(Path(tmp_path) / "data", port, **overrides)
    app = create_app(settings)
    options = uvicorn_options(settings)
    options.update(log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    if ws is not None:
        options["ws"] = ws
    config = uvicorn.Config(app, **options)
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced by the waiting test
            failure.append(exc)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name=f"matchbook-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError(f"the test server did not start: {failure or 'see the log'}")
        time.sleep(0.01)
    try:
        yield RunningServer(settings, app, server, loop, port)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """``check()``'s result once it stops raising ``AssertionError`` (the read model lags
    the engine by a few milliseconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)
