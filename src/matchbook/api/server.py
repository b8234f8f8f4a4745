"""How uvicorn serves the app: its options, its HTTP protocol with one socket write
per answer, and its WebSocket protocol with a lean path for busy connections
(``matchbook.api.ws.lean.LeanWebSocket``).

uvicorn writes an HTTP response in two socket writes, its head and then its body. For
the short JSON answers of the API (an order's acknowledgement is a few hundred bytes)
the second system call costs about as much as the first, and the client is woken twice.
``OneWriteHttp`` holds the head of a response of known, non-empty length back and writes
it with the body. The rest of the protocol (parsing, keep-alive, pipelining, flow
control, upgrades to WebSocket) is uvicorn's own.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from matchbook.api.ws.lean import LeanWebSocket
from matchbook.settings import Settings


class _OneWrite:
    """The transport of one HTTP exchange, as its ``RequestResponseCycle`` sees it: the
    head of a response with a non-empty ``Content-Length`` body is held back and written
    with the body's first bytes, so that a short answer costs one socket write (one
    system call, one segment, one wake-up of the client) instead of two. Every other
    write (a ``100 Continue``, a chunked or empty answer, the answer to ``HEAD``) goes
    out at once; a held head is written before anything else, and before the transport
    closes."""

    __slots__ = ("cycle", "head", "transport")

    def __init__(self, transport: Any, cycle: RequestResponseCycle) -> None:
        self.transport = transport
        self.cycle = cycle
        self.head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self.head
        if head is not None:
            self.head = None
            self.transport.write(head + data)
            return
        cycle = self.cycle
        # the head is the first write once the response has started; uvicorn has then
        # parsed its Content-Length into expected_content_length
        if (cycle.response_started and cycle.chunked_encoding is False
                and cycle.expected_content_length > 0 and not cycle.response_complete
                and cycle.scope["method"] != "HEAD" and data.endswith(b"\r\n\r\n")):
            self.head = data
            return
        self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def flush(self) -> None:
        head = self.head
        if head is not None:
            self.head = None
            self.transport.write(head)

    def is_closing(self) -> bool:
        return bool(self.transport.is_closing())


class OneWriteHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, each response written in one socket write when its
    length is known (see ``_OneWrite``); everything else is uvicorn's."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous:  # a new request (an upgrade makes none)
            cycle.transport = _OneWrite(self.transport, cycle)  # type: ignore[assignment]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The server options of ``matchbook serve`` (the test server uses them too)."""
    return dict(
        http=OneWriteHttp, ws=LeanWebSocket, log_config=None,
        access_log=False,  # requests are counted in /metrics; errors are logged
        # a larger WebSocket message closes the connection (1009); no compression:
        # one encoded frame is sent to many readers
        ws_max_size=settings.ws_max_message_bytes, ws_per_message_deflate=False,
        timeout_graceful_shutdown=10,
        # the client address behind a proxy comes from the configured
        # trusted_proxies only (matchbook.api.guard), never from any peer
        proxy_headers=False, h11_max_incomplete_event_size=settings.max_header_bytes)
