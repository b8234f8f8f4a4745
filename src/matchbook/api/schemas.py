"""Request bodies and bounded path and query numbers.

Decimals are strings; unknown fields are refused; text never carries control characters
(they would reach the journal and the SQL read model, where PostgreSQL refuses NUL).
Ids are bounded to what the journal (64-bit) and the SQL keys (32-bit user and API key
ids) can hold, so an absurd number is a 422, never a failure further in.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MAX_ID = 2**63 - 1  # order, withdrawal and sequence numbers (64-bit in the journal)
MAX_ROW_ID = 2**31 - 1  # user and API key ids (32-bit keys in the SQL store)

OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="An order id.")]
WithdrawalId = Annotated[int, Path(ge=1, le=MAX_ID, description="A withdrawal id.")]
UserId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A user id.")]
ApiKeyId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="An API key id.")]
BeforeSeq = Annotated[int | None, Query(ge=1, le=MAX_ID,
                                        description="Only entries before this sequence number.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

DECIMAL_PATTERN = (r"^\s*([0-9]{0,30}[1-9][0-9]{0,30}(\.[0-9]{0,30})?"
                   r"|[0-9]{0,30}\.[0-9]{0,30}[1-9][0-9]{0,30})\s*$")
"""A positive decimal number, plainly written: digits with at most one point, at least
one of them not zero; no sign, no exponent."""

SIGNED_DECIMAL_PATTERN = r"^\s*-?" + DECIMAL_PATTERN[4:]

TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""Free text: anything but control characters."""

CLIENT_ORDER_ID_PATTERN = r"^[\x20-\x7e]+$"
"""A client order id: printable ASCII."""

SYMBOL_PATTERN = r"^[A-Za-z0-9]{1,10}[-/_][A-Za-z0-9]{1,10}$"
ASSET_PATTERN = r"^[A-Za-z0-9]{1,10}$"
Interval = Literal["1m", "5m", "15m", "1h", "4h", "1d"]

PATTERN_NAMES = {
    DECIMAL_PATTERN: "must be a positive decimal number written plainly, such as \"0.5\"",
    SIGNED_DECIMAL_PATTERN: "must be a non-zero decimal number, such as \"-0.5\"",
    TEXT_PATTERN: "control characters are not allowed",
    SYMBOL_PATTERN: "must be a symbol such as \"BTC-USD\"",
    ASSET_PATTERN: "must be an asset code such as \"BTC\"",
}
"""What each pattern of the schema means, for the error a client reads."""

SymbolQuery = Annotated[str, Query(pattern=SYMBOL_PATTERN, max_length=21,
                                   description="A symbol: BTC-USD, BTC/USD or btc_usd.")]
AssetQuery = Annotated[str, Query(pattern=ASSET_PATTERN, description="An asset code.")]


def decimal(default: Any = ...) -> Any:
    """A positive decimal string field: required unless ``default`` is given (``None`` =
    optional)."""
    return Field(default, pattern=DECIMAL_PATTERN, min_length=1, max_length=64)


def text(default: Any = "", *, min_length: int = 0, max_length: int = 200) -> Any:
    """A free-text field without control characters (the schema says so too)."""
    return Field(default, pattern=TEXT_PATTERN, min_length=min_length, max_length=max_length)


def asset() -> Any:
    return Field(pattern=ASSET_PATTERN, min_length=1, max_length=10)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and info.field_name != "password" and _CONTROL.search(value):
            raise ValueError("control characters are not allowed")
        return value


