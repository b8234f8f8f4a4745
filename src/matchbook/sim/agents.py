"""The simulator's agents: who trades, when, and why.

Every agent is one user of the exchange. The simulation wakes it at the times it asks
for (simulated sequencer time, in ns); on each wake it reads the market through a
``Market`` view and appends core commands (``PlaceOrder``, ``CancelOrder``,
``CancelAll``) to ``out``, then returns when it wants to wake next (0 = never). The
same agent object runs in process against the engine and over the network against a
server (``matchbook.sim.remote``): it knows only the view and the commands.

Randomness: ``self.rng`` is a ``random.Random`` seeded from the agent's own child of
the run's ``numpy.random.SeedSequence``, keyed by its stable ``agent_id`` (see
``matchbook.sim.runner.agent_seed``), so adding an agent never shifts another's stream.

Money and prices are integers (ticks, lots); agents think in basis points of the price
and convert to ticks with ``Market.bp_ticks``.

To plug in an agent of your own, subclass ``Agent`` and pass it to ``run_preset(...,
extra_agents=[...])``; it gets a user id, funding and a seeded ``rng`` like the others.
"""

from __future__ import annotations

import math
import random
from math import log as _log
from typing import Any, ClassVar, Protocol

from matchbook.core.commands import (
    BUY,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    CancelAll,
    PlaceOrder,
)

SECOND = 1_000_000_000


class Market(Protocol):
    """What an agent may see: the book's top, the recent mid, the latent fundamental
    (only the agents that model it read it), and its own open orders."""

    symbol: str
    day_start_ns: int

    def best_bid(self) -> int: ...
    def best_ask(self) -> int: ...
    def mid(self) -> float: ...
    def mid_minutes_ago(self, minutes: int) -> float: ...
    def vol_ticks(self) -> float: ...
    def bp_ticks(self) -> float: ...
    def fundamental(self, now_ns: int, ahead_s: int = 0) -> float: ...
    def activity(self, now_ns: int) -> float: ...
    def open_order_count(self, user_id: int) -> int: ...
    def parent_started(self, agent: Agent, side: int, lots: int, now_ns: int) -> int: ...
    def parent_finished(self, parent_id: int, now_ns: int) -> None: ...


class Agent:
    """Base class: a stable id, a user id and funding given by the simulation."""

    kind: ClassVar[str] = "agent"
    wants_fills: ClassVar[bool] = False  # on_fill is called for this agent's fills

    def __init__(self, agent_id: str, *, latency_ns: int = 0,
                 usd: int = 20_000_000, btc: int = 400) -> None:
        self.agent_id = agent_id
        self.user_id = 0
        self.latency_ns = latency_ns
        self.funding_units = {"USD": usd, "BTC": btc}  # whole units, converted by the sim
        self.rng = random.Random(0)

    def first_wake(self, start_ns: int) -> int:
        """When to wake first (the default: within the first minute)."""
        return start_ns + int(self.rng.random() * 60 * SECOND)

    def wake(self, now_ns: int, m: Market, out: list[Any]) -> int:
        """Append commands to ``out``; return the next wake time (0 = never)."""
        return 0

    def on_fill(self, side: int, price_ticks: int, qty_lots: int) -> None:
        """One fill of one of this agent's orders (only if ``wants_fills``)."""

    def _wait(self, now_ns: int, mean_s: float, m: Market) -> int:
        """An exponential wait with mean ``mean_s`` seconds, shortened when the market
        is active (activity > 1)."""
        # -log(1 - U) is ``rng.expovariate(1.0)`` as the standard library computes it,
        # without the call
        return now_ns + 1 + int(-_log(1.0 - self.rng.random()) * mean_s
                                / m.activity(now_ns) * SECOND)


