"""The lean WebSocket path (``matchbook.api.ws.lean.LeanWebSocket``): a server answers
the same bytes the same whether its messages take the lean path (frames split and
taken in ``data_received``, answers written by the protocol) or uvicorn's general one
(``WebSocketsSansIOProtocol`` alone: websockets' parser, the ASGI queue, the reader and
writer tasks)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from matchbook.api.ws.lean import LeanWebSocket, text_head
from server import RunningServer, running_server


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_written_frame_is_framed_as_websockets_frames_it(length: int) -> None:
    payload = b"x" * length
    assert text_head(length) + payload == Frame(Opcode.TEXT, payload).serialize(mask=False)


# -- a client that writes raw frames -----------------------------------------------------------


def frame(payload: bytes, opcode: int = Opcode.TEXT.value, *, fin: bool = True,
          masked: bool = True, long: bool = False) -> bytes:
    """One client frame; ``long`` spells a short length with the 16-bit form."""
    length = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if masked else 0
    if length < 126 and not long:
        head += bytes([bit | length])
    elif length < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def text(message: dict[str, Any] | str, **kwargs: Any) -> bytes:
    raw = message if isinstance(message, str) else json.dumps(message)
    return frame(raw.encode(), **kwargs)


class Raw:
    """A WebSocket client on a plain socket: what it sends is exactly the bytes given, in
    the writes given."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, *writes: bytes) -> None:
        """Each of ``writes`` in its own write (and segment: a pause after each)."""
        for data in writes:
            self.sock.sendall(data)
            time.sleep(0.02)

    def _exactly(self, n: int, deadline: float) -> bytes:
        while len(self.buffer) < n:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def answers(self, quiet: float = 0.3) -> list[Any]:
        """Every frame until none came for ``quiet`` seconds or the server closed: a
        text frame's JSON (heartbeats left out), ``("close", code)``, ``("eof",)``."""
        out: list[Any] = []
        while True:
            deadline = time.monotonic() + quiet
            try:
                b0, b1 = self._exactly(2, deadline)
                length = b1 & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", self._exactly(2, deadline + 5))
                elif length == 127:
                    (length,) = struct.unpack("!Q", self._exactly(8, deadline + 5))
                assert not b1 & 0x80, "a server frame is never masked"
                payload = self._exactly(length, deadline + 5)
            except TimeoutError:
                return out
            except (EOFError, ConnectionResetError):
                out.append(("eof",))
                return out
            opcode = b0 & 0x0F
            assert b0 & 0x80, "the server sends whole messages"
            if opcode == Opcode.TEXT.value:
                message = json.loads(payload)
                if message.get("type") != "heartbeat":
                    out.append(_comparable(message))
            elif opcode == 8:
                out.append(("close", struct.unpack("!H", payload[:2])[0] if payload else None))
            else:
                out.append(("opcode", opcode, payload.decode("latin-1")))

    def close(self) -> None:
        self.sock.close()


VOLATILE = {"created_ns", "updated_ns", "ts_ns", "time_ns", "timestamp_ns", "expires_ns",
            "trade_id"}


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _sorted(answers: list[Any]) -> list[str]:
    return sorted(json.dumps(a, sort_keys=True) for a in answers)


def _order(rid: Any, side: str, price: str, quantity: str, **more: Any) -> dict[str, Any]:
    return {"op": "place", "request_id": rid, "side": side, "price": price,
            "quantity": quantity, **more}


def _script(token: str) -> list[tuple[str, list[bytes]]]:
    """(what, the writes of one step); every step's answers are compared."""
    place = _order
    return [
        ("auth", [text({"op": "auth", "token": token, "request_id": "a"})]),
        ("two places that trade and a ping, in one write",
         [text(place(1, "buy", "100", "0.5")) + text(place(2, "sell", "100", "0.2"))
          + text({"op": "ping", "request_id": "p"})]),
        ("a subscription, then a place in the same write: the place waits for it",
         [text({"op": "subscribe", "channel": "orders", "request_id": "s"})
          + text(place(3, "buy", "99", "0.1"))]),
        ("places answered with their order events",
         [text(place(4, "sell", "99", "0.05")), text(place(5, "buy", "98", "0.1"))]),
        ("a place split over three writes",
         (lambda f: [f[:3], f[3:20], f[20:]])(text(place(6, "buy", "97", "0.1")))),
        ("a place in two fragments",
         [frame(json.dumps(place(7, "buy", "96", "0.1")).encode()[:10], fin=False)
          + frame(json.dumps(place(7, "buy", "96", "0.1")).encode()[10:], Opcode.CONT.value)]),
        ("a ping frame between two places",
         [text(place(8, "buy", "95", "0.1")) + frame(b"hi", Opcode.PING.value)
          + text(place(9, "buy", "94", "0.1"))]),
        ("a place as a binary message", [frame(json.dumps(place(10, "buy", "96.5", "0.1"))
                                               .encode(), Opcode.BINARY.value)]),
        ("a place with a 16-bit length",
         [text(place(11, "buy", "99.5", "0.1", client_order_id="c" * 40)),
          text(place(12, "buy", "99.4", "0.1"), long=True)]),
        ("malformed and refused messages in one write",
         [b"".join(text(m) for m in (
             '{"op": "place", "side": "buy", "price": "1", "quantity": "1"',  # not JSON
             '["place"]',
             '{"op": "place", "side": "buy", "price": " 101 ", "quantity": "0.1"}',
             '{"op": "place", "request_id": 13, "side": "up", "price": "1", "quantity": "1"}',
             json.dumps(place(14, "buy", "0.000000001", "0.1")),
             json.dumps(place(15, "buy", "1", "99999999")),
             json.dumps(place(16, "buy", "1", "1", symbol="NOPE-USD")),
             '{"op": "place", "request_id": [1, {"a": null}], "side": "buy"}',
             '{"op": "fly", "request_id": 17}',
             json.dumps({"op": "cancel", "request_id": 18, "order_id": "3"}),
         ))]),
        ("a burst beyond the message budget (and beyond MAX_TAKEN in one write)",
         [b"".join(text(place(100 + i, "buy", "97", "0.1")) for i in range(70))]),
    ]


