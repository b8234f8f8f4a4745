"""What the REST tests share: a real server on SQLite or PostgreSQL, a small client,
polling for the read model, and the shape of an error.

PostgreSQL is the server at 127.0.0.1:5432 (user ``postgres``, trust auth; set
``MATCHBOOK_TEST_PG`` to use another); each server gets a fresh database created from
``test`` and dropped afterwards. Tests on PostgreSQL are skipped when it is unreachable.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from server import Account, RunningServer, eventually, running_server

T = TypeVar("T")
BACKENDS = ("sqlite", "postgresql")
PG_SERVER = os.environ.get("MATCHBOOK_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
PG_ADMIN_DB = "test"


# -- databases ---------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/{PG_ADMIN_DB}", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@functools.cache
def pg_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or ``None`` when it can (asked once per process)."""
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {PG_SERVER} is unreachable: {exc}"
    return None


@contextmanager
def database(backend: str) -> Iterator[dict[str, Any]]:
    """Settings overrides for ``backend``: nothing for SQLite (the file in the data
    directory), a fresh ``database_url`` for PostgreSQL, dropped on exit."""
    if backend == "sqlite":
        yield {}
        return
    reason = pg_unreachable()
    if reason is not None:
        pytest.skip(reason)
    name = f"mb_rest_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = PG_SERVER.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
        yield {"database_url": url}
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def rest_server(backend: str, tmp_path: Path, **settings: Any) -> Iterator[RunningServer]:
    """A server on a port the OS picked, with its data in ``tmp_path``, on ``backend``."""
    with database(backend) as db, running_server(tmp_path, **db, **settings) as server:
        yield server


# -- a client ----------------------------------------------------------------------------


class Api:
    """``/api/v1`` of a running server as one caller: a token, an API key or nobody."""

    def __init__(self, server: RunningServer, account: Account | None = None, *,
                 token: str | None = None, api_key: str | None = None) -> None:
        headers = {}
        if account is not None:
            token = token or account.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if api_key:
            headers["X-API-Key"] = api_key
        self.server = server
        self.account = account
        self.http = httpx.Client(base_url=server.base_url + "/api/v1", headers=headers,
                                 timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 500 or response.status_code == 503, (
            f"{method} {path}: {response.status_code} {response.text}")
        assert "Traceback" not in response.text
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON of a 2xx answer (fails the test on anything else)."""
        response = self.request(method, path, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def place(self, side: str, price: str | None, quantity: str, symbol: str = "BTC-USD",
              **fields: Any) -> dict[str, Any]:
        body = {"symbol": symbol, "side": side, "quantity": quantity, **fields}
        if price is not None:
            body["price"] = price
        result: dict[str, Any] = self.ok("POST", "/orders", json=body)
        return result

    def balances(self) -> dict[str, tuple[str, str]]:
        """``{asset: (available, held)}``."""
        return {b["asset"]: (b["available"], b["held"]) for b in self.ok("GET", "/balances")}

    def close(self) -> None:
        self.http.close()


def funded(server: RunningServer, **amounts: str) -> Account:
    """A new user holding ``amounts`` (``USD="1000"``), deposited through the sequencer."""
    return server.funded(**amounts)


# -- checks ------------------------------------------------------------------------------


def assert_error(response: httpx.Response, status: int, code: int | None = None) -> dict[str, Any]:
    """``response`` is a structured error: ``status``, ``{"code": int, "message": str}``."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), int) and isinstance(body.get("message"), str), body
    assert body["message"] and "Traceback" not in response.text
    if code is not None:
        assert body["code"] == code, body
    return body


def caught_up(server: RunningServer, admin: Api) -> None:
    """Wait until the SQL read model holds every applied command."""

    def check() -> None:
        assert admin.ok("GET", "/admin/stats")["projector_lag"] == 0

    eventually(check)