class NoiseTrader(Agent):
    """Trades for reasons of its own: at random times a small market order, or a limit
    order a random distance behind the best price on its side; it cancels its resting
    orders now and then."""

    kind = "noise"

    def __init__(self, agent_id: str, *, mean_wait_s: float = 2400.0,
                 market_share: float = 0.35, size_mu: float = 1.6, size_sigma: float = 0.9,
                 offset_bp: float = 3.0, cancel_share: float = 0.5, **kw: Any) -> None:
        super().__init__(agent_id, **kw)
        self.mean_wait_s = mean_wait_s
        self.market_share = market_share
        self.size_mu, self.size_sigma = size_mu, size_sigma
        self.offset_bp = offset_bp
        self.cancel_share = cancel_share

    def wake(self, now_ns: int, m: Market, out: list[Any]) -> int:
        rng, uid = self.rng, self.user_id
        if m.open_order_count(uid) and rng.random() < self.cancel_share:
            out.append(CancelAll(uid, m.symbol))
        side = BUY if rng.random() < 0.5 else SELL
        qty = 1 + int(rng.lognormvariate(self.size_mu, self.size_sigma))
        if rng.random() < self.market_share:
            out.append(PlaceOrder(uid, m.symbol, side, MARKET, qty_lots=qty, tif=IOC))
        else:
            best = m.best_bid() if side == BUY else m.best_ask()
            ref = best or m.mid()
            if ref:
                offset = int(rng.expovariate(1.0) * self.offset_bp * m.bp_ticks())
                price = int(ref) - offset if side == BUY else int(ref) + offset
                out.append(PlaceOrder(uid, m.symbol, side, LIMIT, qty_lots=qty,
                                      price_ticks=max(1, price)))
        return self._wait(now_ns, self.mean_wait_s, m)


class ValueTrader(Agent):
    """Trades toward its noisy view of the latent fundamental: aggressively (a
    marketable limit IOC) when the mispricing is large, else a passive limit order on
    the side it favours. Cancels its previous passive order on each wake."""

    kind = "value"

    def __init__(self, agent_id: str, *, mean_wait_s: float = 600.0, noise_bp: float = 4.0,
                 threshold_bp: float = 4.0, size_lots: int = 12, max_units: float = 4.0,
                 passive_share: float = 0.6, **kw: Any) -> None:
        super().__init__(agent_id, **kw)
        self.mean_wait_s = mean_wait_s
        self.noise_bp = noise_bp
        self.threshold_bp = threshold_bp
        self.size_lots = size_lots
        self.max_units = max_units
        self.passive_share = passive_share

    def wake(self, now_ns: int, m: Market, out: list[Any]) -> int:
        rng, uid = self.rng, self.user_id
        mid = m.mid()
        if not mid:
            return self._wait(now_ns, self.mean_wait_s, m)
        if m.open_order_count(uid):
            out.append(CancelAll(uid, m.symbol))
        view = m.fundamental(now_ns) * (1.0 + rng.gauss(0.0, self.noise_bp) * 1e-4)
        mis_bp = (view - mid) / mid * 1e4
        side = BUY if mis_bp > 0 else SELL
        strength = abs(mis_bp) / self.threshold_bp
        if strength >= 1.0:
            qty = max(1, int(self.size_lots * min(strength, self.max_units)))
            best = m.best_ask() if side == BUY else m.best_bid()
            if best:
                slip = int(m.bp_ticks())
                price = best + slip if side == BUY else best - slip
                out.append(PlaceOrder(uid, m.symbol, side, LIMIT, qty_lots=qty,
                                      price_ticks=max(1, price), tif=IOC))
        elif rng.random() < self.passive_share:
            qty = max(1, int(self.size_lots * rng.random()) + 1)
            price = int(min(view, mid - m.bp_ticks())) if side == BUY else int(
                max(view, mid + m.bp_ticks()))
            out.append(PlaceOrder(uid, m.symbol, side, LIMIT, qty_lots=qty,
                                  price_ticks=max(1, price)))
        return self._wait(now_ns, self.mean_wait_s, m)


