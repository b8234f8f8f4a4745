"""What a finished P2P trade costs the core: Python heap bytes and snapshot bytes.

Runs ``trades`` complete trades (take, mark paid, release) on sell ads of ``per_ad``
takes each, between ``users`` users, on a fresh engine with the shipped markets, and
prints per finished trade (and its share of the ad it was taken from) the growth of
the traced heap (``tracemalloc``, after a full collection) and of the snapshot
(``encode_snapshot``). Deterministic: the counts do not depend on the machine's load.

    .venv/bin/python bench/p2p_memory.py --trades 20000
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

from matchbook.config import default_markets
from matchbook.core import Deposit, Engine
from matchbook.core.commands import (
    AddPaymentMethod,
    MarkPaid,
    P2PSide,
    PostAd,
    ReleaseEscrow,
    TakeAd,
    TradeState,
)
from matchbook.core.events import AdPosted, P2PTradeOpened
from matchbook.journal.codec import encode_snapshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=20_000)
    parser.add_argument("--per-ad", type=int, default=10)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()
    markets = default_markets()
    engine = Engine(markets)
    seq = 0
    ts = 1_700_000_000 * 10**9

    def apply(command: object) -> list[object]:
        nonlocal seq, ts
        seq += 1
        ts += 10**9
        return list(engine.apply(seq, ts, command))

    btc = markets.assets["BTC"]
    users = range(1, args.users + 1)
    for user in users:
        apply(Deposit("BTC", btc.to_minor("1000000"), user_id=user))
        apply(AddPaymentMethod(user, "SEPA", f"DE89 3704 0044 0532 {user:04d}"))

    take_qty = btc.to_minor("0.01")

    def run(count: int, first: int) -> None:
        done = 0
        ad_id = 0
        while done < count:
            n = first + done
            maker = users[n % len(users)]
            if done % args.per_ad == 0:
                qty = take_qty * args.per_ad
                events = apply(PostAd(maker, P2PSide.SELL, "BTC", "USD", 5_000_000, 0, "",
                                      qty, take_qty, take_qty, (maker,), 900,
                                      "Bank transfer only, reference the trade id."))
                ad_id = next(e.ad_id for e in events if isinstance(e, AdPosted))
            buyer = users[(n + 1) % len(users)]
            events = apply(TakeAd(buyer, ad_id, take_qty, 0))
            tid = next(e.trade_id for e in events if isinstance(e, P2PTradeOpened))
            apply(MarkPaid(buyer, tid, TradeState.PENDING_PAYMENT))
            seller = engine.p2p.ads[ad_id].user_id
            apply(ReleaseEscrow(seller, tid, TradeState.PAID))
            done += 1

    run(args.per_ad * 10, 0)  # warm up: dicts and interned strings past their first sizes
    gc.collect()
    tracemalloc.start()
    heap_before = tracemalloc.get_traced_memory()[0]
    snap_before = len(encode_snapshot(engine))
    run(args.trades, args.per_ad * 10)
    gc.collect()
    heap_after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    snap_after = len(encode_snapshot(engine))
    trades = len(engine.p2p.trades)
    assert all(t.state == TradeState.COMPLETED for t in engine.p2p.trades.values())
    print(f"finished trades: {trades} (measured {args.trades}, {args.per_ad} per ad)")
    print(f"heap per finished trade (incl. 1/{args.per_ad} ad): "
          f"{(heap_after - heap_before) / args.trades:.0f} bytes")
    print(f"snapshot per finished trade (incl. 1/{args.per_ad} ad): "
          f"{(snap_after - snap_before) / args.trades:.0f} bytes")


if __name__ == "__main__":
    main()
