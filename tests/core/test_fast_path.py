"""The everyday order's short path (``Engine._place``) and the full pipeline
(``Engine._place_any``) decide every order alike.

The short path hands any order it does not accept to the full pipeline, so a difference
could only come from an order it accepts: its events or its effect on the state. Here
the same streams run through the engine and through one that sends every order down
the full pipeline; after every command the events must be equal, and the state hash
at the end. The streams mix in what the short path checks on its own: halts of one
symbol and of all trading, suspended users, a low limit on open orders and position
limits, fee tiers.
"""

from __future__ import annotations

import random

import pytest

from matchbook.config import default_markets
from matchbook.core import Engine, PlaceOrder
from matchbook.core.commands import (
    Command,
    HaltTrading,
    ReinstateUser,
    ResumeTrading,
    SetFeeTier,
    SetRiskLimits,
    SuspendUser,
)
from matchbook.core.events import Event
from workload import Workload, engine_view

MARKETS = default_markets()


class FullPipeline(Engine):
    """Every order through ``_place_any``."""

    def _place(self, c: PlaceOrder, out: list[Event]) -> None:
        self._place_any(c, out)


def _operator_command(rng: random.Random, users: int) -> Command:
    symbol = rng.choice(("BTC-USD", "ETH-BTC"))
    tiers = sorted({t for s in MARKETS.symbols.values() for t in s.tier_fees}) or [""]
    return rng.choice((
        HaltTrading(symbol), ResumeTrading(symbol), HaltTrading(), ResumeTrading(),
        SuspendUser(rng.randint(1, users)), ReinstateUser(rng.randint(1, users)),
        SetRiskLimits(rng.choice((3, 8, 1000))),
        SetRiskLimits(1000, (("BTC", rng.choice((10**8, 10**9, 10**11))),)),
        SetRiskLimits(1000),
        SetFeeTier(rng.randint(1, users), rng.choice(tiers)),
    ))


@pytest.mark.parametrize("accounts", [True, False])
@pytest.mark.parametrize("seed", [5, 6])
@pytest.mark.slow
def test_the_short_path_and_the_full_pipeline_agree(seed: int, accounts: bool) -> None:
    users = 6
    fast, full = Engine(MARKETS, accounts=accounts), FullPipeline(MARKETS, accounts=accounts)
    workload = Workload(seed, MARKETS, users=users, accounts=accounts)
    rng = random.Random(seed)
    stream = workload.funding() if accounts else []
    for seq, ts, command in stream:
        assert fast.apply(seq, ts, command) == full.apply(seq, ts, command)
    for i in range(6000):
        if rng.random() < 0.02:
            seq, ts, command = workload._stamp(_operator_command(rng, users))
        else:
            seq, ts, command = workload.next_command(engine_view(fast))
        assert fast.apply(seq, ts, command) == full.apply(seq, ts, command), (i, command)
    assert fast.state_hash() == full.state_hash()
    fast._check()
