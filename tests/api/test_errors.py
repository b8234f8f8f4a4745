"""The runtime's refusals (busy, stopping, a value the journal cannot record) get the same
code and message on REST and WebSocket, and REST adds its status and Retry-After."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from matchbook.api.errors import ApiCode, install, runtime_refusal
from matchbook.runtime.sequencer import Busy, Stopped, Unencodable

CASES = [
    (Busy(), ApiCode.BUSY, "The exchange is busy; retry shortly.", 503, "1"),
    (Stopped("the exchange is shutting down"), ApiCode.SHUTTING_DOWN,
     "the exchange is shutting down", 503, "5"),
    (Unencodable("price is beyond 64 bits"), ApiCode.VALIDATION, "price is beyond 64 bits",
     422, None),
]


@pytest.mark.parametrize(("exc", "code", "message", "status", "retry_after"), CASES)
def test_a_refusal_is_answered_alike_on_every_interface(
        exc: Exception, code: int, message: str, status: int, retry_after: str | None) -> None:
    assert runtime_refusal(exc) is not None and runtime_refusal(exc)[:2] == (code, message)

    app = FastAPI()
    install(app)

    @app.get("/refuse")
    async def refuse() -> None:
        raise exc

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/refuse")

    response = asyncio.run(get())
    assert response.status_code == status
    assert response.json() == {"code": code, "message": message}
    assert response.headers.get("retry-after") == retry_after


def test_other_failures_are_not_refusals() -> None:
    assert runtime_refusal(ValueError("no")) is None
    assert runtime_refusal(RuntimeError("no")) is None
