"""Request dependencies: the running exchange, the caller, their rights and limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine

from matchbook.api.auth import LoginThrottle, Principal, RateLimiter, Tokens
from matchbook.api.errors import ApiCode, ApiError
from matchbook.api.users import UserStore
from matchbook.runtime.exchange import Exchange
from matchbook.settings import Settings

if TYPE_CHECKING:
    from matchbook.api.ws import Hub


@dataclass
class ApiState:
    settings: Settings
    exchange: Exchange
    db: AsyncEngine
    users: UserStore
    tokens: Tokens
    limiter: RateLimiter
    logins: LoginThrottle
    ws_hub: Hub | None = None

    @property
    def ws_clients(self) -> int:
        """Connected WebSocket clients (0 before the hub starts)."""
        return self.ws_hub.client_count if self.ws_hub is not None else 0


async def get_state(request: Request) -> ApiState:
    """The running server's state (async: a sync dependency costs a thread hop)."""
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]
_bearer = HTTPBearer(auto_error=False, description="Access token (JWT) or an API key")


async def get_principal(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    request: Request,
) -> Principal:
    """The caller, from ``Authorization: Bearer <token or API key>`` or ``X-API-Key``.

    Raises 401 without credentials or with bad ones, 429 over the rate limit.
    """
    api_key = request.headers.get("x-api-key")
    token = credentials.credentials if credentials else None
    if token and token.startswith("mbk_"):
        api_key, token = token, None
    if api_key:
        key = await state.users.find_api_key(api_key)
        if key is None:
            raise ApiError(ApiCode.UNAUTHENTICATED, "Unknown or revoked API key.")
        user = await state.users.get(key.user_id)
        principal = Principal(key.user_id, user.role if user else "user", key.scopes, key.key_id)
        state.limiter.check(("key", key.key_id))
    elif token:
        principal = state.tokens.verify(token)
        state.limiter.check(("user", principal.user_id))
    else:
        raise ApiError(ApiCode.UNAUTHENTICATED, "Sign in first: a bearer token is required.",
                       headers={"WWW-Authenticate": "Bearer"})
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require_scope(scope: str) -> object:
    async def check(principal: CurrentUser) -> Principal:
        if scope not in principal.scopes:
            raise ApiError(ApiCode.SCOPE_MISSING, f"This API key lacks the '{scope}' scope.")
        return principal

    return Depends(check)


async def get_admin(principal: CurrentUser) -> Principal:
    if not principal.is_admin:
        raise ApiError(ApiCode.FORBIDDEN, "Administrators only.")
    if principal.key_id:
        raise ApiError(ApiCode.FORBIDDEN, "Administration needs a signed-in session, not a key.")
    return principal


AdminUser = Annotated[Principal, Depends(get_admin)]
Trader = Annotated[Principal, require_scope("trade")]
Reader = Annotated[Principal, require_scope("read")]
Withdrawer = Annotated[Principal, require_scope("withdraw")]
