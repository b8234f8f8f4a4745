"""The ledger derived from events reproduces the engine's balances exactly."""

from __future__ import annotations

from matchbook.config import default_markets
from matchbook.core import (
    AdjustBalance,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    RejectWithdrawal,
    RequestWithdrawal,
    SetFeeTier,
    Transfer,
)
from matchbook.core.events import AddressCreated
from matchbook.core.ledger import balances, engine_balances, entries
from matchbook.demo import run_demo


def _ledger_of(engine_events: list[list[object]]) -> dict[tuple[str, str], int]:
    markets = default_markets()
    return balances(e for seq, evs in enumerate(engine_events, 1)
                    for e in entries(seq, evs, markets))  # type: ignore[arg-type]


def test_ledger_replays_to_the_engine_balances_after_a_trading_session() -> None:
    result = run_demo(commands=1500, seed=3)
    engine = result.engine
    markets = default_markets()
    # per command events are not kept by the demo: derive from the whole stream at once
    got = balances(entries(1, result.events, markets))
    want = engine_balances({u: (a.available, a.held) for u, a in engine.accounts.items()},
                           engine.fee_balances, engine.external_balances)
    assert got == want
    assert len(result.trades) > 100


def test_ledger_covers_wallet_operations_and_rebates() -> None:
    result = run_demo(commands=50, seed=5)
    engine = result.engine
    seq = engine.last_seq
    per_command: list[list[object]] = [list(result.events)]

    def apply(cmd: object) -> list[object]:
        nonlocal seq
        seq += 1
        out = engine.apply(seq, seq * 1_000_000, cmd)
        per_command.append(list(out))
        return list(out)

    created = apply(CreateAddress(2, "USD"))
    address = next(e for e in created if isinstance(e, AddressCreated)).address
    apply(Deposit("USD", 123_456, address=address, reference="tx-1"))
    apply(Transfer(1, address, "USD", 1_000_000))
    apply(RequestWithdrawal(3, "BTC", 5_000))
    apply(RequestWithdrawal(3, "BTC", 7_000))
    apply(CompleteWithdrawal(engine.next_wallet_op_id - 2))
    apply(RejectWithdrawal(engine.next_wallet_op_id - 1, "address check failed"))
    apply(AdjustBalance(4, "USD", -42, "correction"))
    apply(SetFeeTier(5, "vip"))
    engine._check()
    want = engine_balances({u: (a.available, a.held) for u, a in engine.accounts.items()},
                           engine.fee_balances, engine.external_balances)
    assert _ledger_of(per_command) == want
    # every asset nets to zero across all accounts
    for asset in default_markets().assets:
        assert sum(v for (_, a), v in want.items() if a == asset) == 0
