"""``matchbook --version`` and the health endpoint say which build of the core runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from matchbook import build_info
from server import running_server

MATCHBOOK = [sys.executable, "-c", "from matchbook.cli import app; app()"]


def _version(pure: str) -> str:
    env = {**os.environ, "MATCHBOOK_PURE_PYTHON": pure}
    done = subprocess.run([*MATCHBOOK, "--version"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_version_names_the_build() -> None:
    assert _version("1").endswith(", core: pure Python (MATCHBOOK_PURE_PYTHON=1)")
    default = _version("")
    assert default.startswith("matchbook ")
    compiled = bool(build_info()["modules"])  # this tree has a compiled core
    assert default.endswith(
        "core: compiled (Cython " + str(build_info()["cython"]) + ")" if compiled
        else "core: pure Python")


@pytest.mark.slow
def test_the_health_endpoint_names_the_build(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        health = httpx.get(f"http://127.0.0.1:{server.port}/api/v1/health", timeout=30).json()
    assert health["status"] == "ok"
    assert health["core_build"] == build_info()["label"]
    assert health["core_build"].startswith(("compiled (Cython ", "pure Python"))