class MomentumTrader(Agent):
    """Follows the trend: when the mid moved more than a threshold over its look-back,
    a market order in that direction, sized by the move."""

    kind = "momentum"

    def __init__(self, agent_id: str, *, mean_wait_s: float = 300.0, lookback_min: int = 10,
                 threshold_bp: float = 12.0, size_lots: int = 8, max_units: float = 3.0,
                 **kw: Any) -> None:
        super().__init__(agent_id, **kw)
        self.mean_wait_s = mean_wait_s
        self.lookback_min = lookback_min
        self.threshold_bp = threshold_bp
        self.size_lots = size_lots
        self.max_units = max_units

    def wake(self, now_ns: int, m: Market, out: list[Any]) -> int:
        mid, past = m.mid(), m.mid_minutes_ago(self.lookback_min)
        if mid and past:
            move_bp = (mid - past) / past * 1e4
            strength = abs(move_bp) / self.threshold_bp
            if strength >= 1.0:
                qty = max(1, int(self.size_lots * min(strength, self.max_units)))
                out.append(PlaceOrder(self.user_id, m.symbol, BUY if move_bp > 0 else SELL,
                                      MARKET, qty_lots=qty, tif=IOC))
        return self._wait(now_ns, self.mean_wait_s, m)


class MarketMaker(Agent):
    """Quotes a ladder of ``levels`` bids and asks around the mid, shifted against its
    inventory (skew), with a half-spread that adapts to the recent volatility. Level
    ``k`` (0 = best) carries ``size_lots * (k + 1)``: depth grows away from the mid.
    It requotes (cancel all, then the new ladder) when its centre has moved by more
    than a fraction of the half-spread or when some of its quotes were taken. With
    ``post_only`` its quotes never take: a level that would cross the other side is
    refused by the exchange (the maker provides liquidity only; what an execution
    agent takes from the ladder is then refilled by the makers' next requotes, not by
    another maker's crossing order). Its centre leans on its view of the fundamental,
    off by ``view_noise_bp`` (a standard deviation): fresh noise at every wake, or with
    ``view_tau_s`` an error that drifts slowly (AR(1) with that time scale), as a
    desk's model that is wrong for a while rather than at random each time. The skew
    is ``skew_bp_per_lot`` times the inventory I, or with ``skew_power`` p times
    ``skew_ref_lots * (|I| / skew_ref_lots) ** p`` (a skew concave in the inventory:
    the maker leans less per lot the more it holds), at most ``max_skew_bp``."""

    kind = "market_maker"
    wants_fills = True

    def __init__(self, agent_id: str, *, mean_wait_s: float = 30.0, levels: int = 4,
                 size_lots: int = 6, min_half_bp: float = 0.6, vol_half: float = 0.35,
                 step_bp: float = 0.8, skew_bp_per_lot: float = 0.02,
                 max_skew_bp: float = 15.0, requote_share: float = 1.0, anchor: float = 1.0,
                 view_noise_bp: float = 2.5, view_tau_s: float = 0.0, post_only: bool = False,
                 skew_power: float = 1.0, skew_ref_lots: float = 50.0, **kw: Any) -> None:
        super().__init__(agent_id, **kw)
        self.skew_power = skew_power
        self.skew_ref_lots = skew_ref_lots
        self.post_only = post_only
        self.view_tau_s = view_tau_s
        self.view_err_bp = 0.0
        self.view_ns = 0
        self.anchor = anchor
        self.view_noise_bp = view_noise_bp
        self.mean_wait_s = mean_wait_s
        self.levels = levels
        self.size_lots = size_lots
        self.min_half_bp = min_half_bp
        self.vol_half = vol_half
        self.step_bp = step_bp
        self.skew_bp_per_lot = skew_bp_per_lot
        self.max_skew_bp = max_skew_bp
        self.requote_share = requote_share
        self.inventory_lots = 0
        self.center = 0.0
        self.quoted = 0

    def on_fill(self, side: int, price_ticks: int, qty_lots: int) -> None:
        self.inventory_lots += qty_lots if side == BUY else -qty_lots

    def wake(self, now_ns: int, m: Market, out: list[Any]) -> int:
        uid, sym = self.user_id, m.symbol
        mid = m.mid() or m.fundamental(now_ns)
        bp = m.bp_ticks()
        half = max(self.min_half_bp * bp, self.vol_half * m.vol_ticks())
        inventory: float = self.inventory_lots
        if self.skew_power != 1.0 and inventory:  # a concave skew: ref * (|I| / ref) ** p
            ref = self.skew_ref_lots
            inventory = math.copysign(ref * (abs(inventory) / ref) ** self.skew_power,
                                      inventory)
        skew = max(-self.max_skew_bp, min(self.max_skew_bp,
                                          self.skew_bp_per_lot * inventory)) * bp
        center = mid - skew
        if self.anchor:
            if self.view_tau_s:  # an error that drifts (AR(1) with time scale view_tau_s)
                keep = math.exp(-(now_ns - self.view_ns) / (self.view_tau_s * SECOND))
                self.view_err_bp = keep * self.view_err_bp + math.sqrt(
                    1.0 - keep * keep) * self.rng.gauss(0.0, self.view_noise_bp)
                self.view_ns = now_ns
                err_bp = self.view_err_bp
            else:  # fresh noise at every requote
                err_bp = self.rng.gauss(0.0, self.view_noise_bp)
            view = m.fundamental(now_ns) * (1.0 + err_bp * 1e-4)
            center += self.anchor * (view - mid)
        live = m.open_order_count(uid)
        if live < self.quoted or abs(center - self.center) > self.requote_share * half:
            if live:
                out.append(CancelAll(uid, sym))
            step = self.step_bp * bp
            size = self.size_lots
            post = self.post_only
            for k in range(self.levels):
                lots = size * (k + 1)
                out.append(PlaceOrder(uid, sym, BUY, LIMIT, qty_lots=lots,
                                      price_ticks=max(1, int(center - half - k * step)),
                                      post_only=post))
                out.append(PlaceOrder(uid, sym, SELL, LIMIT, qty_lots=lots,
                                      price_ticks=max(1, math.ceil(center + half + k * step)),
                                      post_only=post))
            self.center = center
            self.quoted = 2 * self.levels
        return self._wait(now_ns, self.mean_wait_s, m)


