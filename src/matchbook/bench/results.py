"""One benchmark result file: what was measured, on what, and every figure.

The layout (``SCHEMA``), written by ``matchbook bench all --json OUT.json`` and by
``matchbook bench api --sustained --json``::

    {
      "schema": "matchbook-bench/1",
      "meta": {"commit", "dirty", "created", "cpu_model", "cores", "python",
               "platform", "load_average": {"start", "end"}, "quick", "command",
               "seconds"},
      "workload": {"seed", ...},
      "sections": {
        NAME: {"description", "workload", "figures": {FIGURE: number},
               "runs": {FIGURE: [number, ...]}, "check": {"passed", ...} | null,
               "detail": {...}, "seconds"}
      }
    }

``figures`` are flat numbers, one per name, so two files compare figure by figure
(``matchbook bench diff``); a figure measured more than once has the median in
``figures`` and every run in ``runs``, which gives its noise. Names carry the unit and
say which way is better: ``*_per_sec`` higher, ``*_ms``/``*_us``/``*_seconds``/
``*_per_order`` lower (:func:`direction`).
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMA = "matchbook-bench/1"

HIGHER_IS_BETTER = ("_per_sec",)
LOWER_IS_BETTER = ("_ms", "_us", "_seconds", "_per_order", "_per_resting_order",
                   "_per_command")


class ResultFileError(ValueError):
    """A result file that is not one (names the file and what is wrong)."""


def direction(figure: str) -> int:
    """+1 when a larger value is better, -1 when a smaller one is, 0 when neither
    (a count, a share)."""
    if figure.endswith(HIGHER_IS_BETTER):
        return 1
    if figure.endswith(LOWER_IS_BETTER):
        return -1
    return 0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(repo: Path | None = None) -> tuple[str, bool]:
    """The checkout's commit and whether it has uncommitted changes (``"unknown"`` and
    False outside a git checkout)."""
    where = repo or Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain",
                                 "--untracked-files=no"], check=True, capture_output=True,
                                text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status)


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def machine_meta(command: str = "", quick: bool = False) -> dict[str, Any]:
    """Commit, machine and interpreter, and the load average now (the start's)."""
    commit, dirty = git_commit()
    return {
        "commit": commit, "dirty": dirty,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(), "cores": os.cpu_count(),
        "python": sys.version.split()[0], "platform": platform.platform(),
        "load_average": {"start": load_average(), "end": []},
        "quick": quick, "command": command,
    }


def new_result(workload: Mapping[str, Any], command: str = "",
               quick: bool = False) -> dict[str, Any]:
    return {"schema": SCHEMA, "meta": machine_meta(command, quick), "workload": dict(workload),
            "sections": {}}


def section(description: str, workload: Mapping[str, Any], figures: Mapping[str, float],
            *, runs: Mapping[str, list[float]] | None = None,
            check: Mapping[str, Any] | None = None, detail: Any = None,
            seconds: float = 0.0) -> dict[str, Any]:
    """One section of a result file (see the module doc)."""
    return {"description": description, "workload": dict(workload),
            "figures": {k: v for k, v in figures.items() if isinstance(v, int | float)
                        and not isinstance(v, bool)},
            "runs": dict(runs or {}), "check": dict(check) if check is not None else None,
            "detail": detail, "seconds": round(seconds, 1)}


def finish(result: dict[str, Any], seconds: float) -> dict[str, Any]:
    result["meta"]["load_average"]["end"] = load_average()
    result["meta"]["seconds"] = round(seconds, 1)
    return result


def validate(data: Any, name: str = "result") -> dict[str, Any]:
    """``data`` if it is a result file; :class:`ResultFileError` naming what is wrong."""
    if not isinstance(data, dict):
        raise ResultFileError(f"{name}: not a JSON object")
    if data.get("schema") != SCHEMA:
        raise ResultFileError(f"{name}: schema is {data.get('schema')!r}, expected {SCHEMA!r}")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise ResultFileError(f"{name}: no meta object")
    for key in ("commit", "cpu_model", "cores", "python", "load_average", "created"):
        if key not in meta:
            raise ResultFileError(f"{name}: meta has no {key!r}")
    if not isinstance(data.get("workload"), dict):
        raise ResultFileError(f"{name}: no workload object")
    sections = data.get("sections")
    if not isinstance(sections, dict):
        raise ResultFileError(f"{name}: no sections object")
    for title, body in sections.items():
        if not isinstance(body, dict) or not isinstance(body.get("figures"), dict):
            raise ResultFileError(f"{name}: section {title!r} has no figures object")
        for figure, value in body["figures"].items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ResultFileError(f"{name}: section {title!r} figure {figure!r} is "
                                      f"{value!r}, not a number")
        runs = body.get("runs", {})
        if not isinstance(runs, dict) or not all(
                isinstance(v, list) and all(isinstance(x, int | float) for x in v)
                for v in runs.values()):
            raise ResultFileError(f"{name}: section {title!r} runs must be lists of numbers")
    return data


def load(path: Path) -> dict[str, Any]:
    """Read and validate a result file; :class:`ResultFileError` names the file."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultFileError(f"{path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path}: line {exc.lineno}: not JSON ({exc.msg})") from None
    return validate(data, str(path))


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
