"""What the WebSocket sends, typed: decode any frame with :func:`decode_message`.

Market data (``BookSnapshot``, ``BookDelta``, ``Trade``, ``Ticker``, ``Candle``), private
streams (``OrdersSnapshot``, ``OrderUpdate``, ``Balances``; P2P: ``P2PSnapshot``,
``P2PTradeUpdate``, ``P2PChatLine``, ``P2PAdUpdate``, ``NotificationMessage``), answers
(``Subscribed``, ``Unsubscribed``, ``Authenticated``, ``Result``, ``Pong``,
``ErrorMessage``), and the connection's own (``Heartbeat``, ``Resync``; ``StreamStatus``
is made by the client on connect, disconnect and reconnect).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from matchbook.client.models import (
    Balance,
    Candle,
    Fill,
    Level,
    Notification,
    Order,
    P2PAd,
    P2PMessage,
    P2PTrade,
    Ticker,
    Trade,
)


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every WebSocket message."""


class BookSnapshot(Message, frozen=True, kw_only=True, tag="book_snapshot"):
    symbol: str
    update_id: int
    epoch: str | None = None
    bids: list[Level]  # best first
    asks: list[Level]


class BookDelta(Message, frozen=True, kw_only=True, tag="book_delta"):
    """Level changes ``first_update_id..last_update_id``; quantity 0 removes a level."""

    symbol: str
    first_update_id: int
    last_update_id: int
    bids: list[Level]
    asks: list[Level]


class OrdersSnapshot(Message, frozen=True, kw_only=True, tag="orders_snapshot"):
    seq: int
    orders: list[Order]


class OrderUpdate(Message, frozen=True, kw_only=True, tag="order"):
    """One state change of one of your orders.

    ``event``: accepted, filled, cancelled, expired, triggered, amended or rejected
    (then ``order`` is None and ``code``/``message`` say why).
    """

    event: str
    seq: int
    timestamp_ns: int
    order: Order | None = None
    fill: Fill | None = None
    cancel_reason: str | None = None
    cancelled_quantity: Decimal | None = None
    priority_kept: bool | None = None
    order_id: str | None = None
    client_order_id: str | None = None
    code: int | None = None
    message: str | None = None


class Balances(Message, frozen=True, kw_only=True, tag="balances"):
    """Your balances after a change (only the assets it touched; all on subscribe)."""

    seq: int
    balances: list[Balance]


class P2PSnapshot(Message, frozen=True, kw_only=True, tag="p2p_snapshot"):
    """The ``p2p`` channel's first message: your live trades."""

    seq: int
    trades: list[P2PTrade]


class P2PTradeUpdate(Message, frozen=True, kw_only=True, tag="p2p_trade"):
    """One transition of one of your P2P trades (``event`` opened or changed), the trade
    as you see it in the state the transition left it."""

    seq: int
    event: str
    from_state: str | None = None
    reason: str = ""
    trade: P2PTrade


class P2PChatLine(Message, frozen=True, kw_only=True, tag="p2p_message"):
    seq: int
    message: P2PMessage


class P2PAdUpdate(Message, frozen=True, kw_only=True, tag="p2p_ad"):
    seq: int
    ad: P2PAd


class NotificationMessage(Message, frozen=True, kw_only=True, tag="notification"):
    seq: int
    notification: Notification


class Subscribed(Message, frozen=True, kw_only=True, tag="subscribed"):
    channel: str
    symbol: str | None = None
    interval: str | None = None
    request_id: Any = None
    epoch: str | None = None
    update_id: int | None = None
    resumed: bool | None = None


class Unsubscribed(Message, frozen=True, kw_only=True, tag="unsubscribed"):
    channel: str
    symbol: str | None = None
    interval: str | None = None
    request_id: Any = None
    was_subscribed: bool = True


class Authenticated(Message, frozen=True, kw_only=True, tag="authenticated"):
    user_id: int
    role: str
    scopes: list[str]
    request_id: Any = None
    expires_ns: int | None = None


class Result(Message, frozen=True, kw_only=True, tag="result"):
    op: str
    request_id: Any = None
    data: Any = None


class Pong(Message, frozen=True, kw_only=True, tag="pong"):
    request_id: Any = None
    time_ns: int = 0


class Heartbeat(Message, frozen=True, kw_only=True, tag="heartbeat"):
    pass


class Resync(Message, frozen=True, kw_only=True, tag="resync"):
    """The server dropped messages of a channel for this connection (it fell behind).

    The stream resubscribes book channels by itself.
    """

    channel: str
    symbol: str | None = None
    interval: str | None = None
    update_id: int | None = None
    message: str = ""


class ErrorMessage(Message, frozen=True, kw_only=True, tag="error"):
    code: int
    message: str
    request_id: Any = None


class StreamStatus(Message, frozen=True, kw_only=True, tag="status"):
    """Made by the client: ``connected``, ``disconnected`` or ``reconnected``."""

    status: str
    reason: str = ""
    attempt: int = 0


AnyMessage = (BookSnapshot | BookDelta | Trade | Ticker | Candle | OrdersSnapshot | OrderUpdate
              | Balances | P2PSnapshot | P2PTradeUpdate | P2PChatLine | P2PAdUpdate
              | NotificationMessage | Subscribed | Unsubscribed | Authenticated | Result | Pong
              | Heartbeat | Resync | ErrorMessage | StreamStatus)
_decoder = msgspec.json.Decoder(AnyMessage)


def decode_message(frame: str | bytes) -> AnyMessage | dict[str, Any]:
    """The typed message of one frame; a message type this SDK does not know yet comes
    back as a plain dict. Raises ``msgspec.DecodeError`` for a frame that is not JSON."""
    try:
        message: AnyMessage = _decoder.decode(frame)
        return message
    except msgspec.ValidationError:
        value = msgspec.json.decode(frame)
        if not isinstance(value, dict):
            raise msgspec.DecodeError("a frame must be a JSON object") from None
        return value
