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


# The events of the hot path built from their layout: a ``msgspec.Struct`` type made with
# ``gc=False`` is an object header and one object slot per field (offsets from the type's
# member descriptors, read once at import by ``_event_layout``); ``_evN`` allocates one
# through the type's own ``tp_alloc`` (as msgspec does: zeroed, untracked) and stores the
# N values in field order, without the keyword parsing of a Python call.
# ``_check_event_layout`` compares one event of each kind built this way with the class's
# own at import.
cdef extern from *:
    """
    #include "structmember.h"
    #define MATCHBOOK_EVENT_KINDS 8
    #define MATCHBOOK_EVENT_FIELDS 16
    static PyTypeObject *matchbook_event_type[MATCHBOOK_EVENT_KINDS];
    static Py_ssize_t matchbook_event_offset[MATCHBOOK_EVENT_KINDS][MATCHBOOK_EVENT_FIELDS];
    static Py_ssize_t matchbook_event_nfields[MATCHBOOK_EVENT_KINDS];

    static int matchbook_event_layout(int k, PyObject *type) {
        PyObject *fields, *descr;
        PyTypeObject *t;
        PyMemberDef *member;
        Py_ssize_t i, n;
        if (k < 0 || k >= MATCHBOOK_EVENT_KINDS || !PyType_Check(type)) goto bad;
        t = (PyTypeObject *)type;
        /* an untracked object of fixed size: nothing but the header and the fields */
        if (PyType_HasFeature(t, Py_TPFLAGS_HAVE_GC) || t->tp_itemsize != 0
                || t->tp_alloc == NULL) goto bad;
        fields = PyObject_GetAttrString(type, "__struct_fields__");
        if (fields == NULL) return -1;
        if (!PyTuple_CheckExact(fields)) { Py_DECREF(fields); goto bad; }
        n = PyTuple_GET_SIZE(fields);
        if (n > MATCHBOOK_EVENT_FIELDS
                || t->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + n * sizeof(PyObject *))) {
            Py_DECREF(fields);
            goto bad;
        }
        for (i = 0; i < n; i++) {
            descr = PyObject_GetAttr(type, PyTuple_GET_ITEM(fields, i));
            if (descr == NULL) { Py_DECREF(fields); return -1; }
            if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
                Py_DECREF(descr); Py_DECREF(fields); goto bad;
            }
            member = ((PyMemberDescrObject *)descr)->d_member;
            if (member->type != T_OBJECT_EX || member->offset < (Py_ssize_t)sizeof(PyObject)
                    || member->offset > t->tp_basicsize - (Py_ssize_t)sizeof(PyObject *)) {
                Py_DECREF(descr); Py_DECREF(fields); goto bad;
            }
            matchbook_event_offset[k][i] = member->offset;
            Py_DECREF(descr);
        }
        Py_DECREF(fields);
        Py_INCREF(type);
        Py_XDECREF((PyObject *)matchbook_event_type[k]);
        matchbook_event_type[k] = t;
        matchbook_event_nfields[k] = n;
        return 0;
    bad:
        PyErr_SetString(PyExc_ImportError, "matchbook.core.matching: an event type's layout "
                        "is not the one the compiled core builds (run the interpreted build)");
        return -1;
    }

    static PyObject *matchbook_event(int k, PyObject **values, Py_ssize_t n) {
        PyTypeObject *t = matchbook_event_type[k];
        PyObject *obj;
        Py_ssize_t i;
        if (t == NULL || matchbook_event_nfields[k] != n) {
            PyErr_SetString(PyExc_SystemError, "matchbook: event layout not registered");
            return NULL;
        }
        obj = t->tp_alloc(t, 0);
        if (obj == NULL) return NULL;
        for (i = 0; i < n; i++) {
            Py_INCREF(values[i]);
            *(PyObject **)((char *)obj + matchbook_event_offset[k][i]) = values[i];
        }
        return obj;
    }

    static PyObject *matchbook_event5(int k, PyObject *a0, PyObject *a1, PyObject *a2,
                                      PyObject *a3, PyObject *a4) {
        PyObject *v[5] = {a0, a1, a2, a3, a4};
        return matchbook_event(k, v, 5);
    }
    static PyObject *matchbook_event8(int k, PyObject *a0, PyObject *a1, PyObject *a2,
                                      PyObject *a3, PyObject *a4, PyObject *a5, PyObject *a6,
                                      PyObject *a7) {
        PyObject *v[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
        return matchbook_event(k, v, 8);
    }
    static PyObject *matchbook_event9(int k, PyObject *a0, PyObject *a1, PyObject *a2,
                                      PyObject *a3, PyObject *a4, PyObject *a5, PyObject *a6,
                                      PyObject *a7, PyObject *a8) {
        PyObject *v[9] = {a0, a1, a2, a3, a4, a5, a6, a7, a8};
        return matchbook_event(k, v, 9);
    }
    static PyObject *matchbook_event12(int k, PyObject *a0, PyObject *a1, PyObject *a2,
                                       PyObject *a3, PyObject *a4, PyObject *a5, PyObject *a6,
                                       PyObject *a7, PyObject *a8, PyObject *a9, PyObject *a10,
                                       PyObject *a11) {
        PyObject *v[12] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11};
        return matchbook_event(k, v, 12);
    }
    static PyObject *matchbook_event13(int k, PyObject *a0, PyObject *a1, PyObject *a2,
                                       PyObject *a3, PyObject *a4, PyObject *a5, PyObject *a6,
                                       PyObject *a7, PyObject *a8, PyObject *a9, PyObject *a10,
                                       PyObject *a11, PyObject *a12) {
        PyObject *v[13] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12};
        return matchbook_event(k, v, 13);
    }
    static PyObject *matchbook_event16(int k, PyObject *a0, PyObject *a1, PyObject *a2,
                                       PyObject *a3, PyObject *a4, PyObject *a5, PyObject *a6,
                                       PyObject *a7, PyObject *a8, PyObject *a9, PyObject *a10,
                                       PyObject *a11, PyObject *a12, PyObject *a13,
                                       PyObject *a14, PyObject *a15) {
        PyObject *v[16] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14,
                           a15};
        return matchbook_event(k, v, 16);
    }
    """
    int _event_layout "matchbook_event_layout"(int k, object type) except -1
    object _ev5 "matchbook_event5"(int k, object, object, object, object, object)
    object _ev8 "matchbook_event8"(int k, object, object, object, object, object, object,
                                   object, object)
    object _ev9 "matchbook_event9"(int k, object, object, object, object, object, object,
                                   object, object, object)
    object _ev12 "matchbook_event12"(int k, object, object, object, object, object, object,
                                     object, object, object, object, object, object)
    object _ev13 "matchbook_event13"(int k, object, object, object, object, object, object,
                                     object, object, object, object, object, object, object)
    object _ev16 "matchbook_event16"(int k, object, object, object, object, object, object,
                                     object, object, object, object, object, object, object,
                                     object, object, object)

