"""Request bodies. Decimals are strings; unknown fields are refused."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DECIMAL_PATTERN = r"^\s*([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})\s*$"


def decimal(default: Any = ...) -> Any:
    """A decimal string field: required unless ``default`` is given (``None`` = optional)."""
    return Field(default, pattern=DECIMAL_PATTERN, min_length=1, max_length=64)



class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