class ExecutionAgent(Agent):
    """Works large parent orders: at random times a parent of ``n`` child orders
    (``n`` Pareto-distributed with tail exponent ``alpha``, so a few parents are very
    large), sent one every ``child_wait_s`` on average until the parent is done. The
    parents' sizes give the sign of trades its long memory (Lillo, Mike and Farmer:
    gamma = alpha - 1).

    A child is ``child_lots``, or with ``child_lots_max`` a size drawn once per parent,
    log-uniform from ``child_lots`` to ``child_lots_max`` (some desks work orders in
    small slices, some in large ones). With ``limit_bp`` a child is a marketable limit
    IOC at most that far through the best opposite price (it takes what is there and
    does not sweep a thin book), else a market order. With ``follow_activity`` the
    children come faster when the market is busy (a participation rate), as the other
    agents' arrivals do. With ``pace_children`` a parent of ``n`` more children than
    that is worked faster: its mean wait between children is ``child_wait_s *
    (pace_children / n) ** pace_power``, so a large parent lasts about ``n ** (1 -
    pace_power)`` waits rather than ``n`` (a desk works a large order at a higher
    participation rate rather than for most of the day).

    With ``follow_book`` the children follow the book, as liquidity-seeking execution
    algorithms do: a child is a limit IOC at the opposite touch itself, so it takes
    what the book shows there (up to its slice) and never reaches behind it; what it
    did not get is carried to the next child, and the parent is done when its lots
    are (``n`` slices; at most ``book_max_children`` times ``n`` children). A child
    that takes the whole touch leaves the book thinner until the makers refill it, and
    a parent that meets thin touches needs more children, so it lasts longer where the
    book is thin (the waits between children are those above)."""

    kind = "execution"
    wants_fills = True  # with ``follow_book``: what each child got

    def __init__(self, agent_id: str, *, idle_wait_s: float = 900.0,
                 child_wait_s: float = 20.0, alpha: float = 1.35, min_children: int = 2,
                 max_children: int = 3000, child_lots: int = 10, child_lots_max: int = 0,
                 follow_activity: bool = False, limit_bp: float = 0.0,
                 pace_children: int = 0, pace_power: float = 0.5, follow_book: bool = False,
                 book_max_children: float = 4.0, **kw: Any) -> None:
        super().__init__(agent_id, **kw)
        self.follow_book = follow_book
        self.book_max_children = book_max_children
        self.left_lots = 0  # with ``follow_book``: the parent's lots not yet filled
        self.children_left = 0  # with ``follow_book``: children the parent may still send
        self.limit_bp = limit_bp
        self.pace_children = pace_children
        self.pace_power = pace_power
        self.wait_s = child_wait_s
        self.child_lots_max = child_lots_max
        self.follow_activity = follow_activity
        self.lots = child_lots
        self.idle_wait_s = idle_wait_s
        self.child_wait_s = child_wait_s
        self.alpha = alpha
        self.min_children = min_children
        self.max_children = max_children
        self.child_lots = child_lots
        self.remaining = 0
        self.side = BUY
        self.parent_id = 0

    def first_wake(self, start_ns: int) -> int:
        return start_ns + int(self.rng.expovariate(1.0) * self.idle_wait_s * SECOND)

    def on_fill(self, side: int, price_ticks: int, qty_lots: int) -> None:
        self.left_lots -= qty_lots

    def wake(self, now_ns: int, m: Market, out: list[Any]) -> int:
        if self.follow_book:
            return self._wake_book(now_ns, m, out)
        rng = self.rng
        if not self.remaining:
            self._start_parent(now_ns, m)
        if self.limit_bp:
            # a marketable limit: take at most ``limit_bp`` through the best price (no
            # sweep of a thin book); with nothing to take, wait for the next child
            best = m.best_ask() if self.side == BUY else m.best_bid()
            if best:
                reach = int(self.limit_bp * m.bp_ticks())
                out.append(PlaceOrder(self.user_id, m.symbol, self.side, LIMIT,
                                      qty_lots=self.lots, tif=IOC,
                                      price_ticks=best + reach if self.side == BUY
                                      else max(1, best - reach)))
        else:
            out.append(PlaceOrder(self.user_id, m.symbol, self.side, MARKET,
                                  qty_lots=self.lots, tif=IOC))
        self.remaining -= 1
        if self.remaining:
            if self.follow_activity:  # a participation rate: faster when the market is busy
                return self._wait(now_ns, self.wait_s, m)
            return now_ns + 1 + int(rng.expovariate(1.0) * self.wait_s * SECOND)
        m.parent_finished(self.parent_id, now_ns)
        return self._wait(now_ns, self.idle_wait_s, m)

    def _start_parent(self, now_ns: int, m: Market) -> int:
        """Draw a parent (children, wait, side, slice); returns its number of slices."""
        rng = self.rng
        u = 1.0 - rng.random()
        n = min(int(self.min_children * u ** (-1.0 / self.alpha)), self.max_children)
        self.remaining = n
        self.wait_s = self.child_wait_s
        if self.pace_children and n > self.pace_children:
            self.wait_s *= (self.pace_children / n) ** self.pace_power
        self.side = BUY if rng.random() < 0.5 else SELL
        lots = self.child_lots
        if self.child_lots_max > lots:  # log-uniform from child_lots to child_lots_max
            lots = int(lots * math.exp(rng.random() * math.log(
                (self.child_lots_max + 1) / lots)))
        self.lots = lots
        self.parent_id = m.parent_started(self, self.side, n * lots, now_ns)
        return n

    def _wake_book(self, now_ns: int, m: Market, out: list[Any]) -> int:
        """``follow_book``: each child a limit IOC at the touch, the unfilled part carried
        over (``on_fill`` counts the lots as the exchange fills them)."""
        if self.remaining and (self.left_lots <= 0 or not self.children_left):
            self.remaining = 0  # the parent is done (or gave up): idle until the next
            m.parent_finished(self.parent_id, now_ns)
            return self._wait(now_ns, self.idle_wait_s, m)
        if not self.remaining:
            n = self._start_parent(now_ns, m)
            self.remaining = 1
            self.left_lots = n * self.lots
            self.children_left = max(n, int(self.book_max_children * n))
        best = m.best_ask() if self.side == BUY else m.best_bid()
        if best:
            out.append(PlaceOrder(self.user_id, m.symbol, self.side, LIMIT,
                                  qty_lots=min(self.lots, self.left_lots), tif=IOC,
                                  price_ticks=best))
        self.children_left -= 1
        if self.follow_activity:
            return self._wait(now_ns, self.wait_s, m)
        return now_ns + 1 + int(self.rng.expovariate(1.0) * self.wait_s * SECOND)


