# C types of core/matching.py for the compiled build (Cython, pure-Python mode): the .py
# is the one source of the code; this file only declares types, and is ignored when the
# module runs interpreted. Compiled with annotation_typing=False: the .py's annotations
# are for mypy, the C types are these.

cimport cython
from cpython.array cimport array as c_array

# The three everyday commands, seen as their C layout: a field is read as one load from
# the object instead of a generic attribute look-up. A ``msgspec.Struct`` keeps its fields
# as object slots after the object header, in the order CPython lays out ``__slots__``
# (sorted by name); ``_check_command_layout`` in the .py compares every field read this
# way with ``msgspec.structs.astuple`` when the module is imported, and refuses to import
# if they differ.
cdef extern from *:
    """
    typedef struct {
        PyObject_HEAD
        PyObject *client_order_id, *display_lots, *expire_ts_ns, *order_type, *post_only,
            *price_ticks, *qty_lots, *quote_amount_minor, *side, *stop_price_ticks, *stp,
            *symbol, *tif, *user_id;
    } matchbook_PlaceOrder;
    typedef struct {
        PyObject_HEAD
        PyObject *client_order_id, *order_id, *user_id;
    } matchbook_CancelOrder;
    typedef struct {
        PyObject_HEAD
        PyObject *order_id, *price_ticks, *qty_lots, *user_id;
    } matchbook_AmendOrder;
    typedef struct {
        PyObject_HEAD
        PyObject *balances, *slots, *tier, *user_id;
    } matchbook_Account;
    typedef struct {
        PyObject_HEAD
        PyObject *hold_ppm, *maker_ppm, *taker_ppm;
    } matchbook_FeeSchedule;
    """
    ctypedef class matchbook.core.commands.PlaceOrder [object matchbook_PlaceOrder, check_size ignore]:
        cdef object client_order_id
        cdef object display_lots
        cdef object expire_ts_ns
        cdef object order_type
        cdef object post_only
        cdef object price_ticks
        cdef object qty_lots
        cdef object quote_amount_minor
        cdef object side
        cdef object stop_price_ticks
        cdef object stp
        cdef object symbol
        cdef object tif
        cdef object user_id

    ctypedef class matchbook.core.commands.CancelOrder [object matchbook_CancelOrder, check_size ignore]:
        cdef object client_order_id
        cdef object order_id
        cdef object user_id

    ctypedef class matchbook.core.commands.AmendOrder [object matchbook_AmendOrder, check_size ignore]:
        cdef object order_id
        cdef object price_ticks
        cdef object qty_lots
        cdef object user_id

    # a frozen dataclass with slots (symbols.py): the same object layout
    ctypedef class matchbook.core.symbols.FeeSchedule [object matchbook_FeeSchedule, check_size ignore]:
        cdef object hold_ppm
        cdef object maker_ppm
        cdef object taker_ppm


# an account's balances (an ``array("q")``) read and written as C int64s
cdef object _INT64_MAX
@cython.locals(a="long long")
cdef inline bint _covers(c_array balances, Py_ssize_t slot, object amount) except -1
@cython.locals(p="long long *")
cdef inline int _move(c_array balances, Py_ssize_t src, Py_ssize_t dst,
                      long long amount) except -1
cdef inline int _add(c_array balances, Py_ssize_t i, long long amount) except -1
cdef inline int _sub(c_array balances, Py_ssize_t i, long long amount) except -1


# the enums of commands.py (imported there), as C ints: comparisons of an order's or a
# command's side, type, time in force or self-trade mode with them are C comparisons
cdef int BUY, SELL, LIMIT, MARKET, STOP_LIMIT, STOP_MARKET, GTC, IOC, FOK, GTD
cdef int STP_CANCEL_BOTH, STP_CANCEL_NEWEST, STP_CANCEL_OLDEST, STP_DECREMENT


@cython.final
cdef class Order:
    cdef public object order_id         # the open-order index's key object, shared
    cdef public object user_id          # commands leave it unbounded
    cdef public str symbol
    cdef public int side
    cdef public long long price
    cdef public long long qty
    cdef public long long leaves
    cdef public long long visible
    cdef public long long display
    cdef public object hold             # money: a Python int
    cdef public int flags
    cdef public long long stop_price
    cdef public object expire_ts        # unbounded
    cdef public str client_order_id
    cdef public FeeSchedule fees
    cdef public Order prev
    cdef public Order next


@cython.locals(order=Order)
cdef Order _new_order(object order_id, object user_id, str symbol, int side, long long price,
                      long long qty, long long leaves, long long visible, long long display,
                      object hold, int flags, long long stop_price, object expire_ts,
                      str client_order_id, FeeSchedule fees)


@cython.final
cdef class Level:
    cdef public long long price
    cdef public long long total
    cdef public long long count
    cdef public Order head
    cdef public Order tail

    cpdef append(self, Order order)
    @cython.locals(prev=Order, nxt=Order)
    cpdef remove(self, Order order)


@cython.final
cdef class OrderBook:
    cdef public object symbol
    cdef public str name
    cdef public object min_qty_lots
    cdef public object max_qty_lots
    cdef public object min_notional_minor
    cdef public object quote_per_tick_lot
    cdef public object base_per_lot
    cdef public long long price_band_bps
    cdef public long long market_protection_bps
    cdef public str base_code
    cdef public str quote_code
    cdef public Py_ssize_t base_slot
    cdef public Py_ssize_t quote_slot
    cdef public dict bids
    cdef public dict asks
    cdef public list bid_heap
    cdef public list ask_heap
    cdef public list stops_buy
    cdef public list stops_sell
    cdef public long long last_price
    cdef public bint halted

    cpdef long long reference_price(self) except *
    @cython.locals(ref="unsigned long long", dev="unsigned long long")
    cpdef bint outside_band(self, unsigned long long price) except -1
    @cython.locals(level=Level, levels=dict, price="long long")
    cpdef Level rest(self, Order order)
    @cython.locals(level=Level, price="long long")
    cpdef Level unlink(self, Order order)
    @cython.locals(levels=dict, heap=list)
    cpdef drop_level(self, int side, object price)


