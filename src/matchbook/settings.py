"""Server settings: defaults, then a TOML file, then ``MATCHBOOK_*`` environment variables.

The data directory holds the journal, the snapshots, the SQLite read model and the
token signing secret (created on first run with mode 0600 unless configured).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Literal, get_args

from matchbook.journal.segments import DurabilityMode

JournalWrites = Literal["auto", "loop", "thread"]
"""Where the sequencer writes each batch (``matchbook.runtime.sequencer``)."""
JOURNAL_WRITES: Final[tuple[str, ...]] = get_args(JournalWrites)


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""  # "" = SQLite in the data directory
    markets_file: str = ""  # "" = the shipped markets.toml
    journal_mode: str = "fsync"
    # where the sequencer writes each batch: "auto" (on the event loop while writes are
    # quick, else on a thread of its own), "loop" or "thread" (matchbook.runtime.sequencer)
    journal_writes: JournalWrites = "auto"
    snapshot_every_commands: int = 1_000_000
    snapshot_every_seconds: float = 3600.0
    queue_size: int = 10_000
    max_batch: int = 1024
    # the SQL projector writes a steady stream at most this often (one transaction each)
    projector_interval_seconds: float = 0.1
    # where the SQL projector runs: "process" (a process of its own following the journal
    # files) or "thread" (in the server's process, fed by the sequencer); journal mode
    # "none" and an in-memory database always use "thread"
    projector: str = "process"
    jwt_secret: str = ""  # "" = generated and kept in data_dir/jwt-secret
    access_token_seconds: int = 900
    refresh_token_seconds: int = 14 * 86_400
    rate_limit_per_second: float = 200.0  # per user and per API key
    rate_limit_burst: int = 400
    login_max_failures: int = 5
    login_lockout_seconds: int = 300
    cors_origins: tuple[str, ...] = ("http://localhost:5173", "http://127.0.0.1:5173")
    # limits checked before a request is parsed (see matchbook.api.guard)
    max_body_bytes: int = 64 * 1024
    max_admin_body_bytes: int = 1024 * 1024
    max_url_bytes: int = 8 * 1024
    max_header_bytes: int = 16 * 1024
    body_timeout_seconds: float = 10.0
    anon_rate_per_second: float = 50.0  # per client address, requests without credentials
    anon_rate_burst: int = 200
    signup_per_hour: float = 20.0  # per client address
    signup_burst: int = 5
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For counts
    ws_max_message_bytes: int = 64 * 1024
    log_json: bool = False
    demo: bool = False
    ws_queue_size: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Defaults < ``config_file`` ([server] table) < ``MATCHBOOK_*`` env < overrides."""
        values: dict[str, Any] = {}
        path = config_file or os.environ.get("MATCHBOOK_CONFIG")
        if path:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            values.update(data.get("server", data))
        known = {f.name: f for f in fields(cls)}
        for name in known:
            env = os.environ.get(f"MATCHBOOK_{name.upper()}")
            if env is not None:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls()
        converted: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                continue
            default = getattr(settings, name)
            converted[name] = _convert(value, default)
        return replace(settings, **converted)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting whose value is not one of its
        choices (before anything is started with them)."""
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")

    def secret(self) -> str:
        """The token signing secret: configured, or created once in the data directory."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt-secret"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        return value


_CHOICES: dict[str, tuple[str, ...]] = {
    "journal_mode": get_args(DurabilityMode),
    "journal_writes": JOURNAL_WRITES,
    "projector": ("process", "thread"),
}


def _convert(value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    if isinstance(default, Path):
        return Path(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, tuple):
        return tuple(value) if isinstance(value, list | tuple) else tuple(
            v.strip() for v in str(value).split(",") if v.strip())
    return value
