"""uvicorn's WebSocket protocol with a lean path for the frames of a busy connection.

Through the ASGI interface, each incoming message of a ``/ws`` connection is parsed by
websockets' generator-based frame parser, queued (``asyncio.Queue``, reading paused and
resumed), taken by the connection's reader task through Starlette's ``WebSocket``, and
each answer is offered to the connection's outbox, taken by its writer task, and passed
through Starlette and uvicorn to websockets, which frames it. Most of a WebSocket
order's CPU on the event loop was this plumbing, not the order.

``LeanWebSocket`` is uvicorn's ``WebSocketsSansIOProtocol`` (the handshake, the close
handshake, pings and pongs, fragmented and binary messages, the size limit, flow
control: everything is uvicorn's and websockets') with two shortcuts, taken only for a
connection that the ``/ws`` endpoint has attached (``attach``) and that negotiated no
extension:

* **In**: ``data_received`` splits the bytes itself into frames while they are whole,
  final, masked text frames within the size limit, holding valid UTF-8, and offers each
  message's text to the session (``Lane.take``), which answers at once what it can
  answer without waiting (a well-formed ``place``). The first frame it does not take,
  and everything after it, goes the general way (websockets' parser, the ASGI queue),
  so messages are still handled in the order they came; so does what follows the
  first ``MAX_TAKEN`` messages of one read. The shortcut is only tried
  when the general way holds nothing: its parser between two frames, not inside a
  fragmented message, the ASGI queue empty and the session not waiting on a message.
* **Out**: ``write_text`` frames a text message (server frames are not masked) and
  writes it; the frames written to one connection within one turn of the event loop
  go out in one socket write, every connection's at the end of the turn (one callback
  for all of them). ``Connection`` uses it only while its writer task is idle
  (its outbox empty) and the transport takes writes (``writable``); otherwise it
  queues as before, so a slow reader still fills its outbox and is resynced or dropped.

Nothing else differs: a message is answered by the same session code either way, with
the same text.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

try:
    from websockets.speedups import apply_mask
except ImportError:  # a build of websockets without its C extension
    from websockets.utils import apply_mask

logger = logging.getLogger(__name__)

EXTENSION = "matchbook.lean_websocket"  # the scope extension that holds the protocol
_TEXT_FIN = 0x81  # FIN, no reserved bit, opcode 1 (text)
_OPEN = State.OPEN
# messages taken in one ``data_received``; the rest of what was read goes the general way
# (one read never holds the event loop for long)
MAX_TAKEN = 64


def text_head(length: int) -> bytes:
    """The head of a server's text frame (final, not masked) of ``length`` bytes."""
    if length < 126:
        return bytes((_TEXT_FIN, length))
    if length < 65536:
        return bytes((_TEXT_FIN, 126, length >> 8, length & 0xFF))
    return bytes((_TEXT_FIN, 127)) + length.to_bytes(8, "big")


class Lane(Protocol):
    """What takes a connection's messages in ``data_received`` (the ``/ws`` session)."""

    waiting: bool  # busy with a message that waits for I/O: the next ones wait too

    def take(self, text: str) -> bool:
        """Handle the message ``text`` now if it can be handled without waiting; False
        leaves it to the general way (nothing was done with it)."""
        ...


class _TurnWrites:
    """The connections with frames to write in this turn of one event loop: one callback
    at the end of the turn writes each one's frames (rather than a callback each)."""

    __slots__ = ("pending",)  # not the loop: it is this one's key in ``_TURN_WRITES``

    def __init__(self) -> None:
        self.pending: list[LeanWebSocket] = []

    def add(self, protocol: LeanWebSocket) -> None:
        if not self.pending:
            protocol.loop.call_soon(self.write)
        self.pending.append(protocol)

    def write(self) -> None:
        pending, self.pending = self.pending, []
        for protocol in pending:
            try:
                protocol._flush()
            except Exception:  # one broken connection must not keep the others' frames
                logger.exception("websocket write failed")


_TURN_WRITES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _TurnWrites] = (
    weakref.WeakKeyDictionary())


def _writes_of(loop: asyncio.AbstractEventLoop) -> _TurnWrites:
    writes = _TURN_WRITES.get(loop)
    if writes is None:
        writes = _TURN_WRITES[loop] = _TurnWrites()
    return writes


class LeanWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol with the shortcuts of the module's docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lane: Lane | None = None
        self.writes = False  # ``write_text`` may be used (attached, no extension)
        self.taken = 0  # messages taken by the lane in ``data_received``
        self._out: list[bytes] = []
        self._writes = _writes_of(self.loop)
        self._fed = False  # bytes went to websockets' parser since it was last idle

    @staticmethod
    def of(scope: Any) -> LeanWebSocket | None:
        """The protocol serving the WebSocket of ``scope``, if it is this one."""
        found = scope.get("extensions", {}).get(EXTENSION)
        return found if isinstance(found, LeanWebSocket) else None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = self

    # -- attaching ----------------------------------------------------------------------

    def attach(self, lane: Lane | None) -> bool:
        """Take the shortcuts for this connection, once accepted: ``lane`` (if any)
        takes incoming messages; ``write_text`` may be used. False (nothing attached)
        if an extension was negotiated: its frames are not plain."""
        if self.conn.extensions or self.conn.state is not _OPEN:
            return False
        self.lane = lane
        self.writes = True
        return True

    def detach(self) -> None:
        self.lane = None
        self.writes = False
        self._out.clear()

    # -- in -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        lane = self.lane
        if lane is None or lane.waiting or not self.queue.empty() or not self._idle():
            self._feed(data)
            return
        size = len(data)
        max_size = self.conn.max_message_size
        at = 0
        budget = MAX_TAKEN
        try:
            while size - at >= 6 and budget:
                if data[at] != _TEXT_FIN:
                    break
                length = data[at + 1]
                if length < 0x80:  # not masked: websockets refuses it
                    break
                length &= 0x7F
                start = at + 6
                if length == 126:
                    start = at + 8
                    if size < start:
                        break
                    length = (data[at + 2] << 8) | data[at + 3]
                elif length == 127:
                    break  # not a message the lane takes
                end = start + length
                if end > size or (max_size is not None and length > max_size):
                    break
                payload = apply_mask(data[start:end], data[start - 4:start])
                try:
                    text = payload.decode()
                except UnicodeDecodeError:
                    break  # the general way closes with 1007
                at = end
                if lane.take(text):
                    self.taken += 1
                    budget -= 1
                    if self.lane is None or lane.waiting:
                        break
                    continue
                # handed to the application as uvicorn hands it; what follows waits
                self.curr_msg_data_type = "text"
                self.frames = [payload]
                self.send_receive_event_to_app()
                break
        except Exception:  # a failure of the lane: as if the session's reader failed
            logger.exception("websocket message failed")
            self.transport.close()
            return
        if at < size:
            self._feed(data[at:] if at else data)

    def _feed(self, data: bytes) -> None:
        """The general way: websockets' parser, uvicorn's events."""
        self._fed = True
        super().data_received(data)

    def _idle(self) -> bool:
        """Is the connection open, websockets' parser waiting between two frames and
        no fragmented message begun?"""
        conn = self.conn
        if conn.state is not _OPEN or self.close_sent:
            return False
        if not self._fed:
            return True
        if conn.current_size is not None or conn.reader.buffer:
            return False
        parser: Any = conn.parser
        while parser.gi_yieldfrom is not None:
            parser = parser.gi_yieldfrom
        if parser.gi_code.co_name != "at_eof":  # inside a frame
            return False
        self._fed = False
        return True

    # -- out ------------------------------------------------------------------------------

    def writable_now(self) -> bool:
        """May ``write_text`` be used now? (Attached, open, the transport not paused.)"""
        return (self.writes and self.writable.is_set() and self.conn.state is _OPEN
                and not self.close_sent and not self.transport.is_closing())

    def write_text(self, payload: bytes) -> None:
        """Write one text message (UTF-8 ``payload``) in one frame, within this turn of
        the event loop; call only when ``writable_now()``."""
        out = self._out
        if not out:
            self._writes.add(self)
        out.append(text_head(len(payload)))
        out.append(payload)

    def discard(self) -> None:
        """Forget what ``write_text`` has not written yet (the connection is closing)."""
        self._out.clear()

    def _flush(self) -> None:
        out = self._out
        if not out:
            return
        self._out = []
        if self.conn.state is _OPEN and not self.close_sent and not self.transport.is_closing():
            self.transport.write(b"".join(out))
