"""REST security against a real server on loopback, on SQLite and on PostgreSQL: ownership
of orders, balances, ledger and fills; operator routes; token expiry, tampering and
rotation; API key scopes; rate limits; login throttling; structured validation errors.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from rest_helpers import BACKENDS, Api, assert_error, caught_up, funded, rest_server

from matchbook.api.errors import ApiCode
from matchbook.core.codes import Code
from server import PASSWORD, RunningServer

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server per backend for the module; every test makes its own users."""
    with rest_server(request.param, tmp_path_factory.mktemp("security")) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[Api]:
    api = Api(server, server.make_admin())
    yield api
    api.close()


# -- ownership ---------------------------------------------------------------------------


def test_no_user_sees_cancels_or_amends_another_users_orders(server: RunningServer,
                                                             admin: Api) -> None:
    alice = Api(server, funded(server, USD="100000", BTC="1"))
    bob = Api(server, funded(server, USD="100000"))
    bid = alice.place("buy", "49000.00", "0.1", symbol="BTC-USD")
    ask = alice.place("sell", "51000.00", "0.5", symbol="BTC-USD")
    filled_ask = alice.place("sell", "50000.00", "0.1")
    bob.place("buy", "50000.00", "0.1")  # fills alice's 50,000 ask: bob has his own fill
    bob_bid = bob.place("buy", "48900.00", "0.1")

    for order in (bid, ask, filled_ask):
        oid = order["order_id"]
        assert_error(bob.get(f"/orders/{oid}"), 404, Code.UNKNOWN_ORDER)
        assert_error(bob.patch(f"/orders/{oid}", json={"quantity": "0.01"}), 404,
                     Code.UNKNOWN_ORDER)
        assert_error(bob.delete(f"/orders/{oid}"), 404, Code.UNKNOWN_ORDER)
    # another user's order looks exactly like one that does not exist
    unknown = bob.get("/orders/999999")
    assert unknown.json()["message"] == bob.get(f"/orders/{bid['order_id']}").json()["message"]

    assert [o["order_id"] for o in bob.ok("GET", "/orders")] == [bob_bid["order_id"]]
    cancelled = bob.ok("DELETE", "/orders")
    assert cancelled["cancelled"] == [bob_bid["order_id"]]
    assert {o["order_id"] for o in alice.ok("GET", "/orders")} == {bid["order_id"],
                                                                    ask["order_id"]}
    assert alice.ok("GET", f"/orders/{bid['order_id']}")["status"] == "new"

    balances = bob.balances()
    assert balances["BTC"] == ("0.10000000", "0.00000000")  # his own, not alice's
    caught_up(server, admin)
    for entry in bob.ok("GET", "/ledger", params={"limit": 1000}):
        mine = f"user:{bob.account.user_id}:"
        assert entry["debit"].startswith(mine) or entry["credit"].startswith(mine), entry
    bob_fills = bob.ok("GET", "/fills")
    assert [f["side"] for f in bob_fills] == ["buy"]
    assert all(f["order_id"] != filled_ask["order_id"] for f in bob_fills)
    closed = bob.ok("GET", "/orders", params={"status": "closed"})
    assert filled_ask["order_id"] not in {o["order_id"] for o in closed}
    assert alice.ok("GET", f"/orders/{filled_ask['order_id']}")["status"] == "filled"
    assert_error(bob.get(f"/orders/{filled_ask['order_id']}"), 404, Code.UNKNOWN_ORDER)
    me = bob.ok("GET", "/me")
    assert me["user_id"] == bob.account.user_id and me["email"] == bob.account.email


ADMIN_ROUTES = [
    ("POST", "/admin/deposits", {"user_id": 1, "asset": "USD", "amount": "1000"}),
    ("POST", "/admin/deposits/chain", {"address": "x", "asset": "USD", "amount": "1"}),
    ("POST", "/admin/withdrawals/1/approve", None),
    ("POST", "/admin/withdrawals/1/reject", {"reason": "no"}),
    ("GET", "/admin/withdrawals", None),
    ("POST", "/admin/adjustments", {"user_id": 1, "asset": "USD", "amount": "5",
                                    "reason": "x"}),
    ("POST", "/admin/symbols/BTC-USD/halt", None),
    ("POST", "/admin/symbols/BTC-USD/resume", None),
    ("POST", "/admin/users/1/suspend", None),
    ("POST", "/admin/users/1/reinstate", None),
    ("GET", "/admin/users", None),
    ("GET", "/admin/audit", None),
    ("GET", "/admin/stats", None),
    ("GET", "/admin/health", None),
    ("GET", "/admin/p2p/disputes", None),
    ("POST", "/admin/p2p/disputes/1/resolve", {"outcome": "release", "note": "paid"}),
    ("GET", "/admin/p2p/ads", None),
    ("POST", "/admin/p2p/ads/1/cancel", {"reason": "spam"}),
]


