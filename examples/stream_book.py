"""Keep a local copy of an order book from the WebSocket and print its top levels.

    matchbook serve --demo
    python examples/stream_book.py --symbol BTC-USD --seconds 30

The stream checks every delta's update id; after a gap, a resync or a reconnect it
resubscribes with ``since`` and carries on, so the local book always equals the
server's (compare with ``GET /api/v1/depth``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

from matchbook.client import (
    AsyncClient,
    BookDelta,
    BookSnapshot,
    MatchbookError,
    StreamStatus,
    Trade,
)


async def run(url: str, symbol: str, seconds: float, levels: int) -> None:
    async with AsyncClient(url) as client, client.stream() as stream:
        await stream.subscribe("book", symbol)
        await stream.subscribe("trades", symbol)
        book = stream.book(symbol)
        printed = 0.0
        # a quiet book sends nothing for a while: the time limit must not wait for a message
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for message in stream:
                    if isinstance(message, Trade):
                        print(f"  trade {message.side:4} {message.quantity} @ {message.price}")
                    elif isinstance(message, StreamStatus):
                        print(f"  [{message.status}] {message.reason}")
                    elif isinstance(message, BookSnapshot | BookDelta) and (
                            time.monotonic() - printed > 1.0):
                        printed = time.monotonic()
                        print(f"{symbol} update {book.update_id}  spread {book.spread}")
                        for (bid_px, bid_qty), (ask_px, ask_qty) in zip(
                                book.bids(levels), book.asks(levels), strict=False):
                            print(f"  {bid_qty:>12} {bid_px:>12} | {ask_px:<12} {ask_qty:<12}")
        depth = await client.depth(symbol, limit=1000)
        same = (depth.bids, depth.asks) == (book.bids(), book.asks())
        print(f"local book at {book.update_id}, server at {depth.last_update_id}: "
              f"{'identical' if same else 'moved on since'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--symbol", default="BTC-USD")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--levels", type=int, default=5)
    args = parser.parse_args()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(args.url, args.symbol, args.seconds, args.levels))
    except MatchbookError as exc:  # no server, an unknown symbol ...
        raise SystemExit(f"error: {exc.message}"
                         + (f" (code {exc.code})" if exc.code else "")) from None


if __name__ == "__main__":
    main()
