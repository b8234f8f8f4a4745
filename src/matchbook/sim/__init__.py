"""An agent-based market simulator on the production matching engine.

Public API (``from matchbook.sim import ...``):

* ``run_preset(preset, seed, data_dir=None, *, journal_mode="os", extra_agents=(),
  progress=None) -> SimResult``: one simulated day of a preset (``"small"``,
  ``"default"``, ``"zi"``, ``"gym"`` or a ``Preset``) driving the real ``Engine`` with
  accounts, holds and fees. With ``data_dir`` the run is journaled there by the
  project's journal writer (readable by ``matchbook journal verify`` and by anything
  that captures from data directories), with a final snapshot and ``sim.json`` (preset,
  seed, every agent's kind and user id). The same seed gives a byte-identical journal.
* ``Simulation``: the same, step by step (``run_until``, ``submit``, ``checkpoint`` and
  ``rewind``), for backtests and the gym environments.
* Agents: ``Agent`` (subclass it and pass instances as ``extra_agents`` to plug in a
  strategy of your own), ``NoiseTrader``, ``ValueTrader``, ``MomentumTrader``,
  ``MarketMaker``, ``ExecutionAgent``, ``InformedTrader``, ``ZeroIntelligence``.
* ``PRESETS``, ``Preset``, ``Fundamental``: the agent mixes.
* ``SimResult``: the tape (trades with aggressor side), the book every minute, the
  parent orders; ``matchbook.sim.facts`` turns results into the realism report,
  ``matchbook.sim.export`` writes LOBSTER and Parquet files from a data directory.
* ``matchbook.sim.envs``: gymnasium environments (optimal execution, market making),
  ``matchbook.sim.batch``: a NumPy batch call into the engine.
"""

from matchbook.sim.agents import (
    AGENT_KINDS,
    Agent,
    ExecutionAgent,
    InformedTrader,
    Market,
    MarketMaker,
    MomentumTrader,
    NoiseTrader,
    ValueTrader,
    ZeroIntelligence,
)
from matchbook.sim.presets import PRESETS, Fundamental, Preset, build_agents, preset_named
from matchbook.sim.runner import (
    DAY_START_NS,
    SimError,
    SimResult,
    Simulation,
    agent_random,
    agent_seed,
    check_seed,
    commands_of,
    journal_digest,
    run_preset,
)

__all__ = [
    "AGENT_KINDS", "DAY_START_NS", "PRESETS", "Agent", "ExecutionAgent", "Fundamental",
    "InformedTrader", "Market", "MarketMaker", "MomentumTrader", "NoiseTrader", "Preset",
    "SimError", "SimResult", "Simulation", "ValueTrader", "ZeroIntelligence", "agent_random",
    "agent_seed", "build_agents", "check_seed", "commands_of", "journal_digest",
    "preset_named", "run_preset",
]