cdef inline object _accepted(object order_id, object user_id, object symbol, object side,
                             object order_type, object price_ticks, object qty_lots,
                             object tif, object client_order_id, object stop_price_ticks,
                             object display_lots, object post_only, object expire_ts_ns,
                             object quote_amount_minor, object hold_asset, object hold_minor)
cdef inline object _traded(object trade_id, object symbol, object price_ticks, object qty_lots,
                           object aggressor_side, object maker_order_id, object taker_order_id,
                           object maker_user_id, object taker_user_id, object notional_minor,
                           object base_minor, object maker_fee_minor, object taker_fee_minor)
cdef inline object _filled(object order_id, object user_id, object symbol, object side,
                           object trade_id, object price_ticks, object qty_lots,
                           object filled_lots, object leaves_lots, object is_maker,
                           object fee_minor, object released_minor)
cdef inline object _level_changed(object symbol, object side, object price_ticks,
                                  object qty_lots, object order_count)
cdef inline object _cancelled(object order_id, object user_id, object symbol, object side,
                              object cancelled_lots, object leaves_lots, object reason,
                              object released_minor)
cdef inline object _amended(object order_id, object user_id, object symbol, object side,
                            object price_ticks, object qty_lots, object leaves_lots,
                            object priority_kept, object hold_delta_minor)
cdef object _built(int k, list v)


# an account's balances (an ``array("q")``) read and written as C int64s
cdef object _INT64_MAX
cdef object _ZERO, _EMPTY
cdef long long _MAX_ID

# a command's number as a C integer when it is an exact int in [0, bound), else -1
cdef extern from *:
    """
    static CYTHON_INLINE long long matchbook_small(PyObject *value, long long bound) {
        long long v;
        int overflow;
        if (!PyLong_CheckExact(value)) return -1;
        v = PyLong_AsLongLongAndOverflow(value, &overflow);  /* cannot fail on an int */
        return (overflow || v < 0 || v >= bound) ? -1 : v;
    }
    """
    long long _c_small "matchbook_small"(object value, long long bound)
cdef inline long long _small(object value, long long bound)
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


# not tracked by the cyclic collector: ``@cython.no_gc`` on the class in the .py
@cython.final
cdef class Order:
    cdef public object order_id         # the open-order index's key object, shared
    cdef public object user_id          # commands leave it unbounded
    cdef public str symbol
    cdef public int side                # side and flags side by side: one 8-byte word
    cdef public int flags
    cdef public long long price
    cdef public long long qty
    cdef public long long leaves
    cdef public long long visible
    cdef public long long display
    cdef public object hold             # money: a Python int
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
    @cython.locals(order=Order, nxt=Order)
    cdef _unlink_all(self)


@cython.final
cdef class OrderBook:
    cdef public object symbol
    cdef public str name
    cdef public object min_qty_lots
    cdef public object max_qty_lots
    cdef public long long min_qty
    cdef public long long max_qty
    cdef public object min_notional_minor
    cdef public object quote_per_tick_lot
    cdef public object base_per_lot
    cdef public long long price_band_bps
    cdef public long long market_protection_bps
    cdef public FeeSchedule fees
    cdef public object tier_fees
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
    cdef public Py_ssize_t _max_open_orders
    cdef public object _position_limits
    cdef public set _tiers
    cdef public dict _slots
    cdef public dict _handlers
    cdef public object p2p

    cdef _reject(self, PlaceOrder c, object code, list out)
    @cython.locals(book=OrderBook, level=Level, order=Order, mine=dict,
                   balances=c_array, slot=Py_ssize_t, total="long long", count="long long",
                   account=Account, fees=FeeSchedule, side=int, otype=int, tif=int, stp=int,
                   flags=int, qty="long long", price="long long")
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
                   balances=c_array, slot=Py_ssize_t, account=Account)
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
