"""Result codes: every rejection the core can emit, a stable number and a sentence.

Codes are grouped in numbered families so that a client can tell the kind of failure
from the number alone:

* ``1xxx`` request: malformed or unknown input (symbol, order, grid, duplicates);
* ``2xxx`` risk: funds, sizes, notional, price band, limits, halts, suspension;
* ``3xxx`` matching: the order could not be executed as asked (post-only, FOK, ...);
* ``4xxx`` wallet: deposits, withdrawals, transfers, addresses;
* ``7xxx`` P2P: ads, trades, escrow, disputes (the API keeps 5xxx and 6xxx for its own).

The API maps codes to HTTP statuses in one table; the numbers never change meaning.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0

    # request
    UNKNOWN_SYMBOL = 1001
    INVALID_QUANTITY = 1002
    INVALID_PRICE = 1003
    INVALID_SIDE = 1004
    INVALID_ORDER_TYPE = 1005
    INVALID_TIME_IN_FORCE = 1006
    INVALID_STOP_PRICE = 1007
    INVALID_DISPLAY_QUANTITY = 1008
    INVALID_EXPIRY = 1009
    INVALID_STP_MODE = 1010
    DUPLICATE_CLIENT_ORDER_ID = 1011
    UNKNOWN_ORDER = 1012
    # 1013 is retired: orders are found through their owner, so another user's order
    # is reported as unknown (1012) and nobody learns which ids are someone else's
    ORDER_NOT_AMENDABLE = 1014
    AMEND_NO_CHANGE = 1015
    AMEND_BELOW_FILLED = 1016
    INVALID_CLIENT_ORDER_ID = 1017
    UNKNOWN_COMMAND = 1018
    INVALID_USER = 1019
    INVALID_QUOTE_QUANTITY = 1020

    # risk
    INSUFFICIENT_FUNDS = 2001
    QUANTITY_TOO_SMALL = 2002
    QUANTITY_TOO_LARGE = 2003
    NOTIONAL_TOO_SMALL = 2004
    PRICE_OUTSIDE_BAND = 2005
    TOO_MANY_OPEN_ORDERS = 2006
    POSITION_LIMIT_EXCEEDED = 2007
    SYMBOL_HALTED = 2008
    TRADING_HALTED = 2009
    USER_SUSPENDED = 2010
    INVALID_RISK_LIMITS = 2011
    USER_NOT_SUSPENDED = 2012

    # matching
    POST_ONLY_WOULD_TAKE = 3001
    FOK_NOT_FILLABLE = 3002
    NO_LIQUIDITY = 3003
    STOP_WOULD_TRIGGER = 3004
    EXPIRED_ON_ARRIVAL = 3005

    # wallet
    UNKNOWN_ASSET = 4001
    INVALID_AMOUNT = 4002
    UNKNOWN_ADDRESS = 4003
    TRANSFER_TO_SELF = 4004
    UNKNOWN_WITHDRAWAL = 4005
    WITHDRAWAL_NOT_PENDING = 4006
    ADDRESS_EXISTS = 4007
    INVALID_REASON = 4008
    UNKNOWN_FEE_TIER = 4009
    INVALID_DESTINATION = 4010
    SUPPLY_LIMIT = 4011

    # P2P
    UNKNOWN_AD = 7001
    AD_NOT_OPEN = 7002
    UNKNOWN_P2P_TRADE = 7003
    STATE_MISMATCH = 7004
    NOT_YOUR_ROLE = 7005
    OWN_AD = 7006
    QUANTITY_OUT_OF_RANGE = 7007
    INVALID_AD = 7008
    UNKNOWN_FIAT = 7009
    INVALID_PAYMENT_WINDOW = 7010
    UNKNOWN_PAYMENT_METHOD = 7011
    INVALID_PAYMENT_METHOD = 7012
    NO_REFERENCE_PRICE = 7013
    INVALID_PRICE_SOURCE = 7014
    PAYMENT_WINDOW_PASSED = 7015
    CONFIRM_REQUIRED = 7016
    APPEAL_TOO_EARLY = 7017
    NOT_DISPUTE_OPENER = 7018
    P2P_BANNED = 7019
    FEEDBACK_NOT_ALLOWED = 7020
    INVALID_TEXT = 7021
    INVALID_OUTCOME = 7022
    SAME_ADMIN = 7023
    INVALID_OUTAGE = 7024
    AD_NOT_YOURS = 7025
    AD_PAUSED_BY_ADMIN = 7026


MESSAGES: dict[int, str] = {
    Code.OK: "Accepted.",
    Code.UNKNOWN_SYMBOL: "The symbol is not traded here.",
    Code.INVALID_QUANTITY: "The quantity must be a positive whole number of lots.",
    Code.INVALID_PRICE: "The price must be a positive whole number of ticks.",
    Code.INVALID_SIDE: "The side must be buy or sell.",
    Code.INVALID_ORDER_TYPE: "The order type is not supported, or its fields do not fit it.",
    Code.INVALID_TIME_IN_FORCE: "The time in force is not valid for this order type.",
    Code.INVALID_STOP_PRICE: "A stop order needs a positive stop price; other orders none.",
    Code.INVALID_DISPLAY_QUANTITY: (
        "The display quantity must be positive and below the order quantity, on a GTC "
        "or GTD limit order."
    ),
    Code.INVALID_EXPIRY: "Only GTD orders take an expiry time, and GTD orders need one.",
    Code.INVALID_STP_MODE: "The self-trade prevention mode is not known.",
    Code.DUPLICATE_CLIENT_ORDER_ID: "An open order of yours already has this client order id.",
    Code.UNKNOWN_ORDER: "No open order has this id.",
    Code.ORDER_NOT_AMENDABLE: "Only resting limit orders can be amended.",
    Code.AMEND_NO_CHANGE: "The amendment changes nothing.",
    Code.AMEND_BELOW_FILLED: "The new quantity must exceed the quantity already filled.",
    Code.INVALID_CLIENT_ORDER_ID: "The client order id must be at most 64 printable characters.",
    Code.UNKNOWN_COMMAND: "The command is not known to the engine.",
    Code.INVALID_USER: "The user id must be a positive integer.",
    Code.INVALID_QUOTE_QUANTITY: (
        "A quote quantity is only valid on a market buy, instead of a quantity."
    ),
    Code.INSUFFICIENT_FUNDS: "Insufficient available balance.",
    Code.QUANTITY_TOO_SMALL: "The quantity is below the symbol's minimum.",
    Code.QUANTITY_TOO_LARGE: "The quantity is above the symbol's maximum.",
    Code.NOTIONAL_TOO_SMALL: "The order's value is below the symbol's minimum notional.",
    Code.PRICE_OUTSIDE_BAND: "The price is outside the allowed band around the reference price.",
    Code.TOO_MANY_OPEN_ORDERS: "You have reached the maximum number of open orders.",
    Code.POSITION_LIMIT_EXCEEDED: "The order would exceed your position limit for this asset.",
    Code.SYMBOL_HALTED: "Trading in this symbol is halted.",
    Code.TRADING_HALTED: "Trading is halted.",
    Code.USER_SUSPENDED: "Your account is suspended.",
    Code.USER_NOT_SUSPENDED: "The user is not suspended.",
    Code.POST_ONLY_WOULD_TAKE: "A post-only order would have taken liquidity.",
    Code.FOK_NOT_FILLABLE: "The fill-or-kill order could not be filled in full.",
    Code.NO_LIQUIDITY: "There is no liquidity within the protection band.",
    Code.STOP_WOULD_TRIGGER: "The stop price has already been reached by the last trade.",
    Code.EXPIRED_ON_ARRIVAL: "The expiry time has already passed.",
    Code.UNKNOWN_ASSET: "The asset is not known.",
    Code.INVALID_AMOUNT: "The amount must be positive and within the asset's decimals.",
    Code.UNKNOWN_ADDRESS: "No wallet has this address.",
    Code.TRANSFER_TO_SELF: "A transfer must go to another user.",
    Code.UNKNOWN_WITHDRAWAL: "No withdrawal has this id.",
    Code.WITHDRAWAL_NOT_PENDING: "The withdrawal is no longer pending.",
    Code.ADDRESS_EXISTS: "This wallet already has an address.",
    Code.INVALID_REASON: "A reason of at most 200 characters is required.",
    Code.UNKNOWN_FEE_TIER: "No symbol has a fee tier of this name.",
    Code.INVALID_DESTINATION: "A withdrawal destination has at most 200 characters.",
    Code.SUPPLY_LIMIT: ("The amount would take the exchange's total of this asset beyond its "
                        "maximum supply."),
    Code.UNKNOWN_AD: "No ad has this id.",
    Code.AD_NOT_OPEN: "The ad is not open for trades.",
    Code.UNKNOWN_P2P_TRADE: "No P2P trade of yours has this id.",
    Code.STATE_MISMATCH: "The trade is not in the state the request expected.",
    Code.NOT_YOUR_ROLE: "Your role in this trade does not allow this action.",
    Code.OWN_AD: "You cannot take your own ad.",
    Code.QUANTITY_OUT_OF_RANGE: (
        "The quantity must be within the ad's minimum and maximum and what remains of it."
    ),
    Code.INVALID_AD: (
        "The ad is not valid: check its side, quantities (min <= max <= total), price "
        "and terms (at most 2,000 characters)."
    ),
    Code.UNKNOWN_FIAT: "The fiat currency is not accepted here.",
    Code.INVALID_PAYMENT_WINDOW: "The payment window must be between 5 minutes and 6 hours.",
    Code.UNKNOWN_PAYMENT_METHOD: "No payment method of yours (or of the ad) has this id.",
    Code.INVALID_PAYMENT_METHOD: (
        "A payment method needs a name of at most 64 and details of at most 500 characters."
    ),
    Code.NO_REFERENCE_PRICE: "The reference symbol has no mid price to price the trade at.",
    Code.INVALID_PRICE_SOURCE: (
        "A margin price needs a symbol whose base is the asset and whose quote is the fiat."
    ),
    Code.PAYMENT_WINDOW_PASSED: "The payment window has passed.",
    Code.CONFIRM_REQUIRED: (
        "Cancelling after marking the trade paid needs an explicit confirmation."
    ),
    Code.APPEAL_TOO_EARLY: "A dispute can be opened only after the appeal delay.",
    Code.NOT_DISPUTE_OPENER: "Only the user who opened the dispute can withdraw it.",
    Code.P2P_BANNED: "Too many cancelled or expired trades: P2P trading is paused for you.",
    Code.FEEDBACK_NOT_ALLOWED: "Feedback is left once per side, after a completed trade.",
    Code.INVALID_TEXT: "The text must be 1 to 2,000 printable characters.",
    Code.INVALID_OUTCOME: "The outcome must be release or refund.",
    Code.SAME_ADMIN: "A second, different admin must approve this resolution.",
    Code.INVALID_OUTAGE: "An outage must end after it starts, at or before the current time.",
    Code.AD_NOT_YOURS: "No ad of yours has this id.",
    Code.AD_PAUSED_BY_ADMIN: "An administrator paused this ad: only an administrator can "
                             "resume it.",
    Code.INVALID_RISK_LIMITS: ("Risk limits need a positive open-order limit and positive "
                               "position limits, at most one per known asset."),
}


def message(code: int) -> str:
    """The sentence for a code (``"Unknown result code N."`` if it has none)."""
    return MESSAGES.get(code, f"Unknown result code {code}.")


assert all(c in MESSAGES for c in Code), "every code needs a sentence"
