"""Structured errors: every failure is ``{"code": int, "message": str}``, never a trace.

Engine result codes (``matchbook.core.codes``) keep their numbers; the API adds its own
in the ``5xxx`` (authentication, authorisation, limits) and ``6xxx`` (request) families.
One table maps every code to its HTTP status.
"""

from __future__ import annotations

import logging
from enum import IntEnum

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from matchbook.core.codes import Code
from matchbook.runtime.sequencer import Busy, Stopped, Unencodable

logger = logging.getLogger(__name__)


class ApiCode(IntEnum):
    UNAUTHENTICATED = 5001
    TOKEN_EXPIRED = 5002
    TOKEN_INVALID = 5003
    FORBIDDEN = 5004
    RATE_LIMITED = 5005
    LOGIN_THROTTLED = 5006
    INVALID_CREDENTIALS = 5007
    EMAIL_TAKEN = 5008
    SCOPE_MISSING = 5009
    BUSY = 5010
    SHUTTING_DOWN = 5011
    VALIDATION = 6001
    NOT_FOUND = 6002
    METHOD_NOT_ALLOWED = 6003
    INTERNAL = 6500


STATUS: dict[int, int] = {
    ApiCode.UNAUTHENTICATED: 401,
    ApiCode.TOKEN_EXPIRED: 401,
    ApiCode.TOKEN_INVALID: 401,
    ApiCode.INVALID_CREDENTIALS: 401,
    ApiCode.FORBIDDEN: 403,
    ApiCode.SCOPE_MISSING: 403,
    ApiCode.RATE_LIMITED: 429,
    ApiCode.LOGIN_THROTTLED: 429,
    ApiCode.EMAIL_TAKEN: 409,
    ApiCode.BUSY: 503,
    ApiCode.SHUTTING_DOWN: 503,
    ApiCode.VALIDATION: 422,
    ApiCode.NOT_FOUND: 404,
    ApiCode.METHOD_NOT_ALLOWED: 405,
    ApiCode.INTERNAL: 500,
    # engine codes
    Code.UNKNOWN_SYMBOL: 404,
    Code.UNKNOWN_ORDER: 404,
    Code.UNKNOWN_ASSET: 404,
    Code.UNKNOWN_ADDRESS: 404,
    Code.UNKNOWN_WITHDRAWAL: 404,
    Code.DUPLICATE_CLIENT_ORDER_ID: 409,
    Code.ADDRESS_EXISTS: 409,
    Code.WITHDRAWAL_NOT_PENDING: 409,
    Code.SYMBOL_HALTED: 409,
    Code.TRADING_HALTED: 409,
    Code.USER_SUSPENDED: 403,
    Code.USER_NOT_SUSPENDED: 409,
}


def http_status(code: int) -> int:
    """HTTP status of a code: the table, else 400 for request/risk/matching/wallet codes."""
    return STATUS.get(code, 400)


class ApiError(Exception):
    """Raised anywhere in a route; rendered as ``{"code", "message"}`` with its status."""

    def __init__(self, code: int, message: str, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.status = status or http_status(code)
        self.headers = headers


def error_body(code: int, message: str, **extra: object) -> dict[str, object]:
    return {"code": int(code), "message": message, **extra}


# the runtime's refusals of a command: (code, HTTP status, Retry-After seconds)
_RUNTIME: dict[type[Exception], tuple[ApiCode, int, str]] = {
    Busy: (ApiCode.BUSY, 503, "1"),
    Stopped: (ApiCode.SHUTTING_DOWN, 503, "5"),
    Unencodable: (ApiCode.VALIDATION, 422, ""),
}


def runtime_refusal(exc: BaseException) -> tuple[ApiCode, str, int, str] | None:
    """``(code, message, HTTP status, Retry-After)`` when ``exc`` is the runtime refusing
    a command (busy, stopping, or a value the journal cannot record), else ``None``.
    REST and WebSocket answer the same."""
    for kind in type(exc).__mro__:
        known = _RUNTIME.get(kind)
        if known is not None:
            code, status, retry_after = known
            message = "The exchange is busy; retry shortly." if kind is Busy else str(exc)
            return code, message, status, retry_after
    return None


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a structured error."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "request"
        message = f"{field}: {first.get('msg', 'invalid value')}"
        details = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
                   for e in errors[:10]]
        return JSONResponse(error_body(ApiCode.VALIDATION, message, field=field,
                                       errors=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: ApiCode.NOT_FOUND, 405: ApiCode.METHOD_NOT_ALLOWED,
                401: ApiCode.UNAUTHENTICATED, 403: ApiCode.FORBIDDEN}.get(exc.status_code,
                                                                           ApiCode.VALIDATION)
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse(error_body(code, detail), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    async def _runtime(request: Request, exc: Exception) -> JSONResponse:
        refusal = runtime_refusal(exc)
        assert refusal is not None  # registered for these kinds only
        code, message, status, retry_after = refusal
        return JSONResponse(error_body(code, message), status_code=status,
                            headers={"Retry-After": retry_after} if retry_after else None)

    for kind in _RUNTIME:
        app.add_exception_handler(kind, _runtime)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(ApiCode.INTERNAL, "Internal error."), status_code=500)
