"""Presets: the agent mix, the latent fundamental and the length of a simulated day.

A simulated day is ``day_s`` seconds of sequencer time (the default preset: 24 hours,
as the market trades around the clock), cut into 1-minute bars for the realism report.
``small`` is for tests (about 60 agents, two hours); ``default`` is the ~1,000-agent
mix; ``zi`` is the zero-intelligence negative control; ``gym`` is the light background
the gym environments trade against.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from matchbook.sim.agents import AGENT_KINDS, Agent


@dataclass(frozen=True, slots=True)
class Fundamental:
    """The latent log-price: mean-reverting (``half_life_s``) around the start price,
    with stochastic volatility and rare jumps. The log-volatility is a sum of AR(1)
    components (``vol_components``: time scale in seconds, standard deviation) and a
    daily pattern of trading sessions (``season``: the amplitude of
    ``sin(2 pi t / day) + 0.5 sin(4 pi t / day + 1)``), which gives volatility
    clustering its slow decay; or, with ``quiet``, the volatility dips in quiet
    sessions (clustering by dips rather than bursts, which keeps the sample
    autocorrelation of returns steadier: see ``docs/simulator.md``, fact 1).
    ``activity_beta`` ties the agents' arrival rates to the volatility (trading is
    busier when the market moves)."""

    sigma_bp_per_s: float = 0.45
    half_life_s: float = 4 * 3600.0
    vol_components: tuple[tuple[float, float], ...] = ((240.0, 0.3), (2400.0, 0.25))
    season: float = 0.45
    jump_per_s: float = 1 / 3600
    jump_bp: float = 11.0
    activity_beta: float = 0.8
    # quiet sessions (depth, hours, per day): ``per day`` windows a day, each ``hours``
    # long, in which the volatility and the activity dip by up to ``depth`` (a raised
    # cosine); with ``jumps_follow_quiet`` the jumps' sizes dip with them
    quiet: tuple[float, float, int] | None = None
    jumps_follow_quiet: bool = False


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    description: str
    agents: tuple[tuple[str, int, dict[str, Any]], ...]  # (kind, count, parameters)
    day_s: int = 86_400
    warmup_s: int = 900
    symbol: str = "BTC-USD"
    price: str = "50000.00"
    fundamental: Fundamental = field(default_factory=Fundamental)

    @property
    def agent_count(self) -> int:
        return sum(count for _, count, _ in self.agents)

    def scaled(self, **changes: Any) -> Preset:
        return replace(self, **changes)


def build_agents(preset: Preset) -> list[Agent]:
    """The preset's agents with stable ids (``kind-0001`` ...), in preset order."""
    agents: list[Agent] = []
    for kind, count, params in preset.agents:
        cls = AGENT_KINDS[kind]
        agents.extend(cls(f"{kind}-{i:04d}", **params) for i in range(1, count + 1))
    return agents


DEFAULT = Preset(
    name="default",
    description="~1,000 agents: 12 market makers, 60 execution agents, 120 value, "
                "20 momentum, 4 informed and 780 noise traders; a 24-hour day",
    agents=(
        # post-only ladders of thin first levels: what an execution agent takes is
        # refilled by the makers' next requotes (square-root impact, fact 6)
        ("market_maker", 12, {"post_only": True, "size_lots": 4, "levels": 6,
                               "view_noise_bp": 4.2}),
        # parents worked at a participation rate, in slices of a per-parent size, each
        # a marketable limit at most 2 bp through the best; a parent of more than 30
        # children is worked faster (its waits times sqrt(30 / n)), and the sizes' tail
        # is a little heavier (1.3) to keep the signs' memory (fact 5): square-root
        # impact measurable on one day's parents (fact 6, see docs/simulator.md)
        ("execution", 60, {"idle_wait_s": 540.0, "child_wait_s": 3.0, "child_lots": 4,
                            "child_lots_max": 30, "limit_bp": 2.0, "alpha": 1.3,
                            "pace_children": 30, "pace_power": 0.5,
                            "follow_activity": True}),
        ("value", 120, {}),
        ("momentum", 20, {}),
        ("informed", 4, {"mean_wait_s": 600.0}),
        ("noise", 780, {}),
    ),
    # volatility that clusters by quiet sessions (two a day, 7 hours each, down to a
    # tenth) and a fast component (60 s) rather than by bursts: see docs/simulator.md
    fundamental=Fundamental(season=0.0, vol_components=((60.0, 0.45),),
                            quiet=(0.9, 7.0, 2), jumps_follow_quiet=True,
                            activity_beta=1.0),
)

SMALL = Preset(
    name="small",
    description="60 agents for tests: 4 market makers, 6 execution, 10 value, 4 momentum, "
                "36 noise traders; a 2-hour day",
    agents=(
        ("market_maker", 4, {}),
        ("execution", 6, {"idle_wait_s": 300.0}),
        ("value", 10, {"mean_wait_s": 300.0}),
        ("momentum", 4, {}),
        ("noise", 36, {"mean_wait_s": 300.0}),
    ),
    day_s=2 * 3600,
    warmup_s=300,
)

ZI = Preset(
    name="zi",
    description="negative control: 200 zero-intelligence agents only; a 24-hour day",
    agents=(("zero_intelligence", 200, {"mean_wait_s": 120.0}),),
)

GYM = Preset(
    name="gym",
    description="the gym environments' background: 2 market makers, 2 execution, 6 value, "
                "2 momentum and 20 noise traders",
    agents=(
        ("market_maker", 2, {"mean_wait_s": 10.0}),
        ("execution", 2, {"idle_wait_s": 300.0}),
        ("value", 6, {"mean_wait_s": 120.0}),
        ("momentum", 2, {}),
        ("noise", 20, {"mean_wait_s": 120.0}),
    ),
    day_s=6 * 3600,
    warmup_s=600,
)

PRESETS: dict[str, Preset] = {p.name: p for p in (DEFAULT, SMALL, ZI, GYM)}


def preset_named(name: str) -> Preset:
    """The preset called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
