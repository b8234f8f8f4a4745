"""REST clients: ``Client`` (blocking, ``httpx.Client``) and ``AsyncClient``
(``httpx.AsyncClient``, plus :meth:`AsyncClient.stream` for the WebSocket).

Credentials: an API key (``api_key="mbk_..."``) or a signed-in session (``login``
keeps the tokens and refreshes the access token once it has expired). Every failed
request raises :class:`MatchbookError` with the API's ``code``, ``message`` and the
HTTP ``status``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx
import msgspec

from matchbook.client import _api
from matchbook.client._api import Call
from matchbook.client.errors import TOKEN_EXPIRED, UNKNOWN_ASSET, MatchbookError
from matchbook.client.models import Balance, Session
from matchbook.client.stream import Stream

P = ParamSpec("P")
T = TypeVar("T")
USER_AGENT = "matchbook-python/0.1"


class _Base:
    """Credentials, headers and decoding shared by both clients."""

    def __init__(self, base_url: str, api_key: str | None, token: str | None,
                 refresh_token: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.token = token
        self.refresh_token = refresh_token
        self.user_id: int | None = None

    @property
    def ws_url(self) -> str:
        """The ``/ws`` address matching ``base_url`` (``http`` -> ``ws``)."""
        scheme, _, rest = self.base_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws"

    @property
    def credential(self) -> str | None:
        """What authenticates this client: its API key, else its access token."""
        return self.api_key or self.token

    def _headers(self, call: Call[Any]) -> dict[str, str]:
        credential = self.credential
        if call.auth and credential:
            return {"Authorization": f"Bearer {credential}"}
        return {}

    def _can_refresh(self, call: Call[Any], error: MatchbookError) -> bool:
        return (error.code == TOKEN_EXPIRED and error.status == 401 and call.auth
                and not self.api_key
                and bool(self.refresh_token))

    def _result(self, call: Call[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise error_of(response)
        if call.result is None or not response.content:
            return None  # type: ignore[return-value]
        result: T = msgspec.json.decode(response.content, type=call.result)
        if call.keeps_session:
            self._keep(result)  # type: ignore[arg-type]
        return result

    def _keep(self, session: Session) -> None:
        self.token = session.access_token
        self.refresh_token = session.refresh_token
        self.user_id = session.user_id

    def _refresh_call(self) -> Call[Session]:
        if not self.refresh_token:
            raise MatchbookError(5003, "No refresh token: sign in with login() first.")
        return _api.refresh(self.refresh_token)


def error_of(response: httpx.Response) -> MatchbookError:
    """The :class:`MatchbookError` of an error response."""
    code, message = 0, response.reason_phrase or "request failed"
    try:
        body = response.json()
        if isinstance(body, dict):
            code = int(body.get("code", 0))
            message = str(body.get("message", message))
    except ValueError:
        pass
    retry = response.headers.get("retry-after")
    try:
        retry_after = float(retry) if retry else None
    except ValueError:
        retry_after = None
    return MatchbookError(code, message, response.status_code, retry_after)


def _sync(build: Callable[P, Call[T]]) -> Callable[Concatenate[Client, P], T]:
    @functools.wraps(build)
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._execute(build(*args, **kwargs))

    return method


def _async(build: Callable[P, Call[T]]
           ) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
    @functools.wraps(build)
    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._execute(build(*args, **kwargs))

    return method


class Client(_Base):
    """The blocking REST client.

    >>> with Client("http://127.0.0.1:8000") as mb:
    ...     mb.login("alice@demo.matchbook", "alice-demo-pass")
    ...     order = mb.place_order("BTC-USD", "buy", "0.01", "50000")
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 token: str | None = None, refresh_token: str | None = None,
                 timeout: float = 10.0, http: httpx.Client | None = None) -> None:
        super().__init__(base_url, api_key, token, refresh_token)
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout,
                                         headers={"User-Agent": USER_AGENT})

    def _execute(self, call: Call[T]) -> T:
        for attempt in range(2):
            try:
                response = self.http.request(call.method, call.path, params=call.params or None,
                                             json=call.body, headers=self._headers(call))
            except httpx.TransportError as exc:
                raise MatchbookError(0, f"Cannot reach {self.base_url}: {exc}") from exc
            try:
                return self._result(call, response)
            except MatchbookError as exc:
                if attempt or not self._can_refresh(call, exc):
                    raise
                self._execute(self._refresh_call())
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def refresh(self) -> Session:
        """A new access token from the refresh token (done automatically on expiry)."""
        return self._execute(self._refresh_call())

    def balance(self, asset: str) -> Balance:
        """One asset's balance."""
        for b in self.balances():
            if b.asset == asset.upper():
                return b
        raise MatchbookError(UNKNOWN_ASSET, f"Unknown asset {asset!r}.", 404)

    signup = _sync(_api.signup)
    login = _sync(_api.login)
    me = _sync(_api.me)
    create_api_key = _sync(_api.create_api_key)
    list_api_keys = _sync(_api.list_api_keys)
    delete_api_key = _sync(_api.delete_api_key)
    place_order = _sync(_api.place_order)
    list_orders = _sync(_api.list_orders)
    get_order = _sync(_api.get_order)
    amend_order = _sync(_api.amend_order)
    cancel_order = _sync(_api.cancel_order)
    cancel_all = _sync(_api.cancel_all)
    fills = _sync(_api.fills)
    balances = _sync(_api.balances)
    ledger = _sync(_api.ledger)
    create_address = _sync(_api.create_address)
    withdraw = _sync(_api.withdraw)
    transfer = _sync(_api.transfer)
    health = _sync(_api.health)
    symbols = _sync(_api.symbols)
    assets = _sync(_api.assets)
    depth = _sync(_api.depth)
    trades = _sync(_api.trades)
    ticker = _sync(_api.ticker)
    candles = _sync(_api.candles)
    simple_health = _sync(_api.simple_health)
    simple_orderbook = _sync(_api.simple_orderbook)
    simple_order = _sync(_api.simple_order)
    admin_deposit = _sync(_api.admin_deposit)
    admin_chain_deposit = _sync(_api.admin_chain_deposit)
    admin_withdrawals = _sync(_api.admin_withdrawals)
    admin_approve_withdrawal = _sync(_api.admin_approve_withdrawal)
    admin_reject_withdrawal = _sync(_api.admin_reject_withdrawal)
    admin_adjust = _sync(_api.admin_adjust)
    admin_halt = _sync(_api.admin_halt)
    admin_resume = _sync(_api.admin_resume)
    admin_suspend = _sync(_api.admin_suspend)
    admin_reinstate = _sync(_api.admin_reinstate)
    admin_users = _sync(_api.admin_users)
    admin_audit = _sync(_api.admin_audit)
    admin_orders = _sync(_api.admin_orders)
    admin_trades = _sync(_api.admin_trades)
    admin_stats = _sync(_api.admin_stats)
    admin_health = _sync(_api.admin_health)
    add_payment_method = _sync(_api.add_payment_method)
    payment_methods = _sync(_api.payment_methods)
    remove_payment_method = _sync(_api.remove_payment_method)
    post_ad = _sync(_api.post_ad)
    ads = _sync(_api.ads)
    my_ads = _sync(_api.my_ads)
    get_ad = _sync(_api.get_ad)
    pause_ad = _sync(_api.pause_ad)
    resume_ad = _sync(_api.resume_ad)
    cancel_ad = _sync(_api.cancel_ad)
    take_ad = _sync(_api.take_ad)
    p2p_trades = _sync(_api.p2p_trades)
    p2p_trade = _sync(_api.p2p_trade)
    mark_paid = _sync(_api.mark_paid)
    release = _sync(_api.release)
    cancel_trade = _sync(_api.cancel_trade)
    open_dispute = _sync(_api.open_dispute)
    withdraw_dispute = _sync(_api.withdraw_dispute)
    trade_messages = _sync(_api.trade_messages)
    post_trade_message = _sync(_api.post_trade_message)
    leave_feedback = _sync(_api.leave_feedback)
    p2p_config = _sync(_api.p2p_config)
    p2p_stats = _sync(_api.p2p_stats)
    notifications = _sync(_api.notifications)
    mark_notifications_read = _sync(_api.mark_notifications_read)
    admin_p2p_disputes = _sync(_api.admin_p2p_disputes)
    admin_resolve_dispute = _sync(_api.admin_resolve_dispute)
    admin_p2p_ads = _sync(_api.admin_p2p_ads)
    admin_cancel_ad = _sync(_api.admin_cancel_ad)
    admin_pause_ad = _sync(_api.admin_pause_ad)
    admin_resume_ad = _sync(_api.admin_resume_ad)


