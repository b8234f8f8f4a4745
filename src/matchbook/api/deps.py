"""Request dependencies: the running exchange, the caller, their rights and limits.

A route takes ``State`` and at most one caller alias (``CurrentUser``, ``Reader``,
``Trader``, ``Withdrawer``, ``AdminUser``). Each alias is one dependency that does the
whole check, so FastAPI solves two flat dependencies per request, not a tree of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.api.auth import PRINCIPAL, LoginThrottle, Principal, RateLimiter, Tokens
from matchbook.api.errors import ApiCode, ApiError
from matchbook.api.market import MarketService
from matchbook.api.p2p import P2PService
from matchbook.api.p2p_history import P2PHistory
from matchbook.api.reads import Reads
from matchbook.api.store_reads import StoreReads
from matchbook.api.trading import Trading
from matchbook.api.users import UserStore
from matchbook.runtime.exchange import Exchange
from matchbook.settings import Settings


class Streams(Protocol):
    """What the REST side needs of the WebSocket hub (``matchbook.api.ws.Hub``)."""

    @property
    def client_count(self) -> int: ...

    def revoke_api_key(self, key_id: int) -> int: ...


@dataclass
class ApiState:
    """The running server: the exchange, its stores, and the services built on them."""

    settings: Settings
    exchange: Exchange
    db: AsyncEngine
    users: UserStore
    tokens: Tokens
    limiter: RateLimiter
    logins: LoginThrottle
    ws_hub: Streams | None = None
    reads: Reads = field(init=False)
    trading: Trading = field(init=False)
    market: MarketService = field(init=False)
    history: StoreReads = field(init=False)
    p2p: P2PService = field(init=False)
    p2p_history: P2PHistory = field(init=False)

    def __post_init__(self) -> None:
        self.reads = Reads(self.exchange)
        self.trading = Trading(self.exchange, self.reads)
        self.market = MarketService(self.exchange, self.reads, self.db)
        self.history = StoreReads(self.db, self.exchange.markets)
        self.p2p = P2PService(self.exchange, self.reads)
        self.p2p_history = P2PHistory(self.db, self.exchange.markets)

    @property
    def ws_clients(self) -> int:
        """Connected WebSocket clients (0 before the hub starts)."""
        return self.ws_hub.client_count if self.ws_hub is not None else 0


async def get_state(request: Request) -> ApiState:
    """The running server's state (async: a sync dependency costs a thread hop)."""
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]


class Caller(SecurityBase):
    """The authenticated caller, within their rate limit and rights.

    Credentials are ``Authorization: Bearer <access token or API key>`` or
    ``X-API-Key: <API key>``; OpenAPI shows the bearer scheme. Raises ``ApiError`` 401
    without credentials or with bad ones, 429 over the rate limit (checked before the
    rights, so a request refused for them still counts), 403 without ``scope``, or when
    ``admin`` is asked of a caller who is not an administrator signed in with a token.
    """

    def __init__(self, scope: str | None = None, *, admin: bool = False) -> None:
        self.model = HTTPBearerModel(description="Access token (JWT) or an API key")
        self.scheme_name = "HTTPBearer"
        self.scope = scope
        self.admin = admin

    async def __call__(self, request: Request) -> Principal:
        state: ApiState = request.app.state.api
        principal: Principal | None = request.scope.get(PRINCIPAL)  # verified by the guard
        if principal is None:
            principal = await authenticate(state, request.headers)
        if principal.key_id:
            state.limiter.check(("key", principal.key_id))
        else:
            state.limiter.check(("user", principal.user_id))
        if self.scope is not None and self.scope not in principal.scopes:
            raise ApiError(ApiCode.SCOPE_MISSING, f"This API key lacks the '{self.scope}' scope.")
        if self.admin:
            if not principal.is_admin:
                raise ApiError(ApiCode.FORBIDDEN, "Administrators only.")
            if principal.key_id:
                raise ApiError(ApiCode.FORBIDDEN,
                               "Administration needs a signed-in session, not a key.")
        return principal


class _Headers(Protocol):
    def get(self, name: str) -> str | None: ...


async def authenticate(state: ApiState, headers: _Headers) -> Principal:
    """The caller of ``Authorization: Bearer <token or API key>`` or ``X-API-Key``.

    Raises ``ApiError`` 401 without credentials or with bad ones. O(1) for a token seen
    before; an API key is looked up in the user store."""
    api_key = headers.get("x-api-key")
    token = _bearer_token(headers.get("authorization"))
    if token is not None and token.startswith("mbk_"):
        api_key, token = token, None
    if api_key:
        found = await state.users.principal_for_key(api_key)
        if found is None:
            raise ApiError(ApiCode.UNAUTHENTICATED, "Unknown or revoked API key.")
        return found
    if token:
        return state.tokens.verify(token)
    raise ApiError(ApiCode.UNAUTHENTICATED, "Sign in first: a bearer token is required.",
                   headers={"WWW-Authenticate": "Bearer"})


def _bearer_token(authorization: str | None) -> str | None:
    """The credentials of ``Bearer <credentials>`` (any case), else ``None``."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if not credentials or scheme.lower() != "bearer":
        return None
    return credentials


CurrentUser = Annotated[Principal, Depends(Caller())]
Reader = Annotated[Principal, Depends(Caller("read"))]
Trader = Annotated[Principal, Depends(Caller("trade"))]
Withdrawer = Annotated[Principal, Depends(Caller("withdraw"))]
AdminUser = Annotated[Principal, Depends(Caller(admin=True))]
