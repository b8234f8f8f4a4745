"""The deterministic core: symbols, commands, events, order books, matching, accounts,
and the P2P escrow desk (``core/p2p.py``).

No I/O, no clock, no randomness, and no import from the rest of Matchbook.
"""

from matchbook.core.book import Level, Order, OrderBook
from matchbook.core.codes import Code, message
from matchbook.core.commands import (
    AdjustBalance,
    AdvanceTime,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    HaltTrading,
    OrderType,
    PlaceOrder,
    ReinstateUser,
    RejectWithdrawal,
    RequestWithdrawal,
    ResumeTrading,
    SelfTradePrevention,
    SetFeeTier,
    SetRiskLimits,
    Side,
    SuspendUser,
    TimeInForce,
    Transfer,
)
from matchbook.core.engine import Account, Engine, RiskLimits
from matchbook.core.events import CancelReason, Event
from matchbook.core.symbols import Asset, ConfigError, GridError, Markets, Symbol, load_markets

__all__ = [
    "Account",
    "AdjustBalance",
    "AdvanceTime",
    "AmendOrder",
    "Asset",
    "CancelAll",
    "CancelOrder",
    "CancelReason",
    "Code",
    "Command",
    "CompleteWithdrawal",
    "ConfigError",
    "CreateAddress",
    "Deposit",
    "Engine",
    "Event",
    "GridError",
    "HaltTrading",
    "Level",
    "Markets",
    "Order",
    "OrderBook",
    "OrderType",
    "PlaceOrder",
    "ReinstateUser",
    "RejectWithdrawal",
    "RequestWithdrawal",
    "ResumeTrading",
    "RiskLimits",
    "SelfTradePrevention",
    "SetFeeTier",
    "SetRiskLimits",
    "Side",
    "SuspendUser",
    "Symbol",
    "TimeInForce",
    "Transfer",
    "load_markets",
    "message",
]
