"""Order-book research: capture and import, features and labels, models judged against
honest baselines out of sample, and a backtest inside the simulator.

See ``docs/ml.md``.
"""