class InformedTrader(Agent):
    """Knows where the fundamental will be ``horizon_s`` from now and takes liquidity
    when the market is far from it (optional: adverse selection for the makers)."""

    kind = "informed"

    def __init__(self, agent_id: str, *, mean_wait_s: float = 120.0, horizon_s: int = 600,
                 threshold_bp: float = 8.0, size_lots: int = 10, **kw: Any) -> None:
        super().__init__(agent_id, **kw)
        self.mean_wait_s = mean_wait_s
        self.horizon_s = horizon_s
        self.threshold_bp = threshold_bp
        self.size_lots = size_lots

    def wake(self, now_ns: int, m: Market, out: list[Any]) -> int:
        mid = m.mid()
        if mid:
            future = m.fundamental(now_ns, self.horizon_s)
            edge_bp = (future - mid) / mid * 1e4
            if abs(edge_bp) > self.threshold_bp:
                out.append(PlaceOrder(self.user_id, m.symbol, BUY if edge_bp > 0 else SELL,
                                      MARKET, qty_lots=self.size_lots, tif=IOC))
        return self._wait(now_ns, self.mean_wait_s, m)


class ZeroIntelligence(Agent):
    """The negative control (Gode and Sunder; Farmer and Daniels): limit orders at a
    uniform random distance around the mid, market orders and cancels, each with a
    fixed probability, sizes drawn independently; no view, no memory, no strategy."""

    kind = "zero_intelligence"

    def __init__(self, agent_id: str, *, mean_wait_s: float = 60.0, market_share: float = 0.3,
                 cancel_share: float = 0.3, range_bp: float = 6.0, max_lots: int = 20,
                 **kw: Any) -> None:
        super().__init__(agent_id, **kw)
        self.mean_wait_s = mean_wait_s
        self.market_share = market_share
        self.cancel_share = cancel_share
        self.range_bp = range_bp
        self.max_lots = max_lots

    def wake(self, now_ns: int, m: Market, out: list[Any]) -> int:
        rng, uid = self.rng, self.user_id
        r = rng.random()
        side = BUY if rng.random() < 0.5 else SELL
        qty = rng.randint(1, self.max_lots)
        if r < self.cancel_share:
            if m.open_order_count(uid):
                out.append(CancelAll(uid, m.symbol))
        elif r < self.cancel_share + self.market_share:
            out.append(PlaceOrder(uid, m.symbol, side, MARKET, qty_lots=qty, tif=IOC))
        else:
            mid = m.mid() or m.fundamental(now_ns)
            span = self.range_bp * m.bp_ticks()
            offset = rng.random() * span
            price = int(mid - offset) if side == BUY else int(mid + offset) + 1
            out.append(PlaceOrder(uid, m.symbol, side, LIMIT, qty_lots=qty,
                                  price_ticks=max(1, price)))
        return now_ns + 1 + int(rng.expovariate(1.0) * self.mean_wait_s * SECOND)


AGENT_KINDS: dict[str, type[Agent]] = {
    cls.kind: cls for cls in (NoiseTrader, ValueTrader, MomentumTrader, MarketMaker,
                              ExecutionAgent, InformedTrader, ZeroIntelligence)}
