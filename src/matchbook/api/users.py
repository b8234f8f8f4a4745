"""Users, refresh tokens and API keys, kept in the SQL store.

Passwords are argon2id hashes. Refresh tokens rotate: each use revokes the presented
token and issues a new one; presenting a revoked token revokes the whole family (a
stolen token cannot outlive the legitimate user's next refresh). API keys are random
secrets shown once; only their SHA-256 is stored (they are long and random, so a slow
hash adds nothing), with their scopes.

The core knows only user ids; this module owns everything else about a user.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.api.auth import Principal
from matchbook.store.users_schema import api_keys, refresh_tokens, users

SCOPES = ("read", "trade", "withdraw")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("an unguessable placeholder password")


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    email: str
    role: str
    created_ns: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: int
    user_id: int
    scopes: tuple[str, ...]
    label: str
    created_ns: int


class EmailTaken(Exception):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (a dummy hash is checked instead)."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _api_key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(row.key_id, row.user_id, tuple(s for s in row.scopes.split(",") if s),
                  row.label, row.created_ns)


class UserStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.db = engine

    async def create_user(self, email: str, password: str, role: str = "user") -> User:
        email = email.strip().lower()
        now = time.time_ns()
        # argon2 costs a good part of a second: off the event loop, which runs the exchange
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self.db.begin() as conn:
            exists = await conn.scalar(sa.select(users.c.user_id).where(users.c.email == email))
            if exists is not None:
                raise EmailTaken(email)
            result = await conn.execute(users.insert().values(
                email=email, password_hash=password_hash, role=role, created_ns=now))
            user_id = result.inserted_primary_key[0]  # type: ignore[index]
        return User(int(user_id), email, role, now)

    async def authenticate(self, email: str, password: str) -> User | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(sa.select(users).where(
                users.c.email == email.strip().lower()))).first()
        ok = await asyncio.to_thread(verify_password, row.password_hash if row else None, password)
        if not ok or row is None:
            return None
        return User(row.user_id, row.email, row.role, row.created_ns)

    async def get(self, user_id: int) -> User | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(sa.select(users).where(users.c.user_id == user_id))).first()
        return User(row.user_id, row.email, row.role, row.created_ns) if row else None

    async def list(self, limit: int = 100, offset: int = 0) -> list[User]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(sa.select(users).order_by(users.c.user_id)
                                       .limit(limit).offset(offset))).all()
        return [User(r.user_id, r.email, r.role, r.created_ns) for r in rows]

    async def set_role(self, user_id: int, role: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(users.update().where(users.c.user_id == user_id).values(role=role))

    # -- refresh tokens ------------------------------------------------------------------

    async def issue_refresh(self, user_id: int, ttl_seconds: int, family: str = "") -> str:
        token = secrets.token_urlsafe(32)
        now = time.time_ns()
        async with self.db.begin() as conn:
            await conn.execute(refresh_tokens.insert().values(
                token_hash=_digest(token), user_id=user_id, family=family or secrets.token_hex(8),
                expires_ns=now + ttl_seconds * 10**9, revoked=False, created_ns=now))
        return token

    async def rotate_refresh(self, token: str, ttl_seconds: int) -> tuple[int, str] | None:
        """Spend ``token`` and issue its successor: ``(user_id, new_token)``, or ``None``
        if it is unknown, expired or already spent (then its whole family is revoked)."""
        now = time.time_ns()
        async with self.db.begin() as conn:
            row = (await conn.execute(sa.select(refresh_tokens).where(
                refresh_tokens.c.token_hash == _digest(token)))).first()
            if row is None:
                return None
            if row.revoked or row.expires_ns <= now:
                await conn.execute(refresh_tokens.update().where(
                    refresh_tokens.c.family == row.family).values(revoked=True))
                return None
            await conn.execute(refresh_tokens.update().where(
                refresh_tokens.c.token_hash == row.token_hash).values(revoked=True))
        return row.user_id, await self.issue_refresh(row.user_id, ttl_seconds, row.family)

    # -- API keys ---------------------------------------------------------------------------

    async def create_api_key(self, user_id: int, scopes: tuple[str, ...],
                             label: str) -> tuple[ApiKey, str]:
        secret = "mbk_" + secrets.token_urlsafe(32)
        now = time.time_ns()
        async with self.db.begin() as conn:
            result = await conn.execute(api_keys.insert().values(
                user_id=user_id, key_hash=_digest(secret), scopes=",".join(scopes),
                label=label, created_ns=now, revoked=False))
            key_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return ApiKey(key_id, user_id, scopes, label, now), secret

    async def principal_for_key(self, secret: str) -> Principal | None:
        """Who calls with the live API key ``secret``: its holder with the holder's role
        (``"user"`` if the holder is gone) and the key's scopes, in one query; ``None``
        for an unknown or revoked key."""
        async with self.db.connect() as conn:
            row = (await conn.execute(
                sa.select(api_keys, users.c.role)
                .join(users, users.c.user_id == api_keys.c.user_id, isouter=True)
                .where(api_keys.c.key_hash == _digest(secret),
                       api_keys.c.revoked.is_(False)))).first()
        if row is None:
            return None
        key = _api_key(row)
        return Principal(key.user_id, row.role or "user", key.scopes, key.key_id)

    async def list_api_keys(self, user_id: int) -> builtins.list[ApiKey]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(sa.select(api_keys).where(
                api_keys.c.user_id == user_id, api_keys.c.revoked.is_(False))
                .order_by(api_keys.c.key_id))).all()
        return [_api_key(r) for r in rows]

    async def revoke_api_key(self, user_id: int, key_id: int) -> bool:
        async with self.db.begin() as conn:
            result = await conn.execute(api_keys.update().where(
                api_keys.c.key_id == key_id, api_keys.c.user_id == user_id,
                api_keys.c.revoked.is_(False)).values(revoked=True))
        return bool(result.rowcount)


@asynccontextmanager
async def user_store(url: str) -> AsyncIterator[UserStore]:
    """The users of the store at ``url``, its schema brought up to date first: for tools
    that work on a data directory before (or without) a running server."""
    from matchbook.store.db import create_engine
    from matchbook.store.migrate import upgrade_async

    await upgrade_async(url)
    db = create_engine(url)
    try:
        yield UserStore(db)
    finally:
        await db.dispose()


async def create_users(url: str, accounts: Iterable[tuple[str, str, str]]) -> list[User]:
    """Create users ``(email, password, role)`` in the store at ``url`` (see
    ``user_store``)."""
    async with user_store(url) as store:
        return [await store.create_user(email, password, role)
                for email, password, role in accounts]