class AsyncClient(_Base):
    """The asyncio REST client; :meth:`stream` opens the WebSocket.

    >>> async with AsyncClient("http://127.0.0.1:8000", api_key="mbk_...") as mb:
    ...     depth = await mb.depth("BTC-USD")
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 token: str | None = None, refresh_token: str | None = None,
                 timeout: float = 10.0, http: httpx.AsyncClient | None = None) -> None:
        super().__init__(base_url, api_key, token, refresh_token)
        self.http = http or httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                              headers={"User-Agent": USER_AGENT})

    async def _execute(self, call: Call[T]) -> T:
        for attempt in range(2):
            try:
                response = await self.http.request(call.method, call.path,
                                                   params=call.params or None, json=call.body,
                                                   headers=self._headers(call))
            except httpx.TransportError as exc:
                raise MatchbookError(0, f"Cannot reach {self.base_url}: {exc}") from exc
            try:
                return self._result(call, response)
            except MatchbookError as exc:
                if attempt or not self._can_refresh(call, exc):
                    raise
                await self._execute(self._refresh_call())
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def refresh(self) -> Session:
        """A new access token from the refresh token (done automatically on expiry)."""
        return await self._execute(self._refresh_call())

    async def balance(self, asset: str) -> Balance:
        """One asset's balance."""
        for b in await self.balances():
            if b.asset == asset.upper():
                return b
        raise MatchbookError(UNKNOWN_ASSET, f"Unknown asset {asset!r}.", 404)

    def stream(self, *, authenticate: bool | None = None, reconnect: bool = True,
               **options: Any) -> Stream:
        """The WebSocket: ``async with client.stream() as s: await s.subscribe(...)``.

        Authenticates with this client's credentials when it has some (``authenticate``
        forces or skips it); reconnects, re-authenticates and resubscribes by itself.
        """
        return Stream(self, authenticate=authenticate, reconnect=reconnect, **options)

    signup = _async(_api.signup)
    login = _async(_api.login)
    me = _async(_api.me)
    create_api_key = _async(_api.create_api_key)
    list_api_keys = _async(_api.list_api_keys)
    delete_api_key = _async(_api.delete_api_key)
    place_order = _async(_api.place_order)
    list_orders = _async(_api.list_orders)
    get_order = _async(_api.get_order)
    amend_order = _async(_api.amend_order)
    cancel_order = _async(_api.cancel_order)
    cancel_all = _async(_api.cancel_all)
    fills = _async(_api.fills)
    balances = _async(_api.balances)
    ledger = _async(_api.ledger)
    create_address = _async(_api.create_address)
    withdraw = _async(_api.withdraw)
    transfer = _async(_api.transfer)
    health = _async(_api.health)
    symbols = _async(_api.symbols)
    assets = _async(_api.assets)
    depth = _async(_api.depth)
    trades = _async(_api.trades)
    ticker = _async(_api.ticker)
    candles = _async(_api.candles)
    simple_health = _async(_api.simple_health)
    simple_orderbook = _async(_api.simple_orderbook)
    simple_order = _async(_api.simple_order)
    admin_deposit = _async(_api.admin_deposit)
    admin_chain_deposit = _async(_api.admin_chain_deposit)
    admin_withdrawals = _async(_api.admin_withdrawals)
    admin_approve_withdrawal = _async(_api.admin_approve_withdrawal)
    admin_reject_withdrawal = _async(_api.admin_reject_withdrawal)
    admin_adjust = _async(_api.admin_adjust)
    admin_halt = _async(_api.admin_halt)
    admin_resume = _async(_api.admin_resume)
    admin_suspend = _async(_api.admin_suspend)
    admin_reinstate = _async(_api.admin_reinstate)
    admin_users = _async(_api.admin_users)
    admin_audit = _async(_api.admin_audit)
    admin_orders = _async(_api.admin_orders)
    admin_trades = _async(_api.admin_trades)
    admin_stats = _async(_api.admin_stats)
    admin_health = _async(_api.admin_health)
    add_payment_method = _async(_api.add_payment_method)
    payment_methods = _async(_api.payment_methods)
    remove_payment_method = _async(_api.remove_payment_method)
    post_ad = _async(_api.post_ad)
    ads = _async(_api.ads)
    my_ads = _async(_api.my_ads)
    get_ad = _async(_api.get_ad)
    pause_ad = _async(_api.pause_ad)
    resume_ad = _async(_api.resume_ad)
    cancel_ad = _async(_api.cancel_ad)
    take_ad = _async(_api.take_ad)
    p2p_trades = _async(_api.p2p_trades)
    p2p_trade = _async(_api.p2p_trade)
    mark_paid = _async(_api.mark_paid)
    release = _async(_api.release)
    cancel_trade = _async(_api.cancel_trade)
    open_dispute = _async(_api.open_dispute)
    withdraw_dispute = _async(_api.withdraw_dispute)
    trade_messages = _async(_api.trade_messages)
    post_trade_message = _async(_api.post_trade_message)
    leave_feedback = _async(_api.leave_feedback)
    p2p_config = _async(_api.p2p_config)
    p2p_stats = _async(_api.p2p_stats)
    notifications = _async(_api.notifications)
    mark_notifications_read = _async(_api.mark_notifications_read)
    admin_p2p_disputes = _async(_api.admin_p2p_disputes)
    admin_resolve_dispute = _async(_api.admin_resolve_dispute)
    admin_p2p_ads = _async(_api.admin_p2p_ads)
    admin_cancel_ad = _async(_api.admin_cancel_ad)
    admin_pause_ad = _async(_api.admin_pause_ad)
    admin_resume_ad = _async(_api.admin_resume_ad)
