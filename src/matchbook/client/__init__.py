"""The Matchbook Python SDK: REST clients and a self-healing WebSocket stream.

>>> from matchbook.client import Client
>>> with Client("http://127.0.0.1:8000") as mb:
...     mb.login("alice@demo.matchbook", "alice-demo-pass")
...     mb.place_order("BTC-USD", "buy", quantity="0.01", price="49000")

``AsyncClient`` has the same methods as coroutines and ``stream()`` for the WebSocket
(market data, local order books, private order and balance updates, order entry).
Failed requests raise :class:`MatchbookError` (``code``, ``message``, ``status``).
"""

from matchbook.client.book import BookGap, LocalOrderBook
from matchbook.client.errors import ConnectionLost, MatchbookError
from matchbook.client.http import AsyncClient, Client
from matchbook.client.messages import (
    Authenticated,
    Balances,
    BookDelta,
    BookSnapshot,
    ErrorMessage,
    Heartbeat,
    OrdersSnapshot,
    OrderUpdate,
    Pong,
    Result,
    Resync,
    StreamStatus,
    Subscribed,
    Unsubscribed,
    decode_message,
)
from matchbook.client.models import (
    Address,
    Adjustment,
    AdminOrder,
    AdminOrders,
    AdminTrade,
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
    Order,
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
from matchbook.client.stream import Stream

__all__ = [
    "Address", "Adjustment", "AdminOrder", "AdminOrders", "AdminTrade", "AdminTrades",
    "ApiKeyInfo", "AssetInfo", "AsyncClient", "AuditEntry",
    "Authenticated", "Balance", "Balances", "BookDelta", "BookGap", "BookSnapshot", "Cancelled",
    "CancelledAll", "Candle", "Client", "ConnectionLost", "DepositResult", "Depth",
    "ErrorMessage", "Fill", "HaltState", "Health", "Heartbeat", "LedgerEntry", "LocalOrderBook",
    "MatchbookError", "Me", "NewApiKey", "Order", "OrderUpdate", "OrdersSnapshot", "Pong",
    "Result", "Resync", "Session", "SimpleBook", "SimpleHealth", "SimpleOrderResult", "Stats",
    "Stream", "StreamStatus", "Subscribed", "Suspension", "SymbolInfo", "Ticker", "Trade",
    "TransferResult", "Unsubscribed", "User", "UserInfo", "Withdrawal", "decode_message",
]
