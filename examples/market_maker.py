"""A tiny quoting bot: one bid and one ask around the mid, over the WebSocket.

    matchbook serve --demo
    python examples/market_maker.py --symbol ETH-USD --seconds 60

It follows the book (local copy), its own orders and its balances; every ``--interval``
seconds it re-quotes ``--spread-bps`` around the mid, skewed against its inventory, and
stops quoting a side when its position passes ``--max-position``. On exit it cancels
everything. Orders go over the socket (no HTTP round trip per order).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from matchbook.client import AsyncClient, Balances, MatchbookError, OrderUpdate, Stream


class Quoter:
    def __init__(self, stream: Stream, symbol: str, tick: Decimal, size: Decimal,
                 spread_bps: Decimal, max_position: Decimal, base: str) -> None:
        self.stream = stream
        self.symbol = symbol
        self.tick = tick
        self.size = size
        self.spread = spread_bps / Decimal(10_000)
        self.max_position = max_position
        self.base = base
        self.position = Decimal(0)  # base bought minus base sold since the start
        self.start_base: Decimal | None = None
        self.quotes: dict[str, str] = {}  # side -> order id
        self.fills = 0

    def on_message(self, message: object) -> None:
        if isinstance(message, Balances):
            for balance in message.balances:
                if balance.asset == self.base:
                    if self.start_base is None:
                        self.start_base = balance.total
                    self.position = balance.total - self.start_base
        elif isinstance(message, OrderUpdate) and message.order is not None:
            order = message.order
            if message.event == "filled" and message.fill is not None:
                self.fills += 1
                print(f"  filled {order.side} {message.fill.quantity} @ {message.fill.price}"
                      f"  (position {self.position:+f})")
            if not order.is_open and self.quotes.get(order.side) == order.order_id:
                del self.quotes[order.side]

    async def requote(self) -> None:
        mid = self.stream.book(self.symbol).mid
        if mid is None:
            return
        skew = -self.position / self.max_position * self.spread / 2 if self.max_position else 0
        targets = {
            "buy": (mid * (1 - self.spread / 2 + skew)).quantize(self.tick, ROUND_DOWN),
            "sell": (mid * (1 + self.spread / 2 + skew)).quantize(self.tick, ROUND_UP),
        }
        if self.position >= self.max_position:
            targets.pop("buy")
        if self.position <= -self.max_position:
            targets.pop("sell")
        for side in ("buy", "sell"):
            current = self.quotes.pop(side, None)
            if current is not None:
                with contextlib.suppress(MatchbookError):  # filled or gone meanwhile
                    await self.stream.cancel_order(current)
            if side in targets:
                try:
                    order = await self.stream.place_order(
                        self.symbol, side, self.size, targets[side], post_only=True)
                    if order.is_open:
                        self.quotes[side] = order.order_id
                except MatchbookError as exc:
                    print(f"  {side} quote refused: {exc.message}")
        print(f"{self.symbol} mid {mid:.2f} quotes "
              f"{targets.get('buy')} / {targets.get('sell')} position {self.position:+f}")


async def run(args: argparse.Namespace) -> None:
    async with AsyncClient(args.url, api_key=args.api_key) as client:
        if not args.api_key:
            await client.login(args.email, args.password)
        info = next((s for s in await client.symbols() if s.symbol == args.symbol), None)
        if info is None:
            raise MatchbookError(1001, f"Unknown symbol {args.symbol!r}.")
        async with client.stream() as stream:
            await stream.subscribe("book", args.symbol)
            await stream.subscribe("orders")
            await stream.subscribe("balances")
            await stream.wait_for(lambda: stream.book(args.symbol).ready)
            quoter = Quoter(stream, args.symbol, info.tick_size,
                            Decimal(args.size) if args.size else info.min_quantity * 10,
                            Decimal(args.spread_bps), Decimal(args.max_position), info.base)

            async def listen() -> None:
                async for message in stream:
                    quoter.on_message(message)

            listener = asyncio.create_task(listen())
            deadline = time.monotonic() + args.seconds
            try:
                while time.monotonic() < deadline:
                    await quoter.requote()
                    await asyncio.sleep(args.interval)
            finally:
                listener.cancel()
                done = await stream.cancel_all(args.symbol)
                print(f"cancelled {done.count} quotes; {quoter.fills} fills, "
                      f"position {quoter.position:+f} {info.base}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--email", default="bob@demo.matchbook")
    parser.add_argument("--password", default="bob-demo-pass")
    parser.add_argument("--api-key", help="an API key with the trade scope instead")
    parser.add_argument("--symbol", default="ETH-USD")
    parser.add_argument("--size", help="quote size (default: 10 x the minimum)")
    parser.add_argument("--spread-bps", default="20", help="total spread in basis points")
    parser.add_argument("--max-position", default="5", help="in the base asset")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(args))
    except MatchbookError as exc:  # no server, a wrong password, an unknown symbol ...
        raise SystemExit(f"error: {exc.message}"
                         + (f" (code {exc.code})" if exc.code else "")) from None


if __name__ == "__main__":
    main()
