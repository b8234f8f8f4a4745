"""The lean order path (``matchbook.api.order_lane``): its fast decoder takes only what
``NewOrder`` takes, with the same values, and a server answers an order the same whether
the lane or the documented route handles it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from matchbook.api.order_lane import OrderFront, OrderLane
from matchbook.api.schemas import (
    NewOrder,
    NewOrderFields,
    decode_place,
    new_order_fields,
    texts_as_given,
)
from server import RunningServer, running_server

FIELDS = [f.name for f in msgspec.structs.fields(NewOrderFields)]


def test_the_fast_fields_are_new_orders_with_the_same_defaults() -> None:
    assert sorted(FIELDS) == sorted(NewOrder.model_fields)
    fast = msgspec.structs.asdict(NewOrderFields(side="buy"))
    assert fast == NewOrder(side="buy").model_dump()


@pytest.mark.parametrize("body", [
    {"side": "buy", "price": "50000", "quantity": "0.1"},
    {"symbol": "ETH-USD", "side": "sell", "type": "market", "quantity": "2.5"},
    {"side": "buy", "type": "market", "quote_quantity": "1000.25"},
    {"side": "sell", "type": "stop_limit", "price": "1", "stop_price": "2", "quantity": "1",
     "time_in_force": "gtd", "expire_time_ns": 2**62, "post_only": False,
     "display_quantity": ".5", "client_order_id": "bot-7 ~!",
     "self_trade_prevention": "cancel_both"},
])
def test_the_fast_decoder_takes_well_formed_orders(body: dict[str, Any]) -> None:
    fields = new_order_fields(json.dumps(body).encode())
    assert fields is not None
    assert msgspec.structs.asdict(fields) == NewOrder.model_validate(body).model_dump()
    assert new_order_fields(body) == fields  # a WebSocket message's fields


def _texts() -> st.SearchStrategy[Any]:
    decimals = st.from_regex(r"\A[0-9]{0,3}(\.[0-9]{0,3})?\Z")
    padded = st.builds(lambda pad, text, end: pad + text + end,
                       st.sampled_from(["", " ", "\t", "\n", "\u00a0", "\x00"]),
                       st.one_of(decimals, st.sampled_from(["BTC-USD", "btc_usd", "x"])),
                       st.sampled_from(["", " ", "\n", "\x1f", "\u2003"]))
    return st.one_of(decimals, padded, st.text(max_size=8), st.integers(-5, 5),
                     st.floats(allow_nan=False), st.booleans(), st.none())


_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "side": st.sampled_from(["buy", "sell", "BUY", " buy", 1, None]),
    "symbol": st.one_of(st.sampled_from(["BTC-USD", "eth/usd", "BTC-USD\n", " BTC-USD",
                                         "BTCUSD", "A" * 11 + "-B"]), _texts()),
    "type": st.sampled_from(["limit", "market", "stop_limit", "stop_market", "Limit", 0]),
    "price": _texts(), "quantity": _texts(), "quote_quantity": _texts(),
    "stop_price": _texts(), "display_quantity": _texts(),
    "time_in_force": st.sampled_from(["gtc", "ioc", "fok", "gtd", "GTC", None]),
    "expire_time_ns": st.one_of(st.integers(-1, 2**62 + 1), st.sampled_from(
        [2**62, 2**63, 1.0, 5.5, "7", True, None])),
    "post_only": st.sampled_from([True, False, "true", 1, 0, "yes", None]),
    "client_order_id": st.one_of(st.text(max_size=70), st.sampled_from(
        ["a", " a", "a ", "x" * 64, "x" * 65, "é", None, 5])),
    "self_trade_prevention": st.sampled_from(["cancel_newest", "cancel_both", "nope", None]),
    "unknown": st.just(1),
}


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(_VALUES)), st.none(), max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({k: _VALUES[k] for k in keys})),
       st.sets(st.sampled_from(["side", "price", "quantity"])))
def test_the_fast_decoder_takes_a_subset_of_new_order_with_the_same_values(
        changes: dict[str, Any], dropped: set[str]) -> None:
    """A well-formed order with a few fields changed (to any value, well-formed or not)
    or dropped."""
    body = {"side": "buy", "price": "1", "quantity": "1", **changes}
    for name in dropped:
        body.pop(name, None)
    raw = json.dumps(body).encode()
    for source in (raw, json.loads(raw)):
        fields = new_order_fields(source)
        if fields is None:
            continue  # the route (or NewOrder on the WebSocket) validates it
        try:
            model = NewOrder.model_validate(json.loads(raw))
        except ValidationError as exc:
            raise AssertionError(f"the fast decoder took what NewOrder refuses: {exc}") from None
        assert msgspec.structs.asdict(fields) == model.model_dump()


def test_a_text_remembered_valid_for_one_pattern_is_still_checked_against_another() -> None:
    """The fast decoder remembers the texts it found valid, per pattern: a decimal taken
    as a price is no symbol, and a symbol taken once is no price."""
    assert new_order_fields({"side": "buy", "price": "12", "quantity": "1"}) is not None
    assert new_order_fields({"side": "buy", "symbol": "12", "price": "1", "quantity": "1"}) is None
    assert new_order_fields({"side": "buy", "symbol": "ETH-USD", "quantity": "1"}) is not None
    assert new_order_fields({"side": "buy", "price": "ETH-USD", "quantity": "1"}) is None
    again = {"side": "buy", "price": "12", "quantity": "1"}
    assert new_order_fields(again) is not None  # taken again, from memory


def test_the_remembered_texts_are_bounded() -> None:
    from matchbook.api import schemas
    for n in range(schemas._REMEMBERED + 10):
        assert new_order_fields({"side": "buy", "price": f"{n + 1}.5", "quantity": "1"})
    for _, (_, valid) in schemas._TEXT_CHECKS:
        assert valid is None or len(valid) <= schemas._REMEMBERED


@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b'{"side": "buy"} x', b"\xff",
                                 b'{"side": NaN}', b'\xef\xbb\xbf{"side": "buy"}'])
def test_the_fast_decoder_leaves_what_is_not_a_plain_object_to_the_route(raw: bytes) -> None:
    assert new_order_fields(raw) is None


# -- through a server ----------------------------------------------------------------------

VOLATILE = ("order_id", "created_ns", "updated_ns")


def _lane(server: RunningServer) -> OrderLane:
    node: Any = server.app.middleware_stack
    while node is not None and not isinstance(node, OrderLane):
        node = getattr(node, "app", None)
    assert isinstance(node, OrderLane), "the app has no order lane"
    return node


def _front(server: RunningServer) -> OrderFront:
    front = server.app.order_front
    assert isinstance(front, OrderFront), "the app has no order front"
    return front


def _comparable(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    body = response.json()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in VOLATILE}
        body["fills"] = [{k: v for k, v in f.items() if k not in ("trade_id", "ts_ns")}
                         for f in body.get("fills", [])]
    headers = {k: v for k, v in response.headers.items()
               if k in ("content-type", "retry-after", "www-authenticate", "vary")}
    return response.status_code, body, headers


BODIES: list[tuple[bytes, bool]] = [  # (body, taken by the lane)
    (b'{"side": "buy", "price": "100", "quantity": "0.5"}', True),
    (b'{"side": "sell", "price": "100", "quantity": "0.2"}', True),  # trades with the above
    (b'{"side": "buy", "price": " 101 ", "quantity": "0.1"}', False),  # stripped first
    (b'{"side": "buy", "price": "99", "quantity": "0.1", "post_only": "true"}', False),
    (b'{"side": "buy", "price": "0.000000001", "quantity": "0.1"}', True),  # off tick: 400
    (b'{"symbol": "NOPE-USD", "side": "buy", "price": "1", "quantity": "1"}', True),
    (b'{"side": "buy", "price": "1", "quantity": "99999999"}', True),  # no funds
    (b'{"side": "buy", "type": "limit", "time_in_force": "gtd", "price": "1",'
     b' "quantity": "1"}', True),  # GTD without its expiry
    (b'{"side": "up", "price": "1", "quantity": "1"}', False),
    (b'{"side": "buy", "price": "1", "quantity": "1", "colour": "red"}', False),
    (b'{"side": "buy", "price": "-1", "quantity": "1"}', False),
    (b'{"side": "buy", "price": "1", "quantity": "1"', False),
    (b"[]", False),
    (b"", False),
]


ORIGIN = "http://localhost:5173"  # a browser's request goes through CORS and the guard

WAYS = [  # (content type, Origin): the front, the lane behind CORS, the route
    ("application/json", None), ("application/json", ORIGIN),
    ("application/x-order+json", None)]


@pytest.mark.slow
def test_the_front_the_lane_and_the_route_answer_every_order_alike(tmp_path: Path) -> None:
    """Each body is sent three times to one server: as ``application/json`` from an API
    client (the front), from a browser (``Origin``: CORS, the guard, then the lane), and
    as ``application/x-order+json`` (JSON to the framework, which the front and the lane
    leave to the route); the three answers must be the same."""
    with running_server(tmp_path, cors_origins=[ORIGIN]) as server:
        trader = server.make_user("lane@test.local")
        server.deposit(trader.user_id, "USD", "100000")
        server.deposit(trader.user_id, "BTC", "10")
        front, lane = _front(server), _lane(server)
        with httpx.Client(base_url=server.base_url, headers=trader.headers) as client:
            for body, fast in BODIES:
                answers = []
                for media, origin in WAYS:
                    counts = (front.answered, front.passed, lane.answered, lane.passed)
                    extra = {"Origin": origin} if origin else {}
                    response = client.post("/api/v1/orders", content=body,
                                           headers={"Content-Type": media, **extra})
                    taken = tuple(now - then for now, then in zip(
                        (front.answered, front.passed, lane.answered, lane.passed), counts,
                        strict=True))
                    json = media == "application/json"
                    expected = ((1, 0, 0, 0) if fast and json and not origin
                                else (0, 1, 1, 0) if fast and json else (0, 1, 0, 1))
                    assert taken == expected, (body, media, origin)
                    answers.append(_comparable(response))
                    if origin:
                        assert response.headers["access-control-allow-origin"] == origin
                assert answers[0] == answers[1] == answers[2], body
                assert answers[0][0] < 500, answers[0]
            # no way may skip the caller's checks
            key = client.post("/api/v1/api-keys", json={"scopes": ["read"]}).json()["api_key"]
            for media, origin in WAYS:
                extra = {"Origin": origin} if origin else {}
                for credentials in ({"X-API-Key": key}, {"X-API-Key": "mbk_nope"}, {}):
                    refused = httpx.post(server.base_url + "/api/v1/orders",
                                         content=BODIES[0][0],
                                         headers={**credentials, "Content-Type": media,
                                                  **extra})
                    assert refused.status_code == (403 if credentials == {"X-API-Key": key}
                                                   else 401), (credentials, media, origin)
                    assert refused.headers["vary"] == "Origin"


# -- the WebSocket place -------------------------------------------------------------------

PLACES: list[tuple[str, bool]] = [  # (frame, decoded in one step)
    ('{"op": "place", "request_id": 1, "side": "buy", "price": "100", "quantity": "0.5"}',
     True),
    ('{"side": "sell", "price": "100", "quantity": "0.2", "op": "place", "request_id": "b"}',
     True),  # trades with the above
    ('{"op": "place", "side": "buy", "price": " 101 ", "quantity": "0.1"}', False),
    ('{"op": "place", "side": "buy", "price": "99", "quantity": "0.1", "post_only": 1}',
     False),
    ('{"op": "place", "side": "buy", "price": "0.000000001", "quantity": "0.1"}', True),
    ('{"op": "place", "symbol": "NOPE-USD", "side": "buy", "price": "1", "quantity": "1"}',
     True),
    ('{"op": "place", "side": "buy", "price": "1", "quantity": "99999999"}', True),
    ('{"op": "place", "side": "up", "price": "1", "quantity": "1"}', False),
    ('{"op": "place", "side": "buy", "price": "1", "quantity": "1", "colour": "red"}', False),
    ('{"op": "place", "request_id": [1, {"a": null}], "side": "buy"}', True),  # no quantity
    ('{"request_id": 7, "side": "buy", "price": "1", "quantity": "1"}', False),  # no op
    ('{"op": "cancel", "request_id": 8, "order_id": "place"}', False),
    ('{"op": "place", "side": "buy", "price": "1", "quantity": "1"', False),
    ('["place"]', False),
]


@pytest.mark.parametrize(("frame", "once"), PLACES)
def test_the_one_step_place_decoder_takes_exactly_the_well_formed_places(
        frame: str, once: bool) -> None:
    try:
        place = decode_place(frame)
    except (msgspec.ValidationError, msgspec.DecodeError):
        assert not once, frame
        return
    assert once == texts_as_given(place), frame
    if once:  # the order and request id decoded are the message's
        message = json.loads(frame)
        expected = new_order_fields({k: v for k, v in message.items()
                                     if k not in ("op", "request_id")})
        assert expected is not None
        assert {name: getattr(place, name) for name in FIELDS} == msgspec.structs.asdict(
            expected)
        assert place.request_id == message.get("request_id")


def _escaped(frame: str) -> str:
    """The same message with its op spelled with a JSON escape: the one-step decoder is
    only tried on a frame holding the text ``"place"``, so this one takes the other way."""
    return frame.replace('"place"', '"pl\\u0061ce"')


@pytest.mark.slow
def test_a_websocket_place_is_answered_alike_decoded_once_or_as_a_dict(tmp_path: Path) -> None:
    """Each frame is sent twice on one connection: as written (decoded in one step when
    well formed) and with its op escaped (decoded into a dict first); both answers must
    be the same."""
    from websockets.sync.client import connect

    with running_server(tmp_path) as server:
        trader = server.make_user("ws-lane@test.local")
        server.deposit(trader.user_id, "USD", "100000")
        server.deposit(trader.user_id, "BTC", "10")
        hub = server.app.state.api.ws_hub
        with connect(server.ws_url, open_timeout=5) as ws:
            ws.send(json.dumps({"op": "auth", "token": trader.token}))
            assert json.loads(ws.recv(timeout=5))["type"] == "authenticated"
            for frame, once in PLACES:
                answers = []
                for text in (frame, _escaped(frame)):
                    before = hub.places_decoded_once
                    ws.send(text)
                    answer = json.loads(ws.recv(timeout=5))
                    while answer["type"] == "heartbeat":
                        answer = json.loads(ws.recv(timeout=5))
                    taken = hub.places_decoded_once - before
                    assert taken == (1 if once and text == frame else 0), text
                    data = answer.get("data")
                    if isinstance(data, dict):
                        answer["data"] = {k: v for k, v in data.items() if k not in VOLATILE}
                        answer["data"]["fills"] = [
                            {k: v for k, v in f.items() if k not in ("trade_id", "ts_ns")}
                            for f in data.get("fills", [])]
                    answers.append(answer)
                assert answers[0] == answers[1], frame
                assert answers[0].get("code") != 9001, answers[0]
