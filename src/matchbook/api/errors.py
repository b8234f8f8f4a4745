"""Structured errors: every failure is ``{"code": int, "message": str}``, never a trace.

Engine result codes (``matchbook.core.codes``) keep their numbers; the API adds its own
in the ``5xxx`` (authentication, authorisation, limits) and ``6xxx`` (request) families.
One table maps every code to its HTTP status.
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from matchbook.api.routing import operations
from matchbook.api.schemas import PATTERN_NAMES
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
    MALFORMED_BODY = 6004
    BODY_TOO_LARGE = 6005
    URL_TOO_LONG = 6006
    HEADERS_TOO_LARGE = 6007
    REQUEST_TIMEOUT = 6008
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
    ApiCode.MALFORMED_BODY: 400,
    ApiCode.BODY_TOO_LARGE: 413,
    ApiCode.URL_TOO_LONG: 414,
    ApiCode.HEADERS_TOO_LARGE: 431,
    ApiCode.REQUEST_TIMEOUT: 408,
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
    # the P2P desk: a state mismatch is a conflict, a role or a ban forbidden, an
    # unknown id not found; every other refusal of the desk is a 400
    Code.STATE_MISMATCH: 409,
    Code.NOT_YOUR_ROLE: 403,
    Code.AD_NOT_YOURS: 403,
    Code.AD_PAUSED_BY_ADMIN: 403,
    Code.P2P_BANNED: 403,
    Code.UNKNOWN_AD: 404,
    Code.UNKNOWN_P2P_TRADE: 404,
    Code.UNKNOWN_PAYMENT_METHOD: 404,
    Code.UNKNOWN_FIAT: 404,
}



def p2p_error(code: int, message: str, state: str | None = None) -> ApiError:
    """The API error of a P2P refusal: its status from ``STATUS`` (else 400), and
    for a state mismatch the trade's or ad's current ``state`` in the body."""
    extra: dict[str, object] | None = {"state": state} if state else None
    return ApiError(code, message, STATUS.get(code, 400), extra=extra)


def http_status(code: int) -> int:
    """HTTP status of a code: the table, else 400 for request/risk/matching/wallet codes."""
    return STATUS.get(code, 400)


class ApiError(Exception):
    """Raised anywhere in a route; rendered as ``{"code", "message"}`` with its status."""

    def __init__(self, code: int, message: str, status: int | None = None,
                 headers: dict[str, str] | None = None,
                 extra: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.status = status or http_status(code)
        self.headers = headers
        self.extra = extra


MAX_MESSAGE = 300
"""The longest error message sent: messages may quote what the client sent (a symbol, a
field name), and an answer never echoes an attacker's kilobytes back."""


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def error_body(code: int, message: str, **extra: object) -> dict[str, object]:
    return {"code": int(code), "message": clip(message), **extra}


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


def api_error_response(exc: ApiError) -> JSONResponse:
    """The answer to a route that raised ``exc``."""
    return JSONResponse(error_body(exc.code, exc.message, **(exc.extra or {})),
                        status_code=exc.status, headers=exc.headers)


def unexpected_response(method: str, path: str, exc: BaseException) -> JSONResponse:
    """The answer to a request that failed for a reason no handler knows (logged)."""
    logger.error("unhandled error on %s %s", method, path, exc_info=exc)
    return JSONResponse(error_body(ApiCode.INTERNAL, "Internal error."), status_code=500)


def runtime_response(exc: BaseException) -> JSONResponse | None:
    """The answer to a route whose command the runtime refused with ``exc`` (busy,
    stopping, unencodable), else ``None``."""
    refusal = runtime_refusal(exc)
    if refusal is None:
        return None
    code, message, status, retry_after = refusal
    return JSONResponse(error_body(code, message), status_code=status,
                        headers={"Retry-After": retry_after} if retry_after else None)


def _explain(error: Any) -> str:
    """A validation error's sentence; a pattern the schema names is said in words."""
    if error.get("type") == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return PATTERN_NAMES.get(pattern, "has an invalid format")
    return str(error.get("msg", "invalid value"))


