"""The engine: one deterministic state machine for every symbol, balance and order.

``Engine.apply(seq, ts_ns, command) -> list[Event]`` is the only way state changes.
The pipeline for a new order reads top to bottom in ``_place_any``::

    validate shape -> risk checks -> hold funds -> accept -> match (settle each fill)
    -> rest or cancel the remainder -> release the unused hold -> trigger stops

The everyday order (a plain limit or market order, GTC or IOC) takes a short path,
``_place``, that runs the same steps with fewer tests and hands every other order, and
every order it would reject, to ``_place_any``.

Nothing here reads a clock, a file, the network or a random source: the sequencer's
``seq`` and ``ts_ns`` come in with each command. Rejections are result codes
(``matchbook.core.codes``), never exceptions; a rejected command changes nothing.

Money: prices are ticks, quantities lots, balances minor units, all ``int``. Fees are
charged in the quote asset (the buyer pays notional + fee, the seller receives
notional - fee), truncated toward zero to a whole minor unit, so rounding always
favours the user and the hold of a buy order (notional at its limit plus the largest
fee rate) always covers its fills. A negative maker rate is a rebate paid from the
fee account. An order pays the rates of its user's tier at the time it was placed.

See ``docs/engine.md`` for the full semantics of every order type.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from matchbook.core.accounts import Account
from matchbook.core.book import RESTS, Level, Order, OrderBook, pack_flags
from matchbook.core.codes import Code, message
from matchbook.core.commands import (
    BUY,
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    STP_CANCEL_BOTH,
    STP_CANCEL_NEWEST,
    STP_CANCEL_OLDEST,
    STP_DECREMENT,
    AdjustBalance,
    AdvanceTime,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    HaltTrading,
    PlaceOrder,
    ReinstateUser,
    RejectWithdrawal,
    RequestWithdrawal,
    ResumeTrading,
    SetFeeTier,
    SetRiskLimits,
    SuspendUser,
    Transfer,
)
from matchbook.core.events import (
    AddressCreated,
    BalanceAdjusted,
    BookLevelChanged,
    CancelReason,
    CommandRejected,
    Deposited,
    Event,
    FeeTierSet,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    RiskLimitsSet,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
    Transferred,
    UserReinstated,
    UserSuspended,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)
from matchbook.core.p2p import P2PDesk
from matchbook.core.symbols import MAX_UNITS, PPM, FeeSchedule, Markets, Symbol

NO_FEES = FeeSchedule(0, 0)  # the rates of every order when accounts are off
MAX_TICKS = 10**15  # no price or quantity beyond this is plausible; bounds int growth
NEVER = 2**63 - 1
_UNFILLED = int(CancelReason.UNFILLED)
_SELF_TRADE = int(CancelReason.SELF_TRADE)
_USER = int(CancelReason.USER)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Per-user limits checked before matching.

    ``position_limits_minor``: per asset, the most a user may own of it (available +
    held + what their open buy orders would still bring), in minor units.
    """

    max_open_orders: int = 1000
    position_limits_minor: Mapping[str, int] = field(default_factory=dict)

    def valid_for(self, markets: Markets) -> bool:
        """A positive open-order limit, and positive position limits of known assets
        (what ``SetRiskLimits`` accepts)."""
        return 0 < self.max_open_orders < MAX_UNITS and all(
            asset in markets.assets and 0 < amount < MAX_UNITS
            for asset, amount in self.position_limits_minor.items())


class Withdrawal(msgspec.Struct, frozen=True, gc=False):
    withdrawal_id: int
    user_id: int
    asset: str
    amount_minor: int
    destination: str


