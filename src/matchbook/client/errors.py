"""The one exception the SDK raises for a failed request."""

from __future__ import annotations


class MatchbookError(Exception):
    """The server refused a request: ``code`` (stable, machine-readable, as in the API's
    ``{"code", "message"}`` errors), ``message`` (a sentence) and the HTTP ``status``
    (0 for a WebSocket answer or when the server could not be reached).

    ``retry_after`` is the server's hint in seconds for busy and rate-limit errors.
    """

    def __init__(self, code: int, message: str, status: int = 0,
                 retry_after: float | None = None) -> None:
        super().__init__(f"[{code}] {message}" + (f" (HTTP {status})" if status else ""))
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


class ConnectionLost(MatchbookError):
    """The connection closed before an answer came: the request may or may not have
    been applied (look the order up by its ``client_order_id``)."""

    def __init__(self, message: str = "The connection to the server was lost.") -> None:
        super().__init__(0, message)


# codes the SDK itself reacts to (matchbook.api.errors.ApiCode)
TOKEN_EXPIRED = 5002
UNKNOWN_ASSET = 4001
RATE_LIMITED = 5005
BUSY = 5010
