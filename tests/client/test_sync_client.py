"""The blocking SDK client end to end: sign-up, admin deposit, orders, fills, balances."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from matchbook.client import Balance, Client, Depth, MatchbookError, Order
from server import running_server

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


def test_sync_client_end_to_end(tmp_path: object) -> None:
    with running_server(tmp_path) as server:  # type: ignore[arg-type]
        # an operator, as `matchbook admin create-user --admin` makes one
        server.call(lambda: server.state.users.create_user("ops@test.local", "ops-password-1",
                                                           "admin"))
        with Client(server.base_url) as ops, Client(server.base_url) as alice, \
                Client(server.base_url) as bob:
            assert ops.login("ops@test.local", "ops-password-1").role == "admin"
            created = alice.signup("alice@test.local", "alice-password")
            assert created.email == "alice@test.local" and created.role == "user"
            with pytest.raises(MatchbookError) as info:
                alice.signup("alice@test.local", "alice-password")
            assert (info.value.code, info.value.status) == (5008, 409)
            session = alice.login("alice@test.local", "alice-password")
            assert alice.token == session.access_token and alice.user_id == created.user_id
            bob.token = server.make_user("bob@test.local").token  # a plain bearer token
            bob_id = bob.me().user_id

            deposit = ops.admin_deposit(created.user_id, "USD", "100000", reference="wire 1")
            assert deposit.amount == Decimal("100000") and deposit.asset == "USD"
            ops.admin_deposit(bob_id, "BTC", Decimal("2"))
            with pytest.raises(MatchbookError) as info:
                alice.admin_deposit(created.user_id, "USD", "1")
            assert (info.value.code, info.value.status) == (5004, 403)
            with pytest.raises(TypeError):
                alice.place_order("BTC-USD", "buy", 0.1, 50000)  # type: ignore[arg-type]

            usd = alice.balance("USD")
            assert isinstance(usd, Balance) and usd.available == Decimal("100000")
            resting = bob.place_order("BTC-USD", "sell", "0.5", "50000", client_order_id="b1")
            assert isinstance(resting, Order) and resting.status == "new"
            assert resting.is_open and resting.price == Decimal("50000")
            taken = alice.place_order("BTC-USD", "buy", "0.2", "50000")
            assert taken.status == "filled" and taken.filled_quantity == Decimal("0.2")
            assert [(f.price, f.quantity, f.is_maker) for f in taken.fills] == [
                (Decimal("50000"), Decimal("0.2"), False)]
            market = alice.place_order("BTC-USD", "buy", "0.1")  # no price: a market order
            assert market.type == "market" and market.status == "filled"

            open_orders = bob.list_orders()
            assert [o.order_id for o in open_orders] == [resting.order_id]
            assert open_orders[0].remaining_quantity == Decimal("0.2")
            amended = bob.amend_order(resting.order_id, quantity="0.45")  # total, 0.3 filled
            assert amended.quantity == Decimal("0.45") and amended.priority_kept is True

            depth = alice.depth("BTC-USD")
            assert isinstance(depth, Depth)
            assert depth.asks == [(Decimal("50000"), Decimal("0.15"))] and depth.bids == []
            trades = alice.trades("BTC-USD")
            assert [t.quantity for t in trades] == [Decimal("0.1"), Decimal("0.2")]
            ticker = alice.ticker("BTC-USD")
            assert ticker.last == Decimal("50000") and ticker.trades == 2
            candles = alice.candles("BTC-USD", "1m")
            assert sum(c.trades for c in candles) == 2 and candles[-1].close == Decimal("50000")
            assert alice.candles("BTC-USD", "1m", limit=1) == candles[-1:]

            btc = alice.balance("btc")
            assert btc.available == Decimal("0.3")
            usd = alice.balance("USD")
            assert usd.available < Decimal("100000") - Decimal("15000")  # price + taker fees
            cancelled = bob.cancel_order(resting.order_id)
            assert cancelled.cancelled_quantity == Decimal("0.15")
            with pytest.raises(MatchbookError) as info:
                bob.cancel_order(resting.order_id)
            assert (info.value.code, info.value.status) == (1012, 404)
            assert bob.cancel_all().count == 0

            deadline = time.monotonic() + 10  # history comes from the SQL projection
            while True:
                fills = alice.fills("BTC-USD")
                if len(fills) == 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert sorted(f.quantity for f in fills) == [Decimal("0.1"), Decimal("0.2")]
            assert all(f.side == "buy" and not f.is_maker for f in fills)

            assert {s.symbol for s in alice.symbols()} >= {"BTC-USD", "ETH-USD"}
            assert alice.health().status == "ok"
            assert any(u.email == "alice@test.local" for u in ops.admin_users())

            key = alice.create_api_key(["read"], label="bot")
            with Client(server.base_url, api_key=key.api_key) as bot:
                assert bot.me().api_key_id == key.api_key_id
                with pytest.raises(MatchbookError) as info:
                    bot.place_order("BTC-USD", "buy", "0.1", "49000")
                assert info.value.code == 5009

            refreshed = alice.refresh()
            assert refreshed.refresh_token != session.refresh_token
            assert alice.me().email == "alice@test.local"


def test_an_expired_access_token_is_refreshed_by_itself(tmp_path: object) -> None:
    """The clients and the stream's sign-in renew an expired access token with the
    refresh token once, then repeat the request (access tokens live 2 s here)."""
    import asyncio

    from matchbook.client import AsyncClient

    with running_server(tmp_path, access_token_seconds=2) as server:  # type: ignore[arg-type]
        account = server.make_user(login=True)
        with Client(server.base_url) as mb:
            mb.login(account.email, account.password)
            token, refresh = mb.token, mb.refresh_token
            time.sleep(3.1)
            assert mb.me().user_id == account.user_id
            assert mb.token != token and mb.refresh_token != refresh
            mb.refresh_token = None  # nothing to renew it with: the 401 reaches the caller
            time.sleep(3.1)
            with pytest.raises(MatchbookError) as info:
                mb.me()
            assert (info.value.code, info.value.status) == (5002, 401)

        async def stream() -> None:
            async with AsyncClient(server.base_url) as client:
                await client.login(account.email, account.password)
                token = client.token
                await asyncio.sleep(3.1)
                async with client.stream() as s:  # signs in with a renewed token
                    assert s.user_id == account.user_id and client.token != token

        asyncio.run(stream())
