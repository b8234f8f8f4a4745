"""Request bodies and bounded path and query numbers.

Decimals are strings; unknown fields are refused; text never carries control characters
(they would reach the journal and the SQL read model, where PostgreSQL refuses NUL).
Ids are bounded to what the journal (64-bit) and the SQL keys (32-bit user and API key
ids) can hold, so an absurd number is a 422, never a failure further in.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

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

DECIMAL_PATTERN = r"^\s*([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})\s*$"


def decimal(default: Any = ...) -> Any:
    """A decimal string field: required unless ``default`` is given (``None`` = optional)."""
    return Field(default, pattern=DECIMAL_PATTERN, min_length=1, max_length=64)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and info.field_name != "password" and _CONTROL.search(value):
            raise ValueError("control characters are not allowed")
        return value


class SignUp(Body):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=8, max_length=200)


class Login(Body):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)


class Refresh(Body):
    refresh_token: str = Field(min_length=10, max_length=200)


class NewApiKey(Body):
    scopes: list[Literal["read", "trade", "withdraw"]] = Field(
        default_factory=lambda: ["read", "trade"], min_length=1, max_length=3)
    label: str = Field(default="", max_length=100)


class NewOrder(Body):
    symbol: str = Field(default="BTC-USD", min_length=3, max_length=20)
    side: Literal["buy", "sell"]
    type: Literal["limit", "market", "stop_limit", "stop_market"] = "limit"
    price: str | None = decimal(None)
    quantity: str | None = decimal(None)
    quote_quantity: str | None = decimal(None)
    time_in_force: Literal["gtc", "ioc", "fok", "gtd"] = "gtc"
    expire_time_ns: int | None = Field(default=None, gt=0, lt=2**63)
    post_only: bool = False
    stop_price: str | None = decimal(None)
    display_quantity: str | None = decimal(None)
    client_order_id: str | None = Field(default=None, min_length=1, max_length=64,
                                        pattern=r"^[\x20-\x7e]+$")
    self_trade_prevention: Literal["cancel_newest", "cancel_oldest", "cancel_both",
                                   "decrement_and_cancel"] = "cancel_newest"


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
    asset: str = Field(min_length=1, max_length=10)
    amount: str = decimal()
    destination: str = Field(default="", max_length=200)


class TransferBody(Body):
    to_address: str = Field(min_length=1, max_length=100)
    asset: str = Field(min_length=1, max_length=10)
    amount: str = decimal()


class AdminDeposit(Body):
    user_id: int = Field(gt=0, lt=2**31)
    asset: str = Field(min_length=1, max_length=10)
    amount: str = decimal()
    reference: str = Field(default="", max_length=200)


class ChainDeposit(Body):
    address: str = Field(min_length=1, max_length=100)
    asset: str = Field(min_length=1, max_length=10)
    amount: str = decimal()
    reference: str = Field(default="", max_length=200)


class RejectBody(Body):
    reason: str = Field(default="", max_length=200)


class AdjustBody(Body):
    user_id: int = Field(gt=0, lt=2**31)
    asset: str = Field(min_length=1, max_length=10)
    amount: str = Field(pattern=r"^\s*-?[0-9]{0,30}(\.[0-9]{0,30})?\s*$", max_length=64)
    reason: str = Field(min_length=1, max_length=200)
