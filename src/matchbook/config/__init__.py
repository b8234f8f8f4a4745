"""Loading the market configuration (TOML) for the core.

The core takes plain mappings and does no I/O; this module reads the file: the shipped
``markets.toml`` by default, or the path in ``MATCHBOOK_MARKETS`` / the argument.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from matchbook.core.engine import RiskLimits
from matchbook.core.symbols import ConfigError, Markets, load_markets


def read_config(path: str | Path | None = None) -> dict[str, Any]:
    """Parse the markets file (``path``, else ``$MATCHBOOK_MARKETS``, else the default)."""
    path = path or os.environ.get("MATCHBOOK_MARKETS")
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files("matchbook.config").joinpath("markets.toml").read_text("utf-8")
    return tomllib.loads(text)


def default_markets(path: str | Path | None = None) -> Markets:
    return load_markets(read_config(path))


def risk_limits(markets: Markets, config: dict[str, Any] | None = None) -> RiskLimits:
    """The ``[risk]`` table as ``RiskLimits`` (position limits converted to minor units)."""
    risk = (config if config is not None else read_config()).get("risk", {})
    positions: dict[str, int] = {}
    for asset, amount in dict(risk.get("position_limits", {})).items():
        if asset not in markets.assets:
            raise ConfigError(f"position limit for unknown asset {asset}")
        positions[asset] = markets.assets[asset].to_minor(Decimal(str(amount)))
    limits = RiskLimits(
        max_open_orders=int(risk.get("max_open_orders", 1000)),
        position_limits_minor=positions,
    )
    if not limits.valid_for(markets):
        raise ConfigError("[risk]: max_open_orders and every position limit must be positive")
    return limits
