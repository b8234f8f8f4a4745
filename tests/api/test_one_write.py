"""``matchbook.api.server.OneWriteHttp``: an answer of known length leaves in one socket
write, and every other kind of answer (``HEAD``, empty, chunked, ``100 Continue``,
pipelined, an app that fails after starting) reaches the client as uvicorn sends it.

The writes are counted by the kernel: ``syscw`` of the serving thread in
``/proc/<pid>/task/<tid>/io`` (the write system calls it made).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import uvloop

from matchbook.api.server import OneWriteHttp

IO = Path(f"/proc/{os.getpid()}/task")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app whose path says how to answer."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": message["type"] + ".complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if path == "/json":
        content = b'{"order_id":"1","echo":"' + body + b'"}'
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})
    elif path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/chunked":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})
    elif path == "/two-parts":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"6")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})
    elif path == "/fails":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"10")]})
        raise RuntimeError("the app failed after starting its answer")


@contextmanager
def serving(http: Any) -> Iterator[tuple[int, int]]:
    """The app under uvicorn with ``http`` as its protocol, on a thread; yields the port
    and the serving thread's native id."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, http=http, log_level="critical",
                                           lifespan="on"))
    thread = threading.Thread(target=lambda: uvloop.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        assert thread.native_id is not None
        yield port, thread.native_id
    finally:
        server.should_exit = True
        thread.join(10)


def writes(tid: int) -> int:
    for line in (IO / str(tid) / "io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw")


def exchange(port: int, request: bytes, until: bytes = b"") -> bytes:
    """Send ``request`` on a new connection and read until ``until`` is in the answer or
    the server closes."""
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(request)
        client.settimeout(5)
        answer = b""
        while until not in answer or not until:
            chunk = client.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def post(path: str, body: bytes = b"x", extra: bytes = b"") -> bytes:
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def writes_per_answer(http: Any) -> float:
    with serving(http) as (port, tid), socket.create_connection(("127.0.0.1", port)) as c:
        c.settimeout(5)
        exchange(port, post("/json"), b"}")  # warm: the first request logs, imports
        before = writes(tid)
        for _ in range(20):
            c.sendall(post("/json", b"abc"))
            answer = b""
            while not answer.endswith(b'"abc"}'):
                answer += c.recv(65536)
        return (writes(tid) - before) / 20


@pytest.mark.skipif(not IO.exists(), reason="needs /proc")
def test_an_answer_of_known_length_is_one_write() -> None:
    assert writes_per_answer(OneWriteHttp) == 1
    assert writes_per_answer("httptools") == 2  # uvicorn's own: head, then body


def test_every_other_answer_arrives_as_uvicorn_sends_it() -> None:
    with serving(OneWriteHttp) as (port, _):
        answer = exchange(port, post("/json", b"hi"), b"}")
        assert answer.startswith(b"HTTP/1.1 201 Created\r\n")
        assert answer.endswith(b'\r\n\r\n{"order_id":"1","echo":"hi"}')

        head = exchange(port, b"HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n", b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 201 Created\r\n")
        assert b"content-length: 26\r\n" in head and head.endswith(b"\r\n\r\n")

        empty = exchange(port, post("/empty"), b"\r\n\r\n")
        assert empty.startswith(b"HTTP/1.1 204 No Content\r\n")

        chunked = exchange(port, post("/chunked"), b"0\r\n\r\n")
        assert b"transfer-encoding: chunked" in chunked
        assert chunked.endswith(b"\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n")

        parts = exchange(port, post("/two-parts"), b"abcdef")
        assert parts.endswith(b"\r\n\r\nabcdef")

        expect = exchange(port, post("/json", b"yo", b"Expect: 100-continue\r\n"), b"}")
        assert expect.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n")
        assert expect.endswith(b'{"order_id":"1","echo":"yo"}')

        pipelined = exchange(port, post("/json", b"a") + post("/json", b"b"), b'"b"}')
        assert pipelined.count(b"HTTP/1.1 201 Created") == 2
        assert pipelined.index(b'"a"}') < pipelined.index(b'"b"}')

        failed = exchange(port, post("/fails"))  # uvicorn closes: the head still left
        assert failed.startswith(b"HTTP/1.1 200 OK\r\n") and failed.endswith(b"\r\n\r\n")
