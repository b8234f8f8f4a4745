"""Every REST route once, as a description of the request and the type of its answer.

``Client`` (blocking) and ``AsyncClient`` turn each builder here into a method, so the
two clients cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from matchbook.client.models import (
    Address,
    Adjustment,
    AdminHealth,
    AdminOrders,
    AdminTrades,
    ApiKeyInfo,
    AssetInfo,
    AuditEntry,
    Balance,
    Cancelled,
    CancelledAll,
    Candle,
    DepositResult,
    Depth,
    Fill,
    HaltState,
    Health,
    LedgerEntry,
    Me,
    NewApiKey,
    NotificationPage,
    NotificationsRead,
    Order,
    P2PAd,
    P2PConfig,
    P2PFeedback,
    P2PMessage,
    P2PStats,
    P2PTrade,
    P2PTradeDetail,
    PaymentMethod,
    RemovedPaymentMethod,
    Revoked,
    Session,
    SimpleBook,
    SimpleHealth,
    SimpleOrderResult,
    Stats,
    Suspension,
    SymbolInfo,
    Ticker,
    Trade,
    TransferResult,
    User,
    UserInfo,
    Withdrawal,
)

T = TypeVar("T")
Num = Decimal | str | int
Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market", "stop_limit", "stop_market"]
TimeInForce = Literal["gtc", "ioc", "fok", "gtd"]
SelfTradePrevention = Literal["cancel_newest", "cancel_oldest", "cancel_both",
                              "decrement_and_cancel"]
Scope = Literal["read", "trade", "withdraw"]
V1 = "/api/v1"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request: method, path, query, JSON body, and what the answer decodes to."""

    method: str
    path: str
    result: Any
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    auth: bool = True
    keeps_session: bool = False  # the answer is a Session the client should use


def decimal_text(value: Num | None, name: str) -> str | None:
    """``Decimal``/``str``/``int`` as the API's decimal string; floats are refused."""
    if value is None:
        return None
    if isinstance(value, bool | float):
        raise TypeError(f"{name}: give a Decimal or a str, not {type(value).__name__}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{name}: {value} is not a finite number")
        return f"{value:f}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"{name}: give a Decimal or a str, not {type(value).__name__}")