def test_admin_routes_refuse_anonymous_callers_users_and_keys(server: RunningServer,
                                                              admin: Api) -> None:
    anonymous = Api(server)
    user = Api(server, funded(server, USD="10"))
    key = admin.ok("POST", "/api-keys", json={"scopes": ["read", "trade", "withdraw"]})
    admin_key = Api(server, api_key=key["api_key"])
    routes = {(method, path.split("/")[2]) for method, path, _ in ADMIN_ROUTES}
    spec = httpx.get(server.base_url + "/openapi.json", timeout=30).json()
    documented = {(method.upper(), path.split("/")[4])
                  for path, item in spec["paths"].items()
                  if path.startswith("/api/v1/admin/") for method in item}
    assert documented <= routes  # every operator route is in the table above
    for method, path, body in ADMIN_ROUTES:
        assert_error(anonymous.request(method, path, json=body), 401, ApiCode.UNAUTHENTICATED)
        assert_error(user.request(method, path, json=body), 403, ApiCode.FORBIDDEN)
        assert_error(admin_key.request(method, path, json=body), 403, ApiCode.FORBIDDEN)
    assert user.balances()["USD"] == ("10.000000", "0.000000")  # nothing was deposited
    assert not any(s["halted"] for s in anonymous.ok("GET", "/symbols"))
    assert admin.ok("GET", "/admin/stats")["seq"] > 0