ENDINGS: list[tuple[str, bytes]] = [  # each on a connection of its own, after auth
    ("a message beyond the size limit", frame(b"x" * (64 * 1024 + 1))),
    ("text that is not UTF-8", frame(b'{"op": "ping", "x": "\xff"}')),
    ("an unmasked frame", text(_order(1, "buy", "1", "1"), masked=False)),
    ("a reserved bit", bytes([0xC1]) + text(_order(1, "buy", "1", "1"))[1:]),
    ("a close", frame(struct.pack("!H", 1000), 8)),
]


def _run(server: RunningServer, token: str) -> list[tuple[str, list[Any]]]:
    steps = []
    raw = Raw(server.port)
    try:
        for what, writes in _script(token):
            raw.send(*writes)
            steps.append((what, raw.answers()))
    finally:
        raw.close()
    for what, data in ENDINGS:
        raw = Raw(server.port)
        try:
            raw.send(text({"op": "auth", "token": token}))
            raw.answers(0.1)
            raw.send(data)
            steps.append((what, raw.answers(1.0)))
        finally:
            raw.close()
    return steps


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[RunningServer, RunningServer]]:
    settings = {"ws_messages_per_second": 1e-6, "ws_message_burst": 40,  # no refill
                "rate_limit_per_second": 1e6, "rate_limit_burst": 10**6}
    with running_server(tmp_path_factory.mktemp("lean"), **settings) as lean, \
            running_server(tmp_path_factory.mktemp("general"), ws=WebSocketsSansIOProtocol,
                           **settings) as general:
        yield lean, general


@pytest.mark.slow
def test_every_message_is_answered_alike_on_the_lean_and_the_general_path(
        pair: tuple[RunningServer, RunningServer]) -> None:
    runs = []
    for server in pair:
        trader = server.funded(USD="100000", BTC="10")
        runs.append(_run(server, trader.token))
    lean, general = runs
    assert [what for what, _ in lean] == [what for what, _ in general]
    for (what, mine), (_, theirs) in zip(lean, general, strict=True):
        # answers to different requests may interleave differently (the lean path
        # submits a place as soon as its frame is read)
        assert _sorted(mine) == _sorted(theirs), what
    answered = {what: answers for what, answers in lean}
    assert [a.get("request_id") for a in answered["auth"]] == ["a"]
    assert sorted(str(a.get("request_id")) for a in
                  answered["two places that trade and a ping, in one write"]) == ["1", "2", "p"]
    assert answered["a message beyond the size limit"][-2:] == [("close", 1009), ("eof",)]
    assert answered["text that is not UTF-8"][-2:] == [("close", 1007), ("eof",)]
    assert answered["an unmasked frame"][-2:] == [("close", 1002), ("eof",)]
    assert answered["a close"][-2:] == [("close", 1000), ("eof",)]
    burst = answered["a burst beyond the message budget (and beyond MAX_TAKEN in one write)"]
    assert any(a.get("code") == 5005 for a in burst)


@pytest.mark.slow
def test_the_lean_path_takes_places_and_writes_answers(
        pair: tuple[RunningServer, RunningServer]) -> None:
    """The lean server took the well-formed places in ``data_received`` and wrote their
    answers itself; the general one has no lean protocol at all."""
    lean, general = pair
    trader = lean.funded(USD="10000", BTC="1")
    raw = Raw(lean.port)
    try:
        raw.send(text({"op": "auth", "token": trader.token}))
        raw.answers(0.1)
        protocols = [conn.direct for conn in lean.state.ws_hub.connections]
        assert len(protocols) == 1 and isinstance(protocols[0], LeanWebSocket)
        before = protocols[0].taken
        raw.send(text(_order("x", "buy", "99", "0.1")) + text(_order("y", "buy", "98", "0.1")))
        answers = raw.answers()
        assert [(a["type"], a["request_id"]) for a in answers] == [("result", "x"),
                                                                  ("result", "y")]
        assert protocols[0].taken - before == 2
    finally:
        raw.close()
    raw = Raw(general.port)
    try:
        raw.send(text({"op": "auth", "token": general.funded(USD="1").token}))
        raw.answers(0.1)
        assert [conn.direct for conn in general.state.ws_hub.connections] == [None]
    finally:
        raw.close()


def test_a_finished_loops_turn_writes_are_forgotten() -> None:
    """The per-loop batch of connections to write holds no reference to its loop, so a
    test's (or a restarted server's) finished loop is not kept alive by it."""
    import gc

    from matchbook.api.ws import lean

    before = len(lean._TURN_WRITES)
    for _ in range(3):
        loop = asyncio.new_event_loop()
        assert lean._writes_of(loop) is lean._writes_of(loop)
        loop.close()
        del loop
    gc.collect()
    assert len(lean._TURN_WRITES) == before
