"""The ``[risk]`` table: read into ``RiskLimits`` in minor units, refused at load time
when the engine would refuse it."""

from __future__ import annotations

import pytest

from matchbook.config import default_markets, risk_limits
from matchbook.core import ConfigError

MARKETS = default_markets()


def test_the_risk_table_is_read_in_minor_units() -> None:
    limits = risk_limits(MARKETS, {"risk": {"max_open_orders": 7,
                                            "position_limits": {"BTC": "1.5"}}})
    assert limits.max_open_orders == 7
    assert limits.position_limits_minor == {"BTC": 150_000_000}  # 8 decimals
    assert limits.valid_for(MARKETS)


@pytest.mark.parametrize("risk", [{"max_open_orders": 0}, {"max_open_orders": -3},
                                  {"position_limits": {"BTC": 0}},
                                  {"position_limits": {"BTC": "-1"}}])
def test_limits_the_engine_would_refuse_fail_at_load(risk: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="risk"):
        risk_limits(MARKETS, {"risk": risk})


def test_an_unknown_asset_fails_at_load() -> None:
    with pytest.raises(ConfigError, match="unknown asset"):
        risk_limits(MARKETS, {"risk": {"position_limits": {"XYZ": 1}}})
