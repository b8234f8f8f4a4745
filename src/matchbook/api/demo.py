"""``serve --demo``: demo users with balances and a small market-making bot.

The bot quotes a ladder around a mid price that drifts by a seeded random walk, moving
its resting orders in place (amends) so both sides of the book always hold quotes, and a
second bot sends small takers, so a fresh UI shows a live book, trades and candles.
Both go through the same sequencer as every other client.
"""

from __future__ import annotations

import asyncio
import logging
import random

from matchbook.api.deps import ApiState
from matchbook.api.users import EmailTaken
from matchbook.core import AmendOrder, CancelOrder, Code, Deposit, PlaceOrder
from matchbook.core.commands import BUY, IOC, LIMIT, MARKET, SELL
from matchbook.core.events import OrderRejected
from matchbook.runtime.exchange import Exchange
from matchbook.runtime.sequencer import Busy

logger = logging.getLogger(__name__)

DEMO_USERS = (("maker@demo.matchbook", "demo-maker-pass"),
              ("taker@demo.matchbook", "demo-taker-pass"),
              ("alice@demo.matchbook", "alice-demo-pass"),
              ("bob@demo.matchbook", "bob-demo-pass"))
START_PRICES = {"BTC-USD": "50000", "ETH-USD": "3000", "SOL-USD": "150", "ETH-BTC": "0.06"}
# why an amend of the maker's own order fails when a taker got to the order first
_FILLED_MEANWHILE = (Code.UNKNOWN_ORDER, Code.AMEND_BELOW_FILLED)
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
    exchange = state.exchange
    tasks = [asyncio.create_task(market_maker(exchange, ids[0], symbol), name=f"maker {symbol}")
             for symbol in START_PRICES if symbol in exchange.markets.symbols]
    tasks.append(asyncio.create_task(taker(exchange, ids[1]), name="taker"))
    logger.info("demo market running for users %s", ids)
    return tasks


async def market_maker(exchange: Exchange, uid: int, symbol: str, levels: int = 8,
                       interval: float = 0.5, seed: int = 1) -> None:
    """Re-quote a ladder of ``levels`` bids and asks every ``interval`` seconds."""
    sym = exchange.markets.symbols[symbol]
    rng = random.Random(f"{seed}-{symbol}")
    book = exchange.engine.books[symbol]
    mid = book.last_price or sym.price_to_ticks(START_PRICES[symbol])
    step = max(1, mid // 20_000)  # about 5 bp between levels
    while True:
        try:
            last = book.last_price or mid
            mid = max(step * 10, (mid + last) // 2 + rng.randint(-3, 3) * step)
            ladder: dict[int, list[tuple[int, int]]] = {BUY: [], SELL: []}
            for i in range(1, levels + 1):
                qty = sym.min_qty_lots * rng.randint(10, 400)
                ladder[BUY].append((mid - i * step, qty))
                ladder[SELL].append((mid + i * step, qty))
            await requote(exchange, uid, symbol, ladder)
        except Busy:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("demo market maker on %s failed; retrying", symbol)
        await asyncio.sleep(interval)


async def requote(exchange: Exchange, uid: int, symbol: str,
                  ladder: dict[int, list[tuple[int, int]]]) -> None:
    """Move ``uid``'s resting orders in ``symbol`` onto ``ladder`` (per side, ``(price_ticks,
    qty_lots)`` best first) in place, so that neither side of the book is ever left empty.

    Each side's orders, best first, are amended onto the ladder's levels (a price change
    loses time priority); levels without an order are placed, orders beyond the ladder
    cancelled last. An amend refused because the order was filled meanwhile (by a
    command sequenced first) places the level anew and cancels what is left of the order.
    The side moving away from the other goes first: when the new best bid reaches the
    maker's lowest ask, the asks move up before the bids follow, and the other way
    round, so no order of the maker ever meets its own on the other side.
    """
    mine = exchange.engine.open_orders(uid, symbol)
    current = {side: sorted((o for o in mine if o.side == side and not o.stop_price),
                            key=lambda o: -o.price if side == BUY else o.price)
               for side in (BUY, SELL)}
    lowest_ask = current[SELL][0].price if current[SELL] else 0
    asks_first = bool(lowest_ask and ladder[BUY] and ladder[BUY][0][0] >= lowest_ask)
    for side in (SELL, BUY) if asks_first else (BUY, SELL):
        orders, levels = current[side], ladder[side]
        for order, (price, qty) in zip(orders, levels, strict=False):
            if order.price == price and order.leaves == qty:
                continue
            # the new total is what is already filled plus the new open quantity
            amended = await exchange.submit(AmendOrder(uid, order.order_id, price_ticks=price,
                                                       qty_lots=order.qty - order.leaves + qty))
            if any(isinstance(e, OrderRejected) and e.code in _FILLED_MEANWHILE
                   for e in amended.events):
                # quote the level anew and take the order off: none stays at its old price
                await exchange.submit(PlaceOrder(uid, symbol, side, LIMIT, qty_lots=qty,
                                                 price_ticks=price))
                await exchange.submit(CancelOrder(uid, order.order_id))
        for price, qty in levels[len(orders):]:
            await exchange.submit(PlaceOrder(uid, symbol, side, LIMIT, qty_lots=qty,
                                             price_ticks=price))
        for order in orders[len(levels):]:
            await exchange.submit(CancelOrder(uid, order.order_id))


async def taker(exchange: Exchange, uid: int, interval: float = 1.0, seed: int = 2) -> None:
    """Small market and IOC orders on random symbols."""
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
