"""Assets, symbols and the exact conversions between decimal strings and integers.

Inside the core every price is an integer number of *ticks*, every order quantity an
integer number of *lots* and every balance an integer number of the asset's *minor
units* (10**-decimals). Decimal strings exist only at the edges; the functions here
convert exactly and reject any value that is not on the grid. No float is ever used.

A symbol is only accepted if its grid is representable exactly in minor units:

* ``base_per_lot  = lot_size  * 10**base.decimals``           must be an integer;
* ``quote_per_tick_lot = tick_size * lot_size * 10**quote.decimals`` must be an integer,

so that the notional of ``qty_lots`` at ``price_ticks`` is the integer
``price_ticks * qty_lots * quote_per_tick_lot`` minor units of the quote asset.

Configuration comes as a plain mapping (parsed from TOML by the caller: the core does
no I/O); see ``matchbook/config/markets.toml`` for the shipped default.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow
from functools import cache
from typing import Any

PPM = 1_000_000
"""Fee rates are integers in parts per million of the notional (100 ppm = 1 bp = 0.01%)."""


class ConfigError(ValueError):
    """The market configuration is inconsistent (raised at load time, never on the hot path)."""


class GridError(ValueError):
    """A decimal value is malformed, not positive where required, or off the tick/lot grid."""


MAX_SUPPLY_MINOR = 10**18
"""The most of one asset the whole exchange may hold, in minor units: every balance,
hold and fee account of it together. Each balance is a part of that total, so none can
pass it either; it is a ninth of what a signed 64-bit integer holds (2**63 - 1, the
limit of SQLite's INTEGER and PostgreSQL's BIGINT), the headroom for the sums and
intermediate values the stores compute from balances."""


@dataclass(frozen=True, slots=True)
class Asset:
    """A tradable asset; balances are integers in units of ``10**-decimals``.

    ``max_supply_minor`` bounds what the exchange holds of the asset in all (deposits
    and credits less withdrawals and debits): the core refuses a command that would pass
    it, so every balance fits a signed 64-bit integer in every store.
    """

    code: str
    decimals: int
    max_supply_minor: int = MAX_SUPPLY_MINOR

    @property
    def unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)

    def to_minor(self, value: str | Decimal) -> int:
        """Exact conversion of a decimal amount to minor units.

        Raises ``GridError`` if the value is malformed, not finite, or has more
        decimals than the asset.
        """
        return _to_units(value, self.unit, f"{self.code} amount")

    def from_minor(self, amount_minor: int) -> Decimal:
        """Decimal amount with exactly ``decimals`` places."""
        return _from_units(amount_minor, self.unit)

    def format(self, amount_minor: int) -> str:
        """Plain decimal string with exactly ``decimals`` places (never exponent form)."""
        return f"{self.from_minor(amount_minor):f}"


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Maker and taker rates in parts per million of the notional.

    A negative maker rate is a rebate. ``taker_ppm + maker_ppm >= 0`` is enforced so
    that the fee account never pays out more on a trade than it collects.
    """

    maker_ppm: int
    taker_ppm: int
    hold_ppm: int = field(init=False, repr=False, compare=False)  # what a buy holds for fees

    def __post_init__(self) -> None:
        object.__setattr__(self, "hold_ppm", max(self.maker_ppm, self.taker_ppm, 0))