def _query(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# -- accounts --------------------------------------------------------------------------


def signup(email: str, password: str) -> Call[User]:
    """Create an account (``POST /auth/signup``); sign in with :meth:`login` after."""
    return Call("POST", f"{V1}/auth/signup", User,
                body={"email": email, "password": password}, auth=False)


def login(email: str, password: str) -> Call[Session]:
    """Sign in; the client then uses (and refreshes) the returned tokens."""
    return Call("POST", f"{V1}/auth/login", Session,
                body={"email": email, "password": password}, auth=False, keeps_session=True)


def refresh(refresh_token: str) -> Call[Session]:
    return Call("POST", f"{V1}/auth/refresh", Session, body={"refresh_token": refresh_token},
                auth=False, keeps_session=True)


def me() -> Call[Me]:
    """Who the credentials belong to, their scopes and suspension."""
    return Call("GET", f"{V1}/me", Me)


def create_api_key(scopes: list[Scope] | tuple[Scope, ...] = ("read", "trade"),
                   label: str = "") -> Call[NewApiKey]:
    """A new API key for bots (needs a signed-in session); the secret is shown once."""
    return Call("POST", f"{V1}/api-keys", NewApiKey,
                body={"scopes": list(scopes), "label": label})


def list_api_keys() -> Call[list[ApiKeyInfo]]:
    return Call("GET", f"{V1}/api-keys", list[ApiKeyInfo])


def delete_api_key(api_key_id: int) -> Call[Revoked]:
    return Call("DELETE", f"{V1}/api-keys/{int(api_key_id)}", Revoked)


# -- trading ---------------------------------------------------------------------------


def order_body(symbol: str, side: Side, quantity: Num | None = None, price: Num | None = None,
               *, type: OrderType | None = None, time_in_force: TimeInForce = "gtc",
               post_only: bool = False, stop_price: Num | None = None,
               display_quantity: Num | None = None, quote_quantity: Num | None = None,
               expire_time_ns: int | None = None, client_order_id: str | None = None,
               self_trade_prevention: SelfTradePrevention = "cancel_newest"
               ) -> dict[str, Any]:
    """The JSON of a new order (REST body and WebSocket ``place`` alike).

    ``type`` defaults to ``limit`` with a price and ``market`` without one.
    """
    if type is None:
        type = "limit" if price is not None else "market"
    body: dict[str, Any] = {
        "symbol": symbol, "side": side, "type": type, "time_in_force": time_in_force,
        "post_only": post_only, "self_trade_prevention": self_trade_prevention,
        "price": decimal_text(price, "price"), "quantity": decimal_text(quantity, "quantity"),
        "stop_price": decimal_text(stop_price, "stop_price"),
        "display_quantity": decimal_text(display_quantity, "display_quantity"),
        "quote_quantity": decimal_text(quote_quantity, "quote_quantity"),
        "expire_time_ns": expire_time_ns, "client_order_id": client_order_id,
    }
    return {k: v for k, v in body.items() if v is not None}


def place_order(symbol: str, side: Side, quantity: Num | None = None, price: Num | None = None,
                *, type: OrderType | None = None, time_in_force: TimeInForce = "gtc",
                post_only: bool = False, stop_price: Num | None = None,
                display_quantity: Num | None = None, quote_quantity: Num | None = None,
                expire_time_ns: int | None = None, client_order_id: str | None = None,
                self_trade_prevention: SelfTradePrevention = "cancel_newest") -> Call[Order]:
    """Place an order; returns it as it stands after matching, with its fills.

    ``type`` defaults to ``limit`` with a price and ``market`` without one. A market buy
    may give ``quote_quantity`` (spend this much quote) instead of ``quantity``.
    """
    return Call("POST", f"{V1}/orders", Order, body=order_body(
        symbol, side, quantity, price, type=type, time_in_force=time_in_force,
        post_only=post_only, stop_price=stop_price, display_quantity=display_quantity,
        quote_quantity=quote_quantity, expire_time_ns=expire_time_ns,
        client_order_id=client_order_id, self_trade_prevention=self_trade_prevention))


def list_orders(status: Literal["open", "closed"] = "open", symbol: str | None = None,
                limit: int = 100) -> Call[list[Order]]:
    """Your open orders (from the engine) or closed ones (from history)."""
    return Call("GET", f"{V1}/orders", list[Order],
                params=_query(status=status, symbol=symbol, limit=limit))


def get_order(order_id: str | int) -> Call[Order]:
    return Call("GET", f"{V1}/orders/{int(order_id)}", Order)


def amend_order(order_id: str | int, *, price: Num | None = None,
                quantity: Num | None = None) -> Call[Order]:
    """New price and/or total quantity; ``priority_kept`` tells whether it kept its place."""
    body = _query(price=decimal_text(price, "price"),
                  quantity=decimal_text(quantity, "quantity"))
    return Call("PATCH", f"{V1}/orders/{int(order_id)}", Order, body=body)


def cancel_order(order_id: str | int) -> Call[Cancelled]:
    return Call("DELETE", f"{V1}/orders/{int(order_id)}", Cancelled)


def cancel_all(symbol: str | None = None) -> Call[CancelledAll]:
    """Cancel all your open orders (on one symbol, or everywhere)."""
    return Call("DELETE", f"{V1}/orders", CancelledAll, params=_query(symbol=symbol))


def fills(symbol: str | None = None, limit: int = 100) -> Call[list[Fill]]:
    """Your recent fills, newest first."""
    return Call("GET", f"{V1}/fills", list[Fill], params=_query(symbol=symbol, limit=limit))


# -- wallet ----------------------------------------------------------------------------


def balances() -> Call[list[Balance]]:
    """Every asset's available, held and total balance."""
    return Call("GET", f"{V1}/balances", list[Balance])


def ledger(asset: str | None = None, limit: int = 100,
           before_seq: int | None = None) -> Call[list[LedgerEntry]]:
    """Your ledger entries, newest first; page with ``before_seq``."""
    return Call("GET", f"{V1}/ledger", list[LedgerEntry],
                params=_query(asset=asset, limit=limit, before_seq=before_seq))


def create_address(asset: str) -> Call[Address]:
    """Your deposit address for ``asset`` (created once)."""
    return Call("POST", f"{V1}/wallets/{asset}/address", Address)


def withdraw(asset: str, amount: Num, destination: str = "") -> Call[Withdrawal]:
    """Request a withdrawal (held until an operator approves or rejects it)."""
    return Call("POST", f"{V1}/withdrawals", Withdrawal,
                body={"asset": asset, "amount": decimal_text(amount, "amount"),
                      "destination": destination})


def transfer(to_address: str, asset: str, amount: Num) -> Call[TransferResult]:
    """Move funds to another user's wallet address."""
    return Call("POST", f"{V1}/transfers", TransferResult,
                body={"to_address": to_address, "asset": asset,
                      "amount": decimal_text(amount, "amount")})


# -- market data -----------------------------------------------------------------------


def health() -> Call[Health]:
    return Call("GET", f"{V1}/health", Health, auth=False)


def symbols() -> Call[list[SymbolInfo]]:
    return Call("GET", f"{V1}/symbols", list[SymbolInfo], auth=False)


def assets() -> Call[list[AssetInfo]]:
    return Call("GET", f"{V1}/assets", list[AssetInfo], auth=False)


def depth(symbol: str = "BTC-USD", limit: int = 50) -> Call[Depth]:
    """The order book's best ``limit`` levels per side, with its update id."""
    return Call("GET", f"{V1}/depth", Depth, params={"symbol": symbol, "limit": limit},
                auth=False)


def trades(symbol: str = "BTC-USD", limit: int = 100) -> Call[list[Trade]]:
    """Recent public trades, newest first."""
    return Call("GET", f"{V1}/trades", list[Trade], params={"symbol": symbol, "limit": limit},
                auth=False)


def ticker(symbol: str = "BTC-USD") -> Call[Ticker]:
    return Call("GET", f"{V1}/ticker", Ticker, params={"symbol": symbol}, auth=False)


def candles(symbol: str = "BTC-USD", interval: str = "1m", start_ns: int = 0,
            end_ns: int | None = None, limit: int = 500) -> Call[list[Candle]]:
    """OHLCV candles starting in ``[start_ns, end_ns)``, of the last ``limit`` (at most
    1,000) intervals of that range."""
    return Call("GET", f"{V1}/candles", list[Candle],
                params=_query(symbol=symbol, interval=interval, start=start_ns, end=end_ns,
                              limit=limit),
                auth=False)


def simple_health() -> Call[SimpleHealth]:
    """``GET /api/health``."""
    return Call("GET", "/api/health", SimpleHealth, auth=False)


def simple_orderbook(depth: int = 20) -> Call[SimpleBook]:
    """``GET /api/orderbook``: the BTC/USD book in the simple shape."""
    return Call("GET", "/api/orderbook", SimpleBook, params={"depth": depth}, auth=False)


def simple_order(side: Side, price: Num, quantity: Num) -> Call[SimpleOrderResult]:
    """``POST /api/orders``: a GTC limit order on BTC/USD in the simple shape."""
    return Call("POST", "/api/orders", SimpleOrderResult,
                body={"side": side, "price": decimal_text(price, "price"),
                      "quantity": decimal_text(quantity, "quantity")})


# -- administration (a signed-in admin session) -----------------------------------------


def admin_deposit(user_id: int, asset: str, amount: Num,
                  reference: str = "") -> Call[DepositResult]:
    """Credit a user (an off-chain deposit)."""
    return Call("POST", f"{V1}/admin/deposits", DepositResult,
                body={"user_id": user_id, "asset": asset,
                      "amount": decimal_text(amount, "amount"), "reference": reference})


def admin_chain_deposit(address: str, asset: str, amount: Num,
                        reference: str = "") -> Call[DepositResult]:
    """A deposit observed on chain to a wallet address."""
    return Call("POST", f"{V1}/admin/deposits/chain", DepositResult,
                body={"address": address, "asset": asset,
                      "amount": decimal_text(amount, "amount"), "reference": reference})


def admin_withdrawals() -> Call[list[Withdrawal]]:
    """Withdrawals waiting for a decision."""
    return Call("GET", f"{V1}/admin/withdrawals", list[Withdrawal])


def admin_approve_withdrawal(withdrawal_id: int) -> Call[Withdrawal]:
    """Send a pending withdrawal out (status ``completed``)."""
    return Call("POST", f"{V1}/admin/withdrawals/{int(withdrawal_id)}/approve", Withdrawal)


def admin_reject_withdrawal(withdrawal_id: int, reason: str = "") -> Call[Withdrawal]:
    """Refuse a pending withdrawal (status ``rejected``): the funds go back."""
    return Call("POST", f"{V1}/admin/withdrawals/{int(withdrawal_id)}/reject",
                Withdrawal, body={"reason": reason})


def admin_adjust(user_id: int, asset: str, amount: Num, reason: str) -> Call[Adjustment]:
    """Correct a balance by ``amount`` (negative to debit), with a reason for the audit."""
    return Call("POST", f"{V1}/admin/adjustments", Adjustment,
                body={"user_id": user_id, "asset": asset,
                      "amount": decimal_text(amount, "amount"), "reason": reason})


def admin_halt(symbol: str = "all") -> Call[HaltState]:
    """Halt trading on a symbol, or everywhere with ``"all"``."""
    return Call("POST", f"{V1}/admin/symbols/{symbol}/halt", HaltState)


def admin_resume(symbol: str = "all") -> Call[HaltState]:
    return Call("POST", f"{V1}/admin/symbols/{symbol}/resume", HaltState)


def admin_suspend(user_id: int) -> Call[Suspension]:
    """Suspend a user (their open orders are cancelled)."""
    return Call("POST", f"{V1}/admin/users/{int(user_id)}/suspend", Suspension)


def admin_reinstate(user_id: int) -> Call[Suspension]:
    return Call("POST", f"{V1}/admin/users/{int(user_id)}/reinstate", Suspension)


def admin_users(limit: int = 100, offset: int = 0) -> Call[list[UserInfo]]:
    return Call("GET", f"{V1}/admin/users", list[UserInfo],
                params={"limit": limit, "offset": offset})


def admin_audit(limit: int = 100, before_seq: int | None = None) -> Call[list[AuditEntry]]:
    """The audit log (every command with its result), newest first."""
    return Call("GET", f"{V1}/admin/audit", list[AuditEntry],
                params=_query(limit=limit, before_seq=before_seq))


def admin_orders(user_id: int | None = None, symbol: str | None = None,
                 status: str | None = None, limit: int = 100,
                 cursor: str | None = None) -> Call[AdminOrders]:
    """Every user's orders, newest first: ``status`` is one status, ``"open"`` or
    ``"closed"``; page with the previous page's ``next_cursor``."""
    return Call("GET", f"{V1}/admin/orders", AdminOrders,
                params=_query(user_id=user_id, symbol=symbol, status=status, limit=limit,
                              cursor=cursor))


def admin_trades(user_id: int | None = None, symbol: str | None = None, limit: int = 100,
                 cursor: str | None = None) -> Call[AdminTrades]:
    """Every trade with both sides, newest first (``user_id``: as maker or taker)."""
    return Call("GET", f"{V1}/admin/trades", AdminTrades,
                params=_query(user_id=user_id, symbol=symbol, limit=limit, cursor=cursor))


def admin_stats() -> Call[Stats]:
    """Sequencer, journal, projection and connection statistics."""
    return Call("GET", f"{V1}/admin/stats", Stats)


def admin_health() -> Call[AdminHealth]:
    """The stats with cumulative counters and the ack latency histogram (for rates)."""
    return Call("GET", f"{V1}/admin/health", AdminHealth)


# -- P2P escrow trading ------------------------------------------------------------------

TradeStateName = Literal["pending_payment", "paid", "disputed", "completed", "cancelled",
                         "expired", "resolved_release", "resolved_refund"]


def add_payment_method(name: str, details: str) -> Call[PaymentMethod]:
    """Save a payment method (details shown to a counterparty once a trade is open)."""
    return Call("POST", f"{V1}/p2p/payment-methods", PaymentMethod,
                body={"name": name, "details": details})


def payment_methods() -> Call[list[PaymentMethod]]:
    return Call("GET", f"{V1}/p2p/payment-methods", list[PaymentMethod])


def remove_payment_method(method_id: int) -> Call[RemovedPaymentMethod]:
    return Call("DELETE", f"{V1}/p2p/payment-methods/{int(method_id)}", RemovedPaymentMethod)


def post_ad(side: Side, asset: str, fiat: str, quantity: Num, *, price: Num | None = None,
            price_margin_bps: int | None = None, price_symbol: str | None = None,
            min_quantity: Num | None = None, max_quantity: Num | None = None,
            payment_method_ids: list[int] | tuple[int, ...] = (),
            payment_window_seconds: int = 900, terms: str = "") -> Call[P2PAd]:
    """Post an ad: a fixed ``price`` (fiat per whole unit), or ``price_margin_bps`` over
    the mid of ``price_symbol``. A sell ad puts its quantity in escrow now."""
    body = _query(side=side, asset=asset, fiat=fiat, price=decimal_text(price, "price"),
                  price_margin_bps=price_margin_bps, price_symbol=price_symbol,
                  quantity=decimal_text(quantity, "quantity"),
                  min_quantity=decimal_text(min_quantity, "min_quantity"),
                  max_quantity=decimal_text(max_quantity, "max_quantity"),
                  payment_method_ids=list(payment_method_ids),
                  payment_window_seconds=payment_window_seconds, terms=terms)
    return Call("POST", f"{V1}/p2p/ads", P2PAd, body=body)


def ads(side: Side | None = None, asset: str | None = None, fiat: str | None = None,
        limit: int = 100) -> Call[list[P2PAd]]:
    """The public board: open ads, best price first."""
    return Call("GET", f"{V1}/p2p/ads", list[P2PAd],
                params=_query(side=side, asset=asset, fiat=fiat, limit=limit), auth=False)


def my_ads(limit: int = 100) -> Call[list[P2PAd]]:
    """Your ads in every state, newest first."""
    return Call("GET", f"{V1}/p2p/ads/mine", list[P2PAd], params={"limit": limit})


def get_ad(ad_id: int) -> Call[P2PAd]:
    return Call("GET", f"{V1}/p2p/ads/{int(ad_id)}", P2PAd, auth=False)


def pause_ad(ad_id: int) -> Call[P2PAd]:
    return Call("POST", f"{V1}/p2p/ads/{int(ad_id)}/pause", P2PAd)


def resume_ad(ad_id: int) -> Call[P2PAd]:
    return Call("POST", f"{V1}/p2p/ads/{int(ad_id)}/resume", P2PAd)


def cancel_ad(ad_id: int) -> Call[P2PAd]:
    return Call("POST", f"{V1}/p2p/ads/{int(ad_id)}/cancel", P2PAd)


def take_ad(ad_id: int, quantity: Num, payment_method_id: int | None = None,
            idempotency_key: str | None = None) -> Call[P2PTrade]:
    """Open a trade on an ad; the same ``idempotency_key`` again answers the same trade."""
    return Call("POST", f"{V1}/p2p/ads/{int(ad_id)}/take", P2PTrade,
                body=_query(quantity=decimal_text(quantity, "quantity"),
                            payment_method_id=payment_method_id,
                            idempotency_key=idempotency_key))


def p2p_trades(status: str | None = None, limit: int = 100) -> Call[list[P2PTrade]]:
    """Your trades, newest first (``status``: a state, ``live`` or ``finished``)."""
    return Call("GET", f"{V1}/p2p/trades", list[P2PTrade],
                params=_query(status=status, limit=limit))


def p2p_trade(trade_id: int) -> Call[P2PTradeDetail]:
    """One trade with its timeline and feedback."""
    return Call("GET", f"{V1}/p2p/trades/{int(trade_id)}", P2PTradeDetail)


def _action(trade_id: int, action: str, expected_state: TradeStateName,
            idempotency_key: str | None, **extra: Any) -> Call[P2PTrade]:
    return Call("POST", f"{V1}/p2p/trades/{int(trade_id)}/{action}", P2PTrade,
                body=_query(expected_state=expected_state, idempotency_key=idempotency_key,
                            **extra))


def mark_paid(trade_id: int, expected_state: TradeStateName = "pending_payment",
              idempotency_key: str | None = None) -> Call[P2PTrade]:
    """The buyer: the fiat was sent."""
    return _action(trade_id, "paid", expected_state, idempotency_key)


def release(trade_id: int, expected_state: TradeStateName = "paid",
            idempotency_key: str | None = None) -> Call[P2PTrade]:
    """The seller: the fiat arrived; the escrow goes to the buyer (cannot be undone)."""
    return _action(trade_id, "release", expected_state, idempotency_key)


def cancel_trade(trade_id: int, expected_state: TradeStateName = "pending_payment",
                 confirm: bool = False, idempotency_key: str | None = None) -> Call[P2PTrade]:
    """The buyer cancels (after marking paid only with ``confirm``)."""
    return _action(trade_id, "cancel", expected_state, idempotency_key,
                   confirm=confirm or None)


def open_dispute(trade_id: int, reason: str, text: str,
                 expected_state: TradeStateName = "paid",
                 idempotency_key: str | None = None) -> Call[P2PTrade]:
    return _action(trade_id, "dispute", expected_state, idempotency_key, reason=reason,
                   text=text)


def withdraw_dispute(trade_id: int, expected_state: TradeStateName = "disputed",
                     idempotency_key: str | None = None) -> Call[P2PTrade]:
    return _action(trade_id, "withdraw-dispute", expected_state, idempotency_key)


def trade_messages(trade_id: int, after_seq: int = 0,
                   limit: int = 200) -> Call[list[P2PMessage]]:
    """The trade's chat with its system lines, oldest first."""
    return Call("GET", f"{V1}/p2p/trades/{int(trade_id)}/messages", list[P2PMessage],
                params={"after_seq": after_seq, "limit": limit})


def post_trade_message(trade_id: int, text: str) -> Call[P2PMessage]:
    return Call("POST", f"{V1}/p2p/trades/{int(trade_id)}/messages", P2PMessage,
                body={"text": text})


def leave_feedback(trade_id: int, positive: bool, comment: str = "") -> Call[P2PFeedback]:
    return Call("POST", f"{V1}/p2p/trades/{int(trade_id)}/feedback", P2PFeedback,
                body={"positive": positive, "comment": comment})


def p2p_config() -> Call[P2PConfig]:
    """The P2P desk's settings: fiat currencies, fee, payment window bounds, delays."""
    return Call("GET", f"{V1}/p2p/config", P2PConfig, auth=False)


def p2p_stats(user_id: int) -> Call[P2PStats]:
    """A user's P2P record (public)."""
    return Call("GET", f"{V1}/p2p/users/{int(user_id)}/stats", P2PStats, auth=False)


def notifications(before: int | None = None, unread: bool = False,
                  limit: int = 50) -> Call[NotificationPage]:
    """Your notifications, newest first, with the unread count."""
    return Call("GET", f"{V1}/notifications", NotificationPage,
                params=_query(before=before, unread=unread or None, limit=limit))


def mark_notifications_read(ids: list[int] | tuple[int, ...] = (),
                            up_to: int | None = None) -> Call[NotificationsRead]:
    return Call("POST", f"{V1}/notifications/read", NotificationsRead,
                body=_query(ids=list(ids), up_to=up_to))


def admin_p2p_disputes(limit: int = 100) -> Call[list[P2PTradeDetail]]:
    """The dispute queue, oldest first, with timelines."""
    return Call("GET", f"{V1}/admin/p2p/disputes", list[P2PTradeDetail],
                params={"limit": limit})


def admin_resolve_dispute(trade_id: int, outcome: Literal["release", "refund"], note: str,
                          idempotency_key: str | None = None) -> Call[P2PTrade]:
    """Settle a dispute; above the configured amount a second admin must agree."""
    return Call("POST", f"{V1}/admin/p2p/disputes/{int(trade_id)}/resolve", P2PTrade,
                body=_query(outcome=outcome, note=note, idempotency_key=idempotency_key))


def admin_p2p_ads(status: str | None = None, limit: int = 100) -> Call[list[P2PAd]]:
    return Call("GET", f"{V1}/admin/p2p/ads", list[P2PAd],
                params=_query(status=status, limit=limit))


def admin_pause_ad(ad_id: int, reason: str) -> Call[P2PAd]:
    """Pause an ad (moderation); its maker is told why and cannot resume it."""
    return Call("POST", f"{V1}/admin/p2p/ads/{int(ad_id)}/pause", P2PAd,
                body={"reason": reason})


def admin_resume_ad(ad_id: int) -> Call[P2PAd]:
    """Lift an administrator's pause of an ad."""
    return Call("POST", f"{V1}/admin/p2p/ads/{int(ad_id)}/resume", P2PAd)


def admin_cancel_ad(ad_id: int, reason: str) -> Call[P2PAd]:
    """Remove an ad (moderation); its maker is told why."""
    return Call("POST", f"{V1}/admin/p2p/ads/{int(ad_id)}/cancel", P2PAd,
                body={"reason": reason})
