"""The SDK's WebSocket stream against a real server: local books, gaps, reconnects, orders."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from matchbook.client import (
    AsyncClient,
    BookDelta,
    MatchbookError,
    NotificationMessage,
    OrderUpdate,
    P2PTradeUpdate,
    Stream,
    StreamStatus,
)
from server import Account, RunningServer, running_server

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("stream")) as running:
        yield running


def funded(server: RunningServer) -> Account:
    return server.funded(USD="10000000", BTC="100", ETH="1000")


async def book_matches_depth(client: AsyncClient, stream: Stream, symbol: str) -> None:
    """Wait until the local book reached the REST depth's update id, then compare."""
    for _ in range(200):
        depth = await client.depth(symbol, limit=1000)
        book = stream.book(symbol)
        if book.update_id == depth.last_update_id:
            assert book.bids() == depth.bids
            assert book.asks() == depth.asks
            return
        if book.update_id > depth.last_update_id:
            continue
        await asyncio.sleep(0.02)
    raise AssertionError(f"local book at {stream.book(symbol).update_id}, depth at "
                         f"{depth.last_update_id}")


async def burst(client: AsyncClient | Stream, symbol: str, count: int, seed: int,
                mid: int = 3000) -> None:
    """Random crossing limit orders and cancels, sent concurrently (over REST or the
    stream)."""
    rng = random.Random(seed)
    orders = await asyncio.gather(*(
        client.place_order(symbol, rng.choice(("buy", "sell")),
                           f"{rng.randint(1, 30) / 10:.1f}", f"{mid + rng.randint(-20, 20)}.00")
        for _ in range(count)))
    open_ids = [o.order_id for o in orders if o.is_open]
    await asyncio.gather(*(client.cancel_order(i) for i in open_ids[: len(open_ids) // 2]),
                         return_exceptions=True)


def test_local_book_rebuilt_from_the_socket_equals_rest_depth(server: RunningServer) -> None:
    maker, taker = funded(server), funded(server)

    async def scenario() -> None:
        async with AsyncClient(server.base_url, token=maker.token) as a, \
                AsyncClient(server.base_url, token=taker.token) as b, a.stream() as stream:
            assert stream.user_id == maker.user_id
            ack = await stream.subscribe("book", "ETH-USD")
            assert ack is not None and ack.resumed is False
            await stream.subscribe("orders")
            await asyncio.gather(burst(stream, "ETH-USD", 150, seed=1),
                                 burst(b, "ETH-USD", 60, seed=2))
            await book_matches_depth(a, stream, "ETH-USD")
            assert stream.book("ETH-USD").gaps == 0 and stream.resubscribes == 0
            fills = []
            while not stream._queue.empty():
                message = await stream.__anext__()
                if isinstance(message, OrderUpdate) and message.event == "filled":
                    fills.append(message)
            assert fills and all(f.order and f.fill for f in fills)
            await a.cancel_all("ETH-USD")
            await b.cancel_all("ETH-USD")

    asyncio.run(scenario())


class GappyStream(Stream):
    """Loses the first book delta after it has a book: a gap."""

    lost = 0

    def _dispatch(self, frame: str | bytes) -> None:
        if not self.lost and '"book_delta"' in str(frame) and self.book("ETH-USD").ready:
            self.lost += 1
            return
        super()._dispatch(frame)


def test_a_gap_makes_the_stream_resubscribe_with_since(server: RunningServer) -> None:
    maker = funded(server)

    async def scenario() -> None:
        async with AsyncClient(server.base_url, token=maker.token) as client:
            stream = GappyStream(client)
            async with stream:
                await stream.subscribe("book", "ETH-USD")
                await stream.wait_for(lambda: stream.book("ETH-USD").ready)
                for price in ("2950", "2951", "2952"):
                    await client.place_order("ETH-USD", "buy", "1", price)
                await book_matches_depth(client, stream, "ETH-USD")
                assert stream.lost == 1 and stream.resubscribes == 1
                assert stream.book("ETH-USD").gaps == 1
            await client.cancel_all("ETH-USD")

    asyncio.run(scenario())


def test_the_stream_reconnects_reauthenticates_and_resubscribes(
        server: RunningServer) -> None:
    maker = funded(server)

    async def scenario() -> None:
        async with AsyncClient(server.base_url, token=maker.token) as client, \
                client.stream(backoff_initial=0.05) as stream:
            await stream.subscribe("book", "ETH-USD")
            await stream.subscribe("orders")
            await stream.wait_for(lambda: stream.book("ETH-USD").ready)
            before = stream.book("ETH-USD").update_id
            hub = server.state.ws_hub
            closed = server.call(lambda: _close_all(hub))
            assert closed >= 1
            await client.place_order("ETH-USD", "sell", "2", "3100")  # while disconnected
            await stream.wait_for(lambda: stream.connects == 2)
            await book_matches_depth(client, stream, "ETH-USD")
            assert stream.book("ETH-USD").update_id > before
            placed = await client.place_order("ETH-USD", "sell", "1", "3101")
            statuses = []
            async for message in stream:
                if isinstance(message, StreamStatus):
                    statuses.append(message.status)
                if isinstance(message, OrderUpdate) and message.order and (
                        message.order.order_id == placed.order_id):
                    break
            assert statuses == ["connected", "disconnected", "reconnected"]
            await client.cancel_all("ETH-USD")

    asyncio.run(scenario())


async def _close_all(hub: Any) -> int:
    return int(hub.close_all())


def test_orders_over_the_stream(server: RunningServer) -> None:
    maker = funded(server)

    async def scenario() -> None:
        async with AsyncClient(server.base_url, token=maker.token) as client, \
                client.stream() as stream:
            assert await stream.ping() < 1.0
            order = await stream.place_order("ETH-USD", "buy", "0.5", "2800",
                                             client_order_id="s-1")
            assert order.status == "new" and order.price == Decimal("2800")
            assert order.client_order_id == "s-1"
            amended = await stream.amend_order(order.order_id, price="2801")
            assert amended.price == Decimal("2801") and amended.priority_kept is False
            cancelled = await stream.cancel_order(order.order_id)
            assert cancelled.cancelled_quantity == Decimal("0.5")
            with pytest.raises(MatchbookError) as info:
                await stream.cancel_order(order.order_id)
            assert info.value.code == 1012
            with pytest.raises(MatchbookError) as info:
                await stream.subscribe("book", "NOPE-USD")
            assert info.value.code == 1001
            nothing = await stream.cancel_all("ETH-USD")
            assert nothing.count == 0

    asyncio.run(scenario())


def test_public_stream_without_credentials(server: RunningServer) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.base_url) as client, client.stream() as stream:
            assert stream.user_id is None
            await stream.subscribe("trades", "ETH-USD")
            with pytest.raises(MatchbookError) as info:
                await stream.subscribe("orders")
            assert info.value.code == 5001
            assert ("orders",) not in stream._subscriptions

    asyncio.run(scenario())


def test_book_deltas_are_yielded_in_order(server: RunningServer) -> None:
    maker = funded(server)

    async def scenario() -> None:
        async with AsyncClient(server.base_url, token=maker.token) as client, \
                client.stream() as stream:
            await stream.subscribe("book", "ETH-USD")
            await stream.wait_for(lambda: stream.book("ETH-USD").ready)
            start = stream.book("ETH-USD").update_id
            for price in ("2700", "2701"):
                await client.place_order("ETH-USD", "buy", "1", price)
            ids = []
            async for message in stream:
                if isinstance(message, BookDelta):
                    ids.append((message.first_update_id, message.last_update_id))
                    if message.last_update_id >= start + 2:
                        break
            assert ids[0][0] == start + 1
            assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ids))
            await client.cancel_all("ETH-USD")

    asyncio.run(scenario())


