"""Schema-driven fuzzing of the REST API: schemathesis reads the server's own
``/openapi.json`` and sends boundary values (its coverage phase) and generated requests,
valid and invalid (its fuzzing phase), signed in as an administrator with funds and an
open order, to a real server on SQLite and on PostgreSQL, with every check schemathesis
has (documented statuses, response schemas, valid data accepted, invalid data refused).
No request may produce a 5xx, a stack trace or an error that is not
``{"code": int, "message": str}``; afterwards the exchange still takes orders.

Bounded and deterministic: a fixed seed and a fixed number of examples per operation.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_helpers import BACKENDS, Api, funded, rest_server

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.engine import events, from_schema  # noqa: E402

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run

SEED = 20240611
FUZZ_EXAMPLES = 15  # per operation and generation mode


def _problem(status: int | None, content: bytes) -> str | None:
    """What is wrong with an answer, or ``None``."""
    if status is None:
        return "no response"
    if status >= 500:
        return f"server error {status}"
    if b"Traceback" in content:
        return "stack trace in the body"
    if status >= 400:
        try:
            body = json.loads(content)
        except ValueError:
            return "error body is not JSON"
        if not (isinstance(body, dict) and isinstance(body.get("code"), int)
                and isinstance(body.get("message"), str)):
            return "error body is not {code, message}"
    return None


def _config(base_url: str, token: str) -> Any:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {token}"},
        "workers": 1,
        "generation": {"mode": "all", "max-examples": FUZZ_EXAMPLES, "deterministic": True,
                       "database": "none"},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        # every check schemathesis has: among them, each status an operation answers
        # is documented, each body matches its schema, valid data is accepted and
        # invalid data refused. Valid data may still be refused by the engine with its
        # code (a 400: funds, the tick grid, a halt: state the schema cannot know),
        # never by the schema's own validation (a 422).
        "checks": {
            "enabled": True,
            "positive_data_acceptance": {"expected-statuses": [
                "2xx", "400", "401", "403", "404", "409", "429"]},
            "negative_data_rejection": {"expected-statuses": [
                "400", "401", "403", "404", "405", "413", "414", "422", "429", "431"]},
        },
    })


@pytest.mark.parametrize("backend", BACKENDS)
def test_generated_requests_never_fail_the_server(backend: str, tmp_path: Path) -> None:
    with rest_server(backend, tmp_path, rate_limit_per_second=1e6, rate_limit_burst=10**6,
                     login_max_failures=10**6) as server:
        admin = server.make_admin()
        server.deposit(admin.user_id, "USD", "1000000")
        server.deposit(admin.user_id, "BTC", "100")
        Api(server, admin).place("buy", "50000.00", "0.1")
        Api(server, funded(server, BTC="1")).place("sell", "51000.00", "0.1")

        config = _config(server.base_url, admin.token)
        schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json", config=config)
        # a sandbox performance run costs up to seconds of CPU per request (its input
        # handling and limits have their own tests in test_simulation_api.py)
        schema = schema.exclude(path="/api/simulation", method="POST")
        requests: Counter[str] = Counter()
        problems: list[str] = []
        failed: set[str] = set()
        errors: list[str] = []
        started = time.monotonic()
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                for case_id, nodes in event.recorder.checks.items():
                    for node in nodes:
                        if node.failure_info is not None:
                            failure = node.failure_info.failure
                            seen = event.recorder.interactions.get(case_id)
                            answer = seen.response if seen is not None else None
                            failed.add(f"{event.recorder.label}: {node.name}: "
                                       f"{failure.title}: {failure.message[:300]} <- "
                                       f"{seen.request.body if seen else b''!r:.300} -> "
                                       f"{answer.content[:300] if answer else b''!r}")
                for interaction in event.recorder.interactions.values():
                    requests[str(event.phase)] += 1
                    response = interaction.response
                    status = response.status_code if response is not None else None
                    problem = _problem(status, response.content if response else b"")
                    if problem is not None:
                        request = interaction.request
                        problems.append(f"{event.recorder.label}: {problem}: {request.method} "
                                        f"{request.uri} {request.body!r:.200} -> "
                                        f"{response.content[:200] if response else b''!r}")
            elif isinstance(event, events.NonFatalError | events.FatalError):
                errors.append(repr(event))
        elapsed = time.monotonic() - started

        assert not errors, "\n".join(errors[:10])
        assert not problems, "\n".join(problems[:20])
        assert not failed, "\n".join(sorted(failed)[:30])
        assert sum(requests.values()) >= 500, requests
        assert set(requests) == {"coverage", "fuzzing"}, requests
        print(f"schemathesis on {backend}: {dict(requests)} in {elapsed:.1f} s")
        # the exchange is whole afterwards: it answers and still trades
        assert httpx.get(server.base_url + "/api/v1/health").json()["status"] == "ok"
        Api(server, admin).ok("POST", "/admin/symbols/all/resume")  # it may have been halted
        trader = Api(server, funded(server, USD="100000"))
        assert trader.place("buy", "1000.00", "0.01", symbol="ETH-USD")["status"] == "new"
