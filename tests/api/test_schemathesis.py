"""Schema-driven fuzzing of the REST API: schemathesis generates requests from the
server's own ``/openapi.json`` (valid ones and invalid ones) and sends them, signed in as
an administrator with funds and an open order, to a real server on SQLite and on
PostgreSQL. No request may produce a 5xx, a stack trace or an unstructured error.

Bounded and deterministic: a fixed seed and a few examples per operation and mode.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_helpers import BACKENDS, Api, funded, rest_server

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

SEED = 20240611
EXAMPLES = {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 3}
SLOW = ("/auth/signup", "/auth/login")  # each valid example costs a password hash
SLOW_EXAMPLES = 2


def _send(client: httpx.Client, case: Any, headers: dict[str, str]) -> httpx.Response:
    kwargs = case.as_transport_kwargs(headers=headers)
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        body["content"] = kwargs["data"]
    return client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                          headers=kwargs.get("headers"), cookies=kwargs.get("cookies"), **body)


def _problem(response: httpx.Response) -> str | None:
    """What is wrong with an answer, or ``None``."""
    if response.status_code >= 500:
        return f"server error {response.status_code}"
    if "Traceback" in response.text:
        return "stack trace in the body"
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            return "error body is not JSON"
        if not (isinstance(body, dict) and isinstance(body.get("code"), int)
                and isinstance(body.get("message"), str)):
            return "error body is not {code, message}"
    return None


@pytest.mark.parametrize("backend", BACKENDS)
def test_generated_requests_never_fail_the_server(backend: str, tmp_path: Path) -> None:
    with rest_server(backend, tmp_path, rate_limit_per_second=1e6, rate_limit_burst=10**6,
                     login_max_failures=10**6) as server:
        admin = server.make_admin()
        server.deposit(admin.user_id, "USD", "1000000")
        server.deposit(admin.user_id, "BTC", "100")
        Api(server, admin).place("buy", "50000.00", "0.1")
        other = funded(server, BTC="1")
        Api(server, other).place("sell", "51000.00", "0.1")

        schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
        client = httpx.Client(base_url=server.base_url, timeout=30)
        headers = {"Authorization": f"Bearer {admin.token}"}
        problems: list[str] = []
        sent = 0
        started = time.monotonic()
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 30
        for operation in operations:
            for mode, examples in EXAMPLES.items():
                if any(operation.path.endswith(slow) for slow in SLOW):
                    examples = min(examples, SLOW_EXAMPLES)

                @seed(SEED)
                @settings(max_examples=examples, deadline=None, database=None,
                          phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=list(HealthCheck))
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: Any) -> None:
                    nonlocal sent
                    response = _send(client, case, headers)
                    sent += 1
                    problem = _problem(response)
                    if problem is not None:
                        problems.append(f"{operation.label} ({mode.value}): {problem}: "
                                        f"{case.path_parameters} {case.query} {case.body!r} "
                                        f"-> {response.text[:300]}")

                try:
                    run()
                except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                    assert mode is GenerationMode.NEGATIVE
        client.close()
        elapsed = time.monotonic() - started
        assert sent >= 200, sent
        assert not problems, "\n".join(problems[:20])
        assert elapsed < 120, f"{sent} requests took {elapsed:.0f} s"
        # the exchange is still whole afterwards
        assert httpx.get(server.base_url + "/api/v1/health").json()["status"] == "ok"