def test_a_p2p_trade_through_the_sdk_and_its_stream(server: RunningServer) -> None:
    seller, buyer = funded(server), server.make_user()

    async def scenario() -> None:
        async with AsyncClient(server.base_url, token=seller.token) as sells, \
                AsyncClient(server.base_url, token=buyer.token) as buys, \
                buys.stream() as stream:
            await stream.subscribe("p2p")
            method = await sells.add_payment_method("SEPA", "DE89 3704")
            ad = await sells.post_ad("sell", "BTC", "EUR", "1", price="60000",
                                     payment_method_ids=[method.method_id])
            trade = await buys.take_ad(ad.ad_id, "0.25", idempotency_key="sdk-1")
            assert (trade.fiat_amount, trade.my_role) == (Decimal("15000.00"), "buyer")
            await buys.mark_paid(trade.trade_id)
            done = await sells.release(trade.trade_id)
            assert done.state == "completed" and done.fee == Decimal("0.00025")
            seen: list[str] = []
            async for message in stream:
                if isinstance(message, P2PTradeUpdate):
                    assert message.trade.trade_id == trade.trade_id
                    assert message.trade.my_role == "buyer"
                    seen.append(message.trade.state)
                elif isinstance(message, NotificationMessage):
                    assert message.notification.kind == "trade_released"
                    break
            assert seen == ["pending_payment", "paid", "completed"]
            assert (await buys.balance("BTC")).available == Decimal("0.24975")

    asyncio.run(scenario())