@dataclass(frozen=True, slots=True)
class Symbol:
    """A market: ``base`` priced in ``quote`` on a tick grid, traded in lots.

    All limits are stored as integers (ticks, lots, minor units) so the hot path never
    converts. ``price_band_bps`` bounds limit prices around the reference price;
    ``market_protection_bps`` bounds how far a market order may sweep from the best price.
    """

    name: str
    base: Asset
    quote: Asset
    tick_size: Decimal
    lot_size: Decimal
    min_qty_lots: int
    max_qty_lots: int
    min_notional_minor: int
    price_band_bps: int
    market_protection_bps: int
    fees: FeeSchedule
    tier_fees: Mapping[str, FeeSchedule] = field(default_factory=dict)
    base_per_lot: int = 0
    quote_per_tick_lot: int = 0

    # -- conversions -------------------------------------------------------------------

    def price_to_ticks(self, price: str | Decimal) -> int:
        """Exact price -> ticks. Raises ``GridError`` if malformed, <= 0 or off grid."""
        ticks = _to_units(price, self.tick_size, f"{self.name} price")
        if ticks <= 0:
            raise GridError(f"{self.name} price must be positive")
        return ticks

    def qty_to_lots(self, qty: str | Decimal) -> int:
        """Exact quantity -> lots. Raises ``GridError`` if malformed, <= 0 or off grid."""
        lots = _to_units(qty, self.lot_size, f"{self.name} quantity")
        if lots <= 0:
            raise GridError(f"{self.name} quantity must be positive")
        return lots

    def ticks_to_price(self, price_ticks: int) -> Decimal:
        return _from_units(price_ticks, self.tick_size)

    def lots_to_qty(self, qty_lots: int) -> Decimal:
        return _from_units(qty_lots, self.lot_size)

    def format_price(self, price_ticks: int) -> str:
        """``"50000.00"``: plain decimal with the tick's places."""
        return f"{self.ticks_to_price(price_ticks):f}"

    def format_qty(self, qty_lots: int) -> str:
        """``"0.5000"``: plain decimal with the lot's places."""
        return f"{self.lots_to_qty(qty_lots):f}"

    def notional_minor(self, price_ticks: int, qty_lots: int) -> int:
        """Quote minor units of ``qty_lots`` at ``price_ticks``. O(1), exact."""
        return price_ticks * qty_lots * self.quote_per_tick_lot

    def fees_for_tier(self, tier: str) -> FeeSchedule:
        return self.tier_fees.get(tier, self.fees)


@dataclass(frozen=True, slots=True)
class Fiat:
    """A fiat currency P2P ads are priced in (paid outside the exchange): amounts are
    integers in units of ``10**-decimals`` (cents for 2)."""

    code: str
    decimals: int


DEFAULT_FIATS: Mapping[str, Fiat] = {c: Fiat(c, 2) for c in ("EUR", "GBP", "USD")}


@dataclass(frozen=True, slots=True)
class P2PConfig:
    """The ``[p2p]`` table: the P2P desk's fee and clocks.

    ``fee_bps``: charged on release, in the asset, out of the buyer's quantity (truncated
    to a whole minor unit). ``appeal_after_s``: the earliest a dispute may be opened
    after the buyer marks paid; ``escalate_after_s``: a paid trade nobody released turns
    into a dispute after this. ``cancel_limit`` cancels or expiries as a buyer within 24 h
    ban the user from new P2P trades and ads for ``ban_s``. ``second_approval_minor``:
    per asset, a dispute over more than this needs a second admin (absent: never).
    """

    fee_bps: int = 0
    appeal_after_s: int = 900
    escalate_after_s: int = 86_400
    cancel_limit: int = 3
    ban_s: int = 86_400
    second_approval_minor: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Markets:
    """The immutable set of assets and symbols the core trades, and the P2P desk's
    fiat currencies and settings."""

    assets: Mapping[str, Asset]
    symbols: Mapping[str, Symbol]
    fiats: Mapping[str, Fiat] = field(default_factory=lambda: dict(DEFAULT_FIATS))
    p2p: P2PConfig = field(default_factory=P2PConfig)

    def symbol(self, name: str) -> Symbol:
        """Look a symbol up by ``BTC-USD`` or ``BTC/USD``. Raises ``KeyError``."""
        return self.symbols[normalize_symbol(name)]


def normalize_symbol(name: str) -> str:
    """``btc/usd`` and ``BTC_USD`` -> ``BTC-USD`` (the canonical spelling)."""
    return name.strip().upper().replace("/", "-").replace("_", "-")


