"""Access tokens: a verified token is remembered, yet still expires on time, and a token
that differs from a remembered one in any character is verified afresh."""

from __future__ import annotations

import time

import jwt
import pytest

from matchbook.api.auth import ALGORITHM, Principal, Tokens
from matchbook.api.errors import ApiCode, ApiError

SECRET = "a test secret, " + "x" * 40


def test_a_remembered_token_still_expires_on_time(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = Tokens(SECRET, access_seconds=60)
    now = time.time()
    token = tokens.issue(7, "admin", now=now)
    for _ in range(2):  # verified, then remembered
        assert tokens.verify(token) == Principal(7, "admin", ("read", "trade", "withdraw"))
    monkeypatch.setattr(time, "time", lambda: now + 61)
    with pytest.raises(ApiError) as refused:
        tokens.verify(token)
    assert refused.value.code == ApiCode.TOKEN_EXPIRED
    assert token not in tokens._verified


def test_a_token_lives_at_least_its_lifetime() -> None:
    tokens = Tokens(SECRET, access_seconds=60)
    for issued in (1_000_000.0, 1_000_000.1, 1_000_000.9):
        claims = jwt.decode(tokens.issue(7, "user", now=issued), SECRET, algorithms=[ALGORITHM],
                            options={"verify_exp": False})
        assert issued + 60 <= claims["exp"] < issued + 61 and claims["iat"] == 1_000_000


def test_a_token_unlike_any_remembered_one_is_verified_afresh() -> None:
    tokens = Tokens(SECRET, access_seconds=60)
    token = tokens.issue(7, "user")
    assert tokens.verify(token).user_id == 7
    header, payload, signature = token.split(".")
    for tampered in (f"{header}.{payload}.{signature[:-2]}AA", token + "x",
                     Tokens("another " + SECRET, 60).issue(7, "admin")):
        with pytest.raises(ApiError) as refused:
            tokens.verify(tampered)
        assert refused.value.code == ApiCode.TOKEN_INVALID


def test_the_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    tokens = Tokens(SECRET, access_seconds=60, cache_size=2)
    issued = [tokens.issue(user_id, "user") for user_id in (1, 2, 3)]
    assert [tokens.verify(token).user_id for token in issued] == [1, 2, 3]
    assert list(tokens._verified) == issued[1:]
    assert tokens.verify(issued[0]).user_id == 1  # forgotten, so verified by signature again
    assert list(tokens._verified) == [issued[2], issued[0]]