def _methods_at(request: Request) -> list[str]:
    """Every method some operation answers at the request's path (with OPTIONS), sorted."""
    methods = {"OPTIONS"}
    path = request.url.path
    for pattern, known, _ in operations(request.app):
        if pattern.match(path):
            methods.update(known)
    return sorted(methods)


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "Every failure: a stable numbered code and a sentence. Validation "
                   "errors add the first offending field and up to ten errors.",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "integer", "description": "The numbered code: 1xxx request, 2xxx "
                 "risk, 3xxx matching, 4xxx wallet, 7xxx P2P desk (the engine's), 5xxx "
                 "authentication and limits, 6xxx request format (the API's)."},
        "message": {"type": "string", "maxLength": MAX_MESSAGE},
        "field": {"type": "string", "maxLength": 100},
        "state": {"type": "string", "description": "P2P: where the trade or ad is now "
                  "(with code 7004, a state mismatch)."},
        "errors": {"type": "array", "maxItems": 10, "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                "schema": {"type": "integer", "minimum": 1}}}
_WRITES = frozenset({"post", "put", "patch", "delete"})


def error_statuses(method: str, operation: dict[str, Any]) -> dict[int, str]:
    """The error statuses an operation can answer with, and why.

    Every operation may be throttled (429) and refused for a long URL or large headers
    (414, 431); one that takes parameters or a body can fail validation (422); a write can
    carry a body (too large: 413, too slow: 408, not JSON: 400), be refused by the engine
    (400, 404, 409) or by a busy or stopping exchange (503); an operation behind
    credentials adds 401 and 403; a path or a symbol or asset parameter can name what does
    not exist (404)."""
    statuses = {429: "Too many requests (Retry-After).", 414: "The URL is too long.",
                431: "The request headers are too large."}
    names = {p.get("name") for p in operation.get("parameters", ())}
    in_path = any(p.get("in") == "path" for p in operation.get("parameters", ()))
    write = method in _WRITES
    if names or operation.get("requestBody"):
        statuses[422] = "A value breaks the schema's rules: the error names the field."
    if write:
        statuses.update({400: "Malformed body, or refused by the engine (see code).",
                         408: "The request body did not arrive in time.",
                         409: "Conflicts with the exchange's state (see code).",
                         413: "The request body is too large.",
                         503: "The exchange is busy or stopping (Retry-After)."})
    if write or in_path or names & {"symbol", "asset"}:
        statuses[404] = "What the request names does not exist (see code)."
    if operation.get("security"):
        statuses[401] = "Missing, expired or invalid credentials."
        statuses[403] = "Not allowed: scope, role or a suspended account."
    return statuses


_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


def _exact_bounds(node: Any) -> None:
    """Integer bounds as integers: the framework's OpenAPI models hold them as floats
    (2**62 becomes 4.611686018427388e+18), and tools that generate requests from the
    document then miss the bound by a rounding."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value.is_integer():
                node[key] = int(value)
            else:
                _exact_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _exact_bounds(item)


def document(app: FastAPI) -> None:
    """Make ``app.openapi()`` list every error status of every operation with the real
    error body, in place of the framework's default 422 model."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        models = schema.setdefault("components", {}).setdefault("schemas", {})
        models.pop("HTTPValidationError", None)
        models.pop("ValidationError", None)
        models["Error"] = ERROR_SCHEMA
        _exact_bounds(schema)
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for entries in schema.get("paths", {}).values():
            for method, operation in entries.items():
                responses = operation.setdefault("responses", {})
                for status, declared in responses.items():  # a route's own error statuses
                    if status[0] in "45" and "content" not in declared:
                        declared["content"] = body
                for status, why in sorted(error_statuses(method, operation).items()):
                    entry: dict[str, Any] = {"description": why, "content": body}
                    if status in (429, 503):
                        entry["headers"] = _RETRY_AFTER
                    responses[str(status)] = entry
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a structured error, and
    document them in the OpenAPI schema."""
    document(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return api_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return JSONResponse(error_body(ApiCode.MALFORMED_BODY,
                                           "The request body is not valid JSON."),
                                status_code=400)
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = clip(".".join(loc) or "request", 100)
        message = f"{field}: {_explain(first)}"
        details = [{"field": clip(".".join(str(p) for p in e.get("loc", ())), 100),
                    "message": clip(_explain(e))} for e in errors[:10]]
        return JSONResponse(error_body(ApiCode.VALIDATION, message, field=field,
                                       errors=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:  # one route per method: name every method of the path
            allow = ", ".join(_methods_at(request))
            if request.method == "OPTIONS":
                return Response(status_code=204, headers={"Allow": allow})
            return JSONResponse(error_body(ApiCode.METHOD_NOT_ALLOWED,
                                           f"{request.method} is not allowed here; use {allow}."),
                                status_code=405, headers={"Allow": allow})
        code = {404: ApiCode.NOT_FOUND, 405: ApiCode.METHOD_NOT_ALLOWED,
                401: ApiCode.UNAUTHENTICATED, 403: ApiCode.FORBIDDEN}.get(exc.status_code,
                                                                           ApiCode.VALIDATION)
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse(error_body(code, detail), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    async def _runtime(request: Request, exc: Exception) -> JSONResponse:
        response = runtime_response(exc)
        assert response is not None  # registered for these kinds only
        return response

    for kind in _RUNTIME:
        app.add_exception_handler(kind, _runtime)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_response(request.method, request.url.path, exc)