async def _overflow(hub: Any, symbol: str) -> int:
    """Make the server find the outbox of every connection subscribed to ``symbol``'s
    book full, as it does for a reader that fell behind: the hub's own overflow path
    empties it and queues a ``resync`` per channel. A reader that fell behind has a
    paused transport, so frames are not written directly meanwhile; the outbox's limit
    is then put back and a heartbeat queued, which wakes the connection's writer."""
    heartbeat = '{"type":"heartbeat"}'
    hit = 0
    for conn in list(hub.connections):
        if ("book", symbol) not in conn.subscriptions:
            continue
        limit, conn.limit = conn.limit, 0
        direct, conn.direct = conn.direct, None
        try:
            conn.offer(heartbeat)  # full: the hub resyncs it
        finally:
            conn.limit = limit
        conn.offer(heartbeat)
        conn.direct = direct
        hit += 1
    return hit


def test_a_server_resync_makes_the_stream_resubscribe_and_rebuild_the_book(
        server: RunningServer) -> None:
    maker = funded(server)

    async def scenario() -> None:
        async with AsyncClient(server.base_url, token=maker.token) as client, \
                client.stream(authenticate=False) as stream:
            await stream.subscribe("book", "BTC-USD")
            await stream.subscribe("trades", "BTC-USD")
            await stream.wait_for(lambda: stream.book("BTC-USD").ready)
            await client.place_order("BTC-USD", "buy", "0.1", "40000")
            await book_matches_depth(client, stream, "BTC-USD")
            resyncs = server.state.ws_hub.resyncs
            assert server.call(lambda: _overflow(server.state.ws_hub, "BTC-USD")) == 1
            assert server.state.ws_hub.resyncs == resyncs + 1
            # the server paused the book: these changes reach the stream only through
            # its resubscription with since
            for price in ("40001", "40002", "40003"):
                await client.place_order("BTC-USD", "buy", "0.1", price)
            await stream.wait_for(lambda: stream.resubscribes == 1)
            await book_matches_depth(client, stream, "BTC-USD")
            # and the book keeps following the live one afterwards
            await client.place_order("BTC-USD", "buy", "0.2", "40004")
            await book_matches_depth(client, stream, "BTC-USD")
            assert stream.book("BTC-USD").best_bid == (Decimal("40004"), Decimal("0.2"))
            await client.cancel_all("BTC-USD")

    asyncio.run(scenario())
