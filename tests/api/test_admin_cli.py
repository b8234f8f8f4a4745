"""``matchbook admin create-user``: an operator account in the store of a data directory,
with or without a running server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matchbook.api.users import user_store
from matchbook.cli import app

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run

PASSWORD = "correct horse battery"


def _create(data_dir: Path, *extra: str, password: str = PASSWORD) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["admin", "create-user", "--email", "ops@cli.test",
                                      "--password", password, "--data-dir", str(data_dir),
                                      *extra])
    return result.exit_code, result.output


def test_create_user_then_promote_and_refuse_another_password(tmp_path: Path) -> None:
    assert _create(tmp_path) == (0, "created user ops@cli.test with user_id 1\n")
    assert _create(tmp_path, "--admin") == (0, "ops@cli.test (user_id 1) is now admin\n")
    code, output = _create(tmp_path, password="another password entirely")
    assert code != 0 and "another password" in output

    async def role() -> str | None:
        async with user_store(f"sqlite+aiosqlite:///{tmp_path / 'matchbook.db'}") as users:
            user = await users.authenticate("ops@cli.test", PASSWORD)
            return None if user is None else user.role

    assert asyncio.run(role()) == "admin"
