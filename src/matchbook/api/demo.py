"""``serve --demo``: demo users with balances and a small market-making bot.

The bot quotes a ladder around a mid price that drifts by a seeded random walk, and a
second bot sends small takers, so a fresh UI shows a live book, trades and candles.
Both go through the same sequencer as every other client.
"""

from __future__ import annotations

import asyncio
import logging
import random

from matchbook.api.deps import ApiState
from matchbook.api.users import EmailTaken
from matchbook.core import CancelAll, Deposit, PlaceOrder
from matchbook.core.commands import BUY, IOC, LIMIT, MARKET, SELL
from matchbook.runtime.sequencer import Busy

logger = logging.getLogger(__name__)

DEMO_USERS = (("maker@demo.matchbook", "demo-maker-pass"),
              ("taker@demo.matchbook", "demo-taker-pass"),
              ("alice@demo.matchbook", "alice-demo-pass"),
              ("bob@demo.matchbook", "bob-demo-pass"))
START_PRICES = {"BTC-USD": "50000", "ETH-USD": "3000", "SOL-USD": "150", "ETH-BTC": "0.06"}
FUNDING = {"USD": "10000000", "BTC": "100", "ETH": "2000", "SOL": "50000"}


async def ensure_demo_users(state: ApiState) -> list[int]:
    """Create the demo users (if new) and fund them once."""
    ids = []
    for email, password in DEMO_USERS:
        try:
            user = await state.users.create_user(email, password)
        except EmailTaken:
            found = await state.users.authenticate(email, password)
            if found is None:
                continue
            user = found
        ids.append(user.user_id)
    engine = state.exchange.engine
    markets = state.exchange.markets
    for uid in ids:
        for asset, amount in FUNDING.items():
            if engine.balance(uid, asset) == (0, 0):
                await state.exchange.submit(Deposit(asset, markets.assets[asset].to_minor(amount),
                                                    user_id=uid, reference="demo funding"))
    return ids


async def start_demo(state: ApiState) -> list[asyncio.Task[None]]:
    ids = await ensure_demo_users(state)
    if len(ids) < 2:
        logger.warning("demo users exist with other passwords; the demo bots do not run")
        return []
    tasks = [asyncio.create_task(market_maker(state, ids[0], symbol), name=f"maker {symbol}")
             for symbol in START_PRICES if symbol in state.exchange.markets.symbols]
    tasks.append(asyncio.create_task(taker(state, ids[1]), name="taker"))
    logger.info("demo market running for users %s", ids)
    return tasks


async def market_maker(state: ApiState, uid: int, symbol: str, levels: int = 8,
                       interval: float = 0.5, seed: int = 1) -> None:
    """Re-quote a ladder of ``levels`` bids and asks every ``interval`` seconds."""
    exchange = state.exchange
    sym = exchange.markets.symbols[symbol]
    rng = random.Random(f"{seed}-{symbol}")
    book = exchange.engine.books[symbol]
    mid = book.last_price or sym.price_to_ticks(START_PRICES[symbol])
    step = max(1, mid // 20_000)  # about 5 bp between levels
    while True:
        try:
            last = book.last_price or mid
            mid = max(step * 10, (mid + last) // 2 + rng.randint(-3, 3) * step)
            await exchange.submit(CancelAll(uid, symbol))
            for i in range(1, levels + 1):
                qty = sym.min_qty_lots * rng.randint(10, 400)
                for side, price in ((BUY, mid - i * step), (SELL, mid + i * step)):
                    await exchange.submit(PlaceOrder(uid, symbol, side, LIMIT, qty_lots=qty,
                                                     price_ticks=price))
        except Busy:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("demo market maker on %s failed; retrying", symbol)
        await asyncio.sleep(interval)


async def taker(state: ApiState, uid: int, interval: float = 1.0, seed: int = 2) -> None:
    """Small market and IOC orders on random symbols."""
    exchange = state.exchange
    rng = random.Random(seed)
    symbols = [s for s in START_PRICES if s in exchange.markets.symbols]
    while True:
        try:
            symbol = rng.choice(symbols)
            sym = exchange.markets.symbols[symbol]
            side = rng.choice((BUY, SELL))
            qty = sym.min_qty_lots * rng.randint(1, 20)
            if rng.random() < 0.5:
                await exchange.submit(PlaceOrder(uid, symbol, side, MARKET, qty_lots=qty,
                                                 tif=IOC))
            else:
                book = exchange.engine.books[symbol]
                best = book.best_ask() if side == BUY else book.best_bid()
                if best:
                    await exchange.submit(PlaceOrder(uid, symbol, side, LIMIT, qty_lots=qty,
                                                     price_ticks=best, tif=IOC))
        except Busy:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("demo taker failed; retrying")
        await asyncio.sleep(interval * rng.uniform(0.3, 1.7))