class SignUp(Body):
    email: str = Field(min_length=3, max_length=254,
                       pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
    password: str = Field(min_length=8, max_length=200)


class Login(Body):
    email: str = text(..., min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)


class Refresh(Body):
    refresh_token: str = text(..., min_length=10, max_length=200)


KeyScope = Literal["read", "trade", "withdraw"]


def _default_scopes() -> list[KeyScope]:
    return ["read", "trade"]


class NewApiKey(Body):
    scopes: list[KeyScope] = Field(default_factory=_default_scopes, min_length=1,
                                   max_length=3)
    label: str = text(max_length=100)


class NewOrder(Body):
    symbol: str = Field(default="BTC-USD", pattern=SYMBOL_PATTERN, max_length=21)
    side: Literal["buy", "sell"]
    type: Literal["limit", "market", "stop_limit", "stop_market"] = "limit"
    price: str | None = decimal(None)
    quantity: str | None = decimal(None)
    quote_quantity: str | None = decimal(None)
    time_in_force: Literal["gtc", "ioc", "fok", "gtd"] = "gtc"
    # at most 2**62 ns (the year 2116): a bound JSON tools that read large integers as
    # doubles still compare exactly (2**63, the journal's limit, they do not)
    expire_time_ns: Annotated[int, Field(gt=0, le=2**62)] | None = None
    post_only: bool = False
    stop_price: str | None = decimal(None)
    display_quantity: str | None = decimal(None)
    client_order_id: str | None = Field(default=None, min_length=1, max_length=64,
                                        pattern=r"^[\x20-\x7e]+$")
    self_trade_prevention: Literal["cancel_newest", "cancel_oldest", "cancel_both",
                                   "decrement_and_cancel"] = "cancel_newest"


# the fast decoder checks lengths; the patterns are checked, and remembered, by
# ``texts_as_given`` (msgspec would run each field's regular expression on every order)
_Decimal = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class NewOrderFields(msgspec.Struct, forbid_unknown_fields=True):
    """``NewOrder``'s fields, decoded by msgspec on the busy order path (``POST
    /api/v1/orders``, the WebSocket ``place``). It accepts a subset of what ``NewOrder``
    accepts, with the same values: exact types only (``NewOrder`` also coerces), and no
    string that ``NewOrder`` would strip first. Whatever it refuses goes to ``NewOrder``,
    whose error the client reads, so both paths answer alike (a test compares them)."""

    side: Literal["buy", "sell"]
    symbol: Annotated[str, msgspec.Meta(max_length=21)] = "BTC-USD"
    type: Literal["limit", "market", "stop_limit", "stop_market"] = "limit"
    price: _Decimal | None = None
    quantity: _Decimal | None = None
    quote_quantity: _Decimal | None = None
    time_in_force: Literal["gtc", "ioc", "fok", "gtd"] = "gtc"
    expire_time_ns: Annotated[int, msgspec.Meta(gt=0, le=2**62)] | None = None
    post_only: bool = False
    stop_price: _Decimal | None = None
    display_quantity: _Decimal | None = None
    client_order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    self_trade_prevention: Literal["cancel_newest", "cancel_oldest", "cancel_both",
                                   "decrement_and_cancel"] = "cancel_newest"


_decode_new_order = msgspec.json.Decoder(NewOrderFields).decode
_REMEMBERED = 4096  # texts remembered valid per pattern (then forgotten all at once)


def _checker(pattern: str, remember: bool) -> tuple[re.Pattern[str], set[str] | None]:
    return re.compile(pattern), set() if remember else None


_SYMBOL_TEXT = _checker(SYMBOL_PATTERN, True)
_DECIMAL_TEXT = _checker(DECIMAL_PATTERN, True)
_TEXT_CHECKS = (  # each text field: its pattern, the texts already found valid
    ("symbol", _SYMBOL_TEXT), ("price", _DECIMAL_TEXT), ("quantity", _DECIMAL_TEXT),
    ("quote_quantity", _DECIMAL_TEXT), ("stop_price", _DECIMAL_TEXT),
    ("display_quantity", _DECIMAL_TEXT),
    ("client_order_id", _checker(CLIENT_ORDER_ID_PATTERN, False)))  # one per order


def new_order_fields(raw: bytes | dict[str, Any]) -> NewOrderFields | None:
    """The order of a JSON body (or of a decoded WebSocket message's fields) when the fast
    decoder takes it, else ``None``: then validate with ``NewOrder`` for the error."""
    try:
        fields = (_decode_new_order(raw) if isinstance(raw, bytes)
                  else msgspec.convert(raw, NewOrderFields))
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return fields if texts_as_given(fields) else None


def texts_as_given(fields: NewOrderFields) -> bool:
    """Would ``NewOrder`` take every text field of ``fields`` as it is: nothing it strips
    first, and the field's pattern matched (as msgspec matches one: ``search``)? A text
    found valid is remembered per pattern, so the everyday order's symbol, price and
    quantity are set lookups."""
    for name, (pattern, valid) in _TEXT_CHECKS:
        value = getattr(fields, name)
        if value is None or (valid is not None and value in valid):
            continue
        if value != value.strip() or pattern.search(value) is None:
            return False
        if valid is not None:
            if len(valid) >= _REMEMBERED:
                valid.clear()
            valid.add(value)
    return True


class PlaceMessage(NewOrderFields, kw_only=True):
    """A WebSocket ``place`` request, decoded in one step from the frame's text:
    ``op`` and ``request_id`` beside ``NewOrderFields``. A frame it refuses is decoded
    as any other message and its order validated as before (``NewOrder`` words the
    error)."""

    op: Literal["place"]
    request_id: Any = None


decode_place = msgspec.json.Decoder(PlaceMessage).decode


class AmendOrderBody(Body):
    price: str | None = decimal(None)
    quantity: str | None = decimal(None)


class SimpleOrder(BaseModel):
    """``POST /api/orders``: a GTC limit order on BTC/USD."""

    model_config = ConfigDict(str_strip_whitespace=True)
    side: Literal["buy", "sell"]
    price: str = decimal()
    quantity: str = decimal()


class WithdrawalBody(Body):
    asset: str = asset()
    amount: str = decimal()
    destination: str = text()


class TransferBody(Body):
    to_address: str = text(..., min_length=1, max_length=100)
    asset: str = asset()
    amount: str = decimal()


class AdminDeposit(Body):
    user_id: int = Field(gt=0, lt=2**31)
    asset: str = asset()
    amount: str = decimal()
    reference: str = text()


class ChainDeposit(Body):
    address: str = text(..., min_length=1, max_length=100)
    asset: str = asset()
    amount: str = decimal()
    reference: str = text()


class RejectBody(Body):
    reason: str = text()


class AdjustBody(Body):
    user_id: int = Field(gt=0, lt=2**31)
    asset: str = asset()
    amount: str = Field(pattern=SIGNED_DECIMAL_PATTERN, max_length=64,
                        description="A non-zero decimal; negative to debit.")
    reason: str = text(..., min_length=1, max_length=200)


# -- P2P escrow trading ------------------------------------------------------------------

P2PId = Annotated[int, Path(ge=1, le=MAX_ID, description="An ad, trade or payment method id.")]
TradeStateWord = Literal["pending_payment", "paid", "disputed", "completed", "cancelled",
                         "expired", "resolved_release", "resolved_refund"]
MAX_BODY_ID = 2**62
"""Ids in bodies and queries: at most 2**62, a bound that JSON tools reading integers as
doubles still compare exactly (2**63 - 1 they round up to 2**63)."""
IDEMPOTENCY_PATTERN = r"^[\x21-\x7e]{1,64}$"
"""An idempotency key: 1 to 64 visible ASCII characters."""
PATTERN_NAMES[IDEMPOTENCY_PATTERN] = "must be 1 to 64 visible ASCII characters"


def idempotency_key() -> Any:
    return Field(None, pattern=IDEMPOTENCY_PATTERN, min_length=1, max_length=64,
                 description="The same key again from you returns the first answer and "
                             "changes nothing (also accepted as the Idempotency-Key header).")


class NewPaymentMethod(Body):
    name: str = text(..., min_length=1, max_length=40)
    details: str = text(..., min_length=1, max_length=500)


class NewAd(Body):
    """A fixed ``price`` (fiat per whole unit of the asset), or ``price_margin_bps`` over
    the mid of ``price_symbol`` (frozen at each take)."""

    side: Literal["sell", "buy"]
    asset: str = asset()
    fiat: str = Field(pattern=ASSET_PATTERN, min_length=1, max_length=10)
    price: str | None = decimal(None)
    price_margin_bps: int | None = Field(None, ge=-5000, le=5000)
    price_symbol: str | None = Field(None, pattern=SYMBOL_PATTERN, max_length=21)
    quantity: str = decimal()
    min_quantity: str | None = decimal(None)
    max_quantity: str | None = decimal(None)
    payment_method_ids: list[Annotated[int, Field(ge=1, le=MAX_BODY_ID)]] = Field(
        default_factory=list, max_length=10)
    payment_window_seconds: int = Field(900, ge=300, le=21_600)
    terms: str = text(max_length=1000)


class TakeAdBody(Body):
    quantity: str = decimal()
    payment_method_id: int | None = Field(None, ge=1, le=MAX_BODY_ID)
    idempotency_key: str | None = idempotency_key()


class TradeAction(Body):
    expected_state: TradeStateWord
    idempotency_key: str | None = idempotency_key()


class CancelTradeBody(TradeAction):
    confirm: bool = Field(False, description="Required to cancel after marking paid: "
                                             "never cancel a trade you paid for.")


class DisputeBody(TradeAction):
    reason: Literal["payment_not_received", "payment_not_confirmed", "wrong_amount",
                    "unresponsive", "fraud", "other"]
    text: str = text(..., min_length=1, max_length=1000)


class TradeMessageBody(Body):
    text: str = text(..., min_length=1, max_length=1000)


class FeedbackBody(Body):
    positive: bool
    comment: str = text(max_length=500)


class ResolveBody(Body):
    outcome: Literal["release", "refund"]
    note: str = text(..., min_length=1, max_length=1000)
    idempotency_key: str | None = idempotency_key()


class ModerateAdBody(Body):
    reason: str = text(..., min_length=1, max_length=200)


class MarkReadBody(Body):
    """Mark ``ids``, or every notification up to and including ``up_to``, as read."""

    ids: list[Annotated[int, Field(ge=1, le=MAX_BODY_ID)]] = Field(default_factory=list,
                                                               max_length=200)
    up_to: int | None = Field(None, ge=1, le=MAX_BODY_ID)