# -- loading -------------------------------------------------------------------------


def load_markets(config: Mapping[str, Any]) -> Markets:
    """Build ``Markets`` from a mapping shaped like ``config/markets.toml``.

    Raises ``ConfigError`` naming the offending entry if anything is inconsistent:
    unknown asset, non-positive sizes, limits off the grid, or a grid that cannot be
    expressed exactly in minor units.
    """
    assets: dict[str, Asset] = {}
    for code, spec in dict(config.get("assets", {})).items():
        decimals = int(spec["decimals"])
        if not 0 <= decimals <= 18:
            raise ConfigError(f"asset {code}: decimals must be within 0..18")
        # one interned str per code: the engine's balance dicts are keyed by it, and a
        # lookup with the identical object skips comparing the characters
        code = sys.intern(code.upper())
        assets[code] = Asset(code, decimals, _max_supply(code, decimals, spec))
    if not assets:
        raise ConfigError("no assets configured")

    symbols: dict[str, Symbol] = {}
    for raw_name, spec in dict(config.get("symbols", {})).items():
        name = sys.intern(normalize_symbol(raw_name))
        try:
            symbols[name] = _load_symbol(name, spec, assets)
        except (KeyError, InvalidOperation, GridError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"symbol {name}: {exc}") from exc
    if not symbols:
        raise ConfigError("no symbols configured")
    fiats = _load_fiats(config.get("fiat"))
    return Markets(assets=assets, symbols=symbols, fiats=fiats,
                   p2p=_load_p2p(config.get("p2p", {}), assets))