# -- tokens ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_tampered_and_forged_tokens_are_refused(server: RunningServer, admin: Api) -> None:
    account = funded(server, USD="1")
    header, payload, signature = account.token.split(".")
    promoted = {**_claims(account.token), "role": "admin"}
    someone_else = {**_claims(account.token), "sub": str(admin.account.user_id)}
    unsigned = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    forged = [
        f"{header}.{_b64(json.dumps(promoted).encode())}.{signature}",
        f"{header}.{_b64(json.dumps(someone_else).encode())}.{signature}",
        f"{header}.{payload}.{signature[:-4]}AAAA",
        f"{header}.{payload}.",
        f"{unsigned}.{_b64(json.dumps(promoted).encode())}.",
        jwt.encode(promoted, "not the server's secret" * 2, algorithm="HS256"),
        "not-a-token", account.token + "x", "a.b.c",
    ]
    for token in forged:
        response = Api(server, token=token).get("/admin/stats")
        assert_error(response, 401, ApiCode.TOKEN_INVALID)
        assert_error(Api(server, token=token).get("/balances"), 401, ApiCode.TOKEN_INVALID)
    assert_error(Api(server, api_key="mbk_made-up").get("/balances"), 401,
                 ApiCode.UNAUTHENTICATED)

    expired = server.state.tokens.issue(account.user_id, "user", now=time.time() - 3600)
    assert_error(Api(server, token=expired).get("/balances"), 401, ApiCode.TOKEN_EXPIRED)
    assert Api(server, account).ok("GET", "/me")["role"] == "user"


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(server: RunningServer) -> None:
    account = server.make_user()
    anonymous = Api(server)
    first = anonymous.ok("POST", "/auth/login", json={"email": account.email,
                                                       "password": PASSWORD})
    second = anonymous.ok("POST", "/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second["refresh_token"] != first["refresh_token"]
    assert second["token_type"] == "bearer" and second["expires_in"] > 0
    assert Api(server, token=second["access_token"]).ok("GET", "/me")["user_id"] == (
        account.user_id)
    third = anonymous.ok("POST", "/auth/refresh", json={"refresh_token": second["refresh_token"]})

    # presenting a spent token again (a thief, or a replay) revokes the whole family
    assert_error(anonymous.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}),
                 401, ApiCode.TOKEN_INVALID)
    assert_error(anonymous.post("/auth/refresh", json={"refresh_token": third["refresh_token"]}),
                 401, ApiCode.TOKEN_INVALID)
    assert_error(anonymous.post("/auth/refresh", json={"refresh_token": "x" * 43}), 401,
                 ApiCode.TOKEN_INVALID)
    assert_error(anonymous.post("/auth/login", json={"email": account.email,
                                                     "password": "wrong password"}),
                 401, ApiCode.INVALID_CREDENTIALS)
    assert_error(anonymous.post("/auth/login", json={"email": "nobody@test.local",
                                                     "password": PASSWORD}),
                 401, ApiCode.INVALID_CREDENTIALS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_access_tokens_expire(backend: str, tmp_path: Path) -> None:
    with rest_server(backend, tmp_path, access_token_seconds=2) as server:
        account = server.make_user()
        anonymous = Api(server)
        asked = time.time()
        tokens = anonymous.ok("POST", "/auth/login", json={"email": account.email,
                                                            "password": PASSWORD})
        assert tokens["expires_in"] == 2
        claims = _claims(tokens["access_token"])
        assert claims["exp"] >= asked + 2 and claims["exp"] - claims["iat"] in (2, 3)
        caller = Api(server, token=tokens["access_token"])
        assert caller.ok("GET", "/me")["user_id"] == account.user_id
        expires = _claims(tokens["access_token"])["exp"]
        time.sleep(max(0.0, expires - time.time()) + 0.05)
        assert_error(caller.get("/me"), 401, ApiCode.TOKEN_EXPIRED)
        assert_error(caller.post("/orders", json={"side": "buy", "price": "1", "quantity": "1"}),
                     401, ApiCode.TOKEN_EXPIRED)
        renewed = anonymous.ok("POST", "/auth/refresh",
                               json={"refresh_token": tokens["refresh_token"]})
        assert Api(server, token=renewed["access_token"]).ok("GET", "/me")["user_id"] == (
            account.user_id)


# -- API keys ----------------------------------------------------------------------------


def test_api_key_scopes_are_enforced(server: RunningServer) -> None:
    owner = Api(server, funded(server, USD="100000"))
    keys = {}
    for scopes in (["read"], ["trade"], ["withdraw"], ["read", "trade"]):
        created = owner.post("/api-keys", json={"scopes": scopes, "label": "+".join(scopes)})
        assert created.status_code == 201 and created.json()["api_key"].startswith("mbk_")
        assert created.json()["scopes"] == scopes
        keys["+".join(scopes)] = created.json()
    listed = owner.ok("GET", "/api-keys")
    assert {k["label"] for k in listed} == set(keys) and all("api_key" not in k for k in listed)

    reader = Api(server, api_key=keys["read"]["api_key"])
    trader = Api(server, api_key=keys["trade"]["api_key"])
    withdrawer = Api(server, api_key=keys["withdraw"]["api_key"])
    bearer = Api(server, token=keys["read+trade"]["api_key"])  # a key works as a bearer too
    order = {"side": "buy", "price": "49500", "quantity": "0.1"}
    withdrawal = {"asset": "USD", "amount": "1"}

    assert reader.balances()["USD"] == ("100000.000000", "0.000000")
    assert reader.ok("GET", "/me")["scopes"] == ["read"]
    assert_error(reader.post("/orders", json=order), 403, ApiCode.SCOPE_MISSING)
    assert_error(reader.delete("/orders"), 403, ApiCode.SCOPE_MISSING)
    assert_error(reader.post("/withdrawals", json=withdrawal), 403, ApiCode.SCOPE_MISSING)

    placed = trader.ok("POST", "/orders", json=order)
    assert trader.ok("DELETE", f"/orders/{placed['order_id']}")["status"] == "cancelled"
    assert_error(trader.get("/balances"), 403, ApiCode.SCOPE_MISSING)
    assert_error(trader.get("/orders"), 403, ApiCode.SCOPE_MISSING)
    assert_error(trader.post("/withdrawals", json=withdrawal), 403, ApiCode.SCOPE_MISSING)
    assert_error(trader.post("/transfers", json={"to_address": "x", "asset": "USD",
                                                 "amount": "1"}), 403, ApiCode.SCOPE_MISSING)

    assert withdrawer.post("/withdrawals", json=withdrawal).status_code == 201
    assert_error(withdrawer.post("/orders", json=order), 403, ApiCode.SCOPE_MISSING)
    assert_error(withdrawer.get("/ledger"), 403, ApiCode.SCOPE_MISSING)

    assert bearer.ok("POST", "/orders", json=order)["status"] == "new"
    assert bearer.get("/balances").status_code == 200
    # keys cannot mint keys; only the owner's session revokes them, and only their own
    assert_error(bearer.post("/api-keys", json={"scopes": ["read"]}), 403, ApiCode.FORBIDDEN)
    stranger = Api(server, funded(server))
    assert_error(stranger.delete(f"/api-keys/{keys['read']['api_key_id']}"), 404,
                 ApiCode.NOT_FOUND)
    assert reader.get("/balances").status_code == 200
    revoked = owner.ok("DELETE", f"/api-keys/{keys['read']['api_key_id']}")
    assert revoked == {"api_key_id": keys["read"]["api_key_id"], "revoked": True}
    assert_error(reader.get("/balances"), 401, ApiCode.UNAUTHENTICATED)
    assert_error(owner.delete(f"/api-keys/{keys['read']['api_key_id']}"), 404)
    assert_error(owner.post("/api-keys", json={"scopes": ["admin"]}), 422, ApiCode.VALIDATION)


# -- rate limits and login throttling ------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_rate_limits_per_user_and_per_key(backend: str, tmp_path: Path) -> None:
    rate, burst = 0.2, 5  # a slow refill, so that a loaded machine cannot refill mid-burst
    with rest_server(backend, tmp_path, rate_limit_per_second=rate,
                     rate_limit_burst=burst) as server:
        alice = Api(server, funded(server, USD="100"))
        bob = Api(server, funded(server, USD="100"))
        _, secret = server.call(lambda: server.state.users.create_api_key(
            alice.account.user_id, ("read",), "bot"))
        alice_key = Api(server, api_key=secret)

        statuses = [alice.get("/balances").status_code for _ in range(burst)]
        assert statuses == [200] * burst
        refused = alice.get("/balances")
        assert_error(refused, 429, ApiCode.RATE_LIMITED)
        assert int(refused.headers["Retry-After"]) >= 1
        assert_error(alice.post("/orders", json={"side": "buy", "price": "1", "quantity": "1"}),
                     429, ApiCode.RATE_LIMITED)
        # other users and the user's API keys have buckets of their own
        assert [bob.get("/balances").status_code for _ in range(burst)] == [200] * burst
        assert_error(bob.get("/balances"), 429, ApiCode.RATE_LIMITED)
        assert [alice_key.get("/balances").status_code for _ in range(burst)] == [200] * burst
        assert_error(alice_key.get("/balances"), 429, ApiCode.RATE_LIMITED)
        # public market data is not a user's budget
        assert Api(server).get("/depth").status_code == 200
        # the bucket refills at ``rate`` per second
        time.sleep(1.5 / rate)
        assert alice.get("/balances").status_code == 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_login_is_throttled_after_repeated_failures(backend: str, tmp_path: Path) -> None:
    with rest_server(backend, tmp_path, login_max_failures=3,
                     login_lockout_seconds=60) as server:
        account = server.make_user()
        anonymous = Api(server)
        wrong = {"email": account.email, "password": "not the password"}
        for _ in range(3):
            assert_error(anonymous.post("/auth/login", json=wrong), 401,
                         ApiCode.INVALID_CREDENTIALS)
        throttled = anonymous.post("/auth/login", json={"email": account.email,
                                                        "password": PASSWORD})
        assert_error(throttled, 429, ApiCode.LOGIN_THROTTLED)
        assert 1 <= int(throttled.headers["Retry-After"]) <= 61
        # the same email in another case is the same account
        assert_error(anonymous.post("/auth/login", json={"email": account.email.upper(),
                                                         "password": PASSWORD}),
                     429, ApiCode.LOGIN_THROTTLED)
        # a token issued before still works: only sign-in is throttled
        assert Api(server, account).ok("GET", "/me")["user_id"] == account.user_id


# -- validation ----------------------------------------------------------------------------


def test_validation_errors_name_the_field_and_never_fail_the_server(server: RunningServer) -> None:
    trader = Api(server, funded(server, USD="100000"))
    cases: list[tuple[str, str, dict[str, Any], int, str | None]] = [
        ("POST", "/orders", {"json": {"price": "1", "quantity": "1"}}, 422, "side"),
        ("POST", "/orders", {"json": {"side": "hold", "price": "1", "quantity": "1"}}, 422,
         "side"),
        ("POST", "/orders", {"json": {"side": "buy", "price": "1e5", "quantity": "1"}}, 422,
         "price"),
        ("POST", "/orders", {"json": {"side": "buy", "price": "50000", "quantity": "0"}}, 422,
         "quantity"),  # the schema says positive
        ("POST", "/orders", {"json": {"side": "buy", "price": "-1", "quantity": "1"}}, 422,
         "price"),
        ("POST", "/orders", {"json": {"side": "buy", "price": 50000, "quantity": "1"}}, 422,
         "price"),
        ("POST", "/orders", {"json": {"side": "buy", "price": "1", "quantity": "1",
                                      "leverage": 100}}, 422, "leverage"),
        ("POST", "/orders", {"json": {"side": "buy", "price": "1", "quantity": "1",
                                      "expire_time_ns": 2**70}}, 422, "expire_time_ns"),
        ("POST", "/orders", {"json": {"side": "buy", "price": "1", "quantity": "1",
                                      "client_order_id": "tab\there"}}, 422, "client_order_id"),
        ("POST", "/orders", {"json": ["side", "buy"]}, 422, None),
        ("POST", "/withdrawals", {"json": {"asset": "USD", "amount": "1",
                                           "destination": "nul\u0000byte"}}, 422, "destination"),
        ("POST", "/auth/signup", {"json": {"email": "no-at-sign", "password": "long enough"}},
         422, "email"),
        ("POST", "/auth/signup", {"json": {"email": "a@b.c", "password": "short"}}, 422,
         "password"),
        ("GET", "/orders", {"params": {"status": "sideways"}}, 422, "status"),
        ("GET", "/orders", {"params": {"limit": 0}}, 422, "limit"),
        ("GET", "/orders/abc", {}, 422, "order_id"),
        ("GET", f"/orders/{2**64}", {}, 422, "order_id"),
        ("DELETE", f"/orders/{2**70}", {}, 422, "order_id"),
        ("PATCH", "/orders/0", {"json": {"price": "1"}}, 422, "order_id"),
        ("DELETE", f"/api-keys/{2**40}", {}, 422, "key_id"),
        ("GET", "/ledger", {"params": {"before_seq": 2**64}}, 422, "before_seq"),
        ("GET", "/candles", {"params": {"start": -1}}, 422, "start"),
    ]
    for method, path, kwargs, status, field in cases:
        response = trader.request(method, path, **kwargs)
        body = assert_error(response, status, ApiCode.VALIDATION)
        if field is not None:
            assert body["field"] == field, (path, kwargs, body)
            assert field in body["message"]
    # a body that is not JSON at all is malformed (400), not a value out of range (422)
    body = assert_error(trader.request("POST", "/orders", content=b"{not json",
                                       headers={"content-type": "application/json"}),
                        400, ApiCode.MALFORMED_BODY)
    assert body["message"] == "The request body is not valid JSON."

    # well-formed but wrong for the market: the engine's codes, as 400s
    engine_cases = [
        ({"side": "buy", "price": "50000.001", "quantity": "0.1"}, Code.INVALID_PRICE),
        ({"side": "buy", "price": "50000", "quantity": "0.00001"}, Code.INVALID_QUANTITY),
        ({"side": "buy", "price": "0.01", "quantity": "0.0001"}, Code.NOTIONAL_TOO_SMALL),
        ({"side": "buy", "price": "50000", "quantity": "5000"}, Code.QUANTITY_TOO_LARGE),
        ({"side": "buy", "type": "limit", "quantity": "1"}, Code.INVALID_PRICE),
        ({"side": "buy", "price": "50000", "quantity": "0.1", "time_in_force": "gtd"},
         Code.INVALID_EXPIRY),
    ]
    for body, code in engine_cases:
        assert_error(trader.post("/orders", json=body), 400, code)
    assert_error(trader.post("/orders", json={"symbol": "NOPE-USD", "side": "buy", "price": "1",
                                              "quantity": "1"}), 404, Code.UNKNOWN_SYMBOL)
    assert_error(trader.get("/no/such/route"), 404, ApiCode.NOT_FOUND)
    assert_error(trader.request("PUT", "/orders"), 405, ApiCode.METHOD_NOT_ALLOWED)
    assert trader.ok("GET", "/orders") == []
    assert trader.balances()["USD"] == ("100000.000000", "0.000000")


def test_errors_are_structured_on_every_layer(server: RunningServer) -> None:
    raw = httpx.Client(base_url=server.base_url, timeout=30)
    for response in (raw.get("/api/v1/balances"),
                     raw.get("/api/v1/balances", headers={"Authorization": "Basic abc"}),
                     raw.get("/api/v1/balances", headers={"Authorization": "Bearer"}),
                     raw.post("/api/v1/auth/login", content=b"\xff\xfe",
                              headers={"content-type": "application/json"}),
                     raw.get("/api/v1/" + "x" * 5000)):
        assert response.status_code in (400, 401, 404, 422), response.text
        assert_error(response, response.status_code)