class Engine:
    """Every book, order and balance; commands in, events out.

    ``accounts=False`` runs pure matching (no balances, holds or fees), the mode of
    the core's own differential tests and of ``bench engine --no-accounts``.
    """

    def __init__(
        self,
        markets: Markets,
        *,
        accounts: bool = True,
        limits: RiskLimits | None = None,
    ) -> None:
        self.markets = markets
        self.accounts_enabled = accounts
        self.books: dict[str, OrderBook] = {
            name: OrderBook(s) for name, s in markets.symbols.items()}
        self.user_orders: dict[int, dict[int, Order]] = {}
        self.client_ids: dict[tuple[int, str], int] = {}
        self.expiries: list[tuple[int, int, int, Order]] = []  # (ts, order id, serial, order)
        self._expiry_serial = 0
        self.accounts: dict[int, Account] = {}
        self.fee_balances: dict[str, int] = dict.fromkeys(markets.assets, 0)
        self.external_balances: dict[str, int] = dict.fromkeys(markets.assets, 0)
        self.withdrawals: dict[int, Withdrawal] = {}  # pending
        self.settled_withdrawals: set[int] = set()
        self.addresses: dict[str, tuple[int, str]] = {}
        self.user_addresses: dict[tuple[int, str], str] = {}
        self.suspended: set[int] = set()
        self.halted = False
        self.next_order_id = 1
        self.next_trade_id = 1
        self.next_wallet_op_id = 1
        self.last_seq = 0
        self.last_ts = 0
        self._next_expiry = NEVER
        self._use_limits(limits or RiskLimits())
        self._tiers = {t for s in markets.symbols.values() for t in s.tier_fees}
        # an account's balances: available at 2 i, held at 2 i + 1 for the i-th asset
        self._slots = {code: 2 * i for i, code in enumerate(sorted(markets.assets))}
        for book in self.books.values():
            book.quote_slot = self._slots[book.quote_code]
            book.base_slot = self._slots[book.base_code]
        self._handlers: dict[type, Callable[[Any, list[Event]], None]] = {
            PlaceOrder: self._place,
            CancelOrder: self._cancel,
            AmendOrder: self._amend,
            CancelAll: self._cancel_all,
            AdvanceTime: lambda c, out: None,
            Deposit: self._deposit,
            CreateAddress: self._create_address,
            RequestWithdrawal: self._request_withdrawal,
            CompleteWithdrawal: self._complete_withdrawal,
            RejectWithdrawal: self._reject_withdrawal,
            Transfer: self._transfer,
            AdjustBalance: self._adjust,
            HaltTrading: self._halt,
            ResumeTrading: self._resume,
            SuspendUser: self._suspend,
            ReinstateUser: self._reinstate,
            SetFeeTier: self._set_tier,
            SetRiskLimits: self._set_limits,
        }
        # the P2P escrow desk (core/p2p.py): its handlers in the same table; its next
        # deadline is folded into ``_next_expiry``
        self.p2p = P2PDesk(self)
        self._handlers.update(self.p2p.handlers())

    # =================================================================================
    # entry point
    # =================================================================================

    def apply(self, seq: int, ts_ns: int, command: object) -> list[Event]:
        """Apply one sequenced command and return the events it produced, in order.

        Expired GTD orders are removed and passed P2P deadlines fire first (their
        events lead the list). Values are fully validated (bad values are rejected with a code and
        change nothing); field *types* are trusted, as every gateway builds commands
        through ``msgspec`` validation.
        """
        self.last_seq = seq
        self.last_ts = ts_ns
        out: list[Event] = []
        if ts_ns >= self._next_expiry:  # a GTD order or a P2P deadline is due
            self._expire(ts_ns, out, command)
        kind = type(command)
        if kind is PlaceOrder:  # the everyday commands skip the table
            self._place(command, out)  # type: ignore[arg-type]
            return out
        if kind is CancelOrder:
            self._cancel(command, out)  # type: ignore[arg-type]
            return out
        handler = self._handlers.get(kind)
        if handler is None:
            out.append(CommandRejected(0, Code.UNKNOWN_COMMAND, message(Code.UNKNOWN_COMMAND),
                                       type(command).__name__))
        else:
            handler(command, out)
        return out

    # =================================================================================
    # orders: place
    # =================================================================================

    def _reject(self, c: PlaceOrder, code: int, out: list[Event]) -> None:
        out.append(OrderRejected(c.user_id, code, message(code), c.client_order_id, 0))

    def _check_shape(self, c: PlaceOrder, sym: Symbol) -> int:
        """The precise code for an order that is not an everyday limit or market order
        (or is malformed); ``Code.OK`` if it is valid."""
        side, otype, qty, price, tif = c.side, c.order_type, c.qty_lots, c.price_ticks, c.tif
        stop, display = c.stop_price_ticks, c.display_lots
        if c.user_id <= 0:
            return Code.INVALID_USER
        if side != BUY and side != SELL:
            return Code.INVALID_SIDE
        if otype == LIMIT or otype == STOP_LIMIT:
            if not 0 < price < MAX_TICKS:
                return Code.INVALID_PRICE
            if tif != GTC and tif != IOC and tif != FOK and tif != GTD:
                return Code.INVALID_TIME_IN_FORCE
        elif otype == MARKET or otype == STOP_MARKET:
            if price != 0:
                return Code.INVALID_PRICE
            if tif != GTC and tif != IOC and tif != FOK:
                return Code.INVALID_TIME_IN_FORCE
        else:
            return Code.INVALID_ORDER_TYPE
        is_stop = otype == STOP_LIMIT or otype == STOP_MARKET
        if is_stop != (stop > 0) or not 0 <= stop < MAX_TICKS:
            return Code.INVALID_STOP_PRICE
        if c.quote_amount_minor:
            if otype != MARKET or side != BUY or qty != 0 or c.quote_amount_minor < 0:
                return Code.INVALID_QUOTE_QUANTITY
            if c.quote_amount_minor < sym.min_notional_minor:
                return Code.NOTIONAL_TOO_SMALL
        elif not 0 < qty < MAX_TICKS:
            return Code.INVALID_QUANTITY
        if qty and qty < sym.min_qty_lots:
            return Code.QUANTITY_TOO_SMALL
        if qty > sym.max_qty_lots:
            return Code.QUANTITY_TOO_LARGE
        if display and (
            display < 0 or display >= qty or (otype != LIMIT and otype != STOP_LIMIT)
            or (tif != GTC and tif != GTD)
        ):
            return Code.INVALID_DISPLAY_QUANTITY
        if c.post_only and (otype != LIMIT or (tif != GTC and tif != GTD)):
            return Code.INVALID_ORDER_TYPE
        if (tif == GTD) != (c.expire_ts_ns > 0) or c.expire_ts_ns < 0:
            return Code.INVALID_EXPIRY
        if tif == GTD and c.expire_ts_ns <= self.last_ts:
            return Code.EXPIRED_ON_ARRIVAL
        if not 0 < c.stp <= STP_DECREMENT:
            return Code.INVALID_STP_MODE
        coid = c.client_order_id
        if coid and (len(coid) > 64 or not coid.isprintable()):
            return Code.INVALID_CLIENT_ORDER_ID
        return Code.OK

    def _place(self, c: PlaceOrder, out: list[Event]) -> None:
        """The everyday order on a short path: a limit or market order, GTC or IOC, with
        none of stop, iceberg, client id, post-only, expiry or quote budget, that passes
        every check. Any other order, and every order this path would reject, goes to
        ``_place_any``, the full pipeline, which decides it from scratch (this path
        changes nothing before it hands over), so the two agree by construction."""
        book = self.books.get(c.symbol)
        side, otype, tif = c.side, c.order_type, c.tif
        flags = _PLAIN_FLAGS.get((side, otype, tif, c.stp))
        if (book is None or flags is None or c.stop_price_ticks or c.display_lots
                or c.client_order_id or c.post_only or c.expire_ts_ns or c.quote_amount_minor
                or self.halted or book.halted):
            return self._place_any(c, out)
        sym = book.symbol
        uid, qty, price = c.user_id, c.qty_lots, c.price_ticks
        if not (uid > 0 and sym.min_qty_lots <= qty <= sym.max_qty_lots) or (
                self.suspended and uid in self.suspended):
            return self._place_any(c, out)
        mine = self.user_orders.get(uid)
        if mine is not None and len(mine) >= self._max_open_orders:
            return self._place_any(c, out)
        if otype == LIMIT:
            if not 0 < price < MAX_TICKS:
                return self._place_any(c, out)
            notional = price * qty * sym.quote_per_tick_lot
            if notional < sym.min_notional_minor:
                return self._place_any(c, out)
            ref = book.last_price
            if not ref and book.bid_heap and book.ask_heap:
                ref = (book.ask_heap[0] - book.bid_heap[0]) // 2
            if ref and (price - ref if price >= ref else ref - price) * 10_000 > (
                    ref * sym.price_band_bps):
                return self._place_any(c, out)
        else:
            best = (book.ask_heap[0] if book.ask_heap else 0) if side == BUY else (
                -book.bid_heap[0] if book.bid_heap else 0)
            if price or not best:
                return self._place_any(c, out)
            tif = IOC  # a market order never rests
            # _band_price, inlined
            if side == BUY:
                price = best * (10_000 + sym.market_protection_bps) // 10_000
            else:
                price = max(1, -(-best * (10_000 - sym.market_protection_bps) // 10_000))
            notional = price * qty * sym.quote_per_tick_lot
        if side == BUY:
            hold_asset, slot = book.quote_code, book.quote_slot
        else:
            hold_asset, slot = book.base_code, book.base_slot
        if self.accounts_enabled:
            account = self.accounts.get(uid)
            if account is None:
                return self._place_any(c, out)
            uid = account.user_id  # the user's one int object: 32 bytes less per order
            fees = sym.tier_fees.get(account.tier, sym.fees) if account.tier else sym.fees
            hold = notional + notional * fees.hold_ppm // PPM if side == BUY else (
                qty * sym.base_per_lot)
            balances = account.balances
            if hold > balances[slot] or (
                    side == BUY and self._position_limits
                    and not self._within_position_limit(account, uid, sym, qty)):
                return self._place_any(c, out)
            balances[slot] -= hold
            balances[slot + 1] += hold
        else:
            fees, hold = NO_FEES, 0

        # -- accept, match, then rest or cancel the remainder --------------------------
        oid = self.next_order_id
        self.next_order_id = oid + 1
        name = sym.name
        order = Order(oid, uid, name, side, price, qty, qty, qty, 0, hold, flags, 0, 0, "",
                      fees)
        out.append(OrderAccepted(oid, uid, name, side, otype, c.price_ticks, qty, tif, "", 0,
                                 0, False, 0, 0, hold_asset, hold))
        if side == BUY:
            crosses = book.ask_heap and book.ask_heap[0] <= price
        else:
            crosses = book.bid_heap and -book.bid_heap[0] >= price
        if crosses:
            last = book.last_price
            self._match(book, order, out)
            if order.leaves and order.visible:  # not closed by self-trade prevention
                self._rest_or_close(book, order, out)
            if book.last_price != last and (book.stops_buy or book.stops_sell):
                self._trigger_stops(book, out)
        elif tif == GTC:
            # book.rest + _register, inlined
            if side == BUY:
                levels, heap, key = book.bids, book.bid_heap, -price
            else:
                levels, heap, key = book.asks, book.ask_heap, price
            level = levels.get(price)
            if level is None:
                level = levels[price] = Level(price, deque())
                heapq.heappush(heap, key)
            else:
                order.price = level.price  # share the level's int: 32 bytes less per order
            level.orders.append(order)
            total = level.total = level.total + qty
            count = level.count = level.count + 1
            if mine is None:
                mine = self.user_orders[uid] = {}
            mine[oid] = order
            out.append(BookLevelChanged(name, side, price, total, count))
        else:
            self._close(order, out, _UNFILLED)
        return None

    def _place_any(self, c: PlaceOrder, out: list[Event]) -> None:
        """Every order: validate shape -> risk checks -> hold -> accept -> match -> rest
        or cancel the remainder -> trigger stops."""
        book = self.books.get(c.symbol)
        if book is None:
            return self._reject(c, Code.UNKNOWN_SYMBOL, out)
        sym = book.symbol
        name = sym.name
        uid, side, otype, qty, price, tif, stp = (
            c.user_id, c.side, c.order_type, c.qty_lots, c.price_ticks, c.tif, c.stp)
        stop, display, coid, post_only, expire, budget = (
            c.stop_price_ticks, c.display_lots, c.client_order_id, c.post_only, c.expire_ts_ns,
            c.quote_amount_minor)

        # -- shape: one test for the everyday order, the precise checks otherwise ----
        # ``plain``: none of stop, iceberg, client id, post-only, expiry or quote budget
        plain = not (stop or display or coid or post_only or expire or budget)
        if not (
            plain and uid > 0 and (side == BUY or side == SELL) and (tif == GTC or tif == IOC)
            and sym.min_qty_lots <= qty <= sym.max_qty_lots and 0 < stp <= STP_DECREMENT
            and ((otype == LIMIT and 0 < price < MAX_TICKS) or (otype == MARKET and price == 0))
        ):
            code = self._check_shape(c, sym)
            if code:
                return self._reject(c, code, out)

        # -- risk (the order of the checks decides which code a bad order gets) -------
        if self.halted:
            return self._reject(c, Code.TRADING_HALTED, out)
        if book.halted:
            return self._reject(c, Code.SYMBOL_HALTED, out)
        if self.suspended and uid in self.suspended:
            return self._reject(c, Code.USER_SUSPENDED, out)
        if coid and (uid, coid) in self.client_ids:
            return self._reject(c, Code.DUPLICATE_CLIENT_ORDER_ID, out)
        mine = self.user_orders.get(uid)
        if mine is not None and len(mine) >= self._max_open_orders:
            return self._reject(c, Code.TOO_MANY_OPEN_ORDERS, out)
        notional = 0
        if price:
            notional = price * qty * sym.quote_per_tick_lot
            if notional < sym.min_notional_minor:
                return self._reject(c, Code.NOTIONAL_TOO_SMALL, out)
            ref = book.last_price
            if not ref and book.bid_heap and book.ask_heap:
                ref = (book.ask_heap[0] - book.bid_heap[0]) // 2
            if ref:
                dev = price - ref if price >= ref else ref - price
                if dev * 10_000 > ref * sym.price_band_bps:
                    return self._reject(c, Code.PRICE_OUTSIDE_BAND, out)
        if otype == MARKET:
            if tif == GTC:
                tif = IOC  # a market order never rests
            if side == BUY:
                best = book.ask_heap[0] if book.ask_heap else 0
            else:
                best = -book.bid_heap[0] if book.bid_heap else 0
            if not best:
                return self._reject(c, Code.NO_LIQUIDITY, out)
            price = _band_price(best, side, sym.market_protection_bps)
            notional = price * qty * sym.quote_per_tick_lot
        elif not plain:
            if stop:
                last = book.last_price
                if last and (last >= stop if side == BUY else last <= stop):
                    return self._reject(c, Code.STOP_WOULD_TRIGGER, out)
                if otype == STOP_MARKET:
                    # the most a triggered stop-market may pay: the protection band from
                    # the stop
                    price = _band_price(stop, side, sym.market_protection_bps)
                    notional = price * qty * sym.quote_per_tick_lot
            elif post_only and (
                (book.ask_heap and price >= book.ask_heap[0]) if side == BUY
                else (book.bid_heap and price <= -book.bid_heap[0])
            ):
                return self._reject(c, Code.POST_ONLY_WOULD_TAKE, out)

        account = None
        fees = NO_FEES
        accounts = self.accounts_enabled
        if accounts:
            account = self.accounts.get(uid)
            fees = sym.fees
            if account is not None:
                uid = account.user_id  # the user's one int object: 32 bytes less per order
                if account.tier:
                    fees = sym.tier_fees.get(account.tier, fees)
        if budget:
            qty = self._lots_for_budget(book, uid, stp, price, budget, fees.taker_ppm)
            if not qty:
                return self._reject(c, Code.NO_LIQUIDITY, out)
            qty = min(qty, sym.max_qty_lots)
        if tif == FOK and not stop and not self._fillable(book, uid, side, price, qty, stp):
            return self._reject(c, Code.FOK_NOT_FILLABLE, out)

        if side == BUY:
            hold_asset = book.quote_code
            # the notional at the limit plus the larger fee rate; a budget holds itself
            hold = budget or (notional + notional * fees.hold_ppm // PPM if accounts else 0)
        else:
            hold_asset = book.base_code
            hold = qty * sym.base_per_lot if accounts else 0
        if accounts:
            if account is None:
                return self._reject(c, Code.INSUFFICIENT_FUNDS, out)
            if hold > account.free(hold_asset):
                return self._reject(c, Code.INSUFFICIENT_FUNDS, out)
            if side == BUY and self._position_limits:
                if not self._within_position_limit(account, uid, sym, qty):
                    return self._reject(c, Code.POSITION_LIMIT_EXCEEDED, out)
            account.hold(hold_asset, hold)

        # -- accept -----------------------------------------------------------------
        oid = self.next_order_id
        self.next_order_id = oid + 1
        order = Order(oid, uid, name, side, price, qty, qty, display or qty, display, hold,
                      # pack_flags, inlined on the hot path (a call costs ~70 ns here)
                      (otype - 1) | (tif - 1) << 2 | (stp - 1) << 4 | post_only << 6,
                      stop, expire, coid, fees)
        out.append(OrderAccepted(oid, uid, name, side, otype, c.price_ticks, qty, tif, coid,
                                 stop, display, post_only, expire, budget, hold_asset, hold))
        if stop:
            self._register(order)
            if side == BUY:
                heapq.heappush(book.stops_buy, (stop, oid, order))
            else:
                heapq.heappush(book.stops_sell, (-stop, oid, order))
            return None

        # -- match, then rest or cancel the remainder ---------------------------------
        self._execute_then_trigger(book, order, out)
        return None

    def _execute_then_trigger(self, book: OrderBook, order: Order, out: list[Event]) -> None:
        """``_execute``, then release the stops that a new last trade price reaches."""
        last = book.last_price
        self._execute(book, order, out)
        if book.last_price != last and (book.stops_buy or book.stops_sell):
            self._trigger_stops(book, out)

    def _execute(self, book: OrderBook, order: Order, out: list[Event]) -> None:
        """Match an accepted order (an amended or a triggered one), then rest its
        remainder or cancel it."""
        if order.side == BUY:
            if book.ask_heap and book.ask_heap[0] <= order.price:
                self._match(book, order, out)
        elif book.bid_heap and -book.bid_heap[0] >= order.price:
            self._match(book, order, out)
        if order.leaves and order.visible:
            self._rest_or_close(book, order, out)

    def _rest_or_close(self, book: OrderBook, order: Order, out: list[Event]) -> None:
        """An open remainder rests if the order is a GTC/GTD limit, else is cancelled."""
        if RESTS[order.flags & 15]:
            display, leaves = order.display, order.leaves
            order.visible = display if display and display < leaves else leaves
            level = book.rest(order)
            self._register(order)
            out.append(BookLevelChanged(book.symbol.name, order.side, order.price, level.total,
                                        level.count))
        else:
            self._close(order, out, _UNFILLED)

    # =================================================================================
    # orders: matching
    # =================================================================================

    def _match(self, book: OrderBook, taker: Order, out: list[Event]) -> None:
        """Cross ``taker`` against the opposite side, best price first, FIFO within a
        level, up to its limit price. Each fill settles both sides in this command: the
        maker's balances at the fill, the taker's summed over the fills and written once
        (before a self-trade check may close the taker, and at the end).
        O(fills + levels touched)."""
        sym = book.symbol
        name = sym.name
        taker_side = taker.side
        # the taker pays ``pay`` (its held asset) and receives ``recv``; a maker the reverse
        # (slots in the accounts' balances: available there, held at the next index)
        if taker_side == BUY:
            levels, heap, maker_side = book.asks, book.ask_heap, SELL
            limit_key, sign = taker.price, 1
            pay, recv = book.quote_slot, book.base_slot
        else:
            levels, heap, maker_side = book.bids, book.bid_heap, BUY
            limit_key, sign = -taker.price, -1
            pay, recv = book.base_slot, book.quote_slot
        append = out.append
        uid = taker.user_id
        tid = taker.order_id
        rem = taker.leaves
        filled = taker.qty - rem
        next_trade = self.next_trade_id
        accounts = self.accounts if self.accounts_enabled else None
        if accounts is not None:
            qptl, bpl = sym.quote_per_tick_lot, sym.base_per_lot
            tacct = accounts[uid]
            tppm = taker.fees.taker_ppm
            thold = taker.hold
            paid = got = fee_total = 0
        traded = 0  # price of the last fill
        while rem and heap and heap[0] <= limit_key:
            price = heap[0] * sign
            level = levels[price]
            queue = level.orders
            stopped = dropped = touched = False
            while True:
                maker = queue[0]
                vis = maker.visible
                if not vis:
                    queue.popleft()
                    continue
                if maker.user_id == uid:
                    if accounts is not None:
                        self._settle_taker(taker, tacct, pay, recv, thold, paid, got, 0)
                        paid = got = 0
                    rem, stopped = self._self_trade(book, level, taker, maker, rem, out)
                    if accounts is not None:
                        thold = taker.hold
                    touched = touched or taker.stp == STP_DECREMENT
                    dropped = not level.count  # the level went with the cancelled order
                    if stopped or dropped or not rem:
                        break
                    continue
                fill = rem if rem < vis else vis
                traded = price
                touched = True
                rem -= fill
                filled += fill
                maker.visible = vis - fill
                mleaves = maker.leaves - fill
                maker.leaves = mleaves
                level.total -= fill
                mfee = tfee = mrel = trel = notional = base_amt = 0
                if accounts is not None:
                    notional = price * fill * qptl
                    base_amt = fill * bpl
                    rate = maker.fees.maker_ppm
                    mfee = notional * rate // PPM if rate >= 0 else -(notional * -rate // PPM)
                    tfee = notional * tppm // PPM
                    fee_total += mfee + tfee
                    if taker_side == BUY:
                        tpay, mpay = notional + tfee, base_amt
                        got += base_amt
                        mgot = notional - mfee
                    else:
                        tpay, mpay = base_amt, notional + mfee
                        got += notional - tfee
                        mgot = base_amt
                    paid += tpay
                    thold -= tpay
                    mbal = accounts[maker.user_id].balances
                    mbal[recv + 1] -= mpay
                    mbal[pay] += mgot
                    mhold = maker.hold - mpay
                    if not mleaves and mhold:  # release what the filled maker did not use
                        mrel = mhold
                        mbal[recv + 1] -= mrel
                        mbal[recv] += mrel
                        mhold = 0
                    maker.hold = mhold
                    if not rem and thold:
                        trel = thold
                append(TradeExecuted(next_trade, name, price, fill, taker_side, maker.order_id,
                                     tid, maker.user_id, uid, notional, base_amt, mfee, tfee))
                append(OrderFilled(maker.order_id, maker.user_id, name, maker_side, next_trade,
                                   price, fill, maker.qty - mleaves, mleaves, True, mfee, mrel))
                append(OrderFilled(tid, uid, name, taker_side, next_trade, price, fill, filled,
                                   rem, False, tfee, trel))
                next_trade += 1
                if not maker.visible:
                    queue.popleft()
                    if mleaves:  # iceberg: refill the peak at the back of the queue
                        maker.visible = maker.display if maker.display < mleaves else mleaves
                        level.total += maker.visible
                        queue.append(maker)
                    else:
                        level.count -= 1
                        # _unregister, inlined (a call costs as much as the work)
                        mine = self.user_orders[maker.user_id]
                        del mine[maker.order_id]
                        if not mine:
                            del self.user_orders[maker.user_id]
                        if maker.client_order_id:
                            del self.client_ids[(maker.user_id, maker.client_order_id)]
                        if not level.count:
                            break
                if not rem:
                    break
            if dropped or not touched:
                pass  # unchanged, or reported when a self-trade cancel removed the level
            elif level.count:
                append(BookLevelChanged(name, maker_side, price, level.total, level.count))
            else:
                append(BookLevelChanged(name, maker_side, price, 0, 0))
                book.drop_level(maker_side, price)
            if stopped:
                break
        taker.leaves = rem
        if accounts is not None and (paid or got):  # a filled taker's unused hold goes back
            self._settle_taker(taker, tacct, pay, recv, thold, paid, got, 0 if rem else thold)
        if next_trade != self.next_trade_id:
            self.next_trade_id = next_trade
            book.last_price = traded
            if accounts is not None:
                self.fee_balances[book.quote_code] += fee_total

    @staticmethod
    def _settle_taker(taker: Order, account: Account, pay: int, recv: int, hold: int,
                      paid: int, got: int, release: int) -> None:
        """Write the taker's fills summed by ``_match``: ``paid`` out of its hold (now
        ``hold``), ``got`` in, and ``release`` of the rest of the hold back to available.
        ``pay`` and ``recv`` are balance slots."""
        balances = account.balances
        balances[pay + 1] -= paid + release
        balances[pay] += release
        balances[recv] += got
        taker.hold = hold - release

    def _self_trade(
        self, book: OrderBook, level: Level, taker: Order, maker: Order, rem: int, out: list[Event]
    ) -> tuple[int, bool]:
        """Apply the taker's self-trade prevention against its own resting ``maker``.

        Returns the taker's remaining quantity and whether matching must stop. A taker
        cancelled here is closed here (its ``visible`` is set to 0)."""
        mode = taker.stp
        if mode == STP_CANCEL_OLDEST or mode == STP_CANCEL_BOTH:
            self._remove_resting(book, maker, out, _SELF_TRADE)
            if mode == STP_CANCEL_OLDEST:
                return rem, False
            taker.leaves = rem
            self._close(taker, out, _SELF_TRADE)
            return 0, True
        if mode == STP_CANCEL_NEWEST:
            taker.leaves = rem
            self._close(taker, out, _SELF_TRADE)
            return 0, True
        # decrement and cancel: both shrink by the smaller quantity
        dec = rem if rem < maker.leaves else maker.leaves
        if dec == maker.leaves:
            self._remove_resting(book, maker, out, _SELF_TRADE)
        else:
            maker.leaves -= dec
            maker.qty -= dec  # a decrement is not a fill: the order itself shrinks
            if maker.visible > maker.leaves:
                level.total -= maker.visible - maker.leaves
                maker.visible = maker.leaves
            out.append(OrderCancelled(maker.order_id, maker.user_id, maker.symbol, maker.side, dec,
                                      maker.leaves, _SELF_TRADE, 0))
        rem -= dec
        taker.leaves = rem
        taker.qty -= dec
        if rem:
            out.append(OrderCancelled(taker.order_id, taker.user_id, taker.symbol, taker.side, dec,
                                      rem, _SELF_TRADE, 0))
            return rem, False
        taker.leaves = dec
        taker.qty += dec  # closed: the cancelled quantity is reported as cancelled
        self._close(taker, out, _SELF_TRADE)
        return 0, True

    def _fillable(
        self, book: OrderBook, uid: int, side: int, limit: int, qty: int, stp: int
    ) -> bool:
        """Would ``qty`` fill in full up to ``limit``? Mirrors ``_match`` without changing
        anything: own orders are skipped under cancel-oldest, otherwise they stop the
        walk (the taker would be cancelled or decremented there). O(orders walked)."""
        if side == BUY:
            levels, prices = book.asks, sorted(p for p in book.asks if p <= limit)
        else:
            levels, prices = book.bids, sorted((p for p in book.bids if p >= limit), reverse=True)
        need = qty
        for price in prices:
            queue = levels[price].orders
            has_own = stp != STP_CANCEL_OLDEST and any(
                o.visible and o.user_id == uid for o in queue)
            for o in queue:
                if not o.visible:
                    continue
                if o.user_id == uid:
                    if has_own:
                        return False  # the taker is cancelled or decremented here
                    continue  # cancel-oldest: the own order is cancelled, matching goes on
                # an iceberg's hidden part refills behind an own order: out of reach then
                need -= o.visible if has_own else o.leaves
                if need <= 0:
                    return True
        return False

    def _lots_for_budget(
        self, book: OrderBook, uid: int, stp: int, limit: int, budget: int, taker_ppm: int
    ) -> int:
        """How many lots a market buy can take with ``budget`` quote minor units, fees
        included, walking the asks up to ``limit`` (other users' orders only). The
        actual cost never exceeds this walk's, as per-fill fees truncate."""
        sym = book.symbol
        unit = sym.quote_per_tick_lot
        lots = 0
        for price in sorted(p for p in book.asks if p <= limit):
            available = sum(o.leaves for o in book.asks[price].orders
                            if o.visible and o.user_id != uid)
            per_lot = price * unit
            can = budget * PPM // (per_lot * (PPM + taker_ppm))
            while True:  # truncated fees can leave room for one more lot
                notional = (can + 1) * per_lot
                if notional + notional * taker_ppm // PPM > budget:
                    break
                can += 1
            take = min(can, available)
            notional = take * per_lot
            budget -= notional + notional * taker_ppm // PPM
            lots += take
            if take < available:
                break
        return lots

    def _trigger_stops(self, book: OrderBook, out: list[Event]) -> None:
        """Release stops reached by the last trade price, one at a time, each executed
        before the next is considered (so cascades see the prices they cause).

        Order: on each side the stop the price crossed first (buys: lowest stop; sells:
        highest), then the earlier order; between the two sides, the earlier order."""
        is_open = self._is_open
        buys, sells = book.stops_buy, book.stops_sell
        while True:
            while buys and not (buys[0][2].stop_price and is_open(buys[0][2])):
                heapq.heappop(buys)
            while sells and not (sells[0][2].stop_price and is_open(sells[0][2])):
                heapq.heappop(sells)
            last = book.last_price
            buy = buys[0] if buys and buys[0][0] <= last else None
            sell = sells[0] if sells and -sells[0][0] >= last else None
            if buy is None and sell is None:
                return
            if buy is not None and (sell is None or buy[1] < sell[1]):
                order = heapq.heappop(buys)[2]
            else:
                order = heapq.heappop(sells)[2]
            out.append(OrderTriggered(order.order_id, order.user_id, order.symbol,
                                      order.stop_price, last))
            order.stop_price = 0
            self._unregister(order)
            if order.order_type == STOP_MARKET:
                best = (book.ask_heap[0] if book.ask_heap else 0) if order.side == BUY else (
                    -book.bid_heap[0] if book.bid_heap else 0)
                if not best:
                    self._close(order, out, _UNFILLED)
                    continue
                band = _band_price(best, order.side, book.symbol.market_protection_bps)
                if order.side == BUY:
                    order.price = min(band, order.price)
                else:
                    order.price = max(band, order.price)
            if order.tif == FOK and not self._fillable(book, order.user_id, order.side,
                                                       order.price, order.leaves, order.stp):
                self._close(order, out, _UNFILLED)
                continue
            self._execute(book, order, out)

    # =================================================================================
    # orders: cancel, amend, expire
    # =================================================================================

    def _find(self, uid: int, order_id: int, coid: str) -> tuple[Order | None, int]:
        """The user's open order by id (or client id when the id is 0). Orders are found
        through their owner, so another user's order is simply unknown (1012)."""
        if order_id == 0:
            order_id = self.client_ids.get((uid, coid), 0) if coid else 0
        mine = self.user_orders.get(uid)
        order = mine.get(order_id) if mine is not None else None
        if order is None:
            return None, Code.UNKNOWN_ORDER
        return order, Code.OK

    def _cancel(self, c: CancelOrder, out: list[Event]) -> None:
        uid = c.user_id
        oid = c.order_id
        if oid == 0 and c.client_order_id:
            oid = self.client_ids.get((uid, c.client_order_id), 0)
        mine = self.user_orders.get(uid)
        order = mine.get(oid) if mine is not None else None
        if mine is None or order is None:
            out.append(OrderRejected(uid, Code.UNKNOWN_ORDER, message(Code.UNKNOWN_ORDER),
                                     c.client_order_id, c.order_id))
            return
        if order.stop_price:
            self._remove_open(order, out, CancelReason.USER)
            return
        # the everyday cancel of a resting order, inlined: book.unlink + _unregister + _close
        book = self.books[order.symbol]
        side, price = order.side, order.price
        level = (book.bids if side == BUY else book.asks)[price]
        level.total -= order.visible
        level.count -= 1
        order.visible = 0
        if not level.count:
            book.drop_level(side, price)
        elif len(level.orders) > 2 * level.count + 16:
            book.compact(level)
        del mine[oid]
        if not mine:
            del self.user_orders[uid]
        if order.client_order_id:
            del self.client_ids[(uid, order.client_order_id)]
        out.append(BookLevelChanged(order.symbol, side, price, level.total, level.count))
        released = order.hold
        if released and self.accounts_enabled:
            slot = book.quote_slot if side == BUY else book.base_slot
            balances = self.accounts[uid].balances
            balances[slot + 1] -= released
            balances[slot] += released
            order.hold = 0
        out.append(OrderCancelled(oid, uid, order.symbol, side, order.leaves, 0, _USER, released))

    def _cancel_all(self, c: CancelAll, out: list[Event]) -> None:
        symbol = c.symbol
        if symbol and symbol not in self.books:
            out.append(OrderRejected(c.user_id, Code.UNKNOWN_SYMBOL,
                                     message(Code.UNKNOWN_SYMBOL), "", 0))
            return
        if c.user_id:
            pool: Iterable[Order] = self.user_orders.get(c.user_id, {}).values()
        else:
            pool = [o for mine in self.user_orders.values() for o in mine.values()]
        victims = sorted((o for o in pool if not symbol or o.symbol == symbol),
                         key=lambda o: o.order_id)
        for order in victims:
            self._remove_open(order, out, CancelReason.CANCEL_ALL)

    def _remove_open(self, order: Order, out: list[Event], reason: int) -> None:
        """Cancel an open order (resting or pending stop) in full."""
        if order.stop_price:
            self._unregister(order)  # its stop-heap entry is dropped lazily
            self._close(order, out, reason)
        else:
            self._remove_resting(self.books[order.symbol], order, out, reason)

    def _remove_resting(self, book: OrderBook, order: Order, out: list[Event], reason: int) -> None:
        level = book.unlink(order)
        self._unregister(order)
        out.append(BookLevelChanged(order.symbol, order.side, order.price, level.total,
                                    level.count))
        self._close(order, out, reason)

    def _amend(self, c: AmendOrder, out: list[Event]) -> None:
        order, code = self._find(c.user_id, c.order_id, "")
        if order is not None:
            code = self._check_amend(order, c)
        if order is None or code:
            out.append(OrderRejected(c.user_id, code, message(code), "", c.order_id))
            return
        book = self.books[order.symbol]
        sym = book.symbol
        price = c.price_ticks or order.price
        qty = c.qty_lots or order.qty
        leaves = qty - order.filled
        account = self.accounts.get(order.user_id) if self.accounts_enabled else None
        hold, delta = order.hold, 0
        if account is not None:
            if order.side == BUY:
                asset = book.quote_code
                notional = price * leaves * sym.quote_per_tick_lot
                hold = notional + notional * order.fees.hold_ppm // PPM
            else:
                asset = book.base_code
                hold = leaves * sym.base_per_lot
            delta = hold - order.hold
            code = Code.OK
            if delta > account.free(asset):
                code = Code.INSUFFICIENT_FUNDS
            elif delta and order.side == BUY and self._position_limits and (
                    not self._within_position_limit(
                        account, c.user_id, sym, leaves - order.leaves)):
                code = Code.POSITION_LIMIT_EXCEEDED
            if code:
                out.append(OrderRejected(c.user_id, code, message(code), "", c.order_id))
                return
            account.hold(asset, delta)
        if price == order.price and qty < order.qty:  # keeps its place in the queue
            level = (book.bids if order.side == BUY else book.asks)[price]
            visible = min(order.visible, leaves)
            level.total -= order.visible - visible
            order.visible, order.leaves, order.qty, order.hold = visible, leaves, qty, hold
            out.append(OrderAmended(order.order_id, order.user_id, order.symbol, order.side,
                                    price, qty, leaves, True, delta))
            out.append(BookLevelChanged(order.symbol, order.side, price, level.total, level.count))
            return
        # loses priority: leave the old queue entry dead, enter a fresh one
        level = book.unlink(order)
        self._unregister(order)
        out.append(BookLevelChanged(order.symbol, order.side, order.price, level.total,
                                    level.count))
        fresh = Order(order.order_id, order.user_id, order.symbol, order.side, price, qty,
                      leaves, leaves, order.display, hold, order.flags, 0, order.expire_ts,
                      order.client_order_id, order.fees)
        out.append(OrderAmended(order.order_id, order.user_id, order.symbol, order.side,
                                price, qty, leaves, False, delta))
        self._execute_then_trigger(book, fresh, out)

    def _check_amend(self, order: Order, c: AmendOrder) -> int:
        book = self.books[order.symbol]
        sym = book.symbol
        if order.stop_price or (order.order_type != LIMIT and order.order_type != STOP_LIMIT):
            return Code.ORDER_NOT_AMENDABLE
        if self.halted:
            return Code.TRADING_HALTED
        if book.halted:
            return Code.SYMBOL_HALTED
        if c.price_ticks < 0 or c.price_ticks >= MAX_TICKS:
            return Code.INVALID_PRICE
        if c.qty_lots < 0 or c.qty_lots >= MAX_TICKS:
            return Code.INVALID_QUANTITY
        price = c.price_ticks or order.price
        qty = c.qty_lots or order.qty
        if price == order.price and qty == order.qty:
            return Code.AMEND_NO_CHANGE
        if qty <= order.filled:
            return Code.AMEND_BELOW_FILLED
        if qty > sym.max_qty_lots:
            return Code.QUANTITY_TOO_LARGE
        if qty < sym.min_qty_lots:
            return Code.QUANTITY_TOO_SMALL
        if order.display and order.display >= qty:
            return Code.INVALID_DISPLAY_QUANTITY
        if price * qty * sym.quote_per_tick_lot < sym.min_notional_minor:
            return Code.NOTIONAL_TOO_SMALL
        if price != order.price:
            ref = book.reference_price()
            if ref and abs(price - ref) * 10_000 > ref * sym.price_band_bps:
                return Code.PRICE_OUTSIDE_BAND
            if order.post_only and (
                (order.side == BUY and book.ask_heap and price >= book.ask_heap[0])
                or (order.side == SELL and book.bid_heap and price <= -book.bid_heap[0])
            ):
                return Code.POST_ONLY_WOULD_TAKE
        return Code.OK

    def _expire(self, ts_ns: int, out: list[Event], command: object = None) -> None:
        """Expire every GTD order with ``expire_ts <= ts_ns``, earliest first, then fire
        the P2P deadlines due by then (those of an outage being recorded by ``command``
        are judged without its downtime: it extends them first)."""
        heap = self.expiries
        while heap and heap[0][0] <= ts_ns:
            _, oid, _, order = heapq.heappop(heap)
            if not self._is_open(order):
                continue  # gone already, or replaced by an amendment
            if order.stop_price:
                self._unregister(order)
            else:
                book = self.books[order.symbol]
                level = book.unlink(order)
                self._unregister(order)
                out.append(BookLevelChanged(order.symbol, order.side, order.price, level.total,
                                            level.count))
            released = self._release_all(order)
            out.append(OrderExpired(oid, order.user_id, order.symbol, order.side, order.leaves,
                                     released))
        desk = self.p2p
        if desk.next_deadline <= ts_ns:
            desk.fire(ts_ns - desk.outage_downtime(command), out)
        self._reschedule()

    def _reschedule(self) -> None:
        """``_next_expiry``: the earlier of the next GTD expiry and the next P2P deadline."""
        heap = self.expiries
        first = heap[0][0] if heap else NEVER
        deadline = self.p2p.next_deadline
        self._next_expiry = first if first < deadline else deadline

    # =================================================================================
    # orders: bookkeeping
    # =================================================================================

    def _register(self, order: Order) -> None:
        """Index an order that stays open (resting or pending stop). O(1)."""
        mine = self.user_orders.get(order.user_id)
        if mine is None:
            mine = self.user_orders[order.user_id] = {}
        mine[order.order_id] = order
        if order.client_order_id:
            self.client_ids[(order.user_id, order.client_order_id)] = order.order_id
        if order.expire_ts:
            self._push_expiry(order)

    def _push_expiry(self, order: Order) -> None:
        self._expiry_serial += 1  # an amended order is pushed again under the same id
        heapq.heappush(self.expiries, (order.expire_ts, order.order_id, self._expiry_serial, order))
        if order.expire_ts < self._next_expiry:
            self._next_expiry = order.expire_ts

    def _unregister(self, order: Order) -> None:
        """Drop an order from the indexes (not from the book). O(1)."""
        uid = order.user_id
        mine = self.user_orders[uid]
        del mine[order.order_id]
        if not mine:
            del self.user_orders[uid]
        if order.client_order_id:
            del self.client_ids[(uid, order.client_order_id)]

    def _is_open(self, order: Order) -> bool:
        """Is this very object still the open order under its id? O(1)."""
        mine = self.user_orders.get(order.user_id)
        return mine is not None and mine.get(order.order_id) is order

    def _close(self, order: Order, out: list[Event], reason: int) -> None:
        """The order's open quantity is cancelled; release its hold and report it."""
        released = self._release_all(order)
        out.append(OrderCancelled(order.order_id, order.user_id, order.symbol, order.side,
                                  order.leaves, 0,
                                  reason, released))
        order.visible = 0

    def _release_all(self, order: Order) -> int:
        amount = order.hold
        if amount and self.accounts_enabled:
            self._release(self.accounts[order.user_id], order, amount)
        return amount

    def _release(self, account: Account, order: Order, amount: int) -> None:
        book = self.books[order.symbol]
        account.release(book.quote_code if order.side == BUY else book.base_code, amount)
        order.hold -= amount

    def _within_position_limit(self, account: Account, uid: int, sym: Symbol, qty: int) -> bool:
        """Owned base + base still to come from open buys + this order <= the limit.
        O(user's open orders); only runs for assets that have a limit."""
        limit = self.limits.position_limits_minor.get(sym.base.code)
        if limit is None:
            return True
        base = sym.base.code
        i = account.slots[base]
        owned = account.balances[i] + account.balances[i + 1]
        pending = sum(o.leaves * self.books[o.symbol].symbol.base_per_lot
                      for o in self.user_orders.get(uid, {}).values()
                      if o.side == BUY and self.books[o.symbol].symbol.base.code == base)
        return owned + pending + qty * sym.base_per_lot <= limit

    # =================================================================================
    # wallets
    # =================================================================================

    def _wallet_reject(self, uid: int, code: int, command: object, out: list[Event]) -> None:
        out.append(CommandRejected(uid, code, message(code), type(command).__name__))

    def _account(self, uid: int) -> Account:
        account = self.accounts.get(uid)
        if account is None:
            account = self.accounts[uid] = Account(uid, [0] * (2 * len(self._slots)),
                                                   self._slots)
        return account

    def _amount_ok(self, asset: str, amount: int) -> int:
        if asset not in self.markets.assets:
            return Code.UNKNOWN_ASSET
        if not 0 < amount < MAX_UNITS:
            return Code.INVALID_AMOUNT
        return Code.OK

    def _supply_ok(self, asset: str, amount: int) -> int:
        """``SUPPLY_LIMIT`` if bringing ``amount`` more of ``asset`` into the exchange would
        pass its maximum supply, else ``OK``. O(1).

        Only deposits and positive adjustments bring money in; every other command
        (transfer, trade settlement, fee, hold, withdrawal) moves it between accounts
        inside this total, so with the total bounded no balance can pass it either."""
        inside = -self.external_balances[asset]  # what users and the fee account hold
        if inside + amount > self.markets.assets[asset].max_supply_minor:
            return Code.SUPPLY_LIMIT
        return Code.OK

    def _new_wallet_op(self) -> int:
        op = self.next_wallet_op_id
        self.next_wallet_op_id = op + 1
        return op

    def _deposit(self, c: Deposit, out: list[Event]) -> None:
        uid, address = c.user_id, c.address
        code = self._amount_ok(c.asset, c.amount_minor)
        if not code and not uid:
            owner = self.addresses.get(address)
            if owner is None or owner[1] != c.asset:
                code = Code.UNKNOWN_ADDRESS
            else:
                uid = owner[0]
        if not code and uid <= 0:
            code = Code.INVALID_USER
        if not code:
            code = self._supply_ok(c.asset, c.amount_minor)
        if code:
            return self._wallet_reject(c.user_id, code, c, out)
        account = self._account(uid)
        account.credit(c.asset, c.amount_minor)
        self.external_balances[c.asset] -= c.amount_minor
        out.append(Deposited(self._new_wallet_op(), uid, c.asset, c.amount_minor, address,
                             c.reference[:200]))
        return None

    def _create_address(self, c: CreateAddress, out: list[Event]) -> None:
        if c.asset not in self.markets.assets:
            return self._wallet_reject(c.user_id, Code.UNKNOWN_ASSET, c, out)
        if c.user_id <= 0:
            return self._wallet_reject(c.user_id, Code.INVALID_USER, c, out)
        if (c.user_id, c.asset) in self.user_addresses:
            return self._wallet_reject(c.user_id, Code.ADDRESS_EXISTS, c, out)
        nonce = 0
        while True:  # deterministic: derived from (user, asset), re-derived on a collision
            digest = hashlib.blake2b(f"{c.user_id}:{c.asset}:{nonce}".encode(), digest_size=12,
                                     person=b"mb-address").hexdigest()
            address = f"mb1{c.asset.lower()}{digest}"
            if address not in self.addresses:
                break
            nonce += 1
        self.addresses[address] = (c.user_id, c.asset)
        self.user_addresses[(c.user_id, c.asset)] = address
        self._account(c.user_id)
        out.append(AddressCreated(c.user_id, c.asset, address))
        return None

    def _request_withdrawal(self, c: RequestWithdrawal, out: list[Event]) -> None:
        code = self._amount_ok(c.asset, c.amount_minor)
        account = self.accounts.get(c.user_id)
        if not code and c.user_id in self.suspended:
            code = Code.USER_SUSPENDED
        if not code and (account is None or account.free(c.asset) < c.amount_minor):
            code = Code.INSUFFICIENT_FUNDS
        if not code and len(c.destination) > 200:
            code = Code.INVALID_DESTINATION
        if code or account is None:
            return self._wallet_reject(c.user_id, code, c, out)
        account.hold(c.asset, c.amount_minor)
        wid = self._new_wallet_op()
        self.withdrawals[wid] = Withdrawal(wid, c.user_id, c.asset, c.amount_minor, c.destination)
        out.append(WithdrawalRequested(wid, c.user_id, c.asset, c.amount_minor, c.destination))
        return None

    def _settle_withdrawal(self, wid: int, command: object, out: list[Event]) -> Withdrawal | None:
        pending = self.withdrawals.pop(wid, None)
        if pending is None:
            code = (Code.WITHDRAWAL_NOT_PENDING if wid in self.settled_withdrawals
                    else Code.UNKNOWN_WITHDRAWAL)
            self._wallet_reject(0, code, command, out)
            return None
        self.settled_withdrawals.add(wid)
        self.accounts[pending.user_id].spend_held(pending.asset, pending.amount_minor)
        return pending

    def _complete_withdrawal(self, c: CompleteWithdrawal, out: list[Event]) -> None:
        w = self._settle_withdrawal(c.withdrawal_id, c, out)
        if w is not None:
            self.external_balances[w.asset] += w.amount_minor
            out.append(WithdrawalCompleted(w.withdrawal_id, w.user_id, w.asset, w.amount_minor))

    def _reject_withdrawal(self, c: RejectWithdrawal, out: list[Event]) -> None:
        w = self._settle_withdrawal(c.withdrawal_id, c, out)
        if w is not None:
            self.accounts[w.user_id].credit(w.asset, w.amount_minor)
            out.append(WithdrawalRejected(w.withdrawal_id, w.user_id, w.asset, w.amount_minor,
                                          c.reason[:200]))

    def _transfer(self, c: Transfer, out: list[Event]) -> None:
        code = self._amount_ok(c.asset, c.amount_minor)
        owner = self.addresses.get(c.to_address)
        account = self.accounts.get(c.user_id)
        if not code and (owner is None or owner[1] != c.asset):
            code = Code.UNKNOWN_ADDRESS
        if not code and owner is not None and owner[0] == c.user_id:
            code = Code.TRANSFER_TO_SELF
        if not code and c.user_id in self.suspended:
            code = Code.USER_SUSPENDED
        if not code and (account is None or account.free(c.asset) < c.amount_minor):
            code = Code.INSUFFICIENT_FUNDS
        if code or owner is None or account is None:
            return self._wallet_reject(c.user_id, code, c, out)
        target = self._account(owner[0])
        account.credit(c.asset, -c.amount_minor)
        target.credit(c.asset, c.amount_minor)
        out.append(Transferred(self._new_wallet_op(), c.user_id, owner[0], c.to_address, c.asset,
                               c.amount_minor))
        return None

    def _adjust(self, c: AdjustBalance, out: list[Event]) -> None:
        code = self._amount_ok(c.asset, abs(c.amount_minor))
        if not code and c.user_id <= 0:
            code = Code.INVALID_USER
        if not code and not 0 < len(c.reason.strip()) <= 200:
            code = Code.INVALID_REASON
        account = self.accounts.get(c.user_id)
        if not code and c.amount_minor < 0 and (
                account is None or account.free(c.asset) < -c.amount_minor):
            code = Code.INSUFFICIENT_FUNDS
        if not code and c.amount_minor > 0:
            code = self._supply_ok(c.asset, c.amount_minor)
        if code:
            return self._wallet_reject(c.user_id, code, c, out)
        account = self._account(c.user_id)
        account.credit(c.asset, c.amount_minor)
        self.external_balances[c.asset] -= c.amount_minor
        out.append(BalanceAdjusted(self._new_wallet_op(), c.user_id, c.asset, c.amount_minor,
                                   c.reason))
        return None

    # =================================================================================
    # operations
    # =================================================================================

    def _halt(self, c: HaltTrading, out: list[Event]) -> None:
        if c.symbol and c.symbol not in self.books:
            return self._wallet_reject(0, Code.UNKNOWN_SYMBOL, c, out)
        if c.symbol:
            self.books[c.symbol].halted = True
        else:
            self.halted = True
        out.append(TradingHalted(c.symbol))
        return None

    def _resume(self, c: ResumeTrading, out: list[Event]) -> None:
        if c.symbol and c.symbol not in self.books:
            return self._wallet_reject(0, Code.UNKNOWN_SYMBOL, c, out)
        if c.symbol:
            self.books[c.symbol].halted = False
        else:
            self.halted = False
        out.append(TradingResumed(c.symbol))
        return None

    def _suspend(self, c: SuspendUser, out: list[Event]) -> None:
        if c.user_id <= 0:
            return self._wallet_reject(c.user_id, Code.INVALID_USER, c, out)
        self.suspended.add(c.user_id)
        out.append(UserSuspended(c.user_id))
        for order in sorted(self.user_orders.get(c.user_id, {}).values(), key=lambda o: o.order_id):
            self._remove_open(order, out, CancelReason.SUSPENDED)
        return None

    def _reinstate(self, c: ReinstateUser, out: list[Event]) -> None:
        if c.user_id <= 0:
            return self._wallet_reject(c.user_id, Code.INVALID_USER, c, out)
        if c.user_id not in self.suspended:
            return self._wallet_reject(c.user_id, Code.USER_NOT_SUSPENDED, c, out)
        self.suspended.discard(c.user_id)
        out.append(UserReinstated(c.user_id))
        return None

    def _set_tier(self, c: SetFeeTier, out: list[Event]) -> None:
        if c.user_id <= 0:
            return self._wallet_reject(c.user_id, Code.INVALID_USER, c, out)
        if c.tier and c.tier not in self._tiers:
            return self._wallet_reject(c.user_id, Code.UNKNOWN_FEE_TIER, c, out)
        self._account(c.user_id).tier = c.tier
        out.append(FeeTierSet(c.user_id, c.tier))
        return None

    def _set_limits(self, c: SetRiskLimits, out: list[Event]) -> None:
        limits = RiskLimits(c.max_open_orders, dict(c.position_limits))
        if len(limits.position_limits_minor) != len(c.position_limits) or (
                not limits.valid_for(self.markets)):  # an asset twice, or out of bounds
            return self._wallet_reject(0, Code.INVALID_RISK_LIMITS, c, out)
        self._use_limits(limits)
        out.append(RiskLimitsSet(c.max_open_orders, tuple(sorted(c.position_limits))))
        return None

    def _use_limits(self, limits: RiskLimits) -> None:
        self.limits = limits
        self._max_open_orders = limits.max_open_orders
        self._position_limits = limits.position_limits_minor

    # =================================================================================
    # queries
    # =================================================================================

    def balance(self, uid: int, asset: str) -> tuple[int, int]:
        """``(available, held)`` in minor units (0, 0 for an unknown user). O(1)."""
        account = self.accounts.get(uid)
        slot = self._slots.get(asset) if account is not None else None
        if account is None or slot is None:
            return 0, 0
        return account.balances[slot], account.balances[slot + 1]

    @property
    def orders(self) -> dict[int, Order]:
        """Every open order by id: a new dict, O(open orders). Orders are indexed per user
        only (one index less per resting order); use ``user_orders`` on hot paths."""
        return {oid: o for mine in self.user_orders.values() for oid, o in mine.items()}

    @property
    def open_order_count(self) -> int:
        """O(users)."""
        return sum(len(mine) for mine in self.user_orders.values())

    def open_orders(self, uid: int, symbol: str = "") -> list[Order]:
        """The user's open orders (resting and pending stops), oldest first."""
        mine = self.user_orders.get(uid, {}).values()
        return sorted((o for o in mine if not symbol or o.symbol == symbol),
                      key=lambda o: o.order_id)

    @property
    def escrow_balances(self) -> dict[str, int]:
        """What P2P escrow holds per asset (sell ads' remaining and live trades)."""
        return self.p2p.escrow

    def escrow_of(self, uid: int) -> Mapping[str, int]:
        """What ``uid`` has in P2P escrow per asset (as a seller). O(1)."""
        return self.p2p.escrow_of(uid)

    def asset_totals(self) -> dict[str, int]:
        """Per asset: sum over every account (users, escrow, fees, external). Always all
        zero."""
        escrow = self.p2p.escrow
        totals = {a: self.fee_balances[a] + self.external_balances[a] + escrow[a]
                  for a in self.markets.assets}
        for account in self.accounts.values():
            for asset, i in account.slots.items():
                totals[asset] += account.balances[i] + account.balances[i + 1]
        return totals

    # =================================================================================
    # state
    # =================================================================================

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain, canonically ordered data (for hashing and snapshots).

        Resting orders are listed per level in time priority, so restoring keeps FIFO.
        """
        def order_row(o: Order) -> list[Any]:
            return [o.order_id, o.user_id, o.symbol, o.side, o.order_type, o.price, o.qty,
                    o.leaves, o.visible, o.display, o.tif, o.stp, o.post_only, o.stop_price,
                    o.expire_ts, o.client_order_id, o.hold, o.fee_maker, o.fee_taker]


        orders = self.orders
        books = {}
        for name in sorted(self.books):
            book = self.books[name]
            stops = sorted((o for o in orders.values() if o.symbol == name and o.stop_price),
                           key=lambda o: o.order_id)
            books[name] = {
                "bids": [order_row(o) for o in book.iter_orders(BUY)],
                "asks": [order_row(o) for o in book.iter_orders(SELL)],
                "stops": [order_row(o) for o in stops],
                "last_price": book.last_price,
                "halted": book.halted,
            }
        return {
            "books": books,
            "accounts": {
                uid: [sorted((a, v) for a, v in acct.available.items() if v),
                      sorted((a, v) for a, v in acct.held.items() if v), acct.tier]
                for uid, acct in sorted(self.accounts.items())
            },
            "fees": sorted(self.fee_balances.items()),
            "external": sorted(self.external_balances.items()),
            "withdrawals": [msgspec.structs.astuple(w)
                            for _, w in sorted(self.withdrawals.items())],
            "settled_withdrawals": sorted(self.settled_withdrawals),
            "addresses": sorted((a, u, s) for a, (u, s) in self.addresses.items()),
            "suspended": sorted(self.suspended),
            "halted": self.halted,
            "counters": [self.next_order_id, self.next_trade_id, self.next_wallet_op_id],
            "limits": [self.limits.max_open_orders,
                       sorted(self.limits.position_limits_minor.items())],
            "p2p": self.p2p.snapshot(),
            "last": [self.last_seq, self.last_ts],
        }

    def state_hash(self) -> str:
        """BLAKE2b of the canonical snapshot: equal states give equal hashes."""
        state = self.snapshot()
        del state["last"]  # the stamp of the last command is not state: a rejection keeps the hash
        if self.p2p.untouched():  # hashes as before the P2P desk: revisions stay comparable
            del state["p2p"]
        data = msgspec.json.encode(state)  # JSON: balances may exceed 64 bits
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    @classmethod
    def restore(
        cls,
        markets: Markets,
        state: Mapping[str, Any],
        *,
        accounts: bool = True,
    ) -> Engine:
        """Rebuild an engine from ``snapshot()`` output (also after a JSON round trip),
        risk limits included."""
        engine = cls(markets, accounts=accounts)
        fee_schedules: dict[tuple[int, int], FeeSchedule] = {}  # shared, as when placed
        for name, data in state["books"].items():
            book = engine.books[name]
            book.last_price = data["last_price"]
            book.halted = data["halted"]
            for row in [*data["bids"], *data["asks"]]:
                order = _order_from_row(row, fee_schedules)
                book.rest(order)
                engine._register(order)
            for row in data["stops"]:
                order = _order_from_row(row, fee_schedules)
                engine._register(order)
                heap = book.stops_buy if order.side == BUY else book.stops_sell
                key = order.stop_price if order.side == BUY else -order.stop_price
                heapq.heappush(heap, (key, order.order_id, order))
        for uid, (available, held, tier) in state["accounts"].items():
            uid = int(uid)
            account = engine._account(uid)
            account.tier = tier
            balances, slots = account.balances, account.slots
            for asset, amount in available:
                balances[slots[asset]] = amount
            for asset, amount in held:
                balances[slots[asset] + 1] = amount
        engine.fee_balances.update(dict(state["fees"]))
        engine.external_balances.update(dict(state["external"]))
        for row in state["withdrawals"]:
            w = Withdrawal(*row)
            engine.withdrawals[w.withdrawal_id] = w
        engine.settled_withdrawals = set(state["settled_withdrawals"])
        for address, uid, asset in state["addresses"]:
            engine.addresses[address] = (uid, asset)
            engine.user_addresses[(uid, asset)] = address
        engine.suspended = set(state["suspended"])
        engine.halted = state["halted"]
        engine.next_order_id, engine.next_trade_id, engine.next_wallet_op_id = state["counters"]
        max_open, positions = state["limits"]
        engine._use_limits(RiskLimits(max_open, {asset: amount for asset, amount in positions}))
        engine.last_seq, engine.last_ts = state["last"]
        if "p2p" in state:  # a snapshot written before the P2P desk has none
            engine.p2p.restore(state["p2p"])
        return engine

    def _check(self) -> None:
        """Assert every invariant of the whole state (tests call it after each command)."""
        orders = self.orders
        live = 0
        for book in self.books.values():
            book._check()
            for side in (BUY, SELL):
                for order in book.iter_orders(side):
                    assert orders.get(order.order_id) is order, "resting order is indexed"
                    live += 1
        stops = [o for o in orders.values() if o.stop_price]
        assert live + len(stops) == len(orders), "every indexed order is live"
        for order in stops:
            book = self.books[order.symbol]
            heap = book.stops_buy if order.side == BUY else book.stops_sell
            assert any(entry[2] is order for entry in heap), "pending stop is in its heap"
        assert sum(len(m) for m in self.user_orders.values()) == len(orders)
        for uid, mine in self.user_orders.items():
            assert mine, "no empty user index is kept"
            for oid, order in mine.items():
                assert order.user_id == uid and orders[oid] is order
        assert len(self.client_ids) == sum(1 for o in orders.values() if o.client_order_id)
        for (uid, coid), oid in self.client_ids.items():
            order = orders[oid]
            assert order.user_id == uid and order.client_order_id == coid
        for order in orders.values():
            assert order.order_id < self.next_order_id
            if order.expire_ts:
                assert order.expire_ts > self.last_ts, "an expired order is still open"
                assert any(e[3] is order for e in self.expiries), "a GTD order is scheduled"
        self.p2p._check()
        if not self.accounts_enabled:
            return
        for asset, total in self.asset_totals().items():
            assert total == 0, f"{asset} is not conserved: {total}"
            assert 0 <= -self.external_balances[asset] <= (
                self.markets.assets[asset].max_supply_minor), f"{asset} passed its max supply"
            assert self.fee_balances[asset] >= 0, f"the {asset} fee account is negative"
        held_expected: dict[tuple[int, str], int] = {}
        for order in orders.values():
            sym = self.books[order.symbol].symbol
            asset = sym.quote.code if order.side == BUY else sym.base.code
            key = (order.user_id, asset)
            held_expected[key] = held_expected.get(key, 0) + order.hold
            assert order.hold >= 0
        for w in self.withdrawals.values():
            key = (w.user_id, w.asset)
            held_expected[key] = held_expected.get(key, 0) + w.amount_minor
        for uid, account in self.accounts.items():
            for asset, amount in account.available.items():
                assert amount >= 0, f"user {uid} {asset} available is negative"
            for asset, amount in account.held.items():
                assert amount == held_expected.get((uid, asset), 0), (
                    f"user {uid} {asset} held {amount} != holds of open orders and withdrawals")


def _order_from_row(row: list[Any], schedules: dict[tuple[int, int], FeeSchedule]) -> Order:
    (oid, uid, symbol, side, otype, price, qty, leaves, visible, display, tif, stp, post_only,
     stop, expire, coid, hold, maker_ppm, taker_ppm) = row
    fees = schedules.setdefault((maker_ppm, taker_ppm), FeeSchedule(maker_ppm, taker_ppm))
    return Order(oid, uid, symbol, side, price, qty, leaves, visible, display, hold,
                 pack_flags(otype, tif, stp, post_only), stop, expire, coid, fees)


# (side, order type, time in force, self-trade mode) of an everyday order -> its flags
# (see ``pack_flags``; a market order is IOC even when sent as GTC)
_PLAIN_FLAGS: dict[tuple[int, int, int, int], int] = {
    (side, otype, tif, stp): pack_flags(otype, IOC if otype == MARKET else tif, stp, False)
    for side in (BUY, SELL) for otype in (LIMIT, MARKET) for tif in (GTC, IOC)
    for stp in range(1, STP_DECREMENT + 1)}


def _band_price(price: int, side: int, bps: int) -> int:
    """The worst price a market order may reach from ``price``: up for buys (rounded
    down to a tick), down for sells (rounded up), never below one tick."""
    if side == BUY:
        return price * (10_000 + bps) // 10_000
    return max(1, -(-price * (10_000 - bps) // 10_000))


__all__ = ["Account", "Engine", "RiskLimits", "Withdrawal"]