def _load_fiats(spec: Any) -> Mapping[str, Fiat]:
    """The ``[fiat]`` table (``EUR = { decimals = 2 }``); EUR, GBP and USD with 2
    decimals when absent."""
    if spec is None:
        return dict(DEFAULT_FIATS)
    fiats: dict[str, Fiat] = {}
    for code, entry in dict(spec).items():
        code = sys.intern(str(code).upper())
        if not (3 <= len(code) <= 8 and code.isalnum()):
            raise ConfigError(f"fiat {code}: the code must be 3 to 8 letters or digits")
        try:
            decimals = int(dict(entry)["decimals"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"fiat {code}: needs decimals (an integer)") from None
        if not 0 <= decimals <= 8:
            raise ConfigError(f"fiat {code}: decimals must be within 0..8")
        fiats[code] = Fiat(code, decimals)
    return fiats


def _load_p2p(spec: Any, assets: Mapping[str, Asset]) -> P2PConfig:
    """The ``[p2p]`` table, every key optional (``P2PConfig``'s defaults)."""
    spec = dict(spec)
    defaults = P2PConfig()
    known = {"fee_bps", "appeal_after_s", "escalate_after_s", "cancel_limit", "ban_s",
             "second_approval"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ConfigError(f"[p2p]: unknown key {unknown[0]} (known: {', '.join(sorted(known))})")

    def number(key: str, low: int, high: int) -> int:
        value = spec.get(key, getattr(defaults, key))
        if type(value) is not int or not low <= value <= high:
            raise ConfigError(f"[p2p]: {key} must be an integer within {low}..{high}")
        return value

    fee_bps = number("fee_bps", 0, 1000)
    appeal = number("appeal_after_s", 0, 30 * 86_400)
    escalate = number("escalate_after_s", 60, 30 * 86_400)
    if escalate <= appeal:
        raise ConfigError("[p2p]: escalate_after_s must be longer than appeal_after_s")
    second: dict[str, int] = {}
    for code, amount in dict(spec.get("second_approval", {})).items():
        code = str(code).upper()
        if code not in assets:
            raise ConfigError(f"[p2p.second_approval]: unknown asset {code}")
        decimals = assets[code].decimals
        try:
            minor = _EXACT.multiply(Decimal(str(amount)), Decimal(10) ** decimals)
        except ArithmeticError:
            raise ConfigError(f"[p2p.second_approval]: {code} must be a decimal string "
                              f"of whole units") from None
        if not minor.is_finite() or minor != minor.to_integral_value() or minor < 0:
            raise ConfigError(f"[p2p.second_approval]: {code} must be a non-negative amount "
                              f"with at most {decimals} decimals")
        second[assets[code].code] = int(minor)
    return P2PConfig(fee_bps=fee_bps, appeal_after_s=appeal, escalate_after_s=escalate,
                     cancel_limit=number("cancel_limit", 1, 1000),
                     ban_s=number("ban_s", 0, 365 * 86_400), second_approval_minor=second)


def _max_supply(code: str, decimals: int, spec: Mapping[str, Any]) -> int:
    """The asset's ``max_supply`` (whole units, a decimal string) in minor units; without
    one, the most that fits (``MAX_SUPPLY_MINOR``). Raises ``ConfigError`` for a supply
    that is not positive, off the asset's decimals or beyond what the stores can hold."""
    if "max_supply" not in spec:
        return MAX_SUPPLY_MINOR
    try:
        supply = _EXACT.multiply(Decimal(str(spec["max_supply"])), Decimal(10) ** decimals)
    except ArithmeticError:
        raise ConfigError(f"asset {code}: max_supply must be a decimal number") from None
    if not supply.is_finite() or supply != supply.to_integral_value():
        raise ConfigError(f"asset {code}: max_supply is finer than {decimals} decimals")
    if not 0 < supply <= MAX_SUPPLY_MINOR:
        largest = _from_units(MAX_SUPPLY_MINOR, Decimal(1).scaleb(-decimals))
        raise ConfigError(f"asset {code}: max_supply must be positive and at most {largest:f} "
                          f"(10^18 minor units, what every store can hold)")
    return int(supply)


def _load_symbol(name: str, spec: Mapping[str, Any], assets: Mapping[str, Asset]) -> Symbol:
    base_code, quote_code = str(spec["base"]).upper(), str(spec["quote"]).upper()
    if base_code not in assets or quote_code not in assets:
        raise ConfigError(f"symbol {name}: unknown asset {base_code} or {quote_code}")
    if base_code == quote_code:
        raise ConfigError(f"symbol {name}: base and quote must differ")
    base, quote = assets[base_code], assets[quote_code]
    tick = Decimal(str(spec["tick_size"]))
    lot = Decimal(str(spec["lot_size"]))
    if tick <= 0 or lot <= 0:
        raise ConfigError(f"symbol {name}: tick_size and lot_size must be positive")
    base_per_lot = lot.scaleb(base.decimals)
    quote_per_tick_lot = (tick * lot).scaleb(quote.decimals)
    if base_per_lot != base_per_lot.to_integral_value():
        raise ConfigError(f"symbol {name}: lot_size {lot} is finer than {base.code} decimals")
    if quote_per_tick_lot != quote_per_tick_lot.to_integral_value():
        raise ConfigError(
            f"symbol {name}: tick_size x lot_size is finer than {quote.code} decimals"
        )
    fees = _fees(name, spec.get("fees", {}))
    tiers = {str(t): _fees(f"{name} tier {t}", f) for t, f in dict(spec.get("tiers", {})).items()}
    sym = Symbol(
        name=name,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        min_qty_lots=0,
        max_qty_lots=0,
        min_notional_minor=0,
        price_band_bps=int(spec.get("price_band_bps", 1000)),
        market_protection_bps=int(spec.get("market_protection_bps", 500)),
        fees=fees,
        tier_fees=tiers,
        base_per_lot=int(base_per_lot),
        quote_per_tick_lot=int(quote_per_tick_lot),
    )
    min_qty = _to_units(str(spec.get("min_qty", lot)), lot, f"{name} min_qty")
    max_qty = _to_units(str(spec["max_qty"]), lot, f"{name} max_qty")
    min_notional = quote.to_minor(str(spec.get("min_notional", "0")))
    if not 0 < min_qty <= max_qty:
        raise ConfigError(f"symbol {name}: need 0 < min_qty <= max_qty")
    if not 0 < sym.price_band_bps <= 10_000 or not 0 < sym.market_protection_bps < 10_000:
        raise ConfigError(f"symbol {name}: band and protection must be within (0, 10000) bps")
    return Symbol(
        name=name,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        min_qty_lots=min_qty,
        max_qty_lots=max_qty,
        min_notional_minor=min_notional,
        price_band_bps=sym.price_band_bps,
        market_protection_bps=sym.market_protection_bps,
        fees=fees,
        tier_fees=tiers,
        base_per_lot=sym.base_per_lot,
        quote_per_tick_lot=sym.quote_per_tick_lot,
    )


def _fees(where: str, spec: Mapping[str, Any]) -> FeeSchedule:
    maker = _rate_ppm(spec.get("maker", "0"))
    taker = _rate_ppm(spec.get("taker", "0"))
    if taker < 0:
        raise ConfigError(f"{where}: taker fee must not be negative")
    if maker + taker < 0:
        raise ConfigError(f"{where}: maker rebate larger than taker fee")
    if maker >= PPM or taker >= PPM:
        raise ConfigError(f"{where}: fee rate must be below 100%")
    return FeeSchedule(maker_ppm=maker, taker_ppm=taker)


def _rate_ppm(rate: Any) -> int:
    """``"0.001"`` (0.1%) -> 1000 ppm; rates finer than 1 ppm are rejected."""
    ppm = Decimal(str(rate)) * PPM
    if ppm != ppm.to_integral_value():
        raise ConfigError(f"fee rate {rate} is finer than one part per million")
    return int(ppm)


# -- exact decimal arithmetic ----------------------------------------------------------


MAX_UNITS = 10**18
"""No price, quantity or amount may reach this many units (ticks, lots, minor units)."""


def _to_units(value: str | Decimal, unit: Decimal, what: str) -> int:
    if isinstance(value, Decimal):
        dec = value
        if len(str(dec)) > 64:
            raise GridError(f"{what} has too many digits")
    else:
        if not isinstance(value, str):
            raise GridError(f"{what} must be a decimal string")
        text = value.strip()
        if not text or len(text) > 64:
            raise GridError(f"{what} is empty or too long")
        try:
            dec = Decimal(text)
        except InvalidOperation:
            raise GridError(f"{what} {value!r} is not a decimal number") from None
    if not dec.is_finite():
        raise GridError(f"{what} must be a finite number")
    if dec.adjusted() > 30:
        raise GridError(f"{what} is too large")
    try:
        units = _EXACT.divide(dec, unit)
    except ArithmeticError:  # Inexact, Overflow, DivisionByZero, InvalidOperation
        raise GridError(f"{what} {value!r} cannot be represented exactly") from None
    if units != units.to_integral_value():
        raise GridError(f"{what} {dec} is not a multiple of {unit}")
    if abs(units) >= MAX_UNITS:
        raise GridError(f"{what} is too large")
    return int(units)


# inputs are at most 64 characters, so with 200 digits a division is exact or traps
_EXACT = Context(prec=200, traps=[Inexact, Overflow, DivisionByZero, InvalidOperation])


def _from_units(units: int, unit: Decimal) -> Decimal:
    # |units| < 10**18 times a unit of a few digits: exact within 200 digits as well
    return _EXACT.multiply(Decimal(units), unit).quantize(_quantum(unit), context=_EXACT)


@cache
def _quantum(unit: Decimal) -> Decimal:
    """The exponent a value in ``unit`` is written with (``0.01`` for a tick of 0.05)."""
    exponent = unit.as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal(1).scaleb(min(exponent, 0))