@cython.locals(place=PlaceOrder, cancel=CancelOrder, amend=AmendOrder, account=Account,
               fees=FeeSchedule)
cpdef bint _check_command_layout() except -1


cdef extern from *:
    ctypedef class matchbook.core.accounts.Account [object matchbook_Account, check_size ignore]:
        cdef object balances
        cdef object slots
        cdef object tier
        cdef object user_id


cdef class MatchingCore:
    cdef public object markets
    cdef public bint accounts_enabled
    cdef public dict books
    cdef public dict user_orders
    cdef public dict client_ids
    cdef public list expiries
    cdef public object _expiry_serial
    cdef public dict accounts
    cdef public dict fee_balances
    cdef public dict external_balances
    cdef public dict withdrawals
    cdef public set settled_withdrawals
    cdef public dict addresses
    cdef public dict user_addresses
    cdef public set suspended
    cdef public bint halted
    cdef public object next_order_id
    cdef public object next_trade_id
    cdef public object next_wallet_op_id
    cdef public object last_seq
    cdef public object last_ts
    cdef public object _next_expiry
    cdef public object limits
    cdef public object _max_open_orders
    cdef public object _position_limits
    cdef public set _tiers
    cdef public dict _slots
    cdef public dict _handlers
    cdef public object p2p

    cdef _reject(self, PlaceOrder c, object code, list out)
    @cython.locals(book=OrderBook, level=Level, order=Order, mine=dict, levels=dict, heap=list,
                   balances=c_array, slot=Py_ssize_t, total="long long", count="long long",
                   account=Account, fees=FeeSchedule, side=int, otype=int, tif=int, stp=int,
                   flags=int)
    cpdef _place(self, PlaceOrder c, list out)
    @cython.locals(book=OrderBook, order=Order, mine=dict, account=Account, fees=FeeSchedule,
                   side=int, otype=int, tif=int, stp=int)
    cpdef _place_any(self, PlaceOrder c, list out)
    cpdef _execute_then_trigger(self, OrderBook book, Order order, list out)
    cdef _execute(self, OrderBook book, Order order, list out)
    cdef _rest_or_close(self, OrderBook book, Order order, list out)
    @cython.locals(levels=dict, heap=list, level=Level, maker=Order, mine=dict,
                   taker_side=int, maker_side=int, pay=Py_ssize_t, recv=Py_ssize_t,
                   limit_key="long long", sign="long long", rem="long long",
                   filled="long long", price="long long", traded="long long",
                   fill="long long", vis="long long", mleaves="long long",
                   next_trade="long long", price_int=object, trade_id=object, stopped=bint,
                   dropped=bint, touched=bint,
                   mbal=c_array, tacct=Account, macct=Account)
    cdef _match(self, OrderBook book, Order taker, list out)
    @cython.locals(balances=c_array)
    cdef _settle_taker(self, Order taker, Account account, Py_ssize_t pay, Py_ssize_t recv,
                       object hold, object paid, object got, object release)
    @cython.locals(dec="long long")
    cdef tuple _self_trade(self, OrderBook book, Level level, Order taker, Order maker,
                           long long rem, list out)
    cdef _fillable(self, OrderBook book, object uid, int side, object limit, object qty, int stp)
    cdef _lots_for_budget(self, OrderBook book, object uid, int stp, object limit, object budget,
                          object taker_ppm)
    @cython.locals(order=Order, buys=list, sells=list)
    cdef _trigger_stops(self, OrderBook book, list out)
    @cython.locals(book=OrderBook, level=Level, order=Order, mine=dict, side=int,
                   price="long long", balances=c_array, slot=Py_ssize_t, account=Account)
    cpdef _cancel(self, CancelOrder c, list out)
    @cython.locals(pool=dict, victims=list, order=Order)
    cpdef _cancel_all(self, object c, list out)
    @cython.locals(mine=dict, order=Order)
    cdef tuple _find(self, object uid, object order_id, object coid)
    @cython.locals(order=Order, fresh=Order, book=OrderBook, level=Level, balances=c_array,
                   slot=Py_ssize_t, account=Account)
    cpdef _amend(self, AmendOrder c, list out)
    @cython.locals(book=OrderBook)
    cdef object _check_amend(self, Order order, AmendOrder c)
    cpdef _remove_open(self, Order order, list out, object reason)
    @cython.locals(level=Level)
    cpdef _remove_resting(self, OrderBook book, Order order, list out, object reason)
    @cython.locals(order=Order, book=OrderBook, level=Level, heap=list)
    cdef _expire(self, object ts_ns, list out, object command=*)
    cpdef _reschedule(self)
    @cython.locals(mine=dict)
    cpdef _register(self, Order order)
    cdef _push_expiry(self, Order order)
    @cython.locals(mine=dict)
    cpdef _unregister(self, Order order)
    @cython.locals(mine=dict)
    cpdef bint _is_open(self, Order order) except -1
    cpdef _close(self, Order order, list out, object reason)
    cpdef object _release_all(self, Order order)
    @cython.locals(book=OrderBook, slot=Py_ssize_t)
    cdef _release(self, Account account, Order order, object amount)
    cpdef _wallet_reject(self, object uid, object code, object command, list out)
    cpdef object _account(self, object uid)
