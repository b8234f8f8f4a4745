"""Place a limit order below the market, look at it, cancel it (the blocking client).

    matchbook serve --demo                 # in another terminal
    python examples/place_and_cancel.py    # signs in as the demo user alice
"""

from __future__ import annotations

import argparse
from decimal import Decimal

from matchbook.client import Client, MatchbookError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--email", default="alice@demo.matchbook")
    parser.add_argument("--password", default="alice-demo-pass")
    parser.add_argument("--api-key", help="use an API key instead of email and password")
    parser.add_argument("--symbol", default="BTC-USD")
    args = parser.parse_args()
    try:
        run(args)
    except MatchbookError as exc:  # no server, a wrong password, an unknown symbol ...
        raise SystemExit(f"error: {exc.message}"
                         + (f" (code {exc.code})" if exc.code else "")) from None


def run(args: argparse.Namespace) -> None:
    with Client(args.url, api_key=args.api_key) as mb:
        if not args.api_key:
            mb.login(args.email, args.password)
        book = mb.depth(args.symbol, limit=5)
        best_bid = book.bids[0][0] if book.bids else None
        info = next(s for s in mb.symbols() if s.symbol == book.symbol)
        # 2% under the best bid (or the last price), on the symbol's tick grid
        reference = best_bid or mb.ticker(args.symbol).last or Decimal(100)
        price = (reference * Decimal("0.98")).quantize(info.tick_size)
        print(f"{args.symbol}: best bid {best_bid}, best ask "
              f"{book.asks[0][0] if book.asks else None}")

        order = mb.place_order(args.symbol, "buy", info.min_quantity, price,
                               client_order_id="example-1")
        print(f"placed order {order.order_id}: {order.side} {order.quantity} @ "
              f"{order.price}, status {order.status}")
        print("open orders:", [o.order_id for o in mb.list_orders(symbol=args.symbol)])
        quote = mb.balance(info.quote)
        print(f"{info.quote}: available {quote.available}, held {quote.held}")

        cancelled = mb.cancel_order(order.order_id)
        print(f"cancelled {cancelled.cancelled_quantity} of order {cancelled.order_id}")
        quote = mb.balance(info.quote)
        print(f"{info.quote}: available {quote.available}, held {quote.held}")


if __name__ == "__main__":
    main()
