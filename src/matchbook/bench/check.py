"""The correctness check that ends a server benchmark run.

A throughput figure counts only if the exchange did the right thing under the load.
After the load stops, the bench reads, over the API, every trader's balances and the
book (:func:`observed_state`); then it stops the server and computes what they must
be, independently of the server's runtime (:func:`expected_state`): the journal read
record by record and applied to a fresh ``Engine``. :func:`discrepancies` compares
them and also checks what the load generators saw themselves:

* every trader's available and held balance, per asset, equals the replay's;
* the book's price levels (price and quantity) equal the replay's open orders;
* the orders the generators saw accepted are exactly the accepted orders in the
  journal, and the quantity their acknowledgements reported filled (each trade has
  one taker, whose acknowledgement reports it) is the traded quantity of the journal;
* money is conserved: per asset, the traders' balances plus the fees collected equal
  what the bench deposited.

Any difference is one line of the returned list; an empty list is a pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from matchbook.core import Engine, Markets
from matchbook.core.commands import BUY, PlaceOrder
from matchbook.core.events import OrderAccepted, TradeExecuted

State = dict[str, Any]
"""``{"balances": {user_id: {asset: [available, held]}}, "bids": [[price, qty]],
"asks": [[price, qty]]}`` with every amount a decimal string, plus, for the expected
state, ``"accepted"`` (orders), ``"traded"`` (base quantity) and ``"fees"`` (per asset)."""


def replay(journal_dir: Path, markets: Markets, accounts: bool = True) -> tuple[Engine, dict[
        str, Any]]:
    """A fresh engine that applied every journal record in order, and what the records
    did: ``{"accepted": {user_id: orders accepted}, "traded_lots": {symbol: lots}}``."""
    from matchbook.journal.codec import decode_command
    from matchbook.journal.segments import iter_records

    engine = Engine(markets, accounts=accounts)
    accepted: dict[int, int] = defaultdict(int)
    traded: dict[str, int] = defaultdict(int)
    apply = engine.apply
    for seq, ts_ns, payload in iter_records(journal_dir):
        command = decode_command(payload)
        events = apply(seq, ts_ns, command)
        if type(command) is PlaceOrder:
            for event in events:
                t = type(event)
                if t is OrderAccepted:
                    accepted[event.user_id] += 1
                elif t is TradeExecuted:
                    traded[event.symbol] += event.qty_lots
    return engine, {"accepted": dict(accepted), "traded_lots": dict(traded)}


def expected_state(journal_dir: Path, markets: Markets, user_ids: Iterable[int],
                   symbol: str) -> State:
    """What the book and the traders' balances must be after the journal in
    ``journal_dir`` (see the module doc)."""
    engine, did = replay(journal_dir, markets)
    users = list(user_ids)
    sym = markets.symbols[symbol]
    levels: dict[tuple[int, int], int] = defaultdict(int)
    for order in engine.orders.values():
        if order.symbol == symbol and not order.stop_price:
            levels[(order.side, order.price)] += order.visible
    bids = sorted(((p, q) for (s, p), q in levels.items() if s == BUY and q), reverse=True)
    asks = sorted((p, q) for (s, p), q in levels.items() if s != BUY and q)
    return {
        "balances": {str(uid): {code: [asset.format(v) for v in engine.balance(uid, code)]
                                for code, asset in markets.assets.items()} for uid in users},
        "bids": [[sym.format_price(p), sym.format_qty(q)] for p, q in bids],
        "asks": [[sym.format_price(p), sym.format_qty(q)] for p, q in asks],
        "accepted": sum(did["accepted"].get(uid, 0) for uid in users),
        "traded": sym.format_qty(did["traded_lots"].get(symbol, 0)),
        "fees": {code: asset.format(engine.fee_balances[code])
                 for code, asset in markets.assets.items()},
        "asset_totals_zero": all(v == 0 for v in engine.asset_totals().values()),
    }


def _same(a: str, b: str) -> bool:
    return Decimal(a) == Decimal(b)


def discrepancies(observed: Mapping[str, Any], expected: Mapping[str, Any], *,
                  accepted: int, filled: str, deposited: Mapping[str, str],
                  unanswered: int = 0) -> list[str]:
    """Every way ``observed`` (read over the API) and the generators' own counts
    (``accepted`` orders, ``filled`` base quantity) differ from ``expected`` (the replay),
    and every asset whose traders' totals plus fees differ from ``deposited``.

    ``unanswered`` orders were sent but their answers never read (a saturated open
    loop gave up on them): the journal may hold up to that many accepted orders more
    than the generators saw, and their fills are unknown, so the filled quantity is not
    compared."""
    problems: list[str] = []
    seen, want = observed["balances"], expected["balances"]
    for uid in sorted(set(seen) | set(want), key=str):
        if uid not in seen or uid not in want:
            problems.append(f"user {uid}: balances {'not read' if uid not in seen else 'unknown'}")
            continue
        for asset in sorted(set(seen[uid]) | set(want[uid])):
            got, ought = seen[uid].get(asset), want[uid].get(asset)
            if got is None or ought is None or not all(
                    _same(g, o) for g, o in zip(got, ought, strict=True)):
                problems.append(f"user {uid} {asset}: the server says {got} (available, held),"
                                f" the journal's replay {ought}")
    for side in ("bids", "asks"):
        got, ought = observed[side], expected[side]
        if len(got) != len(ought) or not all(
                _same(g[0], o[0]) and _same(g[1], o[1]) for g, o in zip(got, ought, strict=False)):
            problems.append(f"book {side}: the server shows {got[:5]}, the replay {ought[:5]}")
    if not accepted <= expected["accepted"] <= accepted + unanswered:
        problems.append(f"the load generators saw {accepted:,} orders accepted"
                        f"{f' ({unanswered:,} unanswered)' if unanswered else ''}, the journal "
                        f"holds {expected['accepted']:,}")
    if not unanswered and not _same(filled, expected["traded"]):
        problems.append(f"the acknowledgements reported {filled} filled, the journal's trades "
                        f"{expected['traded']}")
    if not expected.get("asset_totals_zero", True):
        problems.append("the replay's engine does not net every asset to zero")
    for asset, amount in deposited.items():
        total = sum((Decimal(v) for balances in seen.values()
                     for v in balances.get(asset, ["0", "0"])), Decimal(0))
        total += Decimal(expected["fees"].get(asset, "0"))
        if total != Decimal(amount):
            problems.append(f"{asset}: the traders hold {total} with the fees, the bench "
                            f"deposited {amount}")
    return problems
