"""Assets and symbols: exact decimal <-> integer conversions and configuration checks."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from helpers import BTC, BTC_USD, MARKETS, USD

from matchbook.config import read_config
from matchbook.core import ConfigError, GridError, load_markets
from matchbook.core.symbols import normalize_symbol

ETH_BTC = MARKETS.symbol("ETH-BTC")


# --------------------------------------------------------------------------- grid


def test_default_btc_usd_grid_in_minor_units() -> None:
    assert (BTC_USD.tick_size, BTC_USD.lot_size) == (Decimal("0.01"), Decimal("0.0001"))
    assert (BTC.decimals, USD.decimals) == (8, 6)
    assert BTC_USD.base_per_lot == 10_000  # satoshi per lot
    assert BTC_USD.quote_per_tick_lot == 1  # 0.01 USD x 0.0001 BTC = 1e-6 USD
    assert BTC_USD.notional_minor(10_000, 10_000) == 100_000_000  # 1 BTC at 100 USD
    assert (BTC_USD.min_qty_lots, BTC_USD.max_qty_lots) == (1, 10_000_000)
    assert BTC_USD.min_notional_minor == 1_000_000


@pytest.mark.parametrize(
    ("price", "price_ticks"),
    [("0.01", 1), ("100", 10_000), ("100.01", 10_001), ("100.10", 10_010),
     ("65432.10", 6_543_210), (" 7.5 ", 750), ("1E+2", 10_000), ("+3.00", 300),
     (Decimal("0.07"), 7)],
)
def test_price_to_ticks_is_exact(price: str | Decimal, price_ticks: int) -> None:
    assert BTC_USD.price_to_ticks(price) == price_ticks


@pytest.mark.parametrize(
    ("qty", "qty_lots"),
    [("0.0001", 1), ("1", 10_000), ("0.5", 5_000), ("1.2345", 12_345), ("1000", 10_000_000)],
)
def test_qty_to_lots_is_exact(qty: str, qty_lots: int) -> None:
    assert BTC_USD.qty_to_lots(qty) == qty_lots


@pytest.mark.parametrize(
    ("asset_code", "amount", "amount_minor"),
    [("USD", "1", 1_000_000), ("USD", "0.000001", 1), ("USD", "-2.5", -2_500_000),
     ("USD", "0", 0), ("BTC", "0.00000001", 1), ("BTC", "21000000", 2_100_000_000_000_000),
     ("SOL", "1.000000001", 1_000_000_001)],
)
def test_asset_to_minor_is_exact_and_signed(
    asset_code: str, amount: str, amount_minor: int
) -> None:
    assert MARKETS.assets[asset_code].to_minor(amount) == amount_minor


def test_integers_convert_back_to_decimals_with_the_grid_places() -> None:
    assert BTC_USD.ticks_to_price(10_001) == Decimal("100.01")
    assert str(BTC_USD.ticks_to_price(10_000)) == "100.00"
    assert str(BTC_USD.lots_to_qty(1)) == "0.0001"
    assert str(BTC_USD.lots_to_qty(10_000)) == "1.0000"
    assert str(ETH_BTC.ticks_to_price(1)) == "0.00001"
    assert USD.from_minor(1_500_000) == Decimal("1.5")
    assert str(USD.from_minor(-1)) == "-0.000001"


@pytest.mark.parametrize("value", ["1.23", "65432.1", "0.01", "99999.99", "123456789.01"])
def test_round_trip_price_ticks_price(value: str) -> None:
    assert BTC_USD.ticks_to_price(BTC_USD.price_to_ticks(value)) == Decimal(value)


@pytest.mark.parametrize(
    ("asset_code", "amount_minor", "text"),
    [("USD", 1, "0.000001"), ("USD", 1_500_000, "1.500000"), ("BTC", 1, "0.00000001"),
     ("BTC", 100_000_000, "1.00000000"), ("SOL", 1, "0.000000001")],
)
def test_format_is_plain_decimal_with_the_asset_places(
    asset_code: str, amount_minor: int, text: str
) -> None:
    assert MARKETS.assets[asset_code].format(amount_minor) == text


# --------------------------------------------------------------------------- bad values

BAD_PRICES: list[Any] = [
    "100.001",  # off the tick grid
    "0.005",
    "0",
    "0.00",
    "-0",
    "-1",
    "-100.01",
    "",
    "   ",
    "abc",
    "1,5",
    "1.2.3",
    "0x10",
    "NaN",
    "sNaN",
    "Infinity",
    "-inf",
    "9" * 65,  # longer than any real price
    "1e999999",  # beyond the decimal context
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("1E+999999"),
    Decimal("1" * 250),  # more digits than the exact division allows
    0.1,  # floats never touch money
    100,
    None,
]


def short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


@pytest.mark.parametrize("price", BAD_PRICES, ids=short_repr)
def test_bad_price_raises_grid_error(price: Any) -> None:
    with pytest.raises(GridError):
        BTC_USD.price_to_ticks(price)


@pytest.mark.parametrize(
    "qty", ["0.00001", "1.00005", "0", "-0.0001", "NaN", "inf", "", "one", "1e999999",
            Decimal("1" * 250), 1.0],
    ids=short_repr,
)
def test_bad_quantity_raises_grid_error(qty: Any) -> None:
    with pytest.raises(GridError):
        BTC_USD.qty_to_lots(qty)


@pytest.mark.parametrize(
    "amount", ["0.0000001", "1.0000005", "NaN", "-Infinity", "x", "", "1e999999", 5],
    ids=short_repr,
)
def test_bad_usd_amount_raises_grid_error(amount: Any) -> None:
    with pytest.raises(GridError):
        USD.to_minor(amount)


def test_grid_error_is_a_value_error_that_names_the_value() -> None:
    with pytest.raises(ValueError, match=r"100\.001"):
        BTC_USD.price_to_ticks("100.001")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["BTC-USD", "btc-usd", "BTC/USD", "btc_usd", " Btc/Usd "])
def test_symbol_names_normalise_to_the_canonical_spelling(name: str) -> None:
    assert normalize_symbol(name) == "BTC-USD"
    assert MARKETS.symbol(name) is BTC_USD


def test_unknown_symbol_lookup_raises_key_error() -> None:
    with pytest.raises(KeyError):
        MARKETS.symbol("DOGE-USD")


def test_config_symbol_keys_and_asset_codes_are_normalised() -> None:
    config = {
        "assets": {"btc": {"decimals": 8}, "usd": {"decimals": 2}},
        "symbols": {"btc/usd": {"base": "btc", "quote": "Usd", "tick_size": "1",
                                "lot_size": "0.01", "max_qty": "10"}},
    }
    markets = load_markets(config)
    assert set(markets.assets) == {"BTC", "USD"}
    sym = markets.symbol("BTC_USD")
    assert sym.name == "BTC-USD" and sym.base.code == "BTC" and sym.quote.code == "USD"
    assert (sym.base_per_lot, sym.quote_per_tick_lot) == (1_000_000, 1)
    assert sym.min_qty_lots == 1  # defaults to one lot
    assert (sym.price_band_bps, sym.market_protection_bps) == (1000, 500)


# --------------------------------------------------------------------------- configuration


def default_config() -> dict[str, Any]:
    return copy.deepcopy(read_config())


def btc_usd_spec(config: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = config["symbols"]["BTC-USD"]
    return spec


def test_default_config_loads_with_tier_fees() -> None:
    markets = load_markets(default_config())
    sym = markets.symbol("BTC-USD")
    assert (sym.fees.maker_ppm, sym.fees.taker_ppm) == (200, 500)
    vip = sym.fees_for_tier("vip")
    assert (vip.maker_ppm, vip.taker_ppm) == (-100, 300)
    assert sym.fees_for_tier("unknown") == sym.fees


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: btc_usd_spec(c).update(lot_size="0.000000001"), "finer than BTC"),
        (lambda c: btc_usd_spec(c).update(tick_size="0.0001", lot_size="0.0001"),
         "finer than USD"),
        (lambda c: btc_usd_spec(c).update(base="DOGE"), "unknown asset"),
        (lambda c: btc_usd_spec(c).update(quote="EUR"), "unknown asset"),
        (lambda c: btc_usd_spec(c).update(quote="BTC"), "differ"),
        (lambda c: btc_usd_spec(c).update(tick_size="0"), "positive"),
        (lambda c: btc_usd_spec(c).update(lot_size="-0.0001"), "positive"),
        (lambda c: btc_usd_spec(c).update(tick_size="abc"), "BTC-USD"),
        (lambda c: btc_usd_spec(c).update(min_qty="0.00005"), "BTC-USD"),
        (lambda c: btc_usd_spec(c).update(min_qty="2", max_qty="1"), "min_qty"),
        (lambda c: btc_usd_spec(c).update(min_notional="0.0000001"), "BTC-USD"),
        (lambda c: btc_usd_spec(c).pop("max_qty"), "BTC-USD"),
        (lambda c: btc_usd_spec(c).update(price_band_bps=0), "bps"),
        (lambda c: btc_usd_spec(c).update(market_protection_bps=10_000), "bps"),
        (lambda c: btc_usd_spec(c).update(fees={"maker": "0.001", "taker": "-0.001"}),
         "taker fee must not be negative"),
        (lambda c: btc_usd_spec(c).update(fees={"maker": "-0.002", "taker": "0.001"}),
         "rebate larger"),
        (lambda c: btc_usd_spec(c).update(fees={"maker": "0", "taker": "1"}), "below 100%"),
        (lambda c: btc_usd_spec(c).update(fees={"maker": "0.0000001", "taker": "0"}),
         "part per million"),
        (lambda c: btc_usd_spec(c).update(fees={"maker": "lots", "taker": "0"}), "BTC-USD"),
        (lambda c: btc_usd_spec(c)["tiers"].update(vip={"maker": "-0.001", "taker": "0"}),
         "rebate larger"),
        (lambda c: c["assets"]["BTC"].update(decimals=19), "decimals"),
        (lambda c: c["assets"]["BTC"].update(decimals=-1), "decimals"),
        (lambda c: c.update(assets={}), "no assets"),
        (lambda c: c.update(symbols={}), "no symbols"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_inconsistent_config_raises_config_error(change: Any, fragment: str) -> None:
    config = default_config()
    change(config)
    with pytest.raises(ConfigError, match=fragment):
        load_markets(config)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(GridError, ValueError)
