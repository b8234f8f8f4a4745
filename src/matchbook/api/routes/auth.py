"""Sign-up, sign-in, token refresh, the caller, API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request

from matchbook.api import views
from matchbook.api.deps import CurrentUser, State
from matchbook.api.errors import ApiCode, ApiError
from matchbook.api.schemas import ApiKeyId, Login, NewApiKey, Refresh, SignUp
from matchbook.api.users import EmailTaken
from matchbook.api.views import respond, schema

router = APIRouter(tags=["accounts"])


def _session(state: State, user_id: int, role: str, refresh: str) -> views.ViewResponse:
    return respond(views.Session(access_token=state.tokens.issue(user_id, role),
                                 refresh_token=refresh,
                                 expires_in=state.settings.access_token_seconds,
                                 user_id=user_id, role=role))  # type: ignore[arg-type]


@router.post("/auth/signup", status_code=201, response_model=schema(views.User))
async def signup(body: SignUp, state: State) -> views.ViewResponse:
    try:
        user = await state.users.create_user(body.email, body.password)
    except EmailTaken:
        raise ApiError(ApiCode.EMAIL_TAKEN, "An account with this email exists.") from None
    return respond(views.User(user_id=user.user_id, email=user.email,
                              role=user.role), 201)  # type: ignore[arg-type]


@router.post("/auth/login", response_model=schema(views.Session),
             responses={401: {"description": "Wrong email or password."}})
async def login(body: Login, state: State, request: Request) -> views.ViewResponse:
    email = body.email.strip().lower()
    client = request.client.host if request.client else "unknown"
    keys = (f"email:{email}", f"addr:{client}")
    state.logins.attempt(*keys)  # counted now: concurrent attempts cannot all pass
    user = await state.users.authenticate(email, body.password)
    if user is None:
        raise ApiError(ApiCode.INVALID_CREDENTIALS, "Wrong email or password.")
    state.logins.succeeded(*keys)
    refresh = await state.users.issue_refresh(user.user_id, state.settings.refresh_token_seconds)
    return _session(state, user.user_id, user.role, refresh)


@router.post("/auth/refresh", response_model=schema(views.Session),
             responses={401: {"description": "The refresh token is not valid."}})
async def refresh(body: Refresh, state: State) -> views.ViewResponse:
    rotated = await state.users.rotate_refresh(body.refresh_token,
                                               state.settings.refresh_token_seconds)
    if rotated is None:
        raise ApiError(ApiCode.TOKEN_INVALID, "The refresh token is not valid.")
    user = await state.users.get(rotated[0])
    if user is None:
        raise ApiError(ApiCode.TOKEN_INVALID, "The refresh token is not valid.")
    return _session(state, user.user_id, user.role, rotated[1])


@router.get("/me", response_model=schema(views.Me))
async def me(principal: CurrentUser, state: State) -> views.ViewResponse:
    user = await state.users.get(principal.user_id)
    if user is None:
        raise ApiError(ApiCode.UNAUTHENTICATED, "The account no longer exists.")
    return respond(views.Me(user_id=user.user_id, email=user.email,
                            role=user.role,  # type: ignore[arg-type]
                            suspended=state.reads.is_suspended(user.user_id),
                            scopes=list(principal.scopes), api_key_id=principal.key_id or None))


@router.post("/api-keys", status_code=201, response_model=schema(views.CreatedApiKey))
async def create_api_key(body: NewApiKey, principal: CurrentUser,
                         state: State) -> views.ViewResponse:
    if principal.key_id:
        raise ApiError(ApiCode.FORBIDDEN, "API keys are created from a signed-in session.")
    key, secret = await state.users.create_api_key(principal.user_id,
                                                   tuple(dict.fromkeys(body.scopes)), body.label)
    return respond(views.CreatedApiKey(api_key_id=key.key_id, api_key=secret,
                                       scopes=list(key.scopes), label=key.label), 201)


@router.get("/api-keys", response_model=schema(list[views.ApiKeyInfo]))
async def list_api_keys(principal: CurrentUser, state: State) -> views.ViewResponse:
    return respond([views.ApiKeyInfo(api_key_id=k.key_id, scopes=list(k.scopes), label=k.label,
                                     created_ns=k.created_ns)
                    for k in await state.users.list_api_keys(principal.user_id)])


@router.delete("/api-keys/{key_id}", response_model=schema(views.RevokedApiKey))
async def delete_api_key(key_id: ApiKeyId, principal: CurrentUser,
                         state: State) -> views.ViewResponse:
    if not await state.users.revoke_api_key(principal.user_id, key_id):
        raise ApiError(ApiCode.NOT_FOUND, "No such API key.")
    if state.ws_hub is not None:
        state.ws_hub.revoke_api_key(key_id)
    return respond(views.RevokedApiKey(api_key_id=key_id, revoked=True))
