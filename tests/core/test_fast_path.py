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


class _Int(int):
    """An int that is not exactly ``int``: the compiled short path hands it over."""

def _edge_orders() -> list[PlaceOrder]:
    """Orders whose fields are ints of unusual kinds or sizes: the compiled short path
    reads its numbers as C integers only when they are exact ints in range, and tests
    the optional fields by identity, so each of these goes down one path or the other,
    and the answer must not depend on which."""
    def order(**fields: object) -> PlaceOrder:
        base: dict[str, object] = {"user_id": 1, "symbol": "BTC-USD", "side": 1,
                                   "order_type": 1, "qty_lots": 3, "price_ticks": 5_000_000,
                                   "tif": 1}
        base.update(fields)
        return PlaceOrder(**base)  # type: ignore[arg-type]

    return [
        order(), order(side=2, user_id=2, price_ticks=5_000_100),
        order(qty_lots=True), order(qty_lots=_Int(4)), order(price_ticks=_Int(5_000_000)),
        order(side=True), order(side=_Int(2), user_id=2, price_ticks=5_000_200),
        order(tif=True), order(stp=True), order(order_type=True),
        order(user_id=True), order(user_id=_Int(2), side=2, price_ticks=5_000_300),
        order(user_id=2**65), order(user_id=0), order(user_id=-1),
        order(qty_lots=2**64), order(qty_lots=10**15), order(qty_lots=10**15 - 1),
        order(price_ticks=2**70), order(price_ticks=10**15), order(price_ticks=-1),
        order(side=2**66), order(tif=-(2**66)), order(stp=17),
        order(stop_price_ticks=False), order(display_lots=False), order(post_only=0),
        order(expire_ts_ns=_Int(0)), order(quote_amount_minor=False),
        order(order_type=2, price_ticks=0),
        order(order_type=2, price_ticks=False, side=2, user_id=2),
        order(order_type=2, price_ticks=0, qty_lots=_Int(2)),
        order(display_lots=1, qty_lots=5), order(post_only=True, price_ticks=4_999_000),
        order(client_order_id="a"), order(qty_lots=0),
    ]


@pytest.mark.parametrize("accounts", [True, False])
def test_edge_values_get_the_same_answer_on_both_paths(accounts: bool) -> None:
    from matchbook.core import Deposit

    engines = [Engine(MARKETS, accounts=accounts), FullPipeline(MARKETS, accounts=accounts)]
    setup: list[Command] = [Deposit(asset, 10**14, user_id=uid)
                            for uid in (1, 2) for asset in ("USD", "BTC")]
    for seq, command in enumerate(setup + _edge_orders(), 1):
        fast, full = (e.apply(seq, seq, command) for e in engines)
        assert fast == full, (command, fast, full)
    # the state itself (an int subclass stored in an order has no canonical encoding)
    assert engines[0].snapshot() == engines[1].snapshot()
