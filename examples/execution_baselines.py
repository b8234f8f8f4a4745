"""Evaluate baseline execution policies in the ``Matchbook/Execution-v0`` environment.

Each episode buys ``--target-lots`` lots within ``--horizon`` steps (10 simulated
seconds each) against the simulator's background agents on the production engine.
Three policies, the same episode seeds for each:

* ``twap``: the same share of the parent every step (1 / steps left of what is left);
* ``immediate``: everything left at every step (takes what the book offers at once,
  the rest at the next steps);
* ``last``: nothing until the last step, then everything: what the book cannot give
  then stays undone and costs the environment's penalty (50 bp on it).

Prints each policy's mean and median implementation shortfall (bp of the arrival mid,
lower is better) and its standard error over the episodes.

    python examples/execution_baselines.py --episodes 30
"""

from __future__ import annotations

import argparse
import statistics

import gymnasium as gym
import numpy as np

import matchbook.sim.envs  # noqa: F401  (registers the environments)


def run(policy: str, env: gym.Env, seeds: list[int], horizon: int) -> list[float]:
    shortfalls = []
    for seed in seeds:
        env.reset(seed=seed)
        terminated = truncated = False
        step = 0
        info: dict = {}
        while not (terminated or truncated):
            if policy == "twap":
                share = 1.0 / (horizon - step)
            elif policy == "immediate":
                share = 1.0
            else:
                share = 0.0
            _, _, terminated, truncated, info = env.step(np.array([share], dtype=np.float32))
            step += 1
        shortfalls.append(info["shortfall_bp"])
    return shortfalls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--target-lots", type=int, default=400)
    parser.add_argument("--horizon", type=int, default=30)
    args = parser.parse_args()
    if min(args.episodes, args.target_lots, args.horizon) < 1:
        parser.error("--episodes, --target-lots and --horizon must be at least 1")
    env = gym.make("Matchbook/Execution-v0", target_lots=args.target_lots,
                   horizon=args.horizon)
    seeds = list(range(1, args.episodes + 1))
    print(f"buy {args.target_lots} lots in {args.horizon} steps, {args.episodes} episodes")
    print(f"{'policy':<10} {'mean bp':>9} {'median bp':>10} {'stderr':>8}")
    for policy in ("twap", "immediate", "last"):
        costs = run(policy, env, seeds, args.horizon)
        stderr = statistics.stdev(costs) / len(costs) ** 0.5 if len(costs) > 1 else 0.0
        print(f"{policy:<10} {statistics.mean(costs):9.2f} {statistics.median(costs):10.2f} "
              f"{stderr:8.2f}")


if __name__ == "__main__":
    main()
