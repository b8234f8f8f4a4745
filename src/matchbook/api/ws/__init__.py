"""WebSocket endpoints: ``/ws`` (market data, private streams, order entry) and
``/ws/market`` (the simple BTC/USD feed).

Every frame is one JSON text object; fields are snake_case, decimals are strings.

Client to server (``/ws``), each may carry a ``request_id`` echoed in the answer::

    {"op": "subscribe", "channel": "book", "symbol": "BTC-USD", "since": 41, "epoch": "..."}
    {"op": "subscribe", "channel": "trades" | "ticker", "symbol": "BTC-USD"}
    {"op": "subscribe", "channel": "candles", "symbol": "BTC-USD", "interval": "1m"}
    {"op": "subscribe", "channel": "orders" | "balances" | "p2p"}  (after auth)
    {"op": "unsubscribe", "channel": ..., "symbol": ..., "interval": ...}
    {"op": "auth", "token": "<access token or API key>"}
    {"op": "place", ...the fields of POST /api/v1/orders...}        (scope ``trade``)
    {"op": "amend", "order_id": "7", "price": "...", "quantity": "..."}
    {"op": "cancel", "order_id": "7"}
    {"op": "cancel_all", "symbol": "BTC-USD"}                        (symbol optional)
    {"op": "ping"}

Server to client: ``subscribed``/``unsubscribed``/``authenticated``/``result``/``pong``
answers; ``book_snapshot`` then ``book_delta`` (contiguous ``first_update_id ..
last_update_id``; a level with quantity ``"0"`` is removed), ``trade``, ``ticker``,
``candle``, ``orders_snapshot`` then ``order`` (one per state change, with the fill),
``balances``, ``p2p_snapshot`` then ``p2p_trade`` (one per transition of one of your
P2P trades, as you see it), ``p2p_message`` (chat and system lines), ``p2p_ad`` (your
ads), ``notification`` (as in the inbox) and, for administrators, ``p2p_dispute`` (the
dispute queue moved: opened, proposed, closed), ``heartbeat`` after 10 s without traffic,
``resync`` and ``error`` (``{"type": "error", "code", "message", "request_id"}``, codes
as in the REST API).

``since`` asks for every book delta after that update id, served from the feed's
window if it still holds them (and the ``epoch`` matches: update ids restart with the
server), else a fresh snapshot.

Authentication lasts for the connection; order entry needs the ``trade`` scope and,
with an access token, a token that has not expired (send ``auth`` again with a fresh
one). Incoming messages are rate limited per connection (token bucket); order requests
also spend the user's (or API key's) REST budget, and at most 64 may be in flight.

Publishing never waits: each connection has a bounded outbox filled with
``put``-without-wait from the sequencer's listeners and drained by its own writer task.
Under ``LeanWebSocket`` (what ``matchbook serve`` runs), a message offered while that
outbox is empty and the socket takes writes is written by the protocol at the end of
the loop's turn instead (one socket write for all of a turn's messages to one
connection), and a well-formed ``place`` is taken as its frame is read, without the
ASGI queue and the reader task; both are the same session code either way.
A connection whose outbox overflows is, if it only follows public channels and it has
not happened too often, emptied and sent ``resync`` for each channel (book channels are
paused until subscribed again); otherwise it is disconnected (``Hub.dropped``).

The package, by job: ``connection`` (one socket: outbox, writer, token bucket),
``frames`` (the market-data frames), ``hub`` (fan-out, slow consumers, periodic
publishing), ``private`` (the per-user ``orders`` and ``balances`` streams), ``p2p``
(the per-user P2P stream), ``session`` (the ``/ws`` protocol and both endpoints),
``lean`` (the uvicorn protocol with the shortcuts above). Order
entry and market data go through the same services as the REST routes (``matchbook.api.trading``,
``matchbook.api.market``).
"""

from matchbook.api.ws.hub import Hub
from matchbook.api.ws.session import router

__all__ = ["Hub", "router"]
