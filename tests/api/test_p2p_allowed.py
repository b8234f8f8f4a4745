"""``allowed_actions``: exactly the buttons that work, by state, role and the server's
clock (a deadline that has passed fires before the next command)."""

from __future__ import annotations

import pytest

from matchbook.api.p2p import P2PService
from matchbook.core.p2p import Trade

S = 1_000_000_000
T0 = 1_900_000_000 * S
BUYER, SELLER, ADMIN, OTHER_ADMIN = 1, 2, 50, 51


def trade(state: int, *, opener: int = 0, proposal: tuple[int, int, str] | None = None
          ) -> Trade:
    return Trade(7, 3, SELLER, BUYER, SELLER, "BTC", "EUR", 10**7, 6_000_000, 600_000, 1,
                 "SEPA", "DE89", state, T0, T0 + 900 * S, paid_ns=T0 + 60 * S,
                 appeal_after_ns=T0 + 960 * S, escalate_at_ns=T0 + 86_460 * S,
                 dispute_opener=opener, proposal=proposal)


def allowed(t: Trade, role: str, viewer: int, now: int) -> list[str]:
    service = P2PService.__new__(P2PService)  # allowed() reads the trade and the clock only
    return list(service.allowed(t, role, viewer, now))


@pytest.mark.parametrize(("state", "role", "viewer", "now", "expected"), [
    (1, "buyer", BUYER, T0 + 10 * S, ["paid", "cancel"]),
    (1, "seller", SELLER, T0 + 10 * S, []),
    (1, "buyer", BUYER, T0 + 900 * S, []),  # pay_by passed: it expires first
    (2, "buyer", BUYER, T0 + 100 * S, ["cancel"]),
    (2, "seller", SELLER, T0 + 100 * S, ["release"]),
    (2, "buyer", BUYER, T0 + 960 * S, ["cancel", "dispute"]),
    (2, "seller", SELLER, T0 + 960 * S, ["release", "dispute"]),
    (2, "admin", ADMIN, T0 + 960 * S, []),
    (4, "buyer", BUYER, T0 + 960 * S, []),
    (5, "seller", SELLER, T0 + 960 * S, []),
    (6, "buyer", BUYER, T0 + 960 * S, []),
    (7, "admin", ADMIN, T0 + 960 * S, []),
])
def test_actions_by_state_role_and_time(state: int, role: str, viewer: int, now: int,
                                        expected: list[str]) -> None:
    assert allowed(trade(state), role, viewer, now) == expected


def test_a_dispute_allows_release_withdrawal_by_its_opener_and_resolution() -> None:
    disputed = trade(3, opener=BUYER)
    now = T0 + 1000 * S
    assert allowed(disputed, "buyer", BUYER, now) == ["withdraw-dispute"]
    assert allowed(disputed, "seller", SELLER, now) == ["release"]
    assert allowed(disputed, "admin", ADMIN, now) == ["resolve"]
    proposed = trade(3, opener=SELLER, proposal=(ADMIN, 2, "refund"))
    assert allowed(proposed, "admin", ADMIN, now) == []  # the second admin decides
    assert allowed(proposed, "admin", OTHER_ADMIN, now) == ["resolve"]
    assert allowed(proposed, "seller", SELLER, now) == ["release", "withdraw-dispute"]


def test_a_paid_trade_past_escalation_is_a_dispute_already() -> None:
    late = T0 + 86_460 * S
    assert allowed(trade(2), "seller", SELLER, late) == ["release"]
    assert allowed(trade(2), "buyer", BUYER, late) == []
