"""Access tokens, rate limits and login throttling.

Access tokens are short-lived HS256 JWTs (``sub`` = user id, ``role``, ``exp``,
``iat``, ``jti``); the signing secret is the server's (see ``Settings.secret``).
Refresh tokens are opaque and rotating (``matchbook.api.users``).

Rate limits are token buckets per user and per API key (and per client address for
anonymous calls, see ``matchbook.api.guard``): ``rate`` requests per second with a
``burst``; an exhausted bucket answers 429 with ``Retry-After``. Logins are throttled
per email and per client address, counting attempts as they start.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

import jwt

from matchbook.api.errors import ApiCode, ApiError

ALGORITHM = "HS256"
PRINCIPAL = "matchbook.principal"
"""The ASGI scope key under which ``matchbook.api.guard`` leaves the verified caller."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user by token, or a user through one of their API keys."""

    user_id: int
    role: str
    scopes: tuple[str, ...]  # a token carries every scope; a key only its own
    key_id: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Tokens:
    """Issues and verifies access tokens.

    A verified token is remembered (up to ``cache_size`` of them, the oldest forgotten
    first) with its principal and expiry, so that a client presenting the same token
    again costs a dictionary lookup and an expiry check instead of a signature check.
    """

    def __init__(self, secret: str, access_seconds: int, cache_size: int = 4096) -> None:
        self.secret = secret
        self.access_seconds = access_seconds
        self.cache_size = cache_size
        self._verified: dict[str, tuple[Principal, int]] = {}

    def issue(self, user_id: int, role: str, now: float | None = None) -> str:
        """A signed token that is valid for at least ``access_seconds`` from ``now``.

        ``exp`` has a one-second resolution, so it is rounded up, never down: a token
        issued at 100.9 with a 60 s lifetime expires at 161, not at 160."""
        now = time.time() if now is None else now
        claims = {"sub": str(user_id), "role": role, "iat": int(now),
                  "exp": math.ceil(now + self.access_seconds), "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        """Raises ``ApiError`` 401 for an expired, tampered or malformed token. O(1) for a
        token verified before."""
        return self.verify_until(token)[0]

    def verify_until(self, token: str) -> tuple[Principal, int]:
        """``verify``, with the token's expiry (``exp``, seconds since the epoch)."""
        known = self._verified.get(token)
        if known is None:
            return self._verify_signed(token)
        if known[1] <= time.time():
            del self._verified[token]
            raise ApiError(ApiCode.TOKEN_EXPIRED, "The access token has expired.")
        return known

    def _verify_signed(self, token: str) -> tuple[Principal, int]:
        try:
            claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM],
                                options={"require": ["sub", "exp", "iat"]})
        except jwt.ExpiredSignatureError:
            raise ApiError(ApiCode.TOKEN_EXPIRED, "The access token has expired.") from None
        except jwt.PyJWTError:
            raise ApiError(ApiCode.TOKEN_INVALID, "The access token is not valid.") from None
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError):
            raise ApiError(ApiCode.TOKEN_INVALID, "The access token is not valid.") from None
        role = claims.get("role") if claims.get("role") in ("user", "admin") else "user"
        principal = Principal(user_id, str(role), ("read", "trade", "withdraw"))
        verified = self._verified
        if len(verified) >= self.cache_size:
            del verified[next(iter(verified))]
        known = verified[token] = (principal, int(claims["exp"]))
        return known


class RateLimiter:
    """Token buckets keyed by any hashable; O(1) per check."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[object, tuple[float, float]] = {}
        self.rejected = 0

    def check(self, key: object, now: float | None = None) -> None:
        """Spend one token or raise ``ApiError`` 429 with ``Retry-After``."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            self.rejected += 1
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            raise ApiError(ApiCode.RATE_LIMITED, "Too many requests; slow down.",
                           headers={"Retry-After": str(wait)})
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:  # forget idle buckets (they are full anyway)
            horizon = now - self.burst / self.rate
            self._buckets = {k: v for k, v in self._buckets.items() if v[1] > horizon}


class LoginThrottle:
    """At most ``max_failures`` sign-in attempts for an email (or from an address) that
    have not succeeded within the lockout window; further attempts are refused until the
    window has passed.

    An attempt counts from the moment it starts, before the password is checked (which
    awaits a hash in a worker thread): ``attempt`` checks and records in one step with
    no ``await`` between, so concurrent attempts cannot all pass the check before any of
    them is recorded. A success clears the count of its keys.
    """

    def __init__(self, max_failures: int, lockout_seconds: int) -> None:
        self.max_failures = max_failures
        self.lockout = lockout_seconds
        self._attempts: dict[str, list[float]] = {}

    def attempt(self, *keys: str) -> None:
        """Record an attempt under every key, or raise ``ApiError`` 429 with
        ``Retry-After`` (recording nothing) if any key has used up its attempts."""
        now = time.monotonic()
        recent_by_key = []
        for key in keys:
            recent = [t for t in self._attempts.get(key, ()) if now - t < self.lockout]
            if len(recent) >= self.max_failures:
                self._attempts[key] = recent
                wait = int(self.lockout - (now - recent[0])) + 1
                raise ApiError(ApiCode.LOGIN_THROTTLED,
                               "Too many failed sign-in attempts; try again later.",
                               headers={"Retry-After": str(wait)})
            recent_by_key.append((key, recent))
        for key, recent in recent_by_key:
            recent.append(now)
            self._attempts[key] = recent
        if len(self._attempts) > 100_000:  # forget keys whose attempts have all aged out
            self._attempts = {k: v for k, v in self._attempts.items()
                              if v and now - v[-1] < self.lockout}

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._attempts.pop(key, None)
